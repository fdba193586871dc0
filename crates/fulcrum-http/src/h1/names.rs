//! Field names the fast path acts on, classified once per field by length and bytes (no
//! hashing, no allocation, ASCII case-insensitive).

/// What a request or response field is to a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Passed on as it came.
    Other,
    /// Hop-by-hop (RFC 9110 §7.6.1, plus `Keep-Alive`, `Proxy-Connection` and the
    /// `Proxy-Authenticate`/`-Authorization` pair): never passed on.
    HopByHop,
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

/// The kind of the field named `name`.
pub fn classify(name: &[u8]) -> Kind {
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    match name.len() {
        2 if is(b"te") => Kind::HopByHop,
        4 if is(b"host") => Kind::Host,
        4 if is(b"date") => Kind::Date,
        6 if is(b"expect") => Kind::Expect,
        7 if is(b"upgrade") => Kind::HopByHop,
        9 if is(b"forwarded") => Kind::Forwarding,
        9 if is(b"x-real-ip") => Kind::Forwarding,
        10 if is(b"connection") => Kind::Connection,
        10 if is(b"keep-alive") => Kind::HopByHop,
        12 if is(b"x-request-id") => Kind::RequestId,
        13 if is(b"x-rewrite-url") => Kind::Forwarding,
        14 if is(b"content-length") => Kind::ContentLength,
        14 if is(b"x-original-url") => Kind::Forwarding,
        15 if is(b"x-forwarded-for") => Kind::Forwarding,
        16 if is(b"proxy-connection") => Kind::HopByHop,
        16 if is(b"x-forwarded-host") => Kind::Forwarding,
        16 if is(b"x-forwarded-port") => Kind::Forwarding,
        17 if is(b"transfer-encoding") => Kind::HopByHop,
        17 if is(b"x-forwarded-proto") => Kind::Forwarding,
        18 if is(b"proxy-authenticate") => Kind::HopByHop,
        18 if is(b"x-forwarded-prefix") => Kind::Forwarding,
        19 if is(b"proxy-authorization") => Kind::HopByHop,
        25 if is(b"strict-transport-security") => Kind::StrictTransportSecurity,
        _ => Kind::Other,
    }
}

/// Whether a `Connection` value (a comma-separated token list) lists `name`.
pub fn lists(connection: &[u8], name: &[u8]) -> bool {
    connection
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(name))
}

/// Whether a `Connection` value asks to close.
pub fn says_close(connection: &[u8]) -> bool {
    lists(connection, b"close")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified_in_any_case() {
        assert_eq!(classify(b"Transfer-Encoding"), Kind::HopByHop);
        assert_eq!(classify(b"CONTENT-LENGTH"), Kind::ContentLength);
        assert_eq!(classify(b"X-Forwarded-For"), Kind::Forwarding);
        assert_eq!(classify(b"x-forwarded-fo"), Kind::Other);
        assert_eq!(classify(b"Connection"), Kind::Connection);
        assert_eq!(classify(b""), Kind::Other);
        assert!(lists(b"keep-alive, X-Secret ,close", b"x-secret"));
        assert!(says_close(b"Close"));
        assert!(!says_close(b"closed"));
    }
}
