//! Factorization of the handshake's `pq` (a product of two primes below 2^32).
//!
//! The main method is the elliptic-curve method (ECM, `pq/ecm.rs`): a handful of
//! Montgomery curves, each a few thousand 64-bit Montgomery multiplications,
//! finds a 31-bit factor in tens of microseconds where Pollard's rho needs a
//! serial walk of about √p ≈ 46,000 dependent steps. Pollard–Brent rho
//! (`pq/rho.rs`) stays as the fallback should every curve of the budget fail.
//! A deterministic Miller–Rabin test first turns a prime `pq` into a typed
//! error instead of an endless search.

mod ecm;
mod montgomery;
mod rho;

use crate::CryptoError;
use montgomery::Montgomery;

/// Splits `pq` into `(p, q)` with `1 < p <= q` and `p * q == pq`.
///
/// # Errors
/// [`CryptoError::PqNotFactorable`] when `pq < 4`, `pq` is prime, or no factor
/// is found within the iteration budget (far beyond what a 64-bit semiprime needs).
///
/// # Examples
///
/// The pq of Telegram's auth key generation example
/// (core.telegram.org/mtproto/samples-auth_key):
///
/// ```
/// use mtproto_crypto::pq;
/// assert_eq!(pq::factorize(2_694_724_800_268_887_959)?, (1_513_098_571, 1_780_931_429));
/// assert!(pq::factorize(1_000_003).is_err(), "a prime has no factors");
/// # Ok::<(), mtproto_crypto::CryptoError>(())
/// ```
pub fn factorize(pq: u64) -> Result<(u64, u64), CryptoError> {
    factorize_with(pq, |n| ecm::find_factor(n).or_else(|| rho::find_factor(n)))
}

/// [`factorize`] with Pollard–Brent rho only (for differential tests and benchmarks).
#[doc(hidden)]
pub fn factorize_rho(pq: u64) -> Result<(u64, u64), CryptoError> {
    factorize_with(pq, rho::find_factor)
}

/// [`factorize`] with ECM only (for differential tests and benchmarks).
#[doc(hidden)]
pub fn factorize_ecm(pq: u64) -> Result<(u64, u64), CryptoError> {
    factorize_with(pq, ecm::find_factor)
}

/// The checks and trivial cases around `search`, which gets an odd composite
/// that is not a perfect square and returns a non-trivial divisor.
fn factorize_with(pq: u64, search: impl Fn(u64) -> Option<u64>) -> Result<(u64, u64), CryptoError> {
    let err = Err(CryptoError::PqNotFactorable { pq });
    if pq < 4 || is_prime_u64(pq) {
        return err;
    }
    if pq.is_multiple_of(2) {
        return Ok((2, pq / 2));
    }
    let root = pq.isqrt();
    if root * root == pq {
        return Ok((root, root));
    }
    match search(pq) {
        Some(d) if d > 1 && d < pq && pq.is_multiple_of(d) => {
            let (a, b) = (d, pq / d);
            Ok(if a <= b { (a, b) } else { (b, a) })
        }
        _ => err,
    }
}

/// Binary gcd.
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

/// Deterministic Miller-Rabin for every u64 (the first 12 primes as bases),
/// in Montgomery arithmetic.
///
/// # Examples
///
/// ```
/// use mtproto_crypto::pq::is_prime_u64;
/// assert!(is_prime_u64(1_513_098_571));
/// assert!(!is_prime_u64(2_694_724_800_268_887_959));
/// ```
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
    let m = Montgomery::new(n);
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    let minus_one = m.sub(0, m.one());
    'bases: for a in BASES {
        let mut x = m.pow(m.to(a), d);
        if x == m.one() || x == minus_one {
            continue;
        }
        for _ in 1..s {
            x = m.mul(x, x);
            if x == minus_one {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_trial_division(n: u64) -> bool {
        n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d))
    }

    #[test]
    fn miller_rabin_matches_trial_division_and_refuses_strong_pseudoprimes() {
        for n in 0..30_000u64 {
            assert_eq!(is_prime_u64(n), by_trial_division(n), "{n}");
        }
        for n in [(1u64 << 32) - 5, (1u64 << 32) + 15, 4_294_967_291 * 3 + 2] {
            assert_eq!(is_prime_u64(n), by_trial_division(n), "{n}");
        }
        // Strong pseudoprimes to many small bases, and a Carmichael number.
        for n in [
            1_000_000_007 * 1_000_000_009,
            3_215_031_751u64,
            2_152_302_898_747,
            3_474_749_660_383,
            341_550_071_728_321,
            3_825_123_056_546_413_051,
            561,
        ] {
            assert!(!is_prime_u64(n), "{n}");
        }
        assert!(is_prime_u64(18_446_744_073_709_551_557)); // the largest u64 prime
    }
}
