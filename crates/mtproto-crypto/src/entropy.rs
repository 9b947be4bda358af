//! Randomness, injected.
//!
//! Nothing in this workspace reads a global RNG: every function that needs
//! random bytes takes an [`Entropy`]. [`OsEntropy`] seeds an AES-256-CTR
//! keystream generator from the OS once, so per-message padding costs no
//! system call; [`SeededEntropy`] is the same generator with a caller-given
//! seed, for deterministic tests and simulations.

use crate::CryptoError;
use aes::Aes256;
use alloc::boxed::Box;
use alloc::vec::Vec;
use ctr::Ctr128BE;
use ctr::cipher::{KeyIvInit, StreamCipher};
use zeroize::Zeroize;

/// A source of random bytes.
pub trait Entropy {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]);

    /// A random `u64`.
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }

    /// A random array.
    fn array<const N: usize>(&mut self) -> [u8; N]
    where
        Self: Sized,
    {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }
}

impl<E: Entropy + ?Sized> Entropy for &mut E {
    fn fill(&mut self, dest: &mut [u8]) {
        (**self).fill(dest);
    }
}

impl<E: Entropy + ?Sized> Entropy for Box<E> {
    fn fill(&mut self, dest: &mut [u8]) {
        (**self).fill(dest);
    }
}

/// AES-256-CTR keystream generator: 48 bytes of seed, then as many bytes as asked.
struct CtrDrbg {
    stream: Ctr128BE<Aes256>,
}

impl CtrDrbg {
    fn new(seed: &mut [u8; 48]) -> Self {
        let mut key = [0u8; 32];
        let mut iv = [0u8; 16];
        key.copy_from_slice(&seed[..32]);
        iv.copy_from_slice(&seed[32..]);
        let stream = Ctr128BE::<Aes256>::new(&key.into(), &iv.into());
        key.zeroize();
        iv.zeroize();
        seed.zeroize();
        Self { stream }
    }

    fn fill(&mut self, dest: &mut [u8]) {
        dest.fill(0);
        self.stream.apply_keystream(dest);
    }
}

/// The default entropy: a CSPRNG seeded once from the operating system.
pub struct OsEntropy {
    drbg: CtrDrbg,
    produced: u64,
}

/// Bytes produced before [`OsEntropy`] reseeds itself from the OS.
const RESEED_AFTER: u64 = 1 << 30;

impl OsEntropy {
    /// Seeds a new generator from the OS random source.
    ///
    /// # Errors
    /// [`CryptoError::EntropyUnavailable`] when the OS source fails.
    pub fn new() -> Result<Self, CryptoError> {
        let mut seed = [0u8; 48];
        getrandom::fill(&mut seed).map_err(|_| CryptoError::EntropyUnavailable)?;
        Ok(Self { drbg: CtrDrbg::new(&mut seed), produced: 0 })
    }
}

impl Entropy for OsEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        self.produced += dest.len() as u64;
        if self.produced > RESEED_AFTER {
            let mut seed = [0u8; 48];
            // A failed reseed keeps the current (still secure) stream.
            if getrandom::fill(&mut seed).is_ok() {
                self.drbg = CtrDrbg::new(&mut seed);
                self.produced = 0;
            }
        }
        self.drbg.fill(dest);
    }
}

impl core::fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("OsEntropy")
    }
}

/// A deterministic generator for tests and simulations: the same seed gives
/// the same bytes on every platform. Not for production keys.
pub struct SeededEntropy {
    drbg: CtrDrbg,
}

impl SeededEntropy {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        let mut s = [0u8; 48];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        s[8..16].copy_from_slice(b"mtproto!");
        Self { drbg: CtrDrbg::new(&mut s) }
    }
}

impl Entropy for SeededEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        self.drbg.fill(dest);
    }
}

impl core::fmt::Debug for SeededEntropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SeededEntropy")
    }
}

/// Replays fixed bytes, then fails loudly: for known-answer tests that must
/// feed published randomness (a nonce, RSA padding, a DH exponent) in order.
#[derive(Debug, Clone)]
pub struct ReplayEntropy {
    bytes: Vec<u8>,
    pos: usize,
    fallback: Option<u64>,
}

impl ReplayEntropy {
    /// Replays `bytes`; once they run out, further requests are served by a
    /// [`SeededEntropy`] built from `fallback`, or panic when it is `None`
    /// (a test that asks for more randomness than it published is wrong).
    pub fn new(bytes: Vec<u8>, fallback: Option<u64>) -> Self {
        Self { bytes, pos: 0, fallback }
    }

    /// How many of the given bytes were consumed.
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

impl Entropy for ReplayEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        let left = self.bytes.len() - self.pos;
        if dest.len() <= left {
            dest.copy_from_slice(&self.bytes[self.pos..self.pos + dest.len()]);
            self.pos += dest.len();
        } else {
            #[allow(clippy::panic)]
            let seed = self.fallback.unwrap_or_else(|| panic!("ReplayEntropy exhausted"));
            SeededEntropy::new(seed ^ self.pos as u64).fill(dest);
            self.pos += dest.len();
        }
    }
}

/// Adapts an [`Entropy`] to the `rand_core` traits the `rsa` crate takes.
#[derive(Debug)]
pub struct RandCoreAdapter<'a, E: Entropy>(pub &'a mut E);

impl<E: Entropy> rand_core::TryRng for RandCoreAdapter<'_, E> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}

impl<E: Entropy> rand_core::TryCryptoRng for RandCoreAdapter<'_, E> {}
