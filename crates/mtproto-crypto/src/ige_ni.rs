//! AES-256-IGE with the whole chain in one function compiled for AES-NI.
//!
//! The only `unsafe` of the crate lives here: calling a
//! `#[target_feature(enable = "aes")]` function is unsafe because the CPU must
//! support the feature. Every call site checks [`available`] first. The loops
//! themselves use no raw pointers: blocks are moved in and out of registers
//! with the safe `_mm_set_epi64x` / `_mm_cvtsi128_si64` intrinsics.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, _mm_aesdec_si128, _mm_aesdeclast_si128, _mm_aesenc_si128, _mm_aesenclast_si128, _mm_aesimc_si128,
    _mm_aeskeygenassist_si128, _mm_cvtsi128_si64, _mm_set_epi64x, _mm_setzero_si128, _mm_shuffle_epi32, _mm_slli_si128,
    _mm_unpackhi_epi64, _mm_xor_si128,
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

/// AES-256 encryption of one block with the expanded keys.
#[inline]
#[target_feature(enable = "aes,sse2")]
fn encrypt_block(block: __m128i, k: &[__m128i; 15]) -> __m128i {
    let mut x = _mm_xor_si128(block, k[0]);
    for key in &k[1..14] {
        x = _mm_aesenc_si128(x, *key);
    }
    _mm_aesenclast_si128(x, k[14])
}

/// AES-256 decryption of one block with the inverse expanded keys.
#[inline]
#[target_feature(enable = "aes,sse2")]
fn decrypt_block(block: __m128i, k: &[__m128i; 15]) -> __m128i {
    let mut x = _mm_xor_si128(block, k[0]);
    for key in &k[1..14] {
        x = _mm_aesdec_si128(x, *key);
    }
    _mm_aesdeclast_si128(x, k[14])
}

#[target_feature(enable = "aes,sse2")]
fn encrypt_inner(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    let k = expand_encrypt_keys(key);
    let mut prev_c = load(&iv[..16]);
    let mut prev_p = load(&iv[16..]);
    for chunk in buf.chunks_exact_mut(16) {
        let p = load(chunk);
        let c = _mm_xor_si128(encrypt_block(_mm_xor_si128(p, prev_c), &k), prev_p);
        store(c, chunk);
        prev_c = c;
        prev_p = p;
    }
}

#[target_feature(enable = "aes,sse2")]
fn decrypt_inner(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    let k = expand_decrypt_keys(key);
    let mut prev_c = load(&iv[..16]);
    let mut prev_p = load(&iv[16..]);
    for chunk in buf.chunks_exact_mut(16) {
        let c = load(chunk);
        let p = _mm_xor_si128(decrypt_block(_mm_xor_si128(c, prev_p), &k), prev_c);
        store(p, chunk);
        prev_c = c;
        prev_p = p;
    }
}

/// IGE decryption fused with SHA-256(prefix ‖ plaintext): every 64 bytes of
/// plaintext are compressed as soon as the chain has produced them, so the
/// SHA rounds run while the AES chain waits on its own latency.
#[target_feature(enable = "aes,sse2")]
fn decrypt_sha256_inner(key: &[u8; 32], iv: &[u8; 32], prefix: &[u8; 32], buf: &mut [u8]) -> [u8; 32] {
    let k = expand_decrypt_keys(key);
    let mut prev_c = load(&iv[..16]);
    let mut prev_p = load(&iv[16..]);
    let mut sha = crate::sha::Blocks::new();
    let blocks = buf.len() / 16;
    // The 32-byte prefix shifts SHA blocks by two AES blocks: the first SHA
    // block is prefix ‖ plaintext[0..32], then plaintext[32 + 64m ..].
    let mut hashed = 0usize; // plaintext bytes already compressed
    for i in 0..blocks {
        let at = i * 16;
        let c = load(&buf[at..at + 16]);
        let p = _mm_xor_si128(decrypt_block(_mm_xor_si128(c, prev_p), &k), prev_c);
        store(p, &mut buf[at..at + 16]);
        prev_c = c;
        prev_p = p;
        let done = at + 16;
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
    if hashed == 0 {
        // Fewer than two blocks: prefix and plaintext fit the final block.
        let mut tail = [0u8; 64];
        tail[..32].copy_from_slice(prefix);
        tail[32..32 + buf.len()].copy_from_slice(buf);
        return sha.finish(&tail[..32 + buf.len()]);
    }
    sha.finish(&buf[hashed..])
}

/// Decrypts whole blocks in place and returns SHA-256(prefix ‖ plaintext).
/// The caller has checked the length (a multiple of 16, at most 2^32 bytes
/// and below 96 bytes only with fewer than 2 blocks handled by the tail path).
pub(crate) fn decrypt_with_sha256(key: &[u8; 32], iv: &[u8; 32], prefix: &[u8; 32], buf: &mut [u8]) -> [u8; 32] {
    debug_assert!(available());
    // SAFETY: every caller checks `available()` (AES-NI present) first.
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
    let mut k = [[zero; 15]; LANES];
    let mut prev_c = [zero; LANES];
    let mut prev_p = [zero; LANES];
    let mut blocks = [0usize; LANES];
    for l in 0..n {
        k[l] = if DECRYPT { expand_decrypt_keys(&keys[l]) } else { expand_encrypt_keys(&keys[l]) };
        prev_c[l] = load(&ivs[l][..16]);
        prev_p[l] = load(&ivs[l][16..]);
        blocks[l] = bufs[l].len() / 16;
    }
    let longest = blocks.iter().copied().max().unwrap_or(0);
    for j in 0..longest {
        let at = j * 16;
        for l in 0..n {
            if j < blocks[l] {
                let input = load(&bufs[l][at..at + 16]);
                let (c, p) = if DECRYPT {
                    (input, _mm_xor_si128(decrypt_block(_mm_xor_si128(input, prev_p[l]), &k[l]), prev_c[l]))
                } else {
                    (_mm_xor_si128(encrypt_block(_mm_xor_si128(input, prev_c[l]), &k[l]), prev_p[l]), input)
                };
                store(if DECRYPT { p } else { c }, &mut bufs[l][at..at + 16]);
                prev_c[l] = c;
                prev_p[l] = p;
            }
        }
    }
}

/// Decrypts up to [`LANES`] buffers in place, interleaved; lengths checked by the caller.
pub(crate) fn decrypt_multi(keys: &[[u8; 32]], ivs: &[[u8; 32]], bufs: &mut [&mut [u8]]) {
    debug_assert!(available());
    // SAFETY: every caller checks `available()` (AES-NI present) first.
    unsafe { multi_inner::<true>(keys, ivs, bufs) }
}

/// Encrypts up to [`LANES`] buffers in place, interleaved; lengths checked by the caller.
pub(crate) fn encrypt_multi(keys: &[[u8; 32]], ivs: &[[u8; 32]], bufs: &mut [&mut [u8]]) {
    debug_assert!(available());
    // SAFETY: every caller checks `available()` (AES-NI present) first.
    unsafe { multi_inner::<false>(keys, ivs, bufs) }
}

/// Encrypts whole blocks in place; the caller has checked the length.
pub(crate) fn encrypt(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    debug_assert!(available());
    // SAFETY: every caller checks `available()` (AES-NI present) before calling,
    // and SSE2 is part of the x86-64 baseline.
    unsafe { encrypt_inner(key, iv, buf) }
}

/// Decrypts whole blocks in place; the caller has checked the length.
pub(crate) fn decrypt(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    debug_assert!(available());
    // SAFETY: as in `encrypt`: AES-NI was detected by the caller.
    unsafe { decrypt_inner(key, iv, buf) }
}
