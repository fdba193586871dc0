//! `[[listener]]`: names, binds, protocol, timeouts, limits, unsupported parts. TLS is in
//! `tls.rs`.

use std::time::Duration;

use super::{error, errors, ok};

/// A listener `web` on 127.0.0.1:8080 with `extra` lines appended.
fn web(extra: &str) -> String {
    format!("[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n{extra}")
}

#[test]
fn name_and_bind_are_required() {
    assert_eq!(
        errors("[[listener]]\nprotocol = \"http\"\n"),
        [
            "1:1: listener #1: missing required key \"name\"",
            "1:1: listener #1: missing required key \"bind\"",
        ]
    );
}

#[test]
fn names_are_unique() {
    let src = format!(
        "{}{}",
        web(""),
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8081\"\n"
    );
    assert_eq!(
        error(&src),
        "5:8: listener \"web\": duplicate listener name \"web\""
    );
}

#[test]
fn bind_is_one_address_or_a_list() {
    let cfg = ok("[[listener]]\nname = \"a\"\nbind = [\"0.0.0.0:80\", \"[::]:80\"]\n");
    assert_eq!(cfg.listeners[0].binds.len(), 2);
    assert!(cfg.listeners[0].binds[1].is_ipv6());
    assert_eq!(
        error("[[listener]]\nname = \"a\"\nbind = []\n"),
        "3:8: listener \"a\": bind: must list at least one address"
    );
    assert_eq!(
        error("[[listener]]\nname = \"a\"\nbind = [\"0.0.0.0:80\", \"*:80\"]\n"),
        "3:23: listener \"a\": bind[1]: invalid address \"*:80\" (expected IP:PORT, e.g. \
         \"0.0.0.0:8080\" or \"[::]:8080\")"
    );
    assert_eq!(
        error("[[listener]]\nname = \"a\"\nbind = 8080\n"),
        "3:8: listener \"a\": bind: expected an address string or a list of them, found an integer"
    );
}

#[test]
fn duplicate_binds_are_errors() {
    let src = "[admin]\nbind = \"127.0.0.1:9900\"\n\
               [[listener]]\nname = \"a\"\nbind = [\"127.0.0.1:80\", \"127.0.0.1:9900\"]\n\
               [[listener]]\nname = \"b\"\nbind = \"127.0.0.1:80\"\n";
    assert_eq!(
        errors(src),
        [
            "5:25: listener \"a\": bind[1]: 127.0.0.1:9900 is already bound by admin",
            "8:8: listener \"b\": bind: 127.0.0.1:80 is already bound by listener \"a\"",
        ]
    );
    // Port 0 asks the kernel for a free port: never a conflict.
    ok("[[listener]]\nname = \"a\"\nbind = \"127.0.0.1:0\"\n[[listener]]\nname = \"b\"\nbind = \"127.0.0.1:0\"\n");
}

#[test]
fn unknown_protocols_list_the_known_ones() {
    assert_eq!(
        error(&web("protocol = \"htp\"\n")),
        "4:12: listener \"web\": unknown protocol \"htp\" (expected one of: http, https, tcp, udp, tls_passthrough)"
    );
}

/// A tcp listener `db` relaying to pool `db`, with `extra` lines appended to the listener.
pub(super) fn tcp(extra: &str) -> String {
    format!(
        "[[listener]]\nname = \"db\"\nbind = \"127.0.0.1:5432\"\nprotocol = \"tcp\"\npool = \"db\"\n{extra}\
         [pool.db]\nbackends = [{{ address = \"127.0.0.1:15432\" }}]\n"
    )
}

#[test]
fn tcp_listeners_relay_to_their_pool_with_layer_4_defaults() {
    let cfg = ok(&tcp(""));
    let l = &cfg.listeners[0];
    assert_eq!(l.protocol, crate::model::Protocol::Tcp);
    assert_eq!(l.pool.as_deref(), Some("db"));
    assert!(l.routes.is_empty());
    // Idle connections of a database pool last minutes: ten of them by default.
    assert_eq!(l.timeouts.idle, Duration::from_secs(600));
    let cfg = ok(&tcp(
        "[listener.timeouts]\nidle = \"1h\"\n[listener.limits]\nmax_connections = 7\n",
    ));
    assert_eq!(cfg.listeners[0].timeouts.idle, Duration::from_secs(3600));
    assert_eq!(cfg.listeners[0].limits.max_connections, 7);
    // Other listeners keep their HTTP defaults and have no pool of their own.
    let cfg = ok(&web(""));
    assert_eq!(cfg.listeners[0].timeouts.idle, Duration::from_secs(60));
    assert_eq!(cfg.listeners[0].pool, None);
}

#[test]
fn a_tcp_listener_needs_a_defined_pool() {
    assert_eq!(
        error("[[listener]]\nname = \"db\"\nbind = \"127.0.0.1:5432\"\nprotocol = \"tcp\"\n"),
        "4:12: listener \"db\": a tcp listener needs pool = \"NAME\": the pool its connections are relayed to"
    );
    assert_eq!(
        error(
            "[[listener]]\nname = \"db\"\nbind = \"127.0.0.1:5432\"\nprotocol = \"tcp\"\npool = \"pg\"\n\
             [pool.db]\nbackends = [{ address = \"127.0.0.1:15432\" }]\n"
        ),
        "5:8: listener \"db\": pool: unknown pool \"pg\" (defined pools: db)"
    );
}

#[test]
fn pool_is_only_for_tcp_and_udp_listeners() {
    assert_eq!(
        error(&web("pool = \"db\"\n")),
        "4:1: listener \"web\": pool is for tcp and udp listeners (this one is http); http listeners name their pools in [[listener.route]]"
    );
}

#[test]
fn tcp_listeners_refuse_what_only_http_uses() {
    assert_eq!(
        errors(&tcp(
            "engine = \"hyper\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
             [listener.timeouts]\nrequest = \"5s\"\n[listener.limits]\nmax_body_bytes = 10\n\
             [[listener.route]]\npool = \"db\"\n"
        )),
        [
            "6:1: listener \"db\": engine: engine is for http and https listeners",
            "7:1: listener \"db\": trusted_proxies: trusted_proxies is for http and https listeners; a tcp listener does not see the HTTP headers it would apply to",
            "9:1: listener \"db\": timeouts.request: request is for http listeners; a tcp listener does not use it",
            "11:1: listener \"db\": limits.max_body_bytes: max_body_bytes is for http listeners; a tcp listener does not use it",
            "12:12: listener \"db\": route: a tcp listener has no routes: it relays every connection to its pool",
        ]
    );
    assert!(error(&tcp("[listener.tls]\n"))
        .contains("[listener.tls] is only for https listeners (this one is tcp)"));
}

#[test]
fn timeouts_parse_and_must_be_positive() {
    let cfg = ok(&web(
        "[listener.timeouts]\nheader = \"5s\"\nidle = \"2m\"\n",
    ));
    let t = cfg.listeners[0].timeouts;
    assert_eq!(
        (t.header, t.idle, t.request),
        (
            Duration::from_secs(5),
            Duration::from_secs(120),
            Duration::from_secs(60)
        )
    );
    assert_eq!(
        errors(&web("[listener.timeouts]\nheader = \"0s\"\nidle = 60\nrequest = \"60\"\n")),
        [
            "5:10: listener \"web\": timeouts.header: must be greater than 0",
            "6:8: listener \"web\": timeouts.idle: expected a duration string with a unit, e.g. \"10s\", found an integer",
            "7:11: listener \"web\": timeouts.request: missing unit in duration \"60\" (expected a number \
             followed by one of the units ms, s, m, h, e.g. \"10s\")",
        ]
    );
}

#[test]
fn limits_parse_and_are_bounded() {
    let cfg = ok(&web("[listener.limits]\nmax_header_bytes = 8192\nmax_body_bytes = \"1GiB\"\nmax_connections = 10\n"));
    let l = cfg.listeners[0].limits;
    assert_eq!(
        (l.max_header_bytes, l.max_body_bytes, l.max_connections),
        (8192, 1 << 30, 10)
    );
    assert_eq!(
        errors(&web("[listener.limits]\nmax_header_bytes = \"4KiB\"\nmax_body_bytes = \"lots\"\nmax_connections = 0\n")),
        [
            "5:20: listener \"web\": limits.max_header_bytes: must be between 8KiB and 1MiB, found 4KiB",
            "6:18: listener \"web\": limits.max_body_bytes: invalid size \"lots\" (expected an integer \
             followed by one of the units B, KB, KiB, MB, MiB, GB, GiB, TB, TiB, e.g. \"16KiB\")",
            "7:19: listener \"web\": limits.max_connections: must be between 1 and 4294967295, found 0",
        ]
    );
    assert_eq!(
        error(&web("[listener.limits]\nmax_header_bytes = \"2MiB\"\n")),
        "5:20: listener \"web\": limits.max_header_bytes: must be between 8KiB and 1MiB, found 2MiB"
    );
}

#[test]
fn listener_must_be_an_array_of_tables() {
    assert_eq!(
        error("[listener]\nname = \"web\"\n"),
        "1:1: listener: expected an array of tables ([[listener]]), found a table"
    );
    assert_eq!(
        error(&web("[listener.route]\npool = \"x\"\n")),
        "4:1: listener \"web\": route: expected an array of tables ([[listener.route]]), found a table"
    );
}

/// Issue 7 item 11: durations had no upper bound: a huge `idle` panicked every connection and
/// a huge `drain_timeout` panicked the main thread on a reload that removed a backend. Every
/// duration is capped (24h unless a setting says otherwise), with a clear error.
#[test]
fn durations_are_capped() {
    let all = errors(&format!(
        "{}timeouts = {{ idle = \"100000000h\", header = \"25h\", request = \"24h\" }}\n\
         [pool.p]\nbackends = [{{ address = \"127.0.0.1:1\" }}]\n\
         drain_timeout = \"9999999999h\"\nslow_start = \"1441m\"\n\
         health = {{ interval = \"86401s\" }}\n\
         outlier = {{ max_ejection_time = \"48h\" }}\n",
        web("")
    ));
    assert_eq!(
        all,
        [
            "4:21: listener \"web\": timeouts.idle: must be at most 24h, found \"100000000h\"",
            "4:44: listener \"web\": timeouts.header: must be at most 24h, found \"25h\"",
            "7:17: pool \"p\": drain_timeout: must be at most 24h, found \"9999999999h\"",
            "8:14: pool \"p\": slow_start: must be at most 24h, found \"1441m\"",
            "9:23: pool \"p\": health.interval: must be at most 24h, found \"86401s\"",
            "10:33: pool \"p\": outlier.max_ejection_time: must be at most 24h, found \"48h\"",
        ]
    );
    // The cap itself is allowed.
    let cfg = ok(&web("timeouts = { idle = \"24h\" }\n"));
    assert_eq!(cfg.listeners[0].timeouts.idle, Duration::from_secs(86_400));
}

/// Issue 7 item 1: the HTTP/2 limits and the send timeout parse, default and are bounded.
#[test]
fn h2_limits_and_send_timeout_parse_and_are_bounded() {
    let d = ok(&web(""));
    let (l, t) = (d.listeners[0].limits, d.listeners[0].timeouts);
    assert_eq!(
        (
            l.h2_max_concurrent_streams,
            l.h2_max_backend_connections,
            t.send
        ),
        (100, 32, Duration::from_secs(15))
    );
    let cfg = ok(&web(
        "[listener.limits]\nh2_max_concurrent_streams = 10\nh2_max_backend_connections = 4\n\
         [listener.timeouts]\nsend = \"3s\"\n",
    ));
    let (l, t) = (cfg.listeners[0].limits, cfg.listeners[0].timeouts);
    assert_eq!(
        (
            l.h2_max_concurrent_streams,
            l.h2_max_backend_connections,
            t.send
        ),
        (10, 4, Duration::from_secs(3))
    );
    assert_eq!(
        errors(&web(
            "[listener.limits]\nh2_max_concurrent_streams = 0\nh2_max_backend_connections = 20000\n\
             [listener.timeouts]\nsend = \"0s\"\n"
        )),
        [
            "5:29: listener \"web\": limits.h2_max_concurrent_streams: must be between 1 and 10000, found 0",
            "6:30: listener \"web\": limits.h2_max_backend_connections: must be between 1 and 10000, found 20000",
            "8:8: listener \"web\": timeouts.send: must be greater than 0",
        ]
    );
}

#[test]
fn proxy_protocol_is_read_from_trusted_front_balancers_on_any_listener() {
    for protocol in ["http", "tcp", "tls_passthrough"] {
        let src = match protocol {
            "tcp" => tcp("[listener.proxy_protocol]\ntrusted = [\"10.0.0.0/8\", \"::1/128\"]\n"),
            p => web(&format!(
                "protocol = \"{p}\"\n[listener.proxy_protocol]\ntrusted = [\"10.0.0.0/8\", \"::1/128\"]\n"
            )),
        };
        let cfg = ok(&src);
        let pp = cfg.listeners[0].proxy_protocol.as_ref().expect(protocol);
        assert_eq!(pp.trusted.len(), 2, "{protocol}");
        assert!(pp.trusted[0].contains("10.1.2.3".parse().unwrap()));
    }
    assert_eq!(ok(&web("")).listeners[0].proxy_protocol, None);
    assert_eq!(
        error(&web("[listener.proxy_protocol]\ntrusted = []\n")),
        "5:11: listener \"web\": proxy_protocol.trusted: must list the front load balancers (CIDRs) that send the header"
    );
    assert_eq!(
        error(&web("[listener.proxy_protocol]\n")),
        "4:1: listener \"web\": proxy_protocol: missing required key \"trusted\""
    );
    assert_eq!(
        error(&web("[listener.proxy_protocol]\ntrusted = [\"10.0.0.1/8\"]\n")),
        "5:12: listener \"web\": proxy_protocol.trusted[0]: invalid CIDR \"10.0.0.1/8\": host bits are set (the network is 10.0.0.0/8) (expected e.g. \"10.0.0.0/8\", \"2001:db8::/32\" or one address)"
    );
}

#[test]
fn pools_send_proxy_headers_only_to_layer_4_listeners() {
    let cfg = ok(&tcp("").replace("[pool.db]\n", "[pool.db]\nproxy_protocol = \"v2\"\n"));
    assert_eq!(
        cfg.pools[0].proxy_protocol,
        Some(crate::model::ProxyVersion::V2)
    );
    let cfg = ok(&tcp("").replace("[pool.db]\n", "[pool.db]\nproxy_protocol = \"v1\"\n"));
    assert_eq!(
        cfg.pools[0].proxy_protocol,
        Some(crate::model::ProxyVersion::V1)
    );
    assert_eq!(
        error(&tcp("").replace("[pool.db]\n", "[pool.db]\nproxy_protocol = \"v3\"\n")),
        "7:18: pool \"db\": proxy_protocol: unknown PROXY protocol version \"v3\" (expected one of: v1, v2)"
    );
    let http = "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n[[listener.route]]\npool = \"app\"\n\
                [pool.app]\nproxy_protocol = \"v1\"\nbackends = [{ address = \"127.0.0.1:9000\" }]\n";
    assert_eq!(
        error(http),
        "7:1: pool \"app\": proxy_protocol: a pool that sends a PROXY header serves only tcp, udp and tls_passthrough listeners, and listener \"web\" (http) routes to it; HTTP backends learn the client from X-Forwarded-For"
    );
}
