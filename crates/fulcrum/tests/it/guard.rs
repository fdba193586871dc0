//! Issue 10 (first part): throttling, connection limits and access lists end to end, on
//! both HTTP/1.1 engines and on HTTP/2: 429 with `Retry-After` and the RateLimit headers
//! once the burst is spent, recovery once time passes, per-route overrides, a header-keyed
//! limit, allow/deny on IPv4 and `[::1]`, connection limits per address at accept (tcp
//! listeners too), a reload that changes a limit without dropping connections, the metrics
//! and the access log's `guard` field.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use fulcrum_testkit::{wait_until, Backend, Client, Reply, StreamBackend, StreamMode};

use crate::support::{admin_call, replace_file, Lb, TempDir};

const ENGINES: [&str; 2] = ["auto", "hyper"];

/// `web` on `binds` (a TOML string or list) with `listener_extra`, then `routes` (TOML of
/// `[[listener.route]]` tables), pool `app` over `be`.
fn config(binds: &str, listener_extra: &str, routes: &str, be: &Backend, log: &str) -> String {
    format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"{log}\"\n[admin]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"web\"\nbind = {binds}\n{listener_extra}\n{routes}\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    )
}

const ALL: &str = "[[listener.route]]\nname = \"all\"\npool = \"app\"\n";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One GET of `path` on a new connection from `src`.
fn get_from(src: Option<IpAddr>, to: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    Client::http1_from(src, to)
        .get("shop.example", path, headers)
        .unwrap()
}

/// The value of the sample `series` (name with labels, exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

fn metrics(lb: &Lb) -> String {
    admin_call(lb.admin(), "GET", "/metrics", None, None).text()
}

fn decisions(lb: &Lb, route: &str, guard: &str, decision: &str) -> f64 {
    let series = format!(
        "fulcrum_guard_decisions_total{{listener=\"web\",route=\"{route}\",guard=\"{guard}\",decision=\"{decision}\"}}"
    );
    sample(&metrics(lb), &series).unwrap_or(0.0)
}

/// A connection from `src` (any 127.0.0.0/8 address on Linux loopback).
fn raw_from(src: IpAddr, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    s.bind(&SocketAddr::new(src, 0).into()).unwrap();
    s.connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Whether the server closes `s` without a byte of answer to a request.
fn closed_without_answer(mut s: TcpStream) -> bool {
    let _ = s.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n");
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => {
            e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut
        }
    }
}

#[test]
fn past_the_burst_requests_get_429_with_the_ratelimit_headers_then_recover() {
    for engine in ENGINES {
        let be = Backend::start("be");
        let lb = Lb::start(&config(
            "\"127.0.0.1:0\"",
            &format!(
                "engine = \"{engine}\"\n[listener.rate_limit]\nrequests_per_second = 1\nburst = 3"
            ),
            ALL,
            &be,
            "off",
        ));
        // New connections land on either worker: the limit is the listener's, shared.
        for i in 0..3 {
            let r = get_from(None, lb.addr(), "/", &[]);
            assert_eq!(r.status, 200, "{engine}: request {i} within the burst");
        }
        let mut cl = Client::http1(lb.addr());
        let r = cl.get("shop.example", "/", &[]).unwrap();
        assert_eq!(r.status, 429, "{engine}: past the burst");
        assert_eq!(r.header("retry-after").as_deref(), Some("1"), "{engine}");
        assert_eq!(
            r.header("ratelimit-policy").as_deref(),
            Some("\"default\";q=1;w=1"),
            "{engine}"
        );
        assert_eq!(
            r.header("ratelimit").as_deref(),
            Some("\"default\";r=0;t=1"),
            "{engine}"
        );
        assert!(
            r.text().contains("too many requests"),
            "{engine}: {}",
            r.text()
        );
        assert!(r.header("x-request-id").is_some());
        // The connection stays usable, and once time passes the client is served again.
        assert!(
            wait_until(Duration::from_secs(3), || cl
                .get("shop.example", "/", &[])
                .unwrap()
                .status
                == 200),
            "{engine}: no recovery"
        );
        assert_eq!(
            be.request_count(),
            4,
            "{engine}: refused requests never reach the backend"
        );
        // HTTP/2 (hyper) meets the same table.
        let mut h2 = Client::http2(lb.addr());
        let statuses: Vec<u16> = (0..6)
            .map(|_| h2.get("shop.example", "/", &[]).unwrap().status.as_u16())
            .collect();
        assert!(statuses.contains(&429), "{engine}: h2 {statuses:?}");
        assert!(
            decisions(&lb, "all", "rate_limit", "deny") >= 2.0,
            "{}",
            metrics(&lb)
        );
        assert!(
            decisions(&lb, "all", "rate_limit", "allow") >= 4.0,
            "{}",
            metrics(&lb)
        );
    }
}

#[test]
fn a_route_replaces_the_listeners_limit_and_a_header_keys_it() {
    let routes = "[[listener.route]]\nname = \"keyed\"\npath_prefix = \"/keyed\"\npool = \"app\"\n\
                  [listener.route.rate_limit]\nrequests_per_second = 1\nburst = 2\nkey = \"header:X-Api-Key\"\n\
                  [[listener.route]]\nname = \"open\"\npath_prefix = \"/open\"\npool = \"app\"\n\
                  [listener.route.rate_limit]\nrequests_per_second = 1000\nburst = 1000\n\
                  [[listener.route]]\nname = \"all\"\npool = \"app\"\n";
    for engine in ENGINES {
        let be = Backend::start("be");
        let lb = Lb::start(&config(
            "\"127.0.0.1:0\"",
            &format!(
                "engine = \"{engine}\"\n[listener.rate_limit]\nrequests_per_second = 1\nburst = 1"
            ),
            routes,
            &be,
            "off",
        ));
        let mut cl = Client::http1(lb.addr());
        let mut status = |path: &str, headers: &[(&str, &str)]| {
            cl.get("shop.example", path, headers)
                .unwrap()
                .status
                .as_u16()
        };
        // The listener's limit: one request.
        assert_eq!(status("/", &[]), 200);
        assert_eq!(status("/", &[]), 429, "{engine}");
        // The route's own, generous limit replaces it.
        for _ in 0..20 {
            assert_eq!(status("/open/x", &[]), 200, "{engine}");
        }
        // Keyed by the header: each key has its own burst of 2.
        let a = [("x-api-key", "alpha")];
        let b = [("x-api-key", "beta")];
        assert_eq!(status("/keyed", &a), 200);
        assert_eq!(status("/keyed", &a), 200);
        let r = Client::http1(lb.addr())
            .get("shop.example", "/keyed", &a)
            .unwrap();
        assert_eq!(r.status, 429, "{engine}");
        assert_eq!(
            r.header("ratelimit-policy").as_deref(),
            Some("\"keyed\";q=1;w=1")
        );
        assert_eq!(status("/keyed", &b), 200, "{engine}: another key");
        assert_eq!(status("/keyed", &b), 200);
        assert_eq!(status("/keyed", &b), 429);
        assert!(decisions(&lb, "keyed", "rate_limit", "deny") >= 2.0);
        assert_eq!(decisions(&lb, "open", "rate_limit", "deny"), 0.0);
    }
}

#[test]
fn access_lists_allow_and_deny_by_longest_prefix_on_ipv4_and_ipv6() {
    let routes = "[[listener.route]]\nname = \"v6\"\npath_prefix = \"/v6\"\npool = \"app\"\n\
                  [listener.route.access]\nallow = [\"::1/128\"]\n\
                  [[listener.route]]\nname = \"all\"\npool = \"app\"\n";
    for engine in ENGINES {
        let be = Backend::start("be");
        let dir = TempDir::new("guard-access");
        let log = dir.0.join("access.log");
        let lb = Lb::start(&config(
            "[\"127.0.0.1:0\", \"[::1]:0\"]",
            &format!(
                "engine = \"{engine}\"\n[listener.access]\nallow = [\"127.0.0.0/8\", \"127.0.0.3/32\"]\n\
                 deny = [\"127.0.0.0/24\"]"
            ),
            routes,
            &be,
            log.to_str().unwrap(),
        ));
        let addrs = lb.all_addrs("web");
        let (v4, v6) = (addrs[0], addrs[1]);
        assert!(v6.is_ipv6());
        // deny /24 inside allow /8 denies; allow /32 inside the deny /24 allows.
        let denied = get_from(Some(ip("127.0.0.2")), v4, "/", &[]);
        assert_eq!(denied.status, 403, "{engine}");
        assert!(
            denied.text().contains("denied by the access list"),
            "{}",
            denied.text()
        );
        assert_eq!(
            get_from(Some(ip("127.0.0.3")), v4, "/", &[]).status,
            200,
            "{engine}"
        );
        assert_eq!(
            get_from(Some(ip("127.0.1.9")), v4, "/", &[]).status,
            200,
            "{engine}"
        );
        // [::1] is in none of the listener's entries, which allow only what they name...
        let r = get_from(Some(ip("::1")), v6, "/", &[]);
        assert_eq!(r.status, 403, "{engine}");
        assert!(r.text().contains("not in the access list"), "{}", r.text());
        // ...and the route's own list replaces the listener's.
        assert_eq!(
            get_from(Some(ip("::1")), v6, "/v6/x", &[]).status,
            200,
            "{engine}"
        );
        assert_eq!(
            get_from(Some(ip("127.0.0.3")), v4, "/v6/x", &[]).status,
            403,
            "{engine}"
        );
        assert_eq!(be.request_count(), 3);
        assert_eq!(decisions(&lb, "all", "access", "deny"), 2.0);
        assert_eq!(decisions(&lb, "v6", "access", "deny"), 1.0);
        // The access log names the guard that refused.
        let refused = |l: &serde_json::Value| l["status"] == 403 && l["guard"] == "access";
        assert!(
            wait_until(Duration::from_secs(5), || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter(refused)
                    .count()
                    == 3
            }),
            "{engine}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let ok = text.lines().find(|l| l.contains("\"status\":200")).unwrap();
        assert!(!ok.contains("\"guard\""), "no guard acted: {ok}");
    }
}

#[test]
fn connections_per_address_are_limited_at_accept() {
    let be = Backend::start("be");
    let lb = Lb::start(&config(
        "\"127.0.0.1:0\"",
        "[listener.limits]\nmax_connections_per_ip = 2",
        ALL,
        &be,
        "off",
    ));
    let a = ip("127.0.0.4");
    let mut first = Client::http1_from(Some(a), lb.addr());
    let mut second = Client::http1_from(Some(a), lb.addr());
    assert_eq!(first.get("s", "/", &[]).unwrap().status, 200);
    assert_eq!(second.get("s", "/", &[]).unwrap().status, 200);
    assert!(
        closed_without_answer(raw_from(a, lb.addr())),
        "a third connection"
    );
    // Another address is not affected.
    assert_eq!(
        get_from(Some(ip("127.0.0.5")), lb.addr(), "/", &[]).status,
        200
    );
    // The open ones go on; once one closes, the address may connect again.
    assert_eq!(first.get("s", "/", &[]).unwrap().status, 200);
    drop(second);
    assert!(wait_until(Duration::from_secs(5), || {
        Client::http1_from(Some(a), lb.addr())
            .get("s", "/", &[])
            .is_ok_and(|r| r.status == 200)
    }));
    assert!(decisions(&lb, "", "max_connections_per_ip", "deny") >= 1.0);
    assert!(decisions(&lb, "", "max_connections_per_ip", "allow") >= 3.0);
}

#[test]
fn new_connections_per_second_per_address_are_limited_at_accept() {
    let be = Backend::start("be");
    let lb = Lb::start(&config(
        "\"127.0.0.1:0\"",
        "[listener.limits]\nnew_connections_per_ip = \"2/s\"",
        ALL,
        &be,
        "off",
    ));
    let a = ip("127.0.0.6");
    for _ in 0..2 {
        assert_eq!(get_from(Some(a), lb.addr(), "/", &[]).status, 200);
    }
    assert!(closed_without_answer(raw_from(a, lb.addr())));
    assert_eq!(
        get_from(Some(ip("127.0.0.7")), lb.addr(), "/", &[]).status,
        200
    );
    // Half a second later there is room for one more.
    assert!(wait_until(Duration::from_secs(3), || {
        Client::http1_from(Some(a), lb.addr())
            .get("s", "/", &[])
            .is_ok_and(|r| r.status == 200)
    }));
    assert!(decisions(&lb, "", "new_connections_per_ip", "deny") >= 1.0);
}

#[test]
fn tcp_listeners_honour_access_lists_and_connection_limits_at_accept() {
    let be = StreamBackend::start("127.0.0.1:0", "db", StreamMode::EchoAfterEof);
    let lb = Lb::start(&format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n[admin]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"db\"\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"db\"\n\
         [listener.access]\ndeny = [\"127.0.0.8/32\"]\n[listener.limits]\nmax_connections_per_ip = 1\n\
         [pool.db]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    ));
    let addr = lb.listener("db");
    let echo = |src: &str| {
        let mut s = raw_from(ip(src), addr);
        // A connection refused at accept may already be closed (reset) when these run.
        let _ = s.write_all(b"ping");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    };
    assert_eq!(echo("127.0.0.9"), b"db:ping");
    assert_eq!(echo("127.0.0.8"), b"", "denied at accept");
    let held = raw_from(ip("127.0.0.10"), addr);
    assert!(wait_until(Duration::from_secs(5), || be.open() == 1));
    assert_eq!(echo("127.0.0.10"), b"", "one connection per address");
    drop(held);
    assert!(wait_until(Duration::from_secs(5), || echo("127.0.0.10") == b"db:ping"));
    // Two echoes and the held connection; the refused ones never reached the backend.
    assert!(wait_until(Duration::from_secs(5), || be.seen().len() == 3));
    assert_eq!(be.seen().len(), 3);
    let text = admin_call(lb.admin(), "GET", "/metrics", None, None).text();
    let denied = "fulcrum_guard_decisions_total{listener=\"db\",route=\"\",guard=\"access\",decision=\"deny\"}";
    assert_eq!(sample(&text, denied), Some(1.0), "{text}");
}

#[test]
fn a_reload_changes_a_limit_without_dropping_connections() {
    let be = Backend::start("be");
    let dir = TempDir::new("guard-reload");
    let limit = |rps: u32| {
        config(
            "\"127.0.0.1:0\"",
            &format!("[listener.rate_limit]\nrequests_per_second = {rps}\nburst = {rps}"),
            ALL,
            &be,
            "off",
        )
    };
    let path = dir.write("fulcrum.toml", &limit(1000));
    let lb = Lb::start_file(&path);
    let mut cl = Client::http1(lb.addr());
    for _ in 0..10 {
        assert_eq!(cl.get("s", "/", &[]).unwrap().status, 200);
    }
    replace_file(&path, &limit(1));
    lb.reload().unwrap();
    // The same connection, the new limit (a new table: the old one had another policy).
    assert_eq!(cl.get("s", "/", &[]).unwrap().status, 200);
    let r = cl.get("s", "/", &[]).unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(
        r.header("ratelimit-policy").as_deref(),
        Some("\"default\";q=1;w=1")
    );
    // A reload that keeps the setting keeps the table: still refused.
    lb.reload().unwrap();
    assert_eq!(cl.get("s", "/", &[]).unwrap().status, 429);
    let text = metrics(&lb);
    assert!(
        text.contains("# TYPE fulcrum_guard_decisions_total counter"),
        "{text}"
    );
    assert!(decisions(&lb, "all", "rate_limit", "deny") >= 2.0, "{text}");
}

/// Requests a single keep-alive client completes in `window` (the best of `runs`, to see
/// through the noise of a shared machine).
fn rate(addr: SocketAddr, window: Duration, runs: usize) -> f64 {
    let mut cl = Client::http1(addr);
    (0..runs)
        .map(|_| {
            let start = std::time::Instant::now();
            let mut n = 0u32;
            while start.elapsed() < window {
                assert_eq!(cl.get("shop.example", "/", &[]).unwrap().status, 200);
                n += 1;
            }
            f64::from(n) / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// Issue 10 item 2: while 5,000 slow-header connections are held open, a normal client
/// keeps at least 90% of its unloaded request rate; the header timeout then closes them all.
///
/// A measurement, not run by default: on a shared two-core machine (other test processes
/// included) a busy neighbour halves either rate at random. Run it on a quiet machine:
/// `cargo nextest run -p fulcrum --run-ignored only --no-capture -E 'test(/5000_slow/)'`.
#[test]
#[ignore = "measurement: needs the machine to itself (see the doc comment)"]
fn a_normal_client_keeps_its_rate_while_5000_slow_header_connections_are_held() {
    const SLOW: usize = 5_000;
    let limit = fulcrum_net::fd_limit::raise_to_hard().unwrap();
    // Both ends of every slow connection live in this process, plus the client and backend.
    assert!(
        limit.soft as usize > 2 * SLOW + 512,
        "open-file limit too low: {limit:?}"
    );
    let be = Backend::start("be");
    let lb = Lb::start(&config(
        "\"127.0.0.1:0\"",
        "[listener.timeouts]\nheader = \"8s\"",
        ALL,
        &be,
        "off",
    ));
    let addr = lb.addr();
    let window = Duration::from_millis(400);
    let unloaded = rate(addr, window, 3);
    let mut held = Vec::with_capacity(SLOW);
    for _ in 0..SLOW {
        let mut s = raw_from(ip("127.0.0.20"), addr);
        // A head that never ends: each connection sits in the header phase.
        s.write_all(b"GET / HTTP/1.1\r\nhost: a\r\nx-slow: ")
            .unwrap();
        held.push(s);
    }
    // Trickle one more byte on each, as a slowloris client does.
    for s in &mut held {
        let _ = s.write_all(b"x");
    }
    let active = "fulcrum_connections_active{listener=\"web\"}";
    assert!(
        wait_until(Duration::from_secs(20), || sample(&metrics(&lb), active)
            .is_some_and(|n| n >= SLOW as f64)),
        "the slow connections are not all open: {:?}",
        sample(&metrics(&lb), active)
    );
    let loaded = rate(addr, window, 3);
    let served = loaded / unloaded;
    println!(
        "slow-header: unloaded {unloaded:.0} req/s, with {SLOW} held {loaded:.0} req/s ({:.1}%)",
        served * 100.0
    );
    assert!(
        served >= 0.9,
        "served fraction {served:.3} ({loaded:.0} vs {unloaded:.0} req/s)"
    );
    // Bounded in time: the header timeout closes every one of them.
    assert!(
        wait_until(Duration::from_secs(10), || sample(&metrics(&lb), active)
            .is_some_and(|n| n < 10.0)),
        "slow connections outlived the header timeout: {:?}",
        sample(&metrics(&lb), active)
    );
}

/// `GET /api/v1/guards` on `lb`, as JSON.
fn guards_view(lb: &Lb) -> serde_json::Value {
    let r = admin_call(lb.admin(), "GET", "/api/v1/guards", None, None);
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn the_guards_view_shows_what_protects_each_route_with_counts_and_no_secrets() {
    let hash = crate::auth::sha256_hex("view-secret-key");
    let routes = format!(
        "[[listener.route]]\nname = \"api\"\npath_prefix = \"/api\"\npool = \"app\"\n\
         [listener.route.auth]\nkind = \"api_key\"\nheader = \"x-api-key\"\n\
         keys = [{{ name = \"ci\", sha256 = \"{hash}\" }}]\n\
         [listener.route.rate_limit]\nrequests_per_second = 1\nburst = 1\nkey = \"api_key\"\n\
         [[listener.route]]\nname = \"all\"\npool = \"app\"\n"
    );
    let be = Backend::start("be");
    let lb = Lb::start(&config(
        "\"127.0.0.1:0\"",
        "[listener.limits]\nmax_connections_per_ip = 64\nnew_connections_per_ip = \"500/s\"\n\
         [listener.rate_limit]\nrequests_per_second = 1000\nburst = 1000\n\
         [listener.access]\nallow = [\"127.0.0.0/8\", \"::1/128\"]\ndeny = [\"127.0.0.99/32\"]\n\
         [listener.waf]\nmode = \"detect\"\nparanoia = 2",
        &routes,
        &be,
        "off",
    ));
    let key = [("x-api-key", "view-secret-key")];
    assert_eq!(get_from(None, lb.addr(), "/api/x", &key).status, 200);
    assert_eq!(get_from(None, lb.addr(), "/api/x", &key).status, 429);
    assert_eq!(get_from(None, lb.addr(), "/api/x", &[]).status, 401);
    assert_eq!(get_from(None, lb.addr(), "/", &[]).status, 200);
    assert_eq!(
        get_from(Some(ip("127.0.0.99")), lb.addr(), "/", &[]).status,
        403
    );

    let v = guards_view(&lb);
    let text = v.to_string();
    assert!(!text.contains(&hash), "the view shows a key's hash: {text}");
    assert!(
        !text.contains("view-secret-key"),
        "the view shows a key: {text}"
    );
    let web = &v["listeners"][0];
    assert_eq!(web["name"], "web");
    assert_eq!(web["connections"]["max_connections_per_ip"], 64);
    assert_eq!(web["connections"]["new_connections_per_ip"], "500/s");
    assert_eq!(web["guards"]["rate_limit"]["requests_per_second"], 1000);
    assert_eq!(
        web["guards"]["access"]["deny"]["entries"][0],
        "127.0.0.99/32"
    );
    let route = |name: &str| {
        web["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no route {name}: {web}"))["guards"]
            .clone()
    };
    let api = route("api");
    assert_eq!(api["auth"]["kind"], "api_key");
    assert_eq!(api["auth"]["from"], "route");
    assert_eq!(api["auth"]["keys"], serde_json::json!(["ci"]));
    assert_eq!(api["auth"]["source"]["header"], "x-api-key");
    assert_eq!(api["auth"]["decisions"]["refused"], 1, "{api}");
    assert_eq!(api["rate_limit"]["from"], "route");
    assert_eq!(api["rate_limit"]["key"], "api_key");
    assert_eq!(api["rate_limit"]["keys"], 1, "one key in the table: {api}");
    assert_eq!(api["rate_limit"]["decisions"]["refused"], 1, "{api}");
    // The route without its own takes the listener's limit and list.
    let all = route("all");
    assert_eq!(all["rate_limit"]["from"], "listener");
    assert_eq!(all["access"]["from"], "listener");
    assert!(all.get("auth").is_none(), "{all}");
    assert_eq!(all["waf"]["from"], "listener");
    assert_eq!(all["waf"]["mode"], "detect");
    assert_eq!(all["waf"]["paranoia"], 2);
    assert!(
        all["waf"]["decisions"]["allowed"].as_u64() >= Some(1),
        "{all}"
    );
    assert!(
        all["access"]["decisions"]["refused"].as_u64() >= Some(1),
        "{all}"
    );
}
