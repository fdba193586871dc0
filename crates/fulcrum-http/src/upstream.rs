//! Connections to backends: one keep-alive pool per worker thread, so no lock is shared
//! between workers and a connection's task always runs on the thread that uses it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::RequestBody;
use crate::error::ProxyError;

pub type Sender = http1::SendRequest<RequestBody>;

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

struct Idle {
    sender: Sender,
    since: Instant,
}

/// A worker's pool of idle backend connections.
#[derive(Default)]
pub struct UpstreamPool {
    idle: RefCell<HashMap<SocketAddr, Vec<Idle>>>,
}

impl UpstreamPool {
    pub fn new() -> Self {
        Self::default()
    }

    fn checkout(&self, addr: SocketAddr) -> Option<Sender> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&addr)?;
        while let Some(c) = list.pop() {
            if !c.sender.is_closed() && c.since.elapsed() < IDLE_EXPIRY {
                return Some(c.sender);
            }
        }
        None
    }

    /// Give back a connection whose last response was read to the end.
    pub fn release(&self, addr: SocketAddr, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE_PER_BACKEND {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Close idle connections that are closed or expired; drop backends with none left.
    pub fn sweep(&self) {
        let mut idle = self.idle.borrow_mut();
        idle.retain(|_, list| {
            list.retain(|c| !c.sender.is_closed() && c.since.elapsed() < IDLE_EXPIRY);
            !list.is_empty()
        });
    }

    /// Close every idle connection to `addr` (a backend being drained or removed).
    pub fn close_idle(&self, addr: SocketAddr) {
        self.idle.borrow_mut().remove(&addr);
    }

    pub fn idle_count(&self, addr: SocketAddr) -> usize {
        self.idle.borrow().get(&addr).map_or(0, Vec::len)
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
        connect_timeout: Duration,
        mut req: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Sender), SendError> {
        while let Some(mut sender) = self.checkout(addr) {
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok((resp, sender)),
                Err(mut e) => match e.take_message() {
                    Some(r) => req = r,
                    None => return Err(SendError::new(ProxyError::UpstreamReset(e.into_error()))),
                },
            }
        }
        let mut sender = match connect(addr, connect_timeout).await {
            Ok(s) => s,
            Err(error) => {
                return Err(SendError {
                    error,
                    unsent: Some(req),
                })
            }
        };
        match sender.try_send_request(req).await {
            Ok(resp) => Ok((resp, sender)),
            Err(mut e) => Err(SendError {
                unsent: e.take_message(),
                error: ProxyError::UpstreamReset(e.into_error()),
            }),
        }
    }
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Sender, ProxyError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ProxyError::ConnectRefused(e)),
        Err(_) => return Err(ProxyError::ConnectTimeout),
    };
    fulcrum_net::tune_stream(&stream);
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(ProxyError::UpstreamReset)?;
    tokio::task::spawn_local(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(backend = %addr, error = %e, "backend connection ended with an error");
        }
    });
    Ok(sender)
}
