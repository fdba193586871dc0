//! What an accept loop does when `accept(2)` fails.
//!
//! Out of file descriptors (`EMFILE`, `ENFILE`) or kernel memory (`ENOBUFS`, `ENOMEM`), the
//! connection stays in the backlog and the next `accept` fails the same way at once: a loop
//! that retries immediately spins a core, and one that logs each failure floods the log. So
//! the loop backs off (doubling from [`Backoff::FIRST`] to [`Backoff::MAX`], sooner when one of
//! its own connections ends and frees a descriptor), and warnings go through a [`LogLimit`]:
//! one line per interval, with the count of those left out. Open connections are served as
//! before. Errors that concern only the connection being accepted (it was reset while it
//! waited) are retried at once.

use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How an accept error is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// Only this connection failed: accept the next one at once.
    Connection,
    /// Out of file descriptors or memory: back off.
    Exhausted,
    /// Anything else: back off too (never spin on an error that repeats).
    Other,
}

/// Classify an error from `accept`.
pub fn classify(e: &io::Error) -> AcceptError {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AcceptError::Exhausted,
        _ => match e.kind() {
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock => AcceptError::Connection,
            _ => AcceptError::Other,
        },
    }
}

/// The accept loop's pause after repeated failures.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Self::FIRST }
    }
}

impl Backoff {
    /// The first pause.
    pub const FIRST: Duration = Duration::from_millis(10);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(1);

    /// The pause to take now; the next one is twice as long, up to [`Backoff::MAX`].
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = self.next.saturating_mul(2).min(Self::MAX);
        pause
    }

    /// An accept succeeded: start again from [`Backoff::FIRST`].
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// At most one log line per `interval`, shared by every thread that reports the same trouble.
#[derive(Debug)]
pub struct LogLimit {
    interval: Duration,
    /// When the last line was let through, and how many were held back since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimit {
    /// The interval accept-failure warnings use.
    pub const ACCEPT_WARNINGS: Duration = Duration::from_secs(5);

    pub fn new(interval: Duration) -> LogLimit {
        LogLimit {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were held back since the
    /// last one; `None` (counted) otherwise.
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, held) = &mut *st;
        let due = last.is_none_or(|t| now.saturating_duration_since(t) >= self.interval);
        if due {
            *last = Some(now);
            Some(std::mem::take(held))
        } else {
            *held = held.saturating_add(1);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_exhaustion_backs_off_and_a_reset_client_does_not() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(classify(&emfile), AcceptError::Exhausted);
        let enfile = io::Error::from_raw_os_error(libc::ENFILE);
        assert_eq!(classify(&enfile), AcceptError::Exhausted);
        let aborted = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(classify(&aborted), AcceptError::Connection);
        let einval = io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(classify(&einval), AcceptError::Other);
    }

    #[test]
    fn backoff_doubles_up_to_the_max_and_resets() {
        let mut b = Backoff::default();
        let pauses: Vec<Duration> = (0..9).map(|_| b.next_pause()).collect();
        assert_eq!(pauses[0], Duration::from_millis(10));
        assert_eq!(pauses[1], Duration::from_millis(20));
        assert_eq!(pauses[6], Duration::from_millis(640));
        assert_eq!(pauses[7], Backoff::MAX);
        assert_eq!(pauses[8], Backoff::MAX);
        b.reset();
        assert_eq!(b.next_pause(), Backoff::FIRST);
    }

    /// Issue 7 item 6: a failure every 50 ms for a minute gives one line per interval, each
    /// counting the ones held back.
    #[test]
    fn log_limit_lets_one_line_through_per_interval() {
        let limit = LogLimit::new(Duration::from_secs(5));
        let start = Instant::now();
        let mut lines = Vec::new();
        for i in 0..1200u64 {
            let now = start + Duration::from_millis(50 * i);
            if let Some(held) = limit.allow(now) {
                lines.push(held);
            }
        }
        assert_eq!(lines.len(), 12);
        assert_eq!(lines[0], 0);
        assert!(lines[1..].iter().all(|&n| n == 99), "{lines:?}");
    }
}
