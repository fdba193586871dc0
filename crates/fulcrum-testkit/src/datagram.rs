//! A UDP backend for layer-4 tests: a real socket on loopback (IPv4 or IPv6) that answers
//! every datagram with `"{name}:"` and the datagram's bytes, from the address it was sent to,
//! and tells the test what it saw.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most datagrams a [`DatagramBackend`] keeps whole (for tests that look at the bytes);
/// counts and peers are kept for all.
const KEEP: usize = 1024;

#[derive(Default)]
struct Seen {
    peers: HashSet<SocketAddr>,
    kept: Vec<(SocketAddr, Vec<u8>)>,
}

pub struct DatagramBackend {
    pub addr: SocketAddr,
    pub name: String,
    seen: Arc<Mutex<Seen>>,
    received: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    silent: Arc<AtomicBool>,
}

impl DatagramBackend {
    /// Listen on `bind` (e.g. `"127.0.0.1:0"` or `"[::1]:0"`).
    pub fn start(bind: &str, name: &str) -> DatagramBackend {
        let socket = UdpSocket::bind(bind).unwrap();
        let addr = socket.local_addr().unwrap();
        // Woken now and then to see `stop`.
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let received = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let silent = Arc::new(AtomicBool::new(false));
        let (s, r, st, q) = (seen.clone(), received.clone(), stop.clone(), silent.clone());
        let reply_prefix = format!("{name}:").into_bytes();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            let mut reply = Vec::with_capacity(buf.len() + reply_prefix.len());
            while !st.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                {
                    let mut seen = s.lock().unwrap();
                    seen.peers.insert(peer);
                    if seen.kept.len() < KEEP {
                        seen.kept.push((peer, buf[..n].to_vec()));
                    }
                }
                r.fetch_add(1, Ordering::SeqCst);
                if q.load(Ordering::Relaxed) {
                    continue;
                }
                reply.clear();
                reply.extend_from_slice(&reply_prefix);
                reply.extend_from_slice(&buf[..n]);
                let _ = socket.send_to(&reply, peer);
            }
        });
        DatagramBackend {
            addr,
            name: name.to_owned(),
            seen,
            received,
            stop,
            silent,
        }
    }

    /// Datagrams received so far.
    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    /// The distinct addresses datagrams came from (through Fulcrum: one per flow, each flow's
    /// own backend socket).
    pub fn peers(&self) -> usize {
        self.seen.lock().unwrap().peers.len()
    }

    /// The first datagrams received (up to 1024), with their senders.
    pub fn datagrams(&self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.seen.lock().unwrap().kept.clone()
    }

    /// Stop answering (datagrams are still received and counted), or answer again.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Relaxed);
    }
}

impl Drop for DatagramBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
