//! Connections to backends: one keep-alive pool per worker thread, so no lock is shared
//! between workers and a connection's task always runs on the thread that uses it.
//!
//! Cleartext backends get HTTP/1.1 connections, one request at a time each, pooled while idle.
//! TLS backends (`[pool.X.tls]`) offer ALPN `h2` and `http/1.1`: an HTTP/2 connection is shared
//! by all of the worker's requests to that backend (multiplexed, kept while open), an HTTP/1.1
//! one is pooled like a cleartext one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response};

use crate::body::RequestBody;
use crate::error::ProxyError;

pub use fulcrum_tls::UpstreamTls;

/// A connection able to carry a request.
pub enum Sender {
    H1(http1::SendRequest<RequestBody>),
    H2(http2::SendRequest<RequestBody>),
}

impl Sender {
    /// Whether requests on it must be HTTP/2 shaped (absolute URI, no connection headers).
    pub fn is_h2(&self) -> bool {
        matches!(self, Sender::H2(_))
    }

    async fn try_send(
        &mut self,
        req: Request<RequestBody>,
    ) -> Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<RequestBody>>> {
        match self {
            Sender::H1(s) => s.try_send_request(req).await,
            Sender::H2(s) => s.try_send_request(req).await,
        }
    }
}

/// Idle connections kept per backend per worker.
const MAX_IDLE_PER_BACKEND: usize = 256;
/// An idle connection unused for this long is closed (backends commonly close at 60s+).
pub const IDLE_EXPIRY: Duration = Duration::from_secs(50);

/// A failed send: the error, and the request when it never left.
pub struct SendError {
    pub error: ProxyError,
    pub unsent: Option<Request<RequestBody>>,
}

impl SendError {
    fn new(error: ProxyError) -> Self {
        SendError {
            error,
            unsent: None,
        }
    }
}

/// What a pooled connection is for: the backend's address and the TLS settings it was made
/// with (0: cleartext).
pub(crate) type ConnKey = (SocketAddr, u64);

fn key(addr: SocketAddr, tls: Option<&UpstreamTls>) -> ConnKey {
    (addr, tls.map_or(0, |t| t.id))
}

struct Idle {
    sender: http1::SendRequest<RequestBody>,
    since: Instant,
}

/// A worker's connections to backends: idle HTTP/1.1 ones, shared HTTP/2 ones, and connects
/// in progress (`connect.rs`), which outlive the request that started them.
#[derive(Default)]
pub(crate) struct Conns {
    idle: RefCell<HashMap<ConnKey, Vec<Idle>>>,
    pub(crate) h2: RefCell<HashMap<ConnKey, http2::SendRequest<RequestBody>>>,
    pub(crate) connecting: RefCell<HashMap<ConnKey, crate::connect::Connecting>>,
}

impl Conns {
    /// Keep an HTTP/1.1 connection for the next request to `key`.
    pub(crate) fn put_idle(&self, key: ConnKey, sender: http1::SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(key).or_default();
        if list.len() < MAX_IDLE_PER_BACKEND {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    #[cfg(test)]
    pub(crate) fn idle_count(&self, key: ConnKey) -> usize {
        self.idle.borrow().get(&key).map_or(0, Vec::len)
    }
}

/// A worker's connections to backends.
#[derive(Default)]
pub struct UpstreamPool {
    conns: Rc<Conns>,
}

/// Adapt a request to the connection it goes on: HTTP/2 wants the absolute URI (its
/// `:scheme` and `:authority`) and no `Transfer-Encoding`.
fn shape_for(sender: &Sender, req: &mut Request<RequestBody>) {
    if !sender.is_h2() {
        return;
    }
    *req.version_mut() = http::Version::HTTP_2;
    req.headers_mut().remove(http::header::TRANSFER_ENCODING);
    let authority = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok());
    if let Some(authority) = authority {
        let mut parts = req.uri().clone().into_parts();
        parts.scheme = Some(http::uri::Scheme::HTTPS);
        parts.authority = Some(authority);
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

impl UpstreamPool {
    pub fn new() -> Self {
        Self::default()
    }

    fn checkout(&self, addr: ConnKey) -> Option<Sender> {
        if let Some(h2) = self.conns.h2.borrow().get(&addr) {
            if !h2.is_closed() {
                return Some(Sender::H2(h2.clone()));
            }
        }
        let mut idle = self.conns.idle.borrow_mut();
        let list = idle.get_mut(&addr)?;
        while let Some(c) = list.pop() {
            if !c.sender.is_closed() && c.since.elapsed() < IDLE_EXPIRY {
                return Some(Sender::H1(c.sender));
            }
        }
        None
    }

    /// Give back a connection whose last response was read to the end.
    pub fn release(&self, addr: SocketAddr, tls: Option<&UpstreamTls>, sender: Sender) {
        match sender {
            Sender::H1(sender) => self.conns.put_idle(key(addr, tls), sender),
            // HTTP/2 connections stay shared in `h2`; nothing to give back.
            Sender::H2(_) => {}
        }
    }

    /// Close idle connections that are closed or expired; drop backends with none left.
    pub fn sweep(&self) {
        let mut idle = self.conns.idle.borrow_mut();
        idle.retain(|_, list| {
            list.retain(|c| !c.sender.is_closed() && c.since.elapsed() < IDLE_EXPIRY);
            !list.is_empty()
        });
        self.conns.h2.borrow_mut().retain(|_, s| !s.is_closed());
    }

    /// Close every idle connection to `addr` (a backend being drained or removed).
    pub fn close_idle(&self, addr: SocketAddr) {
        self.conns.idle.borrow_mut().retain(|k, _| k.0 != addr);
        self.conns.h2.borrow_mut().retain(|k, _| k.0 != addr);
    }

    /// Send `req` to the backend at `addr`, on a pooled connection when one is idle. A pooled
    /// connection that turns out to be closed before the request was written is retried on a
    /// new one: that race (the backend closing an idle connection) must cost no request.
    ///
    /// On failure the request comes back when it was never handed to a connection (connect
    /// refused or timed out), so the caller may try another backend with it.
    pub async fn send(
        &self,
        addr: SocketAddr,
        host: Option<&str>,
        connect_timeout: Duration,
        tls: Option<&UpstreamTls>,
        mut req: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Sender), SendError> {
        let conn_key = key(addr, tls);
        while let Some(mut sender) = self.checkout(conn_key) {
            shape_for(&sender, &mut req);
            match sender.try_send(req).await {
                Ok(resp) => return Ok((resp, sender)),
                Err(mut e) => match e.take_message() {
                    Some(r) => {
                        if sender.is_h2() {
                            self.conns.h2.borrow_mut().remove(&conn_key);
                        }
                        req = r;
                    }
                    None => return Err(SendError::new(ProxyError::UpstreamReset(e.into_error()))),
                },
            }
        }
        let target = crate::connect::Target {
            key: conn_key,
            host: host.map(str::to_owned),
            timeout: connect_timeout,
            tls: tls.cloned(),
        };
        let mut sender = match crate::connect::get(&self.conns, target).await {
            Ok(s) => s,
            Err(error) => {
                return Err(SendError {
                    error,
                    unsent: Some(req),
                })
            }
        };
        shape_for(&sender, &mut req);
        match sender.try_send(req).await {
            Ok(resp) => Ok((resp, sender)),
            Err(mut e) => Err(SendError {
                unsent: e.take_message(),
                error: ProxyError::UpstreamReset(e.into_error()),
            }),
        }
    }
}
