//! The session machinery, one type per role: [`ClientConnection`] and
//! [`ServerConnection`] (one link of a server). Each drives the handshake
//! (when no key is given) and then the encrypted session.
//!
//! The contract has one input path and one output path: feed
//! `handle_input`, then drain `poll_output` until it returns
//! [`Output::Timeout`]. `now` is the current unix time as a
//! [`Duration`](core::time::Duration); nothing here reads a clock.
//!
//! # Examples
//!
//! A client and a server that share a key, wired in memory (unframed: each
//! transmit is one MTProto packet); the server answers every request with
//! its own body:
//!
//! ```
//! use core::time::Duration;
//! use mtproto_core::connection::{ClientOptions, Persisted, ServerOptions, Transporting};
//! use mtproto_core::{ClientConnection, ClientEvent, Input, Output, ServerConnection, ServerEvent};
//! use mtproto_crypto::AuthKey;
//! use std::sync::Arc;
//!
//! let now = Duration::from_secs(1_780_000_000);
//! let key = AuthKey::from_bytes([3; 256]);
//! let mut client_options = ClientOptions::resume(Persisted::new(key.clone(), 0, 0));
//! client_options.session.transport = Transporting::Unframed;
//! let mut server_options = ServerOptions::default();
//! server_options.session.transport = Transporting::Unframed;
//! server_options.key_lookup = Some(Arc::new(move |id| (id == key.id()).then(|| key.clone())));
//! let mut client = ClientConnection::new(client_options, now)?;
//! let mut server = ServerConnection::new(server_options, now)?;
//!
//! // Opaque API bytes (a TL object: whole 4-byte words).
//! let handle = client.send(b"\x01\x02\x03\x04 hello!!".to_vec(), Default::default());
//! let mut answer = None;
//! for _round in 0..10 {
//!     loop {
//!         match client.poll_output(now) {
//!             Output::Transmit(mut packet) => server.handle_input(Input::Packet(&mut packet), now),
//!             Output::Event(ClientEvent::RpcResult { handle: h, body }) if h == handle => answer = Some(body),
//!             Output::Event(_) => {}
//!             Output::Timeout(_) => break,
//!         }
//!     }
//!     loop {
//!         match server.poll_output(now) {
//!             Output::Transmit(mut packet) => client.handle_input(Input::Packet(&mut packet), now),
//!             Output::Event(ServerEvent::Request { req_msg_id, body }) => server.respond(req_msg_id, &body),
//!             Output::Event(_) => {}
//!             Output::Timeout(_) => break,
//!         }
//!     }
//! }
//! assert_eq!(answer.as_deref(), Some(&b"\x01\x02\x03\x04 hello!!"[..]));
//! # Ok::<(), mtproto_crypto::CryptoError>(())
//! ```

mod client;
mod config;
mod engine;
mod events;
mod idmap;
mod lazy_entropy;
mod options;
mod pool;
mod replay;
mod seen_sessions;
mod server;
mod store;
mod trace;

pub use client::{ClientConnection, ClientOptions};
pub use config::{ContinuedSession, KeyLookup, Persisted, Transporting};
pub use events::{
    ClientEvent, CloseReason, ConfigError, Delivery, DropReason, EndpointEvent, Input, LinkLoss, Output, RequestError,
    RequestHandle, ResetAction, SendOptions, ServerEvent, TransportFailure,
};
pub use options::SessionOptions;
pub use replay::ReplayWindow;
pub use server::{Server, ServerConnection, ServerOptions};
pub use store::{
    MAX_REDELIVER_BYTES, MAX_SESSIONS_PER_KEY, MemorySessionStore, SessionStore, SharedKey, SharedSession,
};

/// Implements [`Endpoint`] for a role type wrapping the engine (`.0`).
macro_rules! endpoint_by_forwarding {
    ($role:ty, $event:ty) => {
        impl super::Endpoint for $role {
            type Event = $event;

            fn handle_input(&mut self, input: super::Input<'_>, now: core::time::Duration) {
                self.0.handle_input(input, now);
            }

            fn poll_output(&mut self, now: core::time::Duration) -> super::Output<$event> {
                self.0.poll_output(now)
            }

            fn is_closed(&self) -> bool {
                self.0.is_closed()
            }

            fn session_id(&self) -> Option<i64> {
                self.0.session_id()
            }

            fn stats(&self) -> super::Stats {
                self.0.stats()
            }
        }
    };
}
use endpoint_by_forwarding;

/// What both roles share: one input path and one output path, so a driver
/// (a socket loop, a simulation, a fuzzer) can serve either.
pub trait Endpoint {
    /// The role's event type: [`ClientEvent`] or [`ServerEvent`].
    type Event: EndpointEvent;
    /// Feeds one input (bytes, a packet, a timeout, link loss).
    fn handle_input(&mut self, input: Input<'_>, now: core::time::Duration);
    /// The next output; after every input, call until it returns [`Output::Timeout`].
    fn poll_output(&mut self, now: core::time::Duration) -> Output<Self::Event>;
    /// Whether it is closed for good.
    fn is_closed(&self) -> bool;
    /// The client session id: the client's own, or the one of the last
    /// message a server link accepted (once ready).
    fn session_id(&self) -> Option<i64>;
    /// Sizes of the internal state.
    fn stats(&self) -> Stats;
}

/// Sizes of a connection's internal state ([`ClientConnection::stats`], [`ServerConnection::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Messages waiting to be sent.
    pub queued: usize,
    /// Sent messages kept until acknowledged or answered (bounded).
    pub awaiting_ack_or_answer: usize,
    /// Requests without an answer yet.
    pub open_requests: usize,
    /// Sent containers remembered for re-sends (bounded).
    pub containers_remembered: usize,
    /// Received msg_ids remembered against replays (bounded by the window).
    pub replay_window: usize,
    /// Acks not yet sent.
    pub pending_acks: usize,
    /// Bytes of an incomplete transport frame.
    pub buffered_transport_bytes: usize,
    /// Encrypted packets decrypted together with others so far (when one
    /// input completes three or more frames, they go through
    /// `mtproto_crypto::envelope::decrypt_many` in one call).
    pub opened_together: u64,
    /// Client: bytes of requests queued or awaiting an answer (what
    /// `max_queued_bytes` bounds).
    pub queued_bytes: usize,
    /// Bytes of kept messages a msg_resend_req asked for beyond
    /// `max_resend_bytes`, so not sent again.
    pub resend_bytes_refused: u64,
    /// Server: earlier client sessions remembered with their replay windows.
    pub sessions_remembered: usize,
    /// Client: links lost so far (each resumed with `attach_link`).
    pub links_lost: u64,
    /// Server: bad_server_salt notifications sent.
    pub bad_salts_sent: u64,
}
