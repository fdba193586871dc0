use super::*;

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter()
        .map(|s| {
            let (ip, p) = s.split_once('/').unwrap();
            Cidr::new(ip.parse().unwrap(), p.parse().unwrap()).unwrap()
        })
        .collect()
}

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

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn client_is_the_peer_unless_the_peer_is_trusted() {
    let trusted = cidrs(&["10.0.0.0/8", "2001:db8::/32"]);
    let h = map(&[("x-forwarded-for", "203.0.113.9")]);
    assert_eq!(client_ip(&[], ip("10.0.0.1"), &h), ip("10.0.0.1"));
    assert_eq!(
        client_ip(&trusted, ip("198.51.100.1"), &h),
        ip("198.51.100.1")
    );
    assert_eq!(client_ip(&trusted, ip("10.0.0.1"), &h), ip("203.0.113.9"));
    assert_eq!(
        client_ip(&trusted, ip("::ffff:10.0.0.1"), &h),
        ip("203.0.113.9"),
        "an IPv4-mapped peer is its IPv4 address"
    );
    assert_eq!(
        client_ip(&trusted, ip("2001:db8::5"), &HeaderMap::new()),
        ip("2001:db8::5"),
        "no chain: the trusted peer itself"
    );
}

#[test]
fn the_rightmost_untrusted_address_of_the_chain_is_the_client() {
    let trusted = cidrs(&["10.0.0.0/8"]);
    let peer = ip("10.0.0.1");
    let cases = [
        // A client's forged left part is not believed past the first untrusted address.
        ("1.1.1.1, 203.0.113.9, 10.1.1.1", "203.0.113.9"),
        ("203.0.113.9,10.1.1.1,10.2.2.2", "203.0.113.9"),
        // All trusted: the left-most.
        ("10.3.3.3, 10.1.1.1", "10.3.3.3"),
        // Ports and brackets as some proxies write them.
        ("203.0.113.9:5000", "203.0.113.9"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        // Garbage stops the walk at the last address reached.
        ("203.0.113.9, unknown", "10.0.0.1"),
        ("203.0.113.9, garbage, 10.1.1.1", "10.1.1.1"),
        ("", "10.0.0.1"),
    ];
    for (xff, want) in cases {
        let h = map(&[("x-forwarded-for", xff)]);
        assert_eq!(client_ip(&trusted, peer, &h), ip(want), "{xff:?}");
    }
    // Several header lines are one list, in order.
    let h = map(&[
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-for", "10.1.1.1"),
    ]);
    assert_eq!(client_ip(&trusted, peer, &h), ip("203.0.113.9"));
}

fn hop_values() -> [HeaderValue; 5] {
    [
        HeaderValue::from_static("198.51.100.1"),
        HeaderValue::from_static("203.0.113.9"),
        HeaderValue::from_static("https"),
        HeaderValue::from_static("shop.example"),
        HeaderValue::from_static("8443"),
    ]
}

fn spoofed() -> HeaderMap {
    map(&[
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-port", "1"),
        ("x-forwarded-prefix", "/evil"),
        ("x-real-ip", "1.2.3.4"),
        ("forwarded", "for=1.2.3.4;proto=https"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-kept", "yes"),
    ])
}

/// Issue 7 item 7: from an untrusted peer every forwarding header describes this hop, and the
/// ones this hop has nothing to say about are gone.
#[test]
fn untrusted_peer_forwarding_headers_are_replaced_or_removed() {
    assert_eq!(DROPPED[PREFIX_AT], X_FORWARDED_PREFIX);
    let [peer, _, proto, host, port] = hop_values();
    let mut h = spoofed();
    let hop = Hop {
        peer: &peer,
        trusted: false,
        client: &peer,
        proto: &proto,
        host: Some(&host),
        port: Some(&port),
    };
    rewrite(&mut h, &hop);
    assert_eq!(h["x-forwarded-for"], "198.51.100.1");
    assert_eq!(h["x-real-ip"], "198.51.100.1");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "shop.example");
    assert_eq!(h["x-forwarded-port"], "8443");
    for gone in [
        "forwarded",
        "x-forwarded-prefix",
        "x-original-url",
        "x-rewrite-url",
    ] {
        assert!(h.get(gone).is_none(), "{gone}: {h:?}");
    }
    assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
    assert_eq!(h["x-kept"], "yes");

    let mut h = spoofed();
    rewrite(
        &mut h,
        &Hop {
            host: None,
            port: None,
            ..hop
        },
    );
    assert!(h.get("x-forwarded-host").is_none());
    assert!(h.get("x-forwarded-port").is_none());
}

#[test]
fn trusted_peer_chain_is_appended_and_its_view_kept() {
    let [peer, client, proto, host, port] = hop_values();
    let hop = Hop {
        peer: &peer,
        trusted: true,
        client: &client,
        proto: &proto,
        host: Some(&host),
        port: Some(&port),
    };
    let mut h = spoofed();
    rewrite(&mut h, &hop);
    assert_eq!(h["x-forwarded-for"], "1.2.3.4, 198.51.100.1");
    assert_eq!(h["x-real-ip"], "203.0.113.9");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "evil.example");
    assert_eq!(h["x-forwarded-port"], "1");
    assert_eq!(h["x-forwarded-prefix"], "/evil");
    for gone in ["forwarded", "x-original-url", "x-rewrite-url"] {
        assert!(h.get(gone).is_none(), "{gone}: {h:?}");
    }
    // Whatever the front proxy left out, this hop fills in.
    let mut h = map(&[("x-forwarded-for", "203.0.113.9")]);
    rewrite(&mut h, &hop);
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 198.51.100.1");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "shop.example");
    assert_eq!(h["x-forwarded-port"], "8443");
    assert!(h.get("x-forwarded-prefix").is_none());
}

/// Issue 7 items 7 and 13 (review): a trusted front proxy that passes a client's own
/// `X-Forwarded-*` on untouched must not let a malformed host, scheme, port or prefix reach the
/// backend: each is kept only when well formed and single, else this hop's view replaces it.
#[test]
fn trusted_peer_malformed_forwarding_view_is_replaced() {
    let [peer, client, proto, host, port] = hop_values();
    let hop = Hop {
        peer: &peer,
        trusted: true,
        client: &client,
        proto: &proto,
        host: Some(&host),
        port: Some(&port),
    };
    let mut h = map(&[
        ("x-forwarded-host", "evil\"<>"),
        ("x-forwarded-proto", "javascript"),
        ("x-forwarded-port", "99999"),
        ("x-forwarded-prefix", "/a/../admin"),
    ]);
    rewrite(&mut h, &hop);
    assert_eq!(h["x-forwarded-host"], "shop.example");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-port"], "8443");
    assert!(h.get("x-forwarded-prefix").is_none(), "{h:?}");

    let mut h = map(&[
        ("x-forwarded-host", "a.example"),
        ("x-forwarded-host", "b.example"),
        ("x-forwarded-port", "0"),
        ("x-forwarded-prefix", "/api<script>"),
    ]);
    rewrite(&mut h, &hop);
    assert_eq!(h.get_all("x-forwarded-host").iter().count(), 1);
    assert_eq!(h["x-forwarded-host"], "shop.example");
    assert_eq!(h["x-forwarded-port"], "8443");
    assert!(h.get("x-forwarded-prefix").is_none(), "{h:?}");

    let mut h = map(&[
        ("x-forwarded-host", "Shop.Example:8443"),
        ("x-forwarded-proto", "HTTP"),
        ("x-forwarded-port", "80"),
        ("x-forwarded-prefix", "/api/v1"),
    ]);
    rewrite(&mut h, &hop);
    assert_eq!(h["x-forwarded-host"], "Shop.Example:8443");
    assert_eq!(h["x-forwarded-proto"], "HTTP");
    assert_eq!(h["x-forwarded-port"], "80");
    assert_eq!(h["x-forwarded-prefix"], "/api/v1");
}
