//! Deadlines that cannot panic.
//!
//! `Instant + Duration` panics on overflow. Configured durations are capped (24h for most
//! settings), so an overflow would take a far-off base or a bug; still, a timer computed on the
//! data path or in the control plane must never bring the process down. Every deadline is
//! computed here.

use std::time::{Duration, Instant};

/// How far [`later`] goes when `now + d` does not fit: far enough never to fire in practice.
pub const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// `now + d`; when that overflows, `now + FAR`; when even that overflows, `now`.
pub fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_or_saturates_without_panicking() {
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        // `Duration::MAX` does not fit in an `Instant`: the far deadline instead of a panic.
        assert_eq!(later(now, Duration::MAX), now + FAR);
    }
}
