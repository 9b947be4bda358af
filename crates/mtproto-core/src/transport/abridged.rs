//! Abridged framing (tag 0xef): length in 4-byte words, one byte when below
//! 0x7f, else 0x7f and three bytes. A client sets the top bit of the first
//! byte to ask for a quick ack; the server's quick ack is the token as 4
//! big-endian bytes with the top bit set.

use super::{Frame, Framing, Peer, TransportError, payload_frame};
use bytes::{Buf, BytesMut};

/// The abridged framing for frames coming from `peer`.
#[derive(Debug, Clone)]
pub struct Abridged {
    peer: Peer,
    max: usize,
}

impl Abridged {
    /// Decodes frames from `peer`, refusing any above `max` bytes.
    pub fn new(peer: Peer, max: usize) -> Self {
        Self { peer, max }
    }
}

impl Framing for Abridged {
    fn encode(&mut self, payload: &[u8], quick_ack: bool, out: &mut Vec<u8>) {
        let words = payload.len() / 4;
        let qa = if quick_ack { 0x80 } else { 0 };
        if words < 0x7f {
            out.push(words as u8 | qa);
        } else {
            let w = (words as u32).to_le_bytes();
            out.extend_from_slice(&[0x7f | qa, w[0], w[1], w[2]]);
        }
        out.extend_from_slice(payload);
    }

    fn encode_quick_ack(&mut self, token: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&(token | 0x8000_0000).to_be_bytes());
    }

    fn decode(&mut self, rx: &mut BytesMut) -> Result<Option<Frame>, TransportError> {
        let Some(&first) = rx.first() else {
            return Ok(None);
        };
        if self.peer == Peer::Server && first & 0x80 != 0 {
            if rx.len() < 4 {
                return Ok(None);
            }
            let token = u32::from_be_bytes([rx[0], rx[1], rx[2], rx[3]]) & 0x7fff_ffff;
            rx.advance(4);
            return Ok(Some(Frame::QuickAck(token)));
        }
        let quick_ack = self.peer == Peer::Client && first & 0x80 != 0;
        let short = first & 0x7f;
        let (words, header) = if short < 0x7f {
            (short as usize, 1)
        } else {
            if rx.len() < 4 {
                return Ok(None);
            }
            (rx[1] as usize | (rx[2] as usize) << 8 | (rx[3] as usize) << 16, 4)
        };
        let len = words * 4;
        if len > self.max {
            return Err(TransportError::FrameTooLarge { len, max: self.max });
        }
        if len == 0 {
            return Err(TransportError::BadLength { len });
        }
        if rx.len() < header + len {
            return Ok(None);
        }
        rx.advance(header);
        Ok(Some(payload_frame(rx.split_to(len), quick_ack, self.peer)))
    }
}
