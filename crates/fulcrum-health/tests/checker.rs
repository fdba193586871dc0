//! The check shell against real loopback sockets: TCP, HTTP and UDP backends, healthy and
//! not, over IPv4 and IPv6.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fulcrum_config::model::{HealthCheck, Probe};
use fulcrum_health::{check_once, probe, probe_with, run_checks, CheckError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};

const TIMEOUT: Duration = Duration::from_millis(300);

/// A TCP check, or an HTTP one with `path`.
fn spec(path: Option<&str>) -> HealthCheck {
    with_probe(path.map_or(Probe::Tcp, |p| Probe::Http { path: p.into() }))
}

/// A UDP check sending `send`, expecting a reply starting with `expect`.
fn udp_spec(send: &[u8], expect: &[u8]) -> HealthCheck {
    with_probe(Probe::Udp {
        send: send.to_vec(),
        expect: expect.to_vec(),
    })
}

fn with_probe(probe: Probe) -> HealthCheck {
    HealthCheck {
        probe,
        port: None,
        interval: Duration::from_millis(50),
        timeout: TIMEOUT,
        healthy_threshold: 2,
        unhealthy_threshold: 3,
    }
}

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Read a request head (up to the blank line).
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(head).unwrap()
}

/// A minimal HTTP server: answers every request with `status_line`, then closes. Request heads
/// go to the returned channel.
async fn http_backend(status_line: &'static str) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    http_backend_on("127.0.0.1:0", status_line).await
}

/// [`http_backend`] on `bind`.
async fn http_backend_on(
    bind: &str,
    status_line: &'static str,
) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                let _ = tx.send(head);
                let body = "a body nobody reads";
                let response = format!(
                    "HTTP/1.1 {status_line}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn tcp_check_passes_on_a_listening_port() {
    let (_listener, addr) = listener().await;
    assert!(check_once(addr, &spec(None), None).await);
}

#[tokio::test]
async fn tcp_check_fails_on_a_closed_port() {
    let (listener, addr) = listener().await;
    drop(listener);
    // Refused, not timed out: the error says which (no wall-clock threshold needed).
    assert!(matches!(
        probe(addr, &spec(None), None).await,
        Err(CheckError::Connect(_))
    ));
    assert!(!check_once(addr, &spec(None), None).await);
}

#[tokio::test]
async fn http_check_passes_on_200_and_sends_the_expected_request() {
    let (addr, mut heads) = http_backend("200 OK").await;
    assert!(check_once(addr, &spec(Some("/healthz")), None).await);
    let head = heads.recv().await.unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get /healthz http/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert!(head.contains("user-agent: fulcrum-health\r\n"), "{head}");
}

#[tokio::test]
async fn http_check_sends_the_given_host() {
    let (addr, mut heads) = http_backend("204 No Content").await;
    assert!(check_once(addr, &spec(Some("/")), Some("api.example.com")).await);
    let head = heads.recv().await.unwrap().to_ascii_lowercase();
    assert!(head.contains("host: api.example.com\r\n"), "{head}");
}

#[tokio::test]
async fn http_check_passes_on_3xx() {
    let (addr, _heads) = http_backend("302 Found").await;
    assert!(check_once(addr, &spec(Some("/healthz")), None).await);
}

#[tokio::test]
async fn http_check_fails_on_503_and_404() {
    let (addr, _heads) = http_backend("503 Service Unavailable").await;
    assert!(matches!(
        probe(addr, &spec(Some("/healthz")), None).await,
        Err(CheckError::Status(s)) if s.as_u16() == 503
    ));
    let (addr, _heads) = http_backend("404 Not Found").await;
    assert!(!check_once(addr, &spec(Some("/healthz")), None).await);
}

#[tokio::test]
async fn http_check_fails_when_the_server_closes_without_answering() {
    let (listener, addr) = listener().await;
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_head(&mut stream).await;
            drop(stream);
        }
    });
    assert!(matches!(
        probe(addr, &spec(Some("/healthz")), None).await,
        Err(CheckError::Http(_))
    ));
}

#[tokio::test]
async fn http_check_fails_within_the_timeout_when_the_server_never_answers() {
    let (listener, addr) = listener().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_head(&mut stream).await;
            held.push(stream); // keep it open, say nothing
        }
    });
    let started = Instant::now();
    let result = probe(addr, &spec(Some("/healthz")), None).await;
    let elapsed = started.elapsed();
    // The timeout ended it (the server never would), and not early.
    assert!(matches!(result, Err(CheckError::Timeout(t)) if t == TIMEOUT));
    assert!(elapsed >= TIMEOUT, "{elapsed:?}");
}

#[tokio::test]
async fn invalid_path_fails_without_panicking() {
    let (addr, _heads) = http_backend("200 OK").await;
    assert!(matches!(
        probe(addr, &spec(Some("no spaces allowed")), None).await,
        Err(CheckError::Request(_))
    ));
}

/// Start `run_checks` against `addr`; results arrive on the returned channel.
fn start_loop(
    addr: SocketAddr,
    spec: HealthCheck,
) -> (
    mpsc::UnboundedReceiver<(bool, Instant)>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (results_tx, results) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(async move {
        let on_result = move |ok, at| {
            let _ = results_tx.send((ok, at));
        };
        run_checks(addr, &spec, on_result, stop).await;
    });
    (results, stop_tx, task)
}

#[tokio::test]
async fn run_checks_reports_on_schedule_until_stopped() {
    let (_listener, addr) = listener().await;
    let (mut results, stop, task) = start_loop(addr, spec(None));
    let mut times = Vec::new();
    for _ in 0..4 {
        let (ok, at) = results.recv().await.unwrap();
        assert!(ok);
        times.push(at);
    }
    // Every interval, jittered by at most 10 %: never sooner than 90 % of it (how much later
    // depends on the machine, so that is not asserted).
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(45), "{gap:?}");
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("loop stops")
        .unwrap();
}

#[tokio::test]
async fn run_checks_reports_failures_and_stops_when_the_sender_is_dropped() {
    let (listener, addr) = listener().await;
    drop(listener);
    let (mut results, stop, task) = start_loop(addr, spec(None));
    assert!(!results.recv().await.unwrap().0);
    assert!(!results.recv().await.unwrap().0);
    drop(stop);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("loop stops")
        .unwrap();
}

#[tokio::test]
async fn run_checks_stopped_mid_check_returns_at_once() {
    let (listener, addr) = listener().await;
    let (accepted_tx, mut accepted) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            held.push(listener.accept().await.unwrap().0);
            let _ = accepted_tx.send(());
        }
    });
    let mut slow = spec(Some("/healthz"));
    slow.timeout = Duration::from_secs(30);
    let (_results, stop, task) = start_loop(addr, slow);
    // Issue 7 item 23: wait for the check's connection (it used to sleep 100 ms and hope).
    accepted.recv().await.unwrap();
    stop.send(true).unwrap();
    // Far sooner than the check's 30 s timeout.
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("loop stops mid-check")
        .unwrap();
}

/// Both loopbacks: every UDP test runs over IPv4 and IPv6.
const LOOPBACKS: [&str; 2] = ["127.0.0.1:0", "[::1]:0"];

/// A UDP responder on `bind`: each datagram is sent to the returned channel, then answered
/// with `answer(datagram)`, or not at all when that is `None`.
async fn udp_responder(
    bind: &str,
    answer: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let socket = UdpSocket::bind(bind).await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.unwrap();
            let got = buf[..n].to_vec();
            let reply = answer(&got);
            let _ = tx.send(got);
            if let Some(reply) = reply {
                socket.send_to(&reply, from).await.unwrap();
            }
        }
    });
    (addr, rx)
}

/// A UDP port nothing listens on (bound once, then closed).
async fn closed_udp_port(bind: &str) -> SocketAddr {
    let socket = UdpSocket::bind(bind).await.unwrap();
    socket.local_addr().unwrap()
}

#[tokio::test]
async fn udp_check_passes_when_the_reply_starts_with_the_expected_bytes() {
    for bind in LOOPBACKS {
        let (addr, mut got) = udp_responder(bind, |q| {
            (q == b"ping").then(|| b"pong, and more after the prefix".to_vec())
        })
        .await;
        let spec = udp_spec(b"ping", b"pong");
        probe(addr, &spec, None).await.unwrap();
        assert_eq!(got.recv().await.unwrap(), b"ping", "{bind}");
        // A reply exactly the prefix passes as well.
        let (addr, _got) = udp_responder(bind, |_| Some(b"pong".to_vec())).await;
        assert!(check_once(addr, &spec, None).await, "{bind}");
    }
}

#[tokio::test]
async fn udp_check_without_an_expectation_passes_on_any_reply() {
    for bind in LOOPBACKS {
        let (addr, _got) = udp_responder(bind, |_| Some(vec![0xff])).await;
        probe(addr, &udp_spec(b"?", b""), None).await.unwrap();
        // Even an empty datagram is a reply.
        let (addr, _got) = udp_responder(bind, |_| Some(vec![])).await;
        probe(addr, &udp_spec(b"?", b""), None).await.unwrap();
    }
}

#[tokio::test]
async fn udp_check_fails_on_a_reply_with_another_prefix() {
    for bind in LOOPBACKS {
        let (addr, _got) = udp_responder(bind, |_| Some(b"PONG".to_vec())).await;
        // Failed on the reply (the error says so), not at the timeout.
        let result = probe(addr, &udp_spec(b"ping", b"pong"), None).await;
        assert!(
            matches!(&result, Err(CheckError::Reply(r)) if r == b"PONG"),
            "{bind}: {result:?}"
        );
        // Shorter than the prefix: a mismatch too.
        let (addr, _got) = udp_responder(bind, |_| Some(b"po".to_vec())).await;
        assert!(!check_once(addr, &udp_spec(b"ping", b"pong"), None).await);
    }
    let e = CheckError::Reply(vec![0x12, 0x34, 0x81]);
    assert_eq!(e.to_string(), "unexpected reply, starting 12 34 81");
}

#[tokio::test]
async fn udp_check_fails_at_the_timeout_when_nothing_answers() {
    for bind in LOOPBACKS {
        let (addr, mut got) = udp_responder(bind, |_| None).await;
        let started = Instant::now();
        // Bounded: the check's own timeout ends it, this only guards against a hang.
        let result = tokio::time::timeout(
            Duration::from_secs(10),
            probe(addr, &udp_spec(b"ping", b"pong"), None),
        )
        .await
        .expect("the check's timeout ends it");
        let elapsed = started.elapsed();
        assert!(
            matches!(result, Err(CheckError::Timeout(t)) if t == TIMEOUT),
            "{bind}: {result:?}"
        );
        assert!(elapsed >= TIMEOUT, "{bind}: {elapsed:?}");
        // The probe did arrive; it was only never answered.
        assert_eq!(got.recv().await.unwrap(), b"ping");
    }
}

#[tokio::test]
async fn udp_check_fails_fast_on_a_closed_port() {
    for bind in LOOPBACKS {
        let addr = closed_udp_port(bind).await;
        let mut spec = udp_spec(b"ping", b"pong");
        spec.timeout = Duration::from_secs(5);
        let started = Instant::now();
        let result = probe(addr, &spec, None).await;
        let elapsed = started.elapsed();
        // The ICMP port unreachable comes back as ECONNREFUSED on the connected socket.
        assert!(
            matches!(&result, Err(CheckError::Udp(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{bind}: {result:?}"
        );
        assert!(elapsed < Duration::from_secs(1), "{bind}: {elapsed:?}");
    }
}

/// A minimal DNS query: id 0x1234, recursion desired, one question `health.example. A IN`.
const DNS_QUERY_HEX: &str = "12 34 01 00 00 01 00 00 00 00 00 00 \
     06 68 65 61 6c 74 68 07 65 78 61 6d 70 6c 65 00 00 01 00 01";

/// The health check of a pool written with `udp_send_hex` / `udp_expect_hex`, as the config
/// reads it.
fn dns_spec(expect_hex: &str) -> HealthCheck {
    let toml = format!(
        "[pool.dns]\nbackends = [{{ address = \"127.0.0.1:53\" }}]\n\
         [pool.dns.health]\nudp_send_hex = \"{DNS_QUERY_HEX}\"\nudp_expect_hex = \"{expect_hex}\"\n\
         timeout = \"300ms\"\n"
    );
    let cfg = fulcrum_config::parse_str(&toml, "test.toml", &|_| None).unwrap();
    cfg.pools[0].health.clone().unwrap()
}

/// A DNS-like responder: answers a query with the same id and question, flags 0x8180
/// (response, recursion desired and available, no error) and one `A 127.0.0.1` record.
fn dns_answer(q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    let mut r = Vec::new();
    r.extend_from_slice(&q[..2]); // id
    r.extend_from_slice(&[0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]);
    r.extend_from_slice(&q[12..]); // the question
                                   // Name (a pointer to the question's), type A, class IN, TTL 60, 4 bytes: 127.0.0.1.
    r.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c]);
    r.extend_from_slice(&[0x00, 0x04, 127, 0, 0, 1]);
    Some(r)
}

#[tokio::test]
async fn udp_hex_probe_round_trip_with_a_dns_like_query() {
    let spec = dns_spec("12 34 81 80");
    let Probe::Udp { send, .. } = &spec.probe else {
        panic!("not a UDP probe: {spec:?}")
    };
    assert_eq!(send.len(), 32);
    assert_eq!(&send[12..19], b"\x06health");
    for bind in LOOPBACKS {
        let (addr, mut got) = udp_responder(bind, dns_answer).await;
        probe(addr, &spec, None).await.unwrap();
        assert_eq!(
            &got.recv().await.unwrap(),
            send,
            "{bind}: the query went out as written"
        );
        // An answer to another id (or a query echoed back) is not the expected reply.
        let (addr, _got) = udp_responder(bind, |q| {
            let mut r = dns_answer(q)?;
            r[1] ^= 0xff;
            Some(r)
        })
        .await;
        assert!(matches!(
            probe(addr, &spec, None).await,
            Err(CheckError::Reply(_))
        ));
        let (addr, _got) = udp_responder(bind, |q| Some(q.to_vec())).await;
        assert!(
            !check_once(addr, &spec, None).await,
            "{bind}: an echo passed"
        );
    }
}

#[tokio::test]
async fn udp_check_sends_its_payload_bare_without_the_proxy_preface() {
    for bind in LOOPBACKS {
        let (addr, mut got) = udp_responder(bind, |_| Some(b"ok".to_vec())).await;
        let preface = b"PROXY UNKNOWN\r\n";
        probe_with(addr, &udp_spec(b"ping", b"ok"), None, preface)
            .await
            .unwrap();
        assert_eq!(got.recv().await.unwrap(), b"ping", "{bind}");
    }
}

#[tokio::test]
async fn port_override_checks_that_port_of_the_backend_address() {
    for bind in LOOPBACKS {
        // The backend's own port is closed (for TCP and for UDP); the check port listens.
        let backend = closed_udp_port(bind).await;
        let tcp = TcpListener::bind(bind).await.unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        let mut tcp_spec = spec(None);
        assert!(!check_once(backend, &tcp_spec, None).await, "{bind}");
        tcp_spec.port = Some(tcp_port);
        probe(backend, &tcp_spec, None).await.unwrap();

        // HTTP: the GET goes to the check port, and its Host is the address checked.
        let (http, mut heads) = http_backend_on(bind, "200 OK").await;
        let mut http_spec = spec(Some("/healthz"));
        http_spec.port = Some(http.port());
        probe(backend, &http_spec, None).await.unwrap();
        let head = heads.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.contains(&format!("host: {http}\r\n")), "{head}");

        // UDP: the probe goes to the check port.
        let (udp, mut got) = udp_responder(bind, |_| Some(b"up".to_vec())).await;
        let mut udp_spec = udp_spec(b"hi", b"up");
        assert!(!check_once(backend, &udp_spec, None).await, "{bind}");
        udp_spec.port = Some(udp.port());
        probe(backend, &udp_spec, None).await.unwrap();
        assert_eq!(got.recv().await.unwrap(), b"hi");
    }
}

#[tokio::test]
async fn run_checks_over_udp_follows_the_responder() {
    let (addr, _got) = udp_responder("[::1]:0", |_| Some(b"pong".to_vec())).await;
    let (mut results, stop, task) = start_loop(addr, udp_spec(b"ping", b"pong"));
    assert!(results.recv().await.unwrap().0);
    assert!(results.recv().await.unwrap().0);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("loop stops")
        .unwrap();
    let closed = closed_udp_port("[::1]:0").await;
    let (mut results, _stop, _task) = start_loop(closed, udp_spec(b"ping", b"pong"));
    assert!(!results.recv().await.unwrap().0);
}
