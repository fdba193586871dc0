//! The request as the fast path sees it — the shared facts over offsets into the read buffer
//! (method, target, authority, header lookup) — and the head the backend is sent, written
//! with one copy: kept field lines copied as they came, our own `Host` (when needed),
//! forwarding headers, identity headers, request id and framing emitted after them.

use http::{HeaderName, HeaderValue};

use super::names::{self, Kind};
use super::response::{push_field as field, push_u64};
use crate::guard::scan::HeadSpans;

/// A parsed request head over the buffer it was read into.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub buf: &'a [u8],
    pub head: &'a HeadSpans,
}

impl<'a> View<'a> {
    pub fn method(&self) -> &'a [u8] {
        self.head.method.of(self.buf)
    }

    pub fn target(&self) -> &'a [u8] {
        self.head.target.of(self.buf)
    }

    /// The first value of the fields of `kind` (as the scanner told them).
    pub fn first(&self, kind: Kind) -> Option<&'a [u8]> {
        self.head.first(self.buf, kind)
    }

    /// Whether any `Connection` value lists `token`.
    pub fn connection_lists(&self, token: &[u8]) -> bool {
        self.head
            .fields
            .iter()
            .filter(|f| f.kind == Kind::Connection)
            .any(|f| names::lists(f.value_of(self.buf), token))
    }

    /// Whether a `Connection` value names a field (anything but `close`/`keep-alive`), so
    /// each field must be checked against it.
    fn connection_names_fields(&self) -> bool {
        self.head
            .fields
            .iter()
            .filter(|f| f.kind == Kind::Connection)
            .any(|f| names::names_fields(f.value_of(self.buf)))
    }
}

impl fulcrum_route::Headers for View<'_> {
    fn has_value(&self, name: &HeaderName, value: &HeaderValue) -> bool {
        self.head
            .get_all(self.buf, name.as_str().as_bytes())
            .any(|v| v == value.as_bytes())
    }
}

/// How the request body goes to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyOut {
    /// No body (and no `Content-Length`).
    None,
    Length(u64),
    Chunked,
}

/// What the backend's head is made of besides the client's fields.
pub struct Outgoing<'a> {
    /// The request target to send (the normal path the route matched, or as received).
    pub target: &'a [u8],
    /// The validated authority, or `None`: the backend's address is sent as `Host`.
    pub host: Option<&'a [u8]>,
    pub backend: &'a str,
    /// The peer's (= the client's) address.
    pub peer: &'a [u8],
    pub proto: &'a [u8],
    pub port: Option<&'a [u8]>,
    /// Identity headers, set by Fulcrum alone (a client's copy is dropped): the mTLS
    /// subject and SANs (value when the client presented a certificate), and the
    /// authenticated identity of `forward_identity`.
    pub identity: [(Option<&'a HeaderName>, Option<&'a [u8]>); 3],
    pub request_id: &'a [u8],
    pub body: BodyOut,
}

/// Append the backend's request head to `out`.
pub fn write_head(v: View<'_>, o: &Outgoing<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(v.method());
    out.push(b' ');
    out.extend_from_slice(o.target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let named = v.connection_names_fields();
    for f in &v.head.fields {
        let name = f.name.of(v.buf);
        match f.kind {
            Kind::HopByHop
            | Kind::TransferEncoding
            | Kind::Connection
            | Kind::ContentLength
            | Kind::Expect
            | Kind::Forwarding
            | Kind::RequestId => continue,
            Kind::Host if o.host.is_none() => continue,
            _ => {}
        }
        if o.identity
            .iter()
            .any(|(n, _)| n.is_some_and(|n| name.eq_ignore_ascii_case(n.as_str().as_bytes())))
        {
            continue;
        }
        // `Connection` may name any field but `Host`, which HTTP/1.1 requires (the hyper
        // path removes it and sets it again: the same value).
        if named && f.kind != Kind::Host && v.connection_lists(name) {
            continue;
        }
        let value = f.value_of(v.buf);
        // Sent as `name: value` (one space after the colon): the line is copied as it came,
        // in one piece, without its trailing whitespace.
        let (name_end, value_start) = (f.name.end as usize, f.value.start as usize);
        if value_start == name_end + 2 && v.buf.get(name_end + 1) == Some(&b' ') {
            if let Some(line) = v.buf.get(f.name.start as usize..value_start + value.len()) {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
                continue;
            }
        }
        field(out, name, value);
    }
    if o.host.is_none() {
        field(out, b"host", o.backend.as_bytes());
    }
    field(out, b"x-real-ip", o.peer);
    field(out, b"x-forwarded-for", o.peer);
    field(out, b"x-forwarded-proto", o.proto);
    if let Some(h) = o.host {
        field(out, b"x-forwarded-host", h);
    }
    if let Some(p) = o.port {
        field(out, b"x-forwarded-port", p);
    }
    for (name, value) in o.identity {
        if let (Some(n), Some(v)) = (name, value) {
            field(out, n.as_str().as_bytes(), v);
        }
    }
    field(out, b"x-request-id", o.request_id);
    match o.body {
        BodyOut::None => {}
        BodyOut::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            push_u64(out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyOut::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::scan::{Scan, Scanner};

    fn scanned(head: &[u8]) -> Scanner {
        let mut s = Scanner::recording();
        assert_eq!(s.feed(head), Scan::Head(head.len()));
        s
    }

    #[test]
    fn the_backend_head_keeps_end_to_end_fields_and_sets_ours() {
        let raw = b"POST /x?a=1 HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 6.6.6.6\r\n\
            Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nAccept:  */*  \r\nContent-Length: 3\r\n\
            Forwarded: for=evil\r\nX-Request-Id: abc\r\nExpect: 100-continue\r\nTE: trailers\r\n\r\n";
        let s = scanned(raw);
        let v = View {
            buf: raw,
            head: s.head().unwrap(),
        };
        let mut out = Vec::new();
        write_head(
            v,
            &Outgoing {
                target: b"/x?a=1",
                host: Some(b"example.com"),
                backend: "127.0.0.1:9",
                peer: b"127.0.0.1",
                proto: b"http",
                port: Some(b"8080"),
                identity: [(None, None), (None, None), (None, None)],
                request_id: b"abc",
                body: BodyOut::Length(3),
            },
            &mut out,
        );
        let out = String::from_utf8(out).unwrap();
        // Found by the `h1_head` fuzz target: `Connection: host` must not take Host away.
        let raw2 = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n";
        let s2 = scanned(raw2);
        let mut out2 = Vec::new();
        write_head(
            View {
                buf: raw2,
                head: s2.head().unwrap(),
            },
            &Outgoing {
                target: b"/",
                host: Some(b"a"),
                backend: "127.0.0.1:9",
                peer: b"127.0.0.1",
                proto: b"http",
                port: None,
                identity: [(None, None), (None, None), (None, None)],
                request_id: b"r",
                body: BodyOut::None,
            },
            &mut out2,
        );
        let out2 = String::from_utf8(out2).unwrap();
        assert_eq!(out2.matches("Host: a\r\n").count(), 1, "{out2}");
        assert_eq!(
            out,
            "POST /x?a=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\
             x-real-ip: 127.0.0.1\r\nx-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\n\
             x-forwarded-host: example.com\r\nx-forwarded-port: 8080\r\nx-request-id: abc\r\n\
             content-length: 3\r\n\r\n"
        );
    }
}
