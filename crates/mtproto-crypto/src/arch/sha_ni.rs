//! SHA-256 with the x86 SHA extensions, one lane or two lanes interleaved.
//! Two independent messages' compressions run in the same loop, so the core
//! overlaps their round chains (each is latency bound on its own). Used by
//! the multi-buffer encryption; differential-tested against the `sha2` crate.

use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_set_epi32, _mm_set_epi64x, _mm_sha256msg1_epu32,
    _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi8, _mm_shuffle_epi32,
};

/// Whether this CPU has the SHA extensions and the SSSE3/SSE4.1 shuffles used here.
pub(crate) fn available() -> bool {
    cpuid_sha::get()
}

cpufeatures::new!(cpuid_sha, "sha", "sse4.1", "ssse3");

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// A SHA-256 state in the SHA-NI register layout (ABEF, CDGH).
#[derive(Clone, Copy)]
pub(crate) struct State {
    pub(crate) abef: __m128i,
    pub(crate) cdgh: __m128i,
}

#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn to_registers(h: &[u32; 8]) -> State {
    let dcba = _mm_set_epi32(h[3] as i32, h[2] as i32, h[1] as i32, h[0] as i32);
    let hgfe = _mm_set_epi32(h[7] as i32, h[6] as i32, h[5] as i32, h[4] as i32);
    let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
    let efgh = _mm_shuffle_epi32::<0x1B>(hgfe);
    State { abef: _mm_alignr_epi8::<8>(cdab, efgh), cdgh: _mm_blend_epi16::<0xF0>(efgh, cdab) }
}

#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn from_registers(s: State) -> [u32; 8] {
    let feba = _mm_shuffle_epi32::<0x1B>(s.abef);
    let dchg = _mm_shuffle_epi32::<0xB1>(s.cdgh);
    let dcba = _mm_blend_epi16::<0xF0>(feba, dchg);
    let hgfe = _mm_alignr_epi8::<8>(dchg, feba);
    let mut lo = [0u8; 16];
    let mut hi = [0u8; 16];
    crate::arch::ige_ni::store_bytes(dcba, &mut lo);
    crate::arch::ige_ni::store_bytes(hgfe, &mut hi);
    let mut out = [0u32; 8];
    for i in 0..4 {
        out[i] = u32::from_le_bytes([lo[4 * i], lo[4 * i + 1], lo[4 * i + 2], lo[4 * i + 3]]);
        out[4 + i] = u32::from_le_bytes([hi[4 * i], hi[4 * i + 1], hi[4 * i + 2], hi[4 * i + 3]]);
    }
    out
}

#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn k4(i: usize) -> __m128i {
    _mm_set_epi32(K[4 * i + 3] as i32, K[4 * i + 2] as i32, K[4 * i + 1] as i32, K[4 * i] as i32)
}

#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn message(block: &[u8]) -> [__m128i; 4] {
    let mask = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
    core::array::from_fn(|i| _mm_shuffle_epi8(crate::arch::ige_ni::load_bytes(&block[16 * i..16 * i + 16]), mask))
}

/// One 4-round group: rounds 4i..4i+3 with the message schedule update.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn group(s: &mut State, w: &mut [__m128i; 4], i: usize) {
    let m = group_first_half(s, w, i);
    group_second_half(s, w, i, m);
}

/// Rounds 4i, 4i+1 and the schedule step that needs only them; returns the
/// message words the second half uses.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn group_first_half(s: &mut State, w: &mut [__m128i; 4], i: usize) -> __m128i {
    let cur = w[i % 4];
    let m = _mm_add_epi32(cur, k4(i));
    s.cdgh = _mm_sha256rnds2_epu32(s.cdgh, s.abef, m);
    if (3..=14).contains(&i) {
        let next = (i + 1) % 4;
        let t = _mm_alignr_epi8::<4>(cur, w[(i + 3) % 4]);
        w[next] = _mm_sha256msg2_epu32(_mm_add_epi32(w[next], t), cur);
    }
    _mm_shuffle_epi32::<0x0E>(m)
}

/// Rounds 4i+2, 4i+3 and the rest of the schedule step.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn group_second_half(s: &mut State, w: &mut [__m128i; 4], i: usize, m: __m128i) {
    s.abef = _mm_sha256rnds2_epu32(s.abef, s.cdgh, m);
    if (1..=12).contains(&i) {
        let cur = w[i % 4];
        let prev = (i + 3) % 4;
        w[prev] = _mm_sha256msg1_epu32(w[prev], cur);
    }
}

#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn rounds(s: &mut State, block: &[u8]) {
    let save = *s;
    let mut w = message(block);
    for i in 0..16 {
        group(s, &mut w, i);
    }
    s.abef = _mm_add_epi32(s.abef, save.abef);
    s.cdgh = _mm_add_epi32(s.cdgh, save.cdgh);
}

#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn rounds2(sa: &mut State, a: &[u8], sb: &mut State, b: &[u8]) {
    let (save_a, save_b) = (*sa, *sb);
    let mut wa = message(a);
    let mut wb = message(b);
    for i in 0..16 {
        group(sa, &mut wa, i);
        group(sb, &mut wb, i);
    }
    sa.abef = _mm_add_epi32(sa.abef, save_a.abef);
    sa.cdgh = _mm_add_epi32(sa.cdgh, save_a.cdgh);
    sb.abef = _mm_add_epi32(sb.abef, save_b.abef);
    sb.cdgh = _mm_add_epi32(sb.cdgh, save_b.cdgh);
}

/// The blocks of one padded input: whole blocks borrowed from the data, the
/// first (prefix ‖ data start) and the last one or two built on the stack.
struct Padded<'a> {
    first: [u8; 64],
    middle: &'a [u8],
    tail: [u8; 128],
    tail_blocks: usize,
    short: bool,
}

impl<'a> Padded<'a> {
    fn new(prefix: &[u8; 32], data: &'a [u8]) -> Self {
        let total = 32 + data.len();
        let bits = (total as u64 * 8).to_be_bytes();
        let mut first = [0u8; 64];
        let mut tail = [0u8; 128];
        if data.len() < 32 {
            // Prefix and data share the last block(s).
            tail[..32].copy_from_slice(prefix);
            tail[32..total].copy_from_slice(data);
            tail[total] = 0x80;
            let n = if total + 9 <= 64 { 1 } else { 2 };
            tail[64 * n - 8..64 * n].copy_from_slice(&bits);
            return Self { first, middle: &[], tail, tail_blocks: n, short: true };
        }
        first[..32].copy_from_slice(prefix);
        first[32..].copy_from_slice(&data[..32]);
        let rest = &data[32..];
        let whole = rest.len() / 64 * 64;
        let left = rest.len() - whole;
        tail[..left].copy_from_slice(&rest[whole..]);
        tail[left] = 0x80;
        let n = if left + 9 <= 64 { 1 } else { 2 };
        tail[64 * n - 8..64 * n].copy_from_slice(&bits);
        Self { first, middle: &rest[..whole], tail, tail_blocks: n, short: false }
    }

    fn blocks(&self) -> usize {
        usize::from(!self.short) + self.middle.len() / 64 + self.tail_blocks
    }

    fn block(&self, j: usize) -> &[u8] {
        let lead = usize::from(!self.short);
        let mid = self.middle.len() / 64;
        if j < lead {
            &self.first
        } else if j < lead + mid {
            &self.middle[64 * (j - lead)..64 * (j - lead) + 64]
        } else {
            let t = j - lead - mid;
            &self.tail[64 * t..64 * t + 64]
        }
    }
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn pair_inner(iv: &[u32; 8], a: (&[u8; 32], &[u8]), b: (&[u8; 32], &[u8])) -> ([u32; 8], [u32; 8]) {
    let (pa, pb) = (Padded::new(a.0, a.1), Padded::new(b.0, b.1));
    let (na, nb) = (pa.blocks(), pb.blocks());
    let mut sa = to_registers(iv);
    let mut sb = sa;
    let both = na.min(nb);
    for j in 0..both {
        rounds2(&mut sa, pa.block(j), &mut sb, pb.block(j));
    }
    for j in both..na {
        rounds(&mut sa, pa.block(j));
    }
    for j in both..nb {
        rounds(&mut sb, pb.block(j));
    }
    (from_registers(sa), from_registers(sb))
}

/// SHA-256 states of two `prefix ‖ data` inputs, hashed interleaved, or
/// `None` on a CPU without the extensions (checked here, a cached load; the
/// caller then hashes them on the portable path).
pub(crate) fn pair(iv: &[u32; 8], a: (&[u8; 32], &[u8]), b: (&[u8; 32], &[u8])) -> Option<([u32; 8], [u32; 8])> {
    pair_on(true, iv, a, b)
}

/// [`pair`], with the extensions used only when `allow` is set (tests pass
/// `false` to reach the fallback).
fn pair_on(allow: bool, iv: &[u32; 8], a: (&[u8; 32], &[u8]), b: (&[u8; 32], &[u8])) -> Option<([u32; 8], [u32; 8])> {
    if !(allow && available()) {
        return None;
    }
    // SAFETY: `available()` just confirmed SHA, SSSE3 and SSE4.1.
    Some(unsafe { pair_inner(iv, a, b) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_reports_unsupported_instead_of_running() {
        let (p, q) = ([1u8; 32], [2u8; 32]);
        let data: Vec<u8> = (0..300u32).map(|i| (i * 13) as u8).collect();
        assert_eq!(pair_on(false, &crate::sha::IV, (&p, &data[..77]), (&q, &data)), None);
        let got = pair(&crate::sha::IV, (&p, &data[..77]), (&q, &data));
        assert_eq!(got.is_some(), available());
        if let Some((x, y)) = got {
            let bytes = |s: [u32; 8]| -> Vec<u8> { s.iter().flat_map(|w| w.to_be_bytes()).collect() };
            assert_eq!(bytes(x), crate::sha::prefixed(&p, &data[..77]));
            assert_eq!(bytes(y), crate::sha::prefixed(&q, &data));
        }
        // The caller's fallback gives the same digests either way.
        let (x, y) = crate::sha::prefixed_pair((&p, &data[..77]), (&q, &data));
        assert_eq!((x, y), (crate::sha::prefixed(&p, &data[..77]), crate::sha::prefixed(&q, &data)));
    }
}
