//! Field names the fast path acts on: their kinds ([`Kind`], told by the scanner for
//! requests, by [`classify`] for responses) and `Connection` token lists.

pub use crate::guard::scan::FieldKind as Kind;

/// The kind of the field named `name` (any case).
pub fn classify(name: &[u8]) -> Kind {
    Kind::of(name)
}

/// Whether a `Connection` value (a comma-separated token list) lists `name`.
pub fn lists(connection: &[u8], name: &[u8]) -> bool {
    connection
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(name))
}

/// Whether a `Connection` value names fields (tokens other than `close` and `keep-alive`),
/// which then must not be passed on.
pub fn names_fields(connection: &[u8]) -> bool {
    // The values nearly every message carries.
    if connection.eq_ignore_ascii_case(b"keep-alive") || connection.eq_ignore_ascii_case(b"close") {
        return false;
    }
    connection.split(|&b| b == b',').any(|t| {
        let t = t.trim_ascii();
        !t.is_empty() && !t.eq_ignore_ascii_case(b"close") && !t.eq_ignore_ascii_case(b"keep-alive")
    })
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
        assert_eq!(classify(b"Transfer-Encoding"), Kind::TransferEncoding);
        assert_eq!(classify(b"Keep-Alive"), Kind::HopByHop);
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
