//! Where the parts of a request head are, as the recording [`super::Scanner`] found them:
//! offsets into the caller's buffer, so the HTTP/1.1 fast path reads the head without copying
//! it or building a header map.

/// A byte range `start..end` of the caller's buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The bytes of `buf` this span covers (empty when it does not fit: never panics).
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// A buffer index as a span offset (buffers are far smaller than 4 GiB; saturates).
pub fn span_at(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// What a field is to a proxy, told once from its (lowercased) name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldKind {
    /// Passed on as it came.
    #[default]
    Other,
    /// Hop-by-hop (RFC 9110 §7.6.1, plus `Keep-Alive`, `Proxy-Connection` and the
    /// `Proxy-Authenticate`/`-Authorization` pair): never passed on.
    HopByHop,
    TransferEncoding,
    /// `Connection` itself (hop-by-hop, and it names more hop-by-hop fields).
    Connection,
    ContentLength,
    Host,
    Expect,
    RequestId,
    StrictTransportSecurity,
    Date,
    /// Set by this hop from what it saw (or removed): `X-Forwarded-*`, `X-Real-IP`,
    /// `Forwarded`, and the URL-override headers (see `crate::forwarded`).
    Forwarding,
}

impl FieldKind {
    /// The kind of a field whose name is `lower` (already lowercase).
    pub fn of_lowercase(lower: &[u8]) -> FieldKind {
        match lower {
            b"te"
            | b"upgrade"
            | b"keep-alive"
            | b"proxy-connection"
            | b"proxy-authenticate"
            | b"proxy-authorization" => FieldKind::HopByHop,
            b"transfer-encoding" => FieldKind::TransferEncoding,
            b"host" => FieldKind::Host,
            b"date" => FieldKind::Date,
            b"expect" => FieldKind::Expect,
            b"connection" => FieldKind::Connection,
            b"x-request-id" => FieldKind::RequestId,
            b"content-length" => FieldKind::ContentLength,
            b"strict-transport-security" => FieldKind::StrictTransportSecurity,
            b"forwarded"
            | b"x-real-ip"
            | b"x-rewrite-url"
            | b"x-original-url"
            | b"x-forwarded-for"
            | b"x-forwarded-host"
            | b"x-forwarded-port"
            | b"x-forwarded-proto"
            | b"x-forwarded-prefix" => FieldKind::Forwarding,
            _ => FieldKind::Other,
        }
    }

    /// The kind of a field named `name` in any case.
    pub fn of(name: &[u8]) -> FieldKind {
        let mut lower = [0u8; 32];
        match lower.get_mut(..name.len()) {
            Some(l) => {
                for (d, s) in l.iter_mut().zip(name) {
                    *d = s.to_ascii_lowercase();
                }
                FieldKind::of_lowercase(l)
            }
            None => FieldKind::Other,
        }
    }
}

/// One header field: its name as sent, its value without the surrounding whitespace
/// (trailing whitespace is still in `value`; see [`FieldSpan::value_of`]), and its kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldSpan {
    pub name: Span,
    pub value: Span,
    pub kind: FieldKind,
}

impl FieldSpan {
    /// The field's value with trailing spaces and tabs removed (RFC 9112 §5: OWS).
    pub fn value_of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let mut v = self.value.of(buf);
        while let [rest @ .., b' ' | b'\t'] = v {
            v = rest;
        }
        v
    }

    /// The whole field line, from the name to the end of the value (without CRLF).
    pub fn line(&self) -> Span {
        Span {
            start: self.name.start,
            end: self.value.end.max(self.name.end),
        }
    }
}

/// A request head: the request line's parts, each field, and the framing the guard decided.
#[derive(Debug, Default, Clone)]
pub struct HeadSpans {
    /// Where the request line begins (after any empty lines) and where the head ends (after
    /// its final CRLF).
    pub start: u32,
    pub end: u32,
    pub method: Span,
    pub target: Span,
    pub http10: bool,
    /// In order of arrival; reused from head to head (its capacity stays).
    pub fields: Vec<FieldSpan>,
    /// The body's framing: a length, or chunked (never both: the guard refuses that).
    pub content_length: Option<u64>,
    pub chunked: bool,
    /// An `Upgrade` field was sent.
    pub upgrade: bool,
    pub(super) cur: FieldSpan,
    /// A head was completed and not yet reported.
    pub(super) done: bool,
}

impl HeadSpans {
    pub(super) fn begin(&mut self, at: usize) {
        self.start = span_at(at);
        self.method.start = span_at(at);
        self.fields.clear();
        self.content_length = None;
        self.chunked = false;
        self.upgrade = false;
    }

    pub(super) fn push_field(&mut self) {
        self.fields.push(self.cur);
    }

    pub(super) fn finish(
        &mut self,
        end: usize,
        http10: bool,
        content_length: Option<u64>,
        chunked: bool,
        upgrade: bool,
    ) {
        self.end = span_at(end);
        self.http10 = http10;
        self.content_length = if chunked { None } else { content_length };
        self.chunked = chunked;
        self.upgrade = upgrade;
        self.done = true;
    }

    /// The first field of `kind`, as its trimmed value.
    pub fn first<'a>(&self, buf: &'a [u8], kind: FieldKind) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|f| f.kind == kind)
            .map(|f| f.value_of(buf))
    }

    /// The first field named `name` (ASCII case-insensitive), as its trimmed value.
    pub fn get<'a>(&self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|f| f.name.of(buf).eq_ignore_ascii_case(name))
            .map(|f| f.value_of(buf))
    }

    /// Every value of the fields named `name`, in order.
    pub fn get_all<'a, 'b>(
        &'b self,
        buf: &'a [u8],
        name: &'b [u8],
    ) -> impl Iterator<Item = &'a [u8]> + 'b
    where
        'a: 'b,
    {
        self.fields
            .iter()
            .filter(move |f| f.name.of(buf).eq_ignore_ascii_case(name))
            .map(move |f| f.value_of(buf))
    }
}

/// What one call of [`super::Scanner::body`] consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyScan {
    /// Bytes of the buffer consumed (framing and data).
    pub used: usize,
    /// Where the data consumed is in the buffer (`start..end`).
    pub data: Option<(usize, usize)>,
    /// The body ended with these bytes.
    pub done: bool,
}

#[cfg(test)]
mod tests {
    use super::super::scan::{Scan, Scanner};

    fn field<'a>(buf: &'a [u8], s: &Scanner, name: &str) -> Option<&'a [u8]> {
        s.head()?.get(buf, name.as_bytes())
    }

    #[test]
    fn heads_are_recorded_whole_or_byte_by_byte_alike() {
        let raw: &[u8] = b"\r\nGET /a?b=1 HTTP/1.1\r\nHost:  example.com \r\nX-Empty:\r\n\
            Content-Length: 3\r\n\r\nabcNEXT";
        let head_end = raw.len() - 7;
        let mut whole = Scanner::recording();
        assert_eq!(whole.feed(raw), Scan::Head(head_end));
        let mut bytewise = Scanner::recording();
        let mut got = None;
        for i in 0..raw.len() {
            match bytewise.feed(&raw[i..=i]) {
                Scan::Ok => {}
                Scan::Head(n) => {
                    got = Some(i + n);
                    break;
                }
                other => panic!("{other:?} at {i}"),
            }
        }
        assert_eq!(got, Some(head_end));
        for s in [&whole, &bytewise] {
            let h = s.head().unwrap();
            assert_eq!(h.method.of(raw), b"GET");
            assert_eq!(h.target.of(raw), b"/a?b=1");
            assert_eq!(h.start, 2);
            assert_eq!(h.end as usize, head_end);
            assert_eq!(h.content_length, Some(3));
            assert!(!h.chunked && !h.http10 && !h.upgrade);
            assert_eq!(field(raw, s, "host"), Some(&b"example.com"[..]));
            assert_eq!(field(raw, s, "x-empty"), Some(&b""[..]));
            assert_eq!(h.fields.len(), 3);
        }
        // The body, then the next head's first bytes.
        let rest = &raw[head_end..];
        let b = whole.body(rest).unwrap();
        assert_eq!((b.used, b.data, b.done), (3, Some((0, 3)), true));
    }

    #[test]
    fn chunked_bodies_give_data_runs_and_consume_framing() {
        let head: &[u8] = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut s = Scanner::recording();
        assert_eq!(s.feed(head), Scan::Head(head.len()));
        assert!(s.head().unwrap().chunked);
        let body: &[u8] = b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n";
        let mut data = Vec::new();
        let mut at = 0;
        loop {
            let step = s.body(&body[at..]).unwrap();
            if let Some((a, b)) = step.data {
                data.extend_from_slice(&body[at + a..at + b]);
            }
            at += step.used;
            if step.done {
                break;
            }
            assert!(step.used > 0, "stuck at {at}");
        }
        assert_eq!(data, b"abcde");
        assert_eq!(at, body.len());
        // A bad chunk is the guard's violation.
        let mut s = Scanner::recording();
        assert_eq!(s.feed(head), Scan::Head(head.len()));
        let bad = b"3\r\nabcd\r\n";
        let mut at = 0;
        let err = loop {
            match s.body(&bad[at..]) {
                Ok(step) if step.used > 0 => at += step.used,
                Ok(step) => panic!("no error: {step:?}"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.0, 0, "the byte after the chunk's data");
    }

    /// Regression: a field name longer than the scanner's name buffer, arriving in two runs
    /// (the second starting past the buffer's end), once indexed past the buffer.
    #[test]
    fn names_longer_than_the_name_buffer_are_scanned_in_any_split() {
        let raw: &[u8] =
            b"GET / HTTP/1.1\r\nHost: a\r\nX-A-Very-Long-Header-Name-Indeed-Forty: v\r\n\r\n";
        for split in 0..raw.len() {
            let mut s = Scanner::recording();
            let first = s.feed(&raw[..split]);
            let second = match first {
                Scan::Ok => s.feed(&raw[split..]),
                other => other,
            };
            let end = match (first, second) {
                (Scan::Head(n), _) => n,
                (_, Scan::Head(n)) => split + n,
                other => panic!("{other:?} at {split}"),
            };
            assert_eq!(end, raw.len());
            let name = s.head().unwrap().fields[1].name.of(raw);
            assert_eq!(name, b"X-A-Very-Long-Header-Name-Indeed-Forty");
        }
    }

    #[test]
    fn recording_refuses_what_the_guard_refuses() {
        let bad: [&[u8]; 6] = [
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
            b"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",
        ];
        for raw in bad {
            let judged = Scanner::new().feed(raw);
            let recorded = Scanner::recording().feed(raw);
            assert!(
                matches!(judged, Scan::Violation(..)),
                "{judged:?}: {}",
                String::from_utf8_lossy(raw)
            );
            assert_eq!(judged, recorded, "{}", String::from_utf8_lossy(raw));
        }
    }
}
