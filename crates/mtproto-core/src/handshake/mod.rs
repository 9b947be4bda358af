//! The auth-key handshake (3-step DH) as sans-IO state machines for both
//! roles, the plain step functions over the same code, and PFS binding.
//!
//! Packets in and out are plaintext MTProto messages (auth_key_id = 0),
//! without transport framing.

mod client;
mod error;
pub mod pfs;
mod server;

pub use client::{
    ClientConfig, ClientHandshake, DhGenAnswer, FinishResult, Step1, Step2, Step3, finish, step1, step2, step3,
};
pub use error::HandshakeError;
pub use server::{ServerConfig, ServerHandshake};

use core::time::Duration;
use mtproto_crypto::AuthKey;

/// What a finished handshake yields.
#[derive(Debug, Clone)]
pub struct HandshakeResult {
    /// The new authorization key.
    pub auth_key: AuthKey,
    /// The first server salt: new_nonce[0..8] XOR server_nonce[0..8].
    pub first_salt: i64,
    /// Seconds to add to the local clock to get the server's.
    pub time_offset: i64,
    /// For a temporary key: the server unix time at which it expires.
    pub expires_at: Option<i64>,
    /// The DC id the client asked for (server side: what the client sent).
    pub dc_id: Option<i32>,
}

/// What a state machine asks the caller to do next.
#[derive(Debug)]
pub enum Step {
    /// Send this plaintext packet.
    Send(Vec<u8>),
    /// Send this plaintext packet (if any), then the handshake is over.
    Done(Option<Vec<u8>>, Box<HandshakeResult>),
}

/// Default deadline for a whole exchange.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest temporary key lifetime a server grants (`expires_in` of
/// p_q_inner_data_temp): 30 days. Clients ask for hours (TDLib: one day).
pub const MAX_TEMP_KEY_LIFETIME: i32 = 30 * 24 * 3600;

pub(crate) fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA1(data) ‖ data ‖ random padding to a multiple of 16 (0..15 bytes).
pub(crate) fn with_hash_padded(data: &[u8], entropy: &mut dyn mtproto_crypto::Entropy) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 36);
    out.extend_from_slice(&sha1(&[data]));
    out.extend_from_slice(data);
    let pad = (16 - out.len() % 16) % 16;
    let start = out.len();
    out.resize(start + pad, 0);
    entropy.fill(&mut out[start..]);
    out
}

/// Parses `SHA1 ‖ object ‖ padding (< 16)`, checking the hash over exactly
/// the object's bytes.
pub(crate) fn parse_with_hash<'a, T: crate::tl::Deserialize<'a>>(plain: &'a [u8]) -> Result<T, HandshakeError> {
    if plain.len() < 20 {
        return Err(HandshakeError::AnswerHashMismatch);
    }
    let mut r = crate::tl::Reader::new(&plain[20..]);
    let v = T::deserialize(&mut r)?;
    let used = r.position();
    if r.remaining() >= 16 {
        return Err(HandshakeError::BadAnswerPadding);
    }
    use subtle::ConstantTimeEq;
    if !bool::from(sha1(&[&plain[20..20 + used]]).ct_eq(&plain[..20])) {
        return Err(HandshakeError::AnswerHashMismatch);
    }
    Ok(v)
}

/// Checks that a message echoes both nonces (constant-time compares).
pub(crate) fn check_nonces(
    nonce: &[u8; 16],
    server_nonce: &[u8; 16],
    our_nonce: &[u8; 16],
    our_server_nonce: &[u8; 16],
) -> Result<(), HandshakeError> {
    use subtle::ConstantTimeEq;
    if !bool::from(nonce.ct_eq(our_nonce)) {
        return Err(HandshakeError::NonceMismatch);
    }
    if !bool::from(server_nonce.ct_eq(our_server_nonce)) {
        return Err(HandshakeError::ServerNonceMismatch);
    }
    Ok(())
}

/// Decrypts `SHA1 ‖ object ‖ padding` with the tmp key derived from the
/// nonces, parses the object and checks its hash (server_DH_inner_data on the
/// client, client_DH_inner_data on the server).
pub(crate) fn open_with_tmp_key<T>(
    new_nonce: &[u8; 32],
    server_nonce: &[u8; 16],
    encrypted: &[u8],
) -> Result<T, HandshakeError>
where
    T: for<'a> crate::tl::Deserialize<'a>,
{
    let (tmp_key, tmp_iv) = mtproto_crypto::nonce::tmp_aes_key_iv(new_nonce, server_nonce);
    let mut plain = zeroize::Zeroizing::new(encrypted.to_vec());
    mtproto_crypto::ige::decrypt(&tmp_key, &tmp_iv, &mut plain)?;
    parse_with_hash(&plain)
}

/// Minimal big-endian bytes of a u64.
pub(crate) fn be_min(v: u64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let first = b.iter().position(|&x| x != 0).unwrap_or(7);
    b[first..].to_vec()
}

/// A big-endian byte string of at most 8 bytes as u64.
pub(crate) fn be_u64(b: &[u8]) -> Option<u64> {
    if b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64))
}
