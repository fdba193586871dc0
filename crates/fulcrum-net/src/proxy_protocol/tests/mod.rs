//! Tests of the PROXY protocol codec: the examples of the spec (HAProxy's
//! `proxy-protocol.txt`, 2020/03/05, section 2), refusals by version (`v1.rs`, `v2.rs`),
//! encoding round trips (`encode.rs`) and seeded random headers, mutations and garbage
//! (`props.rs`).
//!
//! The spec gives v1 examples as text; for v2 it gives the signature, the fixed part and the
//! address block layouts, written out here byte by byte from its structs.

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

mod encode;
mod props;
mod v1;
mod v2;

pub(super) fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The answer for the whole of `buf`, checked against feeding it one byte at a time: every
/// shorter prefix is `Incomplete` (with `needed` past the prefix and at most the answer's
/// length) until the answer is reached, and from there on the answer does not change.
pub(super) fn parse_bytewise(buf: &[u8]) -> Result<Parse<'_>, ProxyError> {
    let whole = parse(buf);
    let mut settled = false;
    for k in 0..=buf.len() {
        let got = parse(&buf[..k]);
        match got {
            Ok(Parse::Incomplete { needed }) => {
                assert!(!settled, "prefix {k}: Incomplete after an answer");
                assert!(needed > k, "prefix {k}: needed {needed}");
                if let Ok(Parse::Complete { len, .. }) = whole {
                    assert!(needed <= len, "prefix {k}: needed {needed} > header {len}");
                }
            }
            other => {
                settled = true;
                // A complete header never looks at what follows it; an error is found at
                // the same place whatever follows.
                match (other, whole) {
                    (Ok(Parse::Complete { header, len }), _) => {
                        assert_eq!(whole, Ok(Parse::Complete { header, len }), "prefix {k}")
                    }
                    (Err(e), _) => assert_eq!(whole, Err(e), "prefix {k}"),
                    _ => unreachable!(),
                }
            }
        }
    }
    whole
}

/// The header and length of a complete parse (fed byte by byte), or a panic.
pub(super) fn complete(buf: &[u8]) -> (Header<'_>, usize) {
    match parse_bytewise(buf) {
        Ok(Parse::Complete { header, len }) => (header, len),
        other => panic!("{:?}: {other:?}", buf.escape_ascii().to_string()),
    }
}

/// The error `buf` is refused with (fed byte by byte), or a panic.
pub(super) fn refused(buf: &[u8]) -> ProxyError {
    match parse_bytewise(buf) {
        Err(e) => e,
        other => panic!("{:?}: {other:?}", buf.escape_ascii().to_string()),
    }
}

/// A v2 header: the fixed part with `ver_cmd`, `fam` and the length of `body`, then `body`.
pub(super) fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.push(ver_cmd);
    h.push(fam);
    h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    h.extend_from_slice(body);
    h
}

// --- Section 2.1: the human-readable format ---

/// The example line before an HTTP request: the header is the line, the request is the
/// application's.
#[test]
fn spec_v1_example_before_an_http_request() {
    let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    let conn = [&line[..], b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"].concat();
    let (h, len) = complete(&conn);
    assert_eq!(len, line.len());
    assert_eq!(
        &conn[len..],
        b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"
    );
    assert_eq!(h.version, Version::V1);
    assert_eq!(h.command, Command::Proxy);
    assert_eq!(h.transport, Transport::Stream);
    assert_eq!(
        h.addresses,
        Some((sa("192.168.0.1:56324"), sa("192.168.0.11:443")))
    );
    assert_eq!(h.tlvs().count(), 0);
}

/// The four longest lines the spec lists, with the lengths it gives (56, 104, 15, 107).
#[test]
fn spec_v1_maximum_lines() {
    let full6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let tcp4 = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n".to_owned();
    let tcp6 = format!("PROXY TCP6 {full6} {full6} 65535 65535\r\n");
    let unknown = "PROXY UNKNOWN\r\n".to_owned();
    let worst = format!("PROXY UNKNOWN {full6} {full6} 65535 65535\r\n");
    for (line, n) in [(&tcp4, 56), (&tcp6, 104), (&unknown, 15), (&worst, 107)] {
        assert_eq!(line.len(), n);
        let (h, len) = complete(line.as_bytes());
        assert_eq!(len, n, "{line}");
        assert_eq!(h.version, Version::V1);
    }
    let (h, _) = complete(tcp4.as_bytes());
    let max4 = Ipv4Addr::BROADCAST;
    assert_eq!(
        h.addresses,
        Some((
            SocketAddr::new(max4.into(), 65535),
            SocketAddr::new(max4.into(), 65535)
        ))
    );
    let (h, _) = complete(tcp6.as_bytes());
    let max6 = Ipv6Addr::from(u128::MAX);
    assert_eq!(h.source(), Some(SocketAddr::new(max6.into(), 65535)));
    for line in [&unknown, &worst] {
        let (h, _) = complete(line.as_bytes());
        assert_eq!((h.transport, h.addresses), (Transport::Unspec, None));
    }
    // One byte more than the worst case: the CRLF is not within 107 bytes.
    let over = format!("PROXY UNKNOWN {full6} {full6} 65535 655350\r\n");
    assert_eq!(over.len(), 108);
    assert_eq!(refused(over.as_bytes()), ProxyError::V1TooLong);
}

/// "For UNKNOWN, the rest of the line before the CRLF may be omitted by the sender, and the
/// receiver must ignore anything presented before the CRLF is found."
#[test]
fn spec_v1_unknown_ignores_the_rest_of_its_line() {
    for line in [
        &b"PROXY UNKNOWN\r\n"[..],
        b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY UNKNOWN anything at all, even  double  spaces\r\n",
        b"PROXY UNKNOWN \r\n",
    ] {
        let (h, len) = complete(line);
        assert_eq!(len, line.len());
        assert_eq!(h.addresses, None);
        assert_eq!(h.command, Command::Proxy);
    }
}

// --- Section 2.2: the binary format ---

/// The signature, and the 13 bytes by which a receiver recognises version 2.
#[test]
fn spec_v2_signature() {
    assert_eq!(
        V2_SIGNATURE,
        [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    );
    let thirteen = [&V2_SIGNATURE[..], &[0x20]].concat();
    assert_eq!(parse(&thirteen), Ok(Parse::Incomplete { needed: 16 }));
}

/// TCP over IPv4 (`\x11`, address length 12), the v1 example's connection in binary.
#[test]
fn spec_v2_tcp_over_ipv4() {
    #[rustfmt::skip]
    let dump = [
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, // signature
        0x21, 0x11, 0x00, 0x0c,                                                 // v2 PROXY, TCP4, 12
        0xc0, 0xa8, 0x00, 0x01,  0xc0, 0xa8, 0x00, 0x0b,                        // 192.168.0.1, .11
        0xdc, 0x04,  0x01, 0xbb,                                                // 56324, 443
    ];
    let conn = [&dump[..], b"GET / HTTP/1.1\r\n"].concat();
    let (h, len) = complete(&conn);
    assert_eq!(len, 28);
    assert_eq!(
        (h.version, h.command, h.transport),
        (Version::V2, Command::Proxy, Transport::Stream)
    );
    assert_eq!(
        h.addresses,
        Some((sa("192.168.0.1:56324"), sa("192.168.0.11:443")))
    );
    // The encoder writes exactly these bytes.
    let mut out = Vec::new();
    encode_v2(
        Command::Proxy,
        Transport::Stream,
        h.addresses,
        &[],
        &mut out,
    )
    .unwrap();
    assert_eq!(out, dump);
}

/// TCP and UDP over IPv6 (`\x21`, `\x22`, address length 36) and UDP over IPv4 (`\x12`).
#[test]
fn spec_v2_ipv6_and_udp() {
    let src = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    let dst = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    let mut block = [src.octets(), dst.octets()].concat();
    block.extend_from_slice(&[0x30, 0x39, 0x00, 0x50]); // 12345, 80
    let want = Some((
        SocketAddr::new(src.into(), 12345),
        SocketAddr::new(dst.into(), 80),
    ));
    for (fam, transport) in [(0x21, Transport::Stream), (0x22, Transport::Datagram)] {
        let buf = v2(0x21, fam, &block);
        let (h, len) = complete(&buf);
        assert_eq!((len, h.transport, h.addresses), (52, transport, want));
    }
    let buf = v2(0x21, 0x12, &[10, 0, 0, 1, 10, 0, 0, 2, 0, 53, 0, 53]);
    let (h, _) = complete(&buf);
    assert_eq!(h.transport, Transport::Datagram);
    assert_eq!(h.addresses, Some((sa("10.0.0.1:53"), sa("10.0.0.2:53"))));
}

/// UNIX stream and datagram (`\x31`, `\x32`, address length 216): accepted, no addresses.
#[test]
fn spec_v2_unix() {
    let mut block = vec![0u8; 216];
    block[..9].copy_from_slice(b"/run/a.sk");
    for (fam, transport) in [(0x31, Transport::Stream), (0x32, Transport::Datagram)] {
        let buf = v2(0x21, fam, &block);
        let (h, len) = complete(&buf);
        assert_eq!((len, h.transport, h.addresses), (232, transport, None));
        assert_eq!(h.command, Command::Proxy);
    }
}

/// LOCAL (`\x20`): the addresses, if any, are skipped by the length field (which "must not
/// be assumed zero") and not used.
#[test]
fn spec_v2_local() {
    let buf = v2(0x20, 0x00, &[]);
    let (h, len) = complete(&buf);
    assert_eq!(len, 16);
    assert_eq!(
        (h.command, h.transport, h.addresses),
        (Command::Local, Transport::Unspec, None)
    );
    let buf = v2(0x20, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
    let (h, len) = complete(&buf);
    assert_eq!((len, h.command, h.addresses), (28, Command::Local, None));
}

/// PROXY over `AF_UNSPEC` (`\x00`): "the receiver is free to accept the connection anyway
/// and use the real endpoint addresses". Accepted, no addresses.
#[test]
fn spec_v2_proxy_unspec() {
    let buf = v2(0x21, 0x00, &[]);
    let (h, len) = complete(&buf);
    assert_eq!(
        (len, h.command, h.transport, h.addresses),
        (16, Command::Proxy, Transport::Unspec, None)
    );
}

/// The TLVs of section 2.2: type, 2-byte length, value; the registered types read back.
#[test]
fn spec_v2_tlvs() {
    let mut body = vec![127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2];
    for (kind, value) in [
        (tlv::ALPN, &b"h2"[..]),
        (tlv::AUTHORITY, b"example.com"),
        (tlv::NOOP, b""),
        (tlv::UNIQUE_ID, b"\x01\x02\x03"),
        (tlv::SSL, b"\x01\0\0\0\0"),
        (tlv::NETNS, b"blue"),
        (0xe0, b"custom"),
    ] {
        body.push(kind);
        body.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        body.extend_from_slice(value);
    }
    let buf = v2(0x21, 0x11, &body);
    let (h, len) = complete(&buf);
    assert_eq!(len, buf.len());
    let kinds: Vec<u8> = h.tlvs().map(|(k, _)| k).collect();
    assert_eq!(kinds, [0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0]);
    assert_eq!(h.alpn(), Some(&b"h2"[..]));
    assert_eq!(h.authority(), Some("example.com"));
    assert_eq!(h.unique_id(), Some(&b"\x01\x02\x03"[..]));
    assert_eq!(h.tlv(tlv::NETNS), Some(&b"blue"[..]));
    assert_eq!(h.tlv(0xe0), Some(&b"custom"[..]));
    assert_eq!(h.tlv(0xe1), None);
}

/// The CRC32C TLV of section 2.2.3 over a hand-built header: computed as the spec says (the
/// field zeroed), with a bit-at-a-time CRC32C independent of the table-driven one.
#[test]
fn spec_v2_crc32c() {
    fn bitwise_crc32c(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let body = [
        192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb, // addresses
        0x03, 0x00, 0x04, 0, 0, 0, 0, // CRC32C, zeroed
    ];
    let mut buf = v2(0x21, 0x11, &body);
    let sum = bitwise_crc32c(&buf);
    buf[31..35].copy_from_slice(&sum.to_be_bytes());
    let (h, _) = complete(&buf);
    assert_eq!(h.tlv(tlv::CRC32C), Some(&sum.to_be_bytes()[..]));
    buf[16] ^= 1;
    assert!(matches!(refused(&buf), ProxyError::V2Crc { sent, .. } if sent == sum));
}

/// Section 2.2's detection rule: v2 by its signature, v1 by `PROXY`, anything else is not
/// covered by the spec and the connection must be dropped; one byte is enough to tell.
#[test]
fn spec_detection_refuses_other_protocols_early() {
    for first in [
        &b"G"[..],
        b"\x16",
        b"\x00",
        b"SSH-",
        b"\r\n\r\n\x01",
        b"PROXX",
        b"proxy ",
    ] {
        assert_eq!(parse(first), Err(ProxyError::NotProxy), "{first:?}");
    }
    for other in [
        &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"PROXY\r\n",
        b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    ] {
        assert_eq!(refused(other), ProxyError::NotProxy, "{other:?}");
    }
    // Prefixes of either signature need more.
    for prefix in [&b""[..], b"P", b"PROXY", b"\r", b"\r\n\r\n\0\r\nQUIT"] {
        assert!(matches!(parse(prefix), Ok(Parse::Incomplete { .. })));
    }
}

/// The messages name the version, the field and the offending text.
#[test]
fn errors_speak_to_an_operator() {
    let msg = |buf: &[u8]| refused(buf).to_string();
    assert_eq!(
        msg(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n"),
        "PROXY v1 header: source port \"99999\" out of range (decimal 0-65535, no sign, no leading zero)"
    );
    assert_eq!(
        msg(b"PROXY TCP4 1.2.3.4 ::1 1 80\r\n"),
        "PROXY v1 header: destination address \"::1\" is not an IPv4 address"
    );
    assert_eq!(
        msg(b"PROXY TCP5 a\r\n"),
        "PROXY v1 header: protocol \"TCP5\" is none of TCP4, TCP6, UNKNOWN"
    );
    assert_eq!(
        msg(b"PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n"),
        "PROXY v1 header: source address \"1.2.3.4\\x00\" is not an IPv4 address"
    );
    assert_eq!(
        msg(&v2(0x21, 0x13, &[])),
        "PROXY v2 header: address family and protocol byte 0x13 is not one the spec defines"
    );
    let long = format!("PROXY TCP6 {} ::1 1 2\r\n", "1".repeat(60));
    assert!(msg(long.as_bytes()).contains("\"1111111111111111111111111111111111111111...\""));
    assert!(ProxyError::NotProxy
        .to_string()
        .starts_with("no PROXY header"));
}
