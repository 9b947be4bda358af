//! 2048-bit modular exponentiation with AVX-512 IFMA (52-bit multiply-add).
//!
//! Numbers are held as 40 digits of 52 bits (2080 bits) in five 512-bit
//! registers. The Montgomery multiplication is the "almost Montgomery" form
//! with R = 2^2080: inputs and outputs stay below 2N, which holds because
//! 4N < R for any N below 2^2048, so no conditional subtraction is needed
//! between multiplications. Per digit a_i of the left operand, one step adds
//! a_i·B and m·N (m chosen so the lowest digit becomes divisible by 2^52),
//! then drops that digit: the low halves of the 104-bit products are added
//! where they are, the high halves one digit higher, which after the drop is
//! the same lane. Lanes are 64 bits wide, so the 40 steps accumulate without
//! carrying; one constant-time carry pass brings the result back to 52-bit
//! digits.
//!
//! The exponentiation uses a fixed 5-bit window over all 2048 exponent bits
//! and reads the table by scanning every entry with masked moves, so neither
//! the time nor the memory accesses depend on the exponent. Tested against
//! crypto-bigint (`tests` below, the `crypto_paths` fuzz target, and the DH
//! vectors that run through [`crate::dh::DhGroup::pow`]).

use core::arch::x86_64::{
    __m512i, _mm_cvtsi128_si64, _mm512_add_epi64, _mm512_alignr_epi64, _mm512_and_si512, _mm512_castsi512_si128,
    _mm512_cmpeq_epi64_mask, _mm512_cmpgt_epu64_mask, _mm512_loadu_epi64, _mm512_madd52hi_epu64, _mm512_madd52lo_epu64,
    _mm512_mask_add_epi64, _mm512_mask_mov_epi64, _mm512_set1_epi64, _mm512_setzero_si512, _mm512_srli_epi64,
    _mm512_storeu_epi64,
};
use zeroize::Zeroize;

/// Digits of 52 bits per number.
const DIGITS: usize = 40;
/// Registers of eight 64-bit lanes per number.
const REGS: usize = DIGITS / 8;
const MASK52: u64 = (1 << 52) - 1;
/// Exponent bits consumed per table lookup.
const WINDOW: usize = 5;
const TABLE: usize = 1 << WINDOW;

/// A number as 40 little-endian 52-bit digits.
pub(crate) type Digits = [u64; DIGITS];

/// Whether this CPU can run the IFMA exponentiation.
pub(crate) fn available() -> bool {
    cpuid_ifma::get()
}

cpufeatures::new!(cpuid_ifma, "avx512f", "avx512ifma");

/// What one modulus needs, computed once per DH group.
#[derive(Clone, Debug)]
pub(crate) struct IfmaModulus {
    n: Digits,
    /// -n^-1 mod 2^52.
    k0: u64,
    /// R mod n (Montgomery one), R = 2^2080.
    one: Digits,
    /// R^2 mod n.
    r2: Digits,
}

impl IfmaModulus {
    /// `n_le`, `r_mod_n_le`, `r2_mod_n_le`: n, 2^2080 mod n and 2^4160 mod n as
    /// 32 little-endian 64-bit limbs; n must be odd.
    pub(crate) fn new(n_le: &[u64; 32], r_mod_n_le: &[u64; 32], r2_mod_n_le: &[u64; 32]) -> Self {
        // Newton iteration for n^-1 mod 2^64: each step doubles the correct bits.
        let n0 = n_le[0];
        let mut inv: u64 = 1;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(inv)));
        }
        Self {
            n: to_digits(n_le),
            k0: inv.wrapping_neg() & MASK52,
            one: to_digits(r_mod_n_le),
            r2: to_digits(r2_mod_n_le),
        }
    }

    /// base^exponent mod n for a base below 2^2048 and a 2048-bit exponent
    /// (little-endian limbs); the result is fully reduced, as little-endian
    /// limbs. `None` on a CPU without AVX-512F and IFMA (checked here, a
    /// cached load): the caller then takes the portable path.
    pub(crate) fn pow(&self, base_le: &[u64; 32], exponent_le: &[u64; 32]) -> Option<[u64; 32]> {
        self.pow_on(true, base_le, exponent_le)
    }

    /// [`IfmaModulus::pow`], with IFMA used only when `allow` is set (tests
    /// pass `false` to reach the fallback).
    fn pow_on(&self, allow: bool, base_le: &[u64; 32], exponent_le: &[u64; 32]) -> Option<[u64; 32]> {
        if !(allow && available()) {
            return None;
        }
        let mut base = to_digits(base_le);
        // SAFETY: `available()` just confirmed AVX-512F and IFMA, the
        // features `pow_ifma` is compiled for.
        let mut out = unsafe { pow_ifma(self, &base, exponent_le) };
        base.zeroize();
        let limbs = from_digits(&out);
        out.zeroize();
        Some(limbs)
    }
}

/// 32 little-endian 64-bit limbs to 40 little-endian 52-bit digits.
fn to_digits(limbs: &[u64; 32]) -> Digits {
    let mut d = [0u64; DIGITS];
    for (i, digit) in d.iter_mut().enumerate() {
        let bit = 52 * i;
        let (limb, shift) = (bit / 64, bit % 64);
        let mut v = limbs.get(limb).map_or(0, |l| l >> shift);
        if shift > 12 {
            v |= limbs.get(limb + 1).map_or(0, |l| l << (64 - shift));
        }
        *digit = v & MASK52;
    }
    d
}

/// 40 normalized 52-bit digits (value below 2^2048) to 32 little-endian limbs.
fn from_digits(d: &Digits) -> [u64; 32] {
    let mut limbs = [0u64; 32];
    for (i, &digit) in d.iter().enumerate() {
        let bit = 52 * i;
        let (limb, shift) = (bit / 64, bit % 64);
        if let Some(l) = limbs.get_mut(limb) {
            *l |= digit << shift;
        }
        if shift > 12
            && let Some(l) = limbs.get_mut(limb + 1)
        {
            *l |= digit >> (64 - shift);
        }
    }
    limbs
}

type Reg = [__m512i; REGS];

#[inline]
#[target_feature(enable = "avx512f")]
fn load(d: &Digits) -> Reg {
    let mut r = [_mm512_setzero_si512(); REGS];
    for (k, reg) in r.iter_mut().enumerate() {
        // SAFETY: d[8k..8k+8] is in bounds (k < 5, 40 digits) and the load
        // is unaligned, so any u64 array address is valid for 64 bytes.
        *reg = unsafe { _mm512_loadu_epi64(d[8 * k..].as_ptr().cast()) };
    }
    r
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store(r: &Reg, d: &mut Digits) {
    for (k, reg) in r.iter().enumerate() {
        // SAFETY: d[8k..8k+8] is in bounds and exclusively borrowed; the store
        // is unaligned.
        unsafe { _mm512_storeu_epi64(d[8 * k..].as_mut_ptr().cast(), *reg) };
    }
}

/// Almost Montgomery multiplication: a·b·R^-1 mod n, below 2n when a, b are
/// below 2n (or one of them below 2^2048 and the other below n), normalized.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn amm(a: &Digits, b: &Reg, n: &Reg, k0: u64) -> Reg {
    let zero = _mm512_setzero_si512();
    let mut acc = [zero; REGS];
    for &ai in a.iter() {
        let av = _mm512_set1_epi64(ai as i64);
        // The high halves of a_i·B, computed off the critical path.
        let mut hi = [zero; REGS];
        for k in 0..REGS {
            acc[k] = _mm512_madd52lo_epu64(acc[k], av, b[k]);
            hi[k] = _mm512_madd52hi_epu64(zero, av, b[k]);
        }
        let low = _mm_cvtsi128_si64(_mm512_castsi512_si128(acc[0])) as u64;
        let m = _mm512_set1_epi64((low.wrapping_mul(k0) & MASK52) as i64);
        for k in 0..REGS {
            acc[k] = _mm512_madd52lo_epu64(acc[k], m, n[k]);
            hi[k] = _mm512_madd52hi_epu64(hi[k], m, n[k]);
        }
        // Lane 0 is now 0 mod 2^52: drop it, keeping its carry.
        let carry = _mm512_srli_epi64::<52>(acc[0]);
        for k in 0..REGS {
            let next = if k + 1 < REGS { acc[k + 1] } else { zero };
            acc[k] = _mm512_add_epi64(_mm512_alignr_epi64::<1>(next, acc[k]), hi[k]);
        }
        acc[0] = _mm512_mask_add_epi64(acc[0], 1, acc[0], carry);
    }
    normalize(acc)
}

/// Brings every lane back to 52 bits, in constant time. Lanes hold less than
/// 2^63 here, so one shift pass leaves each lane at most 2^52 - 1 + 2^12; the
/// remaining single-bit carries ripple through lanes equal to 2^52 - 1, which
/// a 40-bit addition computes at once (carry-lookahead).
#[inline]
#[target_feature(enable = "avx512f")]
fn normalize(acc: Reg) -> Reg {
    let mask = _mm512_set1_epi64(MASK52 as i64);
    let zero = _mm512_setzero_si512();
    let mut out = [zero; REGS];
    let mut carries = [zero; REGS];
    for k in 0..REGS {
        carries[k] = _mm512_srli_epi64::<52>(acc[k]);
        out[k] = _mm512_and_si512(acc[k], mask);
    }
    // Move each carry one lane up (the top lane's carry is zero: values < 2^2080).
    for k in (0..REGS).rev() {
        let below = if k > 0 { carries[k - 1] } else { zero };
        out[k] = _mm512_add_epi64(out[k], _mm512_alignr_epi64::<7>(carries[k], below));
    }
    let mut generate: u64 = 0;
    let mut propagate: u64 = 0;
    for (k, reg) in out.iter().enumerate() {
        generate |= u64::from(_mm512_cmpgt_epu64_mask(*reg, mask)) << (8 * k);
        propagate |= u64::from(_mm512_cmpeq_epi64_mask(*reg, mask)) << (8 * k);
    }
    // A lane cannot both generate (> 2^52 - 1) and propagate (= 2^52 - 1), so
    // the carry into each lane is the sum's bit XOR the propagate bit.
    let carry_in = (propagate.wrapping_add(generate << 1)) ^ propagate;
    let one = _mm512_set1_epi64(1);
    for (k, reg) in out.iter_mut().enumerate() {
        let lanes = ((carry_in >> (8 * k)) & 0xFF) as u8;
        *reg = _mm512_and_si512(_mm512_mask_add_epi64(*reg, lanes, *reg, one), mask);
    }
    out
}

/// Reads `table[index]` touching every entry, in constant time.
#[inline]
#[target_feature(enable = "avx512f")]
fn select(table: &[Reg; TABLE], index: u64) -> Reg {
    let wanted = _mm512_set1_epi64(index as i64);
    let mut out = [_mm512_setzero_si512(); REGS];
    for (j, entry) in table.iter().enumerate() {
        let hit = _mm512_cmpeq_epi64_mask(_mm512_set1_epi64(j as i64), wanted);
        for k in 0..REGS {
            out[k] = _mm512_mask_mov_epi64(out[k], hit, entry[k]);
        }
    }
    out
}

/// Bits [from, from + WINDOW) of the exponent (bits past 2047 read as zero).
fn window(exponent_le: &[u64; 32], from: usize) -> u64 {
    let (limb, shift) = (from / 64, from % 64);
    let mut v = exponent_le[limb] >> shift;
    if shift + WINDOW > 64
        && let Some(next) = exponent_le.get(limb + 1)
    {
        v |= next << (64 - shift);
    }
    v & (TABLE as u64 - 1)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn pow_ifma(modulus: &IfmaModulus, base: &Digits, exponent_le: &[u64; 32]) -> Digits {
    let n = load(&modulus.n);
    let k0 = modulus.k0;
    let mut scratch = [0u64; DIGITS];

    // table[j] = base^j in Montgomery form.
    let mut table = [[_mm512_setzero_si512(); REGS]; TABLE];
    table[0] = load(&modulus.one);
    table[1] = amm(base, &load(&modulus.r2), &n, k0);
    let mut base_mont = [0u64; DIGITS];
    store(&table[1], &mut base_mont);
    for j in 2..TABLE {
        table[j] = amm(&base_mont, &table[j - 1], &n, k0);
    }

    // Left to right over 2050 bits (410 windows; the top two bits are zero).
    let windows = 2048usize.div_ceil(WINDOW);
    let mut acc = select(&table, window(exponent_le, (windows - 1) * WINDOW));
    for w in (0..windows - 1).rev() {
        for _ in 0..WINDOW {
            store(&acc, &mut scratch);
            acc = amm(&scratch, &acc, &n, k0);
        }
        let factor = select(&table, window(exponent_le, w * WINDOW));
        store(&acc, &mut scratch);
        acc = amm(&scratch, &factor, &n, k0);
    }

    // Leave Montgomery form: multiply by 1. The result is at most n, and equal
    // to n only for a base divisible by n; subtract n in constant time if so.
    store(&acc, &mut scratch);
    let mut unit = [0u64; DIGITS];
    unit[0] = 1;
    let out = amm(&scratch, &load(&unit), &n, k0);
    let mut result = [0u64; DIGITS];
    store(&out, &mut result);
    reduce_once(&mut result, &modulus.n);

    scratch.zeroize();
    base_mont.zeroize();
    for entry in table.iter_mut() {
        *entry = [_mm512_setzero_si512(); REGS];
    }
    core::hint::black_box(&table);
    result
}

/// x := x - n if x >= n, in constant time (x at most n here).
fn reduce_once(x: &mut Digits, n: &Digits) {
    let mut diff = [0u64; DIGITS];
    let mut borrow = 0u64;
    for i in 0..DIGITS {
        let d = x[i].wrapping_sub(n[i]).wrapping_sub(borrow);
        borrow = d >> 63;
        diff[i] = d & MASK52;
    }
    // borrow == 0 means x >= n: take the difference.
    let take = borrow.wrapping_sub(1);
    for i in 0..DIGITS {
        x[i] = (diff[i] & take) | (x[i] & !take);
    }
    diff.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
    use crypto_bigint::{Odd, U2048};
    use proptest::prelude::*;

    fn modulus_for(n: &U2048) -> (IfmaModulus, FixedMontyParams<{ U2048::LIMBS }>) {
        let params = FixedMontyParams::new_vartime(Odd::new(*n).unwrap());
        (crate::dh::ifma_modulus(&params), params)
    }

    fn reference(base: &U2048, e: &U2048, params: &FixedMontyParams<{ U2048::LIMBS }>) -> U2048 {
        FixedMontyForm::new(base, params).pow(e).retrieve()
    }

    fn number(words: &[u64]) -> U2048 {
        let mut w = [0u64; 32];
        w.copy_from_slice(words);
        U2048::from_words(w)
    }

    #[test]
    fn digits_round_trip() {
        let mut limbs = [0u64; 32];
        for (i, l) in limbs.iter_mut().enumerate() {
            *l = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1);
        }
        assert_eq!(from_digits(&to_digits(&limbs)), limbs);
    }

    /// Without IFMA the wrapper reports it instead of running the
    /// instructions, and `DhGroup::pow` still gives crypto-bigint's answer.
    #[test]
    fn pow_falls_back_without_ifma() {
        let n = U2048::from_be_slice(&crate::dh::TELEGRAM_DH_PRIME);
        let (m, params) = modulus_for(&n);
        let (base, e) = (U2048::from_u64(3), U2048::from_u64(0x1234_5678_9abc_def1));
        assert_eq!(m.pow_on(false, base.as_words(), e.as_words()), None);
        let got = m.pow(base.as_words(), e.as_words());
        assert_eq!(got.is_some(), available());
        if let Some(words) = got {
            assert_eq!(U2048::from_words(words), reference(&base, &e, &params));
        }
        let group =
            crate::dh::DhGroup::new(&crate::dh::TELEGRAM_DH_PRIME, 3, &mut crate::dh::PrimeCache::default()).unwrap();
        let exponent = crate::dh::left_pad(&0x1234_5678_9abc_def1u64.to_be_bytes());
        assert_eq!(group.pow_g(&exponent)[..], reference(&base, &e, &params).to_be_bytes().as_ref()[..]);
    }

    #[test]
    fn edge_exponents_and_bases() {
        if !available() {
            return;
        }
        let n = U2048::from_be_slice(&crate::dh::TELEGRAM_DH_PRIME);
        let (m, params) = modulus_for(&n);
        let n_minus_1 = n.wrapping_sub(&U2048::ONE);
        for base in [U2048::ZERO, U2048::ONE, U2048::from_u64(3), n_minus_1, U2048::MAX.wrapping_sub(&n)] {
            for e in [U2048::ZERO, U2048::ONE, U2048::from_u64(31), U2048::MAX, n_minus_1] {
                let got = U2048::from_words(m.pow(base.as_words(), e.as_words()).expect("IFMA present"));
                assert_eq!(got, reference(&base, &e, &params), "base {base} exponent {e}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random odd moduli of any size below 2^2048, random bases below
        /// 2^2048 (not reduced), random exponents: the same as crypto-bigint.
        #[test]
        fn agrees_with_crypto_bigint(
            n in proptest::collection::vec(any::<u64>(), 32),
            top_zero_bits in 0u32..2000,
            base in proptest::collection::vec(any::<u64>(), 32),
            e in proptest::collection::vec(any::<u64>(), 32),
        ) {
            if !available() {
                return Ok(());
            }
            let n = (number(&n) >> top_zero_bits) | U2048::ONE;
            prop_assume!(n > U2048::ONE);
            let (m, params) = modulus_for(&n);
            let (base, e) = (number(&base), number(&e));
            let got = U2048::from_words(m.pow(base.as_words(), e.as_words()).expect("IFMA present"));
            prop_assert_eq!(got, reference(&base, &e, &params));
        }
    }
}
