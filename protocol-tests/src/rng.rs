//! splitmix64: a tiny fixed-seed generator, so that every run of a test makes the
//! same keys and messages (and a failure can be replayed).

use bytes::Bytes;

/// The splitmix64 generator; the `u64` is its state (start it from a fixed seed).
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Random bytes, `0..=max_len` of them (the length drawn first).
    pub fn bytes(&mut self, max_len: u64) -> Bytes {
        let len = self.next_u64() % (max_len + 1);
        Bytes::from((0..len).map(|_| self.next_u64() as u8).collect::<Vec<u8>>())
    }
}
