//! Opening backend connections. A connect runs in a task of its own and outlives the request
//! that started it: when that request has gone (its client reset the HTTP/2 stream, or it
//! timed out) the new connection goes to the worker's idle pool instead of being thrown away,
//! and a request that needs a connection while an orphaned connect to the same backend is
//! still running waits for that one rather than opening another. So a client that resets
//! every stream while its connect is under way (HTTP/2 rapid reset, CVE-2023-44487) costs the
//! backend one connection, not one per stream. (hyper-util's legacy pool does the same.)

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::ProxyError;
use crate::server::LocalExec;
use crate::upstream::{ConnKey, Conns, Sender, UpstreamTls};

/// Largest read buffer of an HTTP/1.1 backend connection (hyper's default is ~400 KiB). It
/// bounds a response head from a backend and the size of the body chunks handed on, so one
/// backend connection costs tens of KiB however fast its backend sends.
const BACKEND_READ_BUFFER: usize = 64 * 1024;

type Outcome = Result<Sender, ProxyError>;

/// Connects in progress to one backend, and the requests waiting for them. Each waiter that
/// arrived either started a connect or took over one whose waiter had gone, so there are never
/// more live waiters than connects.
#[derive(Default)]
pub(crate) struct Connecting {
    in_flight: usize,
    waiters: VecDeque<Rc<Slot>>,
}

/// Where a connect's outcome is left for one waiting request.
#[derive(Default)]
struct Slot {
    outcome: RefCell<Option<Outcome>>,
    waker: RefCell<Option<Waker>>,
    /// The request stopped waiting.
    gone: Cell<bool>,
}

/// A request waiting for a connection. Dropped with an outcome it never took (its stream was
/// reset between the connect finishing and the request running again), it keeps the
/// connection idle instead of dropping it.
struct Waiter {
    slot: Rc<Slot>,
    conns: Rc<Conns>,
    key: ConnKey,
}

impl Future for Waiter {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        if let Some(outcome) = self.slot.outcome.borrow_mut().take() {
            return Poll::Ready(outcome);
        }
        *self.slot.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.slot.gone.set(true);
        if let Some(Ok(Sender::H1(sender))) = self.slot.outcome.borrow_mut().take() {
            self.conns.put_idle(self.key, sender);
        }
    }
}

/// Where to connect.
pub(crate) struct Target {
    pub key: ConnKey,
    /// The backend's host name (DNS backends), for TLS.
    pub host: Option<String>,
    pub timeout: Duration,
    pub tls: Option<UpstreamTls>,
}

/// A new connection to `target`: from a connect started for this request, or from one whose
/// request went away before it finished.
pub(crate) async fn get(conns: &Rc<Conns>, target: Target) -> Outcome {
    let slot = Rc::new(Slot::default());
    let waiter = Waiter {
        slot: slot.clone(),
        conns: conns.clone(),
        key: target.key,
    };
    let start = {
        let mut map = conns.connecting.borrow_mut();
        let c = map.entry(target.key).or_default();
        c.waiters.retain(|w| !w.gone.get());
        c.waiters.push_back(slot);
        let start = c.in_flight < c.waiters.len();
        if start {
            c.in_flight += 1;
        }
        start
    };
    if start {
        let conns = conns.clone();
        tokio::task::spawn_local(async move {
            let key = target.key;
            let outcome = connect(&target).await;
            finished(&conns, key, outcome);
        });
    }
    // The task always answers (or is dropped with the runtime, which ends this request too).
    waiter.await
}

/// A connect ended: hand its outcome to the first request still waiting, else keep a new
/// HTTP/1.1 connection idle for the next one (an HTTP/2 one is already shared).
fn finished(conns: &Conns, key: ConnKey, outcome: Outcome) {
    if let Ok(Sender::H2(h2)) = &outcome {
        conns.h2.borrow_mut().insert(key, h2.clone());
    }
    let mut left = Some(outcome);
    let mut map = conns.connecting.borrow_mut();
    if let Some(c) = map.get_mut(&key) {
        c.in_flight = c.in_flight.saturating_sub(1);
        while let Some(w) = c.waiters.pop_front() {
            if w.gone.get() {
                continue;
            }
            *w.outcome.borrow_mut() = left.take();
            if let Some(waker) = w.waker.borrow_mut().take() {
                waker.wake();
            }
            break;
        }
        if c.in_flight == 0 && c.waiters.is_empty() {
            map.remove(&key);
        }
    }
    drop(map);
    if let Some(Ok(Sender::H1(sender))) = left {
        conns.put_idle(key, sender);
    }
}

async fn connect(target: &Target) -> Outcome {
    let addr: SocketAddr = target.key.0;
    let connecting = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(ProxyError::ConnectRefused)?;
        fulcrum_net::tune_stream(&stream);
        match &target.tls {
            None => Ok((Box::new(stream) as BoxIo, false)),
            Some(t) => {
                let connector = tokio_rustls::TlsConnector::from(t.config.clone());
                let name = t
                    .server_name
                    .clone()
                    .or_else(|| {
                        target.host.as_deref().and_then(|h| {
                            rustls::pki_types::ServerName::try_from(h.to_string()).ok()
                        })
                    })
                    .unwrap_or_else(|| rustls::pki_types::ServerName::IpAddress(addr.ip().into()));
                let s = connector
                    .connect(name, stream)
                    .await
                    .map_err(ProxyError::TlsHandshake)?;
                let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
                Ok((Box::new(s) as BoxIo, h2))
            }
        }
    };
    let (io, h2) = match tokio::time::timeout(target.timeout, connecting).await {
        Ok(r) => r?,
        Err(_) => return Err(ProxyError::ConnectTimeout),
    };
    if h2 {
        let (sender, conn) = http2::Builder::new(LocalExec)
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .handshake(TokioIo::new(io))
            .await
            .map_err(ProxyError::UpstreamReset)?;
        tokio::task::spawn_local(async move {
            if let Err(e) = conn.await {
                tracing::debug!(backend = %addr, error = %e, "backend h2 connection ended with an error");
            }
        });
        return Ok(Sender::H2(sender));
    }
    let (sender, conn) = http1::Builder::new()
        .max_buf_size(BACKEND_READ_BUFFER)
        .handshake(TokioIo::new(io))
        .await
        .map_err(ProxyError::UpstreamReset)?;
    tokio::task::spawn_local(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(backend = %addr, error = %e, "backend connection ended with an error");
        }
    });
    Ok(Sender::H1(sender))
}

/// A backend stream, cleartext or TLS.
type BoxIo = Box<dyn IoStream>;

trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> IoStream for T {}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    /// A TCP listener that accepts (and keeps) connections, counting them.
    async fn counting_listener() -> (SocketAddr, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let n = Arc::new(AtomicUsize::new(0));
        let count = n.clone();
        tokio::task::spawn_local(async move {
            let mut kept = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                kept.push(s);
            }
        });
        (addr, n)
    }

    fn target(addr: SocketAddr) -> Target {
        Target {
            key: (addr, 0),
            host: None,
            timeout: Duration::from_secs(5),
            tls: None,
        }
    }

    /// Poll `fut` once.
    async fn poll_once<F: Future>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
    }

    fn local(f: impl Future<Output = ()>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f);
    }

    /// Issue 7 item 1 (rapid reset): a request whose stream is reset while its connect runs
    /// leaves that connect to the next request, which opens no other.
    #[test]
    fn a_request_takes_over_the_connect_of_one_that_went_away() {
        local(async {
            let (addr, accepted) = counting_listener().await;
            let conns = Rc::new(Conns::default());
            let mut first = Box::pin(get(&conns, target(addr)));
            assert!(poll_once(first.as_mut()).await.is_pending());
            drop(first);
            let second = get(&conns, target(addr)).await;
            assert!(second.is_ok(), "the second request got no connection");
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
        });
    }

    /// Issue 7 item 1 (rapid reset): a connect that completes after its request went away
    /// leaves an idle connection for the next request instead of being thrown away.
    #[test]
    fn a_connect_whose_request_went_away_ends_in_the_idle_pool() {
        local(async {
            let (addr, accepted) = counting_listener().await;
            let conns = Rc::new(Conns::default());
            let mut first = Box::pin(get(&conns, target(addr)));
            assert!(poll_once(first.as_mut()).await.is_pending());
            drop(first);
            let deadline = Instant::now() + Duration::from_secs(5);
            while conns.idle_count((addr, 0)) == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(conns.idle_count((addr, 0)), 1, "the connection was dropped");
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
            assert!(conns.connecting.borrow().is_empty());
        });
    }

    /// Issue 7 item 1 (rapid reset): a connection handed to a request that is dropped before
    /// it runs again (its stream was reset in between) is kept idle, not lost.
    #[test]
    fn a_connection_handed_to_a_request_that_never_took_it_is_kept() {
        local(async {
            let (addr, accepted) = counting_listener().await;
            let conns = Rc::new(Conns::default());
            let mut first = Box::pin(get(&conns, target(addr)));
            assert!(poll_once(first.as_mut()).await.is_pending());
            let deadline = Instant::now() + Duration::from_secs(5);
            while !conns.connecting.borrow().is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(
                conns.connecting.borrow().is_empty(),
                "the connect never finished"
            );
            assert_eq!(conns.idle_count((addr, 0)), 0);
            drop(first);
            assert_eq!(conns.idle_count((addr, 0)), 1, "the connection was dropped");
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
        });
    }
}
