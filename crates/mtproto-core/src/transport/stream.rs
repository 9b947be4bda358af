//! [`Transport`]: a framing plus the initiator's tag, optional obfuscated2,
//! optional fake-TLS, and server-side detection of the client's choice.

use super::abridged::Abridged;
use super::fake_tls::{self, FakeTlsConfig, HelloRefusal, Received};
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
    // Boxed: an AES-256 key schedule each, which a link that is not
    // obfuscated (or not yet) should not carry inline.
    send_ctr: Option<Box<CtrStream>>,
    recv_ctr: Option<Box<CtrStream>>,
    rx: BytesMut,
    secret: Option<[u8; 16]>,
    entropy: Option<Box<dyn Entropy + Send>>,
    tls: Option<Box<fake_tls::Layer>>,
    clock: Option<i64>,
    refusal: Option<HelloRefusal>,
    rejected: Option<Vec<u8>>,
}

impl core::fmt::Debug for Transport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Transport")
            .field("role", &self.role)
            .field("kind", &self.kind)
            .field("obfuscated", &self.send_ctr.is_some())
            .field("fake_tls", &self.tls.is_some())
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
    /// # Examples
    ///
    /// A client and a server transport in memory; the server detects the
    /// client's framing (here obfuscated2 around intermediate):
    ///
    /// ```
    /// use mtproto_core::transport::{Frame, Obfuscation, Transport, TransportKind, DEFAULT_MAX_FRAME};
    /// use mtproto_crypto::SeededEntropy;
    /// let obf = Some(Obfuscation { dc_id: 2, secret: None });
    /// let mut client = Transport::client(TransportKind::Intermediate, obf, DEFAULT_MAX_FRAME, Box::new(SeededEntropy::new(1)))?;
    /// let mut server = Transport::server(None, DEFAULT_MAX_FRAME, Box::new(SeededEntropy::new(2)));
    /// let mut wire = Vec::new();
    /// client.encode(&[7; 40], false, &mut wire);
    /// let mut frames = Vec::new();
    /// for byte in &wire {
    ///     server.feed(std::slice::from_ref(byte), &mut frames)?; // any split works
    /// }
    /// assert!(matches!(&frames[..], [Frame::Packet { data, .. }] if data[..] == [7; 40]));
    /// assert_eq!(server.kind(), Some(TransportKind::Intermediate));
    /// # Ok::<(), mtproto_core::transport::TransportError>(())
    /// ```
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
                (s.header.to_vec(), Some(Box::new(s.send)), Some(Box::new(s.recv)))
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
            tls: None,
            clock: None,
            refusal: None,
            rejected: None,
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
            tls: None,
            clock: None,
            refusal: None,
            rejected: None,
        }
    }

    /// A fake-TLS client (MTProxy `ee` secret): ClientHello to the
    /// config's domain, then obfuscated2 keyed with the secret over padded
    /// intermediate, in application-data records.
    ///
    /// The hello needs the unix time: nothing goes out before
    /// [`Transport::set_unix_time`]. Then [`Transport::poll_transmit`] (or
    /// the next [`Transport::encode`]) emits it; packets encoded before the
    /// proxy's answer verified are held and go out, in order, from the next
    /// `poll_transmit` or `encode` after it.
    pub fn fake_tls_client(config: &FakeTlsConfig, max_frame: usize, mut entropy: Box<dyn Entropy + Send>) -> Self {
        let tls_entropy = entropy.fork();
        let kind = TransportKind::PaddedIntermediate;
        let s = obfuscated2::client(&mut entropy, TAG_PADDED_INTERMEDIATE, config.dc_id, Some(&config.key()[..]));
        let framing = framing_for(kind, Peer::Server, max_frame, entropy);
        Self {
            role: Role::Client,
            max_frame,
            kind: Some(kind),
            framing: Some(framing),
            prefix: s.header.to_vec(),
            send_ctr: Some(Box::new(s.send)),
            recv_ctr: Some(Box::new(s.recv)),
            rx: BytesMut::new(),
            secret: None,
            entropy: None,
            tls: Some(Box::new(fake_tls::Layer::client(config.clone(), tls_entropy))),
            clock: None,
            refusal: None,
            rejected: None,
        }
    }

    /// A server for fake-TLS clients of `config` (an `ee` secret): a
    /// ClientHello that verifies (see [`fake_tls::verify_client_hello`]) is
    /// answered and the stream continues as obfuscated2 with the key over
    /// padded intermediate. A stream that does not start like TLS goes to
    /// the detection of [`Transport::server`] without a secret, unless
    /// [`FakeTlsConfig::secret_only`]. Anything else is not ours: `feed`
    /// fails with [`TransportError::NotFakeTls`] and
    /// [`Transport::take_rejected`] hands back the bytes, nothing answered.
    ///
    /// The time check needs [`Transport::set_unix_time`] before the hello
    /// arrives (without it every hello is refused as stale); the answer is
    /// taken with [`Transport::poll_transmit`].
    pub fn fake_tls_server(config: FakeTlsConfig, max_frame: usize, mut entropy: Box<dyn Entropy + Send>) -> Self {
        let tls_entropy = entropy.fork();
        let mut me = Self::server(None, max_frame, entropy);
        me.tls = Some(Box::new(fake_tls::Layer::server(config, tls_entropy)));
        me
    }

    /// The current unix time in seconds, for fake-TLS: the client's hello
    /// carries it (pass the local time corrected by any known offset to the
    /// server's clock), the server checks hellos against it. A transport
    /// never reads a clock; other transports ignore it.
    pub fn set_unix_time(&mut self, unix_secs: i64) {
        self.clock = Some(unix_secs);
    }

    /// Appends bytes the transport itself has to send: a fake-TLS client's
    /// ClientHello (once the time is known), then its packets held until the
    /// proxy's answer verified; a fake-TLS server's answer. Call it after
    /// every `feed` and before waiting for input; nothing for other transports.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        if let Some(tls) = &mut self.tls {
            tls.flush(self.clock, out);
        }
    }

    /// Fake-TLS server: after `feed` failed with
    /// [`TransportError::NotFakeTls`], every byte received up to then,
    /// untouched, once. Bytes fed afterwards are not kept: the driver owns
    /// the stream from there.
    pub fn take_rejected(&mut self) -> Option<Vec<u8>> {
        self.rejected.take()
    }

    /// Whether the stream is (or, on a server still reading the first
    /// bytes, may become) fake-TLS.
    pub fn is_fake_tls(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_tls())
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
            tls: None,
            clock: None,
            refusal: None,
            rejected: None,
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
        self.rx.len() + self.tls.as_ref().map_or(0, |t| t.buffered())
    }

    fn seal(&mut self, out: &mut [u8], start: usize) {
        if let Some(ctr) = &mut self.send_ctr {
            ctr.apply(&mut out[start..]);
        }
    }

    /// Fake-TLS: turns what was appended from `from` on into records.
    fn wrap(&mut self, out: &mut Vec<u8>, from: usize) {
        if let Some(tls) = &mut self.tls {
            let inner = out.split_off(from);
            tls.send(self.clock, &inner, out);
        }
    }

    /// Appends one framed packet (with the tag or header before the first).
    pub fn encode(&mut self, payload: &[u8], quick_ack: bool, out: &mut Vec<u8>) {
        let from = out.len();
        if !self.prefix.is_empty() {
            out.append(&mut self.prefix);
        }
        let start = out.len();
        if let Some(f) = &mut self.framing {
            f.encode(payload, quick_ack, out);
        }
        self.seal(out, start);
        self.wrap(out, from);
    }

    /// Appends a quick-ack token (server).
    pub fn encode_quick_ack(&mut self, token: u32, out: &mut Vec<u8>) {
        let start = out.len();
        if let Some(f) = &mut self.framing {
            f.encode_quick_ack(token, out);
        }
        self.seal(out, start);
        self.wrap(out, start);
    }

    /// Appends a transport error code such as -404 (server).
    pub fn encode_error(&mut self, code: i32, out: &mut Vec<u8>) {
        let start = out.len();
        if let Some(f) = &mut self.framing {
            f.encode_error(code, out);
        }
        self.seal(out, start);
        self.wrap(out, start);
    }

    /// Feeds received bytes, appending every completed frame to `frames`.
    /// Input may be split anywhere. At most one partial frame is buffered,
    /// and a frame announcing more than the maximum is refused before it is.
    ///
    /// # Errors
    /// [`TransportError`]: the connection must be closed.
    pub fn feed(&mut self, bytes: &[u8], frames: &mut Vec<Frame>) -> Result<(), TransportError> {
        if let Some(refusal) = self.refusal {
            return Err(TransportError::NotFakeTls { refusal });
        }
        let Some(tls) = self.tls.as_mut() else {
            return self.feed_inner(bytes, frames);
        };
        let mut inner = Vec::new();
        match tls.receive(bytes, self.clock, &mut inner)? {
            Received::Inner | Received::Plain => {}
            Received::Accepted => self.secret = Some(*tls.key()),
            Received::NotOurs(refusal) => {
                self.refusal = Some(refusal);
                self.rejected = Some(inner);
                return Err(TransportError::NotFakeTls { refusal });
            }
        }
        self.feed_inner(&inner, frames)
    }

    fn feed_inner(&mut self, bytes: &[u8], frames: &mut Vec<Frame>) -> Result<(), TransportError> {
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
        // Inside fake-TLS the transport is always padded intermediate.
        if self.is_fake_tls() && kind != TransportKind::PaddedIntermediate {
            return Err(TransportError::BadObfuscatedTag { tag: s.tag });
        }
        let entropy = self.take_entropy()?;
        let mut recv = s.recv;
        recv.apply(&mut self.rx[..]);
        self.recv_ctr = Some(Box::new(recv));
        self.send_ctr = Some(Box::new(s.send));
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
