//! The engine's random numbers: ChaCha20 keyed by a seed the driver takes from the kernel.
//!
//! Nonces must be unpredictable to a neighbour (a predicted nonce lets it pre-poison the
//! receivers' duplicate caches), so a plain counter-based PRNG will not do; yet the engine
//! must be deterministic for a given seed. A stream cipher keyed by the seed is both.

#[derive(Clone, Debug)]
pub struct Rng {
    key: [u32; 8],
    counter: u64,
    block: [u32; 16],
    used: usize,
}

const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// One ChaCha20 block (RFC 8439 §2.3) with a 64-bit counter and a zero nonce.
fn chacha20_block(key: &[u32; 8], counter: u64) -> [u32; 16] {
    let mut input = [0u32; 16];
    input[..4].copy_from_slice(&CONSTANTS);
    input[4..12].copy_from_slice(key);
    input[12] = counter as u32;
    input[13] = (counter >> 32) as u32;
    let mut s = input;
    for _ in 0..10 {
        quarter_round(&mut s, 0, 4, 8, 12);
        quarter_round(&mut s, 1, 5, 9, 13);
        quarter_round(&mut s, 2, 6, 10, 14);
        quarter_round(&mut s, 3, 7, 11, 15);
        quarter_round(&mut s, 0, 5, 10, 15);
        quarter_round(&mut s, 1, 6, 11, 12);
        quarter_round(&mut s, 2, 7, 8, 13);
        quarter_round(&mut s, 3, 4, 9, 14);
    }
    for (word, original) in s.iter_mut().zip(input) {
        *word = word.wrapping_add(original);
    }
    s
}

impl Rng {
    /// A generator keyed by 32 seed bytes (the driver reads them from the kernel).
    pub fn from_seed(seed: [u8; 32]) -> Rng {
        let mut key = [0u32; 8];
        for (word, chunk) in key.iter_mut().zip(seed.chunks_exact(4)) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Rng {
            key,
            counter: 0,
            block: [0; 16],
            used: 16,
        }
    }

    /// A generator for tests and simulations: the seed spread over the key.
    pub fn from_u64(seed: u64) -> Rng {
        let mut bytes = [0u8; 32];
        for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(
                &(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes(),
            );
        }
        Rng::from_seed(bytes)
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.used == self.block.len() {
            self.block = chacha20_block(&self.key, self.counter);
            self.counter = self.counter.wrapping_add(1);
            self.used = 0;
        }
        let word = self.block[self.used];
        self.used += 1;
        word
    }

    pub fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }

    /// A uniformly distributed value in `0..bound` (`bound` > 0), without modulo bias.
    pub fn below(&mut self, bound: u32) -> u32 {
        let bound = bound.max(1);
        let zone = u32::MAX - u32::MAX % bound;
        loop {
            let value = self.next_u32();
            if value < zone {
                return value % bound;
            }
        }
    }

    pub fn nonce(&mut self) -> [u8; 4] {
        self.next_u32().to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_8439_block_function() {
        // RFC 8439 appendix A.1, test vector #1: all-zero key, nonce and counter, for
        // which the 64-bit-counter layout used here is identical to the RFC's.
        let block = chacha20_block(&[0; 8], 0);
        assert_eq!(block[0], u32::from_le_bytes([0x76, 0xb8, 0xe0, 0xad]));
        assert_eq!(block[12], u32::from_le_bytes([0x6a, 0x43, 0xb8, 0xf4]));
        assert_eq!(block[15], u32::from_le_bytes([0xb2, 0xee, 0x65, 0x86]));
    }

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let mut a = Rng::from_u64(7);
        let mut b = Rng::from_u64(7);
        let mut c = Rng::from_u64(8);
        let xs: Vec<u32> = (0..40).map(|_| a.next_u32()).collect();
        let ys: Vec<u32> = (0..40).map(|_| b.next_u32()).collect();
        let zs: Vec<u32> = (0..40).map(|_| c.next_u32()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn below_stays_below() {
        let mut rng = Rng::from_u64(1);
        for bound in [1, 2, 3, 1000] {
            assert!((0..200).all(|_| rng.below(bound) < bound));
        }
    }
}
