//! [`Transport`]: a framing plus the initiator's tag, optional obfuscated2,
//! and server-side detection of the client's choice.

use super::abridged::Abridged;
use super::full::Full;
use super::intermediate::Intermediate;
use super::{Frame, Framing, Peer, TransportError};
use crate::message::Role;
use bytes::{Buf, BytesMut};
use mtproto_crypto::Entropy;
use mtproto_crypto::obfuscated2::{self, CtrStream, TAG_ABRIDGED, TAG_INTERMEDIATE, TAG_PADDED_INTERMEDIATE};

/// The built-in framings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Abridged (tag 0xef).
    Abridged,
    /// Intermediate (tag 0xeeeeeeee).
    Intermediate,
    /// Padded intermediate (tag 0xdddddddd).
    PaddedIntermediate,
    /// Full (no tag; length, seq and CRC32 per frame). Cannot be obfuscated.
    Full,
}

/// obfuscated2 settings for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obfuscation {
    /// The DC id written into the header (negative for media DCs, +10000 for test DCs).
    pub dc_id: i16,
    /// The MTProxy secret, if connecting through a proxy.
    pub secret: Option<[u8; 16]>,
}

/// A transport: framing, tag, optional obfuscation, incremental decoding.
pub struct Transport {
    role: Role,
    max_frame: usize,
    kind: Option<TransportKind>,
    framing: Option<Box<dyn Framing>>,
    prefix: Vec<u8>,
    send_ctr: Option<CtrStream>,
    recv_ctr: Option<CtrStream>,
    rx: BytesMut,
    secret: Option<[u8; 16]>,
    entropy: Option<Box<dyn Entropy + Send>>,
}

impl core::fmt::Debug for Transport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Transport")
            .field("role", &self.role)
            .field("kind", &self.kind)
            .field("obfuscated", &self.send_ctr.is_some())
            .field("buffered", &self.rx.len())
            .finish()
    }
}

/// The framing for `kind`; the padded intermediate framing draws its padding
/// from `entropy` (the others drop it).
fn framing_for(kind: TransportKind, peer: Peer, max: usize, entropy: Box<dyn Entropy + Send>) -> Box<dyn Framing> {
    match kind {
        TransportKind::Abridged => Box::new(Abridged::new(peer, max)),
        TransportKind::Intermediate => Box::new(Intermediate::new(peer, max)),
        TransportKind::PaddedIntermediate => Box::new(Intermediate::padded(peer, max, entropy)),
        TransportKind::Full => Box::new(Full::new(peer, max)),
    }
}

fn tag_of(kind: TransportKind) -> Option<[u8; 4]> {
    match kind {
        TransportKind::Abridged => Some(TAG_ABRIDGED),
        TransportKind::Intermediate => Some(TAG_INTERMEDIATE),
        TransportKind::PaddedIntermediate => Some(TAG_PADDED_INTERMEDIATE),
        TransportKind::Full => None,
    }
}

impl Transport {
    /// A client transport. `entropy` draws the obfuscation header and padding.
    ///
    /// # Errors
    /// [`TransportError::UnknownProtocol`] for the full framing with obfuscation.
    pub fn client(
        kind: TransportKind,
        obfuscation: Option<Obfuscation>,
        max_frame: usize,
        mut entropy: Box<dyn Entropy + Send>,
    ) -> Result<Self, TransportError> {
        let (prefix, send_ctr, recv_ctr) = match (obfuscation, tag_of(kind)) {
            (None, Some(tag)) if kind == TransportKind::Abridged => (vec![tag[0]], None, None),
            (None, Some(tag)) => (tag.to_vec(), None, None),
            (None, None) => (Vec::new(), None, None),
            (Some(_), None) => return Err(TransportError::UnknownProtocol),
            (Some(o), Some(tag)) => {
                let s = obfuscated2::client(&mut entropy, tag, o.dc_id, o.secret.as_ref().map(|s| &s[..]));
                (s.header.to_vec(), Some(s.send), Some(s.recv))
            }
        };
        let framing = framing_for(kind, Peer::Server, max_frame, entropy);
        Ok(Self {
            role: Role::Client,
            max_frame,
            kind: Some(kind),
            framing: Some(framing),
            prefix,
            send_ctr,
            recv_ctr,
            rx: BytesMut::new(),
            secret: None,
            entropy: None,
        })
    }

    /// A server transport that detects the client's framing from its first
    /// bytes. With an MTProxy `secret`, only obfuscated clients are accepted.
    pub fn server(secret: Option<[u8; 16]>, max_frame: usize, entropy: Box<dyn Entropy + Send>) -> Self {
        Self {
            role: Role::Server,
            max_frame,
            kind: None,
            framing: None,
            prefix: Vec::new(),
            send_ctr: None,
            recv_ctr: None,
            rx: BytesMut::new(),
            secret,
            entropy: Some(entropy),
        }
    }

    /// A transport over a user-supplied framing; `prefix` is sent before the
    /// first frame (empty for a server).
    pub fn custom(role: Role, framing: Box<dyn Framing>, prefix: Vec<u8>, max_frame: usize) -> Self {
        Self {
            role,
            max_frame,
            kind: None,
            framing: Some(framing),
            prefix,
            send_ctr: None,
            recv_ctr: None,
            rx: BytesMut::new(),
            secret: None,
            entropy: None,
        }
    }

    /// The framing in use (known on a server once the first bytes arrived).
    pub fn kind(&self) -> Option<TransportKind> {
        self.kind
    }

    /// Whether the stream is obfuscated.
    pub fn is_obfuscated(&self) -> bool {
        self.send_ctr.is_some()
    }

    /// Bytes buffered and not yet decoded into a frame.
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }

    fn seal(&mut self, out: &mut [u8], start: usize) {
        if let Some(ctr) = &mut self.send_ctr {
            ctr.apply(&mut out[start..]);
        }
    }

    /// Appends one framed packet (with the tag or header before the first).
    pub fn encode(&mut self, payload: &[u8], quick_ack: bool, out: &mut Vec<u8>) {
        if !self.prefix.is_empty() {
            out.append(&mut self.prefix);
        }
        let start = out.len();
        if let Some(f) = &mut self.framing {
            f.encode(payload, quick_ack, out);
        }
        self.seal(out, start);
    }

    /// Appends a quick-ack token (server).
    pub fn encode_quick_ack(&mut self, token: u32, out: &mut Vec<u8>) {
        let start = out.len();
        if let Some(f) = &mut self.framing {
            f.encode_quick_ack(token, out);
        }
        self.seal(out, start);
    }

    /// Appends a transport error code such as -404 (server).
    pub fn encode_error(&mut self, code: i32, out: &mut Vec<u8>) {
        let start = out.len();
        if let Some(f) = &mut self.framing {
            f.encode_error(code, out);
        }
        self.seal(out, start);
    }

    /// Feeds received bytes, appending every completed frame to `frames`.
    /// Input may be split anywhere. At most one partial frame is buffered,
    /// and a frame announcing more than the maximum is refused before it is.
    ///
    /// # Errors
    /// [`TransportError`]: the connection must be closed.
    pub fn feed(&mut self, bytes: &[u8], frames: &mut Vec<Frame>) -> Result<(), TransportError> {
        let start = self.rx.len();
        self.rx.extend_from_slice(bytes);
        if let Some(ctr) = &mut self.recv_ctr {
            ctr.apply(&mut self.rx[start..]);
        }
        if self.framing.is_none() && !self.detect()? {
            return Ok(());
        }
        let Some(framing) = self.framing.as_mut() else {
            return Ok(());
        };
        while let Some(frame) = framing.decode(&mut self.rx)? {
            frames.push(frame);
        }
        // What is left is one partial frame, which the framing has already
        // length-checked where the length was readable.
        if self.rx.len() > self.max_frame + 16 {
            return Err(TransportError::FrameTooLarge { len: self.rx.len(), max: self.max_frame });
        }
        Ok(())
    }

    /// Server: picks the framing from the first bytes. Returns false while
    /// more bytes are needed.
    fn detect(&mut self) -> Result<bool, TransportError> {
        let rx = &self.rx;
        let Some(&first) = rx.first() else {
            return Ok(false);
        };
        let plain_allowed = self.secret.is_none();
        let chosen = if first == 0xef {
            Some((TransportKind::Abridged, 1))
        } else if rx.len() < 4 {
            return Ok(false);
        } else if rx[..4] == TAG_INTERMEDIATE {
            Some((TransportKind::Intermediate, 4))
        } else if rx[..4] == TAG_PADDED_INTERMEDIATE {
            Some((TransportKind::PaddedIntermediate, 4))
        } else if [*b"POST", *b"GET ", *b"HEAD", *b"OPTI"].iter().any(|t| rx[..4] == t[..]) {
            return Err(TransportError::UnknownProtocol);
        } else if rx.len() < 8 {
            return Ok(false);
        } else if rx[4..8] == [0, 0, 0, 0] {
            Some((TransportKind::Full, 0))
        } else {
            None
        };
        if let Some((kind, consumed)) = chosen {
            if !plain_allowed {
                return Err(TransportError::UnknownProtocol);
            }
            let entropy = self.take_entropy()?;
            self.rx.advance(consumed);
            self.kind = Some(kind);
            self.framing = Some(framing_for(kind, Peer::Client, self.max_frame, entropy));
            return Ok(true);
        }
        if self.rx.len() < 64 {
            return Ok(false);
        }
        let header = self.rx.split_to(64);
        let s = obfuscated2::server(&header, self.secret.as_ref().map(|s| &s[..]))
            .map_err(|_| TransportError::UnknownProtocol)?;
        let kind = match s.tag {
            TAG_ABRIDGED => TransportKind::Abridged,
            TAG_INTERMEDIATE => TransportKind::Intermediate,
            TAG_PADDED_INTERMEDIATE => TransportKind::PaddedIntermediate,
            tag => return Err(TransportError::BadObfuscatedTag { tag }),
        };
        let entropy = self.take_entropy()?;
        let mut recv = s.recv;
        recv.apply(&mut self.rx[..]);
        self.recv_ctr = Some(recv);
        self.send_ctr = Some(s.send);
        self.kind = Some(kind);
        self.framing = Some(framing_for(kind, Peer::Client, self.max_frame, entropy));
        Ok(true)
    }

    /// The server's entropy, handed to the framing once it is detected. Only
    /// a server detects, and only once (its framing is set afterwards), so it
    /// is always there; a transport without it refuses the stream rather
    /// than pad from a made-up generator.
    fn take_entropy(&mut self) -> Result<Box<dyn Entropy + Send>, TransportError> {
        self.entropy.take().ok_or(TransportError::UnknownProtocol)
    }
}
