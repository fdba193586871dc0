//! Who may use the admin listener: bearer tokens and the Host check against DNS rebinding.
//!
//! - `/api/*` needs `token` when one is configured; `/metrics` needs `metrics_token` (or
//!   `token`) when one is configured; `/healthz` and `/ready` never need anything.
//! - A request that did not prove itself with a token must name this listener in `Host`
//!   (`localhost`, or the IP address the connection arrived on; any port) when the listener is
//!   on loopback or has no token. A DNS-rebinding page reaches a loopback port through a name
//!   of its own (`evil.example` resolving to 127.0.0.1) and controls Origin and Host alike, but
//!   it cannot make the browser send `Host: localhost` or an IP literal, nor read a token the
//!   operator keeps for this origin. The port is not checked: a rebinding page's name is what
//!   gives it away, and SSH tunnels and port forwards legitimately change the port.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::{header, Request};

/// The credentials in force, read for every request (a reload changes them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// `[admin] token`: required as `Authorization: Bearer ...` on `/api/*`.
    pub token: Option<String>,
    /// `[admin] metrics_token`: when set, `/metrics` requires it (or `token`).
    pub metrics_token: Option<String>,
}

impl Access {
    /// The tokens that open `path`; empty when it needs none.
    pub(crate) fn tokens_for(&self, path: &str) -> Vec<&str> {
        if path == "/api" || path.starts_with("/api/") {
            return self.token.as_deref().into_iter().collect();
        }
        if path == "/metrics" {
            if let Some(m) = &self.metrics_token {
                return [Some(m.as_str()), self.token.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
            }
        }
        Vec::new()
    }
}

/// Constant-time comparison of the presented token with the configured one.
pub fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(presented.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(0);
        diff |= p ^ e;
    }
    diff == 0
}

/// Whether the request's bearer token is one of `tokens` (each compared in constant time).
pub(crate) fn bearer_matches<B>(req: &Request<B>, tokens: &[&str]) -> bool {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or(b"");
    // Every token is compared, so the time does not say which one matched.
    tokens
        .iter()
        .fold(false, |ok, t| token_matches(presented, t.as_bytes()) | ok)
}

/// Whether the request names this listener: its `Host` (and the authority of an absolute-form
/// target, when there is one) is `localhost` or `local`'s IP address, with any port or none.
pub(crate) fn names_this_listener<B>(req: &Request<B>, local: SocketAddr) -> bool {
    // Exactly one `Host`: with two, the check and whoever reads the request next could each
    // believe a different one.
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return false;
    };
    let ok = |value: &[u8]| std::str::from_utf8(value).is_ok_and(|v| host_is(v, local.ip()));
    ok(host.as_bytes())
        && req
            .uri()
            .authority()
            .is_none_or(|a| ok(a.as_str().as_bytes()))
}

/// `value` is `name` or `name:port` (IPv6 in brackets), naming `localhost` or `local`.
fn host_is(value: &str, local: IpAddr) -> bool {
    let (name, port) = match value.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, "")) => (v6, None),
            Some((v6, after)) => match after.strip_prefix(':') {
                Some(port) => (v6, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match value.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (value, None),
        },
    };
    let port_ok = port.is_none_or(|digits| {
        !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if !port_ok {
        return false;
    }
    if name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    let ip = if value.starts_with('[') {
        name.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        name.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    };
    ip.is_some_and(|ip| ip.to_canonical() == local.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(token_matches(b"s3cret", b"s3cret"));
        assert!(!token_matches(b"s3cres", b"s3cret"));
        assert!(!token_matches(b"s3cre", b"s3cret"));
        assert!(!token_matches(b"s3cret!", b"s3cret"));
        assert!(!token_matches(b"", b"s3cret"));
    }

    /// Issue 7 item 4: only `localhost` and the listener's own address pass.
    #[test]
    fn host_names_localhost_or_the_listener_address() {
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        for ok in [
            "localhost",
            "LocalHost:9900",
            "localhost.:80",
            "127.0.0.1",
            "127.0.0.1:9900",
            "127.0.0.1:1",
        ] {
            assert!(host_is(ok, v4), "{ok}");
        }
        for ok in [
            "[::1]",
            "[::1]:9900",
            "localhost:9900",
            "[0:0:0:0:0:0:0:1]:9900",
        ] {
            assert!(host_is(ok, v6), "{ok}");
        }
        // A v4 connection to a dual-stack socket arrives as ::ffff:127.0.0.1.
        assert!(host_is(
            "127.0.0.1:9900",
            "::ffff:127.0.0.1".parse().unwrap()
        ));
        for bad in [
            "evil.example",
            "evil.example:9900",
            "localhost.evil.example",
            "127.0.0.1.nip.io:9900",
            "127.0.0.2:9900",
            "[::1]:9900",
            "127.0.0.1:",
            "127.0.0.1:99x",
            "127.0.0.1:123456",
            "localhost:9900:1",
            "[::1",
            "",
            "::1",
        ] {
            assert!(!host_is(bad, v4), "{bad}");
        }
        assert!(!host_is("127.0.0.1:9900", v6));
        assert!(!host_is("::1", v6), "an IPv6 literal needs brackets");
    }

    /// Issue 7 item 4 (review): a request with two `Host` fields names no listener, whichever
    /// comes first.
    #[test]
    fn two_host_fields_name_no_listener() {
        let local: SocketAddr = "127.0.0.1:9900".parse().unwrap();
        let req = |hosts: &[&str]| {
            let mut b = Request::builder().uri("/api/v1/pools");
            for h in hosts {
                b = b.header(header::HOST, *h);
            }
            b.body(()).unwrap()
        };
        assert!(names_this_listener(&req(&["localhost"]), local));
        assert!(!names_this_listener(
            &req(&["localhost", "evil.com"]),
            local
        ));
        assert!(!names_this_listener(
            &req(&["evil.com", "localhost"]),
            local
        ));
        assert!(!names_this_listener(&req(&[]), local));
    }

    #[test]
    fn tokens_per_path() {
        let none = Access::default();
        assert!(none.tokens_for("/api/v1/pools").is_empty());
        assert!(none.tokens_for("/metrics").is_empty());
        let both = Access {
            token: Some("t".into()),
            metrics_token: Some("m".into()),
        };
        assert_eq!(both.tokens_for("/api/v1/reload"), ["t"]);
        assert_eq!(both.tokens_for("/metrics"), ["m", "t"]);
        assert!(both.tokens_for("/").is_empty());
        assert!(both.tokens_for("/ready").is_empty());
        let main_only = Access {
            token: Some("t".into()),
            metrics_token: None,
        };
        assert!(main_only.tokens_for("/metrics").is_empty());
    }
}
