//! The Connection state machine: its state and the input/output loop
//! here; the link, sending, receiving and each role's policy in the
//! submodules.

mod client;
mod inbound;
mod link;
mod outbox;
mod server;

use super::config::{ConnectionConfig, Transporting};
use super::events::{
    ClientEvent, CloseReason, ConfigError, Delivery, DropReason, Emitted, Input, LinkLoss, Output, RequestError,
    RequestHandle, RoleEvent, SendOptions, ServerEvent, TransportFailure,
};
use super::idmap::IdMap;
use super::replay::{BoundedIdMap, BoundedIdSet, ReplayWindow};
use super::seen_sessions::CarriedSessions;
use super::store::{KeyState, SessionStore, SharedKey, SharedSession};
#[cfg(feature = "tracing")]
use super::trace::Hex;
use super::trace::{LinkTrace, trace};
use crate::handshake::{ClientHandshake, HandshakeError, HandshakeResult, ServerHandshake, Step};
use crate::message::{self, EncryptedSession, Role, container, gzip};
use crate::tl::schema::{
    self, BadMsgNotification, BadServerSalt, DestroySession, DestroySessionNone, DestroySessionOk, FutureSalt,
    FutureSalts, GetFutureSalts, MsgDetailedInfo, MsgNewDetailedInfo, MsgResendReq, MsgsAck, MsgsAllInfo,
    MsgsStateInfo, MsgsStateReq, NewSessionCreated, Ping, PingDelayDisconnect, Pong, RpcAnswerDropped, RpcDropAnswer,
    RpcError, RpcResult,
};
use crate::tl::{Deserialize, Reader, Serialize, Writer};
use crate::transport::{Frame, Transport};
use core::time::Duration;
use mtproto_crypto::{AuthKey, CryptoError, Direction, Entropy, OsEntropy, envelope};
use std::collections::VecDeque;
use std::sync::Arc;

/// Most messages kept for re-sending (server role: unacknowledged answers).
const MAX_KEPT: usize = 4096;
/// Fewest encrypted packets in one input that are decrypted together
/// (`envelope::decrypt_many`); with one or two, one at a time is as fast.
const OPEN_TOGETHER_MIN: usize = 3;
/// `invokeAfterMsg#cb9f372d msg_id:long query:!X = X` (API layer): a request
/// the server runs only after the message `msg_id`.
const INVOKE_AFTER_MSG: u32 = 0xcb9f_372d;
/// Bytes invokeAfterMsg adds: its constructor id and the msg_id.
const INVOKE_AFTER_LEN: usize = 12;

/// `body` wrapped to run after message `msg_id`.
fn invoke_after(msg_id: i64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(INVOKE_AFTER_LEN + body.len());
    out.extend_from_slice(&INVOKE_AFTER_MSG.to_le_bytes());
    out.extend_from_slice(&msg_id.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// How long a client waits for future_salts before asking again.
const SALT_REQUEST_RETRY: Duration = Duration::from_secs(60);
/// How many client sessions one server link carries at once (the current
/// one and those it switched away from); the least recently used is handed
/// back to the session store beyond this.
const MAX_CARRIED_SESSIONS: usize = 9;
/// Server: while another link also carries this link's current session,
/// how often the link looks for answers that link left behind when it went
/// (so they reach the client on the live link without waiting for its next
/// message): every 50 ms while the client is active, then as long as it has
/// been silent, at most every 1.6 s (an idle minute: about 40 wakes, not 1,200).
const REDELIVER_POLL: Duration = Duration::from_millis(50);
/// The longest wait between two such looks (how late, at most, an answer a
/// departed link left reaches a silent client).
const REDELIVER_POLL_MAX: Duration = Duration::from_millis(1600);

#[derive(Debug, Clone)]
struct Outgoing {
    body: Vec<u8>,
    content_related: bool,
    handle: Option<RequestHandle>,
    quick_ack: bool,
    /// Server: answers a client message (msg_id ≡ 1 mod 4).
    response: bool,
    /// Never put into a container (after bad_msg 64).
    alone: bool,
    /// Client: bytes this request counts in `queued_bytes` (its size before gzip).
    accounted: usize,
    /// Server: the client msg_id this rpc_result answers.
    answers: Option<i64>,
    /// Sent, and not since refused or found not received: its fate is the
    /// server's (cleared when it goes back to the queue for a re-send).
    on_wire: bool,
    /// The peer acknowledged it (msgs_ack, or a state info saying "received").
    acked: bool,
    /// Client: a msgs_state_req was sent for it when it first timed out.
    state_asked: bool,
    /// Client: the request this one must run after (wrapped in
    /// invokeAfterMsg with that request's current msg_id at every send).
    after: Option<RequestHandle>,
}

impl Outgoing {
    /// How far this message got (see [`Delivery`]).
    fn delivery(&self) -> Delivery {
        if self.acked {
            Delivery::Acknowledged
        } else if self.on_wire {
            Delivery::SentNotAcknowledged
        } else {
            Delivery::NotSent
        }
    }

    /// A message that is no request and answers none.
    fn service(body: Vec<u8>, content_related: bool, response: bool) -> Self {
        Self {
            body,
            content_related,
            handle: None,
            quick_ack: false,
            response,
            alone: false,
            accounted: 0,
            answers: None,
            on_wire: false,
            acked: false,
            state_asked: false,
            after: None,
        }
    }
}

/// What a Connection keeps for reuse between inputs and flushes, so that
/// steady state allocates nothing.
#[derive(Default)]
struct Reuse {
    /// Buffers for transmits, packets and bodies (see `pool.rs`).
    pool: super::pool::BufferPool,
    /// The body of the container being built.
    container_body: Vec<u8>,
    /// The packets of one flush, framed.
    framed: Vec<(Vec<u8>, bool)>,
    /// The messages of one container being framed, and their (msg_id, seq_no).
    batch: Vec<Outgoing>,
    batch_ids: Vec<(i64, i32)>,
    /// The frames of one input.
    frames: Vec<Frame>,
    /// The inner messages of the container being read.
    spans: Vec<container::InnerSpan>,
}

/// The reusable state, made at first use (a field-level borrow, so that it
/// can be used beside other fields).
fn reuse_of(reuse: &mut Option<Box<Reuse>>) -> &mut Reuse {
    reuse.get_or_insert_with(Box::default)
}

/// A sent container's messages: up to four inline (the common case: a
/// request or two with acks), more on the heap.
#[derive(Debug, Clone)]
enum InnerIds {
    Few { ids: [i64; 4], len: u8 },
    Many(Vec<i64>),
}

impl InnerIds {
    fn one(id: i64) -> Self {
        Self::Few { ids: [id, 0, 0, 0], len: 1 }
    }

    fn of(ids: impl ExactSizeIterator<Item = i64>) -> Self {
        if ids.len() <= 4 {
            let mut few = [0; 4];
            let mut len = 0;
            for (slot, id) in few.iter_mut().zip(ids) {
                *slot = id;
                len += 1;
            }
            Self::Few { ids: few, len }
        } else {
            Self::Many(ids.collect())
        }
    }

    fn as_slice(&self) -> &[i64] {
        match self {
            Self::Few { ids, len } => &ids[..usize::from(*len)],
            Self::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone)]
struct Sent {
    out: Outgoing,
    sent_at: Duration,
    seq_no: i32,
    /// The session it was sent in.
    session_id: i64,
}

enum Phase {
    ClientHandshake(Box<ClientHandshake>),
    /// Server: waiting for the first packet, which is a handshake or uses a known key.
    ServerStart,
    ServerHandshake(Box<ServerHandshake>),
    /// Client: the link was lost before the handshake finished; a new one
    /// starts on [`Connection::attach_link`].
    ClientAwaitingLink,
    Ready,
    Closed,
}

/// One MTProto connection, client or server. See the module documentation
/// for the input/output contract.
pub(crate) struct Connection {
    role: Role,
    /// Shared by every link a [`super::super::Server`] makes.
    config: Arc<ConnectionConfig>,
    transport: Option<Transport>,
    phase: Phase,
    entropy: Box<dyn Entropy + Send>,
    events: VecDeque<Emitted>,
    wire: Vec<u8>,
    pending_transmits: VecDeque<Vec<u8>>,
    closed_emitted: bool,
    /// Boxed: a link waiting for its first packet carries no key.
    session: Option<Box<EncryptedSession>>,
    next_handle: u64,
    queue: VecDeque<Outgoing>,
    sent: IdMap<i64, Sent>,
    sent_order: VecDeque<i64>,
    handles: IdMap<RequestHandle, i64>,
    /// Sent containers and their messages, for re-sends; the oldest are
    /// forgotten beyond `MAX_KEPT`.
    containers: IdMap<i64, InnerIds>,
    container_order: VecDeque<i64>,
    acks: Vec<i64>,
    ack_since: Option<Duration>,
    /// Client: the server's msg_ids received (made on first use; a
    /// server's windows are its sessions', shared).
    replay: Option<Box<ReplayWindow>>,
    /// Packets decrypted together with others (`open_together`), for Stats.
    opened_together: u64,
    queued_bytes: usize,
    /// Quick-ack token of a sent packet -> the requests in it that asked for one.
    /// (Made at the first quick ack asked for: a server never asks.)
    quick_acks: Option<Box<IdMap<u32, Vec<RequestHandle>>>>,
    // client timers and salts
    next_ping: Option<Duration>,
    ping: Option<(i64, Duration)>,
    pong_deadline: Option<Duration>,
    future_salts: Vec<FutureSalt>,
    salts_requested_at: Option<Duration>,
    handshake_deadline: Option<Duration>,
    // server
    /// Server: the sessions and keys of the server, shared by all its links.
    store: Option<Arc<dyn SessionStore>>,
    /// Server: the key's salt schedule and floor (shared by every link of the key).
    key_state: Option<Arc<SharedKey>>,
    /// Server: the client session of the last accepted message.
    current: Option<Arc<SharedSession>>,
    /// Server: every client session this link carries (the current one too).
    carried: CarriedSessions,
    /// Inflate budget left for the current input.
    inflate_left: usize,
    /// Re-send budget (msg_resend_req) left for the current input.
    resend_left: usize,
    /// Server: requests handed to the application and not answered yet,
    /// with the client session each came in.
    running: Option<Box<BoundedIdMap<i64>>>,
    /// Server: requests whose answer the client dropped (rpc_drop_answer)
    /// while they ran: `respond` discards their answers.
    dropped: Option<Box<BoundedIdSet>>,
    /// Server: when the last authenticated message arrived.
    last_authenticated: Option<Duration>,
    /// Bytes a msg_resend_req asked for beyond `max_resend_bytes`.
    resend_bytes_refused: u64,
    /// Client: the link is gone; nothing is sent until `attach_link`.
    detached: bool,
    /// Client: the sessions we left most recently, whose late answers are
    /// still accepted.
    previous_sessions: VecDeque<i64>,
    /// Server: Ready for a known key, emitted on its first accepted message.
    ready_pending: Option<Box<Emitted>>,
    /// Links lost so far (client: resumed with `attach_link`).
    links_lost: u64,
    /// Client: the key came from a temporary-key handshake.
    temporary_key: bool,
    /// Client: -429s in a row (the backoff hint doubles with each).
    floods: u32,
    /// Client: the unique_id of the last new_session_created acted on (0:
    /// none); the server sends an unacknowledged one again on a new link.
    new_session_seen: i64,
    /// Server: bad_server_salt notifications sent.
    bad_salts_sent: u64,
    /// Server: first_msg_id announced for the current session (a copy of
    /// the shared one); earlier messages are the client's to re-send, so
    /// they are not processed.
    session_first_msg_id: i64,
    force_bad_msg: Option<i32>,
    /// Since when a partial frame has been waiting for its remaining bytes.
    partial_since: Option<Duration>,
    /// Buffers and vectors kept for reuse (made at first use: a link that
    /// waits for its first packet holds none).
    reuse: Option<Box<Reuse>>,
    /// Spans of this link and its session (feature `tracing`; nothing otherwise).
    trace: LinkTrace,
}

impl Drop for Connection {
    /// A server link dropped without a close or [`Input::LinkLost`] still
    /// hands its sessions back (they would never be parked or expire).
    fn drop(&mut self) {
        if self.role == Role::Server && !self.closed_emitted && matches!(self.phase, Phase::Ready) {
            self.save_sessions();
        }
        // Requests still running on a gone link will never be answered now.
        if self.role == Role::Server {
            self.count_running_as_late(false);
        }
    }
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("ready", &matches!(self.phase, Phase::Ready))
            .field("pending", &self.sent.len())
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

fn constructor(body: &[u8]) -> u32 {
    Reader::new(body).peek_u32().unwrap_or(0)
}

/// The msg_ids a msgs_ack names, read in place (no vector of ids); none
/// when it is malformed, those before the damage when it is cut short.
fn acked_ids(body: &[u8]) -> impl Iterator<Item = i64> + '_ {
    let mut r = Reader::new(body);
    let count = match (r.u32(), r.u32(), r.u32()) {
        (Ok(MsgsAck::ID), Ok(crate::tl::VECTOR), Ok(n)) => n,
        _ => 0,
    };
    (0..count).map_while(move |_| r.i64().ok())
}

fn is_content_related(body: &[u8]) -> bool {
    !matches!(constructor(body), MsgsAck::ID | schema::MSG_CONTAINER)
}

impl Connection {
    /// A client. Performs a handshake unless `config.resume` holds a key.
    pub fn client(config: Arc<ConnectionConfig>, now: Duration) -> Result<Self, mtproto_crypto::CryptoError> {
        Ok(Self::client_with_entropy(config, now, Box::new(OsEntropy::new()?)))
    }

    /// A client with the given entropy (deterministic tests and simulations).
    pub fn client_with_entropy(config: Arc<ConnectionConfig>, now: Duration, entropy: Box<dyn Entropy + Send>) -> Self {
        let mut me = Self::base(Role::Client, config, entropy);
        let _entered = me.trace.enter();
        if let Some(p) = me.config.resume.clone() {
            me.start_session(p.auth_key, p.salt, p.time_offset, now);
            me.future_salts = p.future_salts.into_iter().take(super::Persisted::MAX_FUTURE_SALTS).collect();
            if let (Some(c), Some(s)) = (p.session, me.session.as_mut()) {
                // The same session continues: no new_session_created, and
                // msg_ids go on above the last one sent in it.
                s.switch_to(c.session_id, c.seq_count);
                s.clock_mut().continue_after(c.last_msg_id);
            }
        } else if let Some(cc) = me.config.client.clone() {
            trace!(debug, "handshake started");
            let (hs, packet) = ClientHandshake::start(cc, now, me.sub_entropy());
            me.handshake_deadline = Some(hs.deadline());
            me.phase = Phase::ClientHandshake(Box::new(hs));
            me.transmit(packet, false);
        } else {
            me.close_with(CloseReason::Config(ConfigError::NoClientCredentials));
        }
        me
    }

    /// A server.
    pub fn server(config: Arc<ConnectionConfig>, now: Duration) -> Result<Self, mtproto_crypto::CryptoError> {
        Ok(Self::server_with_entropy(config, now, Box::new(OsEntropy::new()?)))
    }

    /// A server with the given entropy.
    pub fn server_with_entropy(config: Arc<ConnectionConfig>, now: Duration, entropy: Box<dyn Entropy + Send>) -> Self {
        let mut me = Self::base(Role::Server, config, entropy);
        me.phase = Phase::ServerStart;
        me.handshake_deadline =
            Some(now + me.config.server.as_ref().map_or(crate::handshake::DEFAULT_TIMEOUT, |s| s.timeout));
        me
    }

    fn base(role: Role, config: Arc<ConnectionConfig>, mut entropy: Box<dyn Entropy + Send>) -> Self {
        // A child with 384 bits drawn from the parent (never a 64-bit seed).
        let transport = match config.transport {
            Transporting::Unframed => None,
            _ => config.transport.transport(role, config.max_frame, entropy.fork()),
        };
        let mut me = Self {
            trace: LinkTrace::new(role),
            role,
            transport,
            phase: Phase::Closed,
            entropy,
            events: VecDeque::new(),
            wire: Vec::new(),
            pending_transmits: VecDeque::new(),
            closed_emitted: false,
            session: None,
            next_handle: 1,
            queue: VecDeque::new(),
            sent: IdMap::default(),
            sent_order: VecDeque::new(),
            handles: IdMap::default(),
            containers: IdMap::default(),
            container_order: VecDeque::new(),
            acks: Vec::new(),
            ack_since: None,
            replay: None,
            opened_together: 0,
            queued_bytes: 0,
            quick_acks: None,
            next_ping: None,
            ping: None,
            pong_deadline: None,
            future_salts: Vec::new(),
            salts_requested_at: None,
            handshake_deadline: None,
            // Set for a server (ServerOptions always has one), never for a client.
            store: config.session_store.clone(),
            key_state: None,
            current: None,
            carried: CarriedSessions::new(MAX_CARRIED_SESSIONS),
            inflate_left: 0,
            resend_left: 0,
            running: None,
            dropped: None,
            last_authenticated: None,
            resend_bytes_refused: 0,
            detached: false,
            previous_sessions: VecDeque::new(),
            links_lost: 0,
            temporary_key: false,
            floods: 0,
            new_session_seen: 0,
            bad_salts_sent: 0,
            ready_pending: None,
            session_first_msg_id: 0,
            force_bad_msg: None,
            partial_since: None,
            reuse: None,
            config,
        };
        if role == Role::Client && me.transport.is_none() && !matches!(me.config.transport, Transporting::Unframed) {
            me.close_with(CloseReason::Config(ConfigError::ObfuscatedFull));
        }
        me
    }

    /// A child generator for a component, so each draws its own stream:
    /// seeded with 384 bits from this connection's entropy
    /// ([`Entropy::fork`]), deterministic only under a deterministic parent.
    fn sub_entropy(&mut self) -> Box<dyn Entropy + Send> {
        self.entropy.fork()
    }

    /// Whether the encrypted session is up.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// What to save to resume without a handshake (once ready).
    ///
    /// A client's session may be continued (it is in
    /// [`super::Persisted::session`]) while the Connection is ready or
    /// detached from its link; after a close, the next start is a new
    /// session. Save it again after a while: the future salts and the
    /// session's counters move on.
    pub fn persisted(&self) -> Option<super::Persisted> {
        let s = self.session.as_ref()?;
        let mut p = super::Persisted::new(s.auth_key().clone(), s.salt(), s.clock().offset());
        if self.role == Role::Client {
            p.future_salts = self.future_salts.iter().take(super::Persisted::MAX_FUTURE_SALTS).cloned().collect();
            p.session = matches!(self.phase, Phase::Ready).then(|| super::ContinuedSession {
                session_id: s.session_id(),
                seq_count: s.seq_count(),
                last_msg_id: s.clock().last(),
            });
        }
        Some(p)
    }

    /// The current session id (once ready).
    pub fn session_id(&self) -> Option<i64> {
        self.session.as_ref().map(|s| s.session_id())
    }

    /// Sizes of the internal state, to check that memory stays bounded.
    pub fn stats(&self) -> super::Stats {
        super::Stats {
            queued: self.queue.len(),
            awaiting_ack_or_answer: self.sent.len(),
            open_requests: self.handles.len(),
            containers_remembered: self.containers.len(),
            replay_window: self
                .current
                .as_ref()
                .map_or_else(|| self.replay.as_ref().map_or(0, |r| r.len()), |s| s.lock().replay.len()),
            pending_acks: self.acks.len(),
            buffered_transport_bytes: self.transport.as_ref().map_or(0, Transport::buffered),
            opened_together: self.opened_together,
            queued_bytes: self.queued_bytes,
            resend_bytes_refused: self.resend_bytes_refused,
            sessions_remembered: self.carried.len(),
            links_lost: self.links_lost,
            bad_salts_sent: self.bad_salts_sent,
        }
    }

    /// A description of the internal queues, for debugging simulations.
    #[doc(hidden)]
    pub fn debug_state(&self) -> String {
        let mut sent: Vec<_> = self.sent.iter().map(|(id, s)| (*id, s.out.handle, constructor(&s.out.body))).collect();
        sent.sort_unstable();
        format!(
            "handles {:x?} sent {:x?} queue {} containers {}",
            self.handles,
            sent,
            self.queue.len(),
            self.containers.len()
        )
    }

    /// Requests sent or queued and not yet answered.
    pub fn pending_requests(&self) -> usize {
        self.handles.len()
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.role == Role::Server && !self.closed_emitted && matches!(self.phase, Phase::Ready) {
            self.save_sessions();
        }
        self.phase = Phase::Closed;
        if self.closed_emitted {
            return;
        }
        // `handles` holds every unresolved request, queued or sent.
        let mut open: Vec<RequestHandle> = self.handles.keys().copied().collect();
        open.sort_unstable();
        for handle in open {
            let delivery = self.delivery(handle);
            self.client_event(ClientEvent::RequestFailed { handle, error: RequestError::Closed { delivery } });
        }
        self.handles.clear();
        self.queue.clear();
        self.sent.clear();
        self.queued_bytes = 0;
        self.closed_emitted = true;
        trace!(info, reason = ?reason, "closed");
        match self.role {
            Role::Client => self.client_event(ClientEvent::Closed { reason }),
            Role::Server => self.server_event(ServerEvent::Closed { reason }),
        }
    }

    /// Closes the connection; pending requests fail.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    /// The next output. After every input, call until it returns [`Output::Timeout`].
    pub fn poll_output<E: RoleEvent>(&mut self, now: Duration) -> Output<E> {
        let _entered = self.trace.enter();
        // Bytes of the transport's own (fake-TLS hellos), while a link is up.
        if let (false, Some(t)) = (self.detached, &mut self.transport) {
            t.set_unix_time(now.as_secs() as i64 + self.session.as_ref().map_or(0, |s| s.clock().offset()));
            t.poll_transmit(&mut self.wire);
        }
        // Bytes already produced go first: a transport error code such as -404
        // must reach the socket before the Closed event ends the driver.
        if let Some(out) = self.take_transmit() {
            return out;
        }
        if let Some(ev) = self.poll_event() {
            return Output::Event(ev);
        }
        if matches!(self.phase, Phase::Ready) && !self.detached {
            self.flush(now, false);
        }
        if let Some(out) = self.take_transmit() {
            return out;
        }
        if let Some(ev) = self.poll_event() {
            return Output::Event(ev);
        }
        Output::Timeout(self.next_deadline(now))
    }

    /// Gives a buffer back for reuse (a transmit written out, an event body
    /// read): with every buffer given back, steady state allocates nothing.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        reuse_of(&mut self.reuse).pool.give(buf);
    }

    /// An empty buffer to build a request body in (one given back earlier,
    /// when there is one).
    pub fn take_buffer(&mut self) -> Vec<u8> {
        reuse_of(&mut self.reuse).pool.take()
    }

    /// The next event, without producing output (no flush). A driver that
    /// flushes several connections at once drains each one's events with
    /// this, answers requests, calls [`Connection::flush_together`], then
    /// takes the bytes with [`Connection::poll_output`] as usual.
    pub fn poll_event<E: RoleEvent>(&mut self) -> Option<E> {
        while let Some(emitted) = self.events.pop_front() {
            if let Some(event) = E::take(emitted) {
                return Some(event);
            }
            debug_assert!(false, "an event of the other role was queued");
        }
        None
    }

    /// Queues a client event (client policy only emits these).
    pub(super) fn client_event(&mut self, event: ClientEvent) {
        debug_assert_eq!(self.role, Role::Client);
        self.events.push_back(event.into());
    }

    /// Queues a server event (server policy only emits these).
    pub(super) fn server_event(&mut self, event: ServerEvent) {
        debug_assert_eq!(self.role, Role::Server);
        self.events.push_back(event.into());
    }

    fn next_deadline(&self, now: Duration) -> Duration {
        let far = now + Duration::from_secs(3600);
        if matches!(self.phase, Phase::Closed) {
            return far;
        }
        let mut d = far;
        let mut consider = |t: Option<Duration>| {
            if let Some(t) = t {
                d = d.min(t);
            }
        };
        consider(self.partial_since.map(|t| t + self.config.frame_timeout));
        if !matches!(self.phase, Phase::Ready) {
            consider(self.handshake_deadline);
            return d;
        }
        consider(self.ack_since.map(|t| t + self.config.ack_delay));
        if self.role == Role::Server {
            consider(self.last_authenticated.map(|t| t + self.config.server_idle_timeout));
            if self.current.as_ref().is_some_and(|s| s.answers_may_be_left()) {
                let silent = self.last_authenticated.map_or(Duration::ZERO, |t| now.saturating_sub(t));
                consider(Some(now + silent.clamp(REDELIVER_POLL, REDELIVER_POLL_MAX)));
            }
        }
        consider(self.next_ping);
        consider(self.pong_deadline);
        let oldest = self.sent.values().filter(|s| s.out.handle.is_some()).map(|s| s.sent_at).min();
        consider(oldest.map(|t| t + self.config.request_timeout));
        if self.role == Role::Client {
            consider(self.salt_refresh_at());
        }
        d
    }

    /// Feeds input. Never panics; malformed input is dropped or closes the
    /// connection with a typed reason, as the protocol requires.
    pub fn handle_input(&mut self, input: Input<'_>, now: Duration) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        let _entered = self.trace.enter();
        self.inflate_left = self.config.inflate_budget;
        self.resend_left = self.config.max_resend_bytes;
        match input {
            Input::LinkLost => self.link_lost(None),
            Input::Timeout => self.handle_timeout(now),
            Input::Packet(p) => self.handle_packet(p, false, now),
            Input::Bytes(b) => {
                let Some(t) = &mut self.transport else {
                    self.close_with(CloseReason::Config(ConfigError::BytesOnUnframed));
                    return;
                };
                let mut frames = core::mem::take(&mut reuse_of(&mut self.reuse).frames);
                frames.clear();
                t.set_unix_time(now.as_secs() as i64 + self.session.as_ref().map_or(0, |s| s.clock().offset()));
                let r = t.feed(b, &mut frames);
                let mut opened = self.open_together(&mut frames).into_iter();
                for f in frames.drain(..) {
                    if matches!(self.phase, Phase::Closed) {
                        return;
                    }
                    let opened = opened.next().flatten();
                    match f {
                        Frame::Packet { mut data, quick_ack } => match opened {
                            Some(result) => self.handle_opened(&data, result, quick_ack, now),
                            None => self.handle_packet(&mut data, quick_ack, now),
                        },
                        Frame::QuickAck(token) => {
                            let asked = self.quick_acks.as_mut().and_then(|q| q.remove(&(token | 0x8000_0000)));
                            for handle in asked.unwrap_or_default() {
                                self.client_event(ClientEvent::QuickAck { handle });
                            }
                        }
                        Frame::TransportError(code) => self.transport_error(code),
                    }
                }
                reuse_of(&mut self.reuse).frames = frames;
                if let Err(e) = r {
                    self.link_lost(Some(LinkLoss::Transport(e)));
                    return;
                }
                let buffered = self.transport.as_ref().map_or(0, Transport::buffered);
                self.partial_since = if buffered == 0 { None } else { self.partial_since.or(Some(now)) };
            }
        }
    }

    fn handle_timeout(&mut self, now: Duration) {
        if self.partial_since.is_some_and(|t| now >= t + self.config.frame_timeout) {
            self.link_lost(Some(LinkLoss::FrameTimeout));
            return;
        }
        if !matches!(self.phase, Phase::Ready) {
            if self.handshake_deadline.is_some_and(|d| now >= d) {
                self.close_with(CloseReason::Handshake(HandshakeError::Timeout));
            }
            return;
        }
        if self.pong_deadline.is_some_and(|d| now >= d) {
            self.link_lost(Some(LinkLoss::PongTimeout));
            return;
        }
        if self.role == Role::Server
            && self.last_authenticated.is_some_and(|t| now >= t + self.config.server_idle_timeout)
        {
            self.close_with(CloseReason::IdleTimeout);
            return;
        }
        let timeout = self.config.request_timeout;
        let expired: Vec<i64> = self
            .sent
            .iter()
            .filter(|(_, s)| s.out.handle.is_some() && now >= s.sent_at + timeout)
            .map(|(id, _)| *id)
            .collect();
        // Before failing a request the server may have (the client role, a
        // link attached), ask once for its state: "not received" re-sends it,
        // "received" keeps waiting; it fails at the next expiry.
        let current = self.session.as_ref().map_or(0, |s| s.session_id());
        let mut ask = Vec::new();
        for id in &expired {
            if let Some(s) = self.sent.get_mut(id)
                && self.role == Role::Client
                && !self.detached
                && s.out.on_wire
                && !s.out.state_asked
                && s.session_id == current
            {
                s.out.state_asked = true;
                s.sent_at = now.saturating_sub(timeout / 2);
                ask.push(*id);
            }
        }
        if !ask.is_empty() {
            trace!(debug, requests = ask.len(), "request timeout: msgs_state_req before failing");
            ask.sort_unstable();
            self.push_service(MsgsStateReq { msg_ids: ask.clone() }.to_bytes(), true);
        }
        for id in expired.into_iter().filter(|id| !ask.contains(id)) {
            self.fail_sent(id, |delivery| RequestError::TimedOut { delivery });
        }
        self.flush(now, false);
    }

    fn handshake_done(&mut self, result: HandshakeResult, now: Duration) {
        self.temporary_key = result.expires_at.is_some();
        trace!(info, auth_key_id = %Hex(result.auth_key.id()), temporary = self.temporary_key, "handshake done");
        self.start_session(result.auth_key, result.first_salt, result.time_offset, now);
    }

    fn start_session(&mut self, key: AuthKey, salt: i64, time_offset: i64, now: Duration) {
        let session_entropy = self.sub_entropy();
        let session_id = self.entropy.next_u64() as i64;
        let session =
            EncryptedSession::with_entropy(key.clone(), self.role, salt, session_id, time_offset, session_entropy);
        self.session = Some(Box::new(session));
        self.trace.key(key.id());
        if self.role == Role::Client {
            self.trace.session(session_id);
        }
        self.phase = Phase::Ready;
        self.handshake_deadline = None;
        let ready: Emitted = match self.role {
            Role::Client => ClientEvent::Ready { auth_key: Box::new(key.clone()), salt, time_offset }.into(),
            Role::Server => ServerEvent::Ready { auth_key: Box::new(key.clone()), salt }.into(),
        };
        if self.role == Role::Server {
            // The idle deadline runs from here; only accepted messages move it.
            self.last_authenticated = Some(now);
            // The salt schedule belongs to the key: every link of it shares it.
            let key_state = self.store.as_ref().map(|s| s.key(key.id(), now)).unwrap_or_default();
            {
                let mut k = key_state.lock();
                if k.salts.is_empty() {
                    k.salts.push_back(FutureSalt {
                        valid_since: now.as_secs() as i32,
                        valid_until: (now + self.config.salt_lifetime).as_secs() as i32,
                        salt,
                    });
                }
            }
            self.key_state = Some(key_state);
        } else {
            self.next_ping = self.config.ping_interval.map(|i| now + i);
        }
        self.events.push_back(ready);
    }
}

/// Messages real clients send with either seq_no parity and Telegram's
/// servers accept so (docs/protocol.md, "seq_no parity"): pings (Pyrogram and
/// its forks send them as not content-related), http_wait, acks (some
/// clients number every message as content-related) and containers.
fn parity_tolerant(body: &[u8]) -> bool {
    matches!(
        constructor(body),
        Ping::ID | PingDelayDisconnect::ID | schema::HttpWait::ID | MsgsAck::ID | schema::MSG_CONTAINER
    )
}

/// Server messages about one link's traffic, which a new link must not
/// repeat (answers, updates and an unacknowledged new_session_created are
/// kept across links: the client must still learn of the new session).
fn is_session_notice(body: &[u8]) -> bool {
    matches!(
        constructor(body),
        BadServerSalt::ID
            | BadMsgNotification::ID
            | Pong::ID
            | FutureSalts::ID
            | MsgsStateInfo::ID
            | MsgDetailedInfo::ID
            | MsgNewDetailedInfo::ID
            | MsgsAllInfo::ID
            | DestroySessionOk::ID
            | DestroySessionNone::ID
    ) || is_answered_service(body)
}

/// Service requests that are answered by content (pong, future_salts) and so
/// stay kept until that answer, not merely until an ack.
fn is_answered_service(body: &[u8]) -> bool {
    matches!(constructor(body), Ping::ID | PingDelayDisconnect::ID | GetFutureSalts::ID)
}
