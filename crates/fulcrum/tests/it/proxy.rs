//! Routing, route actions, forwarding headers, error responses, HTTP/2, IPv6, upgrades.

use std::io::{Read, Write};
use std::time::Duration;

use fulcrum_testkit::{closed_port, get, raw_exchange, Backend, Client};

use crate::support::{pool, simple, Lb};

fn routed_config(a: &Backend, b: &Backend, c: &Backend) -> String {
    format!(
        r#"
[runtime]
workers = 2
[access_log]
target = "off"
[[listener]]
name = "web"
bind = "127.0.0.1:0"
  [[listener.route]]
  name = "canary"
  host = "api.example.com"
  headers = {{ "x-canary" = "1" }}
  pool = "c"
  [[listener.route]]
  name = "api"
  host = "api.example.com"
  path_prefix = "/v1/"
  pool = "a"
  [[listener.route]]
  name = "wild"
  host = "*.example.com"
  pool = "b"
  [[listener.route]]
  name = "moved"
  path_prefix = "/old"
  redirect = {{ to = "https://example.com/new", status = 308 }}
  [[listener.route]]
  name = "maint"
  path_prefix = "/maint"
  respond = {{ status = 503, body = "down for maintenance" }}
{}{}{}"#,
        pool("a", "round_robin", &[a]),
        pool("b", "round_robin", &[b]),
        pool("c", "round_robin", &[c])
    )
}

#[test]
fn routes_by_host_path_and_header_first_match_wins() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let lb = Lb::start(&routed_config(&a, &b, &c));
    let mut cl = Client::http1(lb.addr());
    let who = |cl: &mut Client, host: &str, path: &str, h: &[(&str, &str)]| {
        let r = cl.get(host, path, h).unwrap();
        (r.status.as_u16(), r.header("x-backend").unwrap_or_default())
    };
    assert_eq!(
        who(&mut cl, "api.example.com", "/v1/users", &[]),
        (200, "a".into())
    );
    // Case-insensitive, port ignored.
    assert_eq!(
        who(&mut cl, "API.Example.COM:8080", "/v1/x", &[]),
        (200, "a".into())
    );
    // Header match wins because it comes first.
    assert_eq!(
        who(&mut cl, "api.example.com", "/v1/x", &[("x-canary", "1")]),
        (200, "c".into())
    );
    assert_eq!(
        who(&mut cl, "api.example.com", "/v1/x", &[("x-canary", "2")]),
        (200, "a".into())
    );
    // Path outside the prefix falls through to the wildcard.
    assert_eq!(
        who(&mut cl, "api.example.com", "/v2/x", &[]),
        (200, "b".into())
    );
    assert_eq!(
        who(&mut cl, "deep.sub.example.com", "/", &[]),
        (200, "b".into())
    );
    // The bare domain is not matched by the wildcard: no route.
    let r = cl.get("example.com", "/", &[]).unwrap();
    assert_eq!(r.status, 404);
    assert!(r.text().contains("no route"), "{}", r.text());
}

#[test]
fn redirect_and_respond_actions() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let lb = Lb::start(&routed_config(&a, &b, &c));
    let r = get(lb.addr(), "/old/page");
    assert_eq!(r.status, 308);
    assert_eq!(r.header("location").unwrap(), "https://example.com/new");
    let r = get(lb.addr(), "/maint");
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "down for maintenance");
    assert_eq!(a.request_count() + b.request_count() + c.request_count(), 0);
}

#[test]
fn forwarding_headers_and_request_id() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    let mut cl = Client::http1(lb.addr());
    let r = cl
        .get(
            "shop.example",
            "/p?q=1",
            &[
                ("x-forwarded-for", "203.0.113.7"),
                ("x-request-id", "req-abc-1"),
            ],
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let r2 = cl.get("shop.example", "/p2", &[]).unwrap();
    assert_eq!(r2.status, 200);
    let seen = be.recorded();
    let h = &seen[0].headers;
    assert_eq!(seen[0].uri, "/p?q=1");
    // The client is not a trusted proxy: its own X-Forwarded-For is dropped (issue 7 item 7).
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "shop.example");
    assert_eq!(h["host"], "shop.example");
    assert_eq!(h["x-request-id"], "req-abc-1");
    let generated = seen[1].headers["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 32, "{generated}");
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn hop_by_hop_headers_are_not_forwarded() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    let req = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Kept: yes\r\n\r\n";
    let mut s = std::net::TcpStream::connect(lb.addr()).unwrap();
    s.write_all(req).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let h = &be.recorded()[0].headers;
    for gone in [
        "connection",
        "x-private",
        "keep-alive",
        "te",
        "proxy-authorization",
    ] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded: {h:?}");
    }
    assert_eq!(h["x-kept"], "yes");
}

#[test]
fn error_responses_name_reason_and_request_id() {
    // 502: nothing listens on the backend's port. 504: the backend sleeps past `request`.
    let refused = closed_port();
    let slow = Backend::start("slow");
    let cfg = format!(
        "[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         timeouts = {{ request = \"300ms\" }}\n\
         [[listener.route]]\npath_prefix = \"/refused\"\npool = \"gone\"\n\
         [[listener.route]]\npool = \"slow\"\n\
         [pool.gone]\nbackends = [{{ address = \"{refused}\" }}]\n\
         [pool.slow]\nbackends = [{{ address = \"{}\" }}]\n",
        slow.addr
    );
    let lb = Lb::start(&cfg);
    let mut cl = Client::http1(lb.addr());
    let r = cl
        .get("a", "/refused", &[("x-request-id", "rid-502")])
        .unwrap();
    assert_eq!(r.status, 502);
    assert!(r.text().contains("refused the connection"), "{}", r.text());
    assert!(r.text().contains("rid-502"), "{}", r.text());
    assert_eq!(r.header("x-request-id").unwrap(), "rid-502");

    let r = Client::http1(lb.addr())
        .get("a", "/sleep/2000", &[("x-request-id", "rid-504")])
        .unwrap();
    assert_eq!(r.status, 504);
    assert!(r.text().contains("did not respond in time"), "{}", r.text());
    assert!(r.text().contains("rid-504"));
}

#[test]
fn backend_reset_is_502() {
    // A "backend" that accepts and closes without answering.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(4) {
            let mut s = s.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            drop(s);
        }
    });
    let cfg = format!(
        "[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"app\"\n[pool.app]\nbackends = [{{ address = \"{addr}\" }}]\n"
    );
    let lb = Lb::start(&cfg);
    let r = get(lb.addr(), "/");
    assert_eq!(r.status, 502);
    assert!(r.text().contains("closed or reset"), "{}", r.text());
}

#[test]
fn http2_prior_knowledge_to_http1_backend() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    let mut cl = Client::http2(lb.addr());
    for i in 0..3 {
        let r = cl.get("h2.example", &format!("/h2/{i}"), &[]).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "be");
    }
    let seen = be.recorded();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].headers["host"], "h2.example");
    assert_eq!(seen[0].headers["x-forwarded-host"], "h2.example");
}

/// Start `web` bound to every address of `binds` (each formatted with one free port `P`), routing
/// to `backend`; a port taken meanwhile by someone else is tried again with another.
fn start_on_shared_port(binds: &[&str], backend: &Backend) -> (Lb, u16) {
    for _ in 0..5 {
        let port = fulcrum_testkit::free_dual_stack_port();
        let list: Vec<String> = binds
            .iter()
            .map(|b| format!("\"{}\"", b.replace('P', &port.to_string())))
            .collect();
        let cfg = format!(
            "[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = [{}]\n\
             [[listener.route]]\npool = \"app\"\n[pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
            list.join(", "),
            backend.addr
        );
        let cfg = fulcrum_config::parse_str(&cfg, "test.toml", &|_| None).unwrap();
        match Lb::try_start(&cfg) {
            Ok(lb) => return (lb, port),
            Err(e) if e.contains("in use") => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no free port for {binds:?} in 5 tries");
}

/// Issue 7 item 20: the README's dual-stack form, `0.0.0.0:P` and `[::]:P` on one port (the
/// old test bound `127.0.0.1` and `[::1]`, two addresses that never conflict). Both families
/// are served, each by its own socket: the backend sees the IPv4 client as `127.0.0.1`, not
/// as the v4-mapped `::ffff:127.0.0.1` a dual-stack IPv6 socket would report.
#[test]
fn dual_stack_wildcards_on_one_port_serve_both_families() {
    let be6 = Backend::start_on("v6", "[::1]:0".parse().unwrap());
    let (lb, port) = start_on_shared_port(&["0.0.0.0:P", "[::]:P"], &be6);
    let bound = lb.all_addrs("web");
    assert_eq!(
        bound,
        [
            format!("0.0.0.0:{port}")
                .parse::<std::net::SocketAddr>()
                .unwrap(),
            format!("[::]:{port}").parse().unwrap()
        ]
    );
    for (client, seen_as) in [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1")] {
        let addr = format!("{client}:{port}").parse().unwrap();
        let r = get(addr, "/");
        assert_eq!(
            (r.status.as_u16(), r.text()),
            (200, "v6".into()),
            "{client}"
        );
        let last = be6.recorded().pop().unwrap();
        assert_eq!(last.headers["x-forwarded-for"], seen_as, "{client}");
    }
}

/// Issue 7 item 20: `[::]:P` alone is IPv6 only (`IPV6_V6ONLY`): an IPv4 client is refused,
/// not served through a dual-stack socket behind the configuration's back.
#[test]
fn ipv6_wildcard_listener_takes_no_ipv4_clients() {
    let be = Backend::start("be");
    let (_lb, port) = start_on_shared_port(&["[::]:P"], &be);
    let v6 = format!("[::1]:{port}").parse().unwrap();
    assert_eq!(get(v6, "/").status, 200);
    let v4: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let refused = std::net::TcpStream::connect(v4);
    assert!(
        refused.is_err(),
        "an IPv4 client reached the IPv6-only listener"
    );
    assert_eq!(be.request_count(), 1);
}

#[test]
fn websocket_upgrade_is_tunnelled() {
    let be = Backend::start("ws");
    let lb = Lb::start(&simple(&[&be], ""));
    let mut s = std::net::TcpStream::connect(lb.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    // Bytes that would be invalid HTTP flow through the tunnel both ways.
    let payload = b"\x81\x85\x00\x00\x00\x00hello\x00\r\n\x01";
    s.write_all(payload).unwrap();
    let mut echo = vec![0u8; payload.len()];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, payload);
    assert_eq!(be.recorded()[0].headers["upgrade"], "websocket");
}

#[test]
fn upgrade_refused_by_backend_keeps_checking_http() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    // The backend answers 200 to an upgrade request on "/", so the next bytes are HTTP again
    // and a malformed second request is refused.
    let r = raw_exchange(
        lb.addr(),
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        Duration::from_secs(5),
    );
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert!(r.text().contains("HTTP/1.1 400"), "{}", r.text());
    assert!(r.closed);
    assert_eq!(be.request_count(), 1);
}

// Regression: an HTTP/1.0 request without Host was forwarded as HTTP/1.1 without Host, which
// backends refuse (RFC 9112 §3.2); the backend's address is sent instead.
#[test]
fn http10_without_host_reaches_the_backend_with_a_host() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    let r = raw_exchange(
        lb.addr(),
        b"GET /old HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(
        r.text().starts_with("HTTP/1.0 200") || r.text().starts_with("HTTP/1.1 200"),
        "{}",
        r.text()
    );
    assert_eq!(
        be.recorded()[0].headers["host"],
        be.addr.to_string().as_str()
    );
}

/// Encoded and dotted spellings of a path take the route of the path a backend would act
/// on: they cannot slip past a prefix route.
#[test]
fn path_tricks_cannot_bypass_a_prefix_route() {
    let be = Backend::start("be");
    let cfg = format!(
        "[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npath_prefix = \"/admin\"\nrespond = {{ status = 403, body = \"denied\" }}\n\
         [[listener.route]]\npool = \"app\"\n[pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    );
    let lb = Lb::start(&cfg);
    for path in [
        "/admin/x",
        "/%61dmin/x",
        "//admin/x",
        "/x/../admin/x",
        "/%2e%2e/admin",
        "/./admin",
    ] {
        let r = raw_exchange(
            lb.addr(),
            format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        );
        assert_eq!(r.status(), Some(403), "{path}: {}", r.text());
    }
    assert_eq!(get(lb.addr(), "/public").status, 200);
    assert_eq!(be.request_count(), 1);
}
