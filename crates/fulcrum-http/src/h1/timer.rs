//! One timer per connection, armed lazily: a deadline that moves later (every keep-alive
//! request moves the idle and request deadlines on) costs no timer work; the timer fires at
//! the deadline it was armed with, the wait looks at the deadline in force and, if that is
//! later, re-arms for it. So the timer wheel is touched about once per timeout period per
//! connection rather than once or twice per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

use crate::stop::Stop;

/// The wait ran past its deadline.
#[derive(Debug)]
pub(super) struct Elapsed;

pub(super) struct Timer {
    sleep: Pin<Box<Sleep>>,
    armed: Instant,
}

fn far(now: Instant) -> Instant {
    fulcrum_core::time::later(now, Duration::from_secs(24 * 3600))
}

impl Timer {
    pub(super) fn new(now: Instant) -> Self {
        let armed = far(now);
        Timer {
            sleep: Box::pin(tokio::time::sleep_until(armed.into())),
            armed,
        }
    }

    fn arm(&mut self, at: Instant) {
        self.armed = at;
        self.sleep.as_mut().reset(at.into());
    }

    /// Run `fut` until it finishes or `deadline` passes.
    pub(super) async fn within<F: Future>(
        &mut self,
        deadline: Instant,
        fut: F,
    ) -> Result<F::Output, Elapsed> {
        if deadline < self.armed {
            self.arm(deadline);
        }
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return Ok(out),
                _ = self.sleep.as_mut() => {
                    let now = Instant::now();
                    if now >= deadline {
                        self.arm(far(now));
                        return Err(Elapsed);
                    }
                    self.arm(deadline);
                }
            }
        }
    }
}

/// The connection's view of stopping, made once per connection: resolves (and stays
/// resolved) when its accept loop begins to stop.
pub(super) struct StopBegun {
    fut: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

impl StopBegun {
    pub(super) fn new(stop: &Stop) -> Self {
        let stop = stop.clone();
        StopBegun {
            fut: Some(Box::pin(async move {
                stop.begun().await;
            })),
        }
    }

    pub(super) fn poll_begun(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(());
        };
        match fut.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.fut = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
