//! Version 2, the binary header: the 12-byte signature, version and command, address family
//! and protocol, a 2-byte length, then that many bytes: the address block and TLVs.
//!
//! Each byte of the fixed part is judged as soon as it arrives (signature, then version 2,
//! then command 0 or 1, then one of the seven family/protocol bytes the spec lists: `0x00`
//! UNSPEC, `0x11`/`0x12` TCP/UDP over IPv4, `0x21`/`0x22` over IPv6, `0x31`/`0x32` UNIX), and
//! the length against the caller's cap once it is read. The address block is 0 bytes for
//! UNSPEC (so TLVs start right after the fixed part, as HAProxy writes a LOCAL header), 12 for
//! IPv4, 36 for IPv6, 216 for UNIX; the rest of the header must be whole TLVs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::ProxyError;
use super::{as_v6, Command, Header, Parse, Transport, Version};
use super::{crc32c, tlv};

/// The signature every v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The fixed part: signature, version/command, family/protocol, length.
pub const V2_FIXED_LEN: usize = 16;

/// The longest v2 header the length field can announce.
pub const V2_MAX_LEN: usize = V2_FIXED_LEN + u16::MAX as usize;

const VERSION: u8 = 0x20;
const CMD_LOCAL: u8 = 0x0;
const CMD_PROXY: u8 = 0x1;
const UNSPEC: u8 = 0x00;
const INET_STREAM: u8 = 0x11;
const INET6_STREAM: u8 = 0x21;
const INET_DGRAM: u8 = 0x12;
const INET6_DGRAM: u8 = 0x22;

pub(crate) fn parse(buf: &[u8], max: usize) -> Result<Parse<'_>, ProxyError> {
    let n = V2_SIGNATURE.len().min(buf.len());
    if buf.get(..n) != V2_SIGNATURE.get(..n) {
        return Err(ProxyError::NotProxy);
    }
    let incomplete = Ok(Parse::Incomplete {
        needed: V2_FIXED_LEN,
    });
    let Some(&ver_cmd) = buf.get(12) else {
        return incomplete;
    };
    if ver_cmd >> 4 != VERSION >> 4 {
        return Err(ProxyError::V2Version(ver_cmd >> 4));
    }
    let command = match ver_cmd & 0x0f {
        CMD_LOCAL => Command::Local,
        CMD_PROXY => Command::Proxy,
        other => return Err(ProxyError::V2Command(other)),
    };
    let Some(&fam) = buf.get(13) else {
        return incomplete;
    };
    let (family, need, transport) = family(fam)?;
    let Some(&[hi, lo]) = buf.get(14..16) else {
        return incomplete;
    };
    let body = usize::from(u16::from_be_bytes([hi, lo]));
    let len = V2_FIXED_LEN + body;
    if len > max {
        return Err(ProxyError::V2TooLong { len, max });
    }
    if body < need {
        return Err(ProxyError::V2Addresses {
            family,
            len: body,
            need,
        });
    }
    let Some(header) = buf.get(..len) else {
        return Ok(Parse::Incomplete { needed: len });
    };
    let tlvs_at = V2_FIXED_LEN + need;
    tlv::check(header, tlvs_at)?;
    let addresses = match command {
        Command::Proxy => addresses(fam, header.get(V2_FIXED_LEN..tlvs_at)),
        Command::Local => None,
    };
    let header = Header {
        version: Version::V2,
        command,
        transport,
        addresses,
        tlvs: header.get(tlvs_at..).unwrap_or_default(),
    };
    Ok(Parse::Complete { header, len })
}

/// The family's name, its address block's length and the transport, for a valid byte.
fn family(fam: u8) -> Result<(&'static str, usize, Transport), ProxyError> {
    let transport = match fam & 0x0f {
        0x1 => Transport::Stream,
        0x2 => Transport::Datagram,
        _ if fam == UNSPEC => return Ok(("AF_UNSPEC", 0, Transport::Unspec)),
        _ => return Err(ProxyError::V2Family(fam)),
    };
    match fam >> 4 {
        0x1 => Ok(("AF_INET", 12, transport)),
        0x2 => Ok(("AF_INET6", 36, transport)),
        0x3 => Ok(("AF_UNIX", 216, transport)),
        _ => Err(ProxyError::V2Family(fam)),
    }
}

/// The source and destination in an IPv4 or IPv6 address block (`None` for UNSPEC, UNIX).
fn addresses(fam: u8, block: Option<&[u8]>) -> Option<(SocketAddr, SocketAddr)> {
    match (fam >> 4, block?) {
        (0x1, &[a, b, c, d, e, f, g, h, sp0, sp1, dp0, dp1]) => Some((
            SocketAddr::new(
                Ipv4Addr::new(a, b, c, d).into(),
                u16::from_be_bytes([sp0, sp1]),
            ),
            SocketAddr::new(
                Ipv4Addr::new(e, f, g, h).into(),
                u16::from_be_bytes([dp0, dp1]),
            ),
        )),
        (0x2, block) => {
            let src: [u8; 16] = block.get(..16)?.try_into().ok()?;
            let dst: [u8; 16] = block.get(16..32)?.try_into().ok()?;
            let &[sp0, sp1, dp0, dp1] = block.get(32..36)? else {
                return None;
            };
            Some((
                SocketAddr::new(Ipv6Addr::from(src).into(), u16::from_be_bytes([sp0, sp1])),
                SocketAddr::new(Ipv6Addr::from(dst).into(), u16::from_be_bytes([dp0, dp1])),
            ))
        }
        _ => None,
    }
}

/// Appends a v2 header: `command`, then `addresses` (`(source, destination)`) over
/// `transport`, then `tlvs` in order. Both addresses IPv4 give `AF_INET`; otherwise both go
/// as `AF_INET6`, an IPv4 one IPv4-mapped. Without addresses the header says `AF_UNSPEC`
/// and no protocol, as the spec asks of senders (so `transport` is not written). A TLV of type
/// [`tlv::CRC32C`] (its value 4 bytes, any) gets the header's checksum. On an error nothing is
/// appended.
pub fn encode_v2(
    command: Command,
    transport: Transport,
    addresses: Option<(SocketAddr, SocketAddr)>,
    tlvs: &[(u8, &[u8])],
    out: &mut Vec<u8>,
) -> Result<(), ProxyError> {
    let proto = match (addresses, transport) {
        (None, _) => None,
        (Some(_), Transport::Stream) => Some(Transport::Stream),
        (Some(_), Transport::Datagram) => Some(Transport::Datagram),
        (Some(_), Transport::Unspec) => return Err(ProxyError::EncodeNoTransport),
    };
    let start = out.len();
    let result = write_v2(command, proto, addresses, tlvs, out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_v2(
    command: Command,
    proto: Option<Transport>,
    addresses: Option<(SocketAddr, SocketAddr)>,
    tlvs: &[(u8, &[u8])],
    out: &mut Vec<u8>,
    start: usize,
) -> Result<(), ProxyError> {
    let cmd = match command {
        Command::Local => CMD_LOCAL,
        Command::Proxy => CMD_PROXY,
    };
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(VERSION | cmd);
    let fam_at = out.len();
    out.extend_from_slice(&[UNSPEC, 0, 0]);
    if let Some((src, dst)) = addresses {
        let dgram = proto == Some(Transport::Datagram);
        let fam = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&d.octets());
                if dgram {
                    INET_DGRAM
                } else {
                    INET_STREAM
                }
            }
            (s, d) => {
                out.extend_from_slice(&as_v6(s).octets());
                out.extend_from_slice(&as_v6(d).octets());
                if dgram {
                    INET6_DGRAM
                } else {
                    INET6_STREAM
                }
            }
        };
        out.extend_from_slice(&src.port().to_be_bytes());
        out.extend_from_slice(&dst.port().to_be_bytes());
        if let Some(b) = out.get_mut(fam_at) {
            *b = fam;
        }
    }
    let mut crc_at = None;
    for &(kind, value) in tlvs {
        let len = u16::try_from(value.len()).map_err(|_| ProxyError::EncodeTlvTooLong(kind))?;
        out.push(kind);
        out.extend_from_slice(&len.to_be_bytes());
        if kind == tlv::CRC32C {
            if value.len() != 4 {
                return Err(ProxyError::EncodeCrcLength);
            }
            if crc_at.replace(out.len()).is_some() {
                return Err(ProxyError::EncodeCrcTwice);
            }
            out.extend_from_slice(&[0; 4]);
        } else {
            out.extend_from_slice(value);
        }
    }
    let total = out.len() - start;
    let body = u16::try_from(total - V2_FIXED_LEN).map_err(|_| ProxyError::EncodeTooLong(total))?;
    if let Some(len) = out.get_mut(fam_at + 1..fam_at + 3) {
        len.copy_from_slice(&body.to_be_bytes());
    }
    if let Some(at) = crc_at {
        let sum = crc32c::checksum(out.get(start..).unwrap_or_default());
        if let Some(field) = out.get_mut(at..at + 4) {
            field.copy_from_slice(&sum.to_be_bytes());
        }
    }
    Ok(())
}

/// Appends the 16-byte v2 header of a connection the proxy opened itself (a health check):
/// `LOCAL`, `AF_UNSPEC`, no addresses. The receiver uses the connection's real endpoints.
pub fn encode_v2_local(out: &mut Vec<u8>) {
    out.extend_from_slice(&V2_SIGNATURE);
    out.extend_from_slice(&[VERSION | CMD_LOCAL, UNSPEC, 0, 0]);
}
