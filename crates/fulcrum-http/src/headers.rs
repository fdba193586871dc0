//! Header rules applied on the way through: hop-by-hop removal, list headers, request id.
//! The forwarding headers (`X-Forwarded-*`, `X-Real-IP`) are in [`crate::forwarded`].

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop fields of RFC 9110 §7.6.1 (plus the legacy `Keep-Alive` and `Proxy-Connection`
/// and the `Proxy-Authenticate`/`Proxy-Authorization` pair addressed to this proxy).
/// `Trailer` is end-to-end: it announces the trailers an HTTP/1 hop must send.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];
/// Where `Transfer-Encoding` is in [`HOP_BY_HOP`].
const TRANSFER_ENCODING_AT: usize = 4;

/// Whether `Connection` lists `token` (case-insensitive).
pub fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// Remove hop-by-hop fields, including every field named in `Connection` (RFC 9110 §7.6.1).
/// When `keep_upgrade` is set, `Upgrade` and `Connection: upgrade` are kept for the next hop:
/// that is how a WebSocket handshake crosses the proxy.
///
/// A message with `Transfer-Encoding` loses its `Content-Length` too: the transfer coding
/// decided the framing, and the next hop frames the body again, so a stale length would cut it
/// (RFC 9112 §6.3: an intermediary forwarding such a message must remove `Content-Length`).
/// Requests never get here with both (the guard refuses them); backend responses can.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the distinct names finds which hop-by-hop fields are present; most
    // messages carry none or only `Connection`, so only those are removed (a `remove` of an
    // absent name still costs a hash and a probe).
    let mut present = [false; 8];
    let mut any = false;
    for k in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == k) {
            present[i] = true;
            any = true;
        }
    }
    if !any {
        return;
    }
    // Fields named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    if present[0] {
        let mut named: Vec<HeaderName> = Vec::new();
        for v in headers.get_all(header::CONNECTION) {
            let Ok(s) = v.to_str() else { continue };
            for t in s.split(',') {
                if let Ok(name) = HeaderName::from_bytes(t.trim().as_bytes()) {
                    if !HOP_BY_HOP.contains(&name) {
                        named.push(name);
                    }
                }
            }
        }
        for name in named {
            headers.remove(name);
        }
    }
    let upgrade = if keep_upgrade {
        headers.remove(header::UPGRADE)
    } else {
        None
    };
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present[i] {
            headers.remove(name);
        }
    }
    if present[TRANSFER_ENCODING_AT] {
        headers.remove(header::CONTENT_LENGTH);
    }
    if let Some(u) = upgrade {
        headers.insert(header::UPGRADE, u);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Append `value` to a comma-separated list header (or start it with `value` itself, which
/// costs a reference count, not a copy).
pub fn append_list(headers: &mut HeaderMap, name: HeaderName, value: &HeaderValue) {
    let mut existing = headers.get_all(&name).iter().peekable();
    if existing.peek().is_none() {
        headers.insert(name, value.clone());
        return;
    }
    let mut buf = BytesMut::with_capacity(64);
    for (i, v) in existing.enumerate() {
        if i > 0 {
            buf.put_slice(b", ");
        }
        buf.put_slice(v.as_bytes());
    }
    buf.put_slice(b", ");
    buf.put_slice(value.as_bytes());
    if let Ok(v) = HeaderValue::from_maybe_shared(buf.freeze()) {
        headers.insert(name, v);
    }
}

/// A client address as a header value (`192.0.2.1`, `2001:db8::1`).
pub fn ip_value(ip: IpAddr) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(ip.to_string()))
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The request's id: the client's `X-Request-Id` when it is a sane token (1..=128 visible
/// ASCII bytes), otherwise a new random 128-bit id in hex.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(X_REQUEST_ID) {
        if is_sane_request_id(v.as_bytes()) {
            return v.clone();
        }
    }
    new_request_id()
}

/// Whether a client's `X-Request-Id` is kept: 1..=128 visible ASCII bytes.
pub fn is_sane_request_id(b: &[u8]) -> bool {
    !b.is_empty() && b.len() <= MAX_REQUEST_ID && b.iter().all(|c| (0x21..=0x7e).contains(c))
}

/// Longest client `X-Request-Id` kept.
pub const MAX_REQUEST_ID: usize = 128;

pub fn new_request_id() -> HeaderValue {
    let out = random_request_id();
    match HeaderValue::from_maybe_shared(Bytes::copy_from_slice(&out)) {
        Ok(v) => v,
        Err(_) => HeaderValue::from_static("0"),
    }
}

/// A new random 128-bit request id in hex.
pub fn random_request_id() -> [u8; 32] {
    /// Each byte's two hex digits: one lookup per byte, not per digit.
    static HEX2: [[u8; 2]; 256] = {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [HEX[i >> 4], HEX[i & 0xf]];
            i += 1;
        }
        t
    };
    let mut out = [0u8; 32];
    let random = [fastrand::u64(..), fastrand::u64(..)];
    for (pair, byte) in out
        .chunks_exact_mut(2)
        .zip(random.iter().flat_map(|n| n.to_le_bytes()))
    {
        pair.copy_from_slice(&HEX2[usize::from(byte)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_and_connection_named_fields_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["x-kept"]);
    }

    #[test]
    fn upgrade_survives_when_asked() {
        let mut h = map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("keep-alive", "1"),
        ]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("connection").unwrap(), "upgrade");
        assert!(h.get("keep-alive").is_none());
    }

    /// Issue 7 item 15: `Content-Length` goes with `Transfer-Encoding`.
    #[test]
    fn content_length_is_dropped_with_transfer_encoding() {
        assert_eq!(HOP_BY_HOP[TRANSFER_ENCODING_AT], header::TRANSFER_ENCODING);
        let mut h = map(&[
            ("transfer-encoding", "chunked"),
            ("content-length", "5"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("content-length").is_none(), "{h:?}");
        assert!(h.get("transfer-encoding").is_none());
        let mut h = map(&[("content-length", "5"), ("connection", "close")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h["content-length"], "5");
    }

    #[test]
    fn request_id_kept_or_created() {
        let h = map(&[("x-request-id", "abc-123")]);
        assert_eq!(request_id(&h), "abc-123");
        let bad = map(&[("x-request-id", "has space")]);
        let id = request_id(&bad);
        assert_eq!(id.len(), 32);
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
        // 32 lowercase hex digits, every digit used.
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..64 {
            let id = random_request_id();
            assert!(id.iter().all(|b| b"0123456789abcdef".contains(b)), "{id:?}");
            seen.extend(id);
        }
        assert_eq!(seen.len(), 16);
    }
}
