//! Pollard's rho with Brent's cycle detection and batched gcds: the fallback
//! when no curve of the ECM budget finds a factor.

use super::{Montgomery, gcd};

/// A non-trivial divisor of the odd composite `n`, trying the maps
/// y ↦ y² + c for c = 1, 2, … until one succeeds.
pub(super) fn find_factor(n: u64) -> Option<u64> {
    let m = Montgomery::new(n);
    (1..64u64).find_map(|c| brent(&m, c))
}

/// Brent's variant of Pollard's rho with f(y) = y^2 + c (in Montgomery form).
fn brent(m: &Montgomery, c: u64) -> Option<u64> {
    const BATCH: u64 = 128;
    const MAX_R: u64 = 1 << 26;
    let n = m.n();
    let c = c % n;
    let f = |y: u64| m.add(m.mul(y, y), c);
    let mut y = m.one();
    let mut x;
    let mut ys = y;
    let mut q = m.one();
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
