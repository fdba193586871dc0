//! The type-length-value records after a v2 header's address block: the registered types,
//! the check that they tile the rest of the header exactly, and an iterator over them.
//!
//! Each record is a type byte, a 2-byte big-endian length and that many value bytes. Types
//! this module knows are checked for what the spec says of them (CRC32C: 4 bytes, verified;
//! unique id: at most 128 bytes; authority: UTF-8); the others are passed through unread.

use super::crc32c;
use super::error::ProxyError;

/// `PP2_TYPE_ALPN`: the negotiated application protocol.
pub const ALPN: u8 = 0x01;
/// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI), UTF-8.
pub const AUTHORITY: u8 = 0x02;
/// `PP2_TYPE_CRC32C`: a CRC32C of the whole header (with this value zeroed), big-endian.
pub const CRC32C: u8 = 0x03;
/// `PP2_TYPE_NOOP`: padding, ignored.
pub const NOOP: u8 = 0x04;
/// `PP2_TYPE_UNIQUE_ID`: the upstream proxy's opaque id of the connection, ≤ 128 bytes.
pub const UNIQUE_ID: u8 = 0x05;
/// `PP2_TYPE_SSL`: TLS details of the client connection (with sub-TLVs of its own).
pub const SSL: u8 = 0x20;
/// `PP2_TYPE_NETNS`: the network namespace's name.
pub const NETNS: u8 = 0x30;

/// The longest unique id the spec allows.
pub const UNIQUE_ID_MAX: usize = 128;

/// The TLVs of a header, as `(type, value)` ([`Header::tlvs`](super::Header::tlvs)). Made
/// from bytes the parser checked; on any other bytes it would stop at the first record that
/// does not fit.
#[derive(Debug, Clone)]
pub struct Tlvs<'a> {
    rest: &'a [u8],
}

impl<'a> Tlvs<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Tlvs { rest: bytes }
    }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, len, rest) = match self.rest {
            [kind, hi, lo, rest @ ..] => (kind, usize::from(u16::from_be_bytes([*hi, *lo])), rest),
            _ => return None,
        };
        let Some((value, rest)) = rest.split_at_checked(len) else {
            self.rest = &[];
            return None;
        };
        self.rest = rest;
        Some((kind, value))
    }
}

/// Checks the TLVs of a v2 header: `header` is the whole header, its TLVs start at `start`.
pub(crate) fn check(header: &[u8], start: usize) -> Result<(), ProxyError> {
    let mut at = start;
    let mut crc = None;
    while at < header.len() {
        let (kind, value) = match header.get(at..at + 3) {
            Some(&[kind, hi, lo]) => {
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                match header.get(at + 3..at + 3 + len) {
                    Some(value) => (kind, value),
                    None => return Err(ProxyError::V2TlvOverrun(at)),
                }
            }
            _ => return Err(ProxyError::V2TlvOverrun(at)),
        };
        match kind {
            CRC32C => {
                let &[a, b, c, d] = value else {
                    return Err(length(kind, value, "4"));
                };
                if crc.is_some() {
                    return Err(ProxyError::V2CrcTwice);
                }
                crc = Some((at + 3, u32::from_be_bytes([a, b, c, d])));
            }
            UNIQUE_ID if value.len() > UNIQUE_ID_MAX => {
                return Err(length(kind, value, "at most 128"));
            }
            AUTHORITY if std::str::from_utf8(value).is_err() => {
                return Err(ProxyError::V2Authority);
            }
            _ => {}
        }
        at += 3 + value.len();
    }
    if let Some((field, sent)) = crc {
        let computed = crc32c::header_checksum(header, field);
        if computed != sent {
            return Err(ProxyError::V2Crc { sent, computed });
        }
    }
    Ok(())
}

fn length(kind: u8, value: &[u8], must: &'static str) -> ProxyError {
    ProxyError::V2TlvLength {
        kind,
        len: value.len(),
        must,
    }
}
