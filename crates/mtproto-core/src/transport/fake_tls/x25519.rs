//! A real X25519 public value for the ClientHello key_share, without an
//! X25519 implementation: a random x-coordinate of a point on Curve25519
//! (`y² = x³ + 486662·x² + x` has a solution mod 2²⁵⁵−19), doubled three
//! times so it lies in the prime-order subgroup, as a key `k·B` does. Nobody
//! holds its discrete log, which is fine: the proxy never completes a real
//! TLS key exchange, it only has to look like one.

use crypto_bigint::modular::{ConstMontyForm, ConstMontyParams};
use crypto_bigint::{JacobiSymbol, U256, const_monty_params};
use mtproto_crypto::Entropy;

const_monty_params!(P25519, U256, "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed", "2^255 - 19");

type Fe = ConstMontyForm<P25519, { U256::LIMBS }>;

const A: u64 = 486_662;

/// `x³ + A·x² + x`, the right-hand side of the curve equation.
fn rhs(x: &Fe) -> Fe {
    let a = Fe::new(&U256::from_u64(A));
    x.mul(&x.add(&a).mul(x).add(&Fe::ONE))
}

/// `8·P` from the x-coordinate of `P`: three doublings in projective
/// (X : Z) coordinates, `X₂ = (X² − Z²)²`, `Z₂ = 4·X·Z·(X² + A·X·Z + Z²)`,
/// and one inversion (the value is public: variable time is fine). `None`
/// for the point at infinity (P of small order).
fn times_eight(x: &Fe) -> Option<Fe> {
    let a = Fe::new(&U256::from_u64(A));
    let (mut px, mut pz) = (*x, Fe::ONE);
    for _ in 0..3 {
        let (xx, zz, xz) = (px.square(), pz.square(), px.mul(&pz));
        let nx = xx.sub(&zz).square();
        pz = xz.mul(&xx.add(&a.mul(&xz)).add(&zz)).double().double();
        px = nx;
    }
    let inv = pz.invert_vartime().into_option()?;
    Some(px.mul(&inv))
}

fn from_le(bytes: &[u8; 32]) -> Option<Fe> {
    let x = U256::from_le_slice(bytes);
    (x < *P25519::PARAMS.modulus().as_ref()).then(|| Fe::new(&x))
}

/// A random X25519 public value: a point of the prime-order subgroup,
/// little-endian, top bit clear.
pub fn random_point(entropy: &mut (dyn Entropy + Send)) -> [u8; 32] {
    loop {
        let mut b = [0u8; 32];
        entropy.fill(&mut b);
        b[31] &= 0x7f;
        let Some(x) = from_le(&b) else { continue };
        if !matches!(rhs(&x).jacobi_symbol_vartime(), JacobiSymbol::One) {
            continue;
        }
        let Some(x) = times_eight(&x) else { continue };
        if x != Fe::ZERO {
            let mut out = [0u8; 32];
            out.copy_from_slice(&x.retrieve().to_le_bytes());
            return out;
        }
    }
}

/// Whether 32 bytes are the x-coordinate of a point on Curve25519 (not on
/// its twist), by Euler's criterion: `(x³ + A·x² + x)^((p−1)/2) = 1`.
pub fn is_curve_point(bytes: &[u8; 32]) -> bool {
    let Some(x) = from_le(bytes) else { return false };
    // (p - 1) / 2 = 2^254 - 10
    let half = U256::from_be_hex("3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff6");
    rhs(&x).pow(&half) == Fe::ONE
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtproto_crypto::SeededEntropy;

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn published_public_keys_are_curve_points() {
        // RFC 7748 §6.1: Alice's and Bob's public keys, and the base point 9.
        for k in [
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
            "0900000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(is_curve_point(&hex32(k)), "{k}");
        }
        // x = 2 is on the twist: 8 + 4·486662 + 2 is not a square mod p.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert!(!is_curve_point(&two));
    }

    /// Affine doubling, `x₂ = (x² − 1)² / (4·x·(x² + A·x + 1))`.
    fn double_affine(x: &Fe) -> Fe {
        let a = Fe::new(&U256::from_u64(A));
        let x2 = x.square();
        let den = x.mul(&x2.add(&a.mul(x)).add(&Fe::ONE)).double().double();
        x2.sub(&Fe::ONE).square().mul(&den.invert().into_option().unwrap())
    }

    #[test]
    fn projective_times_eight_matches_three_affine_doublings() {
        let mut e = SeededEntropy::new(3);
        for _ in 0..16 {
            let mut b = [0u8; 32];
            e.fill(&mut b);
            b[31] &= 0x7f;
            let x = from_le(&b).unwrap();
            let affine = double_affine(&double_affine(&double_affine(&x)));
            assert_eq!(times_eight(&x), Some(affine));
        }
        // The base point 9 stays on the curve; 0 (order 2) has no multiple.
        let nine = times_eight(&Fe::new(&U256::from_u64(9))).unwrap();
        assert!(is_curve_point(&nine.retrieve().to_le_bytes().into()));
        assert_eq!(times_eight(&Fe::ZERO), None);
    }

    #[test]
    fn random_points_are_on_the_curve_and_vary() {
        let mut e = SeededEntropy::new(7);
        let mut seen = std::collections::HashSet::new();
        let mut twist = 0;
        for _ in 0..64 {
            let p = random_point(&mut e);
            assert!(is_curve_point(&p));
            assert_eq!(p[31] & 0x80, 0);
            seen.insert(p);
            // Half of all random x are on the twist: the check is not vacuous.
            let mut r = [0u8; 32];
            e.fill(&mut r);
            r[31] &= 0x7f;
            twist += usize::from(!is_curve_point(&r));
        }
        assert_eq!(seen.len(), 64);
        assert!((16..=48).contains(&twist), "{twist}");
    }
}
