//! Connection configuration with documented defaults.

use crate::handshake::{ClientConfig, ServerConfig};
use crate::message::Role;
use crate::tl::schema::FutureSalt;
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

/// What a caller saves to resume later without a new handshake, even
/// after a process restart ([`super::ClientConnection::persisted`]).
#[derive(Debug, Clone)]
pub struct Persisted {
    /// The authorization key.
    pub auth_key: AuthKey,
    /// The last server salt.
    pub salt: i64,
    /// Seconds to add to the local clock to get the server's.
    pub time_offset: i64,
    /// Salts the server announced for later (get_future_salts), so a
    /// resumed client switches salts on time without asking again; at
    /// most [`Persisted::MAX_FUTURE_SALTS`] are kept.
    pub future_salts: Vec<FutureSalt>,
    /// The session to continue, when it may be continued (see
    /// [`ContinuedSession`]); `None` starts a new session. One client at a
    /// time may continue a session: clear it before handing the key to
    /// several clients (their msg_ids would collide and be refused as
    /// replays).
    pub session: Option<ContinuedSession>,
}

/// A client session a resumed client continues: the server (which keeps a
/// session about 10 minutes after its last link, see
/// [`super::MemorySessionStore`]) then sends no new_session_created and
/// re-sends the answers it still holds, which a restarted process no longer
/// waits for and only acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContinuedSession {
    /// The session id.
    pub session_id: i64,
    /// Content-related messages sent in it (the seq_no counter).
    pub seq_count: i32,
    /// The last msg_id sent in it: the next ones are larger.
    pub last_msg_id: i64,
}

impl Persisted {
    /// A key, salt and offset, with no future salts and a new session.
    pub fn new(auth_key: AuthKey, salt: i64, time_offset: i64) -> Self {
        Self { auth_key, salt, time_offset, future_salts: Vec::new(), session: None }
    }

    /// Most future salts [`Persisted::to_bytes`] keeps (Telegram hands out
    /// at most 64).
    pub const MAX_FUTURE_SALTS: usize = 64;
    /// Bytes of the first format (version 1: key, salt, offset), still read.
    const V1_LEN: usize = 4 + 256 + 8 + 8;
    /// Bytes of the current format without future salts: version, key,
    /// salt, offset, the continued session (flag, id, seq_count, last
    /// msg_id) and the salt count.
    pub const MIN_ENCODED_LEN: usize = Self::V1_LEN + 1 + 8 + 4 + 8 + 1;
    /// Bytes of the current format with the most future salts.
    pub const MAX_ENCODED_LEN: usize = Self::MIN_ENCODED_LEN + 16 * Self::MAX_FUTURE_SALTS;
    const VERSION: u32 = 2;

    /// # Examples
    ///
    /// ```
    /// use mtproto_core::connection::{ContinuedSession, Persisted};
    /// use mtproto_crypto::AuthKey;
    /// let mut saved = Persisted::new(AuthKey::from_bytes([5; 256]), -42, 3);
    /// saved.session = Some(ContinuedSession { session_id: 7, seq_count: 2, last_msg_id: 1 << 40 });
    /// let bytes = saved.to_bytes(); // secret: the key is inside
    /// let back = Persisted::from_bytes(&bytes).expect("our own format");
    /// assert_eq!((back.salt, back.time_offset, back.session), (-42, 3, saved.session));
    /// assert!(Persisted::from_bytes(&bytes[1..]).is_none());
    /// ```
    /// A stable binary form to store (it contains the key: keep it secret).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let salts = &self.future_salts[..self.future_salts.len().min(Self::MAX_FUTURE_SALTS)];
        let mut v = zeroize::Zeroizing::new(Vec::with_capacity(Self::MIN_ENCODED_LEN + 16 * salts.len()));
        v.extend_from_slice(&Self::VERSION.to_le_bytes());
        v.extend_from_slice(self.auth_key.as_bytes());
        v.extend_from_slice(&self.salt.to_le_bytes());
        v.extend_from_slice(&self.time_offset.to_le_bytes());
        let s = self.session.unwrap_or(ContinuedSession { session_id: 0, seq_count: 0, last_msg_id: 0 });
        v.push(u8::from(self.session.is_some()));
        v.extend_from_slice(&s.session_id.to_le_bytes());
        v.extend_from_slice(&s.seq_count.to_le_bytes());
        v.extend_from_slice(&s.last_msg_id.to_le_bytes());
        v.push(salts.len() as u8);
        for f in salts {
            v.extend_from_slice(&f.valid_since.to_le_bytes());
            v.extend_from_slice(&f.valid_until.to_le_bytes());
            v.extend_from_slice(&f.salt.to_le_bytes());
        }
        v
    }

    /// Reads [`Persisted::to_bytes`] back (this format or the first one);
    /// `None` for anything else.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let version = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
        let key: [u8; 256] = b.get(4..260)?.try_into().ok()?;
        let salt = i64::from_le_bytes(b.get(260..268)?.try_into().ok()?);
        let time_offset = i64::from_le_bytes(b.get(268..276)?.try_into().ok()?);
        let mut p = Self::new(AuthKey::from_bytes(key), salt, time_offset);
        match version {
            1 if b.len() == Self::V1_LEN => return Some(p),
            Self::VERSION if b.len() >= Self::MIN_ENCODED_LEN => {}
            _ => return None,
        }
        let rest = &b[Self::V1_LEN..];
        let i64_at = |at: usize| rest.get(at..at + 8).and_then(|x| x.try_into().ok()).map(i64::from_le_bytes);
        let i32_at = |at: usize| rest.get(at..at + 4).and_then(|x| x.try_into().ok()).map(i32::from_le_bytes);
        let session = ContinuedSession { session_id: i64_at(1)?, seq_count: i32_at(9)?, last_msg_id: i64_at(13)? };
        p.session = match rest[0] {
            0 => None,
            1 => Some(session),
            _ => return None,
        };
        let count = usize::from(rest[21]);
        if count > Self::MAX_FUTURE_SALTS || b.len() != Self::MIN_ENCODED_LEN + 16 * count {
            return None;
        }
        for i in 0..count {
            let at = 22 + 16 * i;
            p.future_salts.push(FutureSalt {
                valid_since: i32_at(at)?,
                valid_until: i32_at(at + 4)?,
                salt: i64_at(at + 8)?,
            });
        }
        Some(p)
    }
}

/// The engine's settings, both roles' in one (built from
/// [`super::ClientOptions`] or [`super::ServerOptions`]).
#[derive(Clone)]
pub(crate) struct ConnectionConfig {
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
    /// Server: the server's client sessions and each key's salts, shared by
    /// all its links (always set from [`super::ServerOptions`]; `None` for a
    /// client).
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
