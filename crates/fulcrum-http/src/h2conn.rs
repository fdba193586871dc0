//! What one HTTP/2 client connection may hold, and how its misbehaviour is noticed.
//!
//! - **Backend slots**: at most `h2_max_backend_connections` of its streams hold a backend
//!   connection at once; the others wait for a slot, within the request timeout.
//! - **Stalled streams**: every streamed response body is registered ([`Watched`]); the
//!   connection's watchdog calls [`H2Conn::scan`], which cuts a stream the client has not let
//!   hyper send to for `timeouts.send` while the connection could write (the client gives the
//!   stream no flow-control credit), or for the longer stall limit whatever the reason. A
//!   stream waiting on a slow backend (an event stream) is never held, so never cut.
//! - **Premature resets** (HTTP/2 rapid reset, CVE-2023-44487): streams the client resets
//!   within a second of opening them, before their response ended, are counted; once there are
//!   [`PREMATURE_MIN`] of them and they are more than half of the connection's streams, the
//!   connection is asked to go away (the watchdog sends GOAWAY and closes it a second later),
//!   as Envoy does; streams it still opens meanwhile get a 503 without reaching a backend.
//!   h2 itself already refuses streams reset before they were accepted
//!   (`max_pending_accept_reset_streams`); this covers the ones reset after their request
//!   started.
//!
//! Single-threaded (a worker's connection), so plain cells.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::body::Watched;
use crate::error::ProxyError;

/// A stream reset within this long of opening counts as premature (Envoy's default).
pub const PREMATURE_WINDOW: Duration = Duration::from_secs(1);
/// Premature resets tolerated whatever their share; past this, more than half of the
/// connection's streams being premature resets closes it.
pub const PREMATURE_MIN: u32 = 100;

/// One HTTP/2 client connection's limits and stream registry.
pub struct H2Conn {
    slots: Arc<Semaphore>,
    streams: RefCell<Vec<Entry>>,
    /// The registry is pruned when it grows past this (dead entries keep an allocation).
    prune_at: usize,
    opened: Cell<u32>,
    premature: Cell<u32>,
    calm_down: Cell<bool>,
}

/// What the scan remembers about a registered body between two scans.
struct Entry {
    body: Weak<Watched>,
    /// `frames()` when the body was first seen held.
    frames: u64,
    /// When the body was first seen held with that frame count.
    held_from: Option<Instant>,
    /// The connection's write-stall count at that moment.
    write_stalls: u64,
}

impl H2Conn {
    pub fn new(limits: &fulcrum_config::model::Limits) -> Self {
        H2Conn {
            slots: Arc::new(Semaphore::new(limits.h2_max_backend_connections.max(1))),
            streams: RefCell::new(Vec::new()),
            prune_at: 2 * limits.h2_max_concurrent_streams.max(1) as usize,
            opened: Cell::new(0),
            premature: Cell::new(0),
            calm_down: Cell::new(false),
        }
    }

    /// A backend slot for one stream, waited for until `deadline` (then 504).
    pub async fn backend_slot(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<OwnedSemaphorePermit, ProxyError> {
        match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Closed when the connection must calm down: no more backend work for it.
            Ok(Err(_)) => Err(ProxyError::ConnectionClosing),
            Err(_) => Err(ProxyError::UpstreamTimeout),
        }
    }

    /// Watch a streamed response body for stalls.
    pub fn register(&self, body: Weak<Watched>) {
        let mut streams = self.streams.borrow_mut();
        if streams.len() >= self.prune_at {
            streams.retain(|e| e.body.upgrade().is_some_and(|b| !b.is_done()));
        }
        streams.push(Entry {
            body,
            frames: 0,
            held_from: None,
            write_stalls: 0,
        });
    }

    /// Whether any registered body may still need cutting (the watchdog scans while so).
    pub fn watching(&self) -> bool {
        !self.streams.borrow().is_empty()
    }

    /// Cut the streams that stalled; how many. `write_stalls` counts the times the client
    /// socket refused writes so far: a stream held while that count did not move was held by
    /// the client's flow control alone, since the connection could have sent its data.
    pub fn scan(&self, now: Instant, write_stalls: u64, send: Duration, hard: Duration) -> usize {
        let mut cut = Vec::new();
        self.streams.borrow_mut().retain_mut(|e| {
            let Some(body) = e.body.upgrade().filter(|b| !b.is_done()) else {
                return false;
            };
            if !body.held() || e.held_from.is_none() || body.frames() != e.frames {
                e.frames = body.frames();
                e.held_from = body.held().then_some(now);
                e.write_stalls = write_stalls;
                return true;
            }
            let since = e.held_from.unwrap_or(now);
            let held_for = now.saturating_duration_since(since);
            let socket_free = write_stalls == e.write_stalls;
            if (socket_free && held_for >= send) || held_for >= hard {
                cut.push(body);
                return false;
            }
            true
        });
        // Outside the borrow: cutting runs the streams' end-of-response work.
        for body in &cut {
            body.cut();
        }
        cut.len()
    }

    /// A stream was opened; the guard reports how it ends.
    pub fn stream_started(self: &Rc<Self>, start: Instant) -> StreamGuard {
        self.opened.set(self.opened.get().saturating_add(1));
        StreamGuard {
            conn: self.clone(),
            start,
            ended: false,
            abandoned: false,
        }
    }

    /// The client resets too many streams early: the connection must go away.
    pub fn must_calm_down(&self) -> bool {
        self.calm_down.get()
    }

    fn premature_reset(&self) {
        let n = self.premature.get().saturating_add(1);
        self.premature.set(n);
        let opened = self.opened.get();
        if !self.calm_down.get() && n >= PREMATURE_MIN && u64::from(n) * 2 > u64::from(opened) {
            tracing::debug!(
                premature_resets = n,
                streams = opened,
                "HTTP/2 client resets most streams before their response (rapid reset); closing"
            );
            self.calm_down.set(true);
            // Streams still arriving before the client sees the GOAWAY get no backend.
            self.slots.close();
        }
    }
}

/// How one stream ended, for the premature-reset count.
pub struct StreamGuard {
    conn: Rc<H2Conn>,
    start: Instant,
    ended: bool,
    abandoned: bool,
}

impl StreamGuard {
    /// The response ended (completely, or by a backend error or a cut).
    pub fn ended(&mut self) {
        self.ended = true;
    }

    /// The client dropped the response before its end.
    pub fn abandoned(&mut self) {
        self.abandoned = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        // Not ended at all: the request itself was dropped (reset before the response).
        if (self.abandoned || !self.ended) && self.start.elapsed() < PREMATURE_WINDOW {
            self.conn.premature_reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Rc<H2Conn> {
        Rc::new(H2Conn::new(&fulcrum_config::model::Limits::default()))
    }

    /// Issue 7 item 1 (rapid reset): streams dropped before their response count, and the
    /// connection must go away at the hundredth when they are most of its streams.
    #[test]
    fn early_resets_past_the_minimum_and_half_the_streams_calm_the_connection_down() {
        let c = conn();
        for _ in 0..PREMATURE_MIN - 1 {
            drop(c.stream_started(Instant::now()));
        }
        assert!(!c.must_calm_down());
        let mut abandoned = c.stream_started(Instant::now());
        abandoned.abandoned();
        abandoned.ended();
        drop(abandoned);
        assert!(c.must_calm_down());
        assert!(c.slots.is_closed(), "streams still get backend slots");
    }

    /// Streams that end (completely, or by a backend error) are not resets; as many resets as
    /// completed streams stay under half.
    #[test]
    fn resets_among_as_many_completed_streams_are_tolerated() {
        let c = conn();
        for _ in 0..4 * PREMATURE_MIN {
            let mut done = c.stream_started(Instant::now());
            done.ended();
            drop(done);
            drop(c.stream_started(Instant::now()));
        }
        assert!(!c.must_calm_down());
    }

    /// A stream the client gives up on after a second is not premature.
    #[test]
    fn late_resets_do_not_count() {
        let c = conn();
        let long_ago = Instant::now()
            .checked_sub(PREMATURE_WINDOW * 2)
            .expect("the monotonic clock started less than 2 s ago");
        for _ in 0..2 * PREMATURE_MIN {
            drop(c.stream_started(long_ago));
        }
        assert!(!c.must_calm_down());
    }
}
