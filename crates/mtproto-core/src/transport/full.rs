//! Full framing (no tag): `length (4) ‖ seq (4) ‖ payload ‖ crc32 (4)`, the
//! length counting all of it, seq counting frames per direction from 0, the
//! CRC32 over everything before it. Both are checked.

use super::{Frame, Framing, Peer, TransportError, payload_frame};
use bytes::{Buf, BytesMut};

/// The full framing.
#[derive(Debug, Clone)]
pub struct Full {
    peer: Peer,
    max: usize,
    send_seq: u32,
    recv_seq: u32,
}

impl Full {
    /// Decodes frames from `peer`, refusing any above `max` bytes.
    pub fn new(peer: Peer, max: usize) -> Self {
        Self { peer, max, send_seq: 0, recv_seq: 0 }
    }
}

impl Framing for Full {
    fn encode(&mut self, payload: &[u8], _quick_ack: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&((payload.len() + 12) as u32).to_le_bytes());
        out.extend_from_slice(&self.send_seq.to_le_bytes());
        out.extend_from_slice(payload);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        self.send_seq = self.send_seq.wrapping_add(1);
    }

    fn encode_quick_ack(&mut self, token: u32, out: &mut Vec<u8>) {
        // The full transport has no quick-ack form of its own; send the token
        // as intermediate does (top bit set), which no full client asks for.
        out.extend_from_slice(&(token | 0x8000_0000).to_le_bytes());
    }

    fn decode(&mut self, rx: &mut BytesMut) -> Result<Option<Frame>, TransportError> {
        if rx.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([rx[0], rx[1], rx[2], rx[3]]) as usize;
        if len > self.max + 12 {
            return Err(TransportError::FrameTooLarge { len, max: self.max + 12 });
        }
        if len < 12 {
            return Err(TransportError::BadLength { len });
        }
        if rx.len() < len {
            return Ok(None);
        }
        let seq = u32::from_le_bytes([rx[4], rx[5], rx[6], rx[7]]);
        let crc = u32::from_le_bytes([rx[len - 4], rx[len - 3], rx[len - 2], rx[len - 1]]);
        if crc32fast::hash(&rx[..len - 4]) != crc {
            return Err(TransportError::BadCrc);
        }
        if seq != self.recv_seq {
            return Err(TransportError::BadSeq { expected: self.recv_seq, got: seq });
        }
        self.recv_seq = self.recv_seq.wrapping_add(1);
        rx.advance(8);
        let data = rx.split_to(len - 12);
        rx.advance(4);
        Ok(Some(payload_frame(data, false, self.peer)))
    }
}
