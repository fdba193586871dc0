//! The PROXY protocol end to end: read from a trusted front balancer on tcp and http
//! listeners (IPv4 and IPv6), refused from anyone else and when a trusted peer omits it, and
//! sent to the backends of pools that ask for it — the client the header named is the one
//! the backend, the balancer and the access log see.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use fulcrum_net::proxy_protocol::{self as pp, Parse};
use fulcrum_testkit::{wait_until, Backend, StreamBackend, StreamMode};

use crate::support::{Lb, TempDir};

const CLIENT: &str = "203.0.113.9:51234";
const CLIENT6: &str = "[2001:db8::9]:40000";

fn tcp_config(bind: &str, trusted: &str, backend: SocketAddr, version: &str, log: &str) -> String {
    format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = {log}\n\
         [[listener]]\nname = \"db\"\nbind = \"{bind}\"\nprotocol = \"tcp\"\npool = \"db\"\n\
         [listener.proxy_protocol]\ntrusted = [{trusted}]\n\
         [pool.db]\nproxy_protocol = \"{version}\"\nbackends = [{{ address = \"{backend}\" }}]\n"
    )
}

/// Connect from `src` (an address on loopback) to `to`.
fn connect_from(src: &str, to: SocketAddr) -> TcpStream {
    let src: SocketAddr = src.parse().unwrap();
    let domain = socket2::Domain::for_address(to);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
    sock.bind(&src.into()).unwrap();
    sock.connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn send_all_and_read(mut s: TcpStream, data: &[u8]) -> Vec<u8> {
    let _ = s.write_all(data);
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The header at the start of what the backend echoed, and the bytes after it.
fn split_header(echoed: &[u8]) -> (Option<SocketAddr>, Vec<u8>) {
    let body = echoed.splitn(2, |&b| b == b':').nth(1).expect("no echo");
    match pp::parse(body).unwrap() {
        Parse::Complete { header, len } => (
            header
                .source()
                .map(|a| SocketAddr::new(a.ip().to_canonical(), a.port())),
            body[len..].to_vec(),
        ),
        Parse::Incomplete { .. } => panic!("the backend got no whole PROXY header"),
    }
}

#[test]
fn a_trusted_front_balancers_client_is_the_one_the_backend_is_told() {
    for (bind, src, trusted, client) in [
        ("127.0.0.1:0", "127.0.0.1:0", "\"127.0.0.1/32\"", CLIENT),
        ("[::1]:0", "[::1]:0", "\"::1/128\"", CLIENT6),
    ] {
        for (incoming, outgoing) in [("v1", "v2"), ("v2", "v1"), ("v2", "v2")] {
            let be = StreamBackend::start("127.0.0.1:0", "be", StreamMode::EchoAfterEof);
            let dir = TempDir::new("pp-tcp");
            let log = dir.0.join("access.log");
            let lb = Lb::start(&tcp_config(
                bind,
                trusted,
                be.addr,
                outgoing,
                &format!("\"{}\"", log.display()),
            ));
            let to = lb.listener("db");
            let client_addr: SocketAddr = client.parse().unwrap();
            let mut data = Vec::new();
            match incoming {
                "v1" => pp::encode_v1(client_addr, to, &mut data),
                _ => pp::encode_v2(
                    pp::Command::Proxy,
                    pp::Transport::Stream,
                    Some((client_addr, to)),
                    &[],
                    &mut data,
                )
                .unwrap(),
            }
            data.extend_from_slice(b"hello after the header");
            let echoed = send_all_and_read(connect_from(src, to), &data);
            let (source, rest) = split_header(&echoed);
            let case = format!("{bind} {incoming} -> {outgoing}");
            assert_eq!(source, Some(client_addr), "{case}");
            assert_eq!(rest, b"hello after the header", "{case}");
            // The access log names the client, not the front balancer.
            assert!(
                wait_until(Duration::from_secs(10), || {
                    std::fs::read_to_string(&log)
                        .is_ok_and(|t| t.contains(&format!("\"client\":\"{client_addr}\"")))
                }),
                "{case}: {:?}",
                std::fs::read_to_string(&log)
            );
        }
    }
}

#[test]
fn a_trusted_peer_without_a_header_is_refused() {
    let be = StreamBackend::start("127.0.0.1:0", "be", StreamMode::EchoAfterEof);
    let lb = Lb::start(&tcp_config(
        "127.0.0.1:0",
        "\"127.0.0.1/32\"",
        be.addr,
        "v1",
        "\"off\"",
    ));
    let to = lb.listener("db");
    let echoed = send_all_and_read(connect_from("127.0.0.1:0", to), b"GET / HTTP/1.1\r\n\r\n");
    assert!(echoed.is_empty(), "{echoed:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        be.seen().is_empty(),
        "the backend was reached: {:?}",
        be.seen()
    );
}

#[test]
fn anyone_else_is_their_own_client_and_may_not_send_a_header() {
    let be = StreamBackend::start("127.0.0.1:0", "be", StreamMode::EchoAfterEof);
    // Only 127.0.0.1 is trusted; these clients come from 127.0.0.2.
    let lb = Lb::start(&tcp_config(
        "127.0.0.1:0",
        "\"127.0.0.1/32\"",
        be.addr,
        "v1",
        "\"off\"",
    ));
    let to = lb.listener("db");
    let echoed = send_all_and_read(connect_from("127.0.0.2:0", to), b"plain bytes");
    let (source, rest) = split_header(&echoed);
    assert_eq!(source.map(|s| s.ip()), Some("127.0.0.2".parse().unwrap()));
    assert_eq!(rest, b"plain bytes");
    // A header from a peer that is not trusted is refused, not believed nor relayed.
    let mut forged = Vec::new();
    pp::encode_v1(CLIENT.parse().unwrap(), to, &mut forged);
    forged.extend_from_slice(b"more");
    let echoed = send_all_and_read(connect_from("127.0.0.2:0", to), &forged);
    assert!(echoed.is_empty(), "{:?}", String::from_utf8_lossy(&echoed));
    assert!(wait_until(Duration::from_secs(5), || be.seen().len() == 2));
    for seen in be.seen() {
        let head = String::from_utf8_lossy(&seen.head);
        assert!(
            head.starts_with("PROXY TCP4 127.0.0.2 ") && !head.contains("203.0.113.9"),
            "the backend was told: {head:?}"
        );
    }
}

#[test]
fn an_http_listener_takes_the_client_from_the_header() {
    let be = Backend::start("be");
    let cfg = format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [listener.proxy_protocol]\ntrusted = [\"127.0.0.1/32\"]\n\
         [[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    );
    let lb = Lb::start(&cfg);
    let to = lb.addr();
    for incoming in ["v1", "v2"] {
        let client_addr: SocketAddr = CLIENT.parse().unwrap();
        let mut data = Vec::new();
        match incoming {
            "v1" => pp::encode_v1(client_addr, to, &mut data),
            _ => pp::encode_v2(
                pp::Command::Proxy,
                pp::Transport::Stream,
                Some((client_addr, to)),
                &[],
                &mut data,
            )
            .unwrap(),
        }
        data.extend_from_slice(
            b"GET /x HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n",
        );
        let reply = send_all_and_read(connect_from("127.0.0.1:0", to), &data);
        assert!(
            reply.starts_with(b"HTTP/1.1 200"),
            "{incoming}: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    let rec = be.recorded();
    assert_eq!(rec.len(), 2);
    for r in &rec {
        assert_eq!(
            r.headers["x-forwarded-for"], "203.0.113.9",
            "{:?}",
            r.headers
        );
        assert_eq!(r.headers["x-real-ip"], "203.0.113.9");
    }
    // From a peer that is not trusted, a header is no request: 400.
    let mut forged = Vec::new();
    pp::encode_v1(CLIENT.parse().unwrap(), to, &mut forged);
    forged.extend_from_slice(b"GET /x HTTP/1.1\r\nHost: shop.example\r\n\r\n");
    let reply = send_all_and_read(connect_from("127.0.0.2:0", to), &forged);
    assert!(
        reply.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(be.recorded().len(), 2);
}

/// A backend that insists on a PROXY header before its HTTP: counts checks that sent a v2
/// `LOCAL` header and a `GET`, and answers them 200; anything else gets a 400.
fn strict_backend() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let good = std::sync::Arc::new(AtomicUsize::new(0));
    let g = good.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            let ok = loop {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                match pp::parse(&buf) {
                    Ok(Parse::Complete { header, len }) => {
                        let local = header.command == pp::Command::Local;
                        let rest = &buf[len..];
                        if rest.windows(4).any(|w| w == b"\r\n\r\n") {
                            break local && rest.starts_with(b"GET /healthz ");
                        }
                    }
                    Ok(Parse::Incomplete { .. }) => {}
                    Err(_) => break false,
                }
            };
            let reply: &[u8] = if ok {
                g.fetch_add(1, Ordering::SeqCst);
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            } else {
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = conn.write_all(reply);
        }
    });
    (addr, good)
}

#[test]
fn health_checks_of_a_proxy_protocol_pool_say_they_are_local() {
    let (addr, good) = strict_backend();
    let cfg = format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n[admin]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"db\"\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\npool = \"db\"\n\
         [pool.db]\nproxy_protocol = \"v2\"\nbackends = [{{ address = \"{addr}\" }}]\n\
         [pool.db.health]\npath = \"/healthz\"\ninterval = \"100ms\"\ntimeout = \"100ms\"\nhealthy_threshold = 2\n"
    );
    let lb = Lb::start(&cfg);
    assert!(
        wait_until(Duration::from_secs(10), || {
            crate::support::backend_field(lb.admin(), "db", &addr.to_string(), "health")
                == "healthy"
        }),
        "{:?}",
        crate::support::backend_entry(lb.admin(), "db", &addr.to_string())
    );
    assert!(good.load(std::sync::atomic::Ordering::SeqCst) >= 2);
}
