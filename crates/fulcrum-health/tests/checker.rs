//! The check shell against real loopback sockets: TCP and HTTP backends, healthy and not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fulcrum_config::model::HealthCheck;
use fulcrum_health::{check_once, probe, run_checks, CheckError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

const TIMEOUT: Duration = Duration::from_millis(300);

fn spec(path: Option<&str>) -> HealthCheck {
    HealthCheck {
        path: path.map(str::to_owned),
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
    let (listener, addr) = listener().await;
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
