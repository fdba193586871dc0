//! Issue 7 item 9: only the `Upgrade` protocols a route allows are tunnelled (`websocket` by
//! default); any other upgrade request is forwarded as a plain request without its upgrade.

use std::io::{Read, Write};
use std::time::Duration;

use fulcrum_testkit::Backend;

use crate::support::Lb;

fn upgrade_request(host: &str, path: &str, protocol: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: {protocol}\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes()
}

/// The status line and head of the first response on `s`.
fn read_head(s: &mut std::net::TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

fn config(be: &Backend) -> String {
    format!(
        "[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\nhost = \"none.test\"\nupgrades = []\npool = \"app\"\n\
         [[listener.route]]\nhost = \"foo.test\"\nupgrades = [\"foo\"]\npool = \"app\"\n\
         [[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    )
}

/// Issue 7 item 9: `Upgrade: h2c` was tunnelled, so an h2c-capable backend got a connection
/// past routes and limits; now it is forwarded as a plain request without `Upgrade`.
#[test]
fn h2c_upgrade_is_not_tunnelled() {
    let be = Backend::start("be");
    let lb = Lb::start(&config(&be));
    let mut s = std::net::TcpStream::connect(lb.addr()).unwrap();
    s.write_all(&upgrade_request("a", "/plain", "h2c")).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let h = &be.recorded()[0].headers;
    for gone in ["upgrade", "http2-settings", "connection"] {
        assert!(h.get(gone).is_none(), "{gone} reached the backend: {h:?}");
    }
    // A backend that switches protocols anyway (testkit's /ws always answers 101) is a
    // protocol error, not a tunnel.
    let mut s = std::net::TcpStream::connect(lb.addr()).unwrap();
    s.write_all(&upgrade_request("a", "/ws", "h2c")).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("http/1.1 502"), "{head}");
    assert!(be.recorded()[1].headers.get("upgrade").is_none());
}

/// `websocket` is tunnelled by default; a route's `upgrades` list replaces the default, and
/// an empty list tunnels nothing.
#[test]
fn routes_tunnel_only_the_upgrades_they_list() {
    let be = Backend::start("be");
    let lb = Lb::start(&config(&be));
    let tunnelled = |host: &str, protocol: &str| {
        let mut s = std::net::TcpStream::connect(lb.addr()).unwrap();
        s.write_all(&upgrade_request(host, "/ws", protocol))
            .unwrap();
        let head = read_head(&mut s);
        if !head.starts_with("http/1.1 101") {
            return false;
        }
        s.write_all(b"\x00raw\r\n").unwrap();
        let mut echo = [0u8; 6];
        s.read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"\x00raw\r\n");
        true
    };
    assert!(tunnelled("a", "websocket"));
    assert!(tunnelled("a", "WebSocket"));
    assert!(tunnelled("foo.test", "foo"));
    assert!(!tunnelled("foo.test", "websocket"));
    assert!(!tunnelled("none.test", "websocket"));
    assert!(!tunnelled("a", "websocket, h2c"));
    let upgrades: Vec<bool> = be
        .recorded()
        .iter()
        .map(|r| r.headers.contains_key("upgrade"))
        .collect();
    assert_eq!(upgrades, [true, true, true, false, false, false]);
}
