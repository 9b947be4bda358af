//! AES-256-IGE with the whole chain in one function compiled for AES-NI.
//!
//! The only `unsafe` of the crate lives here: calling a
//! `#[target_feature(enable = "aes")]` function is unsafe because the CPU must
//! support the feature. Callers pick this backend with [`available`], and
//! every safe wrapper below checks again itself, in release builds too (a
//! cached flag, one load), falling back to the portable code on a CPU
//! without the extensions, so the instructions never run there. The loops
//! themselves use no raw pointers: blocks are moved in and out of registers
//! with the safe `_mm_set_epi64x` / `_mm_cvtsi128_si64` intrinsics.

use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_aesdec_si128, _mm_aesdeclast_si128, _mm_aesenc_si128, _mm_aesenclast_si128,
    _mm_aesimc_si128, _mm_aeskeygenassist_si128, _mm_cvtsi128_si64, _mm_set_epi64x, _mm_setzero_si128,
    _mm_shuffle_epi32, _mm_slli_si128, _mm_unpackhi_epi64, _mm_xor_si128,
};

cpufeatures::new!(cpuid_aes, "aes");

/// True when this CPU has AES-NI (and SSE2, always present on x86-64).
pub(crate) fn available() -> bool {
    cpuid_aes::get()
}

/// Loads 16 bytes into a register (shared with the SHA-NI module).
#[inline]
#[target_feature(enable = "sse2")]
pub(crate) fn load_bytes(b: &[u8]) -> __m128i {
    load(b)
}

/// Stores a register into 16 bytes (shared with the SHA-NI module).
#[inline]
#[target_feature(enable = "sse2")]
pub(crate) fn store_bytes(x: __m128i, out: &mut [u8]) {
    store(x, out)
}

#[inline]
#[target_feature(enable = "sse2")]
fn load(b: &[u8]) -> __m128i {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    hi.copy_from_slice(&b[8..16]);
    _mm_set_epi64x(i64::from_le_bytes(hi), i64::from_le_bytes(lo))
}

#[inline]
#[target_feature(enable = "sse2")]
fn store(x: __m128i, out: &mut [u8]) {
    let lo = _mm_cvtsi128_si64(x);
    let hi = _mm_cvtsi128_si64(_mm_unpackhi_epi64(x, x));
    out[..8].copy_from_slice(&lo.to_le_bytes());
    out[8..16].copy_from_slice(&hi.to_le_bytes());
}

#[inline]
#[target_feature(enable = "sse2")]
fn xor_shifted(k: __m128i) -> __m128i {
    // k ^ (k << 32) ^ (k << 64) ^ (k << 96): the key schedule's running XOR of words.
    let s1 = _mm_slli_si128::<4>(k);
    let s2 = _mm_slli_si128::<4>(s1);
    let s3 = _mm_slli_si128::<4>(s2);
    _mm_xor_si128(_mm_xor_si128(k, s1), _mm_xor_si128(s2, s3))
}

macro_rules! expand_round {
    ($keys:ident, $i:expr, $rcon:expr) => {{
        let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>($keys[$i]));
        $keys[$i + 1] = _mm_xor_si128(xor_shifted($keys[$i - 1]), t);
        if $i + 2 < 15 {
            let u = _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>($keys[$i + 1]));
            $keys[$i + 2] = _mm_xor_si128(xor_shifted($keys[$i]), u);
        }
    }};
}

#[target_feature(enable = "aes,sse2")]
fn expand_encrypt_keys(key: &[u8; 32]) -> [__m128i; 15] {
    let mut k = [_mm_setzero_si128(); 15];
    k[0] = load(&key[..16]);
    k[1] = load(&key[16..]);
    expand_round!(k, 1, 0x01);
    expand_round!(k, 3, 0x02);
    expand_round!(k, 5, 0x04);
    expand_round!(k, 7, 0x08);
    expand_round!(k, 9, 0x10);
    expand_round!(k, 11, 0x20);
    expand_round!(k, 13, 0x40);
    k
}

#[target_feature(enable = "aes,sse2")]
fn expand_decrypt_keys(key: &[u8; 32]) -> [__m128i; 15] {
    let e = expand_encrypt_keys(key);
    let mut d = [_mm_setzero_si128(); 15];
    d[0] = e[14];
    for i in 1..14 {
        d[i] = _mm_aesimc_si128(e[14 - i]);
    }
    d[14] = e[0];
    d
}

/// One IGE chain with no XOR on its critical path: the value carried from
/// block to block is the next block's AES input (output ⊕ next input ⊕ the
/// first round key), produced directly by the last AES round, whose round key
/// is pre-folded with the previous input, the next input and the first round
/// key. Those operands are known ahead, so their XORs run beside the chain and
/// the chain itself is 14 AES instructions per block. The output block is
/// recovered off the chain. `DECRYPT` selects the direction.
#[derive(Clone, Copy)]
struct Chain<const DECRYPT: bool> {
    k: [__m128i; 15],
    /// Last round key ⊕ first round key.
    last_first: __m128i,
    /// The current block's AES input, first round key included.
    v: __m128i,
    /// The previous block's input (IGE's second chaining value).
    prev_in: __m128i,
}

impl<const DECRYPT: bool> Chain<DECRYPT> {
    /// A chain keyed with `key` and IGE's two IVs (`iv[..16]` the previous
    /// ciphertext block, `iv[16..]` the previous plaintext block), whose first
    /// input block is `first`.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn start(key: &[u8; 32], iv: &[u8; 32], first: __m128i) -> Self {
        let k = if DECRYPT { expand_decrypt_keys(key) } else { expand_encrypt_keys(key) };
        // Encrypt: AES input p0 ⊕ c_-1, second value p_-1; decrypt: c0 ⊕ p_-1, c_-1.
        let (into_first, prev_in) =
            if DECRYPT { (load(&iv[16..]), load(&iv[..16])) } else { (load(&iv[..16]), load(&iv[16..])) };
        Self {
            k,
            last_first: _mm_xor_si128(k[14], k[0]),
            v: _mm_xor_si128(_mm_xor_si128(first, into_first), k[0]),
            prev_in,
        }
    }

    /// Rounds `from..to` (1 ≤ from ≤ to ≤ 14, the last round excluded) applied to `x`.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn apply(&self, mut x: __m128i, from: usize, to: usize) -> __m128i {
        for key in &self.k[from..to] {
            x = if DECRYPT { _mm_aesdec_si128(x, *key) } else { _mm_aesenc_si128(x, *key) };
        }
        x
    }

    /// All rounds but the last on the current block.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn rounds(&self) -> __m128i {
        self.apply(self.v, 1, 14)
    }

    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn last_round(x: __m128i, key: __m128i) -> __m128i {
        if DECRYPT { _mm_aesdeclast_si128(x, key) } else { _mm_aesenclast_si128(x, key) }
    }

    /// Processes the current block, whose input was `input`, given the next
    /// input block; returns the current block's output.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn step(&mut self, input: __m128i, next: __m128i) -> __m128i {
        let x = self.rounds();
        self.complete(x, input, next)
    }

    /// [`Chain::step`] after the caller applied rounds 1..14 to `self.v` itself.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn complete(&mut self, x: __m128i, input: __m128i, next: __m128i) -> __m128i {
        let key = _mm_xor_si128(self.last_first, _mm_xor_si128(self.prev_in, next));
        self.v = Self::last_round(x, key);
        self.prev_in = input;
        _mm_xor_si128(self.v, _mm_xor_si128(next, self.k[0]))
    }

    /// Block `i` of `buf`, in place; `input` holds its input block and
    /// moves on to the next one: a step when a next block follows, else the
    /// final block.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn block_in_place(&mut self, buf: &mut [u8], i: usize, input: &mut __m128i) {
        let at = 16 * i;
        let out = if at + 32 <= buf.len() {
            let next = load(&buf[at + 16..at + 32]);
            let out = self.step(*input, next);
            *input = next;
            out
        } else {
            self.finish()
        };
        store(out, &mut buf[at..at + 16]);
    }

    /// Processes the final block (no next input); returns its output.
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn finish(&self) -> __m128i {
        Self::last_round(self.rounds(), _mm_xor_si128(self.k[14], self.prev_in))
    }
}

/// IGE over whole blocks in place with one [`Chain`].
#[target_feature(enable = "aes,sse2")]
fn single_inner<const DECRYPT: bool>(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    let blocks = buf.len() / 16;
    if blocks == 0 {
        return;
    }
    let mut input = load(&buf[..16]);
    let mut chain = Chain::<DECRYPT>::start(key, iv, input);
    for i in 0..blocks - 1 {
        let next = load(&buf[16 * (i + 1)..16 * (i + 2)]);
        let out = chain.step(input, next);
        store(out, &mut buf[16 * i..16 * (i + 1)]);
        input = next;
    }
    store(chain.finish(), &mut buf[16 * (blocks - 1)..16 * blocks]);
}

/// IGE decryption fused with SHA-256(prefix ‖ plaintext): every 64 bytes of
/// plaintext are compressed as soon as the chain has produced them, so the
/// SHA rounds run while the AES chain waits on its own latency.
#[target_feature(enable = "aes,sse2")]
fn decrypt_sha256_inner(key: &[u8; 32], iv: &[u8; 32], prefix: &[u8; 32], buf: &mut [u8]) -> [u8; 32] {
    let mut sha = crate::sha::Blocks::new();
    let blocks = buf.len() / 16;
    // The 32-byte prefix shifts SHA blocks by two AES blocks: the first SHA
    // block is prefix ‖ plaintext[0..32], then plaintext[32 + 64m ..].
    let mut hashed = 0usize; // plaintext bytes already compressed
    if blocks > 0 {
        let mut input = load(&buf[..16]);
        let mut chain = Chain::<true>::start(key, iv, input);
        for i in 0..blocks {
            chain.block_in_place(buf, i, &mut input);
            let done = i * 16 + 16;
            if hashed == 0 && done == 32 {
                let mut first = [0u8; 64];
                first[..32].copy_from_slice(prefix);
                first[32..].copy_from_slice(&buf[..32]);
                sha.block(&first);
                hashed = 32;
            } else if hashed >= 32 && done == hashed + 64 {
                sha.blocks(&buf[hashed..done]);
                hashed = done;
            }
        }
    }
    if hashed == 0 {
        // Fewer than two blocks: prefix and plaintext fit the final block.
        let mut tail = [0u8; 64];
        tail[..32].copy_from_slice(prefix);
        tail[32..32 + buf.len()].copy_from_slice(buf);
        return sha.finish(&tail[..32 + buf.len()]);
    }
    sha.finish(&buf[hashed..])
}

/// Fewest blocks the interleaved fused decrypt takes (two groups of four
/// after the first, plus one); shorter input takes [`decrypt_sha256_inner`].
const INTERLEAVED_MIN_BLOCKS: usize = 12;

/// One message of the interleaved fused decrypt: while the chain decrypts a
/// group of four blocks (64 bytes), the SHA-256 block that ended before them
/// is compressed, one SHA round pair after every one or two AES rounds. In
/// program order the chains alternate, so neither fills the out-of-order
/// scheduler with instructions waiting on its own latency (with a whole
/// compression between groups of AES blocks, the waiting AES rounds crowd
/// the SHA rounds out and little overlaps).
///
/// SHA block 0 is prefix ‖ plaintext[0..32], block m ≥ 1 is
/// plaintext[64m-32..64m+32]; group g ≥ 1 hashes SHA block g-1, which is
/// complete once group g-1 is done.
struct FusedLane {
    chain: Chain<true>,
    /// The current block's ciphertext.
    input: __m128i,
    sha: crate::arch::sha_ni::State,
    /// SHA block 0.
    first: [u8; 64],
    blocks: usize,
}

/// AES rounds before the `half`-th SHA round pair of an AES block (eight
/// pairs spread over rounds 1..14).
const fn split(half: usize) -> usize {
    1 + (13 * half) / 8
}

impl FusedLane {
    /// Keys the chain and decrypts group 0 (at least `INTERLEAVED_MIN_BLOCKS` blocks in `buf`).
    #[inline]
    #[target_feature(enable = "aes,sha,sse2,ssse3,sse4.1")]
    fn begin(key: &[u8; 32], iv: &[u8; 32], prefix: &[u8; 32], buf: &mut [u8]) -> Self {
        let mut input = load(&buf[..16]);
        let mut chain = Chain::<true>::start(key, iv, input);
        for i in 0..4 {
            let next = load(&buf[16 * (i + 1)..16 * (i + 2)]);
            let out = chain.step(input, next);
            store(out, &mut buf[16 * i..16 * (i + 1)]);
            input = next;
        }
        let mut first = [0u8; 64];
        first[..32].copy_from_slice(prefix);
        first[32..].copy_from_slice(&buf[..32]);
        let sha = crate::arch::sha_ni::to_registers(&crate::sha::IV);
        Self { chain, input, sha, first, blocks: buf.len() / 16 }
    }

    /// Groups of four blocks that all have a next block (the loop's range is 1..groups).
    fn groups(&self) -> usize {
        (self.blocks - 1) / 4
    }

    /// The message words of SHA block g-1, hashed during group g.
    #[inline]
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn message(&self, buf: &[u8], g: usize) -> [__m128i; 4] {
        if g == 1 {
            crate::arch::sha_ni::message(&self.first)
        } else {
            crate::arch::sha_ni::message(&buf[64 * g - 96..64 * g - 32])
        }
    }

    /// Group g ≥ 1 of this lane alone.
    #[inline]
    #[target_feature(enable = "aes,sha,sse2,ssse3,sse4.1")]
    fn group(&mut self, buf: &mut [u8], g: usize) {
        use crate::arch::sha_ni::{group_first_half, group_second_half};
        let mut w = self.message(buf, g);
        let save = self.sha;
        for b in 0..4 {
            let i = 4 * g + b;
            let next = load(&buf[16 * (i + 1)..16 * (i + 2)]);
            let mut x = self.chain.v;
            for r in 0..4 {
                x = self.chain.apply(x, split(2 * r), split(2 * r + 1));
                let m = group_first_half(&mut self.sha, &mut w, 4 * b + r);
                x = self.chain.apply(x, split(2 * r + 1), split(2 * r + 2));
                group_second_half(&mut self.sha, &mut w, 4 * b + r, m);
            }
            let out = self.chain.complete(x, self.input, next);
            store(out, &mut buf[16 * i..16 * (i + 1)]);
            self.input = next;
        }
        self.sha.abef = _mm_add_epi32(self.sha.abef, save.abef);
        self.sha.cdgh = _mm_add_epi32(self.sha.cdgh, save.cdgh);
    }

    /// The blocks after the last whole group, then the rest of the hash.
    #[inline]
    #[target_feature(enable = "aes,sha,sse2,ssse3,sse4.1")]
    fn end(mut self, buf: &mut [u8]) -> [u8; 32] {
        let groups = self.groups();
        for i in 4 * groups..self.blocks {
            self.chain.block_in_place(buf, i, &mut self.input);
        }
        let state = crate::arch::sha_ni::from_registers(self.sha);
        let mut rest = crate::sha::Blocks::resume(state, 64 * (groups as u64 - 1));
        let tail = rest.blocks(&buf[64 * groups - 96..]);
        rest.finish(tail)
    }
}

#[target_feature(enable = "aes,sha,sse2,ssse3,sse4.1")]
fn decrypt_sha256_interleaved(key: &[u8; 32], iv: &[u8; 32], prefix: &[u8; 32], buf: &mut [u8]) -> [u8; 32] {
    let mut lane = FusedLane::begin(key, iv, prefix, buf);
    for g in 1..lane.groups() {
        lane.group(buf, g);
    }
    lane.end(buf)
}

/// Whether the interleaved fused decrypt runs here (AES-NI and the SHA extensions).
pub(crate) fn interleaved_available() -> bool {
    available() && crate::arch::sha_ni::available()
}

/// Decrypts whole blocks in place and returns SHA-256(prefix ‖ plaintext).
/// The caller has checked the length (a multiple of 16, at most 2^32 bytes
/// and below 96 bytes only with fewer than 2 blocks handled by the tail path).
pub(crate) fn decrypt_with_sha256(key: &[u8; 32], iv: &[u8; 32], prefix: &[u8; 32], buf: &mut [u8]) -> [u8; 32] {
    decrypt_with_sha256_on(true, key, iv, prefix, buf)
}

/// [`decrypt_with_sha256`], with the extensions used only when `allow` is
/// set and the CPU has them (tests pass `false` to reach the fallback).
fn decrypt_with_sha256_on(allow: bool, key: &[u8; 32], iv: &[u8; 32], prefix: &[u8; 32], buf: &mut [u8]) -> [u8; 32] {
    if !(allow && available()) {
        crate::ige::decrypt_blocks_portable(key, iv, buf);
        return crate::sha::prefixed(prefix, buf);
    }
    if buf.len() >= 16 * INTERLEAVED_MIN_BLOCKS && crate::arch::sha_ni::available() {
        // SAFETY: `available()` just confirmed AES-NI, and
        // `sha_ni::available()` SHA, SSSE3 and SSE4.1.
        return unsafe { decrypt_sha256_interleaved(key, iv, prefix, buf) };
    }
    // SAFETY: `available()` just confirmed AES-NI.
    unsafe { decrypt_sha256_inner(key, iv, prefix, buf) }
}

/// Most buffers one interleaved pass handles.
pub(crate) const LANES: usize = 4;

/// IGE encryption (`DECRYPT = false`) or decryption of up to [`LANES`]
/// independent buffers, each with its own key and IV, in one loop: the AES
/// chains are independent, so the core runs them side by side instead of
/// waiting on one chain's latency.
#[target_feature(enable = "aes,sse2")]
fn multi_inner<const DECRYPT: bool>(keys: &[[u8; 32]], ivs: &[[u8; 32]], bufs: &mut [&mut [u8]]) {
    let n = bufs.len().min(LANES).min(keys.len()).min(ivs.len());
    let zero = _mm_setzero_si128();
    let mut chains = [None::<Chain<DECRYPT>>; LANES];
    let mut inputs = [zero; LANES];
    let mut blocks = [0usize; LANES];
    for l in 0..n {
        blocks[l] = bufs[l].len() / 16;
        if blocks[l] > 0 {
            inputs[l] = load(&bufs[l][..16]);
            chains[l] = Some(Chain::start(&keys[l], &ivs[l], inputs[l]));
        }
    }
    let longest = blocks.iter().copied().max().unwrap_or(0);
    for j in 0..longest {
        for l in 0..n {
            if let Some(chain) = chains[l].as_mut().filter(|_| j < blocks[l]) {
                chain.block_in_place(bufs[l], j, &mut inputs[l]);
            }
        }
    }
}

/// Decrypts up to [`LANES`] buffers in place, interleaved; lengths checked by the caller.
pub(crate) fn decrypt_multi(keys: &[[u8; 32]], ivs: &[[u8; 32]], bufs: &mut [&mut [u8]]) {
    multi_on::<true>(true, keys, ivs, bufs);
}

/// Encrypts up to [`LANES`] buffers in place, interleaved; lengths checked by the caller.
pub(crate) fn encrypt_multi(keys: &[[u8; 32]], ivs: &[[u8; 32]], bufs: &mut [&mut [u8]]) {
    multi_on::<false>(true, keys, ivs, bufs);
}

/// The multi-buffer pass when `allow` is set and the CPU has AES-NI, else
/// the same buffers one after another on the portable loop.
fn multi_on<const DECRYPT: bool>(allow: bool, keys: &[[u8; 32]], ivs: &[[u8; 32]], bufs: &mut [&mut [u8]]) {
    if allow && available() {
        // SAFETY: `available()` just confirmed AES-NI (SSE2 is baseline).
        return unsafe { multi_inner::<DECRYPT>(keys, ivs, bufs) };
    }
    let n = bufs.len().min(LANES).min(keys.len()).min(ivs.len());
    for l in 0..n {
        if DECRYPT {
            crate::ige::decrypt_blocks_portable(&keys[l], &ivs[l], bufs[l]);
        } else {
            crate::ige::encrypt_blocks_portable(&keys[l], &ivs[l], bufs[l]);
        }
    }
}

/// Encrypts whole blocks in place; the caller has checked the length.
pub(crate) fn encrypt(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    single_on::<false>(true, key, iv, buf);
}

/// Decrypts whole blocks in place; the caller has checked the length.
pub(crate) fn decrypt(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    single_on::<true>(true, key, iv, buf);
}

/// One IGE chain on AES-NI when `allow` is set and the CPU has it, else on
/// the portable loop.
fn single_on<const DECRYPT: bool>(allow: bool, key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    if allow && available() {
        // SAFETY: `available()` just confirmed AES-NI (SSE2 is baseline).
        return unsafe { single_inner::<DECRYPT>(key, iv, buf) };
    }
    if DECRYPT {
        crate::ige::decrypt_blocks_portable(key, iv, buf);
    } else {
        crate::ige::encrypt_blocks_portable(key, iv, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize, salt: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 37 + salt) as u8).collect()
    }

    /// Every safe wrapper's fallback (what runs on a CPU without the
    /// extensions) and its normal path agree with the portable code.
    #[test]
    fn wrappers_fall_back_to_the_portable_code() {
        let (key, iv, prefix) = ([9u8; 32], [4u8; 32], [2u8; 32]);
        for blocks in [0, 1, 2, 5, 12, 13, 40] {
            let data = sample(16 * blocks, blocks);
            let mut enc = data.clone();
            crate::ige::encrypt_portable(&key, &iv, &mut enc).unwrap();
            let mut dec = data.clone();
            crate::ige::decrypt_portable(&key, &iv, &mut dec).unwrap();
            let digest = crate::sha::prefixed(&prefix, &dec);
            for allow in [false, true] {
                let mut a = data.clone();
                single_on::<false>(allow, &key, &iv, &mut a);
                assert_eq!(a, enc, "encrypt, allow {allow}, {blocks} blocks");
                let mut b = data.clone();
                single_on::<true>(allow, &key, &iv, &mut b);
                assert_eq!(b, dec, "decrypt, allow {allow}, {blocks} blocks");
                let mut c = data.clone();
                assert_eq!(decrypt_with_sha256_on(allow, &key, &iv, &prefix, &mut c), digest);
                assert_eq!(c, dec, "fused, allow {allow}, {blocks} blocks");
            }
        }
        let keys: Vec<[u8; 32]> = (0..LANES as u8).map(|l| [l + 1; 32]).collect();
        let ivs: Vec<[u8; 32]> = (0..LANES as u8).map(|l| [l + 100; 32]).collect();
        let data: Vec<Vec<u8>> = (0..LANES).map(|l| sample(16 * (3 * l + 1), l)).collect();
        for decrypt in [false, true] {
            let expected: Vec<Vec<u8>> = (0..LANES)
                .map(|l| {
                    let mut d = data[l].clone();
                    if decrypt {
                        crate::ige::decrypt_portable(&keys[l], &ivs[l], &mut d).unwrap();
                    } else {
                        crate::ige::encrypt_portable(&keys[l], &ivs[l], &mut d).unwrap();
                    }
                    d
                })
                .collect();
            for allow in [false, true] {
                let mut bufs = data.clone();
                let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
                if decrypt {
                    multi_on::<true>(allow, &keys, &ivs, &mut refs);
                } else {
                    multi_on::<false>(allow, &keys, &ivs, &mut refs);
                }
                assert_eq!(bufs, expected, "multi, decrypt {decrypt}, allow {allow}");
            }
        }
    }

    /// Both fused loops (SHA between block groups, SHA rounds between AES
    /// rounds) agree with IGE decryption followed by SHA-256, at lengths
    /// around every threshold of the interleaved loop.
    #[test]
    fn fused_loops_match_two_passes() {
        if !available() {
            return;
        }
        let (key, iv, prefix) = ([3u8; 32], [5u8; 32], [7u8; 32]);
        for blocks in (1..40).chain([63, 64, 65, 1023, 1024, 1025]) {
            let data: Vec<u8> = (0..16 * blocks).map(|i| (i * 31 + blocks) as u8).collect();
            let mut expected = data.clone();
            crate::ige::decrypt_portable(&key, &iv, &mut expected).unwrap();
            let digest = crate::sha::prefixed(&prefix, &expected);
            let mut a = data.clone();
            // SAFETY: AES-NI checked above.
            assert_eq!(unsafe { decrypt_sha256_inner(&key, &iv, &prefix, &mut a) }, digest, "{blocks} blocks");
            assert_eq!(a, expected);
            if blocks >= INTERLEAVED_MIN_BLOCKS && crate::arch::sha_ni::available() {
                let mut b = data.clone();
                // SAFETY: AES-NI and the SHA extensions checked above.
                let got = unsafe { decrypt_sha256_interleaved(&key, &iv, &prefix, &mut b) };
                assert_eq!(got, digest, "{blocks} blocks");
                assert_eq!(b, expected);
            }
        }
    }
}
