//! Randomness, injected.
//!
//! Nothing in this workspace reads a global RNG: every function that needs
//! random bytes takes an [`Entropy`]. [`OsEntropy`] seeds an AES-256-CTR
//! generator from the OS, so per-message padding costs no `getrandom` call;
//! [`Entropy::fork`] derives an independent child generator
//! ([`ForkedEntropy`], 384 bits of seed drawn from the parent) for a
//! component that needs its own stream. [`SeededEntropy`] and
//! [`ReplayEntropy`] are for tests and simulations only.
//!
//! The generator behind [`OsEntropy`], [`ForkedEntropy`] and
//! [`SeededEntropy`] is a CTR_DRBG in the manner of NIST SP 800-90A (no
//! derivation function): each request is served from the AES-256 keystream
//! of the current key and counter, and is followed by an update step that
//! draws 48 more keystream bytes and makes them the new key and counter. A
//! generator's state captured after a request therefore does not reveal the
//! bytes it produced before (backtracking resistance).

use crate::CryptoError;
use aes::Aes256;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use alloc::boxed::Box;
use alloc::vec::Vec;
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

    /// An independent child generator for a component that needs its own
    /// stream: a [`ForkedEntropy`] seeded with [`ForkedEntropy::SEED_LEN`]
    /// bytes (a 256-bit key and a 128-bit counter) drawn from `self`.
    ///
    /// The child is deterministic when `self` is, so seeded simulations
    /// replay; its output reveals nothing about the parent's other output.
    ///
    /// # Examples
    ///
    /// ```
    /// use mtproto_crypto::{Entropy, SeededEntropy};
    /// let (mut a, mut b) = (SeededEntropy::new(5), SeededEntropy::new(5));
    /// let (mut x, mut y) = (a.fork(), b.fork());
    /// assert_eq!(x.next_u64(), y.next_u64(), "deterministic under a deterministic parent");
    /// assert_ne!(a.next_u64(), x.next_u64(), "and not the parent's stream");
    /// ```
    fn fork(&mut self) -> Box<dyn Entropy + Send> {
        Box::new(ForkedEntropy::from_parent(self))
    }
}

impl<E: Entropy + ?Sized> Entropy for &mut E {
    fn fill(&mut self, dest: &mut [u8]) {
        (**self).fill(dest);
    }

    fn fork(&mut self) -> Box<dyn Entropy + Send> {
        (**self).fork()
    }
}

impl<E: Entropy + ?Sized> Entropy for Box<E> {
    fn fill(&mut self, dest: &mut [u8]) {
        (**self).fill(dest);
    }

    fn fork(&mut self) -> Box<dyn Entropy + Send> {
        (**self).fork()
    }
}

/// Bytes of a generator seed: a 256-bit AES key, then the 128-bit counter.
const SEED_LEN: usize = 48;

/// Keystream blocks an update step takes (key and counter).
const UPDATE_BLOCKS: usize = SEED_LEN / 16;

/// The CTR_DRBG core: AES-256 under `cipher`, keystream block `i` of a
/// request is `AES(v + i)` (big-endian), and every request ends with an
/// update that rekeys from the keystream.
struct CtrDrbg {
    cipher: Aes256,
    v: u128,
}

impl CtrDrbg {
    /// A generator whose key is `seed[..32]` and counter `seed[32..]`; wipes `seed`.
    fn new(seed: &mut [u8; SEED_LEN]) -> Self {
        let mut key = [0u8; 32];
        let mut v = [0u8; 16];
        key.copy_from_slice(&seed[..32]);
        v.copy_from_slice(&seed[32..]);
        let me = Self { cipher: Aes256::new(&Array::from(key)), v: u128::from_be_bytes(v) };
        key.zeroize();
        v.zeroize();
        seed.zeroize();
        me
    }

    /// Writes the next counter blocks into `blocks` and encrypts them in place.
    fn keystream(&mut self, blocks: &mut [[u8; 16]]) {
        for b in blocks.iter_mut() {
            *b = self.v.to_be_bytes();
            self.v = self.v.wrapping_add(1);
        }
        self.cipher.encrypt_blocks(Array::cast_slice_from_core_mut(blocks));
    }

    /// Replaces key and counter with 48 bytes of `material` (the old cipher's
    /// round keys are wiped when it is dropped: `aes` is built with `zeroize`).
    fn rekey(&mut self, material: &[[u8; 16]]) {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(&material[0]);
        key[16..].copy_from_slice(&material[1]);
        self.cipher = Aes256::new(&Array::from(key));
        self.v.zeroize();
        self.v = u128::from_be_bytes(material[2]);
        key.zeroize();
    }

    fn fill(&mut self, dest: &mut [u8]) {
        let (whole, tail) = dest.as_chunks_mut::<16>();
        if !whole.is_empty() {
            self.keystream(whole);
        }
        // The partial block (if any) and the update share one encryption call;
        // what is left of the partial block is discarded.
        let mut extra = [[0u8; 16]; 1 + UPDATE_BLOCKS];
        let partial = usize::from(!tail.is_empty());
        self.keystream(&mut extra[..partial + UPDATE_BLOCKS]);
        if partial == 1 {
            tail.copy_from_slice(&extra[0][..tail.len()]);
        }
        self.rekey(&extra[partial..partial + UPDATE_BLOCKS]);
        extra.zeroize();
    }

    /// Mixes `input` into the state: the new key and counter are `input`
    /// XOR 48 keystream bytes taken at counters offset by 2^127 from the
    /// current one, a range the output does not reach, so the result stays
    /// a secret function of the old state even when `input` is public.
    fn reseed(&mut self, input: &[u8; SEED_LEN]) {
        let mut material = [[0u8; 16]; UPDATE_BLOCKS];
        for (i, b) in material.iter_mut().enumerate() {
            *b = (self.v ^ (1u128 << 127)).wrapping_add(i as u128).to_be_bytes();
        }
        self.cipher.encrypt_blocks(Array::cast_slice_from_core_mut(&mut material));
        for (i, b) in material.iter_mut().flatten().enumerate() {
            *b ^= input[i];
        }
        self.rekey(&material);
        material.zeroize();
    }
}

impl Drop for CtrDrbg {
    fn drop(&mut self) {
        self.v.zeroize();
    }
}

/// The default entropy: a CSPRNG seeded from the operating system.
///
/// It reseeds itself from the OS after every 2^30 bytes, and (with the `std`
/// feature) whenever [`std::process::id`] differs from the id it was seeded
/// under: a child process created by `fork(2)` inherits a copy of the
/// generator, and without the check would repeat the parent's stream. The
/// check costs one `getpid` system call per [`Entropy::fill`]. Should the OS
/// source fail at that point, the new process id is mixed into the state
/// instead, so the child's stream still differs from the parent's.
pub struct OsEntropy {
    drbg: CtrDrbg,
    produced: u64,
    #[cfg(feature = "std")]
    pid: u32,
}

/// Bytes produced before [`OsEntropy`] reseeds itself from the OS.
const RESEED_AFTER: u64 = 1 << 30;

impl OsEntropy {
    /// Seeds a new generator from the OS random source.
    ///
    /// # Errors
    /// [`CryptoError::EntropyUnavailable`] when the OS source fails.
    pub fn new() -> Result<Self, CryptoError> {
        let mut seed = [0u8; SEED_LEN];
        getrandom::fill(&mut seed).map_err(|_| CryptoError::EntropyUnavailable)?;
        Ok(Self::from_seed(&mut seed))
    }

    fn from_seed(seed: &mut [u8; SEED_LEN]) -> Self {
        Self {
            drbg: CtrDrbg::new(seed),
            produced: 0,
            #[cfg(feature = "std")]
            pid: std::process::id(),
        }
    }

    /// Mixes fresh OS bytes (and the process id, when known) into the state;
    /// returns whether the OS source delivered.
    fn reseed(&mut self) -> bool {
        let mut fresh = [0u8; SEED_LEN];
        let ok = getrandom::fill(&mut fresh).is_ok();
        if !ok {
            fresh.zeroize();
        }
        #[cfg(feature = "std")]
        for (b, p) in fresh.iter_mut().zip(self.pid.to_le_bytes()) {
            *b ^= p;
        }
        self.drbg.reseed(&fresh);
        fresh.zeroize();
        ok
    }

    /// Reseeds when running under another process id than the state was made in.
    #[cfg(feature = "std")]
    fn check_pid(&mut self, pid: u32) {
        if pid != self.pid {
            self.pid = pid;
            if self.reseed() {
                self.produced = 0;
            }
        }
    }
}

impl Entropy for OsEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        #[cfg(feature = "std")]
        self.check_pid(std::process::id());
        self.produced += dest.len() as u64;
        // A failed reseed keeps the current (still secure) stream.
        if self.produced > RESEED_AFTER && self.reseed() {
            self.produced = 0;
        }
        self.drbg.fill(dest);
    }
}

impl core::fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("OsEntropy")
    }
}

/// A child generator made by [`Entropy::fork`]: the CTR_DRBG of
/// [`OsEntropy`], seeded with [`ForkedEntropy::SEED_LEN`] bytes drawn from a
/// parent generator. Deterministic when the parent is.
///
/// Unlike [`OsEntropy`] it does not watch the process id: a process that
/// forks after creating one (or a Connection holding one) must not use it
/// in both processes; create new generators in the child.
///
/// Small requests (a message's padding, an id) are served from a
/// [`FORK_BUFFER`]-byte block of keystream: every byte is wiped as it is
/// handed out, and the generator rekeys after producing each block, so what
/// it already gave out cannot be recomputed from its state (the same
/// backtracking resistance as a rekey per request, at one key schedule per
/// block instead of one per message). Requests over half a block go to the
/// generator directly.
pub struct ForkedEntropy {
    drbg: CtrDrbg,
    buf: [u8; FORK_BUFFER],
    /// Bytes of `buf` already handed out (and wiped).
    used: usize,
}

/// Bytes of keystream a [`ForkedEntropy`] produces at once for small requests.
pub const FORK_BUFFER: usize = 512;

impl ForkedEntropy {
    /// Bytes drawn from the parent: a 256-bit AES key and a 128-bit counter.
    pub const SEED_LEN: usize = SEED_LEN;

    /// Seeds a child with [`ForkedEntropy::SEED_LEN`] bytes drawn from `parent`.
    pub fn from_parent<E: Entropy + ?Sized>(parent: &mut E) -> Self {
        let mut seed = [0u8; SEED_LEN];
        parent.fill(&mut seed);
        Self { drbg: CtrDrbg::new(&mut seed), buf: [0; FORK_BUFFER], used: FORK_BUFFER }
    }
}

impl Entropy for ForkedEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        if dest.len() > FORK_BUFFER / 2 {
            self.drbg.fill(dest);
            return;
        }
        let mut done = 0;
        while done < dest.len() {
            if self.used == FORK_BUFFER {
                self.drbg.fill(&mut self.buf);
                self.used = 0;
            }
            let n = (dest.len() - done).min(FORK_BUFFER - self.used);
            let served = &mut self.buf[self.used..self.used + n];
            dest[done..done + n].copy_from_slice(served);
            served.zeroize();
            self.used += n;
            done += n;
        }
    }
}

impl Drop for ForkedEntropy {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl core::fmt::Debug for ForkedEntropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ForkedEntropy")
    }
}

/// A deterministic generator for tests and simulations: the same seed gives
/// the same bytes on every platform.
///
/// For tests only: its whole output is a function of a 64-bit seed, so it
/// must never produce keys, nonces or padding for real peers. No production
/// path in this workspace constructs it; components that need their own
/// generator get one from [`Entropy::fork`].
pub struct SeededEntropy {
    drbg: CtrDrbg,
}

impl SeededEntropy {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        let mut s = [0u8; SEED_LEN];
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
/// A test type: its fallback is a [`SeededEntropy`], never use it in production.
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

#[cfg(test)]
mod tests {
    use super::*;
    use ctr::Ctr128BE;
    use ctr::cipher::{KeyIvInit, StreamCipher};

    /// Counts the bytes drawn through it.
    struct Counting<E> {
        inner: E,
        drawn: usize,
    }

    impl<E: Entropy> Entropy for Counting<E> {
        fn fill(&mut self, dest: &mut [u8]) {
            self.drawn += dest.len();
            self.inner.fill(dest);
        }
    }

    fn bytes(e: &mut dyn Entropy, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        e.fill(&mut v);
        v
    }

    /// Plain AES-256-CTR keystream (no update step) over a 48-byte seed.
    fn plain_ctr(seed: &[u8; SEED_LEN], n: usize) -> Vec<u8> {
        let mut key = [0u8; 32];
        let mut iv = [0u8; 16];
        key.copy_from_slice(&seed[..32]);
        iv.copy_from_slice(&seed[32..]);
        let mut out = vec![0u8; n];
        Ctr128BE::<Aes256>::new(&key.into(), &iv.into()).apply_keystream(&mut out);
        out
    }

    #[test]
    fn fork_draws_a_full_seed_from_its_parent() {
        let mut parent = Counting { inner: SeededEntropy::new(9), drawn: 0 };
        let _child = parent.fork();
        assert!(parent.drawn >= 32, "a fork drew only {} bytes", parent.drawn);
        assert_eq!(parent.drawn, ForkedEntropy::SEED_LEN);
        // Through the `&mut` forwarding impl, and the constructor.
        let mut by_ref = Counting { inner: SeededEntropy::new(9), drawn: 0 };
        let _ = Entropy::fork(&mut &mut by_ref);
        assert_eq!(by_ref.drawn, ForkedEntropy::SEED_LEN);
        let mut direct = Counting { inner: SeededEntropy::new(9), drawn: 0 };
        let _ = ForkedEntropy::from_parent(&mut direct);
        assert_eq!(direct.drawn, ForkedEntropy::SEED_LEN);
    }

    #[test]
    fn forks_are_deterministic_and_not_a_64_bit_reseed() {
        let mut a = SeededEntropy::new(42).fork();
        let mut b = SeededEntropy::new(42).fork();
        let stream = bytes(&mut *a, 200);
        assert_eq!(stream, bytes(&mut *b, 200));
        assert_ne!(stream, bytes(&mut *SeededEntropy::new(43).fork(), 200));
        // What the old code built: a SeededEntropy from one u64 of the parent.
        let old_seed = SeededEntropy::new(42).next_u64();
        assert_ne!(stream, bytes(&mut SeededEntropy::new(old_seed), 200));
        // A child's stream is not its parent's continuation either.
        let mut parent = SeededEntropy::new(42);
        let mut child = parent.fork();
        assert_ne!(bytes(&mut *child, 64), bytes(&mut parent, 64));
        assert_eq!(format!("{:?}", ForkedEntropy::from_parent(&mut parent)), "ForkedEntropy");
    }

    #[test]
    fn every_request_rekeys_the_generator() {
        let seed: [u8; SEED_LEN] = core::array::from_fn(|i| (i * 7 + 1) as u8);
        let mut drbg = CtrDrbg::new(&mut seed.clone());
        // The first request is the plain CTR keystream; after it the update
        // step has replaced key and counter, so the second is not.
        let mut first = [0u8; 32];
        drbg.fill(&mut first);
        let reference = plain_ctr(&seed, 64);
        assert_eq!(first[..], reference[..32]);
        let probe = |d: &CtrDrbg| {
            let mut b = Array::from([0u8; 16]);
            d.cipher.encrypt_block(&mut b);
            <[u8; 16]>::from(b)
        };
        let (key_before, v_before) = (probe(&drbg), drbg.v);
        let mut second = [0u8; 32];
        drbg.fill(&mut second);
        assert_ne!(second[..], reference[32..]);
        assert_ne!(probe(&drbg), key_before, "the key did not change");
        assert_ne!(drbg.v, v_before.wrapping_add(2), "the counter only advanced");
        // The same through the public generators: equal seeds, equal streams,
        // and a stream unlike the CTR keystream over the same seed (requests
        // over half of FORK_BUFFER go to the generator directly; smaller ones
        // are served from a block and rekey per block, tested below).
        let big = FORK_BUFFER / 2 + 16;
        let reference = plain_ctr(&seed, 2 * big);
        let mut x = ForkedEntropy::from_parent(&mut ReplayEntropy::new(seed.to_vec(), None));
        let mut y = ForkedEntropy::from_parent(&mut ReplayEntropy::new(seed.to_vec(), None));
        let (xs, ys) =
            ([bytes(&mut x, big), bytes(&mut x, big)].concat(), [bytes(&mut y, big), bytes(&mut y, big)].concat());
        assert_eq!(xs, ys);
        assert_eq!(xs[..big], reference[..big]);
        assert_ne!(xs, reference);
        // And through `SeededEntropy` alone (its seed layout is fixed): the
        // old generator was the plain keystream, request after request.
        let mut seeded_seed = [0u8; SEED_LEN];
        seeded_seed[..8].copy_from_slice(&77u64.to_le_bytes());
        seeded_seed[8..16].copy_from_slice(b"mtproto!");
        let mut seeded = SeededEntropy::new(77);
        let two = [bytes(&mut seeded, 32), bytes(&mut seeded, 32)].concat();
        let plain = plain_ctr(&seeded_seed, 64);
        assert_eq!(two[..32], plain[..32]);
        assert_ne!(two[32..], plain[32..], "the second request continued the old keystream");
    }

    #[test]
    fn partial_blocks_and_empty_requests() {
        let mut a = SeededEntropy::new(5);
        let mut b = SeededEntropy::new(5);
        // A partial block is cut from a fresh block and followed by the
        // update, so 5 bytes are the first 5 of a 16-byte request.
        assert_eq!(bytes(&mut a, 5)[..], bytes(&mut b, 16)[..5]);
        assert_eq!(bytes(&mut a, 37), bytes(&mut b, 37));
        // An empty request still rekeys.
        let before = bytes(&mut SeededEntropy::new(6), 16);
        let mut c = SeededEntropy::new(6);
        c.fill(&mut []);
        assert_ne!(bytes(&mut c, 16), before);
    }

    #[test]
    fn reseed_mixes_input_into_a_secret_state() {
        let seed = [3u8; SEED_LEN];
        let (mut a, mut b, mut c) =
            (CtrDrbg::new(&mut seed.clone()), CtrDrbg::new(&mut seed.clone()), CtrDrbg::new(&mut seed.clone()));
        let mut input = [0u8; SEED_LEN];
        a.reseed(&input);
        input[0] = 1;
        b.reseed(&input);
        let (mut x, mut y, mut z) = ([0u8; 48], [0u8; 48], [0u8; 48]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_ne!(x, y);
        // Not the output the un-reseeded generator gives.
        assert_ne!(x, z);
        assert_ne!(x, [0u8; 48]);
    }

    #[cfg(feature = "std")]
    #[test]
    fn os_entropy_reseeds_in_a_new_process() {
        let seed = [11u8; SEED_LEN];
        let mut same = OsEntropy::from_seed(&mut seed.clone());
        let mut twin = OsEntropy::from_seed(&mut seed.clone());
        let mut forked = OsEntropy::from_seed(&mut seed.clone());
        // As if `forked` had been seeded in a parent process.
        forked.pid = std::process::id().wrapping_add(1);
        let (mut a, mut b, mut c) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        same.fill(&mut a);
        twin.fill(&mut b);
        forked.fill(&mut c);
        assert_eq!(a, b, "no reseed while the process id is unchanged");
        assert_ne!(a, c, "a new process id must reseed");
        assert_eq!(forked.pid, std::process::id());
        assert_eq!(format!("{same:?}"), "OsEntropy");
    }

    #[test]
    fn os_entropy_streams_differ() {
        let mut a = OsEntropy::new().expect("os entropy");
        let mut b = OsEntropy::new().expect("os entropy");
        assert_ne!(bytes(&mut a, 32), bytes(&mut b, 32));
        assert_ne!(bytes(&mut a, 32), bytes(&mut a, 32));
    }

    #[test]
    fn aes_wipes_its_key_schedule() {
        fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroize_on_drop::<Aes256>();
    }

    #[test]
    fn forked_buffer_wipes_what_it_served_and_matches_the_generator() {
        let mut a = ForkedEntropy::from_parent(&mut SeededEntropy::new(9));
        let mut direct = ForkedEntropy::from_parent(&mut SeededEntropy::new(9));
        let mut small = [0u8; 20];
        a.fill(&mut small);
        assert!(a.buf[..20].iter().all(|&b| b == 0), "served bytes are wiped");
        assert!(a.buf[20..].iter().any(|&b| b != 0));
        // The first block is the generator's first FORK_BUFFER bytes.
        let mut block = [0u8; FORK_BUFFER];
        direct.drbg.fill(&mut block);
        assert_eq!(small, block[..20]);
        // Across a block boundary the stream continues from the next block
        // of the (rekeyed) generator.
        let mut rest = vec![0u8; FORK_BUFFER - 20];
        for chunk in rest.chunks_mut(100) {
            a.fill(chunk);
        }
        assert_eq!(rest, block[20..]);
        let mut next = [0u8; 16];
        a.fill(&mut next);
        let mut block2 = [0u8; FORK_BUFFER];
        direct.drbg.fill(&mut block2);
        assert_eq!(next, block2[..16]);
    }
}
