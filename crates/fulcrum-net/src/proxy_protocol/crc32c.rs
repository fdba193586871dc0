//! CRC32C (Castagnoli), as RFC 4960 appendix B defines it and `PP2_TYPE_CRC32C` uses it:
//! reflected polynomial 0x82F63B78, initial value and final XOR all ones. Byte at a time
//! through a 1 KiB table built at compile time; a header is a few dozen bytes.

const POLY: u32 = 0x82f6_3b78;

const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// A running checksum: feed the bytes in order, then [`Crc32c::finish`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Crc32c(u32);

impl Crc32c {
    pub(crate) fn new() -> Self {
        Crc32c(!0)
    }

    pub(crate) fn update(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            let i = usize::from((self.0 as u8) ^ b);
            self.0 = (self.0 >> 8) ^ TABLE.get(i).copied().unwrap_or(0);
        }
        self
    }

    pub(crate) fn finish(self) -> u32 {
        !self.0
    }
}

/// The checksum of `bytes`.
pub(crate) fn checksum(bytes: &[u8]) -> u32 {
    Crc32c::new().update(bytes).finish()
}

/// The checksum of a v2 header whose CRC32C value sits at `at..at + 4`, computed as if those
/// four bytes were zero (as the spec asks), without copying the header.
pub(crate) fn header_checksum(header: &[u8], at: usize) -> u32 {
    let (before, after) = (
        header.get(..at).unwrap_or_default(),
        header.get(at + 4..).unwrap_or_default(),
    );
    Crc32c::new()
        .update(before)
        .update(&[0; 4])
        .update(after)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3720 appendix B.4 and the usual check value.
    #[test]
    fn known_values() {
        assert_eq!(checksum(b"123456789"), 0xe306_9283);
        assert_eq!(checksum(&[0; 32]), 0x8a91_36aa);
        assert_eq!(checksum(&[0xff; 32]), 0x62a8_ab43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(checksum(&ascending), 0x46dd_794e);
        assert_eq!(checksum(b""), 0);
    }

    #[test]
    fn zeroed_field_is_the_same_as_zeros() {
        let mut h = *b"0123456789abcdef";
        let with_field = header_checksum(&h, 6);
        h[6..10].fill(0);
        assert_eq!(with_field, checksum(&h));
    }
}
