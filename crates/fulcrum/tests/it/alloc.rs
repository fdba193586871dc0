#![allow(unsafe_code)]

//! Issue 8 item 3: the HTTP/1.1 fast path allocates nothing per request in steady state.
//!
//! The test binary's global allocator counts every allocation of the process. Around Fulcrum
//! (in this process) run a client and a backend that allocate nothing while they loop: plain
//! sockets and fixed buffers. After a warm-up (pools, buffers, route and metric handles
//! made), 10,000 keep-alive requests must cost fewer allocations than one per hundred
//! requests — which leaves room for the control plane's timers and the workers'
//! housekeeping, and none for anything done per request.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::support::Lb;

pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the counter is an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// An HTTP/1.1 backend that answers every request on a connection with the same 2-byte
/// body, reading into a fixed buffer (requests end at their blank line: no bodies here).
fn backend() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; 4096];
                let mut have = 0;
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                loop {
                    let Ok(n) = s.read(&mut buf[have..]) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    have += n;
                    while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        if s.write_all(reply).is_err() {
                            return;
                        }
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                    }
                    if have == buf.len() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Send `n` keep-alive GETs on `s`, reading each 2-byte-body response whole.
fn requests(s: &mut TcpStream, n: usize) {
    let req = b"GET /x HTTP/1.1\r\nHost: example.com\r\nUser-Agent: alloc-test\r\n\r\n";
    let mut buf = [0u8; 4096];
    for i in 0..n {
        s.write_all(req).unwrap();
        let mut have = 0;
        loop {
            let got = s.read(&mut buf[have..]).unwrap();
            assert!(got > 0, "closed at request {i}");
            have += got;
            let text = &buf[..have];
            if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
                if have >= end + 4 + 2 {
                    assert!(text.starts_with(b"HTTP/1.1 200"), "request {i}");
                    break;
                }
            }
        }
    }
}

#[test]
fn the_fast_path_allocates_nothing_per_keep_alive_request() {
    let be = backend();
    let lb = Lb::start(&format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"{be}\" }}]\n"
    ));
    let mut s = TcpStream::connect(lb.addr()).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    requests(&mut s, 1_000);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    const N: usize = 10_000;
    requests(&mut s, N);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    eprintln!("{allocations} allocations in the process over {N} keep-alive requests");
    assert!(
        allocations < (N / 100) as u64,
        "{allocations} allocations over {N} requests: something allocates per request"
    );
}
