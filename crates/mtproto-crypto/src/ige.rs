//! AES-256 in IGE mode, in place.
//!
//! IGE chains both the previous ciphertext block and the previous plaintext
//! block: `c_i = E(p_i ^ c_{i-1}) ^ p_{i-1}`, with `c_0 = iv[0..16]` and
//! `p_0 = iv[16..32]`. The chain is serial, so its speed is the latency of one
//! AES block. On x86-64 CPUs with AES-NI the whole loop runs in one function
//! compiled for AES-NI (see the private `ige_ni` module); elsewhere the
//! portable loop below drives the `aes` crate one block at a time.

use crate::CryptoError;
use aes::Aes256;
use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use zeroize::Zeroize;

/// Which implementation [`encrypt`] and [`decrypt`] use on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The whole IGE loop compiled for AES-NI, detected at run time.
    AesNi,
    /// The `aes` crate, one block call at a time.
    Portable,
}

/// The backend chosen on this CPU.
pub fn backend() -> Backend {
    #[cfg(target_arch = "x86_64")]
    if crate::arch::ige_ni::available() {
        return Backend::AesNi;
    }
    Backend::Portable
}

fn check_len(buf: &[u8]) -> Result<(), CryptoError> {
    if buf.len().is_multiple_of(16) { Ok(()) } else { Err(CryptoError::NotBlockAligned { len: buf.len() }) }
}

/// Encrypts `buf` in place with AES-256-IGE.
///
/// # Errors
/// [`CryptoError::NotBlockAligned`] when `buf.len()` is not a multiple of 16.
///
/// # Examples
///
/// The `verify_ige_encryption` vector of grammers (Lonami/grammers,
/// grammers-crypto/src/lib.rs):
///
/// ```
/// use mtproto_crypto::ige;
/// let key: [u8; 32] = core::array::from_fn(|i| i as u8);
/// let mut buf: Vec<u8> = (0u8..32).collect();
/// ige::encrypt(&key, &key, &mut buf)?;
/// assert_eq!(buf[..4], [0xe2, 0x81, 0x12, 0xa5]);
/// ige::decrypt(&key, &key, &mut buf)?;
/// assert_eq!(buf, (0u8..32).collect::<Vec<u8>>());
/// // Only whole 16-byte blocks:
/// assert!(ige::encrypt(&key, &key, &mut [0u8; 17]).is_err());
/// # Ok::<(), mtproto_crypto::CryptoError>(())
/// ```
pub fn encrypt(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) -> Result<(), CryptoError> {
    check_len(buf)?;
    #[cfg(target_arch = "x86_64")]
    if crate::arch::ige_ni::available() {
        crate::arch::ige_ni::encrypt(key, iv, buf);
        return Ok(());
    }
    encrypt_portable(key, iv, buf)
}

/// Decrypts `buf` in place with AES-256-IGE.
///
/// # Errors
/// [`CryptoError::NotBlockAligned`] when `buf.len()` is not a multiple of 16.
///
/// # Examples
///
/// Telethon's (2018) `test_aes_decrypt` vector:
///
/// ```
/// use mtproto_crypto::ige;
/// let hex = |s: &str| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>();
/// let key: [u8; 32] = hex("d1f44d58790cf82f7a2ce9f9a41704d943c9ab6181f3f8ddcb0c3692011fc279").try_into().unwrap();
/// let iv: [u8; 32] = hex("3a02917890446aa6039043089e4058b545ff7779f31cdedefb6f8d6dd6652e5a").try_into().unwrap();
/// let mut buf = hex("57d1ed2701a663c3cbefaae51d1a5b1bdfcd491f3e5a0a09b9d23dba46d18e27");
/// ige::decrypt(&key, &iv, &mut buf)?;
/// assert_eq!(buf, b"My len is more uniform, promise!");
/// # Ok::<(), mtproto_crypto::CryptoError>(())
/// ```
pub fn decrypt(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) -> Result<(), CryptoError> {
    check_len(buf)?;
    #[cfg(target_arch = "x86_64")]
    if crate::arch::ige_ni::available() {
        crate::arch::ige_ni::decrypt(key, iv, buf);
        return Ok(());
    }
    decrypt_portable(key, iv, buf)
}

fn split_iv(iv: &[u8; 32]) -> ([u8; 16], [u8; 16]) {
    let mut lo = [0u8; 16];
    let mut hi = [0u8; 16];
    lo.copy_from_slice(&iv[..16]);
    hi.copy_from_slice(&iv[16..]);
    (lo, hi)
}

/// The portable encryption loop on the `aes` crate (public for differential tests
/// and benchmarks; [`encrypt`] picks the fastest backend by itself).
///
/// # Errors
/// [`CryptoError::NotBlockAligned`] when `buf.len()` is not a multiple of 16.
pub fn encrypt_portable(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) -> Result<(), CryptoError> {
    check_len(buf)?;
    encrypt_blocks_portable(key, iv, buf);
    Ok(())
}

/// The portable encryption of the whole blocks of `buf` (a trailing partial
/// block is left alone); the fallback of the AES-NI wrappers.
pub(crate) fn encrypt_blocks_portable(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    let (prev_c, prev_p) = split_iv(iv);
    encrypt_with_cipher(&Aes256::new(&Array::from(*key)), prev_c, prev_p, buf);
}

/// The IGE encryption loop over whole blocks with a keyed `aes` cipher (also
/// the benchmark floor's IGE pass).
pub(crate) fn encrypt_with_cipher(cipher: &Aes256, mut prev_c: [u8; 16], mut prev_p: [u8; 16], buf: &mut [u8]) {
    for chunk in buf.chunks_exact_mut(16) {
        let mut p = [0u8; 16];
        p.copy_from_slice(chunk);
        let mut x = [0u8; 16];
        for i in 0..16 {
            x[i] = p[i] ^ prev_c[i];
        }
        let mut block = Array::from(x);
        cipher.encrypt_block(&mut block);
        for i in 0..16 {
            chunk[i] = block[i] ^ prev_p[i];
        }
        prev_c.copy_from_slice(chunk);
        prev_p = p;
    }
    prev_p.zeroize();
}

/// The portable decryption loop on the `aes` crate (public for differential tests
/// and benchmarks; [`decrypt`] picks the fastest backend by itself).
///
/// # Errors
/// [`CryptoError::NotBlockAligned`] when `buf.len()` is not a multiple of 16.
pub fn decrypt_portable(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) -> Result<(), CryptoError> {
    check_len(buf)?;
    decrypt_blocks_portable(key, iv, buf);
    Ok(())
}

/// The portable decryption of the whole blocks of `buf` (a trailing partial
/// block is left alone); the fallback of the AES-NI wrappers.
pub(crate) fn decrypt_blocks_portable(key: &[u8; 32], iv: &[u8; 32], buf: &mut [u8]) {
    let cipher = Aes256::new(&Array::from(*key));
    let (mut prev_c, mut prev_p) = split_iv(iv);
    for chunk in buf.chunks_exact_mut(16) {
        let mut c = [0u8; 16];
        c.copy_from_slice(chunk);
        let mut x = [0u8; 16];
        for i in 0..16 {
            x[i] = c[i] ^ prev_p[i];
        }
        let mut block = Array::from(x);
        cipher.decrypt_block(&mut block);
        for i in 0..16 {
            chunk[i] = block[i] ^ prev_c[i];
        }
        prev_p.copy_from_slice(chunk);
        prev_c = c;
    }
    prev_p.zeroize();
}
