//! The UDP probe: one datagram out, one reply back that must start with the expected bytes.
//!
//! The probe goes from a fresh ephemeral socket `connect`ed to the backend, so the kernel
//! delivers only the backend's datagrams to it and reports an ICMP port unreachable as
//! `ECONNREFUSED` on the next receive: a closed port fails the check at once, not at the
//! timeout. The payload is sent bare: a PROXY protocol header, which UDP pools send per
//! datagram only on the data path, is never put in front of a check.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;

use crate::CheckError;

/// How many bytes of a reply are read at least: enough to show a wrong reply in the log.
const SHOWN: usize = 16;

/// Send `send` to `target` and wait for one reply starting with `expect` (any reply when it
/// is empty). No timeout here: the caller bounds the whole check.
pub(crate) async fn probe(
    target: SocketAddr,
    send: &[u8],
    expect: &[u8],
) -> Result<(), CheckError> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(CheckError::Udp)?;
    socket.connect(target).await.map_err(CheckError::Udp)?;
    socket.send(send).await.map_err(CheckError::Udp)?;
    // Only the prefix is compared; the kernel drops the rest of a longer datagram.
    let mut buf = vec![0u8; expect.len().max(SHOWN)];
    let n = socket.recv(&mut buf).await.map_err(CheckError::Udp)?;
    let reply = buf.get(..n).unwrap_or_default();
    if reply.starts_with(expect) {
        Ok(())
    } else {
        Err(CheckError::Reply(
            reply.iter().take(SHOWN).copied().collect(),
        ))
    }
}
