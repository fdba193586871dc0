//! Issue 7 item 1: HTTP/2 clients that never read, or that reset every stream, must not grow
//! the proxy's memory or its backend connections without bound (and the send timeout that
//! closes a client that does not read applies to HTTP/1.1 too).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_testkit::Backend;

use crate::h2_frames::{self as h2, Conn};
use fulcrum_testkit::wait_until;

use crate::support::{admin_call, field, Proc, TempDir};

const MAX_WINDOW: u32 = (1 << 31) - 1;

fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Samples a process's resident set size until dropped; keeps the peak.
struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssPeak {
    fn start(pid: i32) -> RssPeak {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssPeak {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// `fulcrum run` with an admin listener, routing everything to `be`.
struct Proxy {
    p: Proc,
    addr: SocketAddr,
    admin: SocketAddr,
    _dir: TempDir,
}

impl Proxy {
    fn start(be: SocketAddr, listener_extra: &str) -> Proxy {
        let dir = TempDir::new("h2hard");
        let config = format!(
            "[admin]\nbind = \"127.0.0.1:0\"\n[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n\
             [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n{listener_extra}\n\
             [[listener.route]]\npool = \"app\"\n\
             [pool.app]\nbackends = [{{ address = \"{be}\" }}]\n"
        );
        let path = dir.write("fulcrum.toml", &config);
        let p = Proc::run(&path);
        let (mut addr, mut admin) = (None, None);
        while addr.is_none() || admin.is_none() {
            let line = p
                .wait_for_line("listening", Duration::from_secs(10))
                .expect("never listened");
            let a: SocketAddr = field(&line, "address").unwrap().parse().unwrap();
            if line.contains("admin listening") {
                admin = Some(a);
            } else {
                addr = Some(a);
            }
        }
        Proxy {
            p,
            addr: addr.unwrap(),
            admin: admin.unwrap(),
            _dir: dir,
        }
    }

    /// The sum of the samples of `series` (a name, or a name and the start of its labels).
    fn metric(&self, series: &str) -> f64 {
        let text = admin_call(self.admin, "GET", "/metrics", None, None).text();
        text.lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn backend_inflight(&self) -> f64 {
        self.metric("fulcrum_backend_inflight{")
    }

    fn connections(&self) -> f64 {
        self.metric("fulcrum_connections_active{listener=\"web\"}")
    }
}

/// An HTTP/2 client that advertises the largest window, waits for the server's SETTINGS,
/// opens `streams` streams to a 1 GiB response, then never reads again.
fn hostile_client(addr: SocketAddr, streams: u32) -> Conn {
    let mut first = h2::settings(&[(h2::SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW)]);
    first.extend(h2::window_update(0, MAX_WINDOW - 65_535));
    let mut c = Conn::open(addr, &first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let f = c.next_frame(deadline).expect("no SETTINGS from the server");
        if f.kind == h2::SETTINGS && f.flags & h2::ACK == 0 {
            break;
        }
    }
    let mut out = h2::frame(h2::SETTINGS, h2::ACK, 0, &[]);
    for i in 0..streams {
        out.extend(h2::get(2 * i + 1, "a", "/bytes/1073741824"));
    }
    c.send(&out).unwrap();
    c
}

/// The per-client-connection backend cap by default (`h2_max_backend_connections`).
const DEFAULT_BACKEND_CAP: usize = 32;

/// Issue 7 item 1: three clients that advertise the largest window, open every stream they may
/// to a 1 GiB response and never read grew the proxy by ~500 MiB with one backend connection
/// per stream (767). Now each stream buffers at most 64 KiB, a client connection holds at most
/// 32 backend connections, and the growth stays under 64 MiB.
#[test]
fn three_h2_clients_that_never_read_leave_rss_growth_under_64_mib() {
    let be = Backend::start("big");
    let lb = Proxy::start(be.addr, "");
    // Warm up (thread stacks, allocator arenas) with an ordinary HTTP/2 request.
    let r = fulcrum_testkit::Client::http2(lb.addr)
        .get("a", "/", &[])
        .unwrap();
    assert_eq!(r.status, 200);
    let pid = lb.p.pid();
    let base = rss_kib(pid).unwrap();
    let (conns_before, requests_before) = (be.connection_count(), be.request_count());
    let sampler = RssPeak::start(pid);
    let hostile: Vec<Conn> = (0..3).map(|_| hostile_client(lb.addr, 256)).collect();
    // Watch for as long as the old code took to pass 500 MiB (well inside `timeouts.send`,
    // so it is the buffers that bound memory here, not the timeout).
    let end = Instant::now() + Duration::from_secs(4);
    let mut max_backend = 0;
    while Instant::now() < end {
        max_backend = max_backend.max(be.connection_count() - conns_before);
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = sampler.finish();
    let requests = be.request_count() - requests_before;
    drop(hostile);
    let growth = peak.saturating_sub(base);
    eprintln!(
        "3 hostile clients: RSS {base} KiB -> peak {peak} KiB (+{growth} KiB), \
         {max_backend} backend connections, {requests} backend requests"
    );
    // The clients were really served: every backend slot was used.
    assert!(
        requests >= 3 * DEFAULT_BACKEND_CAP - 3,
        "only {requests} requests reached the backend"
    );
    assert!(
        max_backend <= 3 * DEFAULT_BACKEND_CAP,
        "{max_backend} backend connections for 3 client connections"
    );
    assert!(
        growth < 64 * 1024,
        "RSS grew by {growth} KiB (from {base} to {peak} KiB)"
    );
}

/// Issue 7 item 1: every stream of an HTTP/2 connection got a backend connection of its own
/// (256 streams: 256 connections). With `h2_max_backend_connections = 2`, six streams to a slow
/// backend all complete, over at most two backend connections: the others waited for a slot.
#[test]
fn h2_streams_beyond_the_backend_cap_wait_for_a_slot() {
    let be = Backend::start("slow");
    let lb = Proxy::start(be.addr, "limits = { h2_max_backend_connections = 2 }");
    let mut c = Conn::open(lb.addr, &h2::settings(&[]));
    let mut out = h2::frame(h2::SETTINGS, h2::ACK, 0, &[]);
    for i in 0..6 {
        out.extend(h2::get(2 * i + 1, "a", "/sleep/200"));
    }
    c.send(&out).unwrap();
    let mut done = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while done < 6 {
        let f = c.next_frame(deadline).expect("not every stream finished");
        assert_ne!(f.kind, h2::RST_STREAM, "stream {} was reset", f.stream);
        if f.stream != 0 && f.flags & h2::END_STREAM != 0 {
            done += 1;
        }
    }
    assert_eq!(be.request_count(), 6);
    assert!(
        be.connection_count() <= 2,
        "{} backend connections for a cap of 2",
        be.connection_count()
    );
}

/// Issue 7 item 1: an HTTP/2 client that stops reading held its streams and their backend
/// connections until nothing had moved for max(idle, request) = 60 s. Now its connection is
/// closed once writes to it have been refused for `timeouts.send`, and every backend request
/// it held is released.
#[test]
fn h2_client_that_stops_reading_is_closed_after_the_send_timeout() {
    let be = Backend::start("big");
    let lb = Proxy::start(be.addr, "timeouts = { send = \"1s\" }");
    let hostile = hostile_client(lb.addr, 8);
    assert!(
        wait_until(Duration::from_secs(10), || lb.backend_inflight() >= 8.0),
        "the streams never reached the backend"
    );
    assert!(
        wait_until(Duration::from_secs(20), || lb.connections() == 0.0
            && lb.backend_inflight() == 0.0),
        "a client that does not read is still connected ({} connections, {} backend requests)",
        lb.connections(),
        lb.backend_inflight()
    );
    drop(hostile);
}

/// Issue 7 item 1: the send timeout is the connection's, so an HTTP/1.1 client that stops
/// reading a large response is closed after it too (it was held for 60 s).
#[test]
fn http1_client_that_stops_reading_is_closed_after_the_send_timeout() {
    use std::io::Write;
    let be = Backend::start("big");
    let lb = Proxy::start(be.addr, "timeouts = { send = \"1s\" }");
    let mut s = std::net::TcpStream::connect(lb.addr).unwrap();
    s.write_all(b"GET /bytes/1073741824 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || lb.backend_inflight() >= 1.0),
        "the request never reached the backend"
    );
    assert!(
        wait_until(Duration::from_secs(20), || lb.connections() == 0.0
            && lb.backend_inflight() == 0.0),
        "a client that does not read is still connected"
    );
}

/// A backend for `/events`: one event at once, another after `pause`, then the end: what an
/// event stream whose backend is slow to send looks like.
struct EventBackend {
    addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

impl EventBackend {
    fn start(pause: Duration) -> EventBackend {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |_req| async move {
                        let (tx, rx) = tokio::sync::mpsc::channel(2);
                        tokio::spawn(async move {
                            let event = |n: u8| bytes::Bytes::from(format!("data: {n}\n\n"));
                            let _ = tx.send(event(1)).await;
                            tokio::time::sleep(pause).await;
                            let _ = tx.send(event(2)).await;
                        });
                        Ok::<_, std::convert::Infallible>(http::Response::new(Events(rx)))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        EventBackend { addr, _rt: rt }
    }
}

/// A body fed by a channel, frame by frame.
struct Events(tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl http_body::Body for Events {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// Read frames until stream `id` ends; whether it ended with END_STREAM (else a reset).
fn stream_end(c: &mut Conn, id: u32, timeout: Duration) -> Option<bool> {
    let deadline = Instant::now() + timeout;
    while let Some(f) = c.next_frame(deadline) {
        if f.stream != id {
            continue;
        }
        if f.kind == h2::RST_STREAM {
            return Some(false);
        }
        if matches!(f.kind, h2::DATA | h2::HEADERS) && f.flags & h2::END_STREAM != 0 {
            return Some(true);
        }
    }
    None
}

/// A client that reads its socket but gives stream 1 no flow-control credit beyond the
/// initial 64 KiB (and the connection the largest window).
fn withholding_client(addr: SocketAddr) -> Conn {
    let mut c = Conn::open(addr, &h2::window_update(0, MAX_WINDOW - 65_535));
    let mut first = h2::settings(&[]);
    first.extend(h2::frame(h2::SETTINGS, h2::ACK, 0, &[]));
    first.extend(h2::get(1, "a", "/bytes/1073741824"));
    c.send(&first).unwrap();
    c
}

/// Issue 7 item 1: one HTTP/2 stream whose client gives it no flow-control credit is not
/// pulled by hyper again, so nothing inside the body could notice; it held its backend
/// connection and in-flight slot for as long as the connection lived. Now it is cut after
/// `timeouts.send` (the connection could have sent its data: the client is withholding
/// credit), its backend request is released, the connection keeps serving, and the stream
/// fails (RST_STREAM) when the client finally gives credit.
#[test]
fn h2_stream_without_flow_control_credit_is_cut_after_the_send_timeout() {
    let be = Backend::start("big");
    let lb = Proxy::start(be.addr, "timeouts = { send = \"1s\" }");
    let mut c = withholding_client(lb.addr);
    assert!(
        wait_until(Duration::from_secs(10), || lb.backend_inflight() >= 1.0),
        "the stream never reached the backend"
    );
    assert!(
        wait_until(Duration::from_secs(20), || lb.backend_inflight() == 0.0),
        "a stream without credit still holds its backend request"
    );
    assert_eq!(lb.connections(), 1.0, "the whole connection was closed");
    c.send(&h2::get(3, "a", "/")).unwrap();
    assert_eq!(
        stream_end(&mut c, 3, Duration::from_secs(10)),
        Some(true),
        "the connection no longer serves"
    );
    c.send(&h2::window_update(1, 1 << 20)).unwrap();
    assert_eq!(
        stream_end(&mut c, 1, Duration::from_secs(10)),
        Some(false),
        "the cut stream was not reset"
    );
}

/// Issue 7 item 1: the stall cut tells a client that does not read from a backend that is slow
/// to send: an event stream waiting three send timeouts for its next event is not cut.
#[test]
fn h2_event_stream_waiting_on_its_backend_is_not_cut_by_the_send_timeout() {
    let ev = EventBackend::start(Duration::from_secs(3));
    let lb = Proxy::start(ev.addr, "timeouts = { send = \"1s\" }");
    let r = fulcrum_testkit::Client::http2(lb.addr)
        .get("a", "/events", &[])
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "data: 1\n\ndata: 2\n\n");
}

/// `pairs` streams, each reset (CANCEL) in the write that opens the next one, one write every
/// `gap`: each stream is accepted (and its request started) before its reset arrives. The
/// GOAWAY's error code, if one came.
fn rapid_reset(addr: SocketAddr, pairs: u32, gap: Duration, path: &str) -> Option<u32> {
    let mut c = Conn::open(addr, &h2::settings(&[]));
    for i in 0..pairs {
        let id = 2 * i + 1;
        let mut out = h2::get(id, "a", path);
        if i > 0 {
            out.extend(h2::rst_stream(id - 2, h2::CANCEL));
        }
        if c.send(&out).is_err() {
            break;
        }
        std::thread::sleep(gap);
    }
    c.goaway_code(Duration::from_secs(5))
}

/// Issue 7 item 1 (CVE-2023-44487): every stream reset after its request had started cost the
/// backend a new connection (2,000 streams: ~2,000 connections). Now a connect whose stream
/// went away is kept for the next one, and a connection that resets most of its streams early
/// is sent away after 100 of them; the proxy serves a normal client afterwards.
#[test]
fn h2_rapid_reset_does_not_open_a_backend_connection_per_stream() {
    let be = Backend::start("rr");
    let lb = Proxy::start(be.addr, "");
    // HEADERS and RST_STREAM in the same write: h2 refuses the streams before they are
    // accepted (`max_pending_accept_reset_streams`) and sends ENHANCE_YOUR_CALM.
    let mut c = Conn::open(lb.addr, &h2::settings(&[]));
    let mut burst = Vec::new();
    for i in 0..2000u32 {
        burst.extend(h2::get(2 * i + 1, "a", "/sleep/20"));
        burst.extend(h2::rst_stream(2 * i + 1, h2::CANCEL));
    }
    let _ = c.send(&burst);
    let code = c.goaway_code(Duration::from_secs(5));
    assert_eq!(h2::code_name(code), "ENHANCE_YOUR_CALM");
    let after_burst = be.connection_count();
    assert!(after_burst <= 4, "{after_burst} backend connections");

    // Each reset one write later: the streams were accepted and their requests sent.
    let code = rapid_reset(lb.addr, 2000, Duration::from_micros(200), "/sleep/20");
    let conns = be.connection_count() - after_burst;
    eprintln!(
        "rapid reset: {} from the proxy, {conns} backend connections, {} backend requests",
        h2::code_name(code),
        be.request_count()
    );
    assert!(code.is_some(), "the connection was never sent away");
    assert!(
        conns <= 200,
        "{conns} backend connections for one client connection"
    );
    let r = fulcrum_testkit::Client::http2(lb.addr)
        .get("a", "/", &[])
        .unwrap();
    assert_eq!(r.status, 200, "the proxy no longer serves a normal client");
}
