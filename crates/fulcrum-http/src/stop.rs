//! When a worker's connections must end: [`Stop`], one per accept loop.
//!
//! Until the accept loop stops (shutdown, or its listener removed by a reload) a `Stop` holds
//! nothing; then it holds the grace deadline. Each connection reacts the way its protocol can:
//! HTTP connections finish the request in flight (a head half received is read to its end and
//! answered) and close instead of waiting for another; tunnels and passthrough relays, whose
//! bytes Fulcrum cannot interpret, go on. Whatever is still open at the deadline is cut.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A connection's view of its accept loop's stop switch.
#[derive(Clone, Debug)]
pub struct Stop(watch::Receiver<Option<Instant>>);

/// The accept loop's side: [`StopSwitch::stop`] starts the grace period.
#[derive(Debug)]
pub struct StopSwitch(watch::Sender<Option<Instant>>);

impl StopSwitch {
    pub fn new() -> (StopSwitch, Stop) {
        let (tx, rx) = watch::channel(None);
        (StopSwitch(tx), Stop(rx))
    }

    /// Tell every connection to finish by `deadline` (an earlier deadline already given
    /// stays).
    pub fn stop(&self, deadline: Instant) {
        self.0.send_if_modified(|d| match d {
            Some(old) if *old <= deadline => false,
            _ => {
                *d = Some(deadline);
                true
            }
        });
    }

    /// The deadline given, if any.
    pub fn deadline(&self) -> Option<Instant> {
        *self.0.borrow()
    }
}

impl Stop {
    /// A stop that never comes (tests, connections served outside an accept loop).
    pub fn never() -> Stop {
        let (tx, rx) = watch::channel(None);
        // The receiver keeps the last value (none) once the sender is gone.
        drop(tx);
        Stop(rx)
    }

    /// The grace deadline, once stopping began.
    pub fn deadline(&self) -> Option<Instant> {
        *self.0.borrow()
    }

    /// Resolves when stopping begins, with the deadline.
    pub async fn begun(&mut self) -> Instant {
        loop {
            if let Some(d) = *self.0.borrow_and_update() {
                return d;
            }
            if self.0.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Resolves at the grace deadline, once stopping began.
    pub async fn cut(mut self) {
        let deadline = self.begun().await;
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// `now + grace`, or as far as `Instant` goes (grace is capped by the configuration anyway).
pub fn deadline_after(now: Instant, grace: Duration) -> Instant {
    fulcrum_core::time::later(now, grace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_earliest_deadline_stays_and_cut_waits_for_it() {
        let (switch, mut stop) = StopSwitch::new();
        assert_eq!(stop.deadline(), None);
        let now = Instant::now();
        switch.stop(now + Duration::from_millis(30));
        switch.stop(now + Duration::from_secs(60));
        assert_eq!(stop.begun().await, now + Duration::from_millis(30));
        tokio::time::timeout(Duration::from_secs(5), stop.clone().cut())
            .await
            .expect("cut never came");
        assert!(Instant::now() >= now + Duration::from_millis(30));
    }

    #[tokio::test]
    async fn never_is_never() {
        let cut = tokio::time::timeout(Duration::from_millis(20), Stop::never().cut()).await;
        assert!(cut.is_err());
    }
}
