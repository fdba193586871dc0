//! `h1_response`: the backend response parser of the fast path (`response::parse`, httparse
//! underneath, the framing decided once, the client's head written from it) over arbitrary
//! bytes and any `ClientSide`.
//!
//! Input: the first byte's low bits are the client side (1: the request was HEAD, 2: HSTS to
//! set, 4: the client connection closes); the rest is what the backend sent. Invariants:
//! - nothing is written for the client unless a head is returned; a 1xx (never 101) is
//!   returned alone, bodiless, nothing written;
//! - the client's head parses (httparse) as an HTTP/1.1 response with the same status;
//! - it carries exactly one framing field, the one `framing` says (`content-length: n` for
//!   `Length(n)`, `transfer-encoding: chunked` for `Chunked` and `Close`); a bodiless
//!   response carries only the backend's own `Content-Length` (HEAD, 304), none on a 204
//!   (RFC 9110 §8.6) or when the backend framed it with Transfer-Encoding;
//! - no hop-by-hop field and no field the backend's `Connection` names reaches the client,
//!   only our own `connection: close` when the client side closes; our HSTS replaces the
//!   backend's;
//! - a body read until close is never reusable; the body after the head relays without
//!   panicking and within bounds.
#![no_main]

use fulcrum_fuzz::{count, fields, lists, values, HOP_BY_HOP};
use fulcrum_http::h1::relay::RespBody;
use fulcrum_http::h1::response::{self, ClientSide, Framing};
use libfuzzer_sys::fuzz_target;

const HSTS: &[u8] = b"max-age=31536000";

/// Fields the client's head gets from us, whatever the backend's `Connection` says.
const OURS: &[&str] = &[
    "connection",
    "content-length",
    "date",
    "strict-transport-security",
    "transfer-encoding",
];

fuzz_target!(|input: &[u8]| {
    let Some((&flags, buf)) = input.split_first() else {
        return;
    };
    let side = ClientSide {
        head_request: flags & 1 != 0,
        hsts: (flags & 2 != 0).then_some(HSTS),
        close: flags & 4 != 0,
    };
    let mut out = Vec::new();
    let p = match response::parse(buf, &side, &mut out) {
        Ok(Some(p)) => p,
        Ok(None) | Err(_) => {
            assert!(out.is_empty(), "written without a head: {out:?}");
            return;
        }
    };
    let show = || String::from_utf8_lossy(&out).into_owned();

    // The backend's head, as httparse reads it.
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut backend = httparse::Response::new(&mut headers);
    match backend.parse(buf) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, p.head_len, "head length"),
        other => panic!("parsed, but httparse says {other:?}"),
    }
    assert_eq!(backend.code, Some(p.status));
    let theirs = fields(backend.headers);

    if (100..200).contains(&p.status) {
        assert!(p.status != 101, "101 returned as a head");
        assert!(
            out.is_empty(),
            "an interim response was written: {}",
            show()
        );
        assert_eq!(p.framing, Framing::Empty);
        return;
    }

    let mut headers = vec![httparse::EMPTY_HEADER; theirs.len() + 8];
    let mut client = httparse::Response::new(&mut headers);
    match client.parse(&out) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, out.len(), "{}", show()),
        other => panic!("the client's head does not parse ({other:?}): {}", show()),
    }
    assert_eq!(client.version, Some(1), "{}", show());
    assert_eq!(client.code, Some(p.status), "{}", show());
    let ours = fields(client.headers);

    // Framing: ours, exactly once.
    let te = values(&ours, "transfer-encoding");
    let cl = values(&ours, "content-length");
    match p.framing {
        Framing::Length(n) => {
            assert_eq!(cl, [n.to_string().as_bytes()], "{}", show());
            assert!(te.is_empty(), "{}", show());
        }
        Framing::Chunked | Framing::Close => {
            assert_eq!(te, [b"chunked"], "{}", show());
            assert!(cl.is_empty(), "{}", show());
        }
        Framing::Empty => {
            assert!(te.is_empty(), "{}", show());
            let backend_cl = values(&theirs, "content-length");
            assert!(cl.iter().all(|v| backend_cl.contains(v)), "{}", show());
            if p.status == 204 || count(&theirs, "transfer-encoding") > 0 {
                assert!(
                    cl.is_empty(),
                    "content-length on a {}: {}",
                    p.status,
                    show()
                );
            }
        }
    }
    if p.framing == Framing::Close {
        assert!(!p.reusable, "a body read until close, reusable");
    }
    if backend.version == Some(0) {
        assert!(!p.reusable, "an HTTP/1.0 backend connection, reusable");
    }

    // No hop-by-hop field, nothing the backend's Connection names.
    for name in HOP_BY_HOP {
        let expect = match *name {
            "connection" if side.close => vec![&b"close"[..]],
            "transfer-encoding" => te.clone(),
            _ => vec![],
        };
        assert_eq!(values(&ours, name), expect, "{name}: {}", show());
    }
    for connection in values(&theirs, "connection") {
        for (name, _) in &theirs {
            if lists(connection, name.as_bytes()) && !OURS.contains(&&*name.to_ascii_lowercase()) {
                assert_eq!(
                    count(&ours, name),
                    0,
                    "{name} named in Connection: {}",
                    show()
                );
            }
        }
    }
    if side.hsts.is_some() {
        assert_eq!(
            values(&ours, "strict-transport-security"),
            [HSTS],
            "{}",
            show()
        );
    }

    // The body that follows, relayed in one read.
    let rest = &buf[p.head_len..];
    let mut body = RespBody::new(p.framing);
    let mut relayed = Vec::new();
    if let Ok((used, n, _)) = body.take(rest, &mut relayed) {
        assert!(used <= rest.len() && n <= used as u64);
        if let Framing::Length(len) = p.framing {
            assert_eq!(n, len.min(rest.len() as u64));
            assert_eq!(relayed, rest[..n as usize]);
        }
    }
});
