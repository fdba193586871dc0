//! Listening sockets for Fulcrum's data path.
//!
//! Owns: turning configured bind addresses into sets of `SO_REUSEPORT` sockets, one per worker,
//! so that every worker accepts on its own socket and the kernel spreads connections between
//! them (as NGINX's `reuseport` does). IPv6 sockets are `IPV6_V6ONLY`, so `0.0.0.0:80` and
//! `[::]:80` can both be bound, which is how dual-stack is written in the config. Also the
//! process's share of descriptors: the open-file limit ([`fd_limit`]) and what an accept loop
//! does when `accept` fails ([`accept`]). And the PROXY protocol, v1 and v2 ([`proxy_protocol`]):
//! a socket-free codec that reads the header a front load balancer sends before a connection's
//! first byte and writes one for a backend.
//!
//! Must not: know about HTTP, routes or pools, or decide whom to trust with a PROXY header
//! (the listener's `trusted` list is the caller's). No `unsafe`: the `rlimit` and `socket2`
//! crates wrap the system calls.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

pub mod accept;
pub mod fd_limit;
pub mod proxy_protocol;

/// Accept backlog for every listening socket (the kernel caps it at `net.core.somaxconn`).
pub const BACKLOG: i32 = 4096;

/// The sockets of one bind address: `sockets.len()` equals the number of workers, all bound
/// to `local_addr` (the port is resolved when the configured one is 0).
#[derive(Debug)]
pub struct BoundSet {
    pub local_addr: SocketAddr,
    pub sockets: Vec<TcpListener>,
}

/// Bind `count` listening sockets to `addr` with `SO_REUSEPORT`. When `addr` has port 0 the
/// first socket picks the port and the others join it.
pub fn bind_set(addr: SocketAddr, count: usize) -> io::Result<BoundSet> {
    let first = bind_one(addr)?;
    let local_addr = first.local_addr()?;
    let mut sockets = Vec::with_capacity(count.max(1));
    sockets.push(first);
    for _ in 1..count {
        sockets.push(bind_one(local_addr)?);
    }
    Ok(BoundSet {
        local_addr,
        sockets,
    })
}

/// One non-blocking listening socket, ready for `tokio::net::TcpListener::from_std`.
pub fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Socket options for an accepted client or a backend connection: no Nagle delay.
pub fn tune_stream(stream: &tokio::net::TcpStream) {
    // Best effort: a failure here only costs latency, never correctness.
    let _ = stream.set_nodelay(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_set_shares_one_port() {
        let set = bind_set("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_ne!(set.local_addr.port(), 0);
        for s in &set.sockets {
            assert_eq!(s.local_addr().unwrap(), set.local_addr);
        }
    }

    /// Issue 7 item 20: the README's dual-stack form binds `[::]:P` and `0.0.0.0:P` together
    /// (the old test bound `[::1]` and `127.0.0.1`, which never conflict), and every IPv6
    /// socket is `IPV6_V6ONLY`, so the IPv4 sockets alone take IPv4 clients.
    #[test]
    fn v4_and_v6_wildcards_bind_the_same_port() {
        let v6 = match bind_set("[::]:0".parse().unwrap(), 2) {
            Ok(s) => s,
            Err(e) => panic!("IPv6 must be available for the dual-stack tests: {e}"),
        };
        let port = v6.local_addr.port();
        let v4 = bind_set(SocketAddr::new("0.0.0.0".parse().unwrap(), port), 2);
        let v4 = v4.unwrap_or_else(|e| panic!("0.0.0.0:{port} beside [::]:{port}: {e}"));
        assert_eq!(v4.local_addr.port(), port);
        for s in &v6.sockets {
            assert!(
                socket2::SockRef::from(s).only_v6().unwrap(),
                "an IPv6 socket without IPV6_V6ONLY"
            );
        }
    }

    #[test]
    fn bind_error_names_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind_one(taken.local_addr().unwrap()).unwrap_err();
        assert!(err.to_string().contains("cannot bind 127.0.0.1:"), "{err}");
    }
}
