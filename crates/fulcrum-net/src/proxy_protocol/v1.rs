//! Version 1, the human-readable line:
//! `PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n`, or `PROXY UNKNOWN ...\r\n`.
//!
//! The line is read only once its CRLF is buffered (the spec: wait for it before decoding),
//! and must end within [`V1_MAX_LEN`] bytes; a lone CR or LF is refused. `TCP4` takes two
//! dotted quads (no leading zeros), `TCP6` two IPv6 addresses, then two decimal ports; fields
//! are separated by exactly one space. After `UNKNOWN` anything up to the CRLF is ignored.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::{ProxyError, Side, Text};
use super::{as_v6, Command, Header, Parse, Transport, Version};

/// The longest v1 header, CRLF included (`PROXY UNKNOWN` with two full IPv6 addresses).
pub const V1_MAX_LEN: usize = 107;

/// The shortest: `PROXY UNKNOWN\r\n`.
pub(crate) const MIN_LEN: usize = 15;

const PREFIX: &[u8] = b"PROXY ";

pub(crate) fn parse(buf: &[u8]) -> Result<Parse<'_>, ProxyError> {
    let n = PREFIX.len().min(buf.len());
    if buf.get(..n) != PREFIX.get(..n) {
        return Err(ProxyError::NotProxy);
    }
    // The CR must come by byte 106 for the CRLF to end by byte 107.
    let window = buf.get(..buf.len().min(V1_MAX_LEN - 1)).unwrap_or(buf);
    let Some(end) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        if buf.len() >= V1_MAX_LEN - 1 {
            return Err(ProxyError::V1TooLong);
        }
        let needed = (buf.len() + 2).max(MIN_LEN);
        return Ok(Parse::Incomplete { needed });
    };
    match (buf.get(end), buf.get(end + 1)) {
        (Some(b'\r'), None) => return Ok(Parse::Incomplete { needed: end + 2 }),
        (Some(b'\r'), Some(b'\n')) => {}
        _ => return Err(ProxyError::V1LineEnd),
    }
    let line = buf.get(PREFIX.len()..end).unwrap_or_default();
    let header = line_header(line)?;
    Ok(Parse::Complete {
        header,
        len: end + 2,
    })
}

/// The header a line (without `PROXY ` and CRLF) says.
fn line_header(line: &[u8]) -> Result<Header<'static>, ProxyError> {
    let (protocol, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (line.get(..i).unwrap_or_default(), line.get(i + 1..)),
        None => (line, None),
    };
    let v6 = match protocol {
        b"UNKNOWN" => {
            return Ok(Header {
                version: Version::V1,
                command: Command::Proxy,
                transport: Transport::Unspec,
                addresses: None,
                tlvs: &[],
            })
        }
        b"TCP4" => false,
        b"TCP6" => true,
        _ => return Err(ProxyError::V1Protocol(Text::new(protocol))),
    };
    let name = if v6 { "TCP6" } else { "TCP4" };
    let rest = rest.unwrap_or_default();
    let mut fields = rest.split(|&b| b == b' ');
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ProxyError::V1Fields(name, Text::new(rest)));
    };
    if [src, dst, sport, dport].iter().any(|f| f.is_empty()) {
        return Err(ProxyError::V1Fields(name, Text::new(rest)));
    }
    let src_ip = address(src, v6, Side::Source)?;
    let dst_ip = address(dst, v6, Side::Destination)?;
    let sport = port(sport, Side::Source)?;
    let dport = port(dport, Side::Destination)?;
    Ok(Header {
        version: Version::V1,
        command: Command::Proxy,
        transport: Transport::Stream,
        addresses: Some((
            SocketAddr::new(src_ip, sport),
            SocketAddr::new(dst_ip, dport),
        )),
        tlvs: &[],
    })
}

fn address(field: &[u8], v6: bool, side: Side) -> Result<IpAddr, ProxyError> {
    // std's parsers are as strict as the spec: no leading zeros in a dotted quad, no zone,
    // no brackets, 1-4 hex digits per IPv6 group (the dotted tail inet_ntop writes for an
    // IPv4-mapped address is accepted, as inet_pton does).
    let text = std::str::from_utf8(field).ok();
    let ip = if v6 {
        text.and_then(|t| t.parse::<Ipv6Addr>().ok())
            .map(IpAddr::V6)
    } else {
        text.and_then(|t| t.parse::<Ipv4Addr>().ok())
            .map(IpAddr::V4)
    };
    let family = if v6 { "IPv6" } else { "IPv4" };
    ip.ok_or(ProxyError::V1Address(side, family, Text::new(field)))
}

/// A port: 1 to 5 decimal digits, no leading zero (unless it is `0`), at most 65535.
fn port(field: &[u8], side: Side) -> Result<u16, ProxyError> {
    let bad = || ProxyError::V1Port(side, Text::new(field));
    let digits = field.len() <= 5 && field.iter().all(u8::is_ascii_digit);
    if !digits || (field.len() > 1 && field.first() == Some(&b'0')) {
        return Err(bad());
    }
    let n = field.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).map_err(|_| bad())
}

/// Appends a v1 header for a connection from `src` to `dst`: `TCP4` when both are IPv4,
/// otherwise `TCP6` with an IPv4 address written IPv4-mapped. At most 104 bytes.
pub fn encode_v1(src: SocketAddr, dst: SocketAddr, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => write!(out, "PROXY TCP4 {s} {d} "),
        (s, d) => write!(out, "PROXY TCP6 {} {} ", as_v6(s), as_v6(d)),
    };
    let _ = write!(out, "{} {}\r\n", src.port(), dst.port());
}

/// Appends `PROXY UNKNOWN\r\n`: the spec's v1 header for a connection whose addresses cannot
/// be said. (Prefer [`encode_v2_local`](super::encode_v2_local) for health checks: some
/// receivers refuse `UNKNOWN`.)
pub fn encode_v1_unknown(out: &mut Vec<u8>) {
    out.extend_from_slice(b"PROXY UNKNOWN\r\n");
}
