//! Items 5 and 12: SIGTERM to a `fulcrum run` child. `/ready` answers 503 through the drain
//! delay while the data port still serves, then the listeners stop accepting, then in-flight
//! work (requests, a head half received, tunnels, relays) finishes within the grace period and
//! the process exits 0.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use fulcrum_testkit::{read_until_close, wait_until, Backend};

use super::{addresses, closed_within, echo, echo_server, open_relay, open_tunnel, spawn, try_get};
use crate::support::TempDir;

fn admin_table() -> &'static str {
    "[admin]\nbind = \"127.0.0.1:0\"\naudit_log = \"off\"\n"
}

/// Poll until connecting to `addr` is refused.
fn refused_within(addr: SocketAddr, timeout: Duration) -> bool {
    wait_until(timeout, || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
    })
}

/// Issue 7 item 12: on SIGTERM `/ready` answers 503 at once (it used to refuse connections)
/// and `/healthz` 200, while the data port still accepts and serves new clients for the drain
/// delay; then new connections are refused, the request in flight completes, and the process
/// exits 0.
#[test]
fn sigterm_drain_delay_answers_ready_503_while_listeners_still_serve() {
    let be = Backend::start("be");
    let dir = TempDir::new("drain-delay");
    let cfg = super::idle::config(
        &be,
        echo_server(),
        "60s",
        "drain_delay = \"3s\"\nshutdown_grace = \"20s\"",
    ) + admin_table();
    let mut p = spawn(&dir.write("fulcrum.toml", &cfg), None);
    let at = addresses(&p, &["web", "admin"]);
    let (web, admin) = (at["web"], at["admin"]);
    assert_eq!(try_get(admin, "/ready").unwrap().0, 200);

    // In flight across the whole drain delay and past it.
    let slow = std::thread::spawn(move || try_get(web, "/sleep/5000"));
    assert!(wait_until(Duration::from_secs(5), || be.request_count() >= 1));

    p.signal("TERM");
    let ready = |want: u16| try_get(admin, "/ready").is_ok_and(|(code, _)| code == want);
    assert!(
        wait_until(Duration::from_secs(2), || ready(503)),
        "/ready did not answer 503 after SIGTERM: {:?}",
        try_get(admin, "/ready")
    );
    assert_eq!(try_get(admin, "/healthz").unwrap().0, 200);
    // Listeners still accept and serve during the delay.
    let (code, text) = try_get(web, "/").unwrap();
    assert_eq!(code, 200, "{text}");

    // Then they stop accepting, while the slow request is still in flight.
    assert!(
        refused_within(web, Duration::from_secs(10)),
        "still accepting"
    );
    assert!(
        !slow.is_finished(),
        "the slow request ended before accepting stopped"
    );
    assert_eq!(
        try_get(admin, "/healthz").unwrap().0,
        200,
        "admin serves through the grace"
    );
    let (code, text) = slow.join().unwrap().unwrap();
    assert_eq!(code, 200, "{text}");
    let st = p.wait_exit(Duration::from_secs(15)).expect("did not exit");
    assert!(st.success(), "{st:?}");
}

/// Issue 7 item 12: a request head half received when SIGTERM stops the listener is read to
/// its end and answered (then the connection closes), on a fresh connection and on a
/// keep-alive one alike; it used to be reset.
#[test]
fn sigterm_lets_a_half_sent_head_finish_and_answers_it() {
    let be = Backend::start("be");
    let dir = TempDir::new("half-head");
    let cfg = super::idle::config(
        &be,
        echo_server(),
        "60s",
        "drain_delay = \"0s\"\nshutdown_grace = \"20s\"",
    );
    let mut p = spawn(&dir.write("fulcrum.toml", &cfg), None);
    let web = addresses(&p, &["web"])["web"];

    let mut fresh = TcpStream::connect(web).unwrap();
    fresh
        .write_all(b"GET /fresh HTTP/1.1\r\nHost: a\r\nX-Part: ")
        .unwrap();
    let mut kept = TcpStream::connect(web).unwrap();
    kept.write_all(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut first = Vec::new();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while !String::from_utf8_lossy(&first).contains("\r\n\r\nbe") {
        let mut buf = [0u8; 1024];
        let n = std::io::Read::read(&mut kept, &mut buf).unwrap();
        assert!(n > 0, "closed after the first response");
        first.extend_from_slice(&buf[..n]);
    }
    kept.write_all(b"GET /second HTTP/1.1\r\nHost: a\r\nX-Part: ")
        .unwrap();
    // Both connections are Fulcrum's before the signal (the backend saw the first request).
    assert!(wait_until(Duration::from_secs(5), || be.request_count() >= 1));

    p.signal("TERM");
    assert!(
        refused_within(web, Duration::from_secs(10)),
        "still accepting"
    );
    for (s, path) in [(&mut fresh, "/fresh"), (&mut kept, "/second")] {
        s.write_all(b"rest\r\n\r\n").unwrap();
        let r = read_until_close(s, Duration::from_secs(10));
        let text = r.text();
        assert!(text.starts_with("HTTP/1.1 200"), "{path}: {text:?}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{path}: {text}"
        );
        assert!(r.closed, "{path}: not closed after the answer");
    }
    let mut paths: Vec<String> = be.recorded().iter().map(|r| r.uri.clone()).collect();
    paths.sort();
    assert_eq!(paths, ["/first", "/fresh", "/second"]);
    let st = p.wait_exit(Duration::from_secs(15)).expect("did not exit");
    assert!(st.success(), "{st:?}");
}

/// Issue 7 item 5: on SIGTERM a WebSocket tunnel and a passthrough relay keep working through
/// the grace period, are cut at its end, and the process then exits 0 (a relay used to hold
/// the process for 31 s whatever the grace).
#[test]
fn sigterm_cuts_tunnels_and_relays_at_the_grace_deadline_and_exits_0() {
    let be = Backend::start("ws");
    let dir = TempDir::new("grace-tunnels");
    let cfg = super::idle::config(
        &be,
        echo_server(),
        "60s",
        "drain_delay = \"0s\"\nshutdown_grace = \"2s\"",
    );
    let mut p = spawn(&dir.write("fulcrum.toml", &cfg), None);
    let at = addresses(&p, &["web", "pt"]);
    let mut tunnel = open_tunnel(at["web"]);
    let mut relay = open_relay(at["pt"]);
    echo(&mut tunnel, b"before");
    echo(&mut relay, b"before");

    p.signal("TERM");
    assert!(
        refused_within(at["web"], Duration::from_secs(10)),
        "still accepting"
    );
    // Stopped accepting, yet both still carry bytes: they are not cut at once.
    echo(&mut tunnel, b"during");
    echo(&mut relay, b"during");
    // Both end (the grace is 2 s), and the process exits 0 soon after.
    assert!(
        closed_within(&mut tunnel, Duration::from_secs(10)),
        "tunnel never cut"
    );
    assert!(
        closed_within(&mut relay, Duration::from_secs(10)),
        "relay never cut"
    );
    let st = p.wait_exit(Duration::from_secs(10)).expect("did not exit");
    assert!(st.success(), "{st:?}");
}

/// A shutdown that comes before the control thread's tasks started still stops them (the
/// end-of-shutdown signal must be stored even while nobody listens yet).
#[test]
fn a_shutdown_right_after_start_always_returns() {
    let be = Backend::start("be");
    let cfg = crate::support::simple(&[&be], "") + admin_table();
    let cfg = fulcrum_config::parse_str(&cfg, "t.toml", &|_| None).unwrap();
    for i in 0..30 {
        let cfg = cfg.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            fulcrum::running::Running::start(&cfg).unwrap().shutdown();
            let _ = tx.send(());
        });
        assert!(
            rx.recv_timeout(Duration::from_secs(60)).is_ok(),
            "shutdown {i} never returned"
        );
    }
}
