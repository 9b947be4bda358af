//! PFS: binding a temporary key to the permanent key.
//!
//! `auth.bindTempAuthKey` carries `encrypted_message`: a `bind_auth_key_inner`
//! wrapped as an MTProto 1.0 message (random salt and session id, the msg_id
//! of the bindTempAuthKey request itself, seq_no 0) encrypted with the
//! permanent key. The API request around it stays opaque bytes the caller
//! builds; this module builds and checks the encrypted part.

use super::HandshakeError;
use crate::tl::schema::BindAuthKeyInner;
use crate::tl::{Deserialize, Reader, Serialize};
use mtproto_crypto::{AuthKey, Direction, Entropy, envelope_v1};

/// Builds `encrypted_message` for auth.bindTempAuthKey.
///
/// # Errors
/// Never in practice (the layout is aligned by construction).
pub fn encrypt_bind_message(
    perm_key: &AuthKey,
    msg_id: i64,
    inner: &BindAuthKeyInner,
    entropy: &mut dyn Entropy,
) -> Result<Vec<u8>, HandshakeError> {
    let body = inner.to_bytes();
    let mut plain = Vec::with_capacity(32 + body.len() + 16);
    let mut rnd = [0u8; 16];
    entropy.fill(&mut rnd);
    plain.extend_from_slice(&rnd);
    plain.extend_from_slice(&msg_id.to_le_bytes());
    plain.extend_from_slice(&0i32.to_le_bytes());
    plain.extend_from_slice(&(body.len() as u32).to_le_bytes());
    plain.extend_from_slice(&body);
    let unpadded = plain.len();
    let pad = (16 - unpadded % 16) % 16;
    plain.resize(unpadded + pad, 0);
    entropy.fill(&mut plain[unpadded..]);
    Ok(envelope_v1::encrypt(perm_key, Direction::ClientToServer, &plain, unpadded)?)
}

/// What a server knows, outside the encrypted message, about a binding:
/// the `auth.bindTempAuthKey` call's arguments and the temporary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindRequest {
    /// The msg_id of the auth.bindTempAuthKey request itself.
    pub msg_id: i64,
    /// The call's `nonce` argument.
    pub nonce: i64,
    /// The call's `expires_at` argument.
    pub expires_at: i32,
    /// The temporary key the request came under.
    pub temp_key_id: i64,
    /// The session the request came in.
    pub temp_session_id: i64,
    /// When the temporary key expires (unix time), as its handshake
    /// agreed (`HandshakeResult::expires_at`); `None` when not known.
    pub temp_key_expires_at: Option<i64>,
}

/// Server side: decrypts and checks a binding message: it must be encrypted
/// with `perm_key`, carry the msg_id of the request it came in and seq_no 0,
/// name the temporary key and session, repeat the call's `nonce` and
/// `expires_at`, and not outlive the temporary key.
///
/// # Errors
/// [`HandshakeError::Crypto`] when it does not decrypt under the permanent
/// key, [`HandshakeError::Tl`] for a malformed inner object,
/// [`HandshakeError::NonceMismatch`] when a field names another key,
/// session, message or nonce, [`HandshakeError::BindingExpiry`] when its
/// expiry differs from the call's or lies past the temporary key's.
pub fn verify_bind_message(
    perm_key: &AuthKey,
    encrypted: &[u8],
    request: &BindRequest,
) -> Result<BindAuthKeyInner, HandshakeError> {
    let plain = envelope_v1::decrypt(perm_key, Direction::ClientToServer, encrypted, |p| {
        let len = u32::from_le_bytes(p.get(28..32)?.try_into().ok()?) as usize;
        32usize.checked_add(len)
    })?;
    let got_msg_id = i64::from_le_bytes(plain[16..24].try_into().map_err(|_| HandshakeError::AnswerHashMismatch)?);
    let seq_no = i32::from_le_bytes(plain[24..28].try_into().map_err(|_| HandshakeError::AnswerHashMismatch)?);
    let len = u32::from_le_bytes(plain[28..32].try_into().map_err(|_| HandshakeError::AnswerHashMismatch)?) as usize;
    let body = plain.get(32..32 + len).ok_or(crate::tl::TlError::BadValue)?;
    let inner = BindAuthKeyInner::deserialize(&mut Reader::new(body))?;
    if got_msg_id != request.msg_id
        || seq_no != 0
        || inner.nonce != request.nonce
        || inner.temp_auth_key_id != request.temp_key_id
        || inner.perm_auth_key_id != perm_key.id()
        || inner.temp_session_id != request.temp_session_id
    {
        return Err(HandshakeError::NonceMismatch);
    }
    let outlives = request.temp_key_expires_at.is_some_and(|at| i64::from(inner.expires_at) > at);
    if inner.expires_at != request.expires_at || outlives {
        return Err(HandshakeError::BindingExpiry);
    }
    Ok(inner)
}
