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

/// Server side: decrypts and checks a binding message: it must be encrypted
/// with `perm_key`, carry `msg_id` (that of the request it came in) and
/// seq_no 0, and name `temp_key_id` and `temp_session_id`.
///
/// # Errors
/// [`HandshakeError::Crypto`] when it does not decrypt under the permanent
/// key, [`HandshakeError::Tl`] for a malformed inner object,
/// [`HandshakeError::NonceMismatch`] when a field names another key, session or message.
pub fn verify_bind_message(
    perm_key: &AuthKey,
    encrypted: &[u8],
    msg_id: i64,
    temp_key_id: i64,
    temp_session_id: i64,
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
    if got_msg_id != msg_id
        || seq_no != 0
        || inner.temp_auth_key_id != temp_key_id
        || inner.perm_auth_key_id != perm_key.id()
        || inner.temp_session_id != temp_session_id
    {
        return Err(HandshakeError::NonceMismatch);
    }
    Ok(inner)
}
