//! Timeouts and limits: header, idle, body and head sizes, connection count.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fulcrum_testkit::{get, raw_exchange, read_until_close, Backend, Client};

use crate::support::{simple, Lb};

/// Issue 7 item 23: no wall-clock upper bounds (it asserted "served under 300 ms"): the normal
/// client is served while the slow ones are still held (an order, not a speed), and the slow
/// ones are cut, not before the header timeout.
#[test]
fn slow_header_client_is_cut_off_without_hurting_others() {
    let be = Backend::start("be");
    let header = Duration::from_secs(1);
    let lb = Lb::start(&simple(&[&be], "timeouts = { header = \"1s\" }"));
    let start = Instant::now();
    // Slowloris: half a head, then nothing.
    let mut slow = TcpStream::connect(lb.addr()).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    // Silent: connects, sends nothing.
    let mut silent = TcpStream::connect(lb.addr()).unwrap();
    // Meanwhile a normal client is served, while both are still open.
    assert_eq!(get(lb.addr(), "/").status, 200);
    for s in [&slow, &silent] {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        let r = (&*s).read(&mut buf);
        assert!(
            matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a held connection was answered or closed before the normal client was served: {r:?}"
        );
        s.set_nonblocking(false).unwrap();
    }
    let r = read_until_close(&mut slow, Duration::from_secs(10));
    assert!(r.closed, "slow client not cut off");
    assert!(
        start.elapsed() >= header,
        "cut before the header timeout: {:?}",
        start.elapsed()
    );
    assert!(
        read_until_close(&mut silent, Duration::from_secs(10)).closed,
        "silent client kept"
    );
    assert_eq!(be.request_count(), 1);
}

#[test]
fn keep_alive_idle_connections_are_closed() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(
        &[&be],
        "timeouts = { idle = \"500ms\", header = \"5s\" }",
    ));
    let mut s = TcpStream::connect(lb.addr()).unwrap();
    // Active use, a request every 200 ms, keeps it open past the idle time.
    for _ in 0..4 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let idle_from = Instant::now();
    let r = read_until_close(&mut s, Duration::from_secs(10));
    assert!(r.closed, "idle connection never closed");
    // Not before the idle time (counted from the last response, 200 ms before `idle_from`).
    let waited = idle_from.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
}

#[test]
fn oversized_head_is_431() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], "limits = { max_header_bytes = \"8KiB\" }"));
    let big = "x".repeat(10 * 1024);
    let req = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n");
    let r = raw_exchange(lb.addr(), req.as_bytes(), Duration::from_secs(5));
    assert_eq!(r.status(), Some(431), "{}", r.text());
    assert!(r.closed);
    // Just under the limit passes.
    let ok = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "x".repeat(6 * 1024)
    );
    let mut cl = TcpStream::connect(lb.addr()).unwrap();
    cl.write_all(ok.as_bytes()).unwrap();
    let mut buf = [0u8; 64];
    let n = cl.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert_eq!(be.request_count(), 1);
}

#[test]
fn body_over_the_limit_is_413_with_content_length_and_chunked() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], "limits = { max_body_bytes = 1000 }"));
    // Announced too large: refused before anything is forwarded.
    let body = "y".repeat(1001);
    let req = format!("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n{body}");
    let r = raw_exchange(lb.addr(), req.as_bytes(), Duration::from_secs(5));
    assert_eq!(r.status(), Some(413), "{}", r.text());
    assert_eq!(be.request_count(), 0);
    // Chunked, growing past the limit: cut off, 413.
    let mut req =
        b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        req.extend_from_slice(b"1f4\r\n");
        req.extend_from_slice(&[b'z'; 500]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = raw_exchange(lb.addr(), &req, Duration::from_secs(5));
    assert_eq!(r.status(), Some(413), "{}", r.text());
    assert!(r.closed);
    // At the limit: fine.
    let req = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{}",
        "y".repeat(1000)
    );
    let r = raw_exchange(lb.addr(), req.as_bytes(), Duration::from_secs(5));
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert!(r.text().ends_with("1000"), "{}", r.text());
}

#[test]
fn max_connections_holds_extra_clients_until_a_slot_frees() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], "limits = { max_connections = 2 }"));
    let mut c1 = Client::http1(lb.addr());
    let mut c2 = Client::http1(lb.addr());
    assert_eq!(c1.get("a", "/", &[]).unwrap().status, 200);
    assert_eq!(c2.get("a", "/", &[]).unwrap().status, 200);
    let addr = lb.addr();
    let third = std::thread::spawn(move || {
        let r = get(addr, "/");
        (r.status, Instant::now())
    });
    // Not served for as long as we look (nothing to wait for: the point is that nothing
    // happens), then served once a slot frees.
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !third.is_finished(),
        "third connection was served while two were open"
    );
    assert_eq!(
        be.request_count(),
        2,
        "the third request reached the backend"
    );
    let released = Instant::now();
    drop(c1);
    let (status, done) = third.join().unwrap();
    assert_eq!(status, 200);
    assert!(done >= released);
    drop(c2);
}
