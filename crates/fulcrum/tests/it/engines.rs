//! Issue 8 item 7: the two engines (the HTTP/1.1 fast path and hyper) take the same decision
//! on the same bytes, and an accepted request reaches the backend the same way: method,
//! target, fields (each name's values in order) and body.
//!
//! One Fulcrum serves two listeners, `fast` (`engine = "auto"`) and `hyper`, each in front
//! of its own recording backend. Every case is sent to both; what the client got back (the
//! status of each response, and whether the connection closed) and what the backend saw must
//! match. The shared smuggling corpus gets the same comparison in `corpus.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use fulcrum_testkit::{raw_exchange, wait_until, Backend, Recorded};

use crate::support::Lb;

/// Fields that differ between the two listeners by design (the port each was reached on),
/// or are made fresh per request (a request id the client did not send).
const DIFFERENT_BY_DESIGN: [&str; 2] = ["x-forwarded-port", "x-request-id"];

pub struct Pair {
    /// Keeps both listeners running.
    pub _lb: Lb,
    pub fast: (SocketAddr, Backend),
    pub hyper: (SocketAddr, Backend),
}

impl Pair {
    pub fn start(listener_extra: &str) -> Pair {
        let (a, b) = (Backend::start("a"), Backend::start("b"));
        let listener = |name: &str, engine: &str, pool: &str| {
            format!(
                "[[listener]]\nname = \"{name}\"\nbind = \"127.0.0.1:0\"\nengine = \"{engine}\"\n\
                 {listener_extra}\n[[listener.route]]\npool = \"{pool}\"\n"
            )
        };
        let lb = Lb::start(&format!(
            "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n{}{}\
             [pool.a]\nbackends = [{{ address = \"{}\" }}]\n\
             [pool.b]\nbackends = [{{ address = \"{}\" }}]\n",
            listener("fast", "auto", "a"),
            listener("hyper", "hyper", "b"),
            a.addr,
            b.addr
        ));
        Pair {
            fast: (lb.listener("fast"), a),
            hyper: (lb.listener("hyper"), b),
            _lb: lb,
        }
    }
}

/// What one engine did with one case.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub statuses: Vec<u16>,
    pub closed: bool,
    pub backend: Vec<Request>,
}

/// A backend request, comparable across engines.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub uri: String,
    /// Lowercase name → its values in order.
    pub fields: BTreeMap<String, Vec<String>>,
    pub body_len: u64,
    pub body_hash: u64,
}

/// `sent_id`: the `X-Request-Id` the client sent, if any. The backend's is shown as kept
/// (the client's) or made (a new one), so that both engines must keep or make alike.
/// A `Host` naming the backend's own address (the request had none) is shown as such.
pub fn comparable(r: &Recorded, sent_id: Option<&str>, backend: SocketAddr) -> Request {
    let backend = backend.to_string();
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &r.headers {
        let name = name.as_str().to_ascii_lowercase();
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let value = match name.as_str() {
            "x-request-id" if sent_id == Some(value.as_str()) => format!("kept {value}"),
            "x-request-id" => "made".to_owned(),
            "host" if value == backend => "the backend's address".to_owned(),
            // The fast path forwards the length it framed by (`010` goes on as `10`; hyper
            // passes the client's spelling on): compared as numbers.
            "content-length" => value.parse::<u64>().map_or(value, |n| n.to_string()),
            n if DIFFERENT_BY_DESIGN.contains(&n) => continue,
            _ => value,
        };
        fields.entry(name).or_default().push(value);
    }
    Request {
        method: r.method.to_string(),
        uri: r.uri.clone(),
        fields,
        body_len: r.body_len,
        body_hash: r.body_hash,
    }
}

/// The status of every response in `bytes`.
pub fn statuses(bytes: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// Send `raw` to one engine and see what happened, waiting for the backend to settle.
pub fn see(addr: SocketAddr, be: &Backend, raw: &[u8], timeout: Duration) -> Seen {
    let before = be.request_count();
    let reply = raw_exchange(addr, raw, timeout);
    let statuses = statuses(&reply.bytes);
    // The backend has logged what it answered once the client has the answers.
    let answered = statuses.iter().filter(|s| **s < 400 || **s >= 500).count();
    // (Not finding them all in time is seen in the comparison.)
    let _ = wait_until(Duration::from_secs(2), || {
        be.request_count() >= before + answered
    });
    let text = String::from_utf8_lossy(raw);
    let sent_id = text
        .split("\r\n")
        .find_map(|l| l.strip_prefix("X-Request-Id:"))
        .map(str::trim);
    Seen {
        statuses,
        closed: reply.closed,
        backend: be.recorded()[before..]
            .iter()
            .map(|r| comparable(r, sent_id, be.addr))
            .collect(),
    }
}

/// Requests every engine must accept, each ending with `Connection: close` so the exchange
/// ends when the answer is complete.
const ACCEPTED: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    b"GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n",
    b"GET /a/../b//c/%7Ed HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"DELETE /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"OPTIONS /o HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    b"PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
      5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Multi: 1\r\nX-Other: o\r\nX-Multi: 2\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\
      X-Forwarded-Host: evil\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\
      X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nX-Forwarded-Prefix: /p\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Hop, close\r\nX-Hop: secret\r\nKeep-Alive: 5\r\n\
      TE: trailers\r\nProxy-Authorization: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: client-id-1\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: bad id with spaces\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Spaces:   padded value   \r\nX-Empty:\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
    b"\r\nGET /after-empty-line HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /status/503 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
];

/// Requests every engine must refuse (400 or 431, then close), each breaking one rule.
const REFUSED: &[&[u8]] = &[
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\t3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
    b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\rX: y\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    b"GET / HTTP/1.1\r\n: empty-name\r\nHost: a\r\n\r\n",
    b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n",
];

fn compare(pair: &Pair, raw: &[u8]) -> (Seen, Seen) {
    let t = Duration::from_secs(3);
    let fast = see(pair.fast.0, &pair.fast.1, raw, t);
    let hyper = see(pair.hyper.0, &pair.hyper.1, raw, t);
    (fast, hyper)
}

#[test]
fn both_engines_forward_accepted_requests_alike() {
    let pair = Pair::start("");
    for raw in ACCEPTED {
        let (fast, hyper) = compare(&pair, raw);
        let case = String::from_utf8_lossy(raw);
        assert!(!fast.statuses.is_empty(), "no answer: {case}");
        assert!(
            fast.statuses.iter().all(|s| *s < 400 || *s == 503),
            "refused: {fast:?}\n{case}"
        );
        assert_eq!(fast, hyper, "the engines differ on:\n{case}");
    }
}

/// Both refuse alike. One difference is by design: a bad chunk after a valid head reaches
/// hyper when its body streams, after hyper sent the head on (the backend sees a request cut
/// off); the fast path checks the body bytes it already holds before it sends anything, so
/// such a request never reaches the backend.
#[test]
fn both_engines_refuse_what_the_guard_refuses() {
    let pair = Pair::start("");
    for raw in REFUSED {
        let (fast, hyper) = compare(&pair, raw);
        let case = String::from_utf8_lossy(raw);
        assert!(
            matches!(fast.statuses.first(), Some(400 | 431)),
            "not refused: {fast:?}\n{case}"
        );
        assert!(fast.backend.is_empty(), "reached the backend: {case}");
        assert_eq!(
            (&fast.statuses, fast.closed),
            (&hyper.statuses, hyper.closed),
            "the engines differ on:\n{case}"
        );
    }
}

/// Heads over the limit are 431 on both, a request line over 8 KiB is 400 on both.
#[test]
fn both_engines_bound_the_head_alike() {
    let pair = Pair::start("[listener.limits]\nmax_header_bytes = \"16KiB\"\n");
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "x".repeat(17 * 1024)
    );
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "x".repeat(9 * 1024));
    let fits = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "x".repeat(7 * 1024)
    );
    for (raw, want) in [(big, 431), (long_line, 400), (fits, 200)] {
        let (fast, hyper) = compare(&pair, raw.as_bytes());
        assert_eq!(fast.statuses.first(), Some(&want), "{fast:?}");
        assert_eq!(fast, hyper);
    }
}
