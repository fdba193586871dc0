//! Benign requests the HTTP/1 parser used to refuse (issue 10 item 5), on both engines:
//! `CONNECT` gets `501 Not Implemented` (a reverse proxy tunnels nothing) instead of being
//! forwarded as a request for `/`, an HTTP version this server does not speak gets `505 HTTP Version Not Supported`
//! (RFC 9110 §15.6.6) instead of 400 — while every framing rule stays as strict as before.

use std::time::Duration;

use crate::engines::{see, Pair, Seen};

const T: Duration = Duration::from_secs(3);
/// Pipelined after a refused request: it must never reach a backend.
const SECOND: &[u8] = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

fn both(pair: &Pair, raw: &[u8]) -> (Seen, Seen) {
    let fast = see(pair.fast.0, &pair.fast.1, raw, T);
    let hyper = see(pair.hyper.0, &pair.hyper.1, raw, T);
    (fast, hyper)
}

/// `raw` (with [`SECOND`] after it) gets exactly one answer, `status`, then a close, and
/// nothing reaches a backend — on both engines.
fn answered_and_closed(pair: &Pair, raw: &[u8], status: u16) {
    let mut req = raw.to_vec();
    req.extend_from_slice(SECOND);
    let case = String::from_utf8_lossy(raw);
    let (fast, hyper) = both(pair, &req);
    for (engine, seen) in [("fast", &fast), ("hyper", &hyper)] {
        assert_eq!(seen.statuses, [status], "{engine}: {seen:?}\n{case}");
        assert!(seen.closed, "{engine}: left open\n{case}");
        assert!(
            seen.backend.is_empty(),
            "{engine}: forwarded {seen:?}\n{case}"
        );
    }
}

#[test]
fn connect_is_answered_501_and_closed() {
    let pair = Pair::start("");
    for raw in [
        &b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"[..],
        b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nProxy-Connection: keep-alive\r\n\r\n",
    ] {
        answered_and_closed(&pair, raw, 501);
    }
    // A second request on a kept-alive connection, too.
    let mut raw = b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    raw.extend_from_slice(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    raw.extend_from_slice(SECOND);
    let (fast, hyper) = both(&pair, &raw);
    for (engine, seen) in [("fast", &fast), ("hyper", &hyper)] {
        assert_eq!(seen.statuses, [200, 501], "{engine}: {seen:?}");
        assert!(seen.closed, "{engine}: left open");
        assert_eq!(seen.backend.len(), 1, "{engine}: {seen:?}");
    }
}

#[test]
fn versions_not_spoken_are_answered_505() {
    let pair = Pair::start("");
    for raw in [
        &b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/3.0\r\nHost: a\r\n\r\n",
        b"GET /x?y=1 HTTP/9.9\r\nHost: a\r\n\r\n",
        b"GET / HTTP/0.9\r\nHost: a\r\n\r\n",
    ] {
        answered_and_closed(&pair, raw, 505);
    }
    // After a pipelined request, which is served first (hyper holds both when the guard
    // refuses the second).
    let raw = b"GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/2.0\r\nHost: a\r\n\r\n";
    let (fast, hyper) = both(&pair, raw);
    for (engine, seen) in [("fast", &fast), ("hyper", &hyper)] {
        assert_eq!(seen.statuses, [200, 505], "{engine}: {seen:?}");
        assert!(seen.closed, "{engine}: left open");
        assert_eq!(seen.backend.len(), 1, "{engine}: {seen:?}");
    }
    // Not a version at all: still a malformed request line.
    for raw in [
        &b"GET / HTTP/2\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/x.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/2.0 \r\nHost: a\r\n\r\n",
        b"GET / HTTP/2.0\nHost: a\r\n\r\n",
        b"GET / HTTPS/1.1\r\nHost: a\r\n\r\n",
    ] {
        answered_and_closed(&pair, raw, 400);
    }
}
