//! Benign requests the HTTP/1 parser used to refuse (issue 10 item 5), on both engines:
//! `CONNECT` gets `501 Not Implemented` (a reverse proxy tunnels nothing) instead of a silent
//! close, an HTTP version this server does not speak gets `505 HTTP Version Not Supported`
//! (RFC 9110 §15.6.6) instead of 400, and the characters browsers send raw in a query reach
//! the backend as they came — while every framing rule stays as strict as before.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fulcrum_testkit::{raw_exchange, wait_until};

use crate::engines::{see, Pair, Seen};
use crate::support::Lb;

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

/// A backend that records each request line as its raw bytes (a hyper backend, like the
/// testkit's, refuses `"`, `<` and `>` in a query itself) and answers 200, then closes.
struct RawBackend {
    addr: std::net::SocketAddr,
    lines: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RawBackend {
    fn start() -> RawBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                if let Some(end) = head.windows(2).position(|w| w == b"\r\n") {
                    seen.lock().expect("lock").push(head[..end].to_vec());
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        RawBackend { addr, lines }
    }

    fn lines(&self) -> Vec<Vec<u8>> {
        self.lines.lock().expect("lock").clone()
    }
}

/// `GET {target}` with `Connection: close`.
fn get(target: &[u8]) -> Vec<u8> {
    let mut raw = b"GET ".to_vec();
    raw.extend_from_slice(target);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    raw
}

/// The characters browsers and tools send raw in a query — all of `<`, `>`, `"`, `{`, `}`,
/// `|`, `\`, `^`, backtick, and UTF-8 — are accepted and forwarded byte for byte by the
/// default engine (as NGINX and HAProxy forward them).
#[test]
fn raw_query_characters_are_forwarded_as_sent() {
    let be = RawBackend::start();
    let lb = Lb::start(&format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"raw\"\n\
         [pool.raw]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    ));
    let targets: [&[u8]; 4] = [
        b"/search?q=<script>&a=\"x\"",
        b"/q?json={\"a\":[1,2]}&p=a|b&w=c\\d&x=^&y=`z`",
        b"/q?gt=>&lt=<",
        b"/q?utf8=\xc3\xa9\xe2\x82\xac",
    ];
    for (i, target) in targets.iter().enumerate() {
        let reply = raw_exchange(lb.addr(), &get(target), T);
        let case = String::from_utf8_lossy(target).into_owned();
        assert_eq!(reply.status(), Some(200), "{case}: {:?}", reply.text());
        assert!(
            wait_until(T, || be.lines().len() > i),
            "{case}: not forwarded"
        );
        let mut want = b"GET ".to_vec();
        want.extend_from_slice(target);
        want.extend_from_slice(b" HTTP/1.1");
        assert_eq!(
            String::from_utf8_lossy(&be.lines()[i]),
            String::from_utf8_lossy(&want),
            "{case}"
        );
    }
}

/// The hyper engine takes the same query characters where its URI type can carry them
/// (`{`, `}`, `|`, `\`, `^`, backtick, UTF-8; `"`, `<` and `>` it refuses with 400, a limit
/// of the `http` crate), and both engines agree on them.
#[test]
fn both_engines_take_raw_query_characters_alike() {
    let pair = Pair::start("");
    for target in [
        &b"/q?json={1,2}&p=a|b&w=c\\d&x=^&y=`z`"[..],
        b"/q?utf8=\xc3\xa9\xe2\x82\xac",
    ] {
        let raw = get(target);
        let case = String::from_utf8_lossy(&raw).into_owned();
        let (fast, hyper) = both(&pair, &raw);
        assert_eq!(fast.statuses, [200], "{fast:?}\n{case}");
        assert_eq!(fast, hyper, "the engines differ on:\n{case}");
        let got = fast.backend.first().map(|r| r.uri.clone());
        assert_eq!(
            got.as_deref(),
            Some(String::from_utf8_lossy(target).as_ref()),
            "{case}"
        );
    }
}

/// What stays refused in a target: control bytes, DEL, NUL, a tab, a space inside it (a
/// malformed request line), obs-text in the path, and obs-text that is not UTF-8.
#[test]
fn control_bytes_in_a_query_stay_refused() {
    let pair = Pair::start("");
    for target in [
        &b"/q?a=\x7f"[..],
        b"/q?a=\x00",
        b"/q?a=\x01",
        b"/q?a=\tb",
        b"/q?a= b",
        b"/\xc3\xa9?q=1",
        b"/q?a=\xff",
    ] {
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(target);
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        answered_and_closed(&pair, &raw, 400);
    }
}
