//! The proxy's answer: ServerHello, ChangeCipherSpec and one
//! application-data record, its random a digest over the client's random
//! and the whole answer.

use super::client_hello::RANDOM_AT;
use super::record::MAX_READ_PAYLOAD;
use super::{hmac_sha256, x25519};
use crate::transport::TransportError;
use mtproto_crypto::Entropy;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Most handshake records before the ChangeCipherSpec of an answer.
pub const MAX_HANDSHAKE_RECORDS: usize = 16;

/// Builds the answer to a verified ClientHello: a ServerHello (TLS 1.3,
/// TLS_AES_128_GCM_SHA256, the client's session id echoed, key_share with an
/// X25519 point and supported_versions in random order), ChangeCipherSpec,
/// and an application-data record of `data_len` random bytes (clamped to
/// 1..=[`MAX_READ_PAYLOAD`]). Its random is
/// `HMAC-SHA256(key, client_random ‖ answer with the random zeroed)`.
pub fn server_answer(
    key: &[u8; 16],
    client_random: &[u8; 32],
    session_id: &[u8],
    data_len: usize,
    entropy: &mut (dyn Entropy + Send),
) -> Vec<u8> {
    let session_id = &session_id[..session_id.len().min(32)];
    let share = x25519::random_point(entropy);
    let mut key_share = vec![0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20];
    key_share.extend_from_slice(&share);
    let versions = [0x00, 0x2b, 0x00, 0x02, 0x03, 0x04];
    let mut flip = [0u8; 1];
    entropy.fill(&mut flip);
    let mut extensions = Vec::with_capacity(46);
    if flip[0] & 1 == 0 {
        extensions.extend_from_slice(&key_share);
        extensions.extend_from_slice(&versions);
    } else {
        extensions.extend_from_slice(&versions);
        extensions.extend_from_slice(&key_share);
    }
    let body_len = 2 + 32 + 1 + session_id.len() + 2 + 1 + 2 + extensions.len();
    let data_len = data_len.clamp(1, MAX_READ_PAYLOAD);
    let mut out = Vec::with_capacity(9 + body_len + 6 + 5 + data_len);
    out.extend_from_slice(&[0x16, 0x03, 0x03]);
    out.extend_from_slice(&((body_len + 4) as u16).to_be_bytes());
    out.push(0x02);
    out.extend_from_slice(&(body_len as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[0x03, 0x03]);
    out.extend_from_slice(&[0; 32]);
    out.push(session_id.len() as u8);
    out.extend_from_slice(session_id);
    out.extend_from_slice(&[0x13, 0x01, 0x00]);
    out.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    out.extend_from_slice(&extensions);
    out.extend_from_slice(&super::CHANGE_CIPHER_SPEC);
    out.extend_from_slice(&[0x17, 0x03, 0x03]);
    out.extend_from_slice(&(data_len as u16).to_be_bytes());
    let at = out.len();
    out.resize(at + data_len, 0);
    entropy.fill(&mut out[at..]);
    let digest = Zeroizing::new(hmac_sha256(key, &[client_random, &out]));
    out[RANDOM_AT].copy_from_slice(&digest[..]);
    out
}

/// The length of the complete answer at the front of `rx`: handshake
/// records (1..=16, the first holding at least the ServerHello's random),
/// one ChangeCipherSpec, one application-data record. `None` while more
/// bytes are needed.
///
/// # Errors
/// [`TransportError::FakeTlsAnswer`] when the bytes cannot be such an answer.
fn answer_len(rx: &[u8]) -> Result<Option<usize>, TransportError> {
    let bad = TransportError::FakeTlsAnswer;
    let mut at = 0;
    let mut handshakes = 0;
    let mut seen_ccs = false;
    loop {
        let Some(h) = rx.get(at..at + 5) else { return Ok(None) };
        let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
        if h[1..3] != [0x03, 0x03] || len > MAX_READ_PAYLOAD {
            return Err(bad);
        }
        match (h[0], seen_ccs) {
            (0x16, false) if handshakes < MAX_HANDSHAKE_RECORDS && (handshakes > 0 || len >= 38) => handshakes += 1,
            (0x14, false) if handshakes > 0 && len == 1 => seen_ccs = true,
            (0x17, true) => {}
            _ => return Err(bad),
        }
        let end = at + 5 + len;
        let Some(body) = rx.get(at + 5..end) else { return Ok(None) };
        if h[0] == 0x14 && body != [0x01] {
            return Err(bad);
        }
        if h[0] == 0x16 && handshakes == 1 && (body[0] != 0x02 || body[4..6] != [0x03, 0x03]) {
            return Err(bad);
        }
        at = end;
        if h[0] == 0x17 {
            return Ok(Some(at));
        }
    }
}

/// Client: checks the proxy's answer at the front of `rx` against the
/// random of our ClientHello. Returns the bytes it takes (exactly the
/// answer; what follows is application data), or `None` while more bytes
/// are needed.
///
/// # Errors
/// [`TransportError::FakeTlsAnswer`]: malformed, or the digest
/// `HMAC-SHA256(key, client_random ‖ answer with bytes 11..43 zeroed)` is
/// not `answer[11..43]` (compared in constant time).
pub fn verify_server_answer(
    key: &[u8; 16],
    client_random: &[u8; 32],
    rx: &[u8],
) -> Result<Option<usize>, TransportError> {
    let Some(len) = answer_len(rx)? else { return Ok(None) };
    let answer = &rx[..len];
    let mut zeroed = answer.to_vec();
    zeroed[RANDOM_AT].fill(0);
    let digest = Zeroizing::new(hmac_sha256(key, &[client_random, &zeroed]));
    if bool::from(digest.ct_eq(&answer[RANDOM_AT])) { Ok(Some(len)) } else { Err(TransportError::FakeTlsAnswer) }
}
