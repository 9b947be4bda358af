//! SHA-256 straight on the `sha2` compression function, for the short,
//! fixed-shape inputs MTProto hashes per message (the KDF's two 52-byte
//! inputs and msg_key's 32-byte prefix plus plaintext). Skipping the
//! `Digest` buffering saves a measurable part of a small message's cost.

use sha2::block_api::compress256;

/// SHA-256 initial state.
pub(crate) const IV: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// An incremental SHA-256 that is fed whole 64-byte blocks and finished with
/// the tail; the caller keeps the block boundaries.
pub(crate) struct Blocks {
    state: [u32; 8],
    len: u64,
}

impl Blocks {
    pub(crate) fn new() -> Self {
        Self { state: IV, len: 0 }
    }

    /// Continues from a state after `len` bytes (a multiple of 64).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn resume(state: [u32; 8], len: u64) -> Self {
        Self { state, len }
    }

    /// Compresses one full block.
    pub(crate) fn block(&mut self, block: &[u8; 64]) {
        compress256(&mut self.state, core::slice::from_ref(block));
        self.len += 64;
    }

    /// Compresses the whole 64-byte blocks at the start of `data` in one call
    /// (the SHA-NI backend then keeps its state in registers across blocks)
    /// and returns the bytes left over.
    pub(crate) fn blocks<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let (blocks, rest) = data.as_chunks::<64>();
        compress256(&mut self.state, blocks);
        self.len += 64 * blocks.len() as u64;
        rest
    }

    /// Pads `tail` (< 64 bytes) and returns the digest.
    pub(crate) fn finish(mut self, tail: &[u8]) -> [u8; 32] {
        let total_bits = (self.len + tail.len() as u64) * 8;
        let mut last = [0u8; 128];
        last[..tail.len()].copy_from_slice(tail);
        last[tail.len()] = 0x80;
        let end = if tail.len() + 9 <= 64 { 64 } else { 128 };
        last[end - 8..end].copy_from_slice(&total_bits.to_be_bytes());
        let mut b = [0u8; 64];
        b.copy_from_slice(&last[..64]);
        compress256(&mut self.state, core::slice::from_ref(&b));
        if end == 128 {
            b.copy_from_slice(&last[64..]);
            compress256(&mut self.state, core::slice::from_ref(&b));
        }
        let mut out = [0u8; 32];
        for (i, w) in self.state.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

/// SHA-256 of `a ‖ b` when the two together are shorter than 56 bytes (one block).
pub(crate) fn short(a: &[u8], b: &[u8]) -> [u8; 32] {
    let mut tail = [0u8; 55];
    tail[..a.len()].copy_from_slice(a);
    tail[a.len()..a.len() + b.len()].copy_from_slice(b);
    Blocks::new().finish(&tail[..a.len() + b.len()])
}

/// SHA-256 of `prefix (32 bytes) ‖ data`.
pub(crate) fn prefixed(prefix: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut h = Blocks::new();
    if data.len() < 32 {
        let mut tail = [0u8; 64];
        tail[..32].copy_from_slice(prefix);
        tail[32..32 + data.len()].copy_from_slice(data);
        return h.finish(&tail[..32 + data.len()]);
    }
    let mut first = [0u8; 64];
    first[..32].copy_from_slice(prefix);
    first[32..].copy_from_slice(&data[..32]);
    h.block(&first);
    let rest = h.blocks(&data[32..]);
    h.finish(rest)
}

fn digest_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, w) in state.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// SHA-256 of two `prefix ‖ data` inputs at once: with the SHA extensions the
/// two compressions run interleaved (each alone is latency bound).
pub(crate) fn prefixed_pair(a: (&[u8; 32], &[u8]), b: (&[u8; 32], &[u8])) -> ([u8; 32], [u8; 32]) {
    #[cfg(target_arch = "x86_64")]
    if let Some((ha, hb)) = crate::arch::sha_ni::pair(&IV, a, b) {
        return (digest_bytes(&ha), digest_bytes(&hb));
    }
    (prefixed(a.0, a.1), prefixed(b.0, b.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn reference(prefix: &[u8; 32], data: &[u8]) -> [u8; 32] {
        Sha256::new().chain_update(prefix).chain_update(data).finalize().into()
    }

    #[test]
    fn prefixed_and_pairs_match_sha2_at_every_length() {
        let prefix: [u8; 32] = core::array::from_fn(|i| i as u8 * 3);
        let other: [u8; 32] = core::array::from_fn(|i| 255 - i as u8);
        let data: Vec<u8> = (0..700u32).map(|i| (i * 7 + 1) as u8).collect();
        for la in 0..300 {
            let lb = (la * 7 + 13) % 600;
            let (x, y) = prefixed_pair((&prefix, &data[..la]), (&other, &data[..lb]));
            assert_eq!(x, reference(&prefix, &data[..la]), "a {la}");
            assert_eq!(y, reference(&other, &data[..lb]), "b {lb}");
            assert_eq!(prefixed(&prefix, &data[..la]), reference(&prefix, &data[..la]));
        }
        assert_eq!(short(b"abc", b"def"), <[u8; 32]>::from(Sha256::digest(b"abcdef")));
    }
}
