//! Listening sockets for Fulcrum's data path.
//!
//! Owns: turning configured bind addresses into sets of `SO_REUSEPORT` sockets, one per worker,
//! so that every worker accepts on its own socket and the kernel spreads connections between
//! them (as NGINX's `reuseport` does). IPv6 sockets are `IPV6_V6ONLY`, so `0.0.0.0:80` and
//! `[::]:80` can both be bound, which is how dual-stack is written in the config. The same for
//! UDP listeners ([`bind_udp_set`]): the kernel hashes each client's address and port to one
//! socket of the set, so a client's datagrams all reach one worker; and the connected UDP
//! socket a flow talks to its backend on ([`connect_udp`]). Also the
//! process's share of descriptors: the open-file limit ([`fd_limit`]) and what an accept loop
//! does when `accept` fails ([`accept`]). And the PROXY protocol, v1 and v2 ([`proxy_protocol`]):
//! a socket-free codec that reads the header a front load balancer sends before a connection's
//! first byte and writes one for a backend.
//!
//! Must not: know about HTTP, routes or pools, or decide whom to trust with a PROXY header
//! (the listener's `trusted` list is the caller's). No `unsafe`: the `rlimit` and `socket2`
//! crates wrap the system calls.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

pub mod accept;
pub mod fd_limit;
pub mod proxy_protocol;

/// Accept backlog for every listening socket (the kernel caps it at `net.core.somaxconn`).
pub const BACKLOG: i32 = 4096;

/// The sockets of one bind address: `sockets.len()` equals the number of workers, all bound
/// to `local_addr` (the port is resolved when the configured one is 0). TCP listening sockets,
/// or UDP sockets ([`bind_udp_set`]).
#[derive(Debug)]
pub struct BoundSet<S = TcpListener> {
    pub local_addr: SocketAddr,
    pub sockets: Vec<S>,
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

/// Bind `count` UDP sockets to `addr` with `SO_REUSEPORT`, as [`bind_set`] does for TCP: the
/// kernel then sends each client (address and port) to one socket of the set, always the same
/// while the set does not change.
pub fn bind_udp_set(addr: SocketAddr, count: usize) -> io::Result<BoundSet<UdpSocket>> {
    let first = bind_udp_one(addr)?;
    let local_addr = first.local_addr()?;
    let mut sockets = Vec::with_capacity(count.max(1));
    sockets.push(first);
    for _ in 1..count {
        sockets.push(bind_udp_one(local_addr)?);
    }
    Ok(BoundSet {
        local_addr,
        sockets,
    })
}

/// One non-blocking UDP socket bound to `addr` (`SO_REUSEPORT`; `IPV6_V6ONLY` for IPv6), ready
/// for `tokio::net::UdpSocket::from_std`.
pub fn bind_udp_one(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind udp {addr}: {e}")))?;
    Ok(socket.into())
}

/// A non-blocking UDP socket connected to `backend` from an ephemeral port (bound by the
/// `connect`): it sends to and receives from `backend` only, and reports an ICMP "port
/// unreachable" from it as `ConnectionRefused` on its next call. One per UDP flow.
pub fn connect_udp(backend: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(backend),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    socket.set_nonblocking(true)?;
    socket.connect(&backend.into())?;
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
    fn udp_sets_share_one_port_per_family_and_connected_sockets_talk_to_one_peer() {
        // IPv6 wildcard first, then IPv4 on its port (as `v4_and_v6_wildcards_bind_the_same_port`).
        let v6 = bind_udp_set("[::]:0".parse().unwrap(), 2).unwrap();
        assert!(socket2::SockRef::from(&v6.sockets[0]).only_v6().unwrap());
        let port = v6.local_addr.port();
        let v4 = bind_udp_set(SocketAddr::new("127.0.0.1".parse().unwrap(), port), 3).unwrap();
        assert_eq!(v4.sockets.len(), 3);
        for s in &v4.sockets {
            assert_eq!(s.local_addr().unwrap(), v4.local_addr);
        }
        // A connected socket picks an ephemeral port and reaches its peer.
        let flow = connect_udp(v4.local_addr).unwrap();
        assert_ne!(flow.local_addr().unwrap().port(), 0);
        assert_eq!(flow.peer_addr().unwrap(), v4.local_addr);
        flow.send(b"hi").unwrap();
        let got = (0..200).find_map(|_| {
            for s in &v4.sockets {
                let mut buf = [0u8; 8];
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    return Some((buf[..n].to_vec(), from));
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            None
        });
        let (data, from) = got.expect("the datagram never arrived");
        assert_eq!(data, b"hi");
        assert_eq!(from, flow.local_addr().unwrap());
    }

    #[test]
    fn bind_error_names_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind_one(taken.local_addr().unwrap()).unwrap_err();
        assert!(err.to_string().contains("cannot bind 127.0.0.1:"), "{err}");
    }
}
