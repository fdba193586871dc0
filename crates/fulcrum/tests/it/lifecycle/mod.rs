//! Connection lifecycle (issue 7 items 5, 6, 12, 14): idle tunnels and relays, SIGTERM's drain
//! delay and grace period, reloads that rebind, the open-file limit, series of removed things.

mod fds;
mod idle;
mod rebind;
mod series;
mod shutdown;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_testkit::tls::rustls;

use crate::support::{field, Proc};

/// `fulcrum run -c config` as a child, optionally under `prlimit` (which runs it in its own
/// process, so the pid is Fulcrum's).
pub fn spawn(config: &std::path::Path, nofile: Option<(u64, u64)>) -> Proc {
    match nofile {
        Some((soft, hard)) => {
            let limit = format!("--nofile={soft}:{hard}");
            Proc::run_under(&["prlimit", &limit], config)
        }
        None => Proc::run(config),
    }
}

/// Read the child's log until every listener in `names` (and `admin` for the admin
/// listener) has said where it listens.
pub fn addresses(p: &Proc, names: &[&str]) -> std::collections::HashMap<String, SocketAddr> {
    let mut out = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while names.iter().any(|n| !out.contains_key(*n)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = p
            .stderr_lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("never listened: {out:?}"));
        if !line.contains("listening") {
            continue;
        }
        let name = if line.contains("admin listening") {
            "admin".to_string()
        } else {
            match field(&line, "listener") {
                Some(n) => n,
                None => continue,
            }
        };
        if let Some(a) = field(&line, "address") {
            out.insert(name, a.parse().unwrap());
        }
    }
    out
}

/// One `GET path` on a fresh connection with `Connection: close`: the status and the whole
/// reply, or why there was none (refused, reset, timeout).
pub fn try_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let r = fulcrum_testkit::read_until_close(&mut s, Duration::from_secs(15));
    match r.status() {
        Some(code) if r.closed => Ok((code, r.text())),
        _ => Err(format!(
            "no whole answer (closed: {}): {:?}",
            r.closed,
            r.text()
        )),
    }
}

/// Open a WebSocket tunnel through `addr` to the test backend's echoing `/ws`.
pub fn open_tunnel(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// Send `msg` and read it back (through an echoing tunnel or relay).
pub fn echo(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

/// Whether the peer closes `s` (end of stream or reset) within `timeout`; bytes that arrive
/// meanwhile are discarded.
pub fn closed_within(s: &mut TcpStream, timeout: Duration) -> bool {
    fulcrum_testkit::read_until_close(s, timeout).closed
}

/// A TCP server that echoes every connection's bytes back, on its own threads.
pub fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A real ClientHello for `name`, as a TLS client's first flight.
pub fn client_hello(name: &str) -> Vec<u8> {
    let cfg = Arc::new(fulcrum_testkit::tls::insecure_client_config(&[]));
    let mut conn =
        rustls::ClientConnection::new(cfg, name.to_string().try_into().unwrap()).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    hello
}

/// A passthrough connection to an echo backend: the ClientHello sent and echoed back.
pub fn open_relay(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    echo(&mut s, &client_hello("pt.test"));
    s
}
