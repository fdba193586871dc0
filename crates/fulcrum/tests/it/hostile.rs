//! Hostile HTTP/1 framing over raw sockets: every ambiguity that request smuggling feeds on is
//! answered `400 Bad Request` with the connection closed, and nothing after the bad byte ever
//! reaches a backend. Each case names the RFC 9112 / RFC 9110 rule the framing guard enforces
//! (see `fulcrum-http/src/guard/scan.rs`).
//!
//! Every hostile payload ends with a well-formed pipelined `GET /smuggled` so that "nothing
//! reached the backend as a second request" is something the backend could have seen.

use std::time::Duration;

use fulcrum_testkit::{raw_exchange, wait_until, Backend, RawReply};

use crate::support::{simple, Lb};

const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request that slipped through would take to show up at the backend. Refusals
/// are answered before anything is forwarded, so this only bounds how long we look.
const SETTLE: Duration = Duration::from_millis(200);
/// A valid request pipelined after each hostile one: it must never reach the backend.
const SECOND: &str = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

fn start() -> (Backend, Lb) {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    (be, lb)
}

/// `payload` followed by [`SECOND`].
fn with_second(payload: &str) -> Vec<u8> {
    let mut v = payload.as_bytes().to_vec();
    v.extend_from_slice(SECOND.as_bytes());
    v
}

/// Send `req` on a fresh connection; exactly one response, a 400, then the server closes.
fn refused(lb: &Lb, req: &[u8]) -> RawReply {
    let r = raw_exchange(lb.addr(), req, TIMEOUT);
    assert_eq!(r.status(), Some(400), "reply: {:?}", r.text());
    assert!(r.closed, "connection left open after: {:?}", r.text());
    assert_eq!(r.responses(), 1, "reply: {:?}", r.text());
    r
}

/// The head itself breaks a rule: refused before anything is forwarded, so the backend must
/// have received no request at all (neither the bad one nor the pipelined [`SECOND`]).
fn head_refused(payload: &str) {
    let (be, lb) = start();
    refused(&lb, &with_second(payload));
    std::thread::sleep(SETTLE);
    assert_eq!(be.request_count(), 0, "forwarded: {:?}", be.recorded());
}

/// The head is valid and `POST /upload` is forwarded as soon as it is read; the chunked body
/// then breaks a rule. The client still gets a 400 (not a 502) and a close. The backend may
/// have received the first request, cut short (at most `valid_data` body bytes, fewer than
/// the body bytes sent); it must never see [`SECOND`].
fn body_refused(body: &str, valid_data: u64) {
    body_refused_with("POST", body, valid_data);
}

fn body_refused_with(method: &str, body: &str, valid_data: u64) {
    let (be, lb) = start();
    let head =
        format!("{method} /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    refused(&lb, &with_second(&format!("{head}{body}")));
    std::thread::sleep(SETTLE);
    let rec = be.recorded();
    assert!(rec.len() <= 1, "backend saw a second request: {rec:?}");
    if let Some(first) = rec.first() {
        assert_eq!(first.uri, "/upload", "{rec:?}");
        assert!(
            first.body_len <= valid_data && first.body_len < body.len() as u64,
            "backend got {} body bytes of {} sent: {rec:?}",
            first.body_len,
            body.len()
        );
    }
}

// --- Content-Length and Transfer-Encoding together -------------------------------------------

// RFC 9112 §6.3 rule 3 (and §6.1, which permits rejecting): both CL and TE is refused.
#[test]
fn content_length_then_transfer_encoding() {
    head_refused(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
         Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
}

// RFC 9112 §6.3 rule 3: same, the other order.
#[test]
fn transfer_encoding_then_content_length() {
    head_refused(
        "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\
         Content-Length: 5\r\n\r\n0\r\n\r\n",
    );
}

// RFC 9110 §8.6: differing duplicate Content-Length values are an unrecoverable error.
#[test]
fn duplicate_differing_content_length() {
    head_refused(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n\
         hello!",
    );
}

// --- Chunk sizes (RFC 9112 §7.1: chunk-size = 1*HEXDIG, 64 bits) -----------------------------
// Each body starts with one valid 5-byte chunk, so the head has been forwarded by the time the
// bad chunk line arrives.

// RFC 9112 §7.1: chunk-size is 1*HEXDIG; `zz` is not hex.
#[test]
fn chunk_size_not_hex() {
    body_refused("5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n", 5);
}

// RFC 9112 §7.1: chunk-size is 1*HEXDIG; no `0x` prefix.
#[test]
fn chunk_size_0x_prefix() {
    body_refused("5\r\nhello\r\n0x5\r\nworld\r\n0\r\n\r\n", 5);
}

// RFC 9112 §7.1: chunk-size must fit in 64 bits; 17 hex digits are refused.
#[test]
fn chunk_size_overflows_64_bits() {
    body_refused("5\r\nhello\r\n10000000000000005\r\nworld\r\n0\r\n\r\n", 5);
}

// RFC 9112 §7.1: chunk-size is 1*HEXDIG; no sign.
#[test]
fn chunk_size_negative() {
    body_refused("5\r\nhello\r\n-5\r\nworld\r\n0\r\n\r\n", 5);
}

// RFC 9112 §7.1: chunk-data is exactly chunk-size bytes followed by CRLF; more data where the
// CRLF should be is refused.
#[test]
fn chunk_data_longer_than_declared() {
    body_refused("5\r\nhello\r\n5\r\nworld, and more\r\n0\r\n\r\n", 10);
}

// --- Header field syntax -------------------------------------------------------------------

// RFC 9112 §5.2: obsolete line folding in a request is rejected with 400.
#[test]
fn obs_fold_continuation_line() {
    head_refused("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n");
}

// RFC 9112 §5.2: a folded Transfer-Encoding (the classic TE obfuscation) is refused the same.
#[test]
fn obs_fold_transfer_encoding() {
    head_refused(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n \
         chunked\r\n\r\n0\r\n\r\n",
    );
}

// RFC 9112 §2.2: a bare CR anywhere in the head is invalid.
#[test]
fn bare_cr_in_header_value() {
    head_refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\rX-B: two\r\n\r\n");
}

// RFC 9112 §2.2: a bare LF as a line ending (tolerated by some parsers) is refused here.
#[test]
fn bare_lf_inside_header_value() {
    head_refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\nTransfer-Encoding: chunked\r\n\r\n");
}

// RFC 9110 §5.5: field values carry no NUL.
#[test]
fn nul_in_header_value() {
    head_refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\0two\r\n\r\n");
}

// RFC 9112 §5.1: no whitespace between field name and colon; the server must answer 400.
#[test]
fn space_before_colon() {
    head_refused("GET / HTTP/1.1\r\nHost: a\r\nX-A : one\r\n\r\n");
}

// RFC 9112 §5.1: same for `Transfer-Encoding : chunked`, which a lenient parser would treat as
// chunked framing while another treats it as an unknown field and uses Content-Length.
#[test]
fn space_before_colon_transfer_encoding() {
    head_refused(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
         Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    );
}

// --- Request line --------------------------------------------------------------------------

// RFC 9112 §3 (RFC 9110 §9.1): the method is a token; `(`, `)` are delimiters, not tchars.
#[test]
fn invalid_method_characters() {
    head_refused("GE(T) / HTTP/1.1\r\nHost: a\r\n\r\n");
}

// RFC 9112 §3: request lines beyond 8 KiB are refused (the guard's MAX_REQUEST_LINE), even
// though the head as a whole is under `max_header_bytes` (32 KiB by default).
#[test]
fn request_line_over_8_kib() {
    let uri = format!("/{}", "a".repeat(8 * 1024 + 1));
    head_refused(&format!("GET {uri} HTTP/1.1\r\nHost: a\r\n\r\n"));
}

// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
#[test]
fn http10_with_transfer_encoding() {
    head_refused(
        "POST /upload HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n",
    );
}

// --- Smuggling shapes ----------------------------------------------------------------------

// RFC 9112 §6.2/§6.3 rule 6: with only Content-Length, the body is exactly that many bytes,
// whatever they look like. A body that contains a request is VALID: the backend sees one
// request carrying that body, and the inner "request" is never parsed as one.
#[test]
fn request_inside_content_length_body_is_only_body() {
    let (be, lb) = start();
    let inner = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let req = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nConnection: close\r\n\r\n\
         {inner}",
        inner.len()
    );
    let r = raw_exchange(lb.addr(), req.as_bytes(), TIMEOUT);
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert!(r.closed, "{}", r.text());
    assert_eq!(r.responses(), 1, "{}", r.text());
    // `/upload` answers with the body length it read.
    assert!(r.text().ends_with(&inner.len().to_string()), "{}", r.text());
    std::thread::sleep(SETTLE);
    let rec = be.recorded();
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0].uri, "/upload");
    assert_eq!(rec[0].body_len, inner.len() as u64);
    assert!(rec.iter().all(|q| !q.uri.contains("admin")), "{rec:?}");
}

// RFC 9112 §6.3 rule 3: the TE.CL shape. A front end honouring Content-Length: 4 would end
// the body after `5c\r\n` and let the chunk data (`GET /admin ...`) through as a request; we
// refuse the message outright, so the backend sees nothing at all.
#[test]
fn te_cl_smuggling_attempt() {
    let inner = "GET /admin HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\nx=";
    let body = format!("{:x}\r\n{inner}\r\n0\r\n\r\n", inner.len());
    head_refused(&format!(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n\
         {body}"
    ));
}

// RFC 9112 §9.3.2: pipelining is valid; two requests in one write get two answers, in order.
#[test]
fn valid_pipelined_pair() {
    let (be, lb) = start();
    let req = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n\
               GET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let r = raw_exchange(lb.addr(), req.as_bytes(), TIMEOUT);
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert_eq!(r.responses(), 2, "{}", r.text());
    assert_eq!(r.text().matches("HTTP/1.1 200 ").count(), 2, "{}", r.text());
    assert!(r.closed, "{}", r.text());
    assert!(wait_until(SETTLE, || be.request_count() >= 2));
    let uris: Vec<String> = be.recorded().into_iter().map(|q| q.uri).collect();
    assert_eq!(uris, ["/one", "/two"]);
}

// Regression: a GET with a chunked body used to reach the backend with an empty body (hyper's
// client frames a GET without a length as bodiless), so a malformed chunk got the backend's 200.
#[test]
fn get_with_bad_chunk_is_refused() {
    body_refused_with("GET", "5\r\nhello\r\nzz\r\n", 5);
}

// Regression, same cause: a valid chunked GET body arrives whole.
#[test]
fn get_with_chunked_body_keeps_its_body() {
    let (be, lb) = start();
    let r = raw_exchange(
        lb.addr(),
        b"GET /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert!(r.text().ends_with("\r\n\r\n5"), "{}", r.text());
    assert_eq!(be.recorded()[0].body_len, 5);
}
