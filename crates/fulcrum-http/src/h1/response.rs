//! A backend's response head: parsed with `httparse` over the read buffer, its framing
//! decided once (RFC 9112 §6.3), and the client's head written from it in one pass — the
//! backend's own fields copied, hop-by-hop ones dropped, our framing, `Date` and HSTS added.

use std::cell::RefCell;
use std::time::SystemTime;

use super::names::{self, Kind};
use crate::error::ProxyError;

/// Most fields a backend's response head may have.
const MAX_FIELDS: usize = 128;

/// How a response body is delimited on the backend connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the backend closes.
    Close,
}

/// What the parsed head says.
#[derive(Debug, Clone, Copy)]
pub struct Parsed {
    /// Bytes of the buffer the head took.
    pub head_len: usize,
    pub status: u16,
    pub framing: Framing,
    /// The backend lets the connection carry another request.
    pub reusable: bool,
}

/// What the client's head is written with.
pub struct ClientSide<'a> {
    /// The request was `HEAD`: the response has no body, whatever its fields say.
    pub head_request: bool,
    /// `Strict-Transport-Security` to set (https listeners with `[listener.hsts]`).
    pub hsts: Option<&'a [u8]>,
    /// The client connection closes after this response.
    pub close: bool,
}

/// Parse the response head at the start of `buf`. `Ok(None)`: incomplete. A `1xx` other than
/// `101` is reported as such (`status` < 200, nothing written): the caller skips it. Otherwise
/// the client's head is appended to `out`.
pub fn parse(
    buf: &[u8],
    side: &ClientSide<'_>,
    out: &mut Vec<u8>,
) -> Result<Option<Parsed>, ProxyError> {
    // Left uninitialised: httparse fills only the fields it finds (initialising all 128
    // cost ~500 instructions per response).
    let mut fields =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut fields,
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProxyError::BadResponse("too many header fields"))
        }
        Err(_) => return Err(ProxyError::BadResponse("malformed response head")),
    };
    let status = resp.code.unwrap_or(0);
    // httparse reads any three digits; below 100 is no status (RFC 9110 §15).
    if status < 100 {
        return Err(ProxyError::BadResponse("invalid status code"));
    }
    let http11 = resp.version == Some(1);
    if (100..200).contains(&status) {
        if status == 101 {
            return Err(ProxyError::UnexpectedUpgrade);
        }
        return Ok(Some(Parsed {
            head_len,
            status,
            framing: Framing::Empty,
            reusable: true,
        }));
    }
    let mut length: Option<u64> = None;
    let mut te: Option<&[u8]> = None;
    let mut tes = 0;
    let mut reusable = http11;
    // Each field's kind, told once; whether `Connection` names fields to drop.
    let mut kinds = [Kind::Other; MAX_FIELDS];
    let mut named = false;
    for (f, k) in resp.headers.iter().zip(kinds.iter_mut()) {
        *k = names::classify(f.name.as_bytes());
        if *k == Kind::Connection {
            named |= names::names_fields(f.value);
        }
    }
    for (f, k) in resp.headers.iter().zip(kinds.iter()) {
        match k {
            Kind::ContentLength => {
                let n = parse_length(f.value)
                    .ok_or(ProxyError::BadResponse("invalid content-length"))?;
                if length.is_some_and(|m| m != n) {
                    return Err(ProxyError::BadResponse("differing content-lengths"));
                }
                length = Some(n);
            }
            Kind::TransferEncoding => {
                te = Some(f.value);
                tes += 1;
            }
            Kind::Connection if names::says_close(f.value) => reusable = false,
            _ => {}
        }
    }
    let framing = if side.head_request || status == 204 || status == 304 {
        Framing::Empty
    } else if let Some(te) = te {
        // Only a single `chunked` is understood; any other coding leaves the body's end
        // unknowable here (RFC 9112 §6.3 rule 4 would read to the close: refused instead).
        if tes > 1 || !te.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(ProxyError::BadResponse("unsupported transfer-encoding"));
        }
        Framing::Chunked
    } else {
        match length {
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    };
    if framing == Framing::Close {
        reusable = false;
    }

    // The client's head.
    out.extend_from_slice(b"HTTP/1.1 ");
    push_status(out, status);
    let connection = |name: &[u8]| {
        resp.headers
            .iter()
            .zip(kinds.iter())
            .any(|(f, k)| *k == Kind::Connection && names::lists(f.value, name))
    };
    let mut has_date = false;
    for (f, k) in resp.headers.iter().zip(kinds.iter()) {
        let name = f.name.as_bytes();
        match k {
            Kind::HopByHop | Kind::TransferEncoding | Kind::Connection => continue,
            // The backend's length stays on bodiless responses (HEAD: the length of the
            // body a GET would get); otherwise the framing is ours.
            // No length on a 204 (RFC 9110 §8.6).
            Kind::ContentLength if framing != Framing::Empty || te.is_some() || status == 204 => {
                continue
            }
            Kind::StrictTransportSecurity if side.hsts.is_some() => continue,
            _ => {}
        }
        if named && connection(name) {
            continue;
        }
        if *k == Kind::Date {
            has_date = true;
        }
        push_field(out, name, f.value);
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        push_date(out);
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            push_u64(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked | Framing::Close => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n")
        }
        Framing::Empty => {}
    }
    if side.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    if let Some(h) = side.hsts {
        out.extend_from_slice(b"strict-transport-security: ");
        out.extend_from_slice(h);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some(Parsed {
        head_len,
        status,
        framing,
        reusable,
    }))
}

/// `Content-Length`: 1*DIGIT (RFC 9110 §8.6), at most 19 digits; also `n, n` lists of one
/// value, which RFC 9110 lets a recipient accept.
fn parse_length(v: &[u8]) -> Option<u64> {
    let mut value: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if value.is_some_and(|m| m != n) {
            return None;
        }
        value = Some(n);
    }
    value
}

/// `200 OK\r\n`: the code and its canonical reason phrase.
pub fn push_status(out: &mut Vec<u8>, status: u16) {
    if status == 200 {
        out.extend_from_slice(b"200 OK\r\n");
        return;
    }
    push_u64(out, u64::from(status));
    out.push(b' ');
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `name: value\r\n`.
pub fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(n).as_bytes());
}

thread_local! {
    /// The `Date` value, formatted once per second.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((0, [b' '; 29])) };
}

/// Today's IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            let s = httpdate::fmt_http_date(now);
            if s.len() == 29 {
                d.1.copy_from_slice(s.as_bytes());
                d.0 = secs;
            }
        }
        out.extend_from_slice(&d.1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(head: &str, side: &ClientSide<'_>) -> (Result<Option<Parsed>, ProxyError>, String) {
        let mut out = Vec::new();
        let r = parse(head.as_bytes(), side, &mut out);
        (r, String::from_utf8_lossy(&out).into_owned())
    }

    const PLAIN: ClientSide<'static> = ClientSide {
        head_request: false,
        hsts: None,
        close: false,
    };

    #[test]
    fn framing_is_decided_once_and_written_by_us() {
        let (r, out) = client(
            "HTTP/1.1 200 Fine\r\nContent-Length: 5\r\nX-A: 1\r\nConnection: keep-alive, X-A\r\n\r\n",
            &PLAIN,
        );
        let p = r.unwrap().unwrap();
        assert_eq!(p.framing, Framing::Length(5));
        assert!(p.reusable);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("content-length: 5\r\n"), "{out}");
        assert!(!out.contains("X-A") && !out.contains("Connection"), "{out}");
        assert!(out.contains("date: "), "{out}");

        let (r, out) = client(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            &PLAIN,
        );
        assert_eq!(r.unwrap().unwrap().framing, Framing::Chunked);
        assert!(!out.contains("ontent-length"), "{out}");
        assert!(out.contains("transfer-encoding: chunked\r\n"), "{out}");

        let (r, _) = client("HTTP/1.0 200 OK\r\n\r\n", &PLAIN);
        let p = r.unwrap().unwrap();
        assert_eq!(p.framing, Framing::Close);
        assert!(!p.reusable);
    }

    #[test]
    fn bodiless_responses_and_bad_framing() {
        let head = ClientSide {
            head_request: true,
            ..PLAIN
        };
        let (r, out) = client("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", &head);
        assert_eq!(r.unwrap().unwrap().framing, Framing::Empty);
        assert!(out.contains("Content-Length: 10\r\n"), "{out}");
        let (r, _) = client("HTTP/1.1 304 Not Modified\r\n\r\n", &PLAIN);
        assert_eq!(r.unwrap().unwrap().framing, Framing::Empty);
        let (r, out) = client("HTTP/1.1 100 Continue\r\n\r\n", &PLAIN);
        assert_eq!(r.unwrap().unwrap().status, 100);
        assert!(out.is_empty());
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
        ] {
            assert!(client(bad, &PLAIN).0.is_err(), "{bad}");
        }
        assert!(client("HTTP/1.1 200 OK\r\nContent-Le", &PLAIN)
            .0
            .unwrap()
            .is_none());
    }

    /// Found by the `h1_response` fuzz target: codes below 100, a second `Connection`
    /// field, a 204 with a length, a `Date` the backend's `Connection` names.
    #[test]
    fn fuzz_findings_are_fixed() {
        assert!(
            client("HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n", &PLAIN)
                .0
                .is_err()
        );
        let (_, out) = client(
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: X-A\r\nX-A: 1\r\n\
             Content-Length: 0\r\n\r\n",
            &PLAIN,
        );
        assert!(!out.contains("X-A"), "{out}");
        let (_, out) = client(
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            &PLAIN,
        );
        assert!(
            !out.to_ascii_lowercase().contains("content-length"),
            "{out}"
        );
        let (_, out) = client(
            "HTTP/1.1 200 OK\r\nDate: x\r\nConnection: date\r\nContent-Length: 0\r\n\r\n",
            &PLAIN,
        );
        assert_eq!(out.matches("date: ").count(), 1, "{out}");
    }

    #[test]
    fn hsts_and_close_are_ours() {
        let side = ClientSide {
            head_request: false,
            hsts: Some(b"max-age=60"),
            close: true,
        };
        let (_, out) = client(
            "HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=1\r\nContent-Length: 0\r\n\r\n",
            &side,
        );
        assert!(
            out.contains("strict-transport-security: max-age=60\r\n"),
            "{out}"
        );
        assert!(!out.contains("max-age=1\r\n"), "{out}");
        assert!(out.contains("connection: close\r\n"), "{out}");
    }
}
