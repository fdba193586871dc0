//! Issue 7 item 15: a backend response framed by `Transfer-Encoding` that also carries a
//! `Content-Length` reaches the client whole, framed once, without the stale length.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use fulcrum_testkit::{raw_exchange, Client};

use crate::support::Lb;

const BODY: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

/// A raw backend answering every request on every connection with a chunked response that
/// also claims `Content-Length: 5`.
fn lying_backend() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(16) {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                loop {
                    while !head.ends_with(b"\r\n\r\n") {
                        match s.read(&mut b) {
                            Ok(1) => head.push(b[0]),
                            _ => return,
                        }
                    }
                    head.clear();
                    let (a, z) = BODY.split_at(10);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
                         {:x}\r\n{a}\r\n{:x}\r\n{z}\r\n0\r\n\r\n",
                        a.len(),
                        z.len()
                    );
                    if s.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Issue 7 item 15: the Content-Length was kept, and the client got 5 bytes of a 36-byte
/// body; now it gets all of it, over HTTP/1.1 and HTTP/2, on a connection that stays usable.
#[test]
fn backend_chunked_with_content_length_reaches_the_client_whole() {
    let backend = lying_backend();
    let lb = Lb::start(&format!(
        "[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"app\"\n[pool.app]\nbackends = [{{ address = \"{backend}\" }}]\n"
    ));
    let mut h1 = Client::http1(lb.addr());
    let mut h2 = Client::http2(lb.addr());
    for cl in [&mut h1, &mut h2] {
        for _ in 0..2 {
            let r = cl.get("a", "/", &[]).unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), BODY);
            assert_ne!(r.header("content-length").as_deref(), Some("5"));
        }
    }
    let raw = raw_exchange(
        lb.addr(),
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = raw.text().to_lowercase();
    assert!(!text.contains("content-length: 5"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
}
