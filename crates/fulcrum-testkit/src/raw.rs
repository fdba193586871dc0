//! Backends below HTTP, for the failures a real backend can show: a port whose accept queue is
//! full (connects hang, as to an overloaded or unreachable host), and a server that reads the
//! request and resets the connection before answering.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};

/// A listening socket with a backlog of 0 that never accepts, its accept queue filled: a new
/// connect to it gets no answer (the kernel drops its SYN), so it hangs until the client's own
/// timeout, while staying on loopback.
pub struct Blackhole {
    pub addr: SocketAddr,
    _listener: Socket,
    _fill: Vec<TcpStream>,
}

impl Blackhole {
    pub fn start() -> Blackhole {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        // Fill the queue: connects complete until it is full, then one hangs.
        let mut fill = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => fill.push(s),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                Err(e) => panic!("filling the blackhole's queue: {e}"),
            }
            assert!(fill.len() < 64, "the accept queue never filled");
        }
        Blackhole {
            addr,
            _listener: listener,
            _fill: fill,
        }
    }
}

/// A server that reads each request head, records its method, and resets the connection
/// (`SO_LINGER` 0) without a response byte.
pub struct ResetBackend {
    pub addr: SocketAddr,
    methods: Arc<Mutex<Vec<String>>>,
}

impl ResetBackend {
    pub fn start() -> ResetBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let methods = Arc::new(Mutex::new(Vec::new()));
        let seen = methods.clone();
        // Ends with the test process (the listener is never closed).
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { continue };
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if head.is_empty() {
                    continue;
                }
                let method = String::from_utf8_lossy(&head)
                    .split(' ')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                seen.lock().unwrap().push(method);
                let _ = SockRef::from(&s).set_linger(Some(Duration::ZERO));
                drop(s);
            }
        });
        ResetBackend { addr, methods }
    }

    /// The methods of the requests it reset, in order.
    pub fn methods(&self) -> Vec<String> {
        self.methods.lock().unwrap().clone()
    }

    pub fn hits(&self) -> usize {
        self.methods.lock().unwrap().len()
    }
}

/// A port free right now on both the IPv4 and the IPv6 wildcard address (found by binding a
/// dual-stack socket to `[::]:0`), for configs that bind `0.0.0.0:P` and `[::]:P` together.
pub fn free_dual_stack_port() -> u16 {
    let s = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
    s.set_only_v6(false).unwrap();
    s.bind(&"[::]:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.local_addr().unwrap().as_socket().unwrap().port()
}
