//! Slow start: a backend that just became usable gets its share of traffic back gradually.

use std::time::{Duration, Instant};

/// The weight to publish for a backend with configured `weight` that became usable at `since`:
/// a linear ramp `weight * elapsed / window`, never below 1, reaching `weight` at
/// `since + window`. A zero `window` (slow start off) gives `weight` at once; a zero `weight`
/// stays 0. A `now` before `since` counts as no time elapsed.
pub fn ramp_weight(weight: u32, since: Instant, now: Instant, window: Duration) -> u32 {
    let elapsed = now.saturating_duration_since(since);
    if window.is_zero() || elapsed >= window || weight == 0 {
        return weight;
    }
    let ramped = u128::from(weight) * elapsed.as_nanos() / window.as_nanos();
    // `elapsed < window`, so `ramped < weight` and fits.
    u32::try_from(ramped).unwrap_or(weight).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(40);

    #[test]
    fn ramps_linearly_from_one_to_full() {
        let t0 = Instant::now();
        let at = |d: Duration| ramp_weight(100, t0, t0 + d, W);
        assert_eq!(at(Duration::ZERO), 1);
        assert_eq!(at(W / 4), 25);
        assert_eq!(at(W / 2), 50);
        assert_eq!(at(W - Duration::from_nanos(1)), 99);
        assert_eq!(at(W), 100);
        assert_eq!(at(W * 10), 100);
    }

    #[test]
    fn small_weights_never_drop_to_zero() {
        let t0 = Instant::now();
        assert_eq!(ramp_weight(1, t0, t0 + W / 2, W), 1);
        assert_eq!(ramp_weight(3, t0, t0 + W / 4, W), 1);
        assert_eq!(ramp_weight(0, t0, t0, W), 0);
    }

    #[test]
    fn zero_window_is_full_weight_and_now_before_since_is_the_floor() {
        let t0 = Instant::now();
        assert_eq!(ramp_weight(7, t0, t0, Duration::ZERO), 7);
        assert_eq!(ramp_weight(100, t0 + W, t0, W), 1);
        assert_eq!(ramp_weight(u32::MAX, t0, t0 + W / 2, W), u32::MAX / 2);
    }
}
