//! `h1_chunked`: the chunk decoder (the guard's chunked grammar, `Scanner::chunked_body`, as
//! a backend's response body is read) and the relay that frames the data again for the
//! client (`relay::RespBody`), over arbitrary bytes.
//!
//! Input: the first byte picks how the rest is cut into reads ([`Splits`]); the rest is the
//! body. Invariants:
//! - the data decoded and where the body ends (or the violation, at which offset) are the
//!   same read whole and read in pieces; `Scanner::body` always makes progress;
//! - the relay, fed the same pieces, yields the same data, ends at the same byte and refuses
//!   with the same violation;
//! - what the relay wrote for the client decodes to the same data, and is a complete
//!   chunked body exactly when the backend's was (re-encoding round-trips);
//! - a request body read by the judging scanner (the guard in front of hyper) is judged alike:
//!   the same violation at the same offset, or fine up to the same end.
#![no_main]

use fulcrum_fuzz::Splits;
use fulcrum_http::guard::scan::{Scan, Scanner, Violation};
use fulcrum_http::h1::relay::RespBody;
use fulcrum_http::h1::response::Framing;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    NeedMore,
    /// The body's last byte is before this offset.
    Done(usize),
    Violation(usize, Violation),
}

/// Decode `data` with a chunked-body scanner, reading it in pieces.
fn decode(data: &[u8], mut next: impl FnMut() -> usize) -> (Vec<u8>, End) {
    let mut s = Scanner::chunked_body();
    let (mut pos, mut avail) = (0, 0);
    let mut got = Vec::new();
    loop {
        let slice = &data[pos..avail];
        match s.body(slice) {
            Ok(step) => {
                assert!(step.used <= slice.len(), "{step:?} of {}", slice.len());
                if let Some((a, b)) = step.data {
                    assert!(
                        a <= b && b <= step.used,
                        "data {a}..{b}, used {}",
                        step.used
                    );
                    got.extend_from_slice(&slice[a..b]);
                }
                pos += step.used;
                if step.done {
                    return (got, End::Done(pos));
                }
                if step.used == 0 {
                    assert!(slice.is_empty(), "no progress on {} bytes", slice.len());
                    if avail == data.len() {
                        return (got, End::NeedMore);
                    }
                    avail = (avail + next()).min(data.len());
                }
            }
            Err((i, v)) => {
                assert!(i < slice.len(), "violation offset {i} past {}", slice.len());
                return (got, End::Violation(pos + i, v));
            }
        }
    }
}

/// Relay `data` as the fast path relays a chunked response: what it wrote for the client,
/// the data bytes it counted, and how it ended (no offset for a violation: it reports none).
fn relay(data: &[u8], mut next: impl FnMut() -> usize) -> (Vec<u8>, u64, End) {
    let mut body = RespBody::new(Framing::Chunked);
    let (mut pos, mut avail) = (0, 0);
    let mut out = Vec::new();
    let mut bytes = 0;
    loop {
        if pos == avail {
            if avail == data.len() {
                return (out, bytes, End::NeedMore);
            }
            avail = (avail + next()).min(data.len());
        }
        let slice = &data[pos..avail];
        match body.take(slice, &mut out) {
            Ok((used, n, done)) => {
                assert!(used <= slice.len(), "used {used} of {}", slice.len());
                assert!(n <= used as u64, "{n} data bytes in {used}");
                bytes += n;
                pos += used;
                if done {
                    return (out, bytes, End::Done(pos));
                }
                assert!(used > 0, "no progress on {} bytes", slice.len());
            }
            Err(v) => return (out, bytes, End::Violation(0, v)),
        }
    }
}

const REQUEST: &[u8] = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else {
        return;
    };
    let (got, end) = decode(data, || data.len());
    let mut plan = Splits::new(seed);
    let (split_got, split_end) = decode(data, || plan.next_len());
    assert_eq!(
        (&got, end),
        (&split_got, split_end),
        "read whole and read in pieces differ"
    );

    let mut plan = Splits::new(seed);
    let (out, bytes, relayed) = relay(data, || plan.next_len());
    // (A refused read reports no count: its data, already written, is not counted.)
    match relayed {
        End::Violation(..) => assert!(bytes <= got.len() as u64),
        _ => assert_eq!(bytes, got.len() as u64, "data bytes the relay counted"),
    }
    match (end, relayed) {
        (End::Violation(_, v), End::Violation(_, w)) => assert_eq!(v, w),
        (a, b) => assert_eq!(a, b, "the relay ends elsewhere"),
    }
    // What the client gets decodes to the same data, and ends where the backend's did.
    let (again, again_end) = decode(&out, || out.len());
    assert_eq!(again, got, "re-encoded data differs");
    match end {
        End::Done(_) => assert_eq!(again_end, End::Done(out.len()), "re-encoded end"),
        _ => assert_eq!(
            again_end,
            End::NeedMore,
            "re-encoded body of an unfinished one"
        ),
    }

    // The same bytes as a request body, judged by the guard.
    let judged = |body: &[u8]| {
        let mut s = Scanner::new();
        s.feed(&[REQUEST, body].concat())
    };
    match end {
        End::Violation(at, v) => assert_eq!(judged(data), Scan::Violation(REQUEST.len() + at, v)),
        End::Done(at) => assert_eq!(judged(&data[..at]), Scan::Ok),
        End::NeedMore => assert_eq!(judged(data), Scan::Ok),
    }
});
