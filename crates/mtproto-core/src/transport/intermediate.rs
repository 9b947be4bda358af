//! Intermediate framing (tag 0xeeeeeeee): a 4-byte little-endian length,
//! then the payload. Padded intermediate (tag 0xdddddddd) appends 0..=15
//! random bytes, counted in the length. A client sets the top bit of the
//! length to ask for a quick ack; a server's quick ack is 4 bytes with the
//! top bit set and no payload.

use super::{Frame, Framing, Peer, TransportError, payload_frame};
use bytes::{Buf, BytesMut};
use mtproto_crypto::Entropy;

/// The intermediate framing, optionally padded.
pub struct Intermediate {
    peer: Peer,
    max: usize,
    padding: Option<Box<dyn Entropy + Send>>,
}

impl core::fmt::Debug for Intermediate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Intermediate").field("peer", &self.peer).field("padded", &self.padding.is_some()).finish()
    }
}

impl Intermediate {
    /// Plain intermediate framing for frames from `peer`.
    pub fn new(peer: Peer, max: usize) -> Self {
        Self { peer, max, padding: None }
    }

    /// Padded intermediate framing; `entropy` draws the padding.
    pub fn padded(peer: Peer, max: usize, entropy: Box<dyn Entropy + Send>) -> Self {
        Self { peer, max, padding: Some(entropy) }
    }
}

/// The length of the MTProto packet inside a padded payload: a plaintext
/// message declares its length; an encrypted one is 24 bytes plus whole blocks.
fn unpadded_len(data: &[u8]) -> usize {
    if data.len() >= 20 && data[..8] == [0; 8] {
        let declared = u32::from_le_bytes([data[16], data[17], data[18], data[19]]) as usize;
        (20 + declared).min(data.len())
    } else if data.len() > 24 {
        24 + (data.len() - 24) / 16 * 16
    } else {
        data.len() / 4 * 4
    }
}

impl Framing for Intermediate {
    fn encode(&mut self, payload: &[u8], quick_ack: bool, out: &mut Vec<u8>) {
        let mut pad = [0u8; 16];
        let pad_len = match &mut self.padding {
            Some(e) => {
                e.fill(&mut pad[..1]);
                let n = (pad[0] % 16) as usize;
                e.fill(&mut pad[..n]);
                n
            }
            None => 0,
        };
        let len = (payload.len() + pad_len) as u32 | if quick_ack { 0x8000_0000 } else { 0 };
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&pad[..pad_len]);
    }

    fn encode_quick_ack(&mut self, token: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&(token | 0x8000_0000).to_le_bytes());
    }

    fn decode(&mut self, rx: &mut BytesMut) -> Result<Option<Frame>, TransportError> {
        if rx.len() < 4 {
            return Ok(None);
        }
        let raw = u32::from_le_bytes([rx[0], rx[1], rx[2], rx[3]]);
        if self.peer == Peer::Server && raw & 0x8000_0000 != 0 {
            rx.advance(4);
            return Ok(Some(Frame::QuickAck(raw & 0x7fff_ffff)));
        }
        let quick_ack = self.peer == Peer::Client && raw & 0x8000_0000 != 0;
        let len = (raw & 0x7fff_ffff) as usize;
        if len > self.max {
            return Err(TransportError::FrameTooLarge { len, max: self.max });
        }
        if len < 4 || (self.padding.is_none() && !len.is_multiple_of(4)) {
            return Err(TransportError::BadLength { len });
        }
        if rx.len() < 4 + len {
            return Ok(None);
        }
        rx.advance(4);
        let mut data = rx.split_to(len);
        if self.padding.is_some() {
            data.truncate(unpadded_len(&data));
        }
        Ok(Some(payload_frame(data, quick_ack, self.peer)))
    }
}
