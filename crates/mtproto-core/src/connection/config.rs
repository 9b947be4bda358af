//! Connection configuration with documented defaults.

use crate::handshake::{ClientConfig, ServerConfig};
use crate::message::Role;
use crate::transport::fake_tls::FakeTlsConfig;
use crate::transport::{Obfuscation, Transport, TransportKind};
use core::time::Duration;
use mtproto_crypto::{AuthKey, Entropy};
use std::sync::Arc;

/// How bytes are framed on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transporting {
    /// A built-in transport (a server detects the client's choice itself, so
    /// the kind only matters for a client).
    Framed(TransportKind, Option<Obfuscation>),
    /// MTProxy fake-TLS (`ee` secret): a client connects through it
    /// ([`Transport::fake_tls_client`]); a server serves it and, unless
    /// [`FakeTlsConfig::secret_only`], plain clients too
    /// ([`Transport::fake_tls_server`]). The Connection passes its `now`
    /// (plus the session's known offset, on a client) to the transport.
    FakeTls(FakeTlsConfig),
    /// The caller frames packets: [`super::Input::Packet`] in, raw packets out.
    Unframed,
}

impl Transporting {
    /// The transport for `role`; `None` when unframed or impossible
    /// (obfuscated full framing).
    pub(crate) fn transport(
        &self,
        role: Role,
        max_frame: usize,
        entropy: Box<dyn Entropy + Send>,
    ) -> Option<Transport> {
        match (self, role) {
            (Self::Unframed, _) => None,
            (Self::Framed(kind, obf), Role::Client) => Transport::client(*kind, *obf, max_frame, entropy).ok(),
            (Self::Framed(_, obf), Role::Server) => {
                Some(Transport::server(obf.and_then(|o| o.secret), max_frame, entropy))
            }
            (Self::FakeTls(c), Role::Client) => Some(Transport::fake_tls_client(c, max_frame, entropy)),
            (Self::FakeTls(c), Role::Server) => Some(Transport::fake_tls_server(c.clone(), max_frame, entropy)),
        }
    }
}

/// Finds the auth key for an auth_key_id (server role).
pub type KeyLookup = Arc<dyn Fn(i64) -> Option<AuthKey> + Send + Sync>;

/// What a caller saves to resume later without a new handshake.
#[derive(Debug, Clone)]
pub struct Persisted {
    /// The authorization key.
    pub auth_key: AuthKey,
    /// The last server salt.
    pub salt: i64,
    /// Seconds to add to the local clock to get the server's.
    pub time_offset: i64,
}

impl Persisted {
    /// Bytes in [`Persisted::to_bytes`]: format version, key, salt, offset.
    pub const ENCODED_LEN: usize = 4 + 256 + 8 + 8;
    const VERSION: u32 = 1;

    /// A stable binary form to store (it contains the key: keep it secret).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut v = zeroize::Zeroizing::new(Vec::with_capacity(Self::ENCODED_LEN));
        v.extend_from_slice(&Self::VERSION.to_le_bytes());
        v.extend_from_slice(self.auth_key.as_bytes());
        v.extend_from_slice(&self.salt.to_le_bytes());
        v.extend_from_slice(&self.time_offset.to_le_bytes());
        v
    }

    /// Reads [`Persisted::to_bytes`] back; `None` for anything else.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::ENCODED_LEN || b[..4] != Self::VERSION.to_le_bytes() {
            return None;
        }
        let key: [u8; 256] = b[4..260].try_into().ok()?;
        let salt = i64::from_le_bytes(b[260..268].try_into().ok()?);
        let time_offset = i64::from_le_bytes(b[268..276].try_into().ok()?);
        Some(Self { auth_key: AuthKey::from_bytes(key), salt, time_offset })
    }
}

/// Connection settings. Every field has a documented default.
#[derive(Clone)]
pub struct ConnectionConfig {
    /// Framing. Default: intermediate, not obfuscated.
    pub transport: Transporting,
    /// Client: the handshake settings (server keys, DC). Required when no key is given.
    pub client: Option<ClientConfig>,
    /// Client: a saved key, salt and offset; skips the handshake.
    pub resume: Option<Persisted>,
    /// Server: the handshake settings (RSA private keys, DH group).
    pub server: Option<ServerConfig>,
    /// Server: looks up keys of clients that connect with an existing key.
    pub key_lookup: Option<KeyLookup>,
    /// Server: where client sessions and each key's salts live between
    /// links ([`super::MemorySessionStore`], or your own). Without one, a
    /// session ends with its link.
    pub session_store: Option<Arc<dyn super::SessionStore>>,
    /// Send a msgs_ack once this many acks are pending. Default 16.
    pub ack_batch: usize,
    /// Or once the oldest pending ack is this old. Default 200 ms.
    pub ack_delay: Duration,
    /// Most messages per container. Default 100 (Telegram allows 1020).
    pub container_max_messages: usize,
    /// Most bytes per container. Default 512 KiB.
    pub container_max_bytes: usize,
    /// Bodies above this size are gzip_packed when that makes them smaller. Default 512 bytes.
    pub gzip_threshold: usize,
    /// Largest inflated gzip_packed body accepted. Default 16 MiB.
    pub inflate_limit: usize,
    /// Most bytes inflated from all the gzip_packed objects of one input
    /// (and so of one packet) together; a packet declaring more is dropped
    /// whole ([`super::DropReason::InflateBudget`]). Default 16 MiB.
    pub inflate_budget: usize,
    /// Server: close a connection that sent no authenticated message for
    /// this long (a client's `ping_delay_disconnect` closes it sooner).
    /// Default 5 minutes.
    pub server_idle_timeout: Duration,
    /// Most bytes of kept messages one msg_resend_req may make us send
    /// again; the rest are not re-sent (counted in
    /// [`super::Stats::resend_bytes_refused`]). Default 1 MiB.
    pub max_resend_bytes: usize,
    /// Client: ping interval (ping_delay_disconnect). Default 60 s. `None` disables pings.
    pub ping_interval: Option<Duration>,
    /// Client: how long to wait for a pong before closing. Default 15 s.
    pub pong_timeout: Duration,
    /// Client: ask for future salts this long before the current one expires. Default 60 s.
    pub salt_prefetch: Duration,
    /// Client: a request without an answer for this long fails with a timeout. Default 60 s.
    pub request_timeout: Duration,
    /// Most bytes of requests queued or awaiting an answer; `send` refuses beyond it. Default 64 MiB.
    pub max_queued_bytes: usize,
    /// Largest transport frame accepted. Default [`crate::transport::DEFAULT_MAX_FRAME`].
    pub max_frame: usize,
    /// Server: lifetime of each issued salt. Default 1 hour.
    pub salt_lifetime: Duration,
    /// Server: accepted distance of a client msg_id into the past. Default 300 s.
    pub msg_id_past: Duration,
    /// Server: accepted distance of a client msg_id into the future. Default 30 s.
    pub msg_id_future: Duration,
    /// How many received msg_ids are remembered to refuse replays. Default 2048.
    pub replay_window: usize,
    /// A frame started but not completed within this time closes the
    /// connection (slowloris defence). Default 30 s.
    pub frame_timeout: Duration,
}

impl core::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConnectionConfig").field("transport", &self.transport).finish_non_exhaustive()
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            transport: Transporting::Framed(TransportKind::Intermediate, None),
            client: None,
            resume: None,
            server: None,
            key_lookup: None,
            session_store: None,
            ack_batch: 16,
            ack_delay: Duration::from_millis(200),
            container_max_messages: 100,
            container_max_bytes: 512 << 10,
            gzip_threshold: 512,
            inflate_limit: crate::message::gzip::DEFAULT_INFLATE_LIMIT,
            inflate_budget: crate::message::gzip::DEFAULT_INFLATE_LIMIT,
            server_idle_timeout: Duration::from_secs(300),
            max_resend_bytes: 1 << 20,
            ping_interval: Some(Duration::from_secs(60)),
            pong_timeout: Duration::from_secs(15),
            salt_prefetch: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            max_queued_bytes: 64 << 20,
            max_frame: crate::transport::DEFAULT_MAX_FRAME,
            salt_lifetime: Duration::from_secs(3600),
            msg_id_past: Duration::from_secs(300),
            msg_id_future: Duration::from_secs(30),
            replay_window: 2048,
            frame_timeout: Duration::from_secs(30),
        }
    }
}

impl ConnectionConfig {
    /// A client configuration that performs a handshake with `client`.
    pub fn client(client: ClientConfig) -> Self {
        Self { client: Some(client), ..Self::default() }
    }

    /// A server configuration.
    pub fn server(server: ServerConfig) -> Self {
        Self { server: Some(server), ping_interval: None, ..Self::default() }
    }
}
