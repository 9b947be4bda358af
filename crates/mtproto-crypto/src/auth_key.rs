//! The 256-byte authorization key.

use core::fmt;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 2048-bit MTProto authorization key with its derived identifiers.
///
/// The key bytes are wiped when the value is dropped and never printed by
/// `Debug`; equality is decided in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AuthKey {
    bytes: [u8; 256],
    id: [u8; 8],
    aux_hash: [u8; 8],
}

impl AuthKey {
    /// Wraps 256 key bytes (big-endian g^ab mod p, left-padded to 256 bytes).
    pub fn from_bytes(bytes: [u8; 256]) -> Self {
        let digest = Sha1::digest(bytes);
        let mut id = [0u8; 8];
        let mut aux_hash = [0u8; 8];
        id.copy_from_slice(&digest[12..20]);
        aux_hash.copy_from_slice(&digest[0..8]);
        Self { bytes, id, aux_hash }
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; 256] {
        &self.bytes
    }

    /// auth_key_id as it appears on the wire: the low 64 bits of SHA-1(key).
    pub fn id_bytes(&self) -> [u8; 8] {
        self.id
    }

    /// auth_key_id read as a little-endian integer, as TL `long` fields carry it.
    ///
    /// # Examples
    ///
    /// ```
    /// use mtproto_crypto::AuthKey;
    /// let key = AuthKey::from_bytes([0; 256]);
    /// assert_eq!(key.id(), i64::from_le_bytes(key.id_bytes()));
    /// assert_ne!(key.id(), AuthKey::from_bytes([1; 256]).id());
    /// ```
    pub fn id(&self) -> i64 {
        i64::from_le_bytes(self.id)
    }

    /// auth_key_aux_hash as bytes: the high 64 bits of SHA-1(key).
    pub fn aux_hash_bytes(&self) -> [u8; 8] {
        self.aux_hash
    }

    /// auth_key_aux_hash as a TL `long` (the `retry_id` of `client_DH_inner_data`).
    pub fn aux_hash(&self) -> i64 {
        i64::from_le_bytes(self.aux_hash)
    }
}

impl PartialEq for AuthKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.ct_eq(&other.bytes).into()
    }
}

impl Eq for AuthKey {}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKey")
            .field("id", &format_args!("{:016x}", u64::from_le_bytes(self.id)))
            .finish_non_exhaustive()
    }
}
