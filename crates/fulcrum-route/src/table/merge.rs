//! Candidate lists merged in route order, on the stack.
//!
//! Each index structure yields its candidates as sorted slices of route indexes; a lookup walks
//! them in lockstep, smallest index first, so candidates are judged in table order (which is
//! what first-match-wins needs) without building a list per request.

/// How many candidate lists one lookup can merge. A request that needs more (a host under
/// dozens of configured wildcards, a path under dozens of configured prefixes of one host)
/// is answered by a scan of the whole table instead.
pub(super) const MAX_LISTS: usize = 32;

/// The request has more candidate lists than [`MAX_LISTS`].
#[derive(Debug)]
pub(super) struct TooMany;

/// Up to [`MAX_LISTS`] ascending lists of route indexes.
pub(super) struct Cursors<'a> {
    lists: [&'a [usize]; MAX_LISTS],
    len: usize,
}

impl<'a> Cursors<'a> {
    pub(super) fn new() -> Cursors<'a> {
        Cursors {
            lists: [&[]; MAX_LISTS],
            len: 0,
        }
    }

    /// Adds an ascending list (an empty one takes no slot).
    pub(super) fn push(&mut self, list: &'a [usize]) -> Result<(), TooMany> {
        if list.is_empty() {
            return Ok(());
        }
        let slot = self.lists.get_mut(self.len).ok_or(TooMany)?;
        *slot = list;
        self.len += 1;
        Ok(())
    }

    /// The smallest index in any list that `check` accepts: every index is offered once, in
    /// ascending order, until one is accepted.
    pub(super) fn first(mut self, mut check: impl FnMut(usize) -> bool) -> Option<usize> {
        let lists = self.lists.get_mut(..self.len)?;
        if let [only] = lists {
            return only.iter().copied().find(|&i| check(i));
        }
        loop {
            let next = lists.iter().filter_map(|l| l.first().copied()).min()?;
            for list in lists.iter_mut() {
                if let Some((&head, rest)) = list.split_first() {
                    if head == next {
                        *list = rest;
                    }
                }
            }
            if check(next) {
                return Some(next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_in_order_each_index_once() {
        let (a, b, c) = ([1, 4, 9], [0, 4, 5, 12], [2]);
        let mut seen = Vec::new();
        let mut cursors = Cursors::new();
        for list in [&a[..], &[], &b, &c] {
            cursors.push(list).unwrap();
        }
        let found = cursors.first(|i| {
            seen.push(i);
            false
        });
        assert_eq!(found, None);
        assert_eq!(seen, [0, 1, 2, 4, 5, 9, 12]);

        let mut cursors = Cursors::new();
        cursors.push(&a).unwrap();
        cursors.push(&b).unwrap();
        assert_eq!(cursors.first(|i| i > 4), Some(5));
    }

    #[test]
    fn refuses_past_capacity() {
        let one = [7];
        let mut cursors = Cursors::new();
        for _ in 0..MAX_LISTS {
            cursors.push(&one).unwrap();
        }
        assert!(cursors.push(&[]).is_ok(), "an empty list takes no slot");
        assert!(cursors.push(&one).is_err());
        assert_eq!(Cursors::new().first(|_| true), None);
    }
}
