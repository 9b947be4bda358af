//! Lenstra's elliptic-curve method on Montgomery curves By² = x³ + Ax² + x
//! in X:Z coordinates, with Suyama's parametrization (group orders divisible
//! by 12) and the standard baby-step giant-step second stage.
//!
//! Bounds for a 31-bit factor, tuned on this project's machine over random
//! products of a 31-bit and a 32-bit prime: B1 = 200, B2 = 10,000, about
//! four curves per number on average. Every constant table is computed at
//! compile time.

use super::{Montgomery, gcd};

/// Stage 1 bound: the curve point is multiplied by every prime power ≤ B1.
const B1: u64 = 200;
/// Stage 2 bound: one more prime in (B1, B2] is allowed in the group order.
const B2: u64 = 10_000;
/// Giant step of stage 2; baby steps are the j < D/2 coprime to D.
const D: u64 = 120;
/// The baby steps.
const BABY: [u64; 16] = [1, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 49, 53, 59];
/// Curves tried before giving up (to Pollard's rho): on average four suffice.
const CURVES: u64 = 64;

/// Primality of every number up to B2 + D.
const SIEVE_LEN: usize = (B2 + D) as usize + 1;
const PRIME: [bool; SIEVE_LEN] = {
    let mut s = [true; SIEVE_LEN];
    s[0] = false;
    s[1] = false;
    let mut i = 2;
    while i * i < SIEVE_LEN {
        if s[i] {
            let mut j = i * i;
            while j < SIEVE_LEN {
                s[j] = false;
                j += i;
            }
        }
        i += 1;
    }
    s
};

/// The stage 1 scalar ∏ p^⌊log_p B1⌋ cut into u64 pieces (the ladder runs on each).
const STAGE1_LEN: usize = stage1().1;
const STAGE1: [u64; 8] = stage1().0;
const fn stage1() -> ([u64; 8], usize) {
    let mut pieces = [0u64; 8];
    let mut len = 0;
    let mut acc: u64 = 1;
    let mut p = 2;
    while p <= B1 {
        if PRIME[p as usize] {
            let mut power = p;
            while power * p <= B1 {
                power *= p;
            }
            if acc.checked_mul(power).is_none() {
                pieces[len] = acc;
                len += 1;
                acc = 1;
            }
            acc *= power;
        }
        p += 1;
    }
    pieces[len] = acc;
    (pieces, len + 1)
}

/// Giant steps of stage 2 (k·D for k = 1..GIANTS) and, per giant step, a bit
/// per baby step j: set when k·D - j or k·D + j is a prime in (B1, B2].
const GIANTS: usize = (B2 / D + 1) as usize;
const PAIRS: [u16; GIANTS + 1] = {
    let mut masks = [0u16; GIANTS + 1];
    let mut k = 1;
    while k <= GIANTS {
        let mut bit = 0;
        while bit < BABY.len() {
            let (lo, hi) = (k as u64 * D - BABY[bit], k as u64 * D + BABY[bit]);
            if (lo > B1 && lo <= B2 && PRIME[lo as usize]) || (hi > B1 && hi <= B2 && PRIME[hi as usize]) {
                masks[k] |= 1 << bit;
            }
            bit += 1;
        }
        k += 1;
    }
    masks
};

/// A point in X:Z coordinates (Montgomery form).
#[derive(Clone, Copy)]
struct Point {
    x: u64,
    z: u64,
}

/// One curve: arithmetic modulo n and (A + 2) / 4.
struct Curve<'a> {
    m: &'a Montgomery,
    a24: u64,
}

impl Curve<'_> {
    /// 2P.
    #[inline(always)]
    fn double(&self, p: Point) -> Point {
        let m = self.m;
        let (s, d) = (m.add(p.x, p.z), m.sub(p.x, p.z));
        let (s2, d2) = (m.mul(s, s), m.mul(d, d));
        let t = m.sub(s2, d2); // 4XZ
        Point { x: m.mul(s2, d2), z: m.mul(t, m.add(d2, m.mul(self.a24, t))) }
    }

    /// P + Q given P - Q.
    #[inline(always)]
    fn add(&self, p: Point, q: Point, diff: Point) -> Point {
        let m = self.m;
        let u = m.mul(m.sub(p.x, p.z), m.add(q.x, q.z));
        let v = m.mul(m.add(p.x, p.z), m.sub(q.x, q.z));
        let (s, d) = (m.add(u, v), m.sub(u, v));
        Point { x: m.mul(diff.z, m.mul(s, s)), z: m.mul(diff.x, m.mul(d, d)) }
    }

    /// k·P (k ≥ 1) by the Montgomery ladder.
    fn multiply(&self, p: Point, k: u64) -> Point {
        if k == 1 {
            return p;
        }
        let (mut r0, mut r1) = (p, self.double(p));
        for i in (0..63 - k.leading_zeros()).rev() {
            if (k >> i) & 1 == 1 {
                r0 = self.add(r1, r0, p);
                r1 = self.double(r1);
            } else {
                r1 = self.add(r1, r0, p);
                r0 = self.double(r0);
            }
        }
        r0
    }
}

/// What one curve found.
enum Outcome {
    Factor(u64),
    Nothing,
}

/// A non-trivial divisor of the odd composite `n` (not a perfect square),
/// trying curves σ = 6, 7, … up to the budget.
pub(super) fn find_factor(n: u64) -> Option<u64> {
    let m = Montgomery::new(n);
    (6..6 + CURVES).find_map(|sigma| match one_curve(&m, sigma) {
        Outcome::Factor(d) => Some(d),
        Outcome::Nothing => None,
    })
}

/// A divisor from a gcd, if it is a proper one.
fn proper(g: u64, n: u64) -> Outcome {
    if g > 1 && g < n { Outcome::Factor(g) } else { Outcome::Nothing }
}

fn one_curve(m: &Montgomery, sigma: u64) -> Outcome {
    let n = m.n();
    // Suyama: u = σ² - 5, v = 4σ, start (u³ : v³), a24 = (v-u)³(3u+v) / (16u³v).
    let s = m.to(sigma);
    let u = m.sub(m.mul(s, s), m.to(5));
    let v = m.add(m.add(s, s), m.add(s, s));
    let (u3, v3) = (m.mul(m.mul(u, u), u), m.mul(m.mul(v, v), v));
    let w = m.sub(v, u);
    let numerator = m.mul(m.mul(m.mul(w, w), w), m.add(m.add(m.add(u, u), u), v));
    let denominator = m.mul(m.mul(m.to(16), u3), v);
    let a24 = match m.invert(denominator) {
        Ok(inverse) => m.mul(numerator, inverse),
        Err(g) => return proper(g, n),
    };
    let curve = Curve { m, a24 };

    // Stage 1.
    let mut q = Point { x: u3, z: v3 };
    for &k in &STAGE1[..STAGE1_LEN] {
        q = curve.multiply(q, k);
    }
    let g = gcd(m.from(q.z), n);
    if g != 1 {
        return proper(g, n);
    }

    // Stage 2 baby steps: jQ for odd j < D/2, then those coprime to D
    // normalized to Z = 1 with one inversion (Montgomery's trick).
    let two_q = curve.double(q);
    let mut odd = [Point { x: 0, z: 0 }; (D / 4) as usize];
    odd[0] = q;
    odd[1] = curve.add(two_q, q, q);
    for i in 2..odd.len() {
        odd[i] = curve.add(odd[i - 1], two_q, odd[i - 2]);
    }
    let baby = |j: u64| odd[(j / 2) as usize];
    let mut running = [0u64; BABY.len()];
    let mut product = m.one();
    for (r, &j) in running.iter_mut().zip(&BABY) {
        *r = product;
        product = m.mul(product, baby(j).z);
    }
    let mut inverse = match m.invert(product) {
        Ok(i) => i,
        Err(g) => return proper(g, n),
    };
    let mut baby_x = [0u64; BABY.len()];
    for i in (0..BABY.len()).rev() {
        let p = baby(BABY[i]);
        baby_x[i] = m.mul(p.x, m.mul(inverse, running[i]));
        inverse = m.mul(inverse, p.z);
    }

    // Giant steps k·D·Q; for each prime k·D ± j in range, accumulate
    // X_G - x_j·Z_G, which is 0 mod p exactly when (k·D ∓ j)·Q vanishes mod p.
    let step = curve.multiply(q, D);
    let (mut previous, mut giant) = (step, step);
    let mut accumulated = m.one();
    for (k, &mask) in PAIRS.iter().enumerate().skip(1) {
        for (bit, &x) in baby_x.iter().enumerate() {
            if mask >> bit & 1 == 1 {
                accumulated = m.mul(accumulated, m.sub(giant.x, m.mul(x, giant.z)));
            }
        }
        let next = if k == 1 { curve.double(step) } else { curve.add(giant, step, previous) };
        (previous, giant) = (giant, next);
    }
    proper(gcd(m.from(accumulated), n), n)
}
