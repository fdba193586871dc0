//! The PROXY protocol on connections (the codec is `fulcrum_net::proxy_protocol`): reading the
//! header a trusted front load balancer starts its connections with, spotting one a client
//! that is not trusted sends, and writing the header a pool's backends are sent.
//!
//! [`read`] takes exactly the header's bytes from the socket — it peeks, and reads only what
//! the header is made of — so what follows stays in the socket for whatever serves the
//! connection next (a TLS handshake, an HTTP engine, the relay).

use std::net::SocketAddr;
use std::time::Duration;

use fulcrum_config::model::ProxyVersion;
use fulcrum_net::proxy_protocol::{self as pp, Command, Parse, Transport};
use tokio::net::TcpStream;

use crate::L4Error;

/// What a header said about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proxied {
    /// The client's address (`None`: a v2 `LOCAL` connection or v1 `UNKNOWN`; the front
    /// balancer's own, e.g. a health check: use the peer's).
    pub source: Option<SocketAddr>,
    /// The address the client connected to.
    pub destination: Option<SocketAddr>,
}

/// Bytes peeked per look: a v1 header always fits, a v2 one with addresses and a few TLVs too.
const PEEK: usize = 536;

/// Read the PROXY header `stream` must start with, within `timeout`.
pub async fn read(stream: &TcpStream, timeout: Duration) -> Result<Proxied, L4Error> {
    tokio::time::timeout(timeout, read_inner(stream))
        .await
        .map_err(|_| L4Error::ProxyHeader("no PROXY header in time".into()))?
}

async fn read_inner(stream: &TcpStream) -> Result<Proxied, L4Error> {
    // Header bytes taken from the socket so far (the header was longer than what was there).
    let mut taken: Vec<u8> = Vec::new();
    let mut peeked = vec![0u8; PEEK];
    loop {
        let n = stream.peek(&mut peeked).await?;
        if n == 0 {
            return Err(L4Error::ProxyHeader(
                "the connection closed before its PROXY header ended".into(),
            ));
        }
        let mut seen = taken.clone();
        seen.extend_from_slice(peeked.get(..n).unwrap_or_default());
        let parsed = pp::parse_limited(&seen, pp::V2_RECOMMENDED_MAX_LEN)
            .map_err(|e| L4Error::ProxyHeader(e.to_string()))?;
        match parsed {
            Parse::Complete { header, len } => {
                let out = match header.command {
                    Command::Local => Proxied {
                        source: None,
                        destination: None,
                    },
                    // A mixed-family header carries IPv4 addresses IPv4-mapped: give them back
                    // as IPv4, as the client's own socket would show them.
                    Command::Proxy => Proxied {
                        source: header.source().map(canonical),
                        destination: header.destination().map(canonical),
                    },
                };
                take(stream, len.saturating_sub(taken.len()), &mut taken).await?;
                return Ok(out);
            }
            // Everything there is part of the header: take it and wait for the rest.
            Parse::Incomplete { needed } => {
                take(stream, n, &mut taken).await?;
                if needed > taken.len() + peeked.len() {
                    peeked.resize((needed - taken.len()).min(pp::V2_RECOMMENDED_MAX_LEN), 0);
                }
            }
        }
    }
}

fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// Read exactly `n` bytes (already in the socket: they were peeked) into `into`.
async fn take(stream: &TcpStream, mut n: usize, into: &mut Vec<u8>) -> Result<(), L4Error> {
    let mut buf = [0u8; 512];
    while n > 0 {
        let want = n.min(buf.len());
        stream.readable().await?;
        match stream.try_read(&mut buf[..want]) {
            Ok(0) => {
                return Err(L4Error::ProxyHeader(
                    "the connection closed inside its PROXY header".into(),
                ))
            }
            Ok(got) => {
                into.extend_from_slice(&buf[..got]);
                n -= got;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether the first bytes a client sent start a PROXY header (v1 or v2): refused from a
/// peer that is not trusted to send one.
pub fn looks_like_header(first: &[u8]) -> bool {
    first.starts_with(b"PROXY ") || first.starts_with(&pp::V2_SIGNATURE)
}

/// Append the header a backend is sent for a client at `source` that connected to
/// `destination`.
pub fn encode(
    version: ProxyVersion,
    source: SocketAddr,
    destination: SocketAddr,
    out: &mut Vec<u8>,
) {
    match version {
        ProxyVersion::V1 => pp::encode_v1(source, destination, out),
        ProxyVersion::V2 => {
            // Addresses and no TLVs: it cannot fail.
            let _ = pp::encode_v2(
                Command::Proxy,
                Transport::Stream,
                Some((source, destination)),
                &[],
                out,
            );
        }
    }
}

/// Append the v2 header a backend is sent before a datagram of a client at `source` that sent
/// it to `destination` (protocol DGRAM). The PROXY protocol has no v1 form for datagrams.
pub fn encode_datagram(source: SocketAddr, destination: SocketAddr, out: &mut Vec<u8>) {
    // Addresses and no TLVs: it cannot fail.
    let _ = pp::encode_v2(
        Command::Proxy,
        Transport::Datagram,
        Some((source, destination)),
        &[],
        out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    #[tokio::test]
    async fn a_header_is_read_whole_and_nothing_after_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let src: SocketAddr = "203.0.113.9:51234".parse().unwrap();
        let dst: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        for version in [ProxyVersion::V1, ProxyVersion::V2] {
            let (mut c, mut s) = pair().await;
            let mut bytes = Vec::new();
            encode(version, src, dst, &mut bytes);
            bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
            // Sent in pieces: the reader must wait for the rest of the header.
            let (head, rest) = bytes.split_at(7);
            c.write_all(head).await.unwrap();
            let writer = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                c.write_all(rest).await.unwrap();
            };
            let (got, ()) = tokio::join!(read(&s, Duration::from_secs(5)), writer);
            let got = got.unwrap();
            assert_eq!(got.source, Some(src), "{version:?}");
            assert_eq!(got.destination.map(|d| d.port()), Some(443), "{version:?}");
            let mut after = [0u8; 16];
            s.read_exact(&mut after).await.unwrap();
            assert_eq!(&after, b"GET / HTTP/1.1\r\n", "{version:?}");
        }
    }

    #[tokio::test]
    async fn garbage_a_close_or_silence_is_an_error() {
        use tokio::io::AsyncWriteExt;
        let (mut c, s) = pair().await;
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(read(&s, Duration::from_secs(5)).await.is_err());
        let (c, s) = pair().await;
        drop(c);
        assert!(read(&s, Duration::from_secs(5)).await.is_err());
        let (_c, s) = pair().await;
        let started = std::time::Instant::now();
        assert!(read(&s, Duration::from_millis(100)).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn datagram_headers_say_dgram_and_name_both_ends_in_either_family() {
        for (src, dst) in [
            ("203.0.113.9:5353", "192.0.2.1:53"),
            ("[2001:db8::9]:5353", "192.0.2.1:53"),
        ] {
            let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            let mut bytes = Vec::new();
            encode_datagram(src, dst, &mut bytes);
            bytes.extend_from_slice(b"payload");
            let Ok(Parse::Complete { header, len }) = pp::parse(&bytes) else {
                panic!("{bytes:?}");
            };
            assert_eq!(header.transport, Transport::Datagram);
            assert_eq!(header.command, Command::Proxy);
            assert_eq!(header.source().map(|a| a.port()), Some(src.port()));
            assert_eq!(
                header.source().map(|a| a.ip().to_canonical()),
                Some(src.ip())
            );
            assert_eq!(header.destination().map(|a| a.port()), Some(53));
            assert_eq!(&bytes[len..], b"payload");
        }
    }

    #[test]
    fn forged_headers_are_spotted_by_their_first_bytes() {
        let mut v2 = Vec::new();
        encode(
            ProxyVersion::V2,
            "1.2.3.4:5".parse().unwrap(),
            "5.6.7.8:9".parse().unwrap(),
            &mut v2,
        );
        assert!(looks_like_header(&v2));
        assert!(looks_like_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"));
        assert!(!looks_like_header(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_header(b"\x16\x03\x01"));
    }
}
