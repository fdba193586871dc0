//! The PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2): a socket-free codec.
//!
//! Owns: reading the header a front load balancer puts before a connection's first byte
//! ([`parse`], incremental, either version) and writing one for a backend ([`encode_v1`],
//! [`encode_v2`], [`encode_v2_local`] for health checks). Must not: touch a socket, decide
//! whom to trust (the caller checks the peer against its `trusted` list before reading a
//! header, as the spec requires), or guess whether a header is present: a caller configured
//! to expect one refuses a connection that does not start with one ([`ProxyError::NotProxy`]).
//!
//! The caller buffers what the peer has sent and calls [`parse`] again after each read. The
//! answer depends only on the bytes, read front to back: once it is not
//! [`Parse::Incomplete`], more bytes never change it, and bytes that cannot start a header are
//! refused as soon as they arrive (one byte is enough to tell `NotProxy`). A peer that stops
//! mid-header gets `Incomplete` for ever: the caller's timeout ends it (the spec asks at least
//! 3 seconds). Nothing is allocated; a parsed [`Header`] borrows its TLVs from the caller's
//! buffer.
//!
//! Strict where the spec is: v1 is one CRLF-terminated line of at most 107 bytes with single
//! spaces, canonical addresses of the announced family and decimal ports without sign or
//! leading zero; v2 has version 2, command LOCAL or PROXY, one of the seven address
//! family/protocol bytes the spec lists, an address block as long as its family needs and
//! well-formed TLVs, with a `PP2_TYPE_CRC32C` checksum verified when present.
//!
//! Mixed families (an IPv4 client reaching an IPv6 listener, or the other way round) cannot
//! be said in either version, whose two addresses share one family: the encoders send both
//! as IPv6, the IPv4 one IPv4-mapped (`::ffff:a.b.c.d`), as HAProxy does. The parser reports
//! addresses as sent; `IpAddr::to_canonical` turns a mapped one back into IPv4.

mod crc32c;
mod error;
pub mod tlv;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

pub use error::{ProxyError, Side, Text};
pub use tlv::Tlvs;
pub use v1::{encode_v1, encode_v1_unknown, V1_MAX_LEN};
pub use v2::{encode_v2, encode_v2_local, V2_FIXED_LEN, V2_MAX_LEN, V2_SIGNATURE};

/// A cap on v2 headers that is plenty for addresses and the usual TLVs (authority, ALPN,
/// unique id, SSL details); pass it to [`parse_limited`] to bound a connection's buffer.
pub const V2_RECOMMENDED_MAX_LEN: usize = V2_FIXED_LEN + 4096;

/// Which version of the protocol a header was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
}

/// What the sender says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// The proxy opened the connection itself (a health check): use the real endpoints.
    /// Only v2 has it.
    Local,
    /// The connection is relayed for a client; the header's addresses (if any) are its.
    Proxy,
}

/// The relayed connection's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP (or a UNIX stream socket): v1 `TCP4`/`TCP6`, v2 protocol 1.
    Stream,
    /// UDP (or a UNIX datagram socket): v2 protocol 2.
    Datagram,
    /// Not said: v1 `UNKNOWN`, v2 protocol 0.
    Unspec,
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub version: Version,
    pub command: Command,
    pub transport: Transport,
    /// `(source, destination)`: the client and the address it connected to. `None` for v1
    /// `UNKNOWN`, a v2 `LOCAL` command, and v2 `AF_UNSPEC` or `AF_UNIX`: the caller then uses
    /// the connection's real endpoints.
    pub addresses: Option<(SocketAddr, SocketAddr)>,
    /// The v2 TLV bytes (validated), empty for v1.
    tlvs: &'a [u8],
}

impl<'a> Header<'a> {
    /// The client's address, when the header gives one.
    pub fn source(&self) -> Option<SocketAddr> {
        self.addresses.map(|(src, _)| src)
    }

    /// The address the client connected to, when the header gives one.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.addresses.map(|(_, dst)| dst)
    }

    /// Every TLV of a v2 header as `(type, value)`, in order (none for v1).
    pub fn tlvs(&self) -> Tlvs<'a> {
        Tlvs::new(self.tlvs)
    }

    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&'a [u8]> {
        self.tlvs().find(|&(k, _)| k == kind).map(|(_, v)| v)
    }

    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (its TLS SNI, typically).
    /// Checked to be UTF-8 when the header was parsed.
    pub fn authority(&self) -> Option<&'a str> {
        self.tlv(tlv::AUTHORITY)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// `PP2_TYPE_UNIQUE_ID`: the upstream proxy's opaque id of the connection (≤ 128 bytes).
    pub fn unique_id(&self) -> Option<&'a [u8]> {
        self.tlv(tlv::UNIQUE_ID)
    }

    /// `PP2_TYPE_ALPN`: the application protocol the client negotiated.
    pub fn alpn(&self) -> Option<&'a [u8]> {
        self.tlv(tlv::ALPN)
    }
}

/// What the bytes buffered so far say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse<'a> {
    /// The bytes so far start a header that is not complete: read more and call again with
    /// all of them. The header needs at least `needed` bytes in total (exactly that many for a
    /// v2 header once its 16-byte fixed part is buffered, so a caller may read no further and
    /// leave the application's bytes in the socket), and never more than [`V1_MAX_LEN`] or the
    /// v2 limit: past that the answer is an error.
    Incomplete { needed: usize },
    /// A whole, valid header: its first `len` bytes of the buffer; the rest is the
    /// application's.
    Complete { header: Header<'a>, len: usize },
}

/// Reads the PROXY header (v1 or v2) at the start of `buf`, accepting v2 headers up to the
/// spec's maximum ([`V2_MAX_LEN`], 16 + 65535 bytes).
pub fn parse(buf: &[u8]) -> Result<Parse<'_>, ProxyError> {
    parse_limited(buf, V2_MAX_LEN)
}

/// [`parse`] with a cap on v2 headers: one whose length field says more than `max_v2` bytes
/// in total (fixed part included) is refused ([`ProxyError::V2TooLong`]) as soon as the
/// length is read, so the caller never buffers more than `max_v2` bytes (or 107 for v1).
pub fn parse_limited(buf: &[u8], max_v2: usize) -> Result<Parse<'_>, ProxyError> {
    match buf.first() {
        None => Ok(Parse::Incomplete {
            needed: v1::MIN_LEN,
        }),
        Some(b'P') => v1::parse(buf),
        Some(_) => v2::parse(buf, max_v2.min(V2_MAX_LEN)),
    }
}

/// An address as IPv6: an IPv4 one IPv4-mapped. Both encoders write mixed families so.
fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}
