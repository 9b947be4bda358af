//! The client role: [`ClientConnection`] and its settings.

use super::Stats;
use super::config::Persisted;
use super::engine::Connection;
use super::events::{ClientEvent, Input, Output, RequestHandle, SendOptions};
use super::options::SessionOptions;
use crate::handshake::ClientConfig;
use core::time::Duration;
use mtproto_crypto::Entropy;

/// A client's settings. Every field has a documented default; a client
/// needs a handshake configuration or a saved key.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The handshake settings (server keys, DC): used when there is no
    /// saved key, or after the key is refused.
    pub handshake: Option<ClientConfig>,
    /// A saved key, salts and session ([`ClientConnection::persisted`]); skips the handshake.
    pub resume: Option<Persisted>,
    /// Ping interval (ping_delay_disconnect). Default 60 s. `None` disables pings.
    pub ping_interval: Option<Duration>,
    /// How long to wait for a pong before the link counts as lost. Default 15 s.
    pub pong_timeout: Duration,
    /// Ask for future salts this long before the current one expires. Default 60 s.
    pub salt_prefetch: Duration,
    /// A request without an answer for this long fails with a timeout
    /// (after a msgs_state_req, when it was acknowledged). Default 60 s.
    pub request_timeout: Duration,
    /// Most bytes of requests queued or awaiting an answer; `send` refuses beyond it. Default 64 MiB.
    pub max_queued_bytes: usize,
    /// Framing and message-layer settings.
    pub session: SessionOptions,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            handshake: None,
            resume: None,
            ping_interval: Some(Duration::from_secs(60)),
            pong_timeout: Duration::from_secs(15),
            salt_prefetch: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            max_queued_bytes: 64 << 20,
            session: SessionOptions::default(),
        }
    }
}

impl ClientOptions {
    /// A client that performs a handshake with `handshake`.
    pub fn new(handshake: ClientConfig) -> Self {
        Self { handshake: Some(handshake), ..Self::default() }
    }

    /// A client that resumes a saved key (and session, if it may be continued).
    pub fn resume(saved: Persisted) -> Self {
        Self { resume: Some(saved), ..Self::default() }
    }

    fn engine_config(self) -> super::config::ConnectionConfig {
        let Self {
            handshake,
            resume,
            ping_interval,
            pong_timeout,
            salt_prefetch,
            request_timeout,
            max_queued_bytes,
            session,
        } = self;
        let mut c = session.engine_config();
        c.client = handshake;
        c.resume = resume;
        c.ping_interval = ping_interval;
        c.pong_timeout = pong_timeout;
        c.salt_prefetch = salt_prefetch;
        c.request_timeout = request_timeout;
        c.max_queued_bytes = max_queued_bytes;
        c
    }
}

/// A client: its MTProto session (key, session_id, msg_id clock, seq_no,
/// salts, acks owed, requests and their delivery state) and the link it
/// currently runs on. The session outlives links: after
/// [`ClientEvent::LinkLost`] (or [`Input::LinkLost`]) open a new transport
/// connection and call [`ClientConnection::attach_link`].
#[derive(Debug)]
pub struct ClientConnection(Connection);

impl ClientConnection {
    /// # Examples
    ///
    /// A client with Telegram's test-DC keys starts its handshake at once
    /// (req_pq_multi, after the intermediate transport's tag):
    ///
    /// ```
    /// use core::time::Duration;
    /// use mtproto_core::handshake::ClientConfig;
    /// use mtproto_core::{ClientConnection, ClientOptions, Output};
    /// use mtproto_crypto::rsa::builtin;
    /// let now = Duration::from_secs(1_780_000_000);
    /// let mut client = ClientConnection::new(ClientOptions::new(ClientConfig::new(builtin::test(), 2)), now)?;
    /// assert!(!client.is_ready());
    /// let Output::Transmit(first) = client.poll_output(now) else { panic!("the handshake starts") };
    /// assert_eq!(first[..4], [0xee; 4], "the intermediate tag");
    /// # Ok::<(), mtproto_crypto::CryptoError>(())
    /// ```
    /// A client. Performs a handshake unless `options.resume` holds a key.
    ///
    /// # Errors
    /// When the operating system's random number generator fails.
    pub fn new(options: ClientOptions, now: Duration) -> Result<Self, mtproto_crypto::CryptoError> {
        Connection::client(std::sync::Arc::new(options.engine_config()), now).map(Self)
    }

    /// A client with the given entropy (deterministic tests and simulations).
    pub fn with_entropy(options: ClientOptions, now: Duration, entropy: Box<dyn Entropy + Send>) -> Self {
        Self(Connection::client_with_entropy(std::sync::Arc::new(options.engine_config()), now, entropy))
    }

    /// Feeds one input (bytes, a packet, a timeout, link loss).
    pub fn handle_input(&mut self, input: Input<'_>, now: Duration) {
        self.0.handle_input(input, now);
    }

    /// The next output. After every input, call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self, now: Duration) -> Output<ClientEvent> {
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
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.0.poll_event()
    }

    /// # Examples
    ///
    /// A request that cannot be sent fails with what is known of it:
    ///
    /// ```
    /// use core::time::Duration;
    /// use mtproto_core::connection::{Delivery, Persisted, RequestError};
    /// use mtproto_core::{ClientConnection, ClientEvent, ClientOptions};
    /// use mtproto_crypto::AuthKey;
    /// let now = Duration::from_secs(1_780_000_000);
    /// let mut client = ClientConnection::new(ClientOptions::resume(Persisted::new(AuthKey::from_bytes([1; 256]), 0, 0)), now)?;
    /// client.close();
    /// let handle = client.send(vec![0; 8], Default::default());
    /// let failed = std::iter::from_fn(|| client.poll_event())
    ///     .find_map(|e| if let ClientEvent::RequestFailed { handle: h, error } = e { Some((h, error)) } else { None });
    /// assert_eq!(failed, Some((handle, RequestError::Closed { delivery: Delivery::NotSent })));
    /// # Ok::<(), mtproto_crypto::CryptoError>(())
    /// ```
    /// Queues a request (opaque API bytes) and returns its handle, which
    /// stays valid across re-sends and links.
    pub fn send(&mut self, body: Vec<u8>, options: SendOptions) -> RequestHandle {
        self.0.send(body, options)
    }

    /// Cancels a request: it fails with [`super::RequestError::Cancelled`]
    /// (and the server is asked to drop its answer if it was sent).
    pub fn cancel(&mut self, handle: RequestHandle) {
        self.0.cancel(handle);
    }

    /// Sends a ping now.
    pub fn ping(&mut self, now: Duration) {
        self.0.ping(now);
    }

    /// Sends `http_wait` (HTTP transport): the long-poll settings for the
    /// server's answers, in milliseconds. Telegram's default is
    /// `http_wait(0, 0, 25000)`: packets at once, an idle request answered
    /// empty after 25 s. The server reports it as [`ServerEvent::HttpWait`](super::ServerEvent::HttpWait).
    pub fn http_wait(&mut self, max_delay: i32, wait_after: i32, max_wait: i32) {
        self.0.http_wait(max_delay, wait_after, max_wait);
    }

    /// Asks the server to destroy another session of this key.
    pub fn destroy_session(&mut self, session_id: i64) {
        self.0.destroy_session(session_id);
    }

    /// A new transport connection is up, and the session continues on it:
    /// requests whose fate the lost link left unknown are asked about with
    /// msgs_state_req (and sent again only when the server says it never
    /// received them), the queue goes out, and a handshake the lost link
    /// interrupted starts again. Does nothing while a link is attached.
    pub fn attach_link(&mut self, now: Duration) {
        self.0.attach_link(now);
    }

    /// Whether the client waits for [`ClientConnection::attach_link`].
    pub fn is_detached(&self) -> bool {
        self.0.is_detached()
    }

    /// What to save to resume without a handshake, even after a restart
    /// (once ready): the key, salts, time offset and, while the session may
    /// be continued, the session.
    pub fn persisted(&self) -> Option<Persisted> {
        self.0.persisted()
    }

    /// The current session id (once ready).
    pub fn session_id(&self) -> Option<i64> {
        self.0.session_id()
    }

    /// Requests without an answer yet.
    pub fn pending_requests(&self) -> usize {
        self.0.pending_requests()
    }

    /// Sizes of the internal state.
    pub fn stats(&self) -> Stats {
        self.0.stats()
    }

    /// Whether the session is usable.
    pub fn is_ready(&self) -> bool {
        self.0.is_ready()
    }

    /// Whether the connection is closed for good.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Closes the connection; pending requests fail with what is known of
    /// their delivery.
    pub fn close(&mut self) {
        self.0.close();
    }

    /// A description of the internal queues, for debugging simulations.
    #[doc(hidden)]
    pub fn debug_state(&self) -> String {
        self.0.debug_state()
    }
}

super::endpoint_by_forwarding!(ClientConnection, ClientEvent);
