//! Pools meeting backends that fail in the ways real ones do, end to end (issue 7 item 25): a
//! connect that never completes, 5xx answers that add up to an ejection within the pool's
//! `max_ejection_percent`, a drain that runs out under a streamed response, a TCP-only health
//! check that takes a backend out and back after `healthy_threshold`, and connections reset
//! before any answer, retried for idempotent methods only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fulcrum_testkit::{wait_until, Backend, Blackhole, Client, ResetBackend};

use crate::support::{backend_entry, backend_field, delete_backend, Lb};

/// `web` → pool `app` over `backends`, one worker (one round-robin sequence), admin on a free
/// port, `pool_extra` appended after `[pool.app]`. The listener's request timeout is 3 s, well
/// above every `connect_timeout` here, so a 504 from a connect is told apart from one of it.
fn config(backends: &[SocketAddr], pool_extra: &str) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [admin]\nbind = \"127.0.0.1:0\"\naudit_log = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         timeouts = {{ request = \"3s\" }}\n\
         [[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{}]\n{pool_extra}",
        list.join(", ")
    )
}

/// A connect that is never answered ends at the pool's `connect_timeout` with a 504 saying so
/// (not the listener's request timeout, which says "did not respond in time"), and is retried
/// on another backend when the pool can retry.
#[test]
fn connect_timeout_answers_504_and_a_slow_connect_is_retried() {
    let hole = Blackhole::start();
    let lb = Lb::start(&config(
        &[hole.addr],
        "connect_timeout = \"300ms\"\n[pool.app.outlier]\nconsecutive_failures = 0\n",
    ));
    let started = Instant::now();
    let r = Client::http1(lb.addr())
        .get("t", "/", &[("x-request-id", "rid-ct")])
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        r.text().contains("did not accept the connection in time"),
        "{}",
        r.text()
    );
    assert!(
        took >= Duration::from_millis(300),
        "gave up before connect_timeout: {took:?}"
    );

    let a = Backend::start("a");
    let lb = Lb::start(&config(
        &[hole.addr, a.addr],
        "connect_timeout = \"200ms\"\n[pool.app.outlier]\nconsecutive_failures = 0\n\
         [pool.app.retry]\nattempts = 1\nbudget_percent = 100\n",
    ));
    let mut cl = Client::http1(lb.addr());
    for i in 0..4 {
        let r = cl.get("t", "/", &[]).unwrap();
        assert_eq!((r.status.as_u16(), r.text()), (200, "a".into()), "GET {i}");
    }
}

/// `5xx` answers count as failures: `consecutive_failures` of them eject the backend, but never
/// more than `max_ejection_percent` of the pool (25 % of 4: one), however many fail.
#[test]
fn five_xx_answers_eject_within_max_ejection_percent() {
    let (bad1, bad2) = (
        Backend::start_failing("bad1", 500),
        Backend::start_failing("bad2", 503),
    );
    let (ok1, ok2) = (Backend::start("ok1"), Backend::start("ok2"));
    let lb = Lb::start(&config(
        &[bad1.addr, ok1.addr, bad2.addr, ok2.addr],
        "[pool.app.outlier]\nconsecutive_failures = 3\nbase_ejection_time = \"60s\"\n\
         max_ejection_percent = 25\n[pool.app.retry]\nattempts = 0\n",
    ));
    let admin = lb.admin();
    let is_ejected =
        |b: &Backend| backend_field(admin, "app", &b.addr.to_string(), "ejected") == true;
    let mut cl = Client::http1(lb.addr());
    // Round robin: each backend gets every fourth request; three each eject the first bad one.
    for _ in 0..12 {
        let r = cl.get("t", "/", &[]).unwrap();
        let name = r.header("x-backend").unwrap();
        let want = match name.as_str() {
            "bad1" => 500,
            "bad2" => 503,
            _ => 200,
        };
        assert_eq!(r.status, want, "{name}: the backend's answer is passed on");
    }
    assert!(
        is_ejected(&bad1) || is_ejected(&bad2),
        "three 5xx in a row ejected nothing: {:?} {:?}",
        backend_entry(admin, "app", &bad1.addr.to_string()),
        backend_entry(admin, "app", &bad2.addr.to_string())
    );
    let (out, still_in) = if is_ejected(&bad1) {
        (&bad1, &bad2)
    } else {
        (&bad2, &bad1)
    };
    let out_count = out.request_count();
    let in_count = still_in.request_count();
    // Many more failures of the other: the budget keeps it in rotation.
    for _ in 0..40 {
        let r = cl.get("t", "/", &[]).unwrap();
        assert_ne!(r.header("x-backend").as_deref(), Some(out.name.as_str()));
    }
    assert_eq!(
        out.request_count(),
        out_count,
        "the ejected backend got requests"
    );
    assert!(
        still_in.request_count() >= in_count + 10,
        "the budget-protected backend left rotation"
    );
    assert!(
        !is_ejected(still_in),
        "more than max_ejection_percent ejected"
    );
    for ok in [&ok1, &ok2] {
        assert!(!is_ejected(ok));
    }
}

/// A response still streaming from a removed backend when its `drain_timeout` runs out is cut:
/// the client gets less than the whole body and the connection ends (it does not hang).
#[test]
fn drain_timeout_cuts_a_streamed_response() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let lb = Lb::start(&config(&[a.addr, b.addr], "drain_timeout = \"500ms\"\n"));
    let admin = lb.admin();
    const SIZE: usize = 256 * 1024 * 1024;

    let mut s = TcpStream::connect(lb.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /bytes/{SIZE} HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let k = s.read(&mut buf).unwrap();
        assert!(k > 0, "closed before the head");
        got.extend_from_slice(&buf[..k]);
    }
    let n = got.len();
    let head = String::from_utf8_lossy(&got).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let serving = if head.contains("x-backend: a") {
        &a
    } else {
        &b
    };
    let addr = serving.addr.to_string();
    let r = delete_backend(admin, "app", &addr.to_string());
    assert_eq!(r.status, 202, "{}", r.text());
    // Within the drain the stream goes on.
    let mut total = n;
    while total < 4 * 1024 * 1024 {
        let k = s.read(&mut buf).expect("stream cut during the drain");
        assert!(k > 0, "stream ended during the drain");
        total += k;
    }
    assert_eq!(backend_field(admin, "app", &addr, "state"), "draining");
    // The drain runs out (the control plane forgets the backend), then the stream ends short.
    assert!(
        wait_until(Duration::from_secs(5), || backend_entry(
            admin, "app", &addr
        )
        .is_none()),
        "drain never ended"
    );
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(k) => total += k,
            Err(e) => break Err(e),
        }
        assert!(total < SIZE, "the whole body arrived: not cut");
    };
    if let Err(e) = &end {
        assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "stream not cut within 10 s of the drain's end ({total} bytes)"
        );
    }
    eprintln!("drain_timeout 500ms: stream cut after {total} of {SIZE} bytes ({end:?})");
}

/// A health check without `path` is a TCP connect: a stopped backend turns unhealthy and gets
/// no traffic; started again on the same port it turns healthy only after `healthy_threshold`
/// connects in a row, and then gets traffic again. The checks never send an HTTP request.
#[test]
fn tcp_health_check_takes_a_backend_out_and_back_after_healthy_threshold() {
    let a = Backend::start("a");
    let mut c = Backend::start("c");
    let c_addr = c.addr;
    let label = c_addr.to_string();
    let lb = Lb::start(&config(
        &[a.addr, c_addr],
        "[pool.app.health]\ninterval = \"300ms\"\ntimeout = \"200ms\"\n\
         healthy_threshold = 3\nunhealthy_threshold = 1\n\
         [pool.app.outlier]\nconsecutive_failures = 0\n[pool.app.retry]\nattempts = 0\n",
    ));
    let admin = lb.admin();
    let health = || backend_field(admin, "app", &label, "health");
    assert!(
        wait_until(Duration::from_secs(5), || health() == "healthy"),
        "never healthy"
    );
    assert_eq!(c.request_count(), 0, "a TCP check sent an HTTP request");
    c.stop();
    assert!(
        wait_until(Duration::from_secs(5), || health() == "unhealthy"),
        "never unhealthy"
    );
    assert!(
        wait_until(Duration::from_secs(2), || backend_field(
            admin,
            "app",
            &label,
            "effective_weight"
        ) == 0),
        "unhealthy but still weighted"
    );
    let mut cl = Client::http1(lb.addr());
    for _ in 0..6 {
        assert_eq!(cl.get("t", "/", &[]).unwrap().text(), "a");
    }

    let c2 = Backend::start_on("c2", c_addr);
    assert!(
        wait_until(Duration::from_secs(10), || health() == "healthy"),
        "never healthy again"
    );
    // Turned healthy: three checks connected by now. Their accepts may trail the verdict by a
    // moment; the next check is still ~270 ms away.
    assert!(
        wait_until(Duration::from_millis(200), || c2.connection_count() >= 3),
        "healthy after {} checks, healthy_threshold is 3",
        c2.connection_count()
    );
    assert_eq!(c2.request_count(), 0, "a TCP check sent an HTTP request");
    assert!(
        wait_until(Duration::from_secs(5), || cl
            .get("t", "/", &[])
            .unwrap()
            .text()
            == "c2"),
        "the recovered backend got no traffic"
    );
}

fn request(addr: SocketAddr, method: &str) -> fulcrum_testkit::Reply {
    let req = http::Request::builder()
        .method(method)
        .uri("/")
        .header("host", "t")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    Client::http1(addr).send(req).unwrap()
}

/// A backend that reads the request and resets the connection before any response byte: the
/// request is retried on another backend for GET, HEAD, PUT, DELETE and OPTIONS (bodiless, so
/// nothing is lost), never for POST, which gets the 502.
#[test]
fn a_reset_before_any_answer_is_retried_for_idempotent_methods_not_post() {
    let reset = ResetBackend::start();
    let a = Backend::start("a");
    let lb = Lb::start(&config(
        &[reset.addr, a.addr],
        "[pool.app.outlier]\nconsecutive_failures = 0\n\
         [pool.app.retry]\nattempts = 1\nbudget_percent = 100\n",
    ));
    for method in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST"] {
        let seen = |m: &str| reset.methods().iter().filter(|x| *x == m).count();
        let mut sent = 0;
        let mut failed = 0;
        // Round robin alternates: the reset backend is first choice within two requests.
        while seen(method) == 0 {
            assert!(sent < 6, "{method}: never reached the resetting backend");
            let r = request(lb.addr(), method);
            sent += 1;
            if method == "POST" {
                match r.status.as_u16() {
                    200 => {}
                    502 => failed += 1,
                    s => panic!("POST: {s}"),
                }
            } else {
                assert_eq!(r.status, 200, "{method} not retried");
                assert_eq!(r.header("x-backend").as_deref(), Some("a"), "{method}");
            }
        }
        let at_a = a
            .recorded()
            .iter()
            .filter(|q| q.method.as_str() == method)
            .count();
        if method == "POST" {
            assert_eq!(
                failed,
                seen("POST"),
                "a POST met the reset and was not answered 502"
            );
            assert_eq!(at_a + failed, sent, "a POST was sent twice");
        } else {
            assert_eq!(at_a, sent, "{method}: each request reached a exactly once");
        }
    }
}
