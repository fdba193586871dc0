//! `tcp` listeners end to end: real sockets on loopback (IPv4 and IPv6), real backends, the
//! relay's half-close both ways, retries on a refusing backend, balancing keyed by the
//! client address, limits, timeouts, draining, reloads, the access log and metrics.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use fulcrum_testkit::{closed_port, wait_until, StreamBackend, StreamMode};

use crate::support::{delete_backend, Lb, TempDir};

/// A config with a tcp listener `db` on `bind` relaying to pool `db` over `backends`.
fn config(bind: &str, backends: &[SocketAddr], listener_extra: &str, pool_extra: &str) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n[admin]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"db\"\nbind = \"{bind}\"\nprotocol = \"tcp\"\npool = \"db\"\n\
         {listener_extra}\n\
         [pool.db]\nbackends = [{}]\n{pool_extra}\n",
        list.join(", ")
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Send `data`, shut the sending side, read the reply to its end.
fn exchange(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// The backend's name from an `EchoAfterEof` reply.
fn who(reply: &[u8]) -> String {
    let colon = reply
        .iter()
        .position(|&b| b == b':')
        .expect("no name in the reply");
    String::from_utf8_lossy(&reply[..colon]).into_owned()
}

#[test]
fn a_client_half_close_still_gets_the_whole_reply_on_both_address_families() {
    for (bind, backend_bind) in [
        ("127.0.0.1:0", "127.0.0.1:0"),
        ("[::1]:0", "[::1]:0"),
        // An IPv6 client reaches an IPv4 backend, and the other way round.
        ("[::1]:0", "127.0.0.1:0"),
        ("127.0.0.1:0", "[::1]:0"),
    ] {
        let be = StreamBackend::start(backend_bind, "one", StreamMode::EchoAfterEof);
        let lb = Lb::start(&config(bind, &[be.addr], "", ""));
        let data = payload(3 * 1024 * 1024 + 17);
        let reply = exchange(lb.listener("db"), &data);
        assert_eq!(&reply[..4], b"one:", "{bind} -> {backend_bind}");
        assert!(
            reply[4..] == data[..],
            "{bind} -> {backend_bind}: {} bytes back of {}",
            reply.len() - 4,
            data.len()
        );
        assert!(wait_until(Duration::from_secs(5), || be.seen().len() == 1));
        assert_eq!(be.seen()[0].received, data.len());
    }
}

#[test]
fn a_backend_half_close_still_gets_the_whole_upload() {
    let be = StreamBackend::start("127.0.0.1:0", "greeter", StreamMode::GreetThenRead);
    let lb = Lb::start(&config("127.0.0.1:0", &[be.addr], "", ""));
    let mut s = connect(lb.listener("db"));
    // The backend's greeting and its end of stream arrive first...
    let mut greeting = Vec::new();
    s.read_to_end(&mut greeting).unwrap();
    assert_eq!(greeting, b"greeter\n");
    // ...and the client can still send all it has.
    let data = payload(2 * 1024 * 1024);
    s.write_all(&data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || be.seen().len() == 1),
        "the backend never saw the upload end"
    );
    assert_eq!(be.seen()[0].received, data.len());
}

#[test]
fn a_refusing_backend_is_retried_on_another_and_ejected() {
    let live = StreamBackend::start("127.0.0.1:0", "live", StreamMode::EchoAfterEof);
    let dead = closed_port();
    let lb = Lb::start(&config(
        "127.0.0.1:0",
        &[dead, live.addr],
        "",
        "balance = \"round_robin\"\n[pool.db.outlier]\nconsecutive_failures = 3\n",
    ));
    for i in 0..20 {
        let reply = exchange(lb.listener("db"), format!("hello {i}").as_bytes());
        assert_eq!(
            reply,
            format!("live:hello {i}").as_bytes(),
            "connection {i}"
        );
    }
    // Connect failures count for passive health: the dead backend is ejected.
    let entry = crate::support::backend_entry(lb.admin(), "db", &dead.to_string()).unwrap();
    assert_eq!(entry["ejected"], true, "{entry}");
    assert!(entry["failures"].as_u64().unwrap() >= 3, "{entry}");
}

#[test]
fn no_usable_backend_closes_the_connection_without_hanging() {
    let lb = Lb::start(&config(
        "127.0.0.1:0",
        &[closed_port(), closed_port()],
        "",
        "[pool.db.outlier]\nconsecutive_failures = 0\n",
    ));
    let started = Instant::now();
    let mut s = connect(lb.listener("db"));
    // Fulcrum may close before the client is done sending: errors here are fine.
    let _ = s.write_all(b"anyone?");
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(out.is_empty(), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn hash_balancers_keep_each_client_address_on_one_backend() {
    for balance in ["ip_hash", "ring_hash"] {
        let bes: Vec<StreamBackend> = ["a", "b", "c"]
            .iter()
            .map(|n| StreamBackend::start("127.0.0.1:0", n, StreamMode::EchoAfterEof))
            .collect();
        let addrs: Vec<SocketAddr> = bes.iter().map(|b| b.addr).collect();
        let lb = Lb::start(&config(
            "127.0.0.1:0",
            &addrs,
            "",
            &format!("balance = \"{balance}\"\n"),
        ));
        let target = lb.listener("db");
        let mut chosen = std::collections::HashSet::new();
        // Clients on 30 loopback addresses, each connecting three times.
        for last in 2..32u8 {
            let src: SocketAddr = format!("127.0.0.{last}:0").parse().unwrap();
            let mut names = Vec::new();
            for _ in 0..3 {
                let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                sock.bind(&src.into()).unwrap();
                sock.connect_timeout(&target.into(), Duration::from_secs(5))
                    .unwrap();
                let mut s: TcpStream = sock.into();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(b"x").unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let mut out = Vec::new();
                s.read_to_end(&mut out).unwrap();
                names.push(who(&out));
            }
            assert!(
                names.iter().all(|n| *n == names[0]),
                "{balance}: 127.0.0.{last} moved: {names:?}"
            );
            chosen.insert(names[0].clone());
        }
        assert!(chosen.len() >= 2, "{balance}: every client on {chosen:?}");
    }
}

#[test]
fn max_connections_holds_further_clients_until_a_slot_frees() {
    let be = StreamBackend::start("127.0.0.1:0", "echo", StreamMode::Echo);
    let lb = Lb::start(&config(
        "127.0.0.1:0",
        &[be.addr],
        "[listener.limits]\nmax_connections = 2\n",
        "",
    ));
    let addr = lb.listener("db");
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    for s in &mut held {
        s.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
    }
    let mut third = connect(addr);
    third.write_all(b"wait").unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut b = [0u8; 4];
    assert!(
        third.read_exact(&mut b).is_err(),
        "a third connection was relayed"
    );
    assert_eq!(be.open(), 2);
    drop(held.pop());
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    third.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"wait");
}

#[test]
fn idle_connections_close_after_the_idle_timeout_and_busy_ones_stay() {
    let be = StreamBackend::start("127.0.0.1:0", "echo", StreamMode::Echo);
    let lb = Lb::start(&config(
        "127.0.0.1:0",
        &[be.addr],
        "[listener.timeouts]\nidle = \"400ms\"\n",
        "",
    ));
    let addr = lb.listener("db");
    let mut idle = connect(addr);
    let mut busy = connect(addr);
    let started = Instant::now();
    // The busy one talks every 100 ms for twice the idle timeout.
    while started.elapsed() < Duration::from_millis(800) {
        busy.write_all(b"tick").unwrap();
        let mut b = [0u8; 4];
        busy.read_exact(&mut b).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut b = [0u8; 1];
    // The idle one was closed meanwhile: its read ends.
    assert!(matches!(idle.read(&mut b), Ok(0) | Err(_)));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_drained_backend_keeps_its_connections_until_drain_timeout() {
    let old = StreamBackend::start("127.0.0.1:0", "old", StreamMode::Echo);
    let new = StreamBackend::start("127.0.0.1:0", "new", StreamMode::EchoAfterEof);
    let lb = Lb::start(&config(
        "127.0.0.1:0",
        &[old.addr],
        "",
        "drain_timeout = \"800ms\"\n",
    ));
    let addr = lb.listener("db");
    let mut open = connect(addr);
    open.write_all(b"before").unwrap();
    let mut b = [0u8; 6];
    open.read_exact(&mut b).unwrap();
    // Add the new backend and drain the old one.
    let r = crate::support::post_backend(
        lb.admin(),
        "db",
        &format!("{{\"address\": \"{}\"}}", new.addr),
    );
    assert!(r.status.is_success(), "{}", r.text());
    let r = delete_backend(lb.admin(), "db", &old.addr.to_string());
    assert!(r.status.is_success(), "{}", r.text());
    let drained_at = Instant::now();
    // New connections go to the new backend; the open one still works.
    assert_eq!(who(&exchange(addr, b"x")), "new");
    open.write_all(b"during").unwrap();
    open.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"during");
    // When the drain runs out, the connection is closed.
    let mut one = [0u8; 1];
    let n = open.read(&mut one);
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let waited = drained_at.elapsed();
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    assert!(wait_until(Duration::from_secs(5), || old.open() == 0));
}

#[test]
fn a_reload_keeps_open_connections_and_applies_the_new_pool() {
    let a = StreamBackend::start("127.0.0.1:0", "a", StreamMode::Echo);
    let b = StreamBackend::start("127.0.0.1:0", "b", StreamMode::EchoAfterEof);
    let dir = TempDir::new("tcp-reload");
    let path = dir.write("fulcrum.toml", &config("127.0.0.1:0", &[a.addr], "", ""));
    let lb = Lb::start_file(&path);
    let addr = lb.listener("db");
    let mut open = connect(addr);
    open.write_all(b"one").unwrap();
    let mut buf = [0u8; 3];
    open.read_exact(&mut buf).unwrap();
    crate::support::replace_file(&path, &config("127.0.0.1:0", &[b.addr], "", ""));
    lb.reload().unwrap();
    assert_eq!(lb.listener("db"), addr, "the listener was rebound");
    assert_eq!(who(&exchange(addr, b"x")), "b");
    // The connection opened before the reload still relays to its backend.
    open.write_all(b"two").unwrap();
    open.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"two");
}

#[test]
fn each_connection_is_one_access_log_line_and_counted_in_metrics() {
    let be = StreamBackend::start("127.0.0.1:0", "one", StreamMode::EchoAfterEof);
    let dir = TempDir::new("tcp-log");
    let log = dir.0.join("access.log");
    let cfg = config("127.0.0.1:0", &[be.addr], "", "").replace(
        "target = \"off\"",
        &format!("target = \"{}\"", log.display()),
    );
    let lb = Lb::start(&cfg);
    let reply = exchange(lb.listener("db"), &payload(1000));
    assert_eq!(reply.len(), 1004);
    let line = {
        let mut found = None;
        let ok = wait_until(Duration::from_secs(10), || {
            found = std::fs::read_to_string(&log)
                .ok()
                .and_then(|t| t.lines().find(|l| l.contains("\"tcp\"")).map(str::to_owned));
            found.is_some()
        });
        assert!(ok, "no access log line");
        found.unwrap()
    };
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["listener"], "db");
    assert_eq!(v["pool"], "db");
    assert_eq!(v["backend"], be.addr.to_string());
    assert_eq!(v["bytes_in"], 1000);
    assert_eq!(v["bytes_out"], 1004);
    assert_eq!(v["end"], "closed");
    assert_eq!(v["attempts"], 1);
    assert_eq!(v["zero_copy"], cfg!(target_os = "linux"));
    let metrics = crate::support::admin_call(lb.admin(), "GET", "/metrics", None, None).text();
    assert!(
        metrics.contains("fulcrum_connections_total{listener=\"db\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fulcrum_bytes_total{listener=\"db\",direction=\"in\"} 1000"),
        "{metrics}"
    );
    assert!(metrics.contains("fulcrum_connections_active{listener=\"db\"} 0"));
}
