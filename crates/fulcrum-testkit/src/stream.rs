//! A TCP backend for layer-4 tests: a real listening socket on loopback (IPv4 or IPv6) whose
//! connections each behave as the test asks, and which tells the test what it saw.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What each connection of a [`StreamBackend`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// Read until the client's end of stream, then send `"{name}:"` and the bytes back, and
    /// close: only works if the client's half-close is carried through.
    EchoAfterEof,
    /// Send `"{name}\n"` and shut down its sending side at once, then read until the client's
    /// end of stream: the client must still be able to send after seeing the backend's end.
    GreetThenRead,
    /// Echo every chunk at once as it arrives (an interactive protocol), until the client
    /// closes.
    Echo,
}

/// What one connection showed the backend.
#[derive(Debug, Clone)]
pub struct StreamSeen {
    pub peer: SocketAddr,
    /// Bytes read from the client before its end of stream.
    pub received: usize,
    /// The first bytes read (up to 1 KiB).
    pub head: Vec<u8>,
}

pub struct StreamBackend {
    pub addr: SocketAddr,
    pub name: String,
    seen: Arc<Mutex<Vec<StreamSeen>>>,
    open: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl StreamBackend {
    /// Listen on `bind` (e.g. `"127.0.0.1:0"` or `"[::1]:0"`).
    pub fn start(bind: &str, name: &str, mode: StreamMode) -> StreamBackend {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, o, st, n) = (seen.clone(), open.clone(), stop.clone(), name.to_owned());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, peer)) => {
                        let (s, o, n) = (s.clone(), o.clone(), n.clone());
                        o.fetch_add(1, Ordering::SeqCst);
                        std::thread::spawn(move || {
                            let (received, head) = serve(conn, &n, mode);
                            s.lock().unwrap().push(StreamSeen {
                                peer,
                                received,
                                head,
                            });
                            o.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        StreamBackend {
            addr,
            name: name.to_owned(),
            seen,
            open,
            stop,
        }
    }

    /// Connections finished so far.
    pub fn seen(&self) -> Vec<StreamSeen> {
        self.seen.lock().unwrap().clone()
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

impl Drop for StreamBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut conn: TcpStream, name: &str, mode: StreamMode) -> (usize, Vec<u8>) {
    conn.set_nonblocking(false).unwrap();
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = Vec::new();
    let mut received = 0;
    let mut head = Vec::new();
    if mode == StreamMode::GreetThenRead {
        let _ = conn.write_all(format!("{name}\n").as_bytes());
        let _ = conn.shutdown(Shutdown::Write);
    }
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                received += n;
                let room = 1024usize.saturating_sub(head.len()).min(n);
                head.extend_from_slice(&buf[..room]);
                match mode {
                    StreamMode::EchoAfterEof => got.extend_from_slice(&buf[..n]),
                    StreamMode::Echo => {
                        if conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    StreamMode::GreetThenRead => {}
                }
            }
        }
    }
    if mode == StreamMode::EchoAfterEof {
        let _ = conn.write_all(format!("{name}:").as_bytes());
        let _ = conn.write_all(&got);
    }
    (received, head)
}
