//! Seeded random runs: random headers round-trip and parse alike however they are split;
//! mutated headers and garbage never panic, and whatever parses with addresses carries them
//! where an independent reading of the bytes finds them.

use super::*;

fn rng(seed: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed)
}

fn random_addr(r: &mut fastrand::Rng, v6: bool) -> SocketAddr {
    let ip: IpAddr = if v6 {
        // Now and then an IPv4-mapped or a short, zero-rich address.
        match r.u8(0..4) {
            0 => Ipv4Addr::from(r.u32(..)).to_ipv6_mapped().into(),
            1 => Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, r.u16(..)).into(),
            _ => Ipv6Addr::from(r.u128(..)).into(),
        }
    } else {
        Ipv4Addr::from(r.u32(..)).into()
    };
    let port = if r.bool() { r.u16(..) } else { r.u16(0..3) };
    SocketAddr::new(ip, port)
}

/// A random valid header, with what the parser must report.
fn random_header(r: &mut fastrand::Rng) -> (Vec<u8>, Header<'static>) {
    let (v6_src, v6_dst) = (r.bool(), r.bool());
    let (src, dst) = (random_addr(r, v6_src), random_addr(r, v6_dst));
    let sent = if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        let v6 = |a: SocketAddr| SocketAddr::new(as_v6(a.ip()).into(), a.port());
        (v6(src), v6(dst))
    };
    let mut out = Vec::new();
    if r.bool() {
        encode_v1(src, dst, &mut out);
        let h = Header {
            version: Version::V1,
            command: Command::Proxy,
            transport: Transport::Stream,
            addresses: Some(sent),
            tlvs: &[],
        };
        return (out, h);
    }
    let command = if r.u8(0..8) == 0 {
        Command::Local
    } else {
        Command::Proxy
    };
    let transport = if r.bool() {
        Transport::Stream
    } else {
        Transport::Datagram
    };
    let values: Vec<(u8, Vec<u8>)> = (0..r.usize(0..5))
        .map(|_| {
            let kind = [tlv::ALPN, tlv::AUTHORITY, tlv::NOOP, tlv::UNIQUE_ID, 0xe5][r.usize(0..5)];
            let len = r.usize(0..100);
            let value = if kind == tlv::AUTHORITY {
                (0..len).map(|_| r.alphanumeric() as u8).collect()
            } else {
                (0..len).map(|_| r.u8(..)).collect()
            };
            (kind, value)
        })
        .collect();
    let mut tlvs: Vec<(u8, &[u8])> = values.iter().map(|(k, v)| (*k, &v[..])).collect();
    if r.bool() {
        tlvs.insert(r.usize(0..=tlvs.len()), (tlv::CRC32C, &[0; 4]));
    }
    encode_v2(command, transport, Some((src, dst)), &tlvs, &mut out).unwrap();
    let h = Header {
        version: Version::V2,
        command,
        transport,
        addresses: (command == Command::Proxy).then_some(sent),
        tlvs: &[],
    };
    (out, h)
}

/// An independent reading of where a header's addresses are: the v1 fields as text, or the
/// v2 address block at its fixed offsets.
fn addresses_in(bytes: &[u8], h: &Header<'_>) -> Option<(SocketAddr, SocketAddr)> {
    match h.version {
        Version::V1 => {
            let line = std::str::from_utf8(bytes).ok()?.strip_suffix("\r\n")?;
            let f: Vec<&str> = line.split(' ').collect();
            let [_, proto, s, d, sp, dp] = f[..] else {
                return None;
            };
            let ip = |t: &str| -> Option<IpAddr> {
                match proto {
                    "TCP4" => t.parse::<Ipv4Addr>().ok().map(Into::into),
                    "TCP6" => t.parse::<Ipv6Addr>().ok().map(Into::into),
                    _ => None,
                }
            };
            let (src, dst) = (
                SocketAddr::new(ip(s)?, sp.parse().ok()?),
                SocketAddr::new(ip(d)?, dp.parse().ok()?),
            );
            // Ports are written the one way there is.
            (src.port().to_string() == sp && dst.port().to_string() == dp).then_some((src, dst))
        }
        Version::V2 => {
            let port = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
            match bytes[13] {
                0x11 | 0x12 => {
                    let ip =
                        |at: usize| IpAddr::from(<[u8; 4]>::try_from(&bytes[at..at + 4]).unwrap());
                    Some((
                        SocketAddr::new(ip(16), port(24)),
                        SocketAddr::new(ip(20), port(26)),
                    ))
                }
                0x21 | 0x22 => {
                    let ip = |at: usize| {
                        IpAddr::from(<[u8; 16]>::try_from(&bytes[at..at + 16]).unwrap())
                    };
                    Some((
                        SocketAddr::new(ip(16), port(48)),
                        SocketAddr::new(ip(32), port(50)),
                    ))
                }
                _ => None,
            }
        }
    }
}

/// Whatever parses: in bounds, the same however split, addresses where the bytes say.
/// Whether it parsed with addresses.
fn check_any(buf: &[u8], split: usize) -> bool {
    let whole = parse(buf);
    let k = split.min(buf.len());
    match parse(&buf[..k]) {
        Ok(Parse::Incomplete { needed }) => assert!(needed > k),
        first => assert_eq!(first, whole, "split at {k}"),
    }
    if let Ok(Parse::Complete { header, len }) = whole {
        assert!(len <= buf.len());
        if let Some(addrs) = header.addresses {
            assert_eq!(addresses_in(&buf[..len], &header), Some(addrs), "{buf:?}");
            assert_eq!(header.command, Command::Proxy);
            return true;
        }
    }
    false
}

#[test]
fn random_headers_round_trip_however_split() {
    let mut r = rng(0x5eed_0001);
    for _ in 0..5000 {
        let (mut buf, want) = random_header(&mut r);
        let header_len = buf.len();
        let app: Vec<u8> = (0..r.usize(0..40)).map(|_| r.u8(..)).collect();
        buf.extend_from_slice(&app);
        let Ok(Parse::Complete { header, len }) = parse(&buf) else {
            panic!("{buf:?}: {:?}", parse(&buf));
        };
        assert_eq!(len, header_len);
        assert_eq!(
            (
                header.version,
                header.command,
                header.transport,
                header.addresses
            ),
            (want.version, want.command, want.transport, want.addresses)
        );
        for _ in 0..4 {
            let k = r.usize(0..=buf.len());
            match parse(&buf[..k]) {
                Ok(Parse::Incomplete { needed }) => {
                    assert!(
                        k < header_len && needed > k && needed <= header_len,
                        "{k} {needed}"
                    )
                }
                got => assert_eq!(got, Ok(Parse::Complete { header, len }), "split at {k}"),
            }
        }
        assert!(check_any(&buf, r.usize(..)) == want.addresses.is_some());
    }
}

/// Valid headers with bytes flipped, inserted, deleted or cut off.
#[test]
fn mutated_headers_never_panic_nor_misplace_addresses() {
    let mut r = rng(0x5eed_0002);
    let mut with_addresses = 0;
    for _ in 0..20000 {
        let (mut buf, _) = random_header(&mut r);
        for _ in 0..r.usize(1..4) {
            if buf.is_empty() {
                break;
            }
            let at = r.usize(0..buf.len());
            match r.u8(0..5) {
                0 => buf[at] ^= 1 << r.u8(0..8),
                1 => buf[at] = r.u8(..),
                2 => buf.insert(at, [b' ', b'\r', b'\n', b'0', b':', 0][r.usize(0..6)]),
                3 => {
                    buf.remove(at);
                }
                _ => buf.truncate(at),
            }
        }
        with_addresses += usize::from(check_any(&buf, r.usize(..)));
    }
    // Many mutations leave a header (a changed port, an address that is still one).
    assert!(with_addresses > 1000, "{with_addresses}");
}

/// Random bytes, some behind a valid-looking start: never a panic, and no addresses unless
/// the bytes say them.
#[test]
fn garbage_never_panics_nor_invents_addresses() {
    let mut r = rng(0x5eed_0003);
    let starts: [&[u8]; 5] = [
        b"",
        b"PROXY ",
        b"PROXY TCP4 ",
        b"PROXY TCP6 ",
        &V2_SIGNATURE,
    ];
    let mut with_addresses = 0;
    for i in 0..50000 {
        let mut buf = starts[i % starts.len()].to_vec();
        if buf.len() == 12 {
            buf.push(0x20 | r.u8(0..2));
            buf.push([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32, r.u8(..)][r.usize(0..8)]);
            buf.extend_from_slice(&r.u16(0..300).to_be_bytes());
        }
        let alphabet = b"0123456789abcdef.: \r\nPROXYTCP46UNKOW";
        for _ in 0..r.usize(0..320) {
            buf.push(if r.bool() {
                alphabet[r.usize(0..alphabet.len())]
            } else {
                r.u8(..)
            });
        }
        with_addresses += usize::from(check_any(&buf, r.usize(..)));
    }
    // A few do (a v2 start with a fitting length and TLVs), so the check above is exercised.
    assert!(with_addresses > 0);
}
