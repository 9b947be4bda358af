//! Transports: incremental sans-IO framing codecs for both directions.
//!
//! A [`Framing`] turns MTProto packets into a byte stream and back. The
//! built-in framings are [`abridged`], [`intermediate`] (plain and padded) and
//! [`full`]; [`Transport`] adds the protocol tag the initiator sends first,
//! the optional obfuscated2 layer, the optional MTProxy fake-TLS layer
//! ([`fake_tls`]), and server-side detection of what the client chose. Users with their own framing implement [`Framing`].
//!
//! [`http`] carries packets in HTTP requests and responses instead; its
//! codecs sit outside a Connection built with
//! [`Transporting::Unframed`](crate::connection::Transporting::Unframed).

pub mod abridged;
mod error;
pub mod fake_tls;
pub mod full;
pub mod http;
pub mod intermediate;
mod secret;
mod stream;

pub use error::TransportError;
pub use secret::{MAX_DOMAIN_LEN, ProxySecret, SecretError};
pub use stream::{Obfuscation, Transport, TransportKind};

use bytes::BytesMut;

/// Default largest frame accepted (a little above Telegram's 1 MiB messages plus overhead).
pub const DEFAULT_MAX_FRAME: usize = (1 << 20) + 4096;

/// What a decoder can produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// An MTProto packet (plaintext or encrypted message).
    Packet {
        /// The packet bytes, ready to be decrypted in place.
        data: BytesMut,
        /// The sender asked for a quick ack (only clients ask).
        quick_ack: bool,
    },
    /// A quick-ack token from the server.
    QuickAck(u32),
    /// A 4-byte transport error from the server (e.g. -404 unknown auth key, -429 flood).
    TransportError(i32),
}

/// Who produced the bytes a framing decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Bytes from a client (we are the server).
    Client,
    /// Bytes from a server (we are the client).
    Server,
}

/// A framing codec. `decode` is called with everything received and not yet
/// consumed, and consumes at most one frame from its front.
pub trait Framing: Send {
    /// Appends the framed `payload` to `out`. A client may ask for a quick ack.
    fn encode(&mut self, payload: &[u8], quick_ack: bool, out: &mut Vec<u8>);

    /// Appends a quick-ack token (server side).
    fn encode_quick_ack(&mut self, token: u32, out: &mut Vec<u8>);

    /// Appends a 4-byte transport error code (server side).
    fn encode_error(&mut self, code: i32, out: &mut Vec<u8>) {
        self.encode(&code.to_le_bytes(), false, out);
    }

    /// Takes one frame from the front of `rx`, or `None` when more bytes are needed.
    ///
    /// # Errors
    /// [`TransportError`] when the stream is malformed; the connection must close.
    fn decode(&mut self, rx: &mut BytesMut) -> Result<Option<Frame>, TransportError>;
}

/// Builds the frame for a complete payload: a 4-byte payload is a transport
/// error code, anything else a packet.
pub(crate) fn payload_frame(data: BytesMut, quick_ack: bool, from: Peer) -> Frame {
    if data.len() == 4 && from == Peer::Server {
        let code = i32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        return Frame::TransportError(code);
    }
    Frame::Packet { data, quick_ack }
}
