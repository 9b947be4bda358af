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

/// True when this CPU has AES-NI (and SSE2, always present on x86-64).
pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("aes")
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

#[target_feature(enable = "aes,sse2")]
fn encrypt_inner(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    let k = expand_encrypt_keys(key);
    let mut prev_c = load(&iv[..16]);
    let mut prev_p = load(&iv[16..]);
    for chunk in buf.chunks_exact_mut(16) {
        let p = load(chunk);
        let mut x = _mm_xor_si128(_mm_xor_si128(p, prev_c), k[0]);
        x = _mm_aesenc_si128(x, k[1]);
        x = _mm_aesenc_si128(x, k[2]);
        x = _mm_aesenc_si128(x, k[3]);
        x = _mm_aesenc_si128(x, k[4]);
        x = _mm_aesenc_si128(x, k[5]);
        x = _mm_aesenc_si128(x, k[6]);
        x = _mm_aesenc_si128(x, k[7]);
        x = _mm_aesenc_si128(x, k[8]);
        x = _mm_aesenc_si128(x, k[9]);
        x = _mm_aesenc_si128(x, k[10]);
        x = _mm_aesenc_si128(x, k[11]);
        x = _mm_aesenc_si128(x, k[12]);
        x = _mm_aesenc_si128(x, k[13]);
        x = _mm_aesenclast_si128(x, k[14]);
        let c = _mm_xor_si128(x, prev_p);
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
        let mut x = _mm_xor_si128(_mm_xor_si128(c, prev_p), k[0]);
        x = _mm_aesdec_si128(x, k[1]);
        x = _mm_aesdec_si128(x, k[2]);
        x = _mm_aesdec_si128(x, k[3]);
        x = _mm_aesdec_si128(x, k[4]);
        x = _mm_aesdec_si128(x, k[5]);
        x = _mm_aesdec_si128(x, k[6]);
        x = _mm_aesdec_si128(x, k[7]);
        x = _mm_aesdec_si128(x, k[8]);
        x = _mm_aesdec_si128(x, k[9]);
        x = _mm_aesdec_si128(x, k[10]);
        x = _mm_aesdec_si128(x, k[11]);
        x = _mm_aesdec_si128(x, k[12]);
        x = _mm_aesdec_si128(x, k[13]);
        x = _mm_aesdeclast_si128(x, k[14]);
        let p = _mm_xor_si128(x, prev_c);
        store(p, chunk);
        prev_c = c;
        prev_p = p;
    }
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
