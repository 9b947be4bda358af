//! MTProxy fake-TLS (`ee` secrets), both roles, sans-IO.
//!
//! The stream looks like TLS 1.3 to the secret's domain:
//!
//! 1. The client sends a ClientHello record ([`client_hello`]): Chrome-like,
//!    [`CLIENT_HELLO_LEN`] bytes by default (or current Chrome's ~1.7 KB
//!    hello with a post-quantum key share: [`HelloTemplate::PostQuantum`],
//!    [`FakeTlsConfig::hello`]), SNI = the domain, its random
//!    `HMAC-SHA256(key, record with the random zeroed)` with the last four
//!    bytes XORed with the little-endian unix time.
//! 2. The proxy verifies it ([`verify_client_hello`]) and answers
//!    ([`server_answer`]) with ServerHello, ChangeCipherSpec and one
//!    application-data record, whose random is
//!    `HMAC-SHA256(key, client_random ‖ answer with the random zeroed)`;
//!    the client checks it ([`verify_server_answer`]). A hello that does not
//!    verify is never answered: the [`Transport`](super::Transport) hands
//!    the bytes back ([`Transport::take_rejected`](super::Transport::take_rejected))
//!    so a driver can splice the connection to the real domain.
//! 3. Both sides then write application-data records ([`write_records`],
//!    at most [`MAX_WRITE_PAYLOAD`] bytes each; the client's first preceded
//!    by [`CHANGE_CIPHER_SPEC`]) and read them with a [`RecordReader`].
//!    Inside runs obfuscated2 keyed with the secret, padded intermediate.
//!
//! Time: nothing here reads a clock. The client's hello takes the unix
//! time as an argument, the proxy's check takes "now"; a
//! [`Transport`](super::Transport) gets both from
//! [`Transport::set_unix_time`](super::Transport::set_unix_time), which a
//! [`ClientConnection`](crate::ClientConnection) or [`ServerConnection`](crate::ServerConnection) calls with its `now` (plus the
//! session's known offset to the server's clock, on a client).

mod client_hello;
mod record;
mod server_hello;
mod x25519;

pub use client_hello::{
    CLIENT_HELLO_LEN, ClientHello, GROUP_X25519_MLKEM768, HelloTemplate, MAX_CLIENT_HELLO_PAYLOAD,
    MIN_CLIENT_HELLO_PAYLOAD, ParsedHello, RANDOM_AT, VerifiedHello, X25519_MLKEM768_SHARE_LEN, client_hello,
    client_hello_with, parse_client_hello, verify_client_hello,
};
pub use record::{CHANGE_CIPHER_SPEC, MAX_READ_PAYLOAD, MAX_WRITE_PAYLOAD, RecordReader, write_records};
pub use server_hello::{MAX_HANDSHAKE_RECORDS, server_answer, verify_server_answer};
pub use x25519::{is_curve_point, random_point as x25519_point};

use super::ProxySecret;
use core::fmt;
use core::ops::RangeInclusive;
use core::time::Duration;
use hmac::{KeyInit, Mac};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use zeroize::{Zeroize, Zeroizing};

/// `HMAC-SHA256(key, parts…)`.
pub(crate) fn hmac_sha256(key: &[u8; 16], parts: &[&[u8]]) -> [u8; 32] {
    // A key shorter than the block is zero-padded to it (RFC 2104), so this
    // is HMAC with the 16-byte key, through the infallible constructor.
    let mut block = Zeroizing::new([0u8; 64]);
    block[..16].copy_from_slice(key);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new(&(*block).into());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Why a proxy does not take a stream as a fake-TLS client of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelloRefusal {
    /// The first bytes are not a TLS handshake record (`16 03 01`), or not a ClientHello.
    NotHandshake,
    /// The record's payload length is outside
    /// [`MIN_CLIENT_HELLO_PAYLOAD`]..=[`MAX_CLIENT_HELLO_PAYLOAD`].
    BadLength {
        /// The announced payload length.
        len: usize,
    },
    /// A length inside the hello does not add up.
    Malformed,
    /// The SNI is missing or names another domain.
    WrongDomain,
    /// The random is not the digest of the hello under our key.
    BadDigest,
    /// The client's time is outside the accepted window.
    Stale {
        /// Client time minus ours, in seconds.
        skew: i64,
    },
    /// This hello was seen before.
    Replayed,
    /// Not TLS at all, and the proxy accepts only fake-TLS
    /// ([`FakeTlsConfig::secret_only`]).
    NotTls,
}

impl fmt::Display for HelloRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHandshake => f.write_str("not a TLS ClientHello record"),
            Self::BadLength { len } => write!(f, "ClientHello record of {len} bytes"),
            Self::Malformed => f.write_str("malformed ClientHello"),
            Self::WrongDomain => f.write_str("ClientHello for another domain"),
            Self::BadDigest => f.write_str("ClientHello digest does not verify"),
            Self::Stale { skew } => write!(f, "ClientHello time off by {skew} s"),
            Self::Replayed => f.write_str("ClientHello replayed"),
            Self::NotTls => f.write_str("not TLS, and only fake-TLS is accepted"),
        }
    }
}

impl core::error::Error for HelloRefusal {}

/// Default entries of a [`ReplayCache`].
pub const DEFAULT_REPLAY_CAPACITY: usize = 16_384;

/// The client randoms of ClientHellos a proxy accepted, to refuse a replay.
///
/// Bounded: at most `capacity` randoms (32 bytes each, kept in a hash set
/// and a FIFO: about 100 bytes per entry, ~1.6 MiB at the default
/// [`DEFAULT_REPLAY_CAPACITY`]); when full, the oldest is forgotten. Only
/// hellos that passed the digest and time checks enter, so a prober without
/// the key cannot fill it; a replay older than the time window is refused by
/// the window whatever the cache holds. Clones share one cache: give every
/// server [`Transport`](super::Transport) of a listener the same one.
#[derive(Clone)]
pub struct ReplayCache {
    inner: Arc<Mutex<ReplayInner>>,
}

struct ReplayInner {
    capacity: usize,
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl ReplayCache {
    /// An empty cache of at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        let inner = ReplayInner { capacity: capacity.max(1), set: HashSet::new(), order: VecDeque::new() };
        Self { inner: Arc::new(Mutex::new(inner)) }
    }

    /// Randoms remembered.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries kept.
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReplayInner> {
        // The data stays consistent whatever panicked while holding it.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers `random`; false when it was already there.
    pub fn insert(&self, random: [u8; 32]) -> bool {
        let mut c = self.lock();
        if !c.set.insert(random) {
            return false;
        }
        c.order.push_back(random);
        while c.order.len() > c.capacity {
            if let Some(old) = c.order.pop_front() {
                c.set.remove(&old);
            }
        }
        true
    }
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl PartialEq for ReplayCache {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for ReplayCache {}

impl fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.lock();
        f.debug_struct("ReplayCache").field("len", &c.order.len()).field("capacity", &c.capacity).finish()
    }
}

/// Fake-TLS settings, for either role: the secret's key and domain, the DC
/// a client asks for, and the proxy's checks.
#[derive(Clone, PartialEq, Eq)]
pub struct FakeTlsConfig {
    key: [u8; 16],
    domain: String,
    /// Client: the DC id written into the obfuscated2 header (negative for
    /// media DCs, +10000 for test DCs).
    pub dc_id: i16,
    /// Client: the shape of the ClientHello. Default
    /// [`HelloTemplate::Classic`], exactly 517 bytes (what every proxy
    /// accepts); [`HelloTemplate::PostQuantum`] looks like current Chrome
    /// but only proxies that take long hellos accept it.
    pub hello: HelloTemplate,
    /// Server: accept only fake-TLS clients. Default false: a stream that
    /// does not start like TLS goes to the plain/obfuscated2 detection of
    /// [`Transport::server`](super::Transport::server) without a secret.
    pub secret_only: bool,
    /// Server: how far a client's clock may be behind ours. Default 20 minutes.
    pub max_past: Duration,
    /// Server: how far a client's clock may be ahead of ours. Default 10 minutes.
    pub max_future: Duration,
    /// Server: the size of the application-data record of the answer,
    /// drawn uniformly from this range (clamped to 1..=[`MAX_READ_PAYLOAD`]).
    /// Default 1024..=4096.
    pub answer_data: RangeInclusive<usize>,
    /// Server: the replay cache (share one between the connections of a listener).
    pub replay: ReplayCache,
}

impl Drop for FakeTlsConfig {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for FakeTlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is never printed.
        f.debug_struct("FakeTlsConfig")
            .field("domain", &self.domain)
            .field("dc_id", &self.dc_id)
            .field("hello", &self.hello)
            .field("secret_only", &self.secret_only)
            .field("max_past", &self.max_past)
            .field("max_future", &self.max_future)
            .field("answer_data", &self.answer_data)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl FakeTlsConfig {
    /// Settings for `key` and `domain`, the DC id, and the defaults.
    pub fn new(key: [u8; 16], domain: impl Into<String>, dc_id: i16) -> Self {
        Self {
            key,
            domain: domain.into(),
            dc_id,
            hello: HelloTemplate::Classic,
            secret_only: false,
            max_past: Duration::from_secs(20 * 60),
            max_future: Duration::from_secs(10 * 60),
            answer_data: 1024..=4096,
            replay: ReplayCache::default(),
        }
    }

    /// Settings from an `ee` secret; `None` for the other kinds.
    pub fn from_secret(secret: &ProxySecret, dc_id: i16) -> Option<Self> {
        match secret {
            ProxySecret::FakeTls { key, domain } => Some(Self::new(*key, domain.clone(), dc_id)),
            _ => None,
        }
    }

    /// The 16-byte key.
    pub fn key(&self) -> &[u8; 16] {
        &self.key
    }

    /// The domain the hello names.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

/// Where a fake-TLS stream is.
#[derive(Debug)]
enum State {
    /// Client: the hello is not out yet (no time known yet).
    ClientStart,
    /// Client: hello sent, collecting the answer.
    ClientAnswer { random: [u8; 32], buf: Vec<u8> },
    /// Server: collecting the first record.
    ServerHello { buf: Vec<u8> },
    /// Records both ways.
    Open,
    /// Server: the client did not speak TLS; bytes pass through as they are.
    Plain,
    /// Server: not ours; nothing more is read.
    Refused,
}

/// What [`Layer::receive`] made of input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Inner (record payload) bytes were appended.
    Inner,
    /// Server: the hello verified just now; inner bytes (if any) were appended.
    Accepted,
    /// Server: the stream is not TLS; the bytes to pass on as they are were appended.
    Plain,
    /// Server: not ours; the bytes received so far were appended.
    NotOurs(HelloRefusal),
}

/// The fake-TLS layer of a [`Transport`](super::Transport).
pub(crate) struct Layer {
    config: FakeTlsConfig,
    client: bool,
    state: State,
    reader: RecordReader,
    /// Bytes of our own to send (the hello or the answer).
    own: Vec<u8>,
    /// Client: inner bytes waiting for the answer to verify.
    held: Vec<u8>,
    /// Client: the ChangeCipherSpec is still to go before the first record.
    ccs: bool,
    entropy: Box<dyn mtproto_crypto::Entropy + Send>,
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("fake_tls::Layer").field("client", &self.client).field("state", &self.state).finish()
    }
}

impl Layer {
    pub(crate) fn client(config: FakeTlsConfig, entropy: Box<dyn mtproto_crypto::Entropy + Send>) -> Self {
        Self::new(config, true, State::ClientStart, entropy)
    }

    pub(crate) fn server(config: FakeTlsConfig, entropy: Box<dyn mtproto_crypto::Entropy + Send>) -> Self {
        Self::new(config, false, State::ServerHello { buf: Vec::new() }, entropy)
    }

    fn new(
        config: FakeTlsConfig,
        client: bool,
        state: State,
        entropy: Box<dyn mtproto_crypto::Entropy + Send>,
    ) -> Self {
        Self {
            config,
            client,
            state,
            reader: RecordReader::new(),
            own: Vec::new(),
            held: Vec::new(),
            ccs: client,
            entropy,
        }
    }

    /// The key (the inner obfuscated2 secret).
    pub(crate) fn key(&self) -> &[u8; 16] {
        self.config.key()
    }

    /// Bytes held while incomplete (a hello, an answer, a record header).
    pub(crate) fn buffered(&self) -> usize {
        match &self.state {
            State::ClientAnswer { buf, .. } | State::ServerHello { buf } => buf.len(),
            _ => self.reader.buffered(),
        }
    }

    /// Whether the stream is inside TLS (hello verified, or being collected).
    pub(crate) fn is_tls(&self) -> bool {
        !matches!(self.state, State::Plain | State::Refused)
    }

    /// Appends our own pending bytes: a client's hello once `unix_time` is
    /// known, a server's answer, a client's inner bytes held until the answer.
    pub(crate) fn flush(&mut self, unix_time: Option<i64>, out: &mut Vec<u8>) {
        if let (State::ClientStart, Some(t)) = (&self.state, unix_time) {
            // The hello carries the low 32 bits of the unix time, as TDLib sends them.
            let (key, domain, template) = (self.config.key(), self.config.domain(), self.config.hello);
            let hello = client_hello_with(key, domain, t as u32, template, &mut *self.entropy);
            out.extend_from_slice(&hello.record);
            self.state = State::ClientAnswer { random: hello.random, buf: Vec::new() };
        }
        out.append(&mut self.own);
        if matches!(self.state, State::Open) && !self.held.is_empty() {
            let held = core::mem::take(&mut self.held);
            self.records(&held, out);
        }
    }

    fn records(&mut self, inner: &[u8], out: &mut Vec<u8>) {
        if inner.is_empty() {
            return;
        }
        if core::mem::take(&mut self.ccs) {
            out.extend_from_slice(&CHANGE_CIPHER_SPEC);
        }
        write_records(inner, out);
    }

    /// Wraps inner bytes for the wire (held on a client until the answer verified).
    pub(crate) fn send(&mut self, unix_time: Option<i64>, inner: &[u8], out: &mut Vec<u8>) {
        self.flush(unix_time, out);
        match self.state {
            State::Open => self.records(inner, out),
            State::Plain => out.extend_from_slice(inner),
            State::ClientStart | State::ClientAnswer { .. } => self.held.extend_from_slice(inner),
            State::ServerHello { .. } | State::Refused => {}
        }
    }

    /// Reads wire bytes, appending what goes on to the inner layer to `inner`.
    ///
    /// # Errors
    /// [`super::TransportError`] for a malformed stream or an answer that does not verify.
    pub(crate) fn receive(
        &mut self,
        bytes: &[u8],
        unix_time: Option<i64>,
        inner: &mut Vec<u8>,
    ) -> Result<Received, super::TransportError> {
        if bytes.is_empty() {
            return Ok(Received::Inner);
        }
        match &mut self.state {
            State::Open => self.reader.read(bytes, inner).map(|()| Received::Inner),
            State::Plain => {
                inner.extend_from_slice(bytes);
                Ok(Received::Plain)
            }
            State::Refused => Err(super::TransportError::NotFakeTls { refusal: HelloRefusal::NotHandshake }),
            State::ClientStart => Err(super::TransportError::FakeTlsAnswer),
            State::ClientAnswer { random, buf } => {
                buf.extend_from_slice(bytes);
                let Some(n) = verify_server_answer(self.config.key(), random, buf)? else {
                    return Ok(Received::Inner);
                };
                let rest = buf.split_off(n);
                self.state = State::Open;
                self.reader.read(&rest, inner)?;
                Ok(Received::Inner)
            }
            State::ServerHello { buf } => {
                buf.extend_from_slice(bytes);
                match hello_status(buf, self.config.secret_only) {
                    HelloStatus::More => Ok(Received::Inner),
                    HelloStatus::Plain => {
                        inner.append(buf);
                        self.state = State::Plain;
                        Ok(Received::Plain)
                    }
                    HelloStatus::Refused(r) => Ok(self.refuse(r, inner)),
                    HelloStatus::Record(len) => {
                        let Some(now) = unix_time else {
                            return Ok(self.refuse(HelloRefusal::Stale { skew: i64::MAX }, inner));
                        };
                        match verify_client_hello(&self.config, &buf[..len], now) {
                            Err(r) => Ok(self.refuse(r, inner)),
                            Ok(v) => {
                                let rest = buf.split_off(len);
                                let clamp = |v: usize| v.clamp(1, MAX_READ_PAYLOAD);
                                let (lo, hi) =
                                    (clamp(*self.config.answer_data.start()), clamp(*self.config.answer_data.end()));
                                let span = hi.saturating_sub(lo) as u64 + 1;
                                let size = lo + (self.entropy.next_u64() % span) as usize;
                                let answer = server_answer(
                                    self.config.key(),
                                    &v.random,
                                    &v.session_id,
                                    size,
                                    &mut *self.entropy,
                                );
                                self.own.extend_from_slice(&answer);
                                self.state = State::Open;
                                self.reader.read(&rest, inner)?;
                                Ok(Received::Accepted)
                            }
                        }
                    }
                }
            }
        }
    }

    fn refuse(&mut self, r: HelloRefusal, out: &mut Vec<u8>) -> Received {
        if let State::ServerHello { buf } = &mut self.state {
            out.append(buf);
        }
        self.state = State::Refused;
        Received::NotOurs(r)
    }
}

enum HelloStatus {
    More,
    Plain,
    Refused(HelloRefusal),
    /// A complete first record of this many bytes.
    Record(usize),
}

/// What the first bytes a server received are.
fn hello_status(buf: &[u8], secret_only: bool) -> HelloStatus {
    const START: [u8; 3] = [0x16, 0x03, 0x01];
    let n = buf.len().min(3);
    if buf[..n] != START[..n] {
        return if secret_only { HelloStatus::Refused(HelloRefusal::NotTls) } else { HelloStatus::Plain };
    }
    if buf.len() < 5 {
        return HelloStatus::More;
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    if !(MIN_CLIENT_HELLO_PAYLOAD..=MAX_CLIENT_HELLO_PAYLOAD).contains(&len) {
        return HelloStatus::Refused(HelloRefusal::BadLength { len });
    }
    if buf.len() < 5 + len { HelloStatus::More } else { HelloStatus::Record(5 + len) }
}

#[cfg(test)]
mod tests;
