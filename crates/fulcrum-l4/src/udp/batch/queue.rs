//! The datagrams a `SendBatch` has queued: destinations and payloads, the payloads back to back
//! in one buffer, sent from the front. Shared by the Linux and the portable batch.

use std::net::{IpAddr, SocketAddr};

struct Entry {
    dest: SocketAddr,
    /// The source address to send from (a wildcard socket's), or the kernel's choice.
    source: Option<IpAddr>,
    /// Where the payload starts in `bytes`; it ends where the next one starts.
    start: usize,
}

pub(crate) struct Queue {
    entries: Vec<Entry>,
    bytes: Vec<u8>,
    max: usize,
}

impl Queue {
    /// Room for `max` datagrams; the payload buffer grows to what they need and is kept.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            entries: Vec::with_capacity(max),
            bytes: Vec::new(),
            max,
        }
    }

    /// Queues a datagram at the back; `false` (nothing queued) when full.
    pub(crate) fn push(&mut self, dest: SocketAddr, payload: &[u8]) -> bool {
        self.push_from(dest, None, payload)
    }

    /// [`push`](Self::push), to be sent from `source` (when given).
    pub(crate) fn push_from(
        &mut self,
        dest: SocketAddr,
        source: Option<IpAddr>,
        payload: &[u8],
    ) -> bool {
        if self.is_full() {
            return false;
        }
        self.entries.push(Entry {
            dest,
            source,
            start: self.bytes.len(),
        });
        self.bytes.extend_from_slice(payload);
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.max
    }

    pub(crate) fn dest(&self, i: usize) -> Option<SocketAddr> {
        self.entries.get(i).map(|entry| entry.dest)
    }

    /// The queued datagrams, front first.
    #[cfg(any(test, not(target_os = "linux")))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        self.iter_from().map(|(dest, _, payload)| (dest, payload))
    }

    /// The queued datagrams with the source each is to be sent from, front first.
    pub(crate) fn iter_from(
        &self,
    ) -> impl Iterator<Item = (SocketAddr, Option<IpAddr>, &[u8])> + '_ {
        let ends = self
            .entries
            .iter()
            .skip(1)
            .map(|entry| entry.start)
            .chain([self.bytes.len()]);
        self.entries.iter().zip(ends).map(|(entry, end)| {
            let payload = self.bytes.get(entry.start..end).unwrap_or_default();
            (entry.dest, entry.source, payload)
        })
    }

    /// Drops everything queued: how many datagrams and payload bytes that was.
    pub(crate) fn clear(&mut self) -> (usize, usize) {
        let dropped = (self.entries.len(), self.bytes.len());
        self.entries.clear();
        self.bytes.clear();
        dropped
    }

    /// Drops the first `n` datagrams (sent or refused); the rest move to the front.
    pub(crate) fn consume(&mut self, n: usize) {
        if n >= self.entries.len() {
            self.entries.clear();
            self.bytes.clear();
            return;
        }
        let cut = self.entries.get(n).map_or(0, |entry| entry.start);
        self.entries.drain(..n);
        self.bytes.drain(..cut);
        for entry in &mut self.entries {
            entry.start -= cut;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(queue: &Queue) -> Vec<(u16, Vec<u8>)> {
        queue
            .iter()
            .map(|(dest, payload)| (dest.port(), payload.to_vec()))
            .collect()
    }

    #[test]
    fn partial_sends_keep_the_rest_in_order() {
        let dest = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let mut queue = Queue::new(4);
        assert!(queue.push(dest(1), b"one"));
        assert!(queue.push(dest(2), b""));
        assert!(queue.push(dest(3), b"three"));
        assert!(queue.push(dest(4), b"four"));
        assert!(!queue.push(dest(5), b"five"), "full at max");
        assert_eq!(queue.len(), 4);

        queue.consume(1);
        assert_eq!(
            contents(&queue),
            [(2, vec![]), (3, b"three".to_vec()), (4, b"four".to_vec())]
        );
        queue.consume(2);
        assert_eq!(contents(&queue), [(4, b"four".to_vec())]);
        assert!(queue.push(dest(6), b"six"));
        assert_eq!(
            contents(&queue),
            [(4, b"four".to_vec()), (6, b"six".to_vec())]
        );
        queue.consume(9);
        assert!(queue.is_empty());
        assert!(queue.push(dest(7), b"seven"));
        assert!(queue.push(dest(8), b"8"));
        assert_eq!(queue.clear(), (2, 6));
        assert!(queue.is_empty());
        assert_eq!(contents(&queue), []);
    }
}
