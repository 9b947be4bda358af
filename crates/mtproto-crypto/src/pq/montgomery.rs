//! 64-bit Montgomery arithmetic modulo an odd `n`: one 64×64→128 multiply
//! and one high multiply per product instead of a 128-bit division.

/// Arithmetic modulo an odd `n`; values in Montgomery form are below n.
#[derive(Clone, Copy, Debug)]
pub(super) struct Montgomery {
    n: u64,
    /// n^-1 mod 2^64.
    n_inv: u64,
    /// 2^64 mod n (Montgomery one).
    one: u64,
    /// 2^128 mod n (converts into Montgomery form).
    r2: u64,
}

impl Montgomery {
    pub(super) fn new(n: u64) -> Self {
        debug_assert!(n % 2 == 1);
        let mut inv = n; // correct to 3 bits for odd n
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n.wrapping_mul(inv)));
        }
        let one = ((1u128 << 64) % n as u128) as u64;
        let r2 = (one as u128 * one as u128 % n as u128) as u64;
        Self { n, n_inv: inv, one, r2 }
    }

    pub(super) fn n(&self) -> u64 {
        self.n
    }

    /// 1 in Montgomery form.
    pub(super) fn one(&self) -> u64 {
        self.one
    }

    /// a * b * 2^-64 mod n, for a, b < n.
    #[inline(always)]
    pub(super) fn mul(&self, a: u64, b: u64) -> u64 {
        let t = a as u128 * b as u128;
        let (lo, hi) = (t as u64, (t >> 64) as u64);
        let m = lo.wrapping_mul(self.n_inv);
        let mn_hi = ((m as u128 * self.n as u128) >> 64) as u64;
        let (r, borrow) = hi.overflowing_sub(mn_hi);
        if borrow { r.wrapping_add(self.n) } else { r }
    }

    #[inline(always)]
    pub(super) fn add(&self, a: u64, b: u64) -> u64 {
        let (s, carry) = a.overflowing_add(b);
        if carry || s >= self.n { s.wrapping_sub(self.n) } else { s }
    }

    #[inline(always)]
    pub(super) fn sub(&self, a: u64, b: u64) -> u64 {
        let (d, borrow) = a.overflowing_sub(b);
        if borrow { d.wrapping_add(self.n) } else { d }
    }

    /// `a` (any u64) into Montgomery form.
    pub(super) fn to(&self, a: u64) -> u64 {
        self.mul(a % self.n, self.r2)
    }

    /// Out of Montgomery form.
    pub(super) fn from(&self, a: u64) -> u64 {
        self.mul(a, 1)
    }

    /// base^e for `base` in Montgomery form.
    pub(super) fn pow(&self, mut base: u64, mut e: u64) -> u64 {
        let mut r = self.one;
        while e > 0 {
            if e & 1 == 1 {
                r = self.mul(r, base);
            }
            base = self.mul(base, base);
            e >>= 1;
        }
        r
    }

    /// The inverse of `a` (Montgomery form) in Montgomery form, or the gcd
    /// of a and n when it is not invertible.
    pub(super) fn invert(&self, a: u64) -> Result<u64, u64> {
        // Extended Euclid on magnitudes: the coefficients of a alternate in sign.
        let (mut r0, mut r1) = (self.n, self.from(a));
        let (mut s0, mut s1) = (0u64, 1u64);
        let mut s0_negative = true; // s0 = 0 pairs with r0 = n; s1 = +1 with r1 = a
        while r1 != 0 {
            let q = r0 / r1;
            (r0, r1) = (r1, r0 - q * r1);
            (s0, s1) = (s1, s0 + q * s1);
            s0_negative = !s0_negative;
        }
        if r0 != 1 {
            return Err(r0);
        }
        Ok(self.to(if s0_negative { self.n - s0 } else { s0 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_matches_u128() {
        for n in [3u64, 0xffff_fffb * 0xffff_ffbf, 2_147_483_647 * 4_294_967_291, u64::MAX - 58, 1_000_000_007] {
            let m = Montgomery::new(n);
            for (a, b) in [(0u64, 5u64), (n - 1, n - 1), (12345, n / 3), (n / 2, 7)] {
                let (a, b) = (a % n, b % n);
                let (am, bm) = (m.to(a), m.to(b));
                assert_eq!(m.from(m.mul(am, bm)), (a as u128 * b as u128 % n as u128) as u64);
                assert_eq!(m.from(m.add(am, bm)), ((a as u128 + b as u128) % n as u128) as u64);
                assert_eq!(m.from(m.sub(am, bm)), ((a as u128 + n as u128 - b as u128) % n as u128) as u64);
                if let Ok(inv) = m.invert(am) {
                    assert_eq!(m.from(m.mul(inv, am)), 1 % n, "inverse of {a} mod {n}");
                }
            }
        }
    }
}
