//! When a worker's connections must end: [`Stop`], one per accept loop.
//!
//! Until the accept loop stops (shutdown, or its listener removed by a reload) a `Stop` holds
//! nothing; then it holds the grace deadline. Each connection reacts the way its protocol can:
//! HTTP connections finish the request in flight (a head half received is read to its end and
//! answered) and close instead of waiting for another; tunnels and passthrough relays, whose
//! bytes Fulcrum cannot interpret, go on. Whatever is still open at the deadline is cut.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// What a switch and its connections share: the deadline once given, and the waiters for it.
/// `stopping` lets the question connections ask after every request ("has stopping begun?")
/// be one atomic load; the deadline itself is read under the lock only once it has.
#[derive(Debug, Default)]
struct Shared {
    stopping: AtomicBool,
    deadline: Mutex<Option<Instant>>,
    begun: Notify,
}

impl Shared {
    fn locked(&self) -> MutexGuard<'_, Option<Instant>> {
        // A panic while holding it cannot leave a half-written `Option<Instant>`.
        self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn deadline(&self) -> Option<Instant> {
        if !self.stopping.load(Ordering::Acquire) {
            return None;
        }
        *self.locked()
    }
}

/// A connection's view of its accept loop's stop switch.
#[derive(Clone, Debug)]
pub struct Stop(Arc<Shared>);

/// The accept loop's side: [`StopSwitch::stop`] starts the grace period.
#[derive(Debug)]
pub struct StopSwitch(Arc<Shared>);

impl StopSwitch {
    pub fn new() -> (StopSwitch, Stop) {
        let shared = Arc::new(Shared::default());
        (StopSwitch(shared.clone()), Stop(shared))
    }

    /// Tell every connection to finish by `deadline` (an earlier deadline already given
    /// stays).
    pub fn stop(&self, deadline: Instant) {
        {
            let mut d = self.0.locked();
            match *d {
                Some(old) if old <= deadline => return,
                _ => *d = Some(deadline),
            }
            self.0.stopping.store(true, Ordering::Release);
        }
        self.0.begun.notify_waiters();
    }

    /// The deadline given, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.0.deadline()
    }
}

impl Stop {
    /// A stop that never comes (tests, connections served outside an accept loop).
    pub fn never() -> Stop {
        Stop(Arc::new(Shared::default()))
    }

    /// The grace deadline, once stopping began.
    pub fn deadline(&self) -> Option<Instant> {
        self.0.deadline()
    }

    /// Resolves when stopping begins, with the deadline (at once if it has begun). A small
    /// hand-written future: an open connection may hold one for its whole life.
    pub fn begun(&self) -> Begun<'_> {
        Begun {
            shared: &self.0,
            notified: self.0.begun.notified(),
        }
    }

    /// Resolves at the grace deadline, once stopping began. (An `async` block, not an
    /// `async fn`, which would hold `self` twice: every open connection holds one of these.)
    // Not an `async fn`, which would hold its arguments twice (see above).
    #[allow(clippy::manual_async_fn)]
    pub fn cut(self) -> impl std::future::Future<Output = ()> {
        async move {
            let deadline = self.begun().await;
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Stop::begun`]'s future.
    pub struct Begun<'a> {
        shared: &'a Shared,
        #[pin]
        notified: Notified<'a>,
    }
}

impl std::future::Future for Begun<'_> {
    type Output = Instant;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        let mut this = self.project();
        loop {
            // Registered before the deadline is read: a stop between the two still wakes us.
            this.notified.as_mut().enable();
            if let Some(d) = this.shared.deadline() {
                return Poll::Ready(d);
            }
            if this.notified.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.notified.set(this.shared.begun.notified());
        }
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
        let (switch, stop) = StopSwitch::new();
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

    #[tokio::test(flavor = "current_thread")]
    async fn connections_already_waiting_are_woken_when_stopping_begins() {
        let (switch, stop) = StopSwitch::new();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let stop = stop.clone();
                tokio::spawn(async move { stop.begun().await })
            })
            .collect();
        // Each waiter runs to its first `Pending` before the switch is thrown.
        tokio::task::yield_now().await;
        let deadline = Instant::now() + Duration::from_secs(1);
        switch.stop(deadline);
        for w in waiters {
            let got = tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("a waiter was never woken")
                .expect("waiter panicked");
            assert_eq!(got, deadline);
        }
        // A later, looser deadline changes nothing; an earlier one replaces it.
        switch.stop(deadline + Duration::from_secs(5));
        assert_eq!(stop.deadline(), Some(deadline));
        switch.stop(deadline - Duration::from_millis(500));
        assert_eq!(
            switch.deadline(),
            Some(deadline - Duration::from_millis(500))
        );
    }

    #[tokio::test]
    async fn never_is_never() {
        let cut = tokio::time::timeout(Duration::from_millis(20), Stop::never().cut()).await;
        assert!(cut.is_err());
    }
}
