//! Diffie-Hellman for the auth-key handshake: parameter checks from Telegram's
//! security guidelines and constant-time 2048-bit modular exponentiation.

use crate::CryptoError;
use alloc::vec;
use alloc::vec::Vec;
use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U2048};
use zeroize::Zeroize;

/// Size of dh_prime, g_a, g_b and the auth key in bytes.
pub const DH_BYTES: usize = 256;

/// The 2048-bit safe prime Telegram's servers use (from the official
/// auth-key sample and every server answer seen so far). Recognising it skips
/// the expensive primality test.
pub const TELEGRAM_DH_PRIME: [u8; DH_BYTES] = hex_256(
    b"c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f642477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b",
);

const fn hex_256(s: &[u8; 512]) -> [u8; 256] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex"),
        }
    }
    let mut out = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = (nib(s[2 * i]) << 4) | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// A checked DH group: a 2048-bit safe prime and a generator g in 2..=7 that
/// generates its subgroup of prime order (p-1)/2.
#[derive(Clone, Debug)]
pub struct DhGroup {
    prime: [u8; DH_BYTES],
    g: u32,
    params: FixedMontyParams<{ U2048::LIMBS }>,
    /// The AVX-512 IFMA form of the modulus, when this CPU has IFMA.
    #[cfg(target_arch = "x86_64")]
    ifma: Option<crate::arch::modexp_ifma::IfmaModulus>,
}

/// Remembers primes that passed the safe-prime test, so it runs once per new
/// prime. Starts out knowing [`TELEGRAM_DH_PRIME`].
#[derive(Clone, Debug)]
pub struct PrimeCache {
    verified: Vec<[u8; DH_BYTES]>,
}

impl Default for PrimeCache {
    fn default() -> Self {
        Self { verified: vec![TELEGRAM_DH_PRIME] }
    }
}

impl PrimeCache {
    /// How many primes are known to be safe.
    pub fn len(&self) -> usize {
        self.verified.len()
    }

    /// Whether the cache is empty (it never is unless built so on purpose).
    pub fn is_empty(&self) -> bool {
        self.verified.is_empty()
    }

    /// An empty cache, which runs the full test even for Telegram's prime.
    pub fn empty() -> Self {
        Self { verified: Vec::new() }
    }

    fn check(&mut self, p: &[u8; DH_BYTES]) -> Result<(), CryptoError> {
        if self.verified.iter().any(|v| v == p) {
            return Ok(());
        }
        let n = U2048::from_be_slice(p);
        if !crypto_primes::is_prime(crypto_primes::Flavor::Safe, &n) {
            return Err(CryptoError::DhPrimeNotSafe);
        }
        if self.verified.len() < 16 {
            self.verified.push(*p);
        }
        Ok(())
    }
}

/// `p mod m` for a big-endian byte string and a small modulus.
fn mod_small(p: &[u8], m: u32) -> u32 {
    p.iter().fold(0u64, |acc, &b| ((acc << 8) | b as u64) % m as u64) as u32
}

impl DhGroup {
    /// Checks dh_prime and g as Telegram's security guidelines require:
    /// p is a 2048-bit safe prime and g ∈ {2..7} generates the subgroup of
    /// order (p-1)/2 (g=2: p mod 8 = 7; g=3: p mod 3 = 2; g=4: always;
    /// g=5: p mod 5 ∈ {1,4}; g=6: p mod 24 ∈ {19,23}; g=7: p mod 7 ∈ {3,5,6}).
    ///
    /// # Errors
    /// [`CryptoError::DhPrimeBadLength`], [`CryptoError::DhGeneratorOutOfRange`],
    /// [`CryptoError::DhGeneratorResidue`], [`CryptoError::DhPrimeNotSafe`].
    pub fn new(prime: &[u8], g: u32, cache: &mut PrimeCache) -> Result<Self, CryptoError> {
        let stripped = strip_leading_zeros(prime);
        if stripped.len() != DH_BYTES || stripped[0] & 0x80 == 0 {
            let bits = (stripped.len() * 8).saturating_sub(stripped.first().map_or(8, |b| b.leading_zeros() as usize));
            return Err(CryptoError::DhPrimeBadLength { bits: bits as u32 });
        }
        let mut p = [0u8; DH_BYTES];
        p.copy_from_slice(stripped);
        let residue_ok = match g {
            2 => mod_small(&p, 8) == 7,
            3 => mod_small(&p, 3) == 2,
            4 => true,
            5 => matches!(mod_small(&p, 5), 1 | 4),
            6 => matches!(mod_small(&p, 24), 19 | 23),
            7 => matches!(mod_small(&p, 7), 3 | 5 | 6),
            _ => return Err(CryptoError::DhGeneratorOutOfRange { g }),
        };
        if !residue_ok {
            return Err(CryptoError::DhGeneratorResidue { g });
        }
        cache.check(&p)?;
        let odd = Odd::new(U2048::from_be_slice(&p)).into_option().ok_or(CryptoError::DhPrimeNotSafe)?;
        let params = FixedMontyParams::new_vartime(odd);
        #[cfg(target_arch = "x86_64")]
        let ifma = crate::arch::modexp_ifma::available().then(|| ifma_modulus(&params));
        Ok(Self {
            prime: p,
            g,
            params,
            #[cfg(target_arch = "x86_64")]
            ifma,
        })
    }

    /// The prime as 256 big-endian bytes.
    pub fn prime(&self) -> &[u8; DH_BYTES] {
        &self.prime
    }

    /// The generator.
    pub fn g(&self) -> u32 {
        self.g
    }

    /// Checks 2^(2048-64) <= v <= p - 2^(2048-64) (which implies 1 < v < p - 1).
    ///
    /// # Errors
    /// [`CryptoError::DhValueOutOfRange`].
    pub fn check_public(&self, value: &[u8]) -> Result<(), CryptoError> {
        let v = strip_leading_zeros(value);
        if v.len() > DH_BYTES {
            return Err(CryptoError::DhValueOutOfRange);
        }
        let v = U2048::from_be_slice(&left_pad(v));
        let p = U2048::from_be_slice(&self.prime);
        let bound = U2048::ONE.shl_vartime(2048 - 64);
        let upper = p.wrapping_sub(&bound);
        if v < bound || v > upper {
            return Err(CryptoError::DhValueOutOfRange);
        }
        Ok(())
    }

    /// g^exponent mod p, constant time in the exponent.
    pub fn pow_g(&self, exponent: &[u8; DH_BYTES]) -> [u8; DH_BYTES] {
        self.pow(&left_pad(&(self.g as u64).to_be_bytes()), exponent)
    }

    /// base^exponent mod p, constant time in the exponent. `base` must be below
    /// p (check it with [`DhGroup::check_public`] first when it comes from a peer).
    ///
    /// Runs on AVX-512 IFMA where the CPU has it (about six times faster on
    /// the machines we measured), otherwise on crypto-bigint.
    pub fn pow(&self, base: &[u8; DH_BYTES], exponent: &[u8; DH_BYTES]) -> [u8; DH_BYTES] {
        #[cfg(target_arch = "x86_64")]
        if let Some(ifma) = &self.ifma {
            let b = U2048::from_be_slice(base);
            let mut e = U2048::from_be_slice(exponent);
            // `None` when the CPU lacks IFMA after all: the portable path below.
            let words = ifma.pow(b.as_words(), e.as_words());
            e.zeroize();
            if let Some(mut words) = words {
                let r = U2048::from_words(words);
                words.zeroize();
                return to_bytes_wiping(r);
            }
        }
        self.pow_portable(base, exponent)
    }

    /// [`DhGroup::pow`] on crypto-bigint whatever the CPU (for differential
    /// tests and benchmarks).
    #[doc(hidden)]
    pub fn pow_portable(&self, base: &[u8; DH_BYTES], exponent: &[u8; DH_BYTES]) -> [u8; DH_BYTES] {
        let b = U2048::from_be_slice(base);
        let mut e = U2048::from_be_slice(exponent);
        let mut m = FixedMontyForm::new(&b, &self.params).pow(&e);
        e.zeroize();
        let r = m.retrieve();
        m.zeroize();
        to_bytes_wiping(r)
    }
}

/// The 256 big-endian bytes of `r`, wiping `r` and the intermediate encoding.
fn to_bytes_wiping(mut r: U2048) -> [u8; DH_BYTES] {
    let mut encoded = r.to_be_bytes();
    r.zeroize();
    let mut out = [0u8; DH_BYTES];
    out.copy_from_slice(encoded.as_ref());
    encoded.zeroize();
    out
}

/// The IFMA form of a modulus: crypto-bigint's R = 2^2048 values scaled to
/// R = 2^2080 by modular doublings (the modulus is public: variable time is fine).
#[cfg(target_arch = "x86_64")]
pub(crate) fn ifma_modulus(params: &FixedMontyParams<{ U2048::LIMBS }>) -> crate::arch::modexp_ifma::IfmaModulus {
    let n = params.modulus().as_nz_ref();
    let double_times = |mut x: U2048, times: usize| {
        for _ in 0..times {
            x = x.add_mod(&x, n);
        }
        x
    };
    let r = double_times(*params.one(), 32);
    let r2 = double_times(*params.r2(), 64);
    crate::arch::modexp_ifma::IfmaModulus::new(params.modulus().as_ref().as_words(), r.as_words(), r2.as_words())
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// Left-pads a big-endian number of at most 256 bytes to exactly 256 bytes.
/// Longer input keeps its low 256 bytes (callers check lengths first).
pub fn left_pad(b: &[u8]) -> [u8; DH_BYTES] {
    let mut out = [0u8; DH_BYTES];
    let b = if b.len() > DH_BYTES { &b[b.len() - DH_BYTES..] } else { b };
    out[DH_BYTES - b.len()..].copy_from_slice(b);
    out
}

/// Minimal big-endian bytes of a 256-byte number (as TL `bytes` carry g_a and g_b).
pub fn trim(b: &[u8]) -> &[u8] {
    strip_leading_zeros(b)
}
