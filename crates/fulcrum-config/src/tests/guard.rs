//! Protections: `[listener.rate_limit]`, `[listener.access]`, their route forms, and the
//! connection limits in `[listener.limits]`.

use super::{error, errors, ok, POOL_API};
use crate::model::{RateKey, RateLimit};

/// A listener `web` whose route is `route` and whose own extra tables are `extra` (TOML after
/// the route; lines 1-5 are the listener and the route).
fn with(extra: &str) -> String {
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n[[listener.route]]\npool = \"api\"\n{extra}\n{POOL_API}"
    )
}

#[test]
fn listener_and_route_protections_parse() {
    let cfg = ok(&with(
        "[listener.route.rate_limit]\nrequests_per_second = 5\nkey = \"header:X-Api-Key\"\n\
         [listener.route.access]\ndeny = [\"10.6.6.0/24\"]\n\
         [listener.rate_limit]\nrequests_per_second = 100\nburst = 50\nscope = \"local\"\n\
         [listener.limits]\nmax_connections_per_ip = 256\nnew_connections_per_ip = \"50/s\"\n\
         [listener.access]\nallow = [\"10.0.0.0/8\", \"2001:db8::/32\"]\ndeny = [\"10.6.6.0/24\"]",
    ));
    let l = &cfg.listeners[0];
    assert_eq!(
        l.guards.rate_limit,
        Some(RateLimit {
            requests_per_second: 100,
            burst: 50,
            key: RateKey::ClientIp,
            max_keys: RateLimit::DEFAULT_MAX_KEYS,
        })
    );
    let access = l.guards.access.as_ref().unwrap();
    assert_eq!(access.allow.len(), 2);
    assert_eq!(access.deny[0].to_string(), "10.6.6.0/24");
    assert_eq!(l.limits.max_connections_per_ip, Some(256));
    assert_eq!(l.limits.new_connections_per_ip, Some(50));
    let r = &l.routes[0].guards;
    let rl = r.rate_limit.as_ref().unwrap();
    assert_eq!(
        (rl.requests_per_second, rl.burst),
        (5, 5),
        "burst defaults to the rate"
    );
    assert_eq!(
        rl.key,
        RateKey::Header(http::HeaderName::from_static("x-api-key"))
    );
    assert!(r.access.is_some());
}

/// Cluster scope and `waf`: clear errors until built.
#[test]
fn what_is_not_built_yet_is_a_clear_error() {
    let e = error(&with(
        "[listener.rate_limit]\nrequests_per_second = 1\nscope = \"cluster\"",
    ));
    assert!(
        e.starts_with(
            "8:9: listener \"web\": rate_limit.scope: scope = \"cluster\" needs [cluster].redis"
        ),
        "{e}"
    );
}

#[test]
fn waf_is_decoded() {
    let c = ok(&with(
        "[listener.waf]\nmode = \"detect\"\nparanoia = 2\nmax_body_inspect = \"8KiB\"",
    ));
    let w = c.listeners[0].guards.waf.clone().expect("waf");
    assert_eq!(
        w,
        crate::model::Waf {
            mode: crate::model::WafMode::Detect,
            paranoia: 2,
            max_body_inspect: 8192
        }
    );
    let c = ok(&with("[listener.waf]"));
    assert_eq!(
        c.listeners[0]
            .guards
            .waf
            .as_ref()
            .map(|w| (w.mode, w.paranoia, w.max_body_inspect)),
        Some((crate::model::WafMode::Block, 1, 65536))
    );
    let all = errors(&with(
        "[listener.waf]\nmode = \"deny\"\nparanoia = 5\nmax_body_inspect = \"64XB\"",
    ));
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(
        all[0].starts_with("7:8: listener \"web\": waf.mode: unknown mode \"deny\""),
        "{all:#?}"
    );
    assert!(
        all[1].starts_with("8:12: listener \"web\": waf.paranoia:"),
        "{all:#?}"
    );
    assert!(
        all[2].starts_with("9:20: listener \"web\": waf.max_body_inspect:"),
        "{all:#?}"
    );
    let e = error(&with("[listener.waf]\nblock = true"));
    assert!(e.contains("block"), "{e}");
}

#[test]
fn bad_values_are_refused_where_they_are() {
    let all = errors(&with(
        "[listener.rate_limit]\nrequests_per_second = 0\nburst = -1\nkey = \"header:bad name\"\n\
         [listener.access]\nallow = [\"10.0.0.1/8\"]\n\
         [listener.limits]\nnew_connections_per_ip = \"50/m\"\nmax_connections_per_ip = 0",
    ));
    assert_eq!(all.len(), 6, "{all:#?}");
    assert!(
        all[0].starts_with("7:23: listener \"web\": rate_limit.requests_per_second:"),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|e| e.contains("\"bad name\" is not a valid header name")),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|e| e.contains("invalid CIDR \"10.0.0.1/8\"")),
        "{all:#?}"
    );
    assert!(
        all.iter().any(|e| e.contains("invalid rate \"50/m\"")),
        "{all:#?}"
    );
    let e = error(&with("[listener.access]\nallow = []"));
    assert!(e.contains("lists no network"), "{e}");
    let e = error(&with("[listener.rate_limit]\nburst = 3"));
    assert!(
        e.contains("missing required key \"requests_per_second\""),
        "{e}"
    );
}

#[test]
fn protections_that_do_not_fit_the_protocol_are_refused() {
    let tcp = |extra: &str| {
        format!(
            "[[listener]]\nname = \"db\"\nbind = \"127.0.0.1:5432\"\nprotocol = \"tcp\"\npool = \"api\"\n{extra}\n{POOL_API}"
        )
    };
    let e = error(&tcp("[listener.rate_limit]\nrequests_per_second = 5"));
    assert!(e.contains("a tcp listener has none"), "{e}");
    let cfg = ok(&tcp(
        "[listener.access]\ndeny = [\"::1\"]\n[listener.limits]\nmax_connections_per_ip = 2",
    ));
    assert!(cfg.listeners[0].guards.access.is_some());
    let udp = "[[listener]]\nname = \"dns\"\nbind = \"127.0.0.1:5353\"\nprotocol = \"udp\"\npool = \"api\"\n\
               [listener.access]\ndeny = [\"::1\"]\n[listener.limits]\nnew_connections_per_ip = 5\n";
    let all = errors(&format!("{udp}{POOL_API}"));
    assert_eq!(all.len(), 2, "{all:#?}");
}

#[test]
fn check_summary_names_each_protection_without_secrets() {
    let hash = "ab".repeat(32);
    let text = crate::summary(&ok(&with(&format!(
        "[listener.route.auth]\nkind = \"api_key\"\nheader = \"x-api-key\"\n\
         keys = [{{ name = \"ci\", sha256 = \"{hash}\" }}]\n\
         [listener.route.rate_limit]\nrequests_per_second = 5\nkey = \"api_key\"\n\
         [listener.rate_limit]\nrequests_per_second = 100\nburst = 50\n\
         [listener.limits]\nmax_connections_per_ip = 256\nnew_connections_per_ip = \"50/s\"\n\
         [listener.access]\nallow = [\"10.0.0.0/8\", \"2001:db8::/32\"]\ndeny = [\"10.6.6.0/24\"]\n\
         [listener.waf]\nparanoia = 2"
    ))));
    assert!(
        text.contains("  connections per client address: 256 open, 50/s new\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "  protections: rate limit 100/s burst 50 by client_ip (at most 100000 keys); \
             access 2 allow, 1 deny; waf block at paranoia 2, bodies inspected up to 64KiB\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "    protections (replacing the listener's): rate limit 5/s burst 5 by api_key \
             (at most 100000 keys); auth api_key from header x-api-key, keys ci\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains(&hash),
        "the summary shows a key's hash: {text}"
    );
}
