//! A small, fast hasher for keys that are already well spread (addresses, hashes): the table
//! lookups on the request path cost a multiply, not SipHash.

use std::hash::{BuildHasher, Hasher};

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Folds written integers with a multiply and a rotate (the FxHash recipe, with a final mix
/// so the high bits, which `HashMap` uses as tags, depend on every input bit).
#[derive(Default, Clone, Copy)]
pub(crate) struct Fold(u64);

impl Hasher for Fold {
    fn finish(&self) -> u64 {
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(K) ^ (h >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }

    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
}

#[derive(Default, Clone, Copy)]
pub(crate) struct BuildFold;

impl BuildHasher for BuildFold {
    type Hasher = Fold;
    fn build_hasher(&self) -> Fold {
        Fold::default()
    }
}
