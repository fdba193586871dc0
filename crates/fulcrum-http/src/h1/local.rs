//! Answers the fast path writes itself — `respond` and `redirect` routes, errors (one text
//! body naming the reason and the request id, from [`ProxyError::to_response`]), and the
//! refusals of malformed heads — serialised straight into an output buffer.

use bytes::Bytes;
use http::Response;

use super::client::Client;
use super::response::{push_date, push_field, push_status, push_u64};
use super::ClientIo;
use crate::error::ProxyError;

/// A request id: the client's when sane, else a new one; kept inline (no allocation).
pub(super) struct RequestId {
    buf: [u8; crate::headers::MAX_REQUEST_ID],
    len: usize,
}

impl RequestId {
    pub(super) fn new(client: Option<&[u8]>) -> Self {
        let mut id = RequestId {
            buf: [0; crate::headers::MAX_REQUEST_ID],
            len: 0,
        };
        match client {
            Some(v) if crate::headers::is_sane_request_id(v) => {
                id.buf[..v.len()].copy_from_slice(v);
                id.len = v.len();
            }
            _ => {
                let r = crate::headers::random_request_id();
                id.buf[..r.len()].copy_from_slice(&r);
                id.len = r.len();
            }
        }
        id
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(super) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// What every answer of ours ends with.
pub(super) struct Tail<'a> {
    pub(super) close: bool,
    pub(super) hsts: Option<&'a [u8]>,
}

/// A complete response: status, `extra` fields, `Content-Length`, `Date`, the tail's fields,
/// then the body.
pub(super) fn write(
    out: &mut Vec<u8>,
    status: u16,
    extra: &[(&[u8], &[u8])],
    body: &[u8],
    tail: &Tail<'_>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_status(out, status);
    for (name, value) in extra {
        push_field(out, name, value);
    }
    out.extend_from_slice(b"content-length: ");
    push_u64(out, body.len() as u64);
    out.extend_from_slice(b"\r\ndate: ");
    push_date(out);
    out.extend_from_slice(b"\r\n");
    if tail.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    if let Some(h) = tail.hsts {
        out.extend_from_slice(b"strict-transport-security: ");
        out.extend_from_slice(h);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// The error's response (the same one the hyper path gives). Returns its status.
pub(super) fn error(out: &mut Vec<u8>, e: &ProxyError, id: &RequestId, tail: &Tail<'_>) -> u16 {
    let value = http::HeaderValue::from_bytes(id.as_bytes())
        .unwrap_or_else(|_| http::HeaderValue::from_static("0"));
    let resp: Response<Bytes> = e.to_response(&value);
    let close = tail.close || resp.headers().contains_key(http::header::CONNECTION);
    let mut extra: Vec<(&[u8], &[u8])> = Vec::with_capacity(resp.headers().len());
    for (name, value) in resp.headers() {
        if name != http::header::CONNECTION {
            extra.push((name.as_str().as_bytes(), value.as_bytes()));
        }
    }
    let status = resp.status().as_u16();
    write(
        out,
        status,
        &extra,
        resp.body(),
        &Tail {
            close,
            hsts: tail.hsts,
        },
    );
    status
}

/// Answer a head the guard refused (400) or that did not fit (431), as hyper does: no body,
/// and the connection closes.
pub(super) async fn refuse<IO: ClientIo>(c: &mut Client<IO>, status: u16) {
    let mut out = Vec::with_capacity(128);
    write(
        &mut out,
        status,
        &[],
        b"",
        &Tail {
            close: true,
            hsts: None,
        },
    );
    let _ = c.write(&out, std::time::Duration::from_secs(5)).await;
}
