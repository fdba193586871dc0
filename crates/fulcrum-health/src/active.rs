//! The verdict of active checks on one backend, and when to check it next.

use std::time::{Duration, Instant};

use fulcrum_config::model::HealthCheck;

/// What active checks say about a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// No verdict yet (a new backend, or checks just started). Usable: a backend is innocent
    /// until `unhealthy_threshold` failures say otherwise.
    Unknown,
    /// `healthy_threshold` consecutive successes.
    Healthy,
    /// `unhealthy_threshold` consecutive failures.
    Unhealthy,
}

impl Verdict {
    /// Whether traffic may go to a backend with this verdict.
    pub fn is_usable(self) -> bool {
        !matches!(self, Verdict::Unhealthy)
    }

    /// `"unknown"`, `"healthy"` or `"unhealthy"` (for logs and the admin API).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Unknown => "unknown",
            Verdict::Healthy => "healthy",
            Verdict::Unhealthy => "unhealthy",
        }
    }
}

/// A change of [`Verdict`], returned by [`ActiveHealth::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    pub from: Verdict,
    pub to: Verdict,
}

/// One backend's active-check state: counts consecutive results and turns them into a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveHealth {
    verdict: Verdict,
    /// Consecutive successes (reset by a failure).
    successes: u32,
    /// Consecutive failures (reset by a success).
    failures: u32,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
}

impl ActiveHealth {
    /// A backend in [`Verdict::Unknown`], judged by the thresholds of `spec`.
    pub fn new(spec: &HealthCheck) -> Self {
        Self::with_thresholds(spec.healthy_threshold, spec.unhealthy_threshold)
    }

    /// As [`ActiveHealth::new`] with explicit thresholds; 0 is treated as 1.
    pub fn with_thresholds(healthy_threshold: u32, unhealthy_threshold: u32) -> Self {
        ActiveHealth {
            verdict: Verdict::Unknown,
            successes: 0,
            failures: 0,
            healthy_threshold: healthy_threshold.max(1),
            unhealthy_threshold: unhealthy_threshold.max(1),
        }
    }

    /// Record one check result; returns the transition it caused, if any.
    pub fn record(&mut self, ok: bool) -> Option<Transition> {
        let to = if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            (self.successes >= self.healthy_threshold).then_some(Verdict::Healthy)
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            (self.failures >= self.unhealthy_threshold).then_some(Verdict::Unhealthy)
        }?;
        if to == self.verdict {
            return None;
        }
        let from = std::mem::replace(&mut self.verdict, to);
        Some(Transition { from, to })
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// [`Verdict::Unknown`] or [`Verdict::Healthy`].
    pub fn is_usable(&self) -> bool {
        self.verdict.is_usable()
    }
}

/// When to run the next check: every `interval`, each jittered by up to ±10% so that the checks
/// of many backends (and many Fulcrum processes) do not fall into step.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Duration,
    /// 10% of `interval`.
    jitter: Duration,
    rng: fastrand::Rng,
}

impl Schedule {
    /// Tests pass `fastrand::Rng::with_seed(..)` for repeatable draws.
    pub fn new(interval: Duration, rng: fastrand::Rng) -> Self {
        Schedule {
            interval,
            jitter: interval / 10,
            rng,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The first check: soon after `now`, within the first 10% of an interval, so that backends
    /// added together are not all checked at the same instant.
    pub fn first_check(&mut self, now: Instant) -> Instant {
        let delay = self.draw(Duration::ZERO, self.jitter);
        fulcrum_core::time::later(now, delay)
    }

    /// The check after one that finished at `now`: `now + interval ± 10%`.
    pub fn next_check(&mut self, now: Instant) -> Instant {
        let delay = self.draw(
            self.interval.saturating_sub(self.jitter),
            self.jitter.saturating_mul(2),
        );
        fulcrum_core::time::later(now, delay)
    }

    /// `low` plus a uniform draw in `0..=span` (to the nanosecond).
    fn draw(&mut self, low: Duration, span: Duration) -> Duration {
        let span = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        low.saturating_add(Duration::from_nanos(self.rng.u64(0..=span)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(h: &mut ActiveHealth, results: &[bool]) -> Vec<Option<Transition>> {
        results.iter().map(|&ok| h.record(ok)).collect()
    }

    const fn t(from: Verdict, to: Verdict) -> Option<Transition> {
        Some(Transition { from, to })
    }

    use Verdict::{Healthy, Unhealthy, Unknown};

    #[test]
    fn unknown_is_usable_and_turns_healthy_after_threshold() {
        let mut h = ActiveHealth::with_thresholds(2, 3);
        assert_eq!(h.verdict(), Unknown);
        assert!(h.is_usable());
        assert_eq!(seq(&mut h, &[true, true]), [None, t(Unknown, Healthy)]);
        assert!(h.is_usable());
    }

    #[test]
    fn unknown_turns_unhealthy_after_threshold_failures() {
        let mut h = ActiveHealth::with_thresholds(2, 3);
        assert_eq!(seq(&mut h, &[false, false]), [None, None]);
        assert!(h.is_usable(), "still unknown after 2 of 3 failures");
        assert_eq!(h.record(false), t(Unknown, Unhealthy));
        assert!(!h.is_usable());
        assert_eq!(h.record(false), None, "no repeated transition");
    }

    #[test]
    fn healthy_to_unhealthy_and_back() {
        let mut h = ActiveHealth::with_thresholds(2, 3);
        seq(&mut h, &[true, true]);
        assert_eq!(
            seq(&mut h, &[false, false, false]),
            [None, None, t(Healthy, Unhealthy)]
        );
        assert_eq!(seq(&mut h, &[true]), [None]);
        assert!(!h.is_usable(), "one success is not enough");
        assert_eq!(h.record(true), t(Unhealthy, Healthy));
    }

    #[test]
    fn flapping_never_reaches_a_threshold() {
        let mut h = ActiveHealth::with_thresholds(2, 2);
        for _ in 0..50 {
            assert_eq!(seq(&mut h, &[true, false]), [None, None]);
        }
        assert_eq!(h.verdict(), Unknown);
        // Once healthy, a flapping backend stays healthy: a failure resets the success count and
        // vice versa, so neither threshold is reached.
        seq(&mut h, &[true, true]);
        for _ in 0..50 {
            assert_eq!(seq(&mut h, &[false, true]), [None, None]);
        }
        assert_eq!(h.verdict(), Healthy);
    }

    #[test]
    fn thresholds_of_one_follow_every_result_and_zero_means_one() {
        let mut h = ActiveHealth::with_thresholds(0, 1);
        assert_eq!(h.record(false), t(Unknown, Unhealthy));
        assert_eq!(h.record(true), t(Unhealthy, Healthy));
        assert_eq!(h.record(false), t(Healthy, Unhealthy));
    }

    #[test]
    fn built_from_config() {
        let spec = HealthCheck {
            probe: fulcrum_config::model::Probe::Tcp,
            port: None,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            healthy_threshold: 1,
            unhealthy_threshold: 2,
        };
        let mut h = ActiveHealth::new(&spec);
        assert_eq!(h.record(true), t(Unknown, Healthy));
    }

    #[test]
    fn next_check_is_within_ten_percent_and_varies() {
        let interval = Duration::from_secs(2);
        let mut s = Schedule::new(interval, fastrand::Rng::with_seed(7));
        let now = Instant::now();
        let (lo, hi) = (now + interval * 9 / 10, now + interval * 11 / 10);
        let draws: Vec<Instant> = (0..10_000).map(|_| s.next_check(now)).collect();
        assert!(draws.iter().all(|&d| lo <= d && d <= hi));
        let min = draws.iter().min().copied().unwrap_or(now);
        let max = draws.iter().max().copied().unwrap_or(now);
        // Spread over most of the ±10% band, not all equal.
        assert!(min < now + interval * 92 / 100, "{:?}", min - now);
        assert!(max > now + interval * 108 / 100, "{:?}", max - now);
    }

    #[test]
    fn same_seed_same_schedule() {
        let interval = Duration::from_millis(500);
        let now = Instant::now();
        let mut a = Schedule::new(interval, fastrand::Rng::with_seed(1));
        let mut b = Schedule::new(interval, fastrand::Rng::with_seed(1));
        for _ in 0..100 {
            assert_eq!(a.next_check(now), b.next_check(now));
        }
    }

    #[test]
    fn first_check_is_within_the_first_tenth() {
        let interval = Duration::from_secs(10);
        let mut s = Schedule::new(interval, fastrand::Rng::with_seed(3));
        let now = Instant::now();
        for _ in 0..1000 {
            let d = s.first_check(now) - now;
            assert!(d <= Duration::from_secs(1), "{d:?}");
        }
    }

    #[test]
    fn huge_and_zero_intervals_do_not_panic() {
        let now = Instant::now();
        let mut s = Schedule::new(Duration::MAX, fastrand::Rng::with_seed(1));
        assert!(s.next_check(now) > now);
        let mut s = Schedule::new(Duration::ZERO, fastrand::Rng::with_seed(1));
        assert_eq!(s.next_check(now), now);
    }
}
