//! What ends with a response body: the connection's and backend's in-flight counts, the
//! backend connection's return to the pool, the HTTP/2 stream's accounting and slot, and the
//! access log line.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, StatusCode};

use super::ConnCtx;
use crate::access_log::{self, Entry};
use crate::backend::BackendInflight;
use crate::body::OnEnd;
use crate::guard::ConnActivity;
use crate::state::{ListenerState, PoolState};
use crate::upstream::Sender;

/// Decrements the connection's in-flight count when the response is done or abandoned.
pub(super) struct ConnInflight(Arc<ConnActivity>);

impl ConnInflight {
    pub(super) fn new(a: &Arc<ConnActivity>) -> Self {
        a.request_started();
        ConnInflight(a.clone())
    }
}

impl Drop for ConnInflight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Facts about the request kept for its log line (only when it is sampled).
pub(super) struct LogFacts {
    pub method: http::Method,
    pub host: Option<String>,
    pub path: String,
}

/// Everything that ends with the response body.
pub(super) struct Finisher {
    pub(super) cx: Rc<ConnCtx>,
    pub(super) _conn: ConnInflight,
    pub(super) backend: Option<BackendInflight>,
    pub(super) sender: Option<Sender>,
    pub(super) start: Instant,
    pub(super) status: StatusCode,
    pub(super) request_id: HeaderValue,
    pub(super) listener: Arc<ListenerState>,
    pub(super) route: Option<usize>,
    pub(super) pool: Option<Arc<PoolState>>,
    /// The client's address, once known (see [`crate::forwarded::client_ip`]).
    pub(super) client: Option<std::net::IpAddr>,
    pub(super) error: Option<String>,
    pub(super) log: Option<LogFacts>,
    /// HTTP/2: how the stream ends counts toward premature resets.
    pub(super) stream: Option<crate::h2conn::StreamGuard>,
    /// HTTP/2: the stream's backend slot (`h2_max_backend_connections`).
    pub(super) slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The guard that refused the request, for the log line.
    pub(super) guard: Option<fulcrum_guard::GuardKind>,
}

impl OnEnd for Finisher {
    fn abandoned(&mut self) {
        if let Some(s) = &mut self.stream {
            s.abandoned();
        }
    }

    fn on_end(&mut self, complete: bool, bytes: u64) {
        if let Some(s) = &mut self.stream {
            s.ended();
        }
        self.slot = None;
        if let (Some(sender), Some(b)) = (self.sender.take(), &self.backend) {
            // A draining backend's connections are not pooled again.
            if complete && !b.backend().is_draining() {
                let tls = self.pool.as_ref().and_then(|p| p.tls.as_ref());
                self.cx
                    .worker
                    .upstream
                    .release(b.backend().addr, tls, sender);
            }
        }
        if let Some(facts) = &self.log {
            let entry = Entry {
                ts: access_log::now_ts(),
                listener: &self.listener.name,
                route: self
                    .route
                    .and_then(|i| self.listener.route_names.get(i))
                    .map(String::as_str),
                pool: self.pool.as_ref().map(|p| p.name.as_str()),
                backend: self.backend.as_ref().map(|b| b.backend().label.as_str()),
                client: self.client.unwrap_or(self.cx.peer.ip()).to_string(),
                method: facts.method.as_str(),
                host: facts.host.as_deref(),
                path: &facts.path,
                status: self.status.as_u16(),
                bytes_out: bytes,
                duration_ms: self.start.elapsed().as_secs_f64() * 1000.0,
                request_id: self.request_id.to_str().unwrap_or(""),
                error: self.error.take(),
                guard: self.guard.map(fulcrum_guard::GuardKind::as_str),
                complete,
                engine: "hyper",
            };
            self.cx.worker.access_log.record(&entry);
        }
    }
}
