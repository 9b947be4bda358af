//! MTProto 1.0 message protection, kept for one purpose: the PFS binding
//! message (`bind_auth_key_inner` inside auth.bindTempAuthKey) is encrypted
//! with the permanent key under the 1.0 scheme.

use crate::{AuthKey, CryptoError, Direction, ige};
use alloc::vec::Vec;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// msg_key (1.0) = SHA1(plaintext without padding)[4..20].
pub fn msg_key(plaintext: &[u8]) -> [u8; 16] {
    let d = Sha1::digest(plaintext);
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[4..20]);
    out
}

/// The 1.0 KDF (four SHA-1s).
pub fn derive_aes(key: &AuthKey, dir: Direction, msg_key: &[u8; 16]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let x = dir.x();
    let k = key.as_bytes();
    let a = Zeroizing::new(<[u8; 20]>::from(Sha1::new().chain_update(msg_key).chain_update(&k[x..x + 32]).finalize()));
    let b = Zeroizing::new(<[u8; 20]>::from(
        Sha1::new().chain_update(&k[32 + x..48 + x]).chain_update(msg_key).chain_update(&k[48 + x..64 + x]).finalize(),
    ));
    let c =
        Zeroizing::new(<[u8; 20]>::from(Sha1::new().chain_update(&k[64 + x..96 + x]).chain_update(msg_key).finalize()));
    let d = Zeroizing::new(<[u8; 20]>::from(
        Sha1::new().chain_update(msg_key).chain_update(&k[96 + x..128 + x]).finalize(),
    ));
    let mut aes_key = Zeroizing::new([0u8; 32]);
    aes_key[..8].copy_from_slice(&a[..8]);
    aes_key[8..20].copy_from_slice(&b[8..20]);
    aes_key[20..].copy_from_slice(&c[4..16]);
    let mut aes_iv = Zeroizing::new([0u8; 32]);
    aes_iv[..12].copy_from_slice(&a[8..20]);
    aes_iv[12..20].copy_from_slice(&b[..8]);
    aes_iv[20..24].copy_from_slice(&c[16..20]);
    aes_iv[24..].copy_from_slice(&d[..8]);
    (aes_key, aes_iv)
}

/// Encrypts `plaintext` (whose first `unpadded_len` bytes are hashed; the
/// rest is padding, the whole a multiple of 16) and returns
/// `auth_key_id ‖ msg_key ‖ ciphertext`.
///
/// # Errors
/// [`CryptoError::BadPlaintextLayout`] for a length that is not a positive
/// multiple of 16 or an `unpadded_len` beyond it.
pub fn encrypt(key: &AuthKey, dir: Direction, plaintext: &[u8], unpadded_len: usize) -> Result<Vec<u8>, CryptoError> {
    if plaintext.is_empty() || !plaintext.len().is_multiple_of(16) || unpadded_len > plaintext.len() {
        return Err(CryptoError::BadPlaintextLayout { len: plaintext.len() });
    }
    let mk = msg_key(&plaintext[..unpadded_len]);
    let (k, iv) = derive_aes(key, dir, &mk);
    let mut out = Vec::with_capacity(24 + plaintext.len());
    out.extend_from_slice(&key.id_bytes());
    out.extend_from_slice(&mk);
    out.extend_from_slice(plaintext);
    ige::encrypt(&k, &iv, &mut out[24..])?;
    Ok(out)
}

/// Decrypts a 1.0 message and returns the plaintext (with padding); the
/// caller passes the unpadded length it reads from the message header through
/// `unpadded_len`, which is checked against msg_key in constant time.
///
/// # Errors
/// [`CryptoError::MessageTooShort`], [`CryptoError::NotBlockAligned`],
/// [`CryptoError::AuthKeyIdMismatch`], [`CryptoError::MsgKeyMismatch`].
pub fn decrypt(
    key: &AuthKey,
    dir: Direction,
    message: &[u8],
    unpadded_len: impl FnOnce(&[u8]) -> Option<usize>,
) -> Result<Vec<u8>, CryptoError> {
    if message.len() < 24 + 32 {
        return Err(CryptoError::MessageTooShort { len: message.len() });
    }
    if !(message.len() - 24).is_multiple_of(16) {
        return Err(CryptoError::NotBlockAligned { len: message.len() - 24 });
    }
    if !bool::from(message[..8].ct_eq(&key.id_bytes())) {
        return Err(CryptoError::AuthKeyIdMismatch);
    }
    let mut mk = [0u8; 16];
    mk.copy_from_slice(&message[8..24]);
    let (k, iv) = derive_aes(key, dir, &mk);
    let mut plain = message[24..].to_vec();
    ige::decrypt(&k, &iv, &mut plain)?;
    let len = unpadded_len(&plain).filter(|&l| l <= plain.len()).unwrap_or(plain.len());
    if !bool::from(msg_key(&plain[..len]).ct_eq(&mk)) || plain.len() - len >= 16 {
        plain.zeroize();
        return Err(CryptoError::MsgKeyMismatch);
    }
    Ok(plain)
}
