//! What the backend is told about the client: `X-Forwarded-For/-Proto/-Host/-Port`,
//! `X-Real-IP`, and the client-supplied headers that must never reach it.
//!
//! A client can write any header, so forwarding headers from a client mean nothing unless the
//! peer is a front proxy the operator trusts (`trusted_proxies`). From such a peer the incoming
//! `X-Forwarded-For` chain is kept and the peer appended, and its `X-Forwarded-Proto/-Host/
//! -Port/-Prefix` (the original request, as the front proxy saw it) are kept; the client is the
//! right-most address of the chain that is not itself a trusted proxy (HAProxy's and NGINX's
//! `real_ip_recursive` semantics). From anyone else they are replaced by what this hop saw, and
//! the client is the peer. `Forwarded` (RFC 7239), `X-Original-URL` and `X-Rewrite-URL` are
//! always removed: Fulcrum speaks the `X-Forwarded-*` vocabulary only, and the URL-override
//! headers let a client pick the path a backend (IIS, Symfony) acts on behind the route's back.

use std::net::{IpAddr, SocketAddr};

use fulcrum_config::model::Cidr;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::headers::{append_list, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO};

pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
pub const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
pub const X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
pub const X_REWRITE_URL: HeaderName = HeaderName::from_static("x-rewrite-url");

/// Headers removed from every request (`X-Forwarded-Prefix` only when the peer is not
/// trusted).
static DROPPED: [HeaderName; 4] = [
    header::FORWARDED,
    X_ORIGINAL_URL,
    X_REWRITE_URL,
    X_FORWARDED_PREFIX,
];
/// Where `X-Forwarded-Prefix` is in [`DROPPED`].
const PREFIX_AT: usize = 3;

/// Whether `ip` is one of the trusted proxies.
pub fn is_trusted(trusted: &[Cidr], ip: IpAddr) -> bool {
    trusted.iter().any(|c| c.contains(ip))
}

/// One `X-Forwarded-For` element as an address: `192.0.2.1`, `2001:db8::1`, and the forms
/// some proxies write with a port or brackets (`192.0.2.1:5000`, `[2001:db8::1]:5000`).
fn parse_element(s: &str) -> Option<IpAddr> {
    let s = s.trim_matches([' ', '\t']);
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The client's address for logs, balancing and `X-Real-IP`: the peer, unless it is a trusted
/// proxy; then, walking `X-Forwarded-For` from the right, the first address that is not a
/// trusted proxy. The walk stops at an element that is not an address (the last address
/// reached stands), and an all-trusted chain gives its left-most address.
pub fn client_ip(trusted: &[Cidr], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let mut client = peer;
    if trusted.is_empty() || !is_trusted(trusted, peer) {
        return client;
    }
    for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(line) = line.to_str() else {
            return client;
        };
        for element in line.rsplit(',') {
            let Some(ip) = parse_element(element) else {
                return client;
            };
            client = ip;
            if !is_trusted(trusted, ip) {
                return client;
            }
        }
    }
    client
}

/// What this hop knows about the request, for the forwarding headers.
pub struct Hop<'a> {
    /// The peer's address as a header value.
    pub peer: &'a HeaderValue,
    /// Whether the peer is a trusted proxy.
    pub trusted: bool,
    /// The client's address ([`client_ip`]) as a header value.
    pub client: &'a HeaderValue,
    /// `http` or `https`.
    pub proto: &'a HeaderValue,
    /// The request's (validated) host, if it has one.
    pub host: Option<&'a HeaderValue>,
    /// The port the client connected to, if known.
    pub port: Option<&'a HeaderValue>,
}

/// Rewrite the forwarding headers of a request about to go to a backend (see the module
/// documentation for the rules).
pub fn rewrite(headers: &mut HeaderMap, hop: &Hop<'_>) {
    // One pass finds which of the removed headers are present (nearly always none): a
    // `remove` of an absent name still costs a hash and a probe.
    let mut present = [false; 4];
    for k in headers.keys() {
        if let Some(i) = DROPPED.iter().position(|d| d == k) {
            present[i] = true;
        }
    }
    for (i, name) in DROPPED.iter().enumerate() {
        // From a trusted proxy `X-Forwarded-Prefix` is its view and stays.
        if present[i] && !(hop.trusted && i == PREFIX_AT) {
            headers.remove(name);
        }
    }
    headers.insert(X_REAL_IP, hop.client.clone());
    if hop.trusted {
        append_list(headers, X_FORWARDED_FOR, hop.peer);
        // A front proxy's view is kept only when it is well formed: many pass a client's own
        // `X-Forwarded-Host` on untouched, which must not smuggle `evil"<>` to the backend.
        keep_or_set(headers, X_FORWARDED_PROTO, Some(hop.proto), valid_proto);
        keep_or_set(
            headers,
            X_FORWARDED_HOST,
            hop.host,
            crate::authority::is_valid,
        );
        keep_or_set(headers, X_FORWARDED_PORT, hop.port, valid_port);
        keep_or_set(headers, X_FORWARDED_PREFIX, None, valid_prefix);
        return;
    }
    headers.insert(X_FORWARDED_FOR, hop.peer.clone());
    headers.insert(X_FORWARDED_PROTO, hop.proto.clone());
    set_or_remove(headers, X_FORWARDED_HOST, hop.host);
    set_or_remove(headers, X_FORWARDED_PORT, hop.port);
}

/// Keep the front proxy's single, `valid` value of `name`; otherwise (absent, repeated or
/// malformed) this hop's `value`, or nothing.
fn keep_or_set(
    headers: &mut HeaderMap,
    name: HeaderName,
    value: Option<&HeaderValue>,
    valid: fn(&[u8]) -> bool,
) {
    let mut all = headers.get_all(&name).iter();
    let kept = match (all.next(), all.next()) {
        (Some(v), None) => valid(v.as_bytes()),
        (None, _) => false,
        (Some(_), Some(_)) => false,
    };
    if !kept {
        set_or_remove(headers, name, value);
    }
}

/// `http` or `https`.
fn valid_proto(b: &[u8]) -> bool {
    b.eq_ignore_ascii_case(b"http") || b.eq_ignore_ascii_case(b"https")
}

/// 1 to 65535, digits only.
fn valid_port(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 5
        && b.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .is_some_and(|p| p > 0)
}

/// A path prefix: `/` then path characters (RFC 3986 pchar and `/`), no dot segments.
fn valid_prefix(b: &[u8]) -> bool {
    let pchar = |c: &u8| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(c);
    b.first() == Some(&b'/')
        && b.iter().all(pchar)
        && !b
            .split(|c| *c == b'/')
            .any(|seg| seg == b"." || seg == b"..")
}

fn set_or_remove(headers: &mut HeaderMap, name: HeaderName, value: Option<&HeaderValue>) {
    match value {
        Some(v) => {
            headers.insert(name, v.clone());
        }
        None => {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests;
