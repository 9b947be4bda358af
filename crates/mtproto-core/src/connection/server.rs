//! The server role: [`ServerConnection`] (one link of a server) and its
//! settings.

use super::Stats;
use super::config::KeyLookup;
use super::engine::Connection;
use super::events::{Input, Output, ServerEvent};
use super::lazy_entropy::{LazyEntropy, SharedEntropy};
use super::options::SessionOptions;
use super::store::{MemorySessionStore, SessionStore};
use crate::handshake::ServerConfig;
use core::time::Duration;
use mtproto_crypto::Entropy;
use std::sync::Arc;

/// A server's settings, shared by all its links: build them once and clone
/// them for each connection, so every link uses the same session store.
/// Every field has a documented default.
#[derive(Clone)]
pub struct ServerOptions {
    /// The handshake settings (RSA private keys, DH group). Without them,
    /// a client that starts a handshake is refused
    /// ([`super::ConfigError::NoServerHandshake`]).
    pub handshake: Option<ServerConfig>,
    /// Looks up keys of clients that connect with an existing key.
    pub key_lookup: Option<KeyLookup>,
    /// The server's client sessions and each key's salts, shared by all its
    /// links. Default: a [`MemorySessionStore`] of
    /// [`ServerOptions::DEFAULT_MAX_SESSIONS`] parked sessions.
    pub session_store: Arc<dyn SessionStore>,
    /// Close a link that carried no authenticated message for this long (a
    /// client's `ping_delay_disconnect` closes it sooner). Default 5 minutes.
    pub idle_timeout: Duration,
    /// Lifetime of each issued salt. Default 1 hour.
    pub salt_lifetime: Duration,
    /// Accepted distance of a client msg_id into the past. Default 300 s.
    pub msg_id_past: Duration,
    /// Accepted distance of a client msg_id into the future. Default 30 s.
    pub msg_id_future: Duration,
    /// Framing and message-layer settings.
    pub session: SessionOptions,
}

impl core::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("handshake", &self.handshake.is_some())
            .field("key_lookup", &self.key_lookup.is_some())
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            handshake: None,
            key_lookup: None,
            session_store: Arc::new(MemorySessionStore::new(Self::DEFAULT_MAX_SESSIONS)),
            idle_timeout: Duration::from_secs(300),
            salt_lifetime: Duration::from_secs(3600),
            msg_id_past: Duration::from_secs(300),
            msg_id_future: Duration::from_secs(30),
            session: SessionOptions::default(),
        }
    }
}

impl ServerOptions {
    /// Parked sessions the default store keeps at most.
    pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

    /// # Examples
    ///
    /// Build the options once and clone them per connection: the clones
    /// share one session store, so sessions are the server's.
    ///
    /// ```
    /// use core::time::Duration;
    /// use mtproto_core::{ServerConnection, ServerOptions};
    /// use std::sync::Arc;
    /// let options = ServerOptions::default();
    /// let per_link = options.clone();
    /// assert!(Arc::ptr_eq(&options.session_store, &per_link.session_store));
    /// let link = ServerConnection::new(per_link, Duration::from_secs(1_780_000_000))?;
    /// assert!(!link.is_ready(), "waits for the client's first packet");
    /// # Ok::<(), mtproto_crypto::CryptoError>(())
    /// ```
    /// A server that runs handshakes with `handshake`.
    pub fn new(handshake: ServerConfig) -> Self {
        Self { handshake: Some(handshake), ..Self::default() }
    }

    fn engine_config(self) -> super::config::ConnectionConfig {
        let Self {
            handshake,
            key_lookup,
            session_store,
            idle_timeout,
            salt_lifetime,
            msg_id_past,
            msg_id_future,
            session,
        } = self;
        let mut c = session.engine_config();
        c.server = handshake;
        c.key_lookup = key_lookup;
        c.session_store = Some(session_store);
        c.server_idle_timeout = idle_timeout;
        c.salt_lifetime = salt_lifetime;
        c.msg_id_past = msg_id_past;
        c.msg_id_future = msg_id_future;
        c.ping_interval = None;
        c
    }
}

/// A server: its settings, frozen once and shared by every link it makes
/// (one copy for all links instead of one per link), its session store,
/// and its random generator, from which a link draws its own only when it
/// first needs randomness: an idle link then costs about a kilobyte. Make one at start and call
/// [`Server::link`] for each accepted connection. Cloning it is cheap and
/// the clones make links of the same server.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use mtproto_core::connection::{Server, ServerOptions};
/// let now = Duration::from_secs(1_780_000_000);
/// let server = Server::new(ServerOptions::default())?;
/// let first = server.link(now);
/// let second = server.link(now);
/// assert!(!first.is_ready() && !second.is_ready(), "each waits for its client's first packet");
/// # Ok::<(), mtproto_crypto::CryptoError>(())
/// ```
#[derive(Clone)]
pub struct Server {
    config: Arc<super::config::ConnectionConfig>,
    entropy: SharedEntropy,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server").field("transport", &self.config.transport).finish_non_exhaustive()
    }
}

impl Server {
    /// A server with these settings and a generator seeded by the OS.
    ///
    /// # Errors
    /// When the operating system's random number generator fails.
    pub fn new(options: ServerOptions) -> Result<Self, mtproto_crypto::CryptoError> {
        Ok(Self::with_entropy(options, Box::new(mtproto_crypto::OsEntropy::new()?)))
    }

    /// A server whose links draw their randomness from `entropy`
    /// (deterministic tests and simulations with a seeded one).
    pub fn with_entropy(options: ServerOptions, entropy: Box<dyn Entropy + Send>) -> Self {
        Self { config: Arc::new(options.engine_config()), entropy: Arc::new(std::sync::Mutex::new(entropy)) }
    }

    /// A new link (one accepted transport connection).
    pub fn link(&self, now: Duration) -> ServerConnection {
        let entropy = Box::new(LazyEntropy::new(Arc::clone(&self.entropy)));
        ServerConnection(Connection::server_with_entropy(Arc::clone(&self.config), now, entropy))
    }

    /// The server's client sessions and keys, shared by all its links.
    pub fn session_store(&self) -> Option<&Arc<dyn SessionStore>> {
        self.config.session_store.as_ref()
    }

    /// Flushes several of this server's links at once: each frames what it
    /// has queued, then the packets of all are encrypted in one multi-buffer
    /// call (see [`ServerConnection::flush_together`]).
    pub fn flush_together(&self, links: &mut [&mut ServerConnection], now: Duration) {
        ServerConnection::flush_together(links, now);
    }
}

/// One link of a server: the transport connection, a handshake when the
/// client runs one, and the client sessions it carries, which live in the
/// server's [`SessionStore`] and are shared with every other link that
/// carries them (a session continues on a new link; a message accepted on
/// one link is a replay on all).
#[derive(Debug)]
pub struct ServerConnection(Connection);

impl ServerConnection {
    /// A server link.
    ///
    /// # Errors
    /// When the operating system's random number generator fails.
    pub fn new(options: ServerOptions, now: Duration) -> Result<Self, mtproto_crypto::CryptoError> {
        Connection::server(Arc::new(options.engine_config()), now).map(Self)
    }

    /// A server link with the given entropy (deterministic tests and simulations).
    pub fn with_entropy(options: ServerOptions, now: Duration, entropy: Box<dyn Entropy + Send>) -> Self {
        Self(Connection::server_with_entropy(Arc::new(options.engine_config()), now, entropy))
    }

    /// Feeds one input (bytes, a packet, a timeout, link loss).
    pub fn handle_input(&mut self, input: Input<'_>, now: Duration) {
        self.0.handle_input(input, now);
    }

    /// The next output. After every input, call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self, now: Duration) -> Output<ServerEvent> {
        self.0.poll_output(now)
    }

    /// Gives a buffer back for reuse: a transmit once written to the
    /// socket, an event body once read. A driver that recycles what it is
    /// given makes steady state allocation-free (measured in
    /// `tests/alloc.rs`). Optional: a buffer not given back is simply freed.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.0.recycle(buf);
    }

    /// An empty buffer (one given back earlier, when there is one) to build
    /// the next request body or answer in.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        self.0.take_buffer()
    }

    /// The next event, without transmits or timers.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.0.poll_event()
    }

    /// Answers the client request `req_msg_id` ([`ServerEvent::Request`]) with
    /// `body` as its rpc_result. After the link went, the answer is kept in
    /// the session and sent on the client's next link.
    pub fn respond(&mut self, req_msg_id: i64, body: &[u8]) {
        self.0.respond(req_msg_id, body);
    }

    /// Answers the client request `req_msg_id` with an rpc_error.
    pub fn respond_error(&mut self, req_msg_id: i64, code: i32, message: &str) {
        self.0.respond_error(req_msg_id, code, message);
    }

    /// Sends server-initiated content (an update) to the client.
    pub fn push_update(&mut self, body: Vec<u8>) {
        self.0.push_update(body);
    }

    /// Switches the key to a new salt now (on every link and session of the
    /// key); a client still using the old one gets bad_server_salt.
    pub fn rotate_salt(&mut self, now: Duration) {
        self.0.rotate_salt(now);
    }

    /// Forgets the client's current session on every link, so its next
    /// message starts a new one (new_session_created).
    pub fn forget_session(&mut self) {
        self.0.forget_session();
    }

    /// Answers the next client message with bad_msg_notification carrying
    /// `code` instead of processing it (testing, feature `fault-injection`).
    #[cfg(feature = "fault-injection")]
    pub fn inject_bad_msg(&mut self, code: i32) {
        self.0.inject_bad_msg(code);
    }

    /// Flushes several links together: their packets are encrypted in one
    /// multi-buffer pass (a server answering many clients at once).
    pub fn flush_together(links: &mut [&mut ServerConnection], now: Duration) {
        let mut inner: Vec<&mut Connection> = links.iter_mut().map(|l| &mut l.0).collect();
        Connection::flush_together(&mut inner, now);
    }

    /// Over fake-TLS: once the link closed with
    /// [`crate::transport::TransportError::NotFakeTls`], every byte received,
    /// untouched and never answered, for a driver to splice the stream to
    /// the real domain (so active probes see that site).
    pub fn take_rejected_bytes(&mut self) -> Option<Vec<u8>> {
        self.0.take_rejected_bytes()
    }

    /// The client session of the last accepted message (once ready).
    pub fn session_id(&self) -> Option<i64> {
        self.0.session_id()
    }

    /// Sizes of the internal state.
    pub fn stats(&self) -> Stats {
        self.0.stats()
    }

    /// Whether a key is in use (after a handshake or a known key's first message).
    pub fn is_ready(&self) -> bool {
        self.0.is_ready()
    }

    /// Whether the link is closed.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Closes the link; its sessions are handed back to the store.
    pub fn close(&mut self) {
        self.0.close();
    }
}

super::endpoint_by_forwarding!(ServerConnection, ServerEvent);
