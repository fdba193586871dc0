//! `h1_head`: the fast path's request parser — the guard's scanner in recording mode — over
//! arbitrary bytes, as a client stream of pipelined requests.
//!
//! Input: the first byte picks how the rest is cut into reads ([`Splits`]); the rest is the
//! stream. Invariants:
//! - the events (each head, each body's data) and the final verdict (needs more, HTTP/2,
//!   violation at an offset, pause after an upgrade request) are the same read whole and
//!   read in pieces;
//! - the judging scanner (`Scanner::new`, the guard in front of hyper) gives the same verdict
//!   at the same offset, whole and in pieces;
//! - every head's spans are in bounds and tile it exactly (request line, one span pair per
//!   field line, the final CRLF), and the framing recorded is what the fields say;
//! - httparse (hyper's parser) reads every accepted head alike: same length, method, target,
//!   version, fields;
//! - `Scanner::body` always makes progress, its data runs are in bounds, and a length body
//!   yields exactly that many bytes;
//! - the backend head the fast path writes from a head it serves (`request::write_head`)
//!   parses, keeps the client's end-to-end fields in order, and carries exactly one `Host`
//!   and our framing, no hop-by-hop field.
#![no_main]

use fulcrum_fuzz::{count, is_tchar, lists, trim_ows, values, Splits, HOP_BY_HOP};
use fulcrum_http::guard::scan::{
    FieldKind, FieldSpan, HeadSpans, Mode, Scan, Scanner, Span, Violation,
};
use fulcrum_http::h1::request::{self, BodyOut, Outgoing, View};
use libfuzzer_sys::fuzz_target;

/// The public facts of a recorded head.
#[derive(Debug, Clone, PartialEq)]
struct Head {
    start: usize,
    end: usize,
    method: Span,
    target: Span,
    http10: bool,
    fields: Vec<FieldSpan>,
    content_length: Option<u64>,
    chunked: bool,
    upgrade: bool,
}

impl From<&HeadSpans> for Head {
    fn from(h: &HeadSpans) -> Self {
        Head {
            start: h.start as usize,
            end: h.end as usize,
            method: h.method,
            target: h.target,
            http10: h.http10,
            fields: h.fields.clone(),
            content_length: h.content_length,
            chunked: h.chunked,
            upgrade: h.upgrade,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Event {
    /// A head, and where its message began (after the previous message).
    Head { from: usize, head: Head },
    /// The data of the body that just ended.
    Body(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    NeedMore,
    Http2,
    Violation(usize, Violation),
    Pause(usize),
}

/// What [`record`] saw: the events, the verdict, and each head's spans as the scanner left
/// them (for `write_head`).
type Recorded = (Vec<Event>, End, Vec<HeadSpans>);

/// Read `data` as the fast path does: `feed` until a head, `body` until its end, again.
/// Offsets are indexes into `data` (the scanner is never rebased).
fn record(data: &[u8], mut next: impl FnMut() -> usize) -> Recorded {
    let mut s = Scanner::recording();
    let mut spans = Vec::new();
    let (mut pos, mut avail) = (0, 0);
    let mut events = Vec::new();
    let mut from = 0;
    let mut body: Option<Vec<u8>> = None;
    loop {
        let slice = &data[pos..avail];
        let more = match body.as_mut() {
            None if slice.is_empty() => true,
            None => match s.feed(slice) {
                Scan::Head(n) => {
                    assert!(n <= slice.len(), "Head({n}) past {} bytes", slice.len());
                    pos += n;
                    let h = s.head().expect("a recording scanner has a head");
                    events.push(Event::Head {
                        from,
                        head: Head::from(h),
                    });
                    spans.push(h.clone());
                    body = Some(Vec::new());
                    false
                }
                Scan::Ok if s.mode() == Mode::Http2 => return (events, End::Http2, spans),
                Scan::Ok => {
                    pos = avail;
                    true
                }
                Scan::Violation(i, v) => {
                    assert!(i < slice.len(), "violation offset {i} past {}", slice.len());
                    return (events, End::Violation(pos + i, v), spans);
                }
                Scan::Pause(i) => {
                    assert!(i <= slice.len());
                    return (events, End::Pause(pos + i), spans);
                }
            },
            Some(got) => match s.body(slice) {
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
                        events.push(Event::Body(std::mem::take(got)));
                        body = None;
                        from = pos;
                        false
                    } else {
                        assert!(
                            step.used > 0 || slice.is_empty(),
                            "body() made no progress on {} bytes",
                            slice.len()
                        );
                        step.used == 0
                    }
                }
                Err((i, v)) => {
                    assert!(
                        i < slice.len(),
                        "body violation offset {i} past {}",
                        slice.len()
                    );
                    return (events, End::Violation(pos + i, v), spans);
                }
            },
        };
        if more {
            if avail == data.len() {
                return (events, End::NeedMore, spans);
            }
            avail = (avail + next()).min(data.len());
        }
    }
}

/// The judging scanner's verdict on `data` read in pieces.
fn judge(data: &[u8], mut next: impl FnMut() -> usize) -> End {
    let mut s = Scanner::new();
    let mut pos = 0;
    while pos < data.len() {
        let n = next().min(data.len() - pos);
        match s.feed(&data[pos..pos + n]) {
            Scan::Ok if s.mode() == Mode::Http2 => return End::Http2,
            Scan::Ok => {}
            Scan::Violation(i, v) => return End::Violation(pos + i, v),
            Scan::Pause(i) => return End::Pause(pos + i),
            Scan::Head(_) => panic!("a judging scanner reported a head"),
        }
        pos += n;
    }
    match s.mode() {
        Mode::Http2 => End::Http2,
        _ => End::NeedMore,
    }
}

fn is_value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// The spans tile the head exactly and the framing is what the fields say.
fn check_spans(data: &[u8], from: usize, h: &Head) {
    let end = h.end;
    assert!(
        from <= h.start && h.start < end && end <= data.len(),
        "{h:?}"
    );
    let byte = |i: usize| -> u8 {
        assert!(i < end, "span offset {i} past the head's end {end}: {h:?}");
        data[i]
    };
    let range = |s: usize, e: usize| -> &[u8] {
        assert!(
            s <= e && e <= end,
            "range {s}..{e} outside the head (end {end}): {h:?}"
        );
        &data[s..e]
    };
    // Only empty lines before the request line.
    assert!(
        range(from, h.start).chunks(2).all(|c| c == b"\r\n"),
        "{:?} before the request line",
        range(from, h.start)
    );
    let (m, t) = (h.method, h.target);
    let (ms, me, ts, te) = (
        m.start as usize,
        m.end as usize,
        t.start as usize,
        t.end as usize,
    );
    assert_eq!(ms, h.start, "the method starts the head: {h:?}");
    assert!(
        ms < me && range(ms, me).iter().all(|&b| is_tchar(b)),
        "{h:?}"
    );
    assert_eq!(byte(me), b' ');
    assert_eq!(ts, me + 1, "{h:?}");
    assert!(ts < te, "empty target: {h:?}");
    // Visible ASCII throughout; obs-text (bytes >= 0x80, as browsers send UTF-8) only in the
    // query, after the first `?`.
    let target = range(ts, te);
    let query = target
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(target.len());
    assert!(
        target[..query].iter().all(|b| (0x21..=0x7e).contains(b))
            && target[query..]
                .iter()
                .all(|&b| (0x21..=0x7e).contains(&b) || b >= 0x80),
        "{h:?}"
    );
    assert_eq!(byte(te), b' ');
    let version = range(te + 1, te + 11);
    let expect: &[u8] = if h.http10 {
        b"HTTP/1.0\r\n"
    } else {
        b"HTTP/1.1\r\n"
    };
    assert_eq!(version, expect, "{h:?}");
    let mut line = te + 11;
    for f in &h.fields {
        let (ns, ne) = (f.name.start as usize, f.name.end as usize);
        let (vs, ve) = (f.value.start as usize, f.value.end as usize);
        assert_eq!(
            ns, line,
            "a field line starts after the previous CRLF: {h:?}"
        );
        assert!(
            ns < ne && range(ns, ne).iter().all(|&b| is_tchar(b)),
            "{f:?}"
        );
        assert_eq!(byte(ne), b':');
        assert!(ne < vs && vs <= ve, "{f:?}");
        assert!(range(ne + 1, vs).iter().all(|&b| b == b' ' || b == b'\t'));
        let value = range(vs, ve);
        assert!(value.iter().all(|&b| is_value_byte(b)), "{value:?}");
        assert!(!matches!(value.first(), Some(b' ' | b'\t')), "{value:?}");
        assert_eq!(range(ve, ve + 2), b"\r\n", "{f:?}");
        line = ve + 2;
    }
    assert_eq!(
        range(line, end),
        b"\r\n",
        "the head ends with an empty line: {h:?}"
    );

    // The framing recorded is what the fields say (RFC 9112 §6.3, as the guard applies it).
    let named = |name: &str| -> Vec<&FieldSpan> {
        h.fields
            .iter()
            .filter(|f| f.name.of(data).eq_ignore_ascii_case(name.as_bytes()))
            .collect()
    };
    let cls = named("content-length");
    let tes = named("transfer-encoding");
    for f in cls.iter().chain(&tes) {
        assert!(
            !f.value.of(data).contains(&b'\t'),
            "a tab in framing: {f:?}"
        );
    }
    if h.chunked {
        assert!(!h.http10 && cls.is_empty() && tes.len() == 1, "{h:?}");
        assert!(tes[0].value_of(data).eq_ignore_ascii_case(b"chunked"));
        assert_eq!(h.content_length, None);
    } else {
        assert!(
            tes.is_empty(),
            "transfer-encoding without chunked framing: {h:?}"
        );
        let mut lengths = cls.iter().map(|f| {
            fulcrum_fuzz::content_length(f.value_of(data))
                .unwrap_or_else(|| panic!("accepted content-length {:?}", f.value_of(data)))
        });
        let first = lengths.next();
        assert!(
            lengths.all(|n| Some(n) == first),
            "differing lengths: {h:?}"
        );
        assert_eq!(h.content_length, first, "{h:?}");
    }
    let hosts = named("host").len();
    assert!(
        hosts == 1 || (h.http10 && hosts == 0),
        "{hosts} hosts: {h:?}"
    );
    assert_eq!(h.upgrade, !named("upgrade").is_empty(), "{h:?}");
}

/// httparse reads the head exactly as the scanner recorded it.
fn check_httparse(data: &[u8], h: &Head) {
    // Except a target with obs-text in its query, which the scanner takes (browsers send raw
    // UTF-8 there) and httparse, as hyper's engine, refuses.
    if h.target.of(data).iter().any(|&b| b >= 0x80) {
        return;
    }
    let head = &data[h.start..h.end];
    let mut headers = vec![httparse::EMPTY_HEADER; h.fields.len() + 1];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, head.len(), "head length"),
        other => panic!("accepted, but httparse says {other:?}"),
    }
    assert_eq!(req.method.map(str::as_bytes), Some(h.method.of(data)));
    assert_eq!(req.path.map(str::as_bytes), Some(h.target.of(data)));
    assert_eq!(req.version, Some(if h.http10 { 0 } else { 1 }));
    assert_eq!(req.headers.len(), h.fields.len(), "field count");
    for (p, f) in req.headers.iter().zip(&h.fields) {
        assert_eq!(p.name.as_bytes(), f.name.of(data));
        assert_eq!(trim_ows(p.value), trim_ows(f.value_of(data)), "{}", p.name);
    }
}

/// Fields the fast path sets itself or drops from a client's head (the hop-by-hop ones,
/// `Expect`, the forwarding fields and the request id).
fn dropped(name: &[u8]) -> bool {
    const OURS: &[&str] = &[
        "content-length",
        "expect",
        "forwarded",
        "x-real-ip",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-proto",
        "x-forwarded-prefix",
        "x-original-url",
        "x-rewrite-url",
        "x-request-id",
    ];
    HOP_BY_HOP
        .iter()
        .chain(OURS)
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// The backend's head, for a head the fast path serves itself (not handed to hyper).
fn check_backend_head(data: &[u8], head: &HeadSpans) {
    let v = View { buf: data, head };
    let served = !head.http10
        && !head.upgrade
        && v.target().first() == Some(&b'/')
        && v.first(FieldKind::Expect).is_none();
    if !served {
        return;
    }
    // As admission decides it: an invalid Host is refused, an empty one is no authority.
    let host = match v.first(FieldKind::Host) {
        Some(h) if fulcrum_http::authority::is_valid(h) => Some(h).filter(|h| !h.is_empty()),
        Some(_) => return,
        None => None,
    };
    let body = match (head.chunked, head.content_length) {
        (true, _) => BodyOut::Chunked,
        (false, Some(n)) => BodyOut::Length(n),
        (false, None) => BodyOut::None,
    };
    let mut out = Vec::new();
    request::write_head(
        v,
        &Outgoing {
            target: v.target(),
            host,
            backend: "192.0.2.1:80",
            peer: b"198.51.100.7",
            proto: b"http",
            port: None,
            identity: [(None, None), (None, None), (None, None)],
            request_id: b"fuzz-id",
            body,
        },
        &mut out,
    );
    // The request line is the method and the target as the client sent them; httparse (the
    // check below) refuses obs-text in a target, which the scanner takes in a query, so it
    // reads a copy with those bytes masked.
    let line_len = v.method().len() + 1 + v.target().len();
    assert_eq!(&out[..v.method().len()], v.method());
    assert_eq!(&out[v.method().len() + 1..line_len], v.target());
    let mut masked = out.clone();
    for b in &mut masked[v.method().len() + 1..line_len] {
        if *b >= 0x80 {
            *b = b'a';
        }
    }
    let out = masked;
    let mut headers = vec![httparse::EMPTY_HEADER; head.fields.len() + 16];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&out) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, out.len()),
        other => panic!("backend head does not parse: {other:?}: {out:?}"),
    }
    assert_eq!(req.method.map(str::as_bytes), Some(v.method()));
    assert_eq!(
        req.path.map(str::len),
        Some(v.target().len()),
        "the target, masked"
    );
    let got = fulcrum_fuzz::fields(req.headers);
    let show = || String::from_utf8_lossy(&out).into_owned();
    for name in HOP_BY_HOP.iter().filter(|n| **n != "transfer-encoding") {
        assert_eq!(
            count(&got, name),
            0,
            "{name} sent to the backend: {}",
            show()
        );
    }
    assert_eq!(
        count(&got, "host"),
        1,
        "Host fields sent to the backend: {}",
        show()
    );
    let (cl, te) = match body {
        BodyOut::None => (vec![], vec![]),
        BodyOut::Length(n) => (vec![n.to_string().into_bytes()], vec![]),
        BodyOut::Chunked => (vec![], vec![b"chunked".to_vec()]),
    };
    assert_eq!(values(&got, "content-length"), cl, "{}", show());
    assert_eq!(values(&got, "transfer-encoding"), te, "{}", show());
    assert_eq!(
        values(&got, "x-forwarded-for"),
        [b"198.51.100.7"],
        "{}",
        show()
    );
    assert_eq!(values(&got, "x-request-id"), [b"fuzz-id"], "{}", show());
    // The client's end-to-end fields, in order, trimmed: all of them, first.
    let connection: Vec<&[u8]> = head.get_all(data, b"connection").collect();
    let kept: Vec<(&[u8], &[u8])> = head
        .fields
        .iter()
        .map(|f| (f.name.of(data), f.value_of(data)))
        // `Connection` cannot take Host away (HTTP/1.1 requires it; the engine keeps it).
        .filter(|(n, _)| {
            !dropped(n)
                && (n.eq_ignore_ascii_case(b"host") || !connection.iter().any(|c| lists(c, n)))
        })
        .filter(|(n, _)| host.is_some() || !n.eq_ignore_ascii_case(b"host"))
        .collect();
    let sent: Vec<(&[u8], &[u8])> = got.iter().map(|(n, v)| (n.as_bytes(), *v)).collect();
    assert!(
        sent.len() >= kept.len() && sent[..kept.len()] == kept[..],
        "client fields {kept:?} not passed on as they came: {}",
        show()
    );
}

fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else {
        return;
    };
    let (events, end, spans) = record(data, || data.len());
    let mut plan = Splits::new(seed);
    let (split_events, split_end, _) = record(data, || plan.next_len());
    assert_eq!(
        (&events, end),
        (&split_events, split_end),
        "read whole and read in pieces differ"
    );

    let judged = judge(data, || data.len());
    let mut plan = Splits::new(seed);
    assert_eq!(judged, judge(data, || plan.next_len()), "judged in pieces");
    assert_eq!(
        judged, end,
        "the judging and the recording scanners disagree"
    );

    let mut last = None;
    for e in &events {
        match e {
            Event::Head { from, head } => {
                check_spans(data, *from, head);
                check_httparse(data, head);
                last = Some(head);
            }
            Event::Body(got) => {
                let head = last.expect("a body follows a head");
                if let Some(n) = head.content_length {
                    assert_eq!(got.len() as u64, n, "a length body's data");
                }
                if head.content_length.is_none() && !head.chunked {
                    assert!(got.is_empty(), "data without framing");
                }
            }
        }
    }
    for head in &spans {
        check_backend_head(data, head);
    }
});
