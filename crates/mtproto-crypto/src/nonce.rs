//! Handshake key material derived from the nonces.

use crate::AuthKey;
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

/// tmp_aes_key and tmp_aes_iv, which protect server_DH_inner_data and
/// client_DH_inner_data:
///
/// ```text
/// tmp_aes_key = SHA1(new_nonce ‖ server_nonce) ‖ SHA1(server_nonce ‖ new_nonce)[0..12]
/// tmp_aes_iv  = SHA1(server_nonce ‖ new_nonce)[12..20] ‖ SHA1(new_nonce ‖ new_nonce) ‖ new_nonce[0..4]
/// ```
pub fn tmp_aes_key_iv(new_nonce: &[u8; 32], server_nonce: &[u8; 16]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let ns =
        Zeroizing::new(<[u8; 20]>::from(Sha1::new().chain_update(new_nonce).chain_update(server_nonce).finalize()));
    let sn =
        Zeroizing::new(<[u8; 20]>::from(Sha1::new().chain_update(server_nonce).chain_update(new_nonce).finalize()));
    let nn = Zeroizing::new(<[u8; 20]>::from(Sha1::new().chain_update(new_nonce).chain_update(new_nonce).finalize()));
    let mut key = Zeroizing::new([0u8; 32]);
    key[..20].copy_from_slice(&ns[..]);
    key[20..].copy_from_slice(&sn[..12]);
    let mut iv = Zeroizing::new([0u8; 32]);
    iv[..8].copy_from_slice(&sn[12..]);
    iv[8..28].copy_from_slice(&nn[..]);
    iv[28..].copy_from_slice(&new_nonce[..4]);
    (key, iv)
}

/// new_nonce_hash1/2/3: the low 128 bits of SHA1(new_nonce ‖ number ‖ aux_hash),
/// where `number` is 1 for dh_gen_ok, 2 for dh_gen_retry, 3 for dh_gen_fail.
pub fn new_nonce_hash(new_nonce: &[u8; 32], number: u8, key: &AuthKey) -> [u8; 16] {
    let d = Sha1::new().chain_update(new_nonce).chain_update([number]).chain_update(key.aux_hash_bytes()).finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[4..20]);
    out
}

/// The first server salt: new_nonce[0..8] XOR server_nonce[0..8], as a TL long.
///
/// # Examples
///
/// substr(new_nonce, 0, 8) XOR substr(server_nonce, 0, 8):
///
/// ```
/// let salt = mtproto_crypto::nonce::first_salt(&[0xff; 32], &[0x0f; 16]);
/// assert_eq!(salt, i64::from_le_bytes([0xf0; 8]));
/// ```
pub fn first_salt(new_nonce: &[u8; 32], server_nonce: &[u8; 16]) -> i64 {
    let mut s = [0u8; 8];
    for (i, b) in s.iter_mut().enumerate() {
        *b = new_nonce[i] ^ server_nonce[i];
    }
    i64::from_le_bytes(s)
}
