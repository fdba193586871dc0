//! Host patterns and the normalisation of a request's host.
//!
//! Both sides are compared in one canonical form: lowercase (ASCII), no port, no trailing dot,
//! and an IPv6 literal without its brackets. Patterns are canonicalised once when the table is
//! built; a request host is canonicalised by slicing (case is handled by the comparison), so a
//! lookup allocates nothing.

/// The host a route matches; names are compared case-insensitively and without the port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this name, e.g. `api.example.com` (an IPv6 literal with or without brackets).
    Exact(String),
    /// Any name under this suffix, given as `.example.com` (`*.example.com` is accepted too):
    /// matches `a.example.com` and `a.b.example.com`, not `example.com`.
    Wildcard(String),
}

impl HostPattern {
    /// The canonical form the table stores: lowercase, no trailing dot, no IPv6 brackets, and a
    /// wildcard suffix that starts with exactly one `.`.
    pub(crate) fn canonical(self) -> HostPattern {
        match self {
            HostPattern::Exact(name) => {
                let name = name.trim_end_matches('.');
                let name = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
                    Some(inner) => inner,
                    None => name,
                };
                HostPattern::Exact(name.to_ascii_lowercase())
            }
            HostPattern::Wildcard(suffix) => {
                let suffix = suffix.trim_end_matches('.').trim_start_matches('*');
                let suffix = suffix.trim_start_matches('.');
                HostPattern::Wildcard(format!(".{}", suffix.to_ascii_lowercase()))
            }
        }
    }

    /// Whether a request host, already passed through [`request_host`], matches this (canonical)
    /// pattern.
    pub(crate) fn matches(&self, host: &str) -> bool {
        let host = host.as_bytes();
        match self {
            HostPattern::Exact(name) => host.eq_ignore_ascii_case(name.as_bytes()),
            HostPattern::Wildcard(suffix) => {
                let suffix = suffix.as_bytes();
                host.len() > suffix.len()
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
        }
    }
}

/// The name part of a request's `Host` header or URI authority, by slicing: the port, one
/// trailing dot and IPv6 brackets are removed; case is left for the comparison.
///
/// `[::1]:8080` → `::1`; `Example.COM.:80` → `Example.COM`; a bare IPv6 address (several
/// colons, no brackets — not valid in `Host`, accepted anyway) is kept whole. `None` for an
/// empty host.
pub fn request_host(raw: &str) -> Option<&str> {
    let name = if let Some(rest) = raw.strip_prefix('[') {
        // An IPv6 literal: the port, if any, follows the closing bracket.
        match rest.find(']') {
            Some(end) => &rest[..end],
            None => raw,
        }
    } else {
        match raw.split_once(':') {
            Some((name, port)) if !port.contains(':') => name,
            _ => raw,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_host_strips_port_dot_and_brackets() {
        let cases = [
            ("example.com", Some("example.com")),
            ("Example.COM:8080", Some("Example.COM")),
            ("example.com.", Some("example.com")),
            ("example.com.:443", Some("example.com")),
            ("[::1]:8080", Some("::1")),
            ("[::1]", Some("::1")),
            ("[2001:DB8::1]:443", Some("2001:DB8::1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("127.0.0.1:80", Some("127.0.0.1")),
            ("[::1", Some("[::1")),
            ("", None),
            (":80", None),
            (".", None),
        ];
        for (raw, want) in cases {
            assert_eq!(request_host(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn patterns_are_canonicalised() {
        let exact = |s: &str| HostPattern::Exact(s.into()).canonical();
        let wild = |s: &str| HostPattern::Wildcard(s.into()).canonical();
        assert_eq!(
            exact("API.Example.com."),
            HostPattern::Exact("api.example.com".into())
        );
        assert_eq!(exact("[::1]"), HostPattern::Exact("::1".into()));
        assert_eq!(
            wild(".Example.COM"),
            HostPattern::Wildcard(".example.com".into())
        );
        assert_eq!(
            wild("*.example.com"),
            HostPattern::Wildcard(".example.com".into())
        );
        assert_eq!(
            wild("example.com."),
            HostPattern::Wildcard(".example.com".into())
        );
    }

    #[test]
    fn wildcard_needs_a_label_before_the_suffix() {
        let wild = HostPattern::Wildcard(".example.com".into());
        assert!(wild.matches("a.example.com"));
        assert!(wild.matches("a.b.example.com"));
        assert!(wild.matches("A.Example.Com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches(".example.com"));
        assert!(!wild.matches("aexample.com"));
        assert!(!wild.matches("a.example.com.evil"));
    }

    #[test]
    fn non_ascii_hosts_do_not_panic() {
        let wild = HostPattern::Wildcard(".example.com".into());
        assert!(!wild.matches("é.exämple.com"));
        assert!(!HostPattern::Exact("é".into()).matches("É"));
        assert_eq!(request_host("é:1"), Some("é"));
    }
}
