//! Telegram's RSA: keys, fingerprints, RSA_PAD and the legacy padding.
//!
//! The `rsa` crate parses key files and performs the raw RSA operation; the
//! paddings are Telegram's own and are written here.

use crate::entropy::RandCoreAdapter;
use crate::{CryptoError, Entropy, ige};
use alloc::string::String;
use alloc::vec::Vec;
use rsa::BoxedUint;
use rsa::hazmat::{rsa_decrypt_and_check, rsa_encrypt};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// RSA block size Telegram uses (2048-bit keys).
pub const RSA_BYTES: usize = 256;
/// The longest data RSA_PAD accepts.
pub const RSA_PAD_MAX_DATA: usize = 144;
/// Bytes of data (with padding) inside an RSA_PAD block.
pub const RSA_PAD_DATA_LEN: usize = 192;
/// Bytes of data (with padding) inside a legacy block, after the SHA-1.
pub const LEGACY_DATA_LEN: usize = 235;

/// TL `bytes` serialization (for the fingerprint only; the TL layer has its own).
fn tl_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() < 254 {
        out.push(b.len() as u8);
    } else {
        out.push(254);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes()[..3]);
    }
    out.extend_from_slice(b);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// An RSA public key of a Telegram server, with its fingerprint.
#[derive(Clone, Debug)]
pub struct RsaPublicKey {
    inner: rsa::PublicKey,
    fingerprint: i64,
}

impl PartialEq for RsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl RsaPublicKey {
    fn wrap(inner: rsa::PublicKey) -> Result<Self, CryptoError> {
        let bits = inner.n().bit_width();
        if bits != 2048 {
            return Err(CryptoError::UnsupportedKeySize { bits });
        }
        let mut tl = Vec::with_capacity(272);
        tl_bytes(&mut tl, &inner.n_bytes());
        tl_bytes(&mut tl, &inner.e_bytes());
        let d = Sha1::digest(&tl);
        let mut fp = [0u8; 8];
        fp.copy_from_slice(&d[12..20]);
        Ok(Self { inner, fingerprint: i64::from_le_bytes(fp) })
    }

    /// Parses a PEM public key: PKCS#1 (`BEGIN RSA PUBLIC KEY`, as Telegram
    /// publishes them) or SPKI (`BEGIN PUBLIC KEY`).
    ///
    /// # Errors
    /// [`CryptoError::BadKeyEncoding`], or [`CryptoError::UnsupportedKeySize`]
    /// for a modulus that is not 2048 bits.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        let inner = rsa::PublicKey::from_pkcs1_pem(pem.trim())
            .or_else(|_| rsa::PublicKey::from_public_key_pem(pem.trim()))
            .map_err(|_| CryptoError::BadKeyEncoding)?;
        Self::wrap(inner)
    }

    /// Builds a key from its big-endian modulus and exponent.
    ///
    /// # Errors
    /// As [`RsaPublicKey::from_pem`].
    pub fn from_n_e(n: &[u8], e: &[u8]) -> Result<Self, CryptoError> {
        let n = BoxedUint::from_be_slice_vartime(n);
        let e = BoxedUint::from_be_slice_vartime(e);
        let inner = rsa::PublicKey::new(n, e).map_err(|_| CryptoError::BadKeyEncoding)?;
        Self::wrap(inner)
    }

    /// The PKCS#1 PEM encoding (`BEGIN RSA PUBLIC KEY`).
    ///
    /// # Errors
    /// [`CryptoError::BadKeyEncoding`] if encoding fails.
    pub fn to_pem(&self) -> Result<String, CryptoError> {
        self.inner.to_pkcs1_pem(LineEnding::LF).map_err(|_| CryptoError::BadKeyEncoding)
    }

    /// The Telegram fingerprint: the low 64 bits of SHA-1(TL bytes n ‖ TL bytes e),
    /// as the little-endian `long` that resPQ and req_DH_params carry.
    pub fn fingerprint(&self) -> i64 {
        self.fingerprint
    }

    /// The modulus, big-endian, 256 bytes.
    pub fn n_bytes(&self) -> [u8; RSA_BYTES] {
        crate::dh::left_pad(&self.inner.n_bytes())
    }

    fn raw_encrypt(&self, m: &[u8; RSA_BYTES]) -> Result<[u8; RSA_BYTES], CryptoError> {
        if m[..] >= self.n_bytes()[..] {
            return Err(CryptoError::RsaBadCiphertext);
        }
        let prec = self.inner.n_bits_precision();
        let m = BoxedUint::from_be_slice(m, prec).map_err(|_| CryptoError::RsaBadCiphertext)?;
        let c = rsa_encrypt(&self.inner, &m).map_err(|_| CryptoError::RsaBadCiphertext)?;
        Ok(crate::dh::left_pad(&c.to_be_bytes()))
    }

    /// Textbook RSA of a 256-byte block below n (for the published raw vectors).
    ///
    /// # Errors
    /// [`CryptoError::RsaBadCiphertext`] when `m >= n`.
    pub fn encrypt_raw(&self, m: &[u8; RSA_BYTES]) -> Result<[u8; RSA_BYTES], CryptoError> {
        self.raw_encrypt(m)
    }
}

/// An RSA private key, for the server side of the handshake.
#[derive(Clone)]
pub struct RsaPrivateKey {
    inner: rsa::PrivateKey,
    public: RsaPublicKey,
}

impl core::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("fingerprint", &format_args!("{:016x}", self.public.fingerprint))
            .finish_non_exhaustive()
    }
}

impl RsaPrivateKey {
    fn wrap(inner: rsa::PrivateKey) -> Result<Self, CryptoError> {
        let public = RsaPublicKey::wrap(inner.to_public_key())?;
        Ok(Self { inner, public })
    }

    /// Parses a PEM private key (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8).
    ///
    /// # Errors
    /// [`CryptoError::BadKeyEncoding`] or [`CryptoError::UnsupportedKeySize`].
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        let inner = rsa::PrivateKey::from_pkcs1_pem(pem.trim())
            .or_else(|_| rsa::PrivateKey::from_pkcs8_pem(pem.trim()))
            .map_err(|_| CryptoError::BadKeyEncoding)?;
        Self::wrap(inner)
    }

    /// Generates a fresh 2048-bit key (e = 65537).
    ///
    /// # Errors
    /// [`CryptoError::BadKeyEncoding`] if generation fails.
    pub fn generate(entropy: &mut impl Entropy) -> Result<Self, CryptoError> {
        let inner =
            rsa::PrivateKey::new(&mut RandCoreAdapter(entropy), 2048).map_err(|_| CryptoError::BadKeyEncoding)?;
        Self::wrap(inner)
    }

    /// The PKCS#1 PEM encoding of the private key.
    ///
    /// # Errors
    /// [`CryptoError::BadKeyEncoding`] if encoding fails.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        self.inner.to_pkcs1_pem(LineEnding::LF).map_err(|_| CryptoError::BadKeyEncoding)
    }

    /// The matching public key.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// Raw RSA decryption of a 256-byte block, with blinding and the CRT check.
    fn raw_decrypt(&self, c: &[u8], entropy: &mut impl Entropy) -> Result<Zeroizing<[u8; RSA_BYTES]>, CryptoError> {
        if c.len() != RSA_BYTES || c >= &self.public.n_bytes()[..] {
            return Err(CryptoError::RsaBadCiphertext);
        }
        let prec = self.public.inner.n_bits_precision();
        let c = BoxedUint::from_be_slice(c, prec).map_err(|_| CryptoError::RsaBadCiphertext)?;
        let mut m = rsa_decrypt_and_check(&self.inner, Some(&mut RandCoreAdapter(entropy)), &c)
            .map_err(|_| CryptoError::RsaBadCiphertext)?;
        let out = Zeroizing::new(crate::dh::left_pad(&m.to_be_bytes()));
        m.zeroize();
        Ok(out)
    }
}

/// RSA_PAD with explicit randomness; `None` when the block is not below n
/// (the caller then draws a new `temp_key`).
///
/// ```text
/// data_with_padding  = data ‖ padding                          (192 bytes)
/// data_with_hash     = reverse(data_with_padding) ‖ SHA256(temp_key ‖ data_with_padding)
/// aes_encrypted      = AES256-IGE(data_with_hash, key = temp_key, iv = 0)
/// key_aes_encrypted  = (temp_key XOR SHA256(aes_encrypted)) ‖ aes_encrypted
/// encrypted_data     = RSA(key_aes_encrypted)
/// ```
///
/// # Errors
/// [`CryptoError::RsaDataTooLong`] when `data` exceeds 144 bytes, or
/// `padding` is not `192 - data.len()` bytes.
pub fn rsa_pad_encrypt_with(
    key: &RsaPublicKey,
    data: &[u8],
    padding: &[u8],
    temp_key: &[u8; 32],
) -> Result<Option<[u8; RSA_BYTES]>, CryptoError> {
    if data.len() > RSA_PAD_MAX_DATA || data.len() + padding.len() != RSA_PAD_DATA_LEN {
        return Err(CryptoError::RsaDataTooLong { len: data.len() });
    }
    let mut with_padding = Zeroizing::new([0u8; RSA_PAD_DATA_LEN]);
    with_padding[..data.len()].copy_from_slice(data);
    with_padding[data.len()..].copy_from_slice(padding);
    let mut block = Zeroizing::new([0u8; RSA_BYTES]);
    {
        let body = &mut block[32..];
        for (dst, src) in body[..RSA_PAD_DATA_LEN].iter_mut().zip(with_padding.iter().rev()) {
            *dst = *src;
        }
        let h = Sha256::new().chain_update(temp_key).chain_update(&with_padding[..]).finalize();
        body[RSA_PAD_DATA_LEN..].copy_from_slice(&h);
        ige::encrypt(temp_key, &[0u8; 32], body)?;
    }
    let h = Sha256::digest(&block[32..]);
    for i in 0..32 {
        block[i] = temp_key[i] ^ h[i];
    }
    match key.raw_encrypt(&block) {
        Ok(c) => Ok(Some(c)),
        Err(_) => Ok(None),
    }
}

/// RSA_PAD encryption (client side of req_DH_params), retrying with a new
/// temp_key while the block is not below n.
///
/// # Errors
/// [`CryptoError::RsaDataTooLong`] when `data` exceeds 144 bytes.
pub fn rsa_pad_encrypt(
    key: &RsaPublicKey,
    data: &[u8],
    entropy: &mut impl Entropy,
) -> Result<[u8; RSA_BYTES], CryptoError> {
    if data.len() > RSA_PAD_MAX_DATA {
        return Err(CryptoError::RsaDataTooLong { len: data.len() });
    }
    let mut padding = Zeroizing::new([0u8; RSA_PAD_DATA_LEN]);
    let pad = &mut padding[..RSA_PAD_DATA_LEN - data.len()];
    entropy.fill(pad);
    loop {
        let temp_key = Zeroizing::new(entropy.array::<32>());
        if let Some(c) = rsa_pad_encrypt_with(key, data, pad, &temp_key)? {
            return Ok(c);
        }
    }
}

/// RSA_PAD decryption (server side): returns `data_with_padding`, 192 bytes of
/// which the caller parses the TL prefix. Checks the ciphertext range and the
/// SHA-256 inside, in constant time.
///
/// # Errors
/// [`CryptoError::RsaBadCiphertext`], [`CryptoError::RsaHashMismatch`].
pub fn rsa_pad_decrypt(
    key: &RsaPrivateKey,
    ciphertext: &[u8],
    entropy: &mut impl Entropy,
) -> Result<Zeroizing<[u8; RSA_PAD_DATA_LEN]>, CryptoError> {
    let mut block = key.raw_decrypt(ciphertext, entropy)?;
    let h = Sha256::digest(&block[32..]);
    let mut temp_key = Zeroizing::new([0u8; 32]);
    for i in 0..32 {
        temp_key[i] = block[i] ^ h[i];
    }
    let body = &mut block[32..];
    ige::decrypt(&temp_key, &[0u8; 32], body)?;
    let mut with_padding = Zeroizing::new([0u8; RSA_PAD_DATA_LEN]);
    for (dst, src) in with_padding.iter_mut().zip(body[..RSA_PAD_DATA_LEN].iter().rev()) {
        *dst = *src;
    }
    let expect = Sha256::new().chain_update(&temp_key[..]).chain_update(&with_padding[..]).finalize();
    if !bool::from(expect.as_slice().ct_eq(&body[RSA_PAD_DATA_LEN..])) {
        return Err(CryptoError::RsaHashMismatch);
    }
    Ok(with_padding)
}

/// Legacy RSA encryption (before RSA_PAD; Telethon and Pyrogram still send it):
/// `RSA(SHA1(data) ‖ data ‖ random)` with the block 255 bytes long.
///
/// # Errors
/// [`CryptoError::RsaDataTooLong`] when `data` exceeds 235 bytes.
pub fn legacy_encrypt(
    key: &RsaPublicKey,
    data: &[u8],
    entropy: &mut impl Entropy,
) -> Result<[u8; RSA_BYTES], CryptoError> {
    if data.len() > LEGACY_DATA_LEN {
        return Err(CryptoError::RsaDataTooLong { len: data.len() });
    }
    let mut block = Zeroizing::new([0u8; RSA_BYTES]);
    block[1..21].copy_from_slice(&Sha1::digest(data));
    block[21..21 + data.len()].copy_from_slice(data);
    entropy.fill(&mut block[21 + data.len()..]);
    key.raw_encrypt(&block)
}

/// A decrypted legacy RSA block: the SHA-1 and the 235 bytes after it. The
/// data length is only known once the TL inside is parsed, so the hash is
/// checked with [`LegacyBlock::verify`].
pub struct LegacyBlock {
    block: Zeroizing<[u8; RSA_BYTES]>,
}

impl LegacyBlock {
    /// The 235 bytes after the hash (data and random padding).
    pub fn data(&self) -> &[u8] {
        &self.block[21..]
    }

    /// Checks SHA-1(data[..len]) against the hash in the block and returns the data.
    ///
    /// # Errors
    /// [`CryptoError::RsaHashMismatch`].
    pub fn verify(&self, len: usize) -> Result<&[u8], CryptoError> {
        let data = self.data().get(..len).ok_or(CryptoError::RsaHashMismatch)?;
        if bool::from(Sha1::digest(data).as_slice().ct_eq(&self.block[1..21])) {
            Ok(data)
        } else {
            Err(CryptoError::RsaHashMismatch)
        }
    }
}

/// Legacy RSA decryption (server side): exactly one leading zero byte is stripped.
///
/// # Errors
/// [`CryptoError::RsaBadCiphertext`] when the block does not start with one zero byte.
pub fn legacy_decrypt(
    key: &RsaPrivateKey,
    ciphertext: &[u8],
    entropy: &mut impl Entropy,
) -> Result<LegacyBlock, CryptoError> {
    let block = key.raw_decrypt(ciphertext, entropy)?;
    if block[0] != 0 {
        return Err(CryptoError::RsaBadCiphertext);
    }
    Ok(LegacyBlock { block })
}

/// Which keys a client trusts: Telegram's built-in production and test keys.
pub mod builtin {
    use super::RsaPublicKey;
    use alloc::vec::Vec;

    /// Telegram's current production key (fingerprint 0xd09d1d85de64fd85).
    pub const PRODUCTION_PEM: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEA6LszBcC1LGzyr992NzE0ieY+BSaOW622Aa9Bd4ZHLl+TuFQ4lo4g
5nKaMBwK/BIb9xUfg0Q29/2mgIR6Zr9krM7HjuIcCzFvDtr+L0GQjae9H0pRB2OO
62cECs5HKhT5DZ98K33vmWiLowc621dQuwKWSQKjWf50XYFw42h21P2KXUGyp2y/
+aEyZ+uVgLLQbRA1dEjSDZ2iGRy12Mk5gpYc397aYp438fsJoHIgJ2lgMv5h7WY9
t6N/byY9Nw9p21Og3AoXSL2q/2IJ1WRUhebgAdGVMlV1fkuOQoEzR7EdpqtQD9Cs
5+bfo3Nhmcyvk5ftB0WkJ9z6bNZ7yxrP8wIDAQAB
-----END RSA PUBLIC KEY-----";

    /// Telegram's test-DC key (fingerprint 0xb25898df208d2603).
    pub const TEST_PEM: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAyMEdY1aR+sCR3ZSJrtztKTKqigvO/vBfqACJLZtS7QMgCGXJ6XIR
yy7mx66W0/sOFa7/1mAZtEoIokDP3ShoqF4fVNb6XeqgQfaUHd8wJpDWHcR2OFwv
plUUI1PLTktZ9uW2WE23b+ixNwJjJGwBDJPQEQFBE+vfmH0JP503wr5INS1poWg/
j25sIWeYPHYeOrFp/eXaqhISP6G+q2IeTaWTXpwZj4LzXq5YOpk4bYEQ6mvRq7D1
aHWfYmlEGepfaYR8Q0YqvvhYtMte3ITnuSJs171+GDqpdKcSwHnd6FudwGO4pcCO
j4WcDuXc2CTHgH8gFTNhp/Y8/SpDOhvn9QIDAQAB
-----END RSA PUBLIC KEY-----";

    /// The built-in production keys, parsed.
    pub fn production() -> Vec<RsaPublicKey> {
        RsaPublicKey::from_pem(PRODUCTION_PEM).into_iter().collect()
    }

    /// The built-in test-DC keys, parsed.
    pub fn test() -> Vec<RsaPublicKey> {
        RsaPublicKey::from_pem(TEST_PEM).into_iter().collect()
    }
}
