//! `protocol = "udp"` listeners: their pool, their defaults, and everything they refuse.

use std::time::Duration;

use super::listener::tcp;
use super::{error, errors, ok};
use crate::model::{Protocol, ProxyVersion};

/// A udp listener `dns` relaying to pool `dns`, with `extra` lines appended to the listener
/// and `pool_extra` to the pool.
fn udp(extra: &str, pool_extra: &str) -> String {
    format!(
        "[[listener]]\nname = \"dns\"\nbind = \"127.0.0.1:5353\"\nprotocol = \"udp\"\npool = \"dns\"\n{extra}\
         [pool.dns]\n{pool_extra}backends = [{{ address = \"127.0.0.1:15353\" }}]\n"
    )
}

#[test]
fn udp_listeners_relay_to_their_pool_with_udp_defaults() {
    let cfg = ok(&udp("", ""));
    let l = &cfg.listeners[0];
    assert_eq!(l.protocol, Protocol::Udp);
    assert_eq!(l.pool.as_deref(), Some("dns"));
    assert!(l.routes.is_empty());
    // A flow expires after 30 s without a datagram either way; 100,000 flows at most.
    assert_eq!(l.timeouts.idle, Duration::from_secs(30));
    assert_eq!(l.limits.max_flows, 100_000);
    let cfg = ok(&udp(
        "[listener.timeouts]\nidle = \"200ms\"\n[listener.limits]\nmax_flows = 10\n",
        "",
    ));
    assert_eq!(cfg.listeners[0].timeouts.idle, Duration::from_millis(200));
    assert_eq!(cfg.listeners[0].limits.max_flows, 10);
    assert_eq!(
        ok(&udp("[listener.limits]\nmax_flows = 4294967295\n", "")).listeners[0]
            .limits
            .max_flows,
        u32::MAX
    );
    // The summary `fulcrum check` prints says what bounds it.
    assert!(crate::summary(&cfg)
        .contains("relays to pool \"dns\"; timeouts: idle 200ms; limits: 10 flows"));
}

#[test]
fn a_udp_listener_needs_a_defined_pool() {
    assert_eq!(
        error("[[listener]]\nname = \"dns\"\nbind = \"127.0.0.1:5353\"\nprotocol = \"udp\"\n"),
        "4:12: listener \"dns\": a udp listener needs pool = \"NAME\": the pool its clients' datagrams are relayed to"
    );
    assert_eq!(
        error(&udp("", "").replace("pool = \"dns\"\n", "pool = \"dn\"\n")),
        "5:8: listener \"dns\": pool: unknown pool \"dn\" (defined pools: dns)"
    );
}

#[test]
fn max_flows_is_bounded_and_only_for_udp_listeners() {
    for bad in ["0", "4294967296", "\"10\""] {
        let err = error(&udp(&format!("[listener.limits]\nmax_flows = {bad}\n"), ""));
        assert!(
            err.starts_with("7:13: listener \"dns\": limits.max_flows: "),
            "{err}"
        );
    }
    assert_eq!(
        error(&tcp("[listener.limits]\nmax_flows = 10\n")),
        "7:1: listener \"db\": limits.max_flows: max_flows is for udp listeners (this one is tcp); connections are bounded by max_connections"
    );
    assert!(error(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n[listener.limits]\nmax_flows = 10\n"
    )
    .contains("max_flows is for udp listeners (this one is http)"));
}

#[test]
fn udp_listeners_refuse_what_they_do_not_use() {
    assert_eq!(
        errors(&udp(
            "engine = \"hyper\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
             [listener.timeouts]\nheader = \"5s\"\nrequest = \"5s\"\nsend = \"5s\"\n\
             [listener.limits]\nmax_connections = 10\nmax_header_bytes = \"16KiB\"\n\
             max_body_bytes = 10\nh2_max_concurrent_streams = 5\nh2_max_backend_connections = 5\n\
             [listener.proxy_protocol]\ntrusted = [\"10.0.0.0/8\"]\n\
             [[listener.route]]\npool = \"dns\"\n",
            ""
        )),
        [
            "6:1: listener \"dns\": engine: engine is for http and https listeners",
            "7:1: listener \"dns\": trusted_proxies: trusted_proxies is for http and https listeners; a udp listener does not see the HTTP headers it would apply to",
            "9:1: listener \"dns\": timeouts.header: header is for request heads and PROXY headers, which datagrams do not have; a udp listener does not use it",
            "10:1: listener \"dns\": timeouts.request: request is for http listeners; a udp listener does not use it",
            "11:1: listener \"dns\": timeouts.send: send is for http listeners; a udp listener does not use it",
            "13:1: listener \"dns\": limits.max_connections: max_connections is for connections (a udp listener is bounded by max_flows); a udp listener does not use it",
            "14:1: listener \"dns\": limits.max_header_bytes: max_header_bytes is for http listeners; a udp listener does not use it",
            "15:1: listener \"dns\": limits.max_body_bytes: max_body_bytes is for http listeners; a udp listener does not use it",
            "16:1: listener \"dns\": limits.h2_max_concurrent_streams: h2_max_concurrent_streams is for http listeners; a udp listener does not use it",
            "17:1: listener \"dns\": limits.h2_max_backend_connections: h2_max_backend_connections is for http listeners; a udp listener does not use it",
            "18:11: listener \"dns\": proxy_protocol: [listener.proxy_protocol] is for tcp, tls_passthrough, http and https listeners: a udp listener does not read PROXY headers from front balancers (its pool may send them to its backends: proxy_protocol = \"v2\" in [pool.NAME])",
            "20:12: listener \"dns\": route: a udp listener has no routes: it relays every client's datagrams to its pool",
        ]
    );
    for (extra, what) in [
        (
            "[listener.tls]\n",
            "[listener.tls] is only for https listeners (this one is udp)",
        ),
        (
            "[listener.hsts]\n",
            "[listener.hsts] is only for https listeners (this one is udp)",
        ),
        (
            "https_redirect = true\n",
            "https_redirect is only for http listeners (this one is udp)",
        ),
    ] {
        let err = error(&udp(extra, ""));
        assert!(err.contains(what), "{extra}: {err}");
    }
}

#[test]
fn a_udp_pool_sends_proxy_protocol_v2_only() {
    let cfg = ok(&udp("", "proxy_protocol = \"v2\"\n"));
    assert_eq!(cfg.pools[0].proxy_protocol, Some(ProxyVersion::V2));
    assert_eq!(
        error(&udp("", "proxy_protocol = \"v1\"\n")),
        "7:1: pool \"dns\": proxy_protocol: udp listener \"dns\" relays to this pool, and a udp pool sends \"v2\" only: v1 is a text line for streams, with no form for datagrams"
    );
    // The same pool may serve a tcp listener too, on the same port number (DNS over TCP
    // beside UDP): TCP and UDP ports are apart. Two udp listeners on one port are not.
    let both = udp("", "proxy_protocol = \"v2\"\n").replace(
        "[pool.dns]",
        "[[listener]]\nname = \"dns-tcp\"\nbind = \"127.0.0.1:5353\"\nprotocol = \"tcp\"\npool = \"dns\"\n[pool.dns]",
    );
    assert_eq!(ok(&both).listeners.len(), 2);
    assert_eq!(
        error(&both.replace("protocol = \"tcp\"", "protocol = \"udp\"")),
        "8:8: listener \"dns-tcp\": bind: 127.0.0.1:5353 is already bound by listener \"dns\""
    );
}
