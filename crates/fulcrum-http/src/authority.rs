//! The request's authority (`Host`, HTTP/2 `:authority`, or an absolute-form target), checked
//! once for every request whatever its HTTP version, before it is routed, logged, forwarded as
//! `X-Forwarded-Host` or written into a redirect's `Location`.
//!
//! Accepted (RFC 9110 §7.2, RFC 3986 §3.2.2): a host name of RFC 3986 unreserved characters
//! (letters, digits, `-`, `.`, `_`, `~`; no empty label), an IPv4 address, or a bracketed IPv6
//! address, optionally followed by `:` and at most five digits (a port up to 65535). RFC 3986
//! also allows sub-delimiters and percent-escapes in a reg-name; no DNS name has them (IDNs
//! travel as A-labels) and they are what Host-header injection uses (`evil.com/x?`,
//! `x"><script>`), so they are refused too. When a request carries both a `Host` header and a
//! URI authority that differ it is refused: the proxy and the backend could each believe a
//! different one (RFC 9113 §8.3.1, RFC 9112 §3.2.2). On https listeners a host whose
//! certificate is not the one the handshake's SNI chose is answered 421 ([`misdirected`]).

use http::{header, HeaderMap, Uri};

use crate::error::ProxyError;

/// Longest host name: a DNS name is at most 253 characters, plus a trailing dot.
const MAX_NAME: usize = 254;

/// What a byte is in a host name: RFC 3986 unreserved characters, the label separator, the
/// port separator, or none of them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Invalid,
    Name,
    Dot,
    Colon,
}

static CLASS: [Class; 256] = {
    let mut t = [Class::Invalid; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'.' => Class::Dot,
            b':' => Class::Colon,
            b'-' | b'_' | b'~' => Class::Name,
            _ if b.is_ascii_alphanumeric() => Class::Name,
            _ => Class::Invalid,
        };
        c += 1;
    }
    t
};

/// Whether `b` is a valid authority (host and optional port). The empty string is valid
/// (RFC 9112 §3.2 lets a client send an empty `Host`); callers treat it as no host. One pass
/// over the bytes, no allocation.
pub fn is_valid(b: &[u8]) -> bool {
    let rest = if let Some(inner) = b.strip_prefix(b"[") {
        let Some(end) = inner.iter().position(|&c| c == b']') else {
            return false;
        };
        let literal = std::str::from_utf8(&inner[..end])
            .ok()
            .and_then(|s| s.parse::<std::net::Ipv6Addr>().ok());
        if literal.is_none() {
            return false;
        }
        &inner[end + 1..]
    } else {
        // A name: no empty label (a leading `.` or `..`), at most MAX_NAME bytes.
        let mut after_dot = true;
        let mut len = b.len();
        for (i, &c) in b.iter().enumerate() {
            match CLASS[usize::from(c)] {
                Class::Name => after_dot = false,
                Class::Dot if !after_dot => after_dot = true,
                Class::Colon => {
                    len = i;
                    break;
                }
                _ => return false,
            }
        }
        if len > MAX_NAME || (len == 0 && !b.is_empty()) {
            return false;
        }
        &b[len..]
    };
    match rest {
        [] => true,
        [b':', port @ ..] => {
            port.len() <= 5
                && port.iter().all(u8::is_ascii_digit)
                && port.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
                    <= u32::from(u16::MAX)
        }
        _ => false,
    }
}

/// The request's authority: its `Host` header, else the URI's authority (HTTP/2 `:authority`,
/// HTTP/1 absolute-form). `Ok(None)` when it has none (or an empty `Host`); `Err` when it is
/// invalid, or when `Host` and the URI's authority both exist and differ.
pub fn authority<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Result<Option<&'a str>, ProxyError> {
    let from_uri = uri.authority().map(|a| a.as_str());
    let raw = match headers.get(header::HOST) {
        Some(h) => {
            let h = h.to_str().map_err(|_| ProxyError::InvalidHost)?;
            if from_uri.is_some_and(|u| !same_authority(uri, u, h)) {
                return Err(ProxyError::InvalidHost);
            }
            h
        }
        None => match from_uri {
            Some(u) => u,
            None => return Ok(None),
        },
    };
    if !is_valid(raw.as_bytes()) {
        return Err(ProxyError::InvalidHost);
    }
    Ok((!raw.is_empty()).then_some(raw))
}

/// Whether the URI's authority `u` and the `Host` value `h` name the same place: equal but for
/// case, or equal once the URI scheme's default port (`:80` for http, `:443` for https) is
/// left off either (`http://a.example:80/` with `Host: a.example`).
fn same_authority(uri: &Uri, u: &str, h: &str) -> bool {
    if u.eq_ignore_ascii_case(h) {
        return true;
    }
    let default = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => ":80",
        Some(s) if s.eq_ignore_ascii_case("https") => ":443",
        _ => return false,
    };
    let strip = |a: &'_ str| -> String {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default) {
            Some(rest) => rest.to_owned(),
            None => a,
        }
    };
    strip(u) == strip(h)
}

/// Whether a request for `host` (a valid authority) on a connection whose TLS handshake named
/// `sni` must be answered 421 Misdirected Request: the two names select different
/// certificates, so the connection was never authenticated for `host` (an HTTP/2 connection
/// reused for another name, or domain fronting). Connections without SNI are not judged: a
/// client that connects by address (some health checkers, load balancers) gets the default
/// certificate whatever it asks for.
pub fn misdirected(tls: &fulcrum_tls::TlsAcceptor, sni: &str, host: &str) -> bool {
    // The name without port, brackets or trailing dot, as routes see it.
    let Some(name) = fulcrum_route::request_host(host) else {
        return false;
    };
    !name.eq_ignore_ascii_case(sni) && !tls.same_certificate(sni, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 7 item 13: Host values that are not a host (and optional port) are refused.
    #[test]
    fn invalid_hosts_are_refused() {
        for bad in [
            "evil.com/x?",
            "x\"><script>",
            "a b",
            "a\tb",
            "evil.com#",
            "user@host",
            "a,b",
            "a;b",
            "%65vil.com",
            "host:80:80",
            "host:8x",
            "host:123456",
            "host:65536",
            "[::1",
            "[::1]x",
            "[zz::1]",
            "[v1.x]",
            "::1",
            ".a.com",
            "a..com",
            "é.com",
            ":80",
        ] {
            assert!(!is_valid(bad.as_bytes()), "{bad:?} accepted");
        }
    }

    #[test]
    fn hosts_and_ports_are_accepted() {
        for good in [
            "",
            "example.com",
            "Example.COM.",
            "a-b_c~d.example:8080",
            "127.0.0.1",
            "127.0.0.1:65535",
            "[::1]",
            "[2001:db8::1]:443",
            "localhost:",
            "[::1]:",
            "x",
        ] {
            assert!(is_valid(good.as_bytes()), "{good:?} refused");
        }
        let long = "a".repeat(MAX_NAME + 1);
        assert!(!is_valid(long.as_bytes()));
        assert!(is_valid("a".repeat(MAX_NAME).as_bytes()));
    }

    #[test]
    fn host_and_uri_authority_must_agree() {
        let uri: Uri = "http://a.example/x".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(authority(&uri, &h).unwrap(), Some("a.example"));
        h.insert(header::HOST, "A.example".parse().unwrap());
        assert_eq!(authority(&uri, &h).unwrap(), Some("A.example"));
        h.insert(header::HOST, "b.example".parse().unwrap());
        assert!(matches!(authority(&uri, &h), Err(ProxyError::InvalidHost)));
        let origin: Uri = "/x".parse().unwrap();
        assert_eq!(authority(&origin, &h).unwrap(), Some("b.example"));
        h.insert(header::HOST, "".parse().unwrap());
        assert_eq!(authority(&origin, &h).unwrap(), None);
        assert_eq!(authority(&origin, &HeaderMap::new()).unwrap(), None);
        h.insert(header::HOST, "x\"><script>".parse().unwrap());
        assert!(authority(&origin, &h).is_err());
    }

    /// Issue 7 item 13 (review): an absolute-form target with its scheme's default port names
    /// the same place as a `Host` without it (RFC 9110 §4.2.3), and is not refused.
    #[test]
    fn default_ports_name_the_same_authority() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "a.example".parse().unwrap());
        let uri: Uri = "http://a.example:80/x".parse().unwrap();
        assert_eq!(authority(&uri, &h).unwrap(), Some("a.example"));
        let uri: Uri = "https://a.example:443/x".parse().unwrap();
        assert_eq!(authority(&uri, &h).unwrap(), Some("a.example"));
        h.insert(header::HOST, "A.example:443".parse().unwrap());
        let uri: Uri = "https://a.example/x".parse().unwrap();
        assert!(authority(&uri, &h).is_ok());
        // Another port, or the other scheme's default, is another place.
        let uri: Uri = "http://a.example/x".parse().unwrap();
        assert!(authority(&uri, &h).is_err());
        h.insert(header::HOST, "a.example:8080".parse().unwrap());
        let uri: Uri = "http://a.example:80/x".parse().unwrap();
        assert!(authority(&uri, &h).is_err());
    }
}
