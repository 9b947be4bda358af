//! What goes into and comes out of a Connection.

use core::fmt;
use core::time::Duration;
use mtproto_crypto::AuthKey;

/// Identifies a request across re-sends (a msg_id does not: a re-sent
/// message gets a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestHandle(pub u64);

/// Input to [`super::ClientConnection::handle_input`] and [`super::ServerConnection::handle_input`].
#[derive(Debug)]
pub enum Input<'a> {
    /// Transport-framed bytes as read from the socket.
    Bytes(&'a [u8]),
    /// One whole MTProto packet, for callers that frame packets themselves.
    Packet(&'a mut [u8]),
    /// A deadline given by [`Output::Timeout`] has passed.
    Timeout,
    /// The transport connection (the link) is gone: EOF, a socket error.
    /// A client keeps its session (key, session_id, msg_id clock, seq_no,
    /// salts, acks owed, queue and every pending request) and waits for
    /// [`super::ClientConnection::attach_link`]; a server saves its sessions to
    /// its [`super::SessionStore`] and closes.
    LinkLost,
}

/// Output of [`super::ClientConnection::poll_output`] (`Output<ClientEvent>`)
/// and [`super::ServerConnection::poll_output`] (`Output<ServerEvent>`).
#[derive(Debug)]
pub enum Output<E> {
    /// Bytes to write to the socket, in order.
    Transmit(Vec<u8>),
    /// Something happened: a [`ClientEvent`] or a [`ServerEvent`].
    Event(E),
    /// Nothing more now; call again after new input or at this time (unix time).
    Timeout(Duration),
}

/// What the caller must do after a session reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetAction {
    /// Updates may have been missed: fetch the difference (updates.getDifference).
    FetchMissedUpdates,
}

/// How much of a request reached the server, as far as the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Never sent, or sent and provably not received or refused unprocessed
    /// (bad_server_salt, bad_msg_notification, a msgs_state_info saying "not
    /// received"): it was not executed, so a retry is safe.
    NotSent,
    /// Sent, and nothing says whether the server received it: it may or
    /// may not have been executed.
    SentNotAcknowledged,
    /// The server acknowledged it (msgs_ack, or a state info saying
    /// "received"): it may have been executed; its answer is lost.
    Acknowledged,
}

/// Why a request failed locally, with what is known of its delivery, so
/// that a caller can decide whether a retry is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// `close` (or a fatal error) ended the connection first.
    Closed {
        /// How far the request got.
        delivery: Delivery,
    },
    /// No answer within `request_timeout`.
    TimedOut {
        /// How far the request got.
        delivery: Delivery,
    },
    /// [`super::ClientConnection::cancel`] was called (an rpc_drop_answer went out
    /// if it had been sent).
    Cancelled {
        /// How far the request got.
        delivery: Delivery,
    },
    /// `send` refused it: `max_queued_bytes` would be exceeded. Never sent.
    QueueFull {
        /// The limit in bytes.
        limit: usize,
    },
    /// The server refused it with a bad_msg_notification code that has no
    /// recovery (not one of the codes of docs/protocol.md). Not executed.
    Refused {
        /// The code.
        code: i32,
    },
    /// An answer arrived but cannot be read: it does not inflate within the
    /// limits, or its rpc_error is malformed. It was executed.
    BadAnswer,
    /// The server no longer knows the session (or the part of it) the
    /// request was sent in: it forgot the session, or the msg_id fell below
    /// what it remembers (msgs_state_info "nothing known"). The request may
    /// have run and its answer will not come. Sending it again could run it
    /// twice, so this is the caller's decision: retry only if it is
    /// idempotent, or check its effect first.
    SessionLost {
        /// How far the request got (never [`Delivery::NotSent`]).
        delivery: Delivery,
    },
    /// `send` refused it: a TL object is whole 4-byte words, and this body
    /// is `len` bytes (the server could not parse it, so it would never be
    /// answered). Never sent.
    NotTl {
        /// The body's length.
        len: usize,
    },
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotSent => "not sent (safe to retry)",
            Self::SentNotAcknowledged => "sent, not acknowledged (may have run)",
            Self::Acknowledged => "acknowledged by the server (may have run)",
        })
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed { delivery } => write!(f, "connection closed; request {delivery}"),
            Self::TimedOut { delivery } => write!(f, "no answer in time; request {delivery}"),
            Self::Cancelled { delivery } => write!(f, "cancelled; request {delivery}"),
            Self::SessionLost { delivery } => write!(
                f,
                "the server forgot the session it was sent in; request {delivery}: retry only if it is idempotent"
            ),
            Self::QueueFull { limit } => write!(f, "more than {limit} bytes queued: not sent, retry later"),
            Self::Refused { code } => write!(f, "refused by the server (bad_msg_notification {code}); not executed"),
            Self::BadAnswer => f.write_str("the answer arrived but cannot be read (too large or malformed)"),
            Self::NotTl { len } => {
                write!(f, "a {len}-byte body is no TL object (whole 4-byte words): fix the serialization; not sent")
            }
        }
    }
}

impl RequestError {
    /// How far the request got: [`Delivery::NotSent`] promises it was never
    /// executed and never will be (a retry is safe); the others say it may
    /// have been.
    pub fn delivery(&self) -> Delivery {
        match self {
            Self::Closed { delivery }
            | Self::TimedOut { delivery }
            | Self::Cancelled { delivery }
            | Self::SessionLost { delivery } => *delivery,
            Self::QueueFull { .. } | Self::Refused { .. } | Self::NotTl { .. } => Delivery::NotSent,
            // An answer arrived: it was executed.
            Self::BadAnswer => Delivery::Acknowledged,
        }
    }
}

impl core::error::Error for RequestError {}

/// A connection or configuration mistake that ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A client has neither a handshake configuration nor a saved key.
    NoClientCredentials,
    /// A server got a handshake but has no handshake configuration.
    NoServerHandshake,
    /// The full transport cannot be obfuscated.
    ObfuscatedFull,
    /// Framed bytes were fed to an unframed connection.
    BytesOnUnframed,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoClientCredentials => "client without handshake config or saved key: set `client` or `resume`",
            Self::NoServerHandshake => "a client started a handshake but the server has no `server` config",
            Self::ObfuscatedFull => "the full transport cannot be obfuscated: choose intermediate or abridged",
            Self::BytesOnUnframed => "Input::Bytes on an unframed connection: feed Input::Packet",
        })
    }
}

/// Why a client's Connection found its link lost (it keeps its session).
/// A loss the driver reports with [`Input::LinkLost`] is not echoed back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkLoss {
    /// No pong arrived in time.
    PongTimeout,
    /// A frame was started but not completed within `frame_timeout`.
    FrameTimeout,
    /// The transport stream was malformed.
    Transport(crate::transport::TransportError),
    /// The server answered -429 (too many connections or requests from this
    /// address): connect again no sooner than `retry_after` from now (a
    /// backoff that doubles with each -429 in a row, 1 s to 64 s).
    Flood {
        /// How long to wait before the next link.
        retry_after: core::time::Duration,
    },
}

/// A transport error code the server sent (-404, -429, -444, ...), with
/// what it means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportFailure {
    /// -404: the server does not know the auth key. For a temporary key the
    /// key was destroyed (expired): run a new handshake and bind it again
    /// (TDLib, tdesktop). For a permanent key: the key is gone; run a new
    /// handshake (and log in again).
    AuthKeyUnknown {
        /// Whether the key was a temporary (PFS) key.
        temporary: bool,
    },
    /// -429: flood; the link is dropped and the session kept (see
    /// [`LinkLoss::Flood`]).
    Flood,
    /// -444: the DC id in the obfuscated2 header is wrong for this server.
    BadDcId,
    /// Another code.
    Other(i32),
}

impl TransportFailure {
    /// The meaning of a transport error code.
    pub fn from_code(code: i32, temporary_key: bool) -> Self {
        match code {
            -404 => Self::AuthKeyUnknown { temporary: temporary_key },
            -429 => Self::Flood,
            -444 => Self::BadDcId,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthKeyUnknown { temporary: true } => {
                f.write_str("the temporary auth key was destroyed (-404): run a new handshake and bind it")
            }
            Self::AuthKeyUnknown { temporary: false } => {
                f.write_str("auth key unknown to the server (-404): run a new handshake")
            }
            Self::Flood => f.write_str("too many connections or requests (-429): reconnect later"),
            Self::BadDcId => f.write_str("wrong DC id for this server (-444): connect to the right DC"),
            Self::Other(code) => write!(f, "transport error {code}"),
        }
    }
}

/// Why a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// `close` was called.
    Local,
    /// The handshake failed.
    Handshake(crate::handshake::HandshakeError),
    /// The transport stream was malformed.
    Transport(crate::transport::TransportError),
    /// The server reported a transport error that ends the connection
    /// (-404: unknown auth key, -444: bad DC id; -429 only drops the link).
    TransportFailure(TransportFailure),
    /// No pong arrived in time.
    PongTimeout,
    /// The configuration does not allow what was asked.
    Config(ConfigError),
    /// A frame was started but not completed within `frame_timeout` (server).
    FrameTimeout,
    /// Server: the link was lost ([`Input::LinkLost`]); the sessions were saved.
    LinkLost,
    /// Server: the client used an auth_key_id we do not know, or a known
    /// one with a packet that does not authenticate under it.
    UnknownAuthKey,
    /// Server: no authenticated message arrived within
    /// [`super::ServerOptions::idle_timeout`].
    IdleTimeout,
}

/// Why an authenticated inbound packet was dropped without being processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Its gzip_packed objects declare more inflated bytes than the budget
    /// left for this input ([`super::SessionOptions::inflate_budget`]).
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
            Self::Local => f.write_str("closed locally (close() was called)"),
            Self::Handshake(e) => write!(f, "handshake failed: {e}"),
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::TransportFailure(t) => write!(f, "{t}"),
            Self::PongTimeout => f.write_str("no pong in time: the link is dead; connect again"),
            Self::Config(e) => write!(f, "configuration: {e}"),
            Self::FrameTimeout => f.write_str("a frame was left incomplete within frame_timeout: the link is dead; connect again"),
            Self::LinkLost => f.write_str("link lost (its sessions were handed back to the session store)"),
            Self::UnknownAuthKey => f.write_str("unknown auth_key_id (answered -404): the client must run a new handshake"),
            Self::IdleTimeout => f.write_str("no authenticated message within the idle timeout (ServerOptions::idle_timeout): closed to free the slot"),
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
    /// Run only after this earlier request: the body goes out wrapped in
    /// `invokeAfterMsg` with that request's current msg_id, re-wrapped on
    /// every re-send (a re-sent request gets a new msg_id, which the handle
    /// hides). Once the earlier request is answered, the body goes plain.
    pub after: Option<RequestHandle>,
}

/// What happens to a client: answers, failures with what is known of their
/// delivery, updates, link loss, session resets.
///
/// # Examples
///
/// What a client driver does with the events it polls:
///
/// ```
/// use mtproto_core::connection::{Delivery, RequestError};
/// use mtproto_core::ClientEvent;
/// fn on_event(event: ClientEvent) -> Option<String> {
///     match event {
///         ClientEvent::Ready { auth_key, .. } => Some(format!("key {:016x} ready: save it", auth_key.id() as u64)),
///         ClientEvent::RpcResult { handle, body } => Some(format!("{handle:?}: {} bytes", body.len())),
///         ClientEvent::RequestFailed { handle, error } if error.delivery() == Delivery::NotSent => {
///             Some(format!("{handle:?} never ran ({error}): safe to retry"))
///         }
///         ClientEvent::RequestFailed { handle, error } => Some(format!("{handle:?}: {error}")),
///         ClientEvent::LinkLost { cause } => Some(format!("link lost ({cause:?}): reconnect, then attach_link")),
///         ClientEvent::Closed { reason } => Some(format!("closed: {reason}")),
///         _ => None,
///     }
/// }
/// let failed = ClientEvent::RequestFailed {
///     handle: mtproto_core::RequestHandle(1),
///     error: RequestError::QueueFull { limit: 1 << 20 },
/// };
/// assert!(on_event(failed).is_some_and(|s| s.contains("safe to retry")));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
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
    /// The request failed locally (timeout, connection closed, cancelled,
    /// refused), with what is known of its delivery.
    RequestFailed {
        /// The request.
        handle: RequestHandle,
        /// Why, and how far it got.
        error: RequestError,
    },
    /// Server-initiated content (updates), gzip unwrapped.
    Update {
        /// The object.
        body: Vec<u8>,
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
    /// A transport error code from the server, with its meaning (a -404
    /// or -444 then closes the connection, a -429 drops the link).
    TransportError {
        /// The code as sent.
        code: i32,
        /// What it means and what to do.
        failure: TransportFailure,
    },
    /// The link is gone (the session is kept); open a new transport
    /// connection and call [`super::ClientConnection::attach_link`].
    LinkLost {
        /// Why.
        cause: LinkLoss,
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

/// What happens on one server link: the key it got, client requests to
/// answer, new sessions, long-poll settings.
///
/// # Examples
///
/// What a server driver does with the events it polls:
///
/// ```
/// use mtproto_core::{ServerConnection, ServerEvent};
/// fn on_event(link: &mut ServerConnection, event: ServerEvent) -> bool {
///     match event {
///         // Keep the key where `key_lookup` finds it for the client's next links.
///         ServerEvent::Ready { auth_key, .. } => drop(auth_key),
///         // Run the request (here: echo it) and answer it.
///         ServerEvent::Request { req_msg_id, body } => link.respond(req_msg_id, &body),
///         ServerEvent::Closed { .. } => return false,
///         _ => {}
///     }
///     true
/// }
/// # let _ = on_event;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The link has a key: one the handshake just created (store it, so
    /// that `key_lookup` finds it on the client's next links) or one that
    /// `key_lookup` found.
    Ready {
        /// The key (boxed: it is 256 bytes plus its ids).
        auth_key: Box<AuthKey>,
        /// The salt the link starts with.
        salt: i64,
    },
    /// A client's request, to be answered with [`super::ServerConnection::respond`].
    Request {
        /// The request's msg_id (pass it to `respond`).
        req_msg_id: i64,
        /// The request body (gzip unwrapped).
        body: Vec<u8>,
    },
    /// The client sent `http_wait` (its long-poll settings, in
    /// milliseconds): an HTTP driver applies them to its codec
    /// (`transport::http::WaitPolicy::from_tl`, `HttpServer::set_wait`).
    HttpWait {
        /// The settings the client asked for.
        wait: crate::tl::schema::HttpWait,
    },
    /// A client started a new session (new_session_created was sent).
    NewSession {
        /// The client's session id.
        session_id: i64,
    },
    /// An authenticated packet was dropped whole, unprocessed (and unacknowledged).
    InboundDropped {
        /// Why.
        reason: DropReason,
    },
    /// The link is closed (its sessions were saved to the session store);
    /// nothing more will happen on it.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// What a driver serving either role needs to know of an event: whether it
/// ends the link ([`super::Endpoint::Event`]).
pub trait EndpointEvent: fmt::Debug {
    /// Why the connection closed, when this event says it did (nothing more
    /// will happen).
    fn close_reason(&self) -> Option<&CloseReason>;
    /// Why the link went, when this event says the Connection gave it up
    /// (a client: reconnect and attach a new link; a server link closes
    /// instead).
    fn link_loss(&self) -> Option<&LinkLoss>;
}

impl EndpointEvent for ClientEvent {
    fn close_reason(&self) -> Option<&CloseReason> {
        match self {
            Self::Closed { reason } => Some(reason),
            _ => None,
        }
    }

    fn link_loss(&self) -> Option<&LinkLoss> {
        match self {
            Self::LinkLost { cause } => Some(cause),
            _ => None,
        }
    }
}

impl EndpointEvent for ServerEvent {
    fn close_reason(&self) -> Option<&CloseReason> {
        match self {
            Self::Closed { reason } => Some(reason),
            _ => None,
        }
    }

    fn link_loss(&self) -> Option<&LinkLoss> {
        None
    }
}

/// An event as the role-agnostic engine queues it; each role's wrapper takes
/// only its own.
#[derive(Debug)]
pub(crate) enum Emitted {
    Client(ClientEvent),
    Server(ServerEvent),
}

impl From<ClientEvent> for Emitted {
    fn from(event: ClientEvent) -> Self {
        Self::Client(event)
    }
}

impl From<ServerEvent> for Emitted {
    fn from(event: ServerEvent) -> Self {
        Self::Server(event)
    }
}

/// A role's event type, taken out of the engine's queue.
pub(crate) trait RoleEvent: Sized {
    /// The event, when it is this role's (the engine emits only the
    /// connection's own role's events, so the other kind never comes).
    fn take(emitted: Emitted) -> Option<Self>;
}

impl RoleEvent for ClientEvent {
    fn take(emitted: Emitted) -> Option<Self> {
        match emitted {
            Emitted::Client(event) => Some(event),
            Emitted::Server(_) => None,
        }
    }
}

impl RoleEvent for ServerEvent {
    fn take(emitted: Emitted) -> Option<Self> {
        match emitted {
            Emitted::Server(event) => Some(event),
            Emitted::Client(_) => None,
        }
    }
}
