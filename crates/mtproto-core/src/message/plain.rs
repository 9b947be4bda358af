//! Plaintext messages (auth_key_id = 0), used by the handshake.

use super::{MessageError, MsgIdClock, MsgKind, Role};
use crate::tl::TlError;
use core::time::Duration;

/// A decoded plaintext message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainMessage<'a> {
    /// Its msg_id.
    pub msg_id: i64,
    /// The TL body, borrowed.
    pub body: &'a [u8],
}

/// Frames `body` as `0 (8) ‖ msg_id (8) ‖ length (4) ‖ body`, appending to `out`.
pub fn pack_plain(msg_id: i64, body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&0i64.to_le_bytes());
    out.extend_from_slice(&msg_id.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

/// Parses a plaintext message: auth_key_id zero, a non-zero msg_id, and a
/// length field equal to the bytes present.
///
/// # Errors
/// [`MessageError::NotPlaintext`], [`MessageError::BadLength`],
/// [`MessageError::BadMsgIdParity`], or a truncation error.
pub fn unpack_plain(packet: &[u8]) -> Result<PlainMessage<'_>, MessageError> {
    if packet.len() < 20 {
        return Err(MessageError::Tl(TlError::Truncated { needed: 20, available: packet.len() }));
    }
    let le = |r: core::ops::Range<usize>| {
        let mut b = [0u8; 8];
        b[..r.len()].copy_from_slice(&packet[r]);
        i64::from_le_bytes(b)
    };
    if le(0..8) != 0 {
        return Err(MessageError::NotPlaintext);
    }
    let msg_id = le(8..16);
    if msg_id == 0 {
        return Err(MessageError::BadMsgIdParity { msg_id });
    }
    let declared = le(16..20);
    let body = &packet[20..];
    if declared as usize != body.len() {
        return Err(MessageError::BadLength { declared, actual: body.len() });
    }
    Ok(PlainMessage { msg_id, body })
}

/// A plaintext session: a msg_id clock for one role.
#[derive(Debug, Clone)]
pub struct Session {
    role: Role,
    clock: MsgIdClock,
}

impl Session {
    /// A plaintext session for `role`.
    pub fn new(role: Role) -> Self {
        Self { role, clock: MsgIdClock::default() }
    }

    /// The clock (for its learned offset).
    pub fn clock_mut(&mut self) -> &mut MsgIdClock {
        &mut self.clock
    }

    /// Frames `body` with a fresh msg_id and returns that msg_id.
    pub fn pack_plain(&mut self, body: &[u8], now: Duration, out: &mut Vec<u8>) -> i64 {
        let kind = match self.role {
            Role::Client => MsgKind::Client,
            Role::Server => MsgKind::ServerResponse,
        };
        let id = self.clock.next(now, kind);
        pack_plain(id, body, out);
        id
    }
}
