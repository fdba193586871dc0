//! Item 12: a reload that rebinds a listener (its addresses or protocol changed) loses none of
//! the connections waiting in the old sockets' accept backlog.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fulcrum_testkit::{read_until_close, wait_until, Backend};

use crate::support::{Lb, TempDir};

/// `web` on `binds` with a small `max_connections`, so that clients queue in the backlog.
fn config(be: &Backend, binds: &str, max_connections: usize) -> String {
    format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = {binds}\n\
         [listener.limits]\nmax_connections = {max_connections}\n\
         [[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    )
}

/// One request on its own connection: `Ok` once answered 200, or what went wrong.
fn exchange(addr: SocketAddr, path: &str) -> Result<(), String> {
    answered(send(addr, path)?)
}

/// Connect and send the request.
fn send(addr: SocketAddr, path: &str) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    Ok(s)
}

/// Read the answer to what [`send`] sent.
fn answered(mut s: TcpStream) -> Result<(), String> {
    let r = read_until_close(&mut s, Duration::from_secs(20));
    match r.status() {
        Some(200) if r.closed => Ok(()),
        _ => Err(format!("closed: {}, got {:?}", r.closed, r.text())),
    }
}

/// Issue 7 item 12: reloads that rebind the listener while clients keep connecting (and,
/// with `max_connections` reached, wait in the backlog) lose no connection: each one is
/// answered 200. The listener's port stays; what changes is its list of addresses.
#[test]
fn reloads_that_rebind_a_listener_under_a_flood_lose_no_connection() {
    let be = Backend::start("be");
    let dir = TempDir::new("rebind-flood");
    let path = dir.write("fulcrum.toml", &config(&be, "\"127.0.0.1:0\"", 4));
    let lb = Lb::start_file(&path);
    let web = lb.addr();

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let clients: Vec<_> = (0..12)
        .map(|_| {
            let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(30) {
                        break;
                    }
                    match exchange(web, "/sleep/20") {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            failures.lock().unwrap().push(e);
                            0
                        }
                    };
                }
            })
        })
        .collect();
    // Ten rebinds (the address list toggles between one and two addresses; `web`'s stays),
    // each once more requests were answered since the last.
    for i in 0..10 {
        let before = done.load(Ordering::Relaxed);
        assert!(
            wait_until(Duration::from_secs(10), || done.load(Ordering::Relaxed)
                >= before + 20),
            "requests stopped being answered"
        );
        let binds = if i % 2 == 0 {
            format!("[\"{web}\", \"127.0.0.1:0\"]")
        } else {
            format!("[\"{web}\"]")
        };
        std::fs::write(&path, config(&be, &binds, 4)).unwrap();
        lb.reload().unwrap();
        assert_eq!(lb.addr(), web);
    }
    let before = done.load(Ordering::Relaxed);
    assert!(wait_until(Duration::from_secs(10), || done
        .load(Ordering::Relaxed)
        >= before + 20));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} connections failed, e.g. {:?}",
        failures.len(),
        failures.len() + done.load(Ordering::Relaxed),
        failures.first()
    );
}

/// Issue 7 item 12: a reload that moves a listener to another address still answers the
/// clients that were waiting in the old address's backlog (`max_connections` reached).
#[test]
fn reload_that_moves_a_listener_serves_the_clients_queued_at_the_old_address() {
    let be = Backend::start("be");
    let dir = TempDir::new("rebind-move");
    let path = dir.write("fulcrum.toml", &config(&be, "\"127.0.0.1:0\"", 1));
    let lb = Lb::start_file(&path);
    let old = lb.addr();
    // One served, the others wait: in the backlog, or accepted and waiting for a slot. Every
    // connection is established (so queued by the kernel) before the reload.
    let clients: Vec<_> = (0..12)
        .map(|_| {
            let s = send(old, "/sleep/100").unwrap();
            std::thread::spawn(move || answered(s))
        })
        .collect();
    assert!(wait_until(Duration::from_secs(5), || be.request_count() >= 1));
    std::fs::write(&path, config(&be, "\"127.0.0.2:0\"", 1)).unwrap();
    lb.reload().unwrap();
    assert_ne!(lb.addr(), old);
    for (i, c) in clients.into_iter().enumerate() {
        let r = c.join().unwrap();
        assert!(r.is_ok(), "client {i}: {r:?}");
    }
    assert_eq!(be.request_count(), 12);
    // The old address is closed now.
    assert!(TcpStream::connect(old).is_err());
}
