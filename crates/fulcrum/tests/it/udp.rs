//! `udp` listeners end to end: real sockets on loopback (IPv4 and IPv6), real backends.
//! DNS-style request and reply, replies from the listener's own address, flows that keep their
//! backend, 10,000 flows spread by weight, idle expiry, `max_flows` eviction, draining,
//! reloads, refusing backends, PROXY v2 per datagram, the access log and metrics.
//!
//! Clients `connect` their sockets to the listener's address: such a socket only receives
//! datagrams from that very address, so every reply counted here came from it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use fulcrum_net::proxy_protocol::{self as pp, Parse, Transport};
use fulcrum_testkit::{wait_until, DatagramBackend};

use crate::support::{admin_call, delete_backend, Lb, TempDir};

/// A config with udp listener `dns` on `bind` relaying to pool `dns` over `backends`
/// (`(address, weight)`).
fn config(
    workers: usize,
    bind: &str,
    backends: &[(SocketAddr, u32)],
    listener_extra: &str,
    pool_extra: &str,
) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|(a, w)| format!("{{ address = \"{a}\", weight = {w} }}"))
        .collect();
    format!(
        "[runtime]\nworkers = {workers}\ndrain_delay = \"0s\"\n[access_log]\ntarget = \"off\"\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"dns\"\nbind = \"{bind}\"\nprotocol = \"udp\"\npool = \"dns\"\n\
         {listener_extra}\n\
         [pool.dns]\nbackends = [{}]\n{pool_extra}\n",
        list.join(", ")
    )
}

fn one(be: &DatagramBackend) -> Vec<(SocketAddr, u32)> {
    vec![(be.addr, 1)]
}

/// A client socket on `ip` (port chosen by the kernel) connected to `listener`.
fn client_on(ip: IpAddr, listener: SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap();
    s.connect(listener).unwrap();
    s
}

fn client(listener: SocketAddr) -> UdpSocket {
    client_on(listener.ip(), listener)
}

/// Send `query` and wait for the reply, sending again (the same datagram, so the same flow)
/// up to five times when none comes within `wait`.
fn ask_within(s: &UdpSocket, query: &[u8], wait: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 65_536];
    for _ in 0..5 {
        s.send(query).unwrap();
        if let Ok(n) = s.recv(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

fn ask(s: &UdpSocket, query: &[u8]) -> Vec<u8> {
    ask_within(s, query, Duration::from_secs(2)).expect("no reply from the listener's address")
}

/// The backend's name in a reply (`"{name}:{query}"`).
fn who(reply: &[u8]) -> String {
    let colon = reply.iter().position(|&b| b == b':').expect("no name");
    String::from_utf8_lossy(&reply[..colon]).into_owned()
}

/// The value of one series in `/metrics` (0 when it is not there).
fn metric(lb: &Lb, series: &str) -> u64 {
    let text = admin_call(lb.admin(), "GET", "/metrics", None, None).text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

const ACTIVE: &str = "fulcrum_udp_flows_active{listener=\"dns\"}";
const EVICTED: &str = "fulcrum_udp_flows_evicted_total{listener=\"dns\"}";
const DROPPED: &str = "fulcrum_udp_datagrams_dropped_total{listener=\"dns\"}";

#[test]
fn dns_style_request_reply_on_both_families_and_across_them() {
    for (bind, backend_bind) in [
        ("127.0.0.1:0", "127.0.0.1:0"),
        ("[::1]:0", "[::1]:0"),
        // An IPv6 client reaches an IPv4 backend, and the other way round.
        ("[::1]:0", "127.0.0.1:0"),
        ("127.0.0.1:0", "[::1]:0"),
    ] {
        let be = DatagramBackend::start(backend_bind, "ns1");
        let lb = Lb::start(&config(2, bind, &one(&be), "", ""));
        let listener = lb.listener("dns");
        let c = client(listener);
        for i in 0..5 {
            let query = format!("query {i} for example.com");
            let reply = ask(&c, query.as_bytes());
            assert_eq!(
                reply,
                format!("ns1:{query}").as_bytes(),
                "{bind} -> {backend_bind}"
            );
        }
        // A 60,000-byte datagram goes through whole, both ways.
        let big: Vec<u8> = (0..60_000).map(|i| (i % 251) as u8).collect();
        let reply = ask(&c, &big);
        assert!(reply[4..] == big[..], "{bind}: {} bytes back", reply.len());
        // One client socket is one flow: the backend saw one peer.
        assert_eq!(be.peers(), 1, "{bind} -> {backend_bind}");
        assert_eq!(metric(&lb, ACTIVE), 1);
    }
}

#[test]
fn a_flow_keeps_its_backend_across_datagrams() {
    let bes: Vec<DatagramBackend> = ["a", "b", "c"]
        .iter()
        .map(|n| DatagramBackend::start("127.0.0.1:0", n))
        .collect();
    let list: Vec<(SocketAddr, u32)> = bes.iter().map(|b| (b.addr, 1)).collect();
    let lb = Lb::start(&config(2, "127.0.0.1:0", &list, "", ""));
    let listener = lb.listener("dns");
    let clients: Vec<UdpSocket> = (0..6).map(|_| client(listener)).collect();
    let mut chosen = std::collections::HashSet::new();
    for (i, c) in clients.iter().enumerate() {
        let names: Vec<String> = (0..10)
            .map(|n| who(&ask(c, format!("client {i} query {n}").as_bytes())))
            .collect();
        assert!(
            names.iter().all(|n| *n == names[0]),
            "client {i} moved: {names:?}"
        );
        chosen.insert(names[0].clone());
    }
    assert!(
        chosen.len() >= 2,
        "round robin put every flow on {chosen:?}"
    );
    let peers: usize = bes.iter().map(DatagramBackend::peers).sum();
    assert_eq!(peers, 6, "one backend socket per flow");
}

/// Issue 9: 10,000 distinct client flows spread over three backends by weight 1:2:3. Clients
/// are sockets on 127.0.0.1–127.0.0.250 with kernel-chosen ports (never one used before),
/// 250 at a time, each closed once answered. With `round_robin` (smooth weighted, one balancer per worker) each backend
/// must get its share within 2% of all flows.
#[test]
fn ten_thousand_flows_spread_over_backends_by_weight() {
    const FLOWS: usize = 10_000;
    const AT_ONCE: usize = 250;
    let bes: Vec<DatagramBackend> = ["one", "two", "three"]
        .iter()
        .map(|n| DatagramBackend::start("127.0.0.1:0", n))
        .collect();
    let list: Vec<(SocketAddr, u32)> = bes
        .iter()
        .zip([1, 2, 3])
        .map(|(b, w)| (b.addr, w))
        .collect();
    let lb = Lb::start(&config(2, "127.0.0.1:0", &list, "", ""));
    let listener = lb.listener("dns");
    let started = Instant::now();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut buf = [0u8; 512];
    // A closed client's port may be handed out again: such a socket would be an old flow,
    // not a new one, so it is put aside (until the round ends) and another one taken.
    let mut used = std::collections::HashSet::new();
    for round in 0..FLOWS / AT_ONCE {
        let mut aside = Vec::new();
        let clients: Vec<UdpSocket> = (0..AT_ONCE)
            .map(|i| {
                let ip = IpAddr::from([127, 0, 0, 1 + i as u8]);
                for _ in 0..20 {
                    let c = client_on(ip, listener);
                    if used.insert(c.local_addr().unwrap()) {
                        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        return c;
                    }
                    aside.push(c);
                }
                panic!("no fresh port on {ip}");
            })
            .collect();
        for (i, c) in clients.iter().enumerate() {
            c.send(format!("r{round} c{i}").as_bytes()).unwrap();
        }
        for (i, c) in clients.iter().enumerate() {
            // A datagram lost on the way (buffers full) is asked again, on the same flow.
            let n = match c.recv(&mut buf) {
                Ok(n) => n,
                Err(_) => {
                    let reply = ask(c, format!("r{round} c{i}").as_bytes());
                    buf[..reply.len()].copy_from_slice(&reply);
                    reply.len()
                }
            };
            *by_name.entry(who(&buf[..n])).or_default() += 1;
        }
    }
    let took = started.elapsed();
    let total: usize = by_name.values().sum();
    assert_eq!(total, FLOWS);
    eprintln!("10,000 flows in {took:?}: {by_name:?}");
    for (name, weight) in [("one", 1), ("two", 2), ("three", 3)] {
        let want = FLOWS * weight / 6;
        let got = by_name.get(name).copied().unwrap_or(0);
        assert!(
            got.abs_diff(want) <= FLOWS / 50,
            "{name}: {got} flows, want {want} ± {} ({by_name:?})",
            FLOWS / 50
        );
    }
    // Every flow is its own backend socket, and all are still open (idle is 30 s).
    let peers: usize = bes.iter().map(DatagramBackend::peers).sum();
    assert_eq!(peers, FLOWS);
    assert_eq!(metric(&lb, ACTIVE), FLOWS as u64);
}

#[test]
fn idle_flows_expire_and_are_logged_and_a_later_datagram_starts_a_new_flow() {
    let be = DatagramBackend::start("127.0.0.1:0", "ns1");
    let dir = TempDir::new("udp-log");
    let log = dir.0.join("access.log");
    let cfg = config(
        2,
        "127.0.0.1:0",
        &one(&be),
        "[listener.timeouts]\nidle = \"200ms\"\n",
        "",
    )
    .replace(
        "target = \"off\"",
        &format!("target = \"{}\"", log.display()),
    );
    let lb = Lb::start(&cfg);
    let c = client(lb.listener("dns"));
    assert_eq!(who(&ask(&c, b"first")), "ns1");
    assert_eq!(who(&ask(&c, b"second")), "ns1");
    assert_eq!(metric(&lb, ACTIVE), 1);
    let quiet = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || metric(&lb, ACTIVE) == 0),
        "the flow never expired"
    );
    assert!(
        quiet.elapsed() >= Duration::from_millis(150),
        "expired too soon"
    );
    // Its line: two datagrams each way, ended by expiry.
    let mut line = None;
    assert!(wait_until(Duration::from_secs(5), || {
        line = std::fs::read_to_string(&log)
            .ok()
            .and_then(|t| t.lines().find(|l| l.contains("\"udp\"")).map(str::to_owned));
        line.is_some()
    }));
    let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
    assert_eq!(v["listener"], "dns");
    assert_eq!(v["pool"], "dns");
    assert_eq!(v["backend"], be.addr.to_string());
    assert_eq!(v["client"], c.local_addr().unwrap().to_string());
    assert_eq!(v["end"], "expired");
    assert_eq!(v["datagrams_in"], 2);
    assert_eq!(v["datagrams_out"], 2);
    assert_eq!(v["bytes_in"], 11);
    assert_eq!(v["bytes_out"], 11 + 2 * 4);
    assert!(v.get("zero_copy").is_none(), "{v}");
    // The same client again: a new flow, on a new backend socket.
    assert_eq!(who(&ask(&c, b"third")), "ns1");
    assert_eq!(be.peers(), 2);
    assert_eq!(metric(&lb, ACTIVE), 1);
    assert_eq!(
        metric(
            &lb,
            "fulcrum_bytes_total{listener=\"dns\",direction=\"in\"}"
        ),
        16
    );
    assert_eq!(
        metric(
            &lb,
            "fulcrum_bytes_total{listener=\"dns\",direction=\"out\"}"
        ),
        16 + 3 * 4
    );
}

/// With one worker the count is exact: the first ten clients take the ten places, and each
/// of the next twenty pushes out the least recently active.
#[test]
fn max_flows_evicts_the_least_recently_active_flow() {
    let be = DatagramBackend::start("127.0.0.1:0", "ns1");
    let lb = Lb::start(&config(
        1,
        "127.0.0.1:0",
        &one(&be),
        "[listener.limits]\nmax_flows = 10\n",
        "",
    ));
    let listener = lb.listener("dns");
    let clients: Vec<UdpSocket> = (0..30).map(|_| client(listener)).collect();
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(who(&ask(c, format!("c{i}").as_bytes())), "ns1");
    }
    assert_eq!(metric(&lb, EVICTED), 20);
    assert_eq!(metric(&lb, ACTIVE), 10);
    // The ten kept are the last ten: their next datagrams need no new flow.
    for (i, c) in clients.iter().enumerate().skip(20) {
        assert_eq!(who(&ask(c, format!("again {i}").as_bytes())), "ns1");
    }
    assert_eq!(metric(&lb, EVICTED), 20);
    assert_eq!(be.peers(), 30);
}

#[test]
fn a_drained_backend_moves_its_flows_on_their_next_datagram() {
    let a = DatagramBackend::start("127.0.0.1:0", "a");
    let b = DatagramBackend::start("127.0.0.1:0", "b");
    let lb = Lb::start(&config(
        2,
        "127.0.0.1:0",
        &[(a.addr, 1), (b.addr, 1)],
        "",
        "",
    ));
    let listener = lb.listener("dns");
    let clients: Vec<UdpSocket> = (0..8).map(|_| client(listener)).collect();
    let before: Vec<String> = clients.iter().map(|c| who(&ask(c, b"before"))).collect();
    assert!(
        before.iter().any(|n| n == "a") && before.iter().any(|n| n == "b"),
        "{before:?}"
    );
    let r = delete_backend(lb.admin(), "dns", &a.addr.to_string());
    assert!(r.status.is_success(), "{}", r.text());
    for (c, was) in clients.iter().zip(&before) {
        let now = who(&ask(c, b"after"));
        assert_eq!(now, "b", "a flow on {was} after the drain");
    }
    // The flows on b kept their sockets; those of a each got one on b.
    let moved = before.iter().filter(|n| *n == "a").count();
    assert_eq!(b.peers(), 8);
    assert_eq!(a.peers(), moved);
    assert_eq!(metric(&lb, ACTIVE), 8);
}

#[test]
fn a_reload_that_keeps_the_listener_keeps_a_flow_on_its_backend() {
    let a = DatagramBackend::start("127.0.0.1:0", "a");
    let b = DatagramBackend::start("127.0.0.1:0", "b");
    let dir = TempDir::new("udp-reload");
    let path = dir.write("fulcrum.toml", &config(2, "127.0.0.1:0", &one(&a), "", ""));
    let lb = Lb::start_file(&path);
    let listener = lb.listener("dns");
    let old = client(listener);
    assert_eq!(who(&ask(&old, b"one")), "a");
    // b joins with all the weight; the flow on a stays there.
    crate::support::replace_file(
        &path,
        &config(
            2,
            "127.0.0.1:0",
            &[(a.addr, 1), (b.addr, 1000)],
            "[listener.timeouts]\nidle = \"20s\"\n",
            "",
        ),
    );
    lb.reload().unwrap();
    assert_eq!(lb.listener("dns"), listener, "the listener was rebound");
    assert_eq!(who(&ask(&old, b"two")), "a");
    assert_eq!(a.peers(), 1, "the flow kept its backend socket");
    let fresh: Vec<String> = (0..4).map(|_| who(&ask(&client(listener), b"x"))).collect();
    assert!(
        fresh.iter().any(|n| n == "b"),
        "new flows never reached b: {fresh:?}"
    );
    assert_eq!(metric(&lb, EVICTED), 0);
}

#[test]
fn a_refusing_backend_is_reported_and_its_clients_start_again_elsewhere() {
    let live = DatagramBackend::start("127.0.0.1:0", "live");
    // A UDP port nobody listens on: datagrams to it get ICMP port unreachable.
    let dead = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let lb = Lb::start(&config(
        2,
        "127.0.0.1:0",
        &[(dead, 1), (live.addr, 1)],
        "",
        "[pool.dns.outlier]\nconsecutive_failures = 2\n",
    ));
    let listener = lb.listener("dns");
    for i in 0..10 {
        let c = client(listener);
        let reply = ask_within(&c, format!("q{i}").as_bytes(), Duration::from_millis(300));
        assert_eq!(
            reply.map(|r| who(&r)).as_deref(),
            Some("live"),
            "client {i}"
        );
    }
    let entry = crate::support::backend_entry(lb.admin(), "dns", &dead.to_string()).unwrap();
    assert!(entry["failures"].as_u64().unwrap() >= 2, "{entry}");
    assert_eq!(entry["ejected"], true, "{entry}");
}

#[test]
fn a_v2_pool_sends_a_proxy_header_naming_the_client_before_each_datagram() {
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let be = DatagramBackend::start("127.0.0.1:0", "pp");
        let lb = Lb::start(&config(2, bind, &one(&be), "", "proxy_protocol = \"v2\"\n"));
        let listener = lb.listener("dns");
        let c = client(listener);
        for i in 0..3 {
            assert_eq!(who(&ask(&c, format!("payload {i}").as_bytes())), "pp");
        }
        let got = be.datagrams();
        assert_eq!(got.len(), 3, "{bind}");
        for (i, (_, bytes)) in got.iter().enumerate() {
            let Ok(Parse::Complete { header, len }) = pp::parse(bytes) else {
                panic!("{bind}: datagram {i} has no PROXY header: {bytes:?}");
            };
            assert_eq!(header.transport, Transport::Datagram);
            let client = c.local_addr().unwrap();
            let src = header.source().unwrap();
            assert_eq!(
                (src.ip().to_canonical(), src.port()),
                (client.ip(), client.port())
            );
            let dst = header.destination().unwrap();
            assert_eq!(
                (dst.ip().to_canonical(), dst.port()),
                (listener.ip(), listener.port())
            );
            assert_eq!(&bytes[len..], format!("payload {i}").as_bytes());
        }
    }
}

/// Regression: a flow's backend socket is registered with the reactor just before its first
/// datagram, and tokio's `try_send` answered `WouldBlock` without trying (no write readiness
/// seen yet), so every new flow lost its first datagram and clients waited for a resend.
#[test]
fn a_new_flows_first_datagram_is_not_lost() {
    let be = DatagramBackend::start("127.0.0.1:0", "ns1");
    let lb = Lb::start(&config(2, "127.0.0.1:0", &one(&be), "", ""));
    let listener = lb.listener("dns");
    let mut buf = [0u8; 64];
    for i in 0..20 {
        let c = client(listener);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send(b"once").unwrap();
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ns1:once", "client {i}");
    }
    assert_eq!(be.received(), 20, "a datagram was sent twice");
    assert_eq!(metric(&lb, DROPPED), 0);
}

/// A udp listener whose bind list changes is rebound, but keeps the sockets of the address it
/// keeps: a client there gets its answers through the reload (on a new flow). A listener
/// removed by a reload closes its flows, and a udp listener added by one serves at once.
#[test]
fn a_rebound_udp_listener_keeps_its_address_and_a_removed_one_closes_its_flows() {
    let be = DatagramBackend::start("127.0.0.1:0", "ns1");
    let dir = TempDir::new("udp-rebind");
    let path = dir.write("fulcrum.toml", &config(2, "127.0.0.1:0", &one(&be), "", ""));
    let lb = Lb::start_file(&path);
    let listener = lb.listener("dns");
    let c = client(listener);
    assert_eq!(who(&ask(&c, b"before")), "ns1");
    let two = config(2, "127.0.0.1:0", &one(&be), "", "").replace(
        "bind = \"127.0.0.1:0\"\nprotocol",
        "bind = [\"127.0.0.1:0\", \"[::1]:0\"]\nprotocol",
    );
    crate::support::replace_file(&path, &two);
    lb.reload().unwrap();
    let addrs = lb.all_addrs("dns");
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[0], listener, "the kept address was bound anew");
    assert_eq!(who(&ask(&c, b"after")), "ns1");
    assert_eq!(who(&ask(&client(addrs[1]), b"v6")), "ns1");
    assert!(wait_until(Duration::from_secs(5), || metric(&lb, ACTIVE) == 2));
    // Removed (a tcp listener takes its name's place): its flows end, its sockets close.
    let tcp = config(2, "127.0.0.1:0", &one(&be), "", "")
        .replace("protocol = \"udp\"", "protocol = \"tcp\"");
    crate::support::replace_file(&path, &tcp);
    lb.reload().unwrap();
    assert!(wait_until(Duration::from_secs(5), || metric(&lb, ACTIVE) == 0));
    assert!(ask_within(&c, b"gone", Duration::from_millis(200)).is_none());
    // And back as udp: a new listener serves at once.
    crate::support::replace_file(&path, &config(2, "127.0.0.1:0", &one(&be), "", ""));
    lb.reload().unwrap();
    assert_eq!(who(&ask(&client(lb.listener("dns")), b"again")), "ns1");
}

/// `max_flows` and `idle` change in place: the listener keeps its flows, a lower bound evicts
/// down to it (from the next datagram), a shorter idle expires what it should.
#[test]
fn a_reload_applies_new_udp_limits_to_the_flows_already_there() {
    let be = DatagramBackend::start("127.0.0.1:0", "ns1");
    let dir = TempDir::new("udp-limits");
    let limits = |max: u32, idle: &str| {
        config(
            1,
            "127.0.0.1:0",
            &one(&be),
            &format!(
                "[listener.timeouts]\nidle = \"{idle}\"\n[listener.limits]\nmax_flows = {max}\n"
            ),
            "",
        )
    };
    let path = dir.write("fulcrum.toml", &limits(10, "1h"));
    let lb = Lb::start_file(&path);
    let listener = lb.listener("dns");
    let clients: Vec<UdpSocket> = (0..8).map(|_| client(listener)).collect();
    for c in &clients {
        ask(c, b"hi");
    }
    crate::support::replace_file(&path, &limits(5, "1h"));
    lb.reload().unwrap();
    // The next datagram brings the table down to five: the three least recently active go.
    ask(&clients[7], b"again");
    assert_eq!(metric(&lb, EVICTED), 3);
    assert_eq!(metric(&lb, ACTIVE), 5);
    crate::support::replace_file(&path, &limits(5, "100ms"));
    lb.reload().unwrap();
    ask(&clients[7], b"and again");
    assert!(wait_until(Duration::from_secs(5), || metric(&lb, ACTIVE) == 0));
}
