//! The encoders: round trips through the parser over IPv4, IPv6 and mixed families, TLVs,
//! LOCAL, and what `encode_v2` refuses.

use super::*;

const PAIRS: [(&str, &str); 6] = [
    ("192.0.2.1:50000", "198.51.100.7:443"),
    ("[2001:db8::1]:50000", "[2001:db8:1::7]:443"),
    ("192.0.2.1:1", "[2001:db8::7]:65535"),
    ("[2001:db8::1]:0", "198.51.100.7:80"),
    ("[::ffff:192.0.2.1]:9", "[::1]:9"),
    ("0.0.0.0:0", "255.255.255.255:65535"),
];

/// What the parser reports for a pair the encoders were given: the pair itself when both
/// are IPv4 or both IPv6, otherwise both as IPv6 with the IPv4 one mapped.
fn as_sent(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    if src.is_ipv4() == dst.is_ipv4() {
        return (src, dst);
    }
    let v6 = |a: SocketAddr| SocketAddr::new(as_v6(a.ip()).into(), a.port());
    (v6(src), v6(dst))
}

#[test]
fn v1_round_trips_over_ipv4_ipv6_and_mixed() {
    for (s, d) in PAIRS {
        let (src, dst) = (sa(s), sa(d));
        let mut out = b"kept".to_vec();
        encode_v1(src, dst, &mut out);
        assert_eq!(&out[..4], b"kept", "appends");
        let (h, len) = complete(&out[4..]);
        assert_eq!(len, out.len() - 4);
        assert!(len <= 104, "{len}");
        assert_eq!(h.addresses, Some(as_sent(src, dst)), "{s} {d}");
        let tcp4 = src.is_ipv4() && dst.is_ipv4();
        assert_eq!(
            &out[4..15],
            if tcp4 { b"PROXY TCP4 " } else { b"PROXY TCP6 " }
        );
        // Mapped back, the client is who it was.
        assert_eq!(
            h.source().map(|a| a.ip().to_canonical()),
            Some(src.ip().to_canonical())
        );
    }
    let mut out = Vec::new();
    encode_v1(sa("192.0.2.1:1"), sa("[2001:db8::7]:2"), &mut out);
    assert_eq!(out, b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::7 1 2\r\n");
}

#[test]
fn v2_round_trips_over_ipv4_ipv6_and_mixed() {
    for (s, d) in PAIRS {
        for transport in [Transport::Stream, Transport::Datagram] {
            let (src, dst) = (sa(s), sa(d));
            let mut out = b"kept".to_vec();
            encode_v2(Command::Proxy, transport, Some((src, dst)), &[], &mut out).unwrap();
            assert_eq!(&out[..4], b"kept");
            let (h, len) = complete(&out[4..]);
            assert_eq!(len, out.len() - 4);
            assert_eq!(h.addresses, Some(as_sent(src, dst)), "{s} {d}");
            assert_eq!(
                (h.version, h.command, h.transport),
                (Version::V2, Command::Proxy, transport)
            );
            let fam = out[4 + 13];
            let v4 = src.is_ipv4() && dst.is_ipv4();
            let dgram = transport == Transport::Datagram;
            assert_eq!(
                fam,
                [[0x21, 0x22], [0x11, 0x12]][usize::from(v4)][usize::from(dgram)]
            );
            assert_eq!(len, if v4 { 28 } else { 52 });
        }
    }
}

#[test]
fn v2_carries_tlvs_in_order_and_fills_in_the_checksum() {
    let tlvs: [(u8, &[u8]); 5] = [
        (tlv::ALPN, b"http/1.1"),
        (tlv::AUTHORITY, b"api.example.com"),
        (tlv::CRC32C, b"\xde\xad\xbe\xef"),
        (tlv::UNIQUE_ID, &[0xab; 128]),
        (tlv::NOOP, b""),
    ];
    let addrs = Some((sa("203.0.113.9:41000"), sa("10.0.0.5:5432")));
    let mut out = Vec::new();
    encode_v2(Command::Proxy, Transport::Stream, addrs, &tlvs, &mut out).unwrap();
    let (h, len) = complete(&out);
    assert_eq!(len, out.len());
    assert_eq!(h.alpn(), Some(&b"http/1.1"[..]));
    assert_eq!(h.authority(), Some("api.example.com"));
    assert_eq!(h.unique_id(), Some(&[0xab; 128][..]));
    let got: Vec<(u8, &[u8])> = h.tlvs().collect();
    assert_eq!(got.len(), 5);
    for (i, ((k, v), (wk, wv))) in got.iter().zip(tlvs).enumerate() {
        assert_eq!(*k, wk, "TLV {i}");
        if wk != tlv::CRC32C {
            assert_eq!(*v, wv, "TLV {i}");
        }
    }
    // The given value was replaced by the checksum, which the parser verified.
    assert_ne!(h.tlv(tlv::CRC32C), Some(&b"\xde\xad\xbe\xef"[..]));
}

#[test]
fn local_headers_for_health_checks() {
    let mut out = Vec::new();
    encode_v2_local(&mut out);
    assert_eq!(out.len(), 16);
    assert_eq!(out[12..], [0x20, 0x00, 0x00, 0x00]);
    let (h, len) = complete(&out);
    assert_eq!(
        (len, h.command, h.transport, h.addresses),
        (16, Command::Local, Transport::Unspec, None)
    );
    // The same from encode_v2, and with a TLV (as HAProxy sends a checksum on its checks).
    let mut same = Vec::new();
    encode_v2(Command::Local, Transport::Stream, None, &[], &mut same).unwrap();
    assert_eq!(same, out);
    let mut with_crc = Vec::new();
    encode_v2(
        Command::Local,
        Transport::Unspec,
        None,
        &[(tlv::CRC32C, &[0; 4])],
        &mut with_crc,
    )
    .unwrap();
    let (h, len) = complete(&with_crc);
    assert_eq!((len, h.command, h.tlvs().count()), (23, Command::Local, 1));

    let mut unknown = Vec::new();
    encode_v1_unknown(&mut unknown);
    let (h, len) = complete(&unknown);
    assert_eq!((len, h.version, h.addresses), (15, Version::V1, None));
}

#[test]
fn v2_refuses_what_it_cannot_write_and_appends_nothing() {
    let addrs = Some((sa("10.0.0.1:1"), sa("10.0.0.2:2")));
    let big = vec![0u8; 65536];
    let half = vec![0u8; 40000];
    type Case<'a> = (Transport, &'a [(u8, &'a [u8])], ProxyError);
    let cases: [Case<'_>; 5] = [
        (Transport::Unspec, &[], ProxyError::EncodeNoTransport),
        (
            Transport::Stream,
            &[(0xe0, &big)],
            ProxyError::EncodeTlvTooLong(0xe0),
        ),
        (
            Transport::Stream,
            &[(0xe0, &half), (0xe1, &half)],
            ProxyError::EncodeTooLong(16 + 12 + 2 * (3 + 40000)),
        ),
        (
            Transport::Stream,
            &[(tlv::CRC32C, &[0; 3])],
            ProxyError::EncodeCrcLength,
        ),
        (
            Transport::Stream,
            &[(tlv::CRC32C, &[0; 4]), (tlv::CRC32C, &[0; 4])],
            ProxyError::EncodeCrcTwice,
        ),
    ];
    for (transport, tlvs, want) in cases {
        let mut out = b"kept".to_vec();
        let got = encode_v2(Command::Proxy, transport, addrs, tlvs, &mut out);
        assert_eq!(got, Err(want));
        assert_eq!(out, b"kept");
    }
    // The largest header that fits is written, and parses.
    let fill = vec![0u8; 65535 - 12 - 3];
    let mut out = Vec::new();
    encode_v2(
        Command::Proxy,
        Transport::Stream,
        addrs,
        &[(0xe0, &fill)],
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len(), V2_MAX_LEN);
    assert!(matches!(
        parse(&out),
        Ok(Parse::Complete {
            len: V2_MAX_LEN,
            ..
        })
    ));
}
