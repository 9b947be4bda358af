//! Factorization of the handshake's `pq` (a product of two primes below 2^32).
//!
//! Pollard's rho with Brent's cycle detection and batched gcds, in 64-bit
//! Montgomery arithmetic (one 64×64→128 multiply and one high multiply per
//! step instead of a 128-bit division). A deterministic Miller-Rabin test first
//! turns a prime `pq` into a typed error instead of an endless search.

use crate::CryptoError;

/// Splits `pq` into `(p, q)` with `1 < p <= q` and `p * q == pq`.
///
/// # Errors
/// [`CryptoError::PqNotFactorable`] when `pq < 4`, `pq` is prime, or no factor
/// is found within the iteration budget (far beyond what a 64-bit semiprime needs).
pub fn factorize(pq: u64) -> Result<(u64, u64), CryptoError> {
    let err = Err(CryptoError::PqNotFactorable { pq });
    if pq < 4 || is_prime_u64(pq) {
        return err;
    }
    if pq.is_multiple_of(2) {
        return Ok((2, pq / 2));
    }
    let m = Montgomery::new(pq);
    for c in 1..64u64 {
        if let Some(d) = brent(&m, c) {
            let (a, b) = (d, pq / d);
            return Ok(if a <= b { (a, b) } else { (b, a) });
        }
    }
    err
}

/// 64-bit Montgomery arithmetic modulo an odd `n`.
struct Montgomery {
    n: u64,
    /// n^-1 mod 2^64.
    n_inv: u64,
    /// 2^64 mod n (Montgomery one).
    one: u64,
}

impl Montgomery {
    fn new(n: u64) -> Self {
        let mut inv = n; // correct to 3 bits for odd n
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n.wrapping_mul(inv)));
        }
        let one = ((1u128 << 64) % n as u128) as u64;
        Self { n, n_inv: inv, one }
    }

    /// a * b * 2^-64 mod n, for a, b < n.
    #[inline(always)]
    fn mul(&self, a: u64, b: u64) -> u64 {
        let t = a as u128 * b as u128;
        let (lo, hi) = (t as u64, (t >> 64) as u64);
        let m = lo.wrapping_mul(self.n_inv);
        let mn_hi = ((m as u128 * self.n as u128) >> 64) as u64;
        let (r, borrow) = hi.overflowing_sub(mn_hi);
        if borrow { r.wrapping_add(self.n) } else { r }
    }

    #[inline(always)]
    fn add(&self, a: u64, b: u64) -> u64 {
        let (s, carry) = a.overflowing_add(b);
        if carry || s >= self.n { s.wrapping_sub(self.n) } else { s }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            core::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

/// Brent's variant of Pollard's rho with f(y) = y^2 + c (in Montgomery form).
fn brent(m: &Montgomery, c: u64) -> Option<u64> {
    const BATCH: u64 = 128;
    const MAX_R: u64 = 1 << 26;
    let n = m.n;
    let c = c % n;
    let f = |y: u64| m.add(m.mul(y, y), c);
    let mut y = m.one;
    let mut x;
    let mut ys = y;
    let mut q = m.one;
    let mut g = 1u64;
    let mut r = 1u64;
    while g == 1 {
        x = y;
        for _ in 0..r {
            y = f(y);
        }
        let mut k = 0;
        while k < r && g == 1 {
            ys = y;
            let steps = BATCH.min(r - k);
            for _ in 0..steps {
                y = f(y);
                q = m.mul(q, x.abs_diff(y));
            }
            g = gcd(q, n);
            k += steps;
        }
        r *= 2;
        if r > MAX_R {
            return None;
        }
        if g == 1 {
            continue;
        }
        if g == n {
            // The batch overshot: walk it again one step at a time.
            loop {
                ys = f(ys);
                g = gcd(x.abs_diff(ys), n);
                if g > 1 {
                    break;
                }
            }
        }
        if g == n {
            return None;
        }
        return Some(g);
    }
    None
}

fn mulmod(a: u64, b: u64, n: u64) -> u64 {
    (a as u128 * b as u128 % n as u128) as u64
}

fn powmod(mut b: u64, mut e: u64, n: u64) -> u64 {
    let mut r = 1u64;
    b %= n;
    while e > 0 {
        if e & 1 == 1 {
            r = mulmod(r, b, n);
        }
        b = mulmod(b, b, n);
        e >>= 1;
    }
    r
}

/// Deterministic Miller-Rabin for every u64 (the first 12 primes as bases).
pub fn is_prime_u64(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for p in BASES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'bases: for a in BASES {
        let mut x = powmod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mulmod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}
