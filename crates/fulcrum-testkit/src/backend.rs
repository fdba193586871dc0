//! A real HTTP/1.1 backend for tests, on its own thread and runtime.
//!
//! Paths:
//! - `/sleep/<ms>`: answer after a delay.
//! - `/bytes/<n>`: stream `n` bytes (in 64 KiB chunks, generated, never held whole).
//! - `/drip/<n>/<ms>`: stream `n` chunks of 1 KiB, `ms` apart (a response that takes time).
//! - `/upload`: read the whole request body, answer with its length.
//! - `/status/<code>`: answer with that status.
//! - `/ws`: accept an `Upgrade` and echo the bytes of the upgraded stream.
//! - anything else: answer with the backend's name.
//!
//! A backend started with [`Backend::start_failing`] answers every path with one status.
//!
//! Every response carries `x-backend: <name>`; every request is recorded.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: String,
    pub headers: HeaderMap,
    pub body_len: u64,
    /// FNV-1a of the body's bytes (bodies are not kept: some tests move GiBs).
    pub body_hash: u64,
}

/// FNV-1a, continued over `bytes`.
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The FNV-1a of nothing.
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

pub struct Backend {
    pub addr: SocketAddr,
    pub name: String,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Backend {
    /// Start a backend named `name` on `127.0.0.1:0`.
    pub fn start(name: &str) -> Backend {
        Self::start_on(name, "127.0.0.1:0".parse().unwrap())
    }

    /// Start a backend that waits `delay` before answering any request.
    pub fn start_with_delay(name: &str, delay: Duration) -> Backend {
        Self::start_inner(name, "127.0.0.1:0".parse().unwrap(), delay, None)
    }

    /// Start a backend that answers every request (whatever its path) with `status`.
    pub fn start_failing(name: &str, status: u16) -> Backend {
        let status = StatusCode::from_u16(status).unwrap();
        Self::start_inner(
            name,
            "127.0.0.1:0".parse().unwrap(),
            Duration::ZERO,
            Some(status),
        )
    }

    pub fn start_on(name: &str, bind: SocketAddr) -> Backend {
        Self::start_inner(name, bind, Duration::ZERO, None)
    }

    fn start_inner(
        name: &str,
        bind: SocketAddr,
        delay: Duration,
        fixed: Option<StatusCode>,
    ) -> Backend {
        let std_listener = std::net::TcpListener::bind(bind).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (rec, conns, nm) = (recorded.clone(), connections.clone(), name.to_string());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let (stream, _) = tokio::select! {
                        a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                        _ = &mut stopped => return,
                    };
                    conns.fetch_add(1, Ordering::SeqCst);
                    let (rec, nm) = (rec.clone(), nm.clone());
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            let (nm, rec) = (nm.clone(), rec.clone());
                            async move {
                                if !delay.is_zero() {
                                    tokio::time::sleep(delay).await;
                                }
                                if let Some(status) = fixed {
                                    return fixed_answer(nm, rec, req, status).await;
                                }
                                handle(nm, rec, req).await
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .with_upgrades()
                            .await;
                    });
                }
            });
        });
        Backend {
            addr,
            name: name.to_string(),
            recorded,
            connections,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every request received so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.recorded.lock().unwrap().len()
    }

    /// TCP connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Stop accepting; established connections end with the runtime.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn full(status: StatusCode, name: &str, body: impl Into<Bytes>) -> Response<Body> {
    let body = http_body_util::Full::new(body.into()).boxed();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert("x-backend", name.parse().unwrap());
    r
}

/// Record `req` (reading its body) and answer `status`.
async fn fixed_answer(
    name: String,
    rec: Arc<Mutex<Vec<Recorded>>>,
    req: Request<Incoming>,
    status: StatusCode,
) -> Result<Response<Body>, Infallible> {
    let mut entry = Recorded {
        method: req.method().clone(),
        uri: req.uri().to_string(),
        headers: req.headers().clone(),
        body_len: 0,
        body_hash: FNV_START,
    };
    if let Ok(body) = req.into_body().collect().await {
        let bytes = body.to_bytes();
        entry.body_len = bytes.len() as u64;
        entry.body_hash = fnv1a(FNV_START, &bytes);
    }
    rec.lock().unwrap().push(entry);
    Ok(full(status, &name, name.clone()))
}

async fn handle(
    name: String,
    rec: Arc<Mutex<Vec<Recorded>>>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let mut entry = Recorded {
        method: req.method().clone(),
        uri: req.uri().to_string(),
        headers: req.headers().clone(),
        body_len: 0,
        body_hash: FNV_START,
    };
    if path == "/ws" {
        rec.lock().unwrap().push(entry);
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                let mut io = TokioIo::new(up);
                let mut buf = [0u8; 4096];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut r = full(StatusCode::SWITCHING_PROTOCOLS, &name, Bytes::new());
        r.headers_mut()
            .insert("upgrade", "websocket".parse().unwrap());
        r.headers_mut()
            .insert("connection", "upgrade".parse().unwrap());
        return Ok(r);
    }
    // Read the request body (all paths), counting it.
    let mut body = req.into_body();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    len += d.len() as u64;
                    entry.body_hash = fnv1a(entry.body_hash, d);
                }
            }
            Err(_) => break,
        }
    }
    entry.body_len = len;
    rec.lock().unwrap().push(entry);

    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let resp = match (parts.next(), parts.next()) {
        (Some("sleep"), Some(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            full(StatusCode::OK, &name, name.clone())
        }
        (Some("status"), Some(code)) => {
            let status = StatusCode::from_u16(code.parse().unwrap_or(500)).unwrap();
            full(status, &name, name.clone())
        }
        (Some("upload"), _) => full(StatusCode::OK, &name, len.to_string()),
        (Some("drip"), Some(rest)) => {
            let mut it = rest.splitn(2, '/').map(|v| v.parse::<u64>().unwrap_or(0));
            let (n, ms) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
            let (tx, rx) = mpsc::channel::<Bytes>(1);
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b'd'; 1024]);
                for i in 0..n {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    if tx.send(chunk.clone()).await.is_err() {
                        return;
                    }
                }
            });
            let mut r = Response::new(ChannelBody(rx).boxed());
            r.headers_mut().insert("x-backend", name.parse().unwrap());
            r
        }
        (Some("bytes"), Some(n)) => {
            let total: u64 = n.parse().unwrap_or(0);
            let (tx, rx) = mpsc::channel::<Bytes>(2);
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let mut left = total;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    if tx.send(chunk.slice(..n)).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            });
            let mut r = Response::new(ChannelBody(rx).boxed());
            r.headers_mut().insert("x-backend", name.parse().unwrap());
            r
        }
        _ => full(StatusCode::OK, &name, name.clone()),
    };
    Ok(resp)
}

/// A body fed by a channel: frames are produced only as fast as they are taken.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}
