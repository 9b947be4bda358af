//! What goes into and comes out of a Connection.

use core::fmt;
use core::time::Duration;
use mtproto_crypto::AuthKey;

/// Identifies a request across re-sends (a msg_id does not: a re-sent
/// message gets a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestHandle(pub u64);

/// Input to [`super::Connection::handle_input`].
#[derive(Debug)]
pub enum Input<'a> {
    /// Transport-framed bytes as read from the socket.
    Bytes(&'a [u8]),
    /// One whole MTProto packet, for callers that frame packets themselves.
    Packet(&'a mut [u8]),
    /// A deadline given by [`Output::Timeout`] has passed.
    Timeout,
}

/// Output of [`super::Connection::poll_output`].
#[derive(Debug)]
pub enum Output {
    /// Bytes to write to the socket, in order.
    Transmit(Vec<u8>),
    /// Something happened.
    Event(Event),
    /// Nothing more now; call again after new input or at this time (unix time).
    Timeout(Duration),
}

/// What the caller must do after a session reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetAction {
    /// Updates may have been missed: fetch the difference (updates.getDifference).
    FetchMissedUpdates,
}

/// Why a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`super::Connection::close`] was called.
    Local,
    /// The handshake failed.
    Handshake(crate::handshake::HandshakeError),
    /// The transport stream was malformed.
    Transport(crate::transport::TransportError),
    /// The server reported a transport error (e.g. -404: unknown auth key).
    TransportErrorCode(i32),
    /// No pong arrived in time.
    PongTimeout,
    /// The peer sent something the protocol says ends the connection.
    Protocol(String),
    /// Server: the client used an auth_key_id we do not know, or a known
    /// one with a packet that does not authenticate under it.
    UnknownAuthKey,
    /// Server: no authenticated message arrived within
    /// [`super::ConnectionConfig::server_idle_timeout`].
    IdleTimeout,
}

/// Why an authenticated inbound packet was dropped without being processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Its gzip_packed objects declare more inflated bytes than the budget
    /// left for this input ([`super::ConnectionConfig::inflate_budget`]).
    InflateBudget {
        /// Bytes the packet's objects declare.
        declared: usize,
        /// Bytes of the budget that were left.
        left: usize,
    },
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("closed locally"),
            Self::Handshake(e) => write!(f, "handshake failed: {e}"),
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::TransportErrorCode(c) => write!(f, "transport error {c}"),
            Self::PongTimeout => f.write_str("no pong in time"),
            Self::Protocol(s) => write!(f, "protocol violation: {s}"),
            Self::UnknownAuthKey => f.write_str("unknown auth_key_id"),
            Self::IdleTimeout => f.write_str("no authenticated message within the idle timeout"),
        }
    }
}

/// Per-request options.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions {
    /// Ask the server for a quick ack (abridged and intermediate transports).
    pub quick_ack: bool,
    /// Never gzip this body.
    pub no_gzip: bool,
}

/// Events, for both roles.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The session is usable; save these to resume later.
    Ready {
        /// The key (boxed: it is 256 bytes plus its ids).
        auth_key: Box<AuthKey>,
        /// The current salt.
        salt: i64,
        /// The learned time offset in seconds.
        time_offset: i64,
    },
    /// The answer to a request.
    RpcResult {
        /// The request.
        handle: RequestHandle,
        /// The result object (gzip already unwrapped).
        body: Vec<u8>,
    },
    /// The request failed on the server.
    RpcError {
        /// The request.
        handle: RequestHandle,
        /// The error code.
        code: i32,
        /// The error message.
        message: String,
    },
    /// The request failed locally (timeout, connection closed, cancelled, refused).
    RequestFailed {
        /// The request.
        handle: RequestHandle,
        /// Why.
        reason: String,
    },
    /// Server-initiated content (updates), gzip unwrapped.
    Update {
        /// The object.
        body: Vec<u8>,
    },
    /// Server role: a client's request, to be answered with [`super::Connection::respond`].
    Request {
        /// The request's msg_id (pass it to `respond`).
        req_msg_id: i64,
        /// The request body (gzip unwrapped).
        body: Vec<u8>,
    },
    /// Server role: a client started a new session (new_session_created was sent).
    NewSession {
        /// The client's session id.
        session_id: i64,
    },
    /// The server started a new session.
    SessionReset {
        /// What the caller should do.
        action: ResetAction,
    },
    /// The server acknowledged receipt of a packet carrying this request
    /// (quick ack); reported once per transmission, so a re-sent request may
    /// see it more than once.
    QuickAck {
        /// The request.
        handle: RequestHandle,
    },
    /// A pong arrived; the round trip it measured.
    Pong {
        /// Round-trip time.
        rtt: Duration,
    },
    /// The salt changed (bad_server_salt, new session, or future salt rotation).
    SaltChanged {
        /// The new salt.
        salt: i64,
    },
    /// A transport error code from the server (e.g. -429 flood).
    TransportError {
        /// The code.
        code: i32,
    },
    /// An authenticated packet was dropped whole, unprocessed (and unacknowledged).
    InboundDropped {
        /// Why.
        reason: DropReason,
    },
    /// The connection is closed; nothing more will happen.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}
