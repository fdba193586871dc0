//! `proxy_header`: the PROXY protocol parser (`fulcrum_net::proxy_protocol::parse`, v1 and v2
//! detected from the first byte) over arbitrary bytes, and the encoders on what it returns.
//!
//! Input: the first byte picks how the rest is cut into reads ([`Splits`]); the rest is what
//! a front load balancer sent. Invariants:
//! - a complete header lies within the input: a v1 one ends in CRLF within 107 bytes, a v2
//!   one is 16 bytes plus its length field; an error's message can be written;
//! - fed in pieces (each read appended to the ones before), every answer is `Incomplete`
//!   (needing more than the bytes so far, and no more than the header's length) until the
//!   first that is not, which is the answer for the whole input;
//! - with a cap on v2 headers the answer is the same, or `V2TooLong` for a v2 header whose
//!   length field says more than the cap;
//! - a header with addresses, written again (`encode_v1`; `encode_v2` with its TLVs), parses
//!   to the same command, transport and addresses; a v2 one is rewritten byte for byte (its
//!   CRC32C, if any, recomputed alike). A v2 header without addresses written again keeps
//!   its command and TLVs.
#![no_main]

use fulcrum_fuzz::Splits;
use fulcrum_net::proxy_protocol::{
    encode_v1, encode_v2, parse, parse_limited, tlv, Header, Parse, ProxyError, Transport, Version,
    V1_MAX_LEN, V2_RECOMMENDED_MAX_LEN, V2_SIGNATURE,
};
use libfuzzer_sys::fuzz_target;

fn complete(answer: Result<Parse<'_>, ProxyError>) -> Option<(Header<'_>, usize)> {
    match answer {
        Ok(Parse::Complete { header, len }) => Some((header, len)),
        _ => None,
    }
}

/// Re-encodes a parsed header and checks what the parser makes of it.
fn rewrite(header: &Header<'_>, original: &[u8]) {
    let mut out = Vec::new();
    match (header.version, header.addresses) {
        (Version::V1, Some((src, dst))) => encode_v1(src, dst, &mut out),
        (Version::V1, None) => return,
        (Version::V2, addresses) => {
            let tlvs: Vec<(u8, &[u8])> = header.tlvs().collect();
            let written = encode_v2(header.command, header.transport, addresses, &tlvs, &mut out);
            assert_eq!(written, Ok(()), "{header:?}");
        }
    }
    let Some((again, len)) = complete(parse(&out)) else {
        panic!("{header:?} rewritten as {out:?}: {:?}", parse(&out));
    };
    assert_eq!(len, out.len());
    assert_eq!(again.version, header.version);
    assert_eq!(again.command, header.command);
    // (A checksum is recomputed over the bytes written, which differ without addresses.)
    let unchecked = |h: &Header<'_>| -> Vec<(u8, Vec<u8>)> {
        h.tlvs()
            .map(|(k, v)| {
                (
                    k,
                    if k == tlv::CRC32C {
                        Vec::new()
                    } else {
                        v.to_vec()
                    },
                )
            })
            .collect()
    };
    assert_eq!(unchecked(&again), unchecked(header), "TLVs of {header:?}");
    if header.addresses.is_some() {
        assert_eq!(again.addresses, header.addresses);
        assert_eq!(again.transport, header.transport);
        if header.version == Version::V2 {
            assert_eq!(out, original, "v2 header rewritten differently");
        }
    } else {
        assert_eq!(
            (again.addresses, again.transport),
            (None, Transport::Unspec)
        );
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else {
        return;
    };
    let whole = parse(data);
    match &whole {
        Ok(Parse::Complete { header, len }) => {
            let len = *len;
            assert!(len <= data.len(), "{len} of {}", data.len());
            match header.version {
                Version::V1 => {
                    assert!(len <= V1_MAX_LEN && data[..len].ends_with(b"\r\n"));
                    assert!(data[..len - 2].iter().all(|&b| b != b'\r' && b != b'\n'));
                }
                Version::V2 => {
                    assert!(data.starts_with(&V2_SIGNATURE));
                    assert_eq!(
                        len,
                        16 + usize::from(u16::from_be_bytes([data[14], data[15]]))
                    );
                }
            }
            rewrite(header, &data[..len]);
        }
        Ok(Parse::Incomplete { needed }) => assert!(*needed > data.len()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }

    // The same bytes arriving in reads.
    let final_len = complete(whole).map(|(_, len)| len);
    let mut plan = Splits::new(seed);
    let mut have = 0;
    loop {
        have = (have + plan.next_len()).min(data.len());
        match parse(&data[..have]) {
            Ok(Parse::Incomplete { needed }) if have < data.len() => {
                assert!(needed > have, "needed {needed} with {have} bytes");
                if let Some(len) = final_len {
                    assert!(needed <= len, "needed {needed} for a header of {len}");
                }
            }
            answer => {
                assert_eq!(answer, whole, "after {have} of {} bytes", data.len());
                break;
            }
        }
    }

    // A capped parse.
    let limited = parse_limited(data, V2_RECOMMENDED_MAX_LEN);
    match limited {
        Err(ProxyError::V2TooLong { len, max }) if whole != limited => {
            assert!(data.starts_with(&V2_SIGNATURE[..]) && len > max);
            assert_eq!(max, V2_RECOMMENDED_MAX_LEN);
        }
        other => assert_eq!(other, whole, "capped"),
    }
});
