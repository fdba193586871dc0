//! Version 2: every refusal, each as early as the bytes allow, and the length cap.

use super::*;

const ADDR4: [u8; 12] = [10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0x00, 0x50];

fn tlv_bytes(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut t = vec![kind];
    t.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    t.extend_from_slice(value);
    t
}

/// A v2 PROXY TCP4 header with `tlvs` after the addresses.
fn with_tlvs(tlvs: &[u8]) -> Vec<u8> {
    v2(0x21, 0x11, &[&ADDR4[..], tlvs].concat())
}

#[test]
fn refuses_other_versions_at_byte_13() {
    for version in [0u8, 1, 3, 4, 0xf] {
        let buf = v2(version << 4 | 1, 0x11, &ADDR4);
        assert_eq!(parse(&buf[..13]), Err(ProxyError::V2Version(version)));
        assert_eq!(refused(&buf), ProxyError::V2Version(version));
    }
}

#[test]
fn refuses_unassigned_commands() {
    for command in 2u8..=0xf {
        let buf = v2(0x20 | command, 0x11, &ADDR4);
        assert_eq!(parse(&buf[..13]), Err(ProxyError::V2Command(command)));
        assert_eq!(refused(&buf), ProxyError::V2Command(command));
    }
}

/// Of the 256 family/protocol bytes exactly the seven the spec lists are accepted; the rest
/// are refused at byte 14, under either command.
#[test]
fn accepts_exactly_the_seven_family_protocol_bytes() {
    let mut accepted = Vec::new();
    for fam in 0..=255u8 {
        for ver_cmd in [0x20, 0x21] {
            let buf = v2(ver_cmd, fam, &[0; 216]);
            match parse_bytewise(&buf) {
                Ok(Parse::Complete { .. }) => {
                    if ver_cmd == 0x21 {
                        accepted.push(fam);
                    }
                }
                Err(ProxyError::V2Family(f)) => {
                    assert_eq!(f, fam);
                    assert_eq!(parse(&buf[..14]), Err(ProxyError::V2Family(fam)));
                }
                // The zeroed block after an UNSPEC header is read as TLVs: type 0, length 0,
                // 72 times over. Fine.
                other => panic!("0x{fam:02x}: {other:?}"),
            }
        }
    }
    assert_eq!(accepted, [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32]);
}

#[test]
fn refuses_an_address_block_shorter_than_its_family_needs() {
    for (fam, family, need) in [
        (0x11, "AF_INET", 12),
        (0x12, "AF_INET", 12),
        (0x21, "AF_INET6", 36),
        (0x22, "AF_INET6", 36),
        (0x31, "AF_UNIX", 216),
        (0x32, "AF_UNIX", 216),
    ] {
        for ver_cmd in [0x20, 0x21] {
            let buf = v2(ver_cmd, fam, &vec![0; need - 1]);
            let want = ProxyError::V2Addresses {
                family,
                len: need - 1,
                need,
            };
            // Known from the length field, before the block arrives.
            assert_eq!(parse(&buf[..16]), Err(want));
            assert_eq!(refused(&buf), want);
        }
    }
}

#[test]
fn refuses_tlvs_that_overrun_the_header() {
    // One or two bytes left: no room for a TLV's type and length.
    for tail in [&[0x04][..], &[0x04, 0x00]] {
        assert_eq!(refused(&with_tlvs(tail)), ProxyError::V2TlvOverrun(28));
    }
    // A length past the end.
    assert_eq!(
        refused(&with_tlvs(&[0x04, 0x00, 0x05, 1, 2, 3, 4])),
        ProxyError::V2TlvOverrun(28)
    );
    // The second of two, after a good one.
    let tlvs = [tlv_bytes(tlv::NOOP, b"ab"), vec![0x02, 0xff, 0xff, b'x']].concat();
    assert_eq!(refused(&with_tlvs(&tlvs)), ProxyError::V2TlvOverrun(33));
    // After LOCAL + UNSPEC the TLVs start at byte 16.
    assert_eq!(
        refused(&v2(0x20, 0x00, &[0x01, 0x00, 0x09, b'h'])),
        ProxyError::V2TlvOverrun(16)
    );
    // An overrun past the header is refused even when application bytes follow that would
    // cover it.
    let mut buf = with_tlvs(&[0x04, 0x00, 0x05, 1]);
    buf.extend_from_slice(b"1234");
    assert_eq!(refused(&buf), ProxyError::V2TlvOverrun(28));
}

#[test]
fn checks_crc32c_when_present() {
    let mut good = Vec::new();
    let addrs = Some((sa("10.0.0.1:8080"), sa("10.0.0.2:80")));
    let tlvs: [(u8, &[u8]); 2] = [(tlv::CRC32C, &[0; 4]), (tlv::AUTHORITY, b"a.example")];
    encode_v2(Command::Proxy, Transport::Stream, addrs, &tlvs, &mut good).unwrap();
    let (h, _) = complete(&good);
    assert_eq!(h.authority(), Some("a.example"));

    let mut bad = good.clone();
    bad[31] ^= 0x80; // the checksum itself
    assert!(matches!(refused(&bad), ProxyError::V2Crc { .. }));

    // Wrong lengths for the checksum.
    for len in [0, 3, 5] {
        let buf = with_tlvs(&tlv_bytes(tlv::CRC32C, &vec![0; len]));
        let want = ProxyError::V2TlvLength {
            kind: tlv::CRC32C,
            len,
            must: "4",
        };
        assert_eq!(refused(&buf), want);
    }
    // Two checksums.
    let two = [
        tlv_bytes(tlv::CRC32C, &[0; 4]),
        tlv_bytes(tlv::CRC32C, &[0; 4]),
    ]
    .concat();
    assert_eq!(refused(&with_tlvs(&two)), ProxyError::V2CrcTwice);
}

/// Every single-byte change to the addresses or to another TLV's value is caught by the
/// checksum.
#[test]
fn crc32c_catches_every_changed_byte() {
    let mut good = Vec::new();
    let addrs = Some((sa("[2001:db8::1]:1234"), sa("[2001:db8::2]:443")));
    let tlvs: [(u8, &[u8]); 2] = [(tlv::UNIQUE_ID, b"conn-42"), (tlv::CRC32C, &[0; 4])];
    encode_v2(Command::Proxy, Transport::Stream, addrs, &tlvs, &mut good).unwrap();
    let values = (16..52).chain(55..62);
    for at in values {
        for flip in [0x01, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[at] ^= flip;
            assert!(
                matches!(parse(&bad), Err(ProxyError::V2Crc { .. })),
                "byte {at} ^ {flip:#x}"
            );
        }
    }
}

#[test]
fn refuses_a_unique_id_over_128_bytes_and_a_non_utf8_authority() {
    let buf = with_tlvs(&tlv_bytes(tlv::UNIQUE_ID, &[7; 128]));
    let (h, _) = complete(&buf);
    assert_eq!(h.unique_id().map(<[u8]>::len), Some(128));
    assert_eq!(
        refused(&with_tlvs(&tlv_bytes(tlv::UNIQUE_ID, &[7; 129]))),
        ProxyError::V2TlvLength {
            kind: tlv::UNIQUE_ID,
            len: 129,
            must: "at most 128"
        }
    );
    assert_eq!(
        refused(&with_tlvs(&tlv_bytes(tlv::AUTHORITY, b"caf\xe9"))),
        ProxyError::V2Authority
    );
    let buf = with_tlvs(&tlv_bytes(tlv::AUTHORITY, "café.example".as_bytes()));
    let (h, _) = complete(&buf);
    assert_eq!(h.authority(), Some("café.example"));
}

/// The caller's cap is applied as soon as the length field is read; the spec's maximum
/// (16 + 65535) is accepted by `parse`.
#[test]
fn caps_the_length_as_soon_as_it_is_read() {
    let max = V2_RECOMMENDED_MAX_LEN;
    let over = v2(0x21, 0x11, &vec![0; max - 16 + 1]);
    let want = ProxyError::V2TooLong { len: max + 1, max };
    assert_eq!(parse_limited(&over[..16], max), Err(want));
    assert_eq!(parse_limited(&over, max), Err(want));

    let body = [
        &ADDR4[..],
        &tlv_bytes(tlv::NOOP, &vec![0; max - 16 - 12 - 3]),
    ]
    .concat();
    let at_cap = v2(0x21, 0x11, &body);
    assert_eq!(at_cap.len(), max);
    assert!(matches!(
        parse_limited(&at_cap, max),
        Ok(Parse::Complete { len, .. }) if len == max
    ));

    let body = [&ADDR4[..], &tlv_bytes(tlv::NOOP, &vec![0; 65535 - 12 - 3])].concat();
    let largest = v2(0x21, 0x11, &body);
    assert_eq!(largest.len(), V2_MAX_LEN);
    assert_eq!(
        parse(&largest[..16]),
        Ok(Parse::Incomplete { needed: V2_MAX_LEN })
    );
    assert!(matches!(parse(&largest), Ok(Parse::Complete { len, .. }) if len == V2_MAX_LEN));
    // A cap above the spec's maximum is the spec's maximum.
    assert!(matches!(
        parse_limited(&largest, usize::MAX),
        Ok(Parse::Complete { .. })
    ));
}

/// A header cut short is `Incomplete` with the exact total once the fixed part is in, never
/// an error: the spec's "must reject partial headers" is the caller's timeout.
#[test]
fn needs_exactly_the_announced_length() {
    let buf = with_tlvs(&tlv_bytes(tlv::AUTHORITY, b"x.example"));
    for k in 1..16 {
        assert_eq!(
            parse(&buf[..k]),
            Ok(Parse::Incomplete { needed: 16 }),
            "{k}"
        );
    }
    for k in 16..buf.len() {
        let want = Ok(Parse::Incomplete { needed: buf.len() });
        assert_eq!(parse(&buf[..k]), want, "{k}");
    }
    assert!(matches!(parse(&buf), Ok(Parse::Complete { .. })));
}

#[test]
fn refuses_a_damaged_signature_at_the_damaged_byte() {
    for at in 0..12 {
        let mut buf = v2(0x21, 0x11, &ADDR4);
        buf[at] ^= 0x40;
        assert_eq!(parse(&buf[..=at]), Err(ProxyError::NotProxy), "byte {at}");
        if at > 0 {
            assert_eq!(parse(&buf[..at]), Ok(Parse::Incomplete { needed: 16 }));
        }
    }
}
