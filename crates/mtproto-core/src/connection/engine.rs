//! The Connection state machine.

use super::config::{ConnectionConfig, Transporting};
use super::events::{
    CloseReason, ConfigError, Delivery, DropReason, Event, Input, LinkLoss, Output, RequestError, RequestHandle,
    SendOptions, TransportFailure,
};
use super::idmap::IdMap;
use super::replay::{BoundedIdSet, BoundedSet, ReplayWindow};
use super::seen_sessions::{SeenSessions, SessionRecord};
use crate::handshake::{ClientHandshake, HandshakeError, HandshakeResult, ServerHandshake, Step};
use crate::message::{self, EncryptedSession, Role, container, gzip};
use crate::tl::schema::{
    self, BadMsgNotification, BadServerSalt, DestroySession, DestroySessionNone, DestroySessionOk, FutureSalt,
    FutureSalts, GetFutureSalts, MsgDetailedInfo, MsgNewDetailedInfo, MsgResendReq, MsgsAck, MsgsAllInfo,
    MsgsStateInfo, MsgsStateReq, NewSessionCreated, Ping, PingDelayDisconnect, Pong, RpcAnswerDropped, RpcDropAnswer,
    RpcError, RpcResult,
};
use crate::tl::{Deserialize, Reader, Serialize};
use crate::transport::{Frame, Transport};
use core::time::Duration;
use mtproto_crypto::{AuthKey, CryptoError, Direction, Entropy, OsEntropy, envelope};
use std::collections::VecDeque;

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
/// How many earlier client sessions a server remembers (with their replay
/// windows) besides the current one.
const MAX_OLD_SESSIONS: usize = 8;

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
pub struct Connection {
    role: Role,
    config: ConnectionConfig,
    transport: Option<Transport>,
    phase: Phase,
    entropy: Box<dyn Entropy + Send>,
    events: VecDeque<Event>,
    wire: Vec<u8>,
    pending_transmits: VecDeque<Vec<u8>>,
    closed_emitted: bool,
    session: Option<EncryptedSession>,
    next_handle: u64,
    queue: VecDeque<Outgoing>,
    sent: IdMap<i64, Sent>,
    sent_order: VecDeque<i64>,
    handles: IdMap<RequestHandle, i64>,
    /// Sent containers and their messages, for re-sends; the oldest are
    /// forgotten beyond `MAX_KEPT`.
    containers: IdMap<i64, Vec<i64>>,
    container_order: VecDeque<i64>,
    acks: Vec<i64>,
    ack_since: Option<Duration>,
    replay: ReplayWindow,
    /// Packets decrypted together with others (`open_together`), for Stats.
    opened_together: u64,
    queued_bytes: usize,
    /// Quick-ack token of a sent packet -> the requests in it that asked for one.
    quick_acks: IdMap<u32, Vec<RequestHandle>>,
    // client timers and salts
    next_ping: Option<Duration>,
    ping: Option<(i64, Duration)>,
    pong_deadline: Option<Duration>,
    future_salts: Vec<FutureSalt>,
    salts_requested_at: Option<Duration>,
    handshake_deadline: Option<Duration>,
    // server
    salts: VecDeque<FutureSalt>,
    client_session: Option<i64>,
    /// Server: earlier client sessions with their replay windows.
    seen: SeenSessions,
    /// Inflate budget left for the current input.
    inflate_left: usize,
    /// Re-send budget (msg_resend_req) left for the current input.
    resend_left: usize,
    /// Server: requests handed to the application and not answered yet.
    running: BoundedIdSet,
    /// Server: requests whose answer the client dropped (rpc_drop_answer)
    /// while they ran: `respond` discards their answers.
    dropped: BoundedIdSet,
    /// Server: when the last authenticated message arrived.
    last_authenticated: Option<Duration>,
    /// Bytes a msg_resend_req asked for beyond `max_resend_bytes`.
    resend_bytes_refused: u64,
    /// Client: the link is gone; nothing is sent until `attach_link`.
    detached: bool,
    /// Client: the sessions we left most recently, whose late answers are
    /// still accepted.
    previous_sessions: VecDeque<i64>,
    /// Server: client msg_ids refused unprocessed (bad_msg, bad salt), never
    /// to run later.
    refused: BoundedSet<(i64, i64)>,
    /// Server: answers of sessions taken from the store, sent again when the
    /// client continues that session.
    restored: Vec<(i64, Vec<Vec<u8>>)>,
    /// Server: Ready for a known key, emitted on its first accepted message.
    ready_pending: Option<Event>,
    /// Links lost so far (client: resumed with `attach_link`).
    links_lost: u64,
    /// Client: the key came from a temporary-key handshake.
    temporary_key: bool,
    /// Client: -429s in a row (the backoff hint doubles with each).
    floods: u32,
    /// Server: bad_server_salt notifications sent.
    bad_salts_sent: u64,
    /// Server: first_msg_id announced for the current session; earlier
    /// messages are the client's to re-send, so they are not processed.
    session_first_msg_id: i64,
    force_bad_msg: Option<i32>,
    /// Since when a partial frame has been waiting for its remaining bytes.
    partial_since: Option<Duration>,
    /// Reused buffer for container bodies.
    scratch: Vec<u8>,
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

fn is_content_related(body: &[u8]) -> bool {
    !matches!(constructor(body), MsgsAck::ID | schema::MSG_CONTAINER)
}

impl Connection {
    /// A client. Performs a handshake unless `config.resume` holds a key.
    pub fn client(config: ConnectionConfig, now: Duration) -> Result<Self, mtproto_crypto::CryptoError> {
        Ok(Self::client_with_entropy(config, now, Box::new(OsEntropy::new()?)))
    }

    /// A client with the given entropy (deterministic tests and simulations).
    pub fn client_with_entropy(config: ConnectionConfig, now: Duration, entropy: Box<dyn Entropy + Send>) -> Self {
        let mut me = Self::base(Role::Client, config, entropy);
        if let Some(p) = me.config.resume.clone() {
            me.start_session(p.auth_key, p.salt, p.time_offset, now);
        } else if let Some(cc) = me.config.client.clone() {
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
    pub fn server(config: ConnectionConfig, now: Duration) -> Result<Self, mtproto_crypto::CryptoError> {
        Ok(Self::server_with_entropy(config, now, Box::new(OsEntropy::new()?)))
    }

    /// A server with the given entropy.
    pub fn server_with_entropy(config: ConnectionConfig, now: Duration, entropy: Box<dyn Entropy + Send>) -> Self {
        let mut me = Self::base(Role::Server, config, entropy);
        me.phase = Phase::ServerStart;
        me.handshake_deadline =
            Some(now + me.config.server.as_ref().map_or(crate::handshake::DEFAULT_TIMEOUT, |s| s.timeout));
        me
    }

    fn base(role: Role, config: ConnectionConfig, mut entropy: Box<dyn Entropy + Send>) -> Self {
        // A child with 384 bits drawn from the parent (never a 64-bit seed).
        let transport = match config.transport {
            Transporting::Unframed => None,
            _ => config.transport.transport(role, config.max_frame, entropy.fork()),
        };
        let replay = ReplayWindow::new(config.replay_window);
        let mut me = Self {
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
            replay,
            opened_together: 0,
            queued_bytes: 0,
            quick_acks: IdMap::default(),
            next_ping: None,
            ping: None,
            pong_deadline: None,
            future_salts: Vec::new(),
            salts_requested_at: None,
            handshake_deadline: None,
            salts: VecDeque::new(),
            client_session: None,
            seen: SeenSessions::new(MAX_OLD_SESSIONS),
            inflate_left: 0,
            resend_left: 0,
            running: BoundedIdSet::new(MAX_KEPT),
            dropped: BoundedIdSet::new(MAX_KEPT),
            last_authenticated: None,
            resend_bytes_refused: 0,
            detached: false,
            previous_sessions: VecDeque::new(),
            links_lost: 0,
            temporary_key: false,
            floods: 0,
            bad_salts_sent: 0,
            refused: BoundedSet::new(4096),
            restored: Vec::new(),
            ready_pending: None,
            session_first_msg_id: 0,
            force_bad_msg: None,
            partial_since: None,
            scratch: Vec::new(),
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

    /// The role.
    pub fn role(&self) -> Role {
        self.role
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
    pub fn persisted(&self) -> Option<super::Persisted> {
        let s = self.session.as_ref()?;
        Some(super::Persisted { auth_key: s.auth_key().clone(), salt: s.salt(), time_offset: s.clock().offset() })
    }

    /// The current session id (once ready).
    pub fn session_id(&self) -> Option<i64> {
        self.session.as_ref().map(EncryptedSession::session_id)
    }

    /// Sizes of the internal state, to check that memory stays bounded.
    pub fn stats(&self) -> super::Stats {
        super::Stats {
            queued: self.queue.len(),
            awaiting_ack_or_answer: self.sent.len(),
            open_requests: self.handles.len(),
            containers_remembered: self.containers.len(),
            replay_window: self.replay.len(),
            pending_acks: self.acks.len(),
            buffered_transport_bytes: self.transport.as_ref().map_or(0, Transport::buffered),
            opened_together: self.opened_together,
            queued_bytes: self.queued_bytes,
            resend_bytes_refused: self.resend_bytes_refused,
            sessions_remembered: self.seen.len(),
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

    // ------------------------------------------------------------------ output

    /// Sends a packet this connection built and owns: framed into the wire
    /// buffer, or (unframed) handed out as its own transmit, without a copy.
    fn transmit(&mut self, packet: Vec<u8>, quick_ack: bool) {
        match &mut self.transport {
            Some(t) => t.encode(&packet, quick_ack, &mut self.wire),
            None => self.pending_transmits.push_back(packet),
        }
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
            self.events.push_back(Event::RequestFailed { handle, error: RequestError::Closed { delivery } });
        }
        self.handles.clear();
        self.queue.clear();
        self.sent.clear();
        self.queued_bytes = 0;
        self.closed_emitted = true;
        self.events.push_back(Event::Closed { reason });
    }

    /// How far a pending request got (see [`Delivery`]).
    fn delivery(&self, handle: RequestHandle) -> Delivery {
        let sent = self.handles.get(&handle).and_then(|id| self.sent.get(id)).filter(|s| s.out.handle == Some(handle));
        sent.map_or(Delivery::NotSent, |s| s.out.delivery())
    }

    /// Server: saves every client session this link served (the current one
    /// with the messages the client has not acknowledged) and the key's
    /// salt schedule into the configured [`super::SessionStore`].
    fn save_sessions(&mut self) {
        let (Some(store), Some(session)) = (self.config.session_store.clone(), self.session.as_ref()) else {
            return;
        };
        let key_id = session.auth_key().id();
        let seq_count = session.seq_count();
        let saved_at = self.last_authenticated.unwrap_or_default();
        store.set_salts(key_id, self.salts.iter().cloned().collect());
        if let Some(id) = self.client_session {
            let mut kept: Vec<(i64, Vec<u8>)> = self
                .sent
                .iter()
                .filter(|(_, s)| s.out.handle.is_none() && s.out.content_related && !is_session_notice(&s.out.body))
                .map(|(id, s)| (*id, s.out.body.clone()))
                .collect();
            kept.sort_unstable_by_key(|(id, _)| *id);
            let mut unacknowledged: Vec<Vec<u8>> = kept.into_iter().map(|(_, b)| b).collect();
            unacknowledged.extend(
                self.queue.iter().filter(|o| o.content_related && !is_session_notice(&o.body)).map(|o| o.body.clone()),
            );
            let replay = std::mem::replace(&mut self.replay, ReplayWindow::new(1));
            let current = SessionRecord { id, replay, seq_count, first_msg_id: self.session_first_msg_id };
            store.put(key_id, current.into_saved(unacknowledged, saved_at));
        }
        for r in self.seen.drain() {
            store.put(key_id, r.into_saved(Vec::new(), saved_at));
        }
    }

    /// Client: the link is gone. Everything of the session stays (key,
    /// session_id, clock, seq_no, salts, acks owed, queue, pending requests);
    /// what was on the wire and not acknowledged has an unknown fate, asked
    /// about with msgs_state_req on the next link. Server: the sessions are
    /// saved and the connection closes.
    /// `cause` is `None` when the driver reported the loss
    /// ([`Input::LinkLost`]); otherwise the Connection noticed it and
    /// reports it ([`Event::LinkLost`]) so the driver drops the socket.
    fn link_lost(&mut self, cause: Option<LinkLoss>) {
        if self.role == Role::Server {
            self.close_with(match cause {
                None => CloseReason::LinkLost,
                Some(LinkLoss::PongTimeout) => CloseReason::PongTimeout,
                Some(LinkLoss::FrameTimeout) => CloseReason::FrameTimeout,
                Some(LinkLoss::Transport(e)) => CloseReason::Transport(e),
                Some(LinkLoss::Flood { .. }) => CloseReason::LinkLost,
            });
            return;
        }
        if self.detached || matches!(self.phase, Phase::Closed) {
            return;
        }
        self.detached = true;
        self.links_lost += 1;
        self.wire.clear();
        self.pending_transmits.clear();
        self.partial_since = None;
        self.quick_acks.clear();
        self.ping = None;
        self.pong_deadline = None;
        self.next_ping = None;
        if !matches!(self.config.transport, Transporting::Unframed) {
            self.transport = self.config.transport.transport(Role::Client, self.config.max_frame, self.entropy.fork());
        }
        if matches!(self.phase, Phase::ClientHandshake(_)) {
            self.phase = Phase::ClientAwaitingLink;
            self.handshake_deadline = None;
        }
        if let Some(cause) = cause {
            self.events.push_back(Event::LinkLost { cause });
        }
    }

    /// Client: a new transport connection is up, and the session continues
    /// on it. Requests whose fate the lost link left unknown are asked about
    /// with msgs_state_req (and sent again only when the server says it never
    /// received them); the queue goes out; a handshake that the lost link
    /// interrupted starts again. Does nothing while a link is attached.
    pub fn attach_link(&mut self, now: Duration) {
        if self.role != Role::Client || !self.detached || matches!(self.phase, Phase::Closed) {
            return;
        }
        self.detached = false;
        if matches!(self.phase, Phase::ClientAwaitingLink) {
            if let Some(cc) = self.config.client.clone() {
                let (hs, packet) = ClientHandshake::start(cc, now, self.sub_entropy());
                self.handshake_deadline = Some(hs.deadline());
                self.phase = Phase::ClientHandshake(Box::new(hs));
                self.transmit(packet, false);
            }
            return;
        }
        self.next_ping = self.config.ping_interval.map(|i| now + i);
        // Only the current session can answer for its msg_ids; requests of a
        // session we left stay pending (their answers are still accepted).
        let current = self.session.as_ref().map_or(0, EncryptedSession::session_id);
        let mut unknown: Vec<i64> = self
            .sent
            .iter()
            .filter(|(_, s)| s.out.handle.is_some() && s.out.on_wire && !s.out.acked && s.session_id == current)
            .map(|(id, _)| *id)
            .collect();
        unknown.sort_unstable();
        for chunk in unknown.chunks(8192) {
            self.push_service(MsgsStateReq { msg_ids: chunk.to_vec() }.to_bytes(), true);
        }
    }

    /// Server over fake-TLS: once the connection closed with
    /// [`crate::transport::TransportError::NotFakeTls`], the bytes received,
    /// untouched (never answered), for a driver to splice to the real domain.
    pub fn take_rejected_bytes(&mut self) -> Option<Vec<u8>> {
        self.transport.as_mut().and_then(Transport::take_rejected)
    }

    /// Whether a client waits for [`Connection::attach_link`].
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    /// Closes the connection; pending requests fail.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    /// The next output. After every input, call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self, now: Duration) -> Output {
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
        if let Some(ev) = self.events.pop_front() {
            return Output::Event(ev);
        }
        if matches!(self.phase, Phase::Ready) && !self.detached {
            self.flush(now, false);
        }
        if let Some(out) = self.take_transmit() {
            return out;
        }
        if let Some(ev) = self.events.pop_front() {
            return Output::Event(ev);
        }
        Output::Timeout(self.next_deadline(now))
    }

    /// The next event, without producing output (no flush). A driver that
    /// flushes several connections at once drains each one's events with
    /// this, answers requests, calls [`Connection::flush_together`], then
    /// takes the bytes with [`Connection::poll_output`] as usual.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn take_transmit(&mut self) -> Option<Output> {
        if let Some(p) = self.pending_transmits.pop_front() {
            return Some(Output::Transmit(p));
        }
        (!self.wire.is_empty()).then(|| Output::Transmit(std::mem::take(&mut self.wire)))
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

    // ------------------------------------------------------------------ input

    /// Feeds input. Never panics; malformed input is dropped or closes the
    /// connection with a typed reason, as the protocol requires.
    pub fn handle_input(&mut self, input: Input<'_>, now: Duration) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
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
                let mut frames = Vec::new();
                t.set_unix_time(now.as_secs() as i64 + self.session.as_ref().map_or(0, |s| s.clock().offset()));
                let r = t.feed(b, &mut frames);
                let mut opened = self.open_together(&mut frames).into_iter();
                for f in frames {
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
                            for handle in self.quick_acks.remove(&(token | 0x8000_0000)).unwrap_or_default() {
                                self.events.push_back(Event::QuickAck { handle });
                            }
                        }
                        Frame::TransportError(code) => self.transport_error(code),
                    }
                }
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
        let current = self.session.as_ref().map_or(0, EncryptedSession::session_id);
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
            ask.sort_unstable();
            self.push_service(MsgsStateReq { msg_ids: ask.clone() }.to_bytes(), true);
        }
        for id in expired.into_iter().filter(|id| !ask.contains(id)) {
            if let Some(s) = self.sent.remove(&id)
                && let Some(handle) = s.out.handle
            {
                let delivery = s.out.delivery();
                self.handles.remove(&handle);
                self.release(&s.out);
                self.events.push_back(Event::RequestFailed { handle, error: RequestError::TimedOut { delivery } });
            }
        }
        self.flush(now, false);
    }

    fn handle_packet(&mut self, packet: &mut [u8], quick_ack: bool, now: Duration) {
        let auth_key_id = envelope::peek_auth_key_id(packet).unwrap_or([0; 8]);
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::ClientHandshake(mut hs) => match hs.handle(packet, now) {
                Ok(Step::Send(p)) => {
                    self.phase = Phase::ClientHandshake(hs);
                    self.transmit(p, false);
                }
                Ok(Step::Done(_, result)) => self.handshake_done(*result, now),
                Err(e) => self.close_with(CloseReason::Handshake(e)),
            },
            Phase::ServerStart if auth_key_id == [0; 8] => {
                let Some(sc) = self.config.server.clone() else {
                    self.close_with(CloseReason::Config(ConfigError::NoServerHandshake));
                    return;
                };
                let hs = ServerHandshake::new(sc, now, self.sub_entropy());
                self.phase = Phase::ServerHandshake(Box::new(hs));
                self.handle_packet(packet, quick_ack, now);
            }
            Phase::ServerStart => {
                let id = i64::from_le_bytes(auth_key_id);
                let Some(key) = self.config.key_lookup.as_ref().and_then(|f| f(id)) else {
                    self.unknown_key();
                    return;
                };
                // Only an authenticated message starts a session: a known key
                // id (it travels in clear) with a failing msg_key is treated
                // like an unknown key.
                if envelope::decrypt_in_place(&key, Direction::ClientToServer, packet).is_err() {
                    self.unknown_key();
                    return;
                }
                let salt = self.entropy.next_u64() as i64;
                self.start_session(key, salt, 0, now);
                // Ready waits for a message that passes every check (a
                // replayed old packet authenticates but is refused).
                self.ready_pending = self.events.pop_back();
                self.handle_opened(packet, Ok(()), quick_ack, now);
            }
            Phase::ServerHandshake(mut hs) => {
                let lookup = self.config.key_lookup.clone();
                let taken = move |id: i64| lookup.as_ref().is_some_and(|f| f(id).is_some());
                match hs.handle(packet, now, &taken) {
                    Ok(Step::Send(p)) => {
                        self.phase = Phase::ServerHandshake(hs);
                        self.transmit(p, false);
                    }
                    Ok(Step::Done(p, result)) => {
                        if let Some(p) = p {
                            self.transmit(p, false);
                        }
                        self.handshake_done(*result, now);
                    }
                    Err(e) => self.close_with(CloseReason::Handshake(e)),
                }
            }
            Phase::Ready => {
                self.phase = Phase::Ready;
                self.handle_encrypted(packet, quick_ack, now);
            }
            Phase::ClientAwaitingLink | Phase::Closed => {}
        }
    }

    fn unknown_key(&mut self) {
        if let Some(t) = &mut self.transport {
            t.encode_error(-404, &mut self.wire);
        }
        self.close_with(CloseReason::UnknownAuthKey);
    }

    fn handshake_done(&mut self, result: HandshakeResult, now: Duration) {
        self.temporary_key = result.expires_at.is_some();
        self.start_session(result.auth_key, result.first_salt, result.time_offset, now);
    }

    /// A transport error code from the server: -404 (the key is unknown: a
    /// temporary one was destroyed) and -444 (wrong DC) end the connection,
    /// pending requests failing with what is known of them; -429 (flood)
    /// drops the link and keeps the session, with a doubling backoff hint.
    fn transport_error(&mut self, code: i32) {
        let failure = TransportFailure::from_code(code, self.temporary_key);
        self.events.push_back(Event::TransportError { code, failure });
        if self.role != Role::Client {
            return;
        }
        match failure {
            TransportFailure::AuthKeyUnknown { .. } | TransportFailure::BadDcId => {
                self.close_with(CloseReason::TransportFailure(failure));
            }
            TransportFailure::Flood => {
                let retry_after = Duration::from_secs(1 << self.floods.min(6));
                self.floods = self.floods.saturating_add(1);
                self.link_lost(Some(LinkLoss::Flood { retry_after }));
            }
            TransportFailure::Other(_) => {}
        }
    }

    fn start_session(&mut self, key: AuthKey, salt: i64, time_offset: i64, now: Duration) {
        let session_entropy = self.sub_entropy();
        let session_id = self.entropy.next_u64() as i64;
        let session =
            EncryptedSession::with_entropy(key.clone(), self.role, salt, session_id, time_offset, session_entropy);
        self.session = Some(session);
        self.phase = Phase::Ready;
        self.handshake_deadline = None;
        let ready = Event::Ready { auth_key: Box::new(key.clone()), salt, time_offset };
        if self.role == Role::Server {
            // The idle deadline runs from here; only accepted messages move it.
            self.last_authenticated = Some(now);
            self.salts.clear();
            // The salt schedule belongs to the key: a new link continues it.
            let saved = self.config.session_store.as_ref().and_then(|s| s.salts(key.id()));
            match saved {
                Some(salts) if !salts.is_empty() => self.salts.extend(salts),
                _ => self.salts.push_back(FutureSalt {
                    valid_since: now.as_secs() as i32,
                    valid_until: (now + self.config.salt_lifetime).as_secs() as i32,
                    salt,
                }),
            }
        } else {
            self.next_ping = self.config.ping_interval.map(|i| now + i);
        }
        self.events.push_back(ready);
    }

    // ------------------------------------------------------------------ API

    /// Queues a request (opaque API bytes) and returns its handle, which stays
    /// valid across re-sends.
    pub fn send(&mut self, body: Vec<u8>, options: SendOptions) -> RequestHandle {
        let handle = RequestHandle(self.next_handle);
        self.next_handle += 1;
        if matches!(self.phase, Phase::Closed) {
            let error = RequestError::Closed { delivery: Delivery::NotSent };
            self.events.push_back(Event::RequestFailed { handle, error });
            return handle;
        }
        if self.queued_bytes + body.len() > self.config.max_queued_bytes {
            let error = RequestError::QueueFull { limit: self.config.max_queued_bytes };
            self.events.push_back(Event::RequestFailed { handle, error });
            return handle;
        }
        let accounted = body.len();
        self.queued_bytes += accounted;
        let body = self.maybe_gzip(body, options.no_gzip);
        self.handles.insert(handle, 0);
        self.queue.push_back(Outgoing {
            body,
            content_related: true,
            handle: Some(handle),
            quick_ack: options.quick_ack,
            response: false,
            alone: false,
            accounted,
            answers: None,
            on_wire: false,
            acked: false,
            state_asked: false,
            after: options.after,
        });
        handle
    }

    fn maybe_gzip(&self, body: Vec<u8>, no_gzip: bool) -> Vec<u8> {
        if no_gzip || body.len() < self.config.gzip_threshold {
            return body;
        }
        let mut packed = Vec::new();
        if gzip::pack_if_smaller(&body, &mut packed) { packed } else { body }
    }

    /// Cancels a request: it will not be sent, or its answer is dropped
    /// (rpc_drop_answer is sent when it was already sent).
    pub fn cancel(&mut self, handle: RequestHandle) {
        let delivery = self.delivery(handle);
        if let Some(pos) = self.queue.iter().position(|o| o.handle == Some(handle)) {
            if let Some(o) = self.queue.remove(pos) {
                self.release(&o);
            }
        } else if let Some(msg_id) = self.handles.get(&handle).copied() {
            if let Some(s) = self.sent.remove(&msg_id) {
                self.release(&s.out);
            }
            self.push_service(RpcDropAnswer { req_msg_id: msg_id }.to_bytes(), true);
        }
        if self.handles.remove(&handle).is_some() {
            self.events.push_back(Event::RequestFailed { handle, error: RequestError::Cancelled { delivery } });
        }
    }

    /// Client: sends a ping now (ping_delay_disconnect); an [`Event::Pong`]
    /// with the round trip follows. Does nothing while a ping is outstanding.
    pub fn ping(&mut self, now: Duration) {
        if self.ping.is_some() || !matches!(self.phase, Phase::Ready) {
            return;
        }
        self.next_ping = Some(now);
        self.client_timers(now);
    }

    /// Client: asks the server to destroy another session of this key.
    pub fn destroy_session(&mut self, session_id: i64) {
        self.push_service(DestroySession { session_id }.to_bytes(), true);
    }

    /// Server: answers the client request `req_msg_id` with `body` (rpc_result).
    pub fn respond(&mut self, req_msg_id: i64, body: &[u8]) {
        self.running.remove(req_msg_id);
        if self.dropped.remove(req_msg_id) {
            // The client dropped this answer while the request ran.
            return;
        }
        let mut out = Vec::with_capacity(body.len() + 12);
        RpcResult { req_msg_id, result: body }.serialize(&mut out);
        if body.len() >= self.config.gzip_threshold {
            let mut packed = Vec::new();
            if gzip::pack_if_smaller(body, &mut packed) {
                out.truncate(12);
                out.extend_from_slice(&packed);
            }
        }
        let mut answer = Outgoing::service(out, true, true);
        answer.answers = Some(req_msg_id);
        self.queue.push_back(answer);
    }

    /// Server: answers the client request `req_msg_id` with an rpc_error.
    pub fn respond_error(&mut self, req_msg_id: i64, code: i32, message: &str) {
        let err = RpcError { error_code: code, error_message: message.to_string() }.to_bytes();
        self.respond(req_msg_id, &err);
    }

    /// Server: sends server-initiated content (an update) to the client.
    pub fn push_update(&mut self, body: Vec<u8>) {
        self.queue.push_back(Outgoing::service(body, true, false));
    }

    /// Server: switches to a new salt now; a client still using the old one
    /// gets bad_server_salt.
    pub fn rotate_salt(&mut self, now: Duration) {
        let salt = self.entropy.next_u64() as i64;
        self.salts.clear();
        self.salts.push_back(FutureSalt {
            valid_since: now.as_secs() as i32,
            valid_until: (now + self.config.salt_lifetime).as_secs() as i32,
            salt,
        });
    }

    /// Server: forgets the client's session, so its next message starts a new
    /// one (new_session_created).
    pub fn forget_session(&mut self) {
        if let Some(id) = self.client_session.take() {
            // Its msg_ids stay refused: they raise the floor.
            let replay = std::mem::replace(&mut self.replay, ReplayWindow::new(self.config.replay_window));
            self.seen.retire(SessionRecord { id, replay, seq_count: 0, first_msg_id: 0 });
        }
    }

    /// Server (testing and fault injection, feature `fault-injection`):
    /// answer the next client message with bad_msg_notification carrying
    /// `code` instead of processing it.
    #[cfg(feature = "fault-injection")]
    pub fn inject_bad_msg(&mut self, code: i32) {
        self.force_bad_msg = Some(code);
    }

    /// Takes a request's bytes off `queued_bytes` (exactly what `send` added).
    fn release(&mut self, out: &Outgoing) {
        self.queued_bytes = self.queued_bytes.saturating_sub(out.accounted);
    }

    fn push_service(&mut self, body: Vec<u8>, content_related: bool) {
        self.queue.push_back(Outgoing::service(body, content_related, false));
    }

    fn push_response(&mut self, body: Vec<u8>) {
        self.queue.push_back(Outgoing::service(body, true, true));
    }

    // ------------------------------------------------------------------ sending

    fn salt_refresh_at(&self) -> Option<Duration> {
        let session = self.session.as_ref()?;
        // One get_future_salts at a time; asked again only when no answer
        // came within a minute (as TDLib does).
        if let Some(asked) = self.salts_requested_at {
            return Some(asked + SALT_REQUEST_RETRY);
        }
        let last = self.future_salts.iter().map(|s| s.valid_until).max();
        Some(match last {
            None => Duration::ZERO,
            Some(until) => {
                let local = (until as i64 - session.clock().offset()).max(0) as u64;
                Duration::from_secs(local).saturating_sub(self.config.salt_prefetch)
            }
        })
    }

    fn client_timers(&mut self, now: Duration) {
        if self.next_ping.is_some_and(|t| now >= t) && self.ping.is_none() {
            let ping_id = self.entropy.next_u64() as i64;
            let interval = self.config.ping_interval.unwrap_or(Duration::from_secs(60));
            let delay = (interval + self.config.pong_timeout).as_secs() as i32;
            self.push_service(PingDelayDisconnect { ping_id, disconnect_delay: delay }.to_bytes(), true);
            self.ping = Some((ping_id, now));
            self.pong_deadline = Some(now + self.config.pong_timeout);
            self.next_ping = self.config.ping_interval.map(|i| now + i);
        }
        if self.salt_refresh_at().is_some_and(|t| now >= t) {
            self.salts_requested_at = Some(now);
            self.push_service(GetFutureSalts { num: 8 }.to_bytes(), true);
        }
        // Switch to the newest future salt that is valid now.
        if let Some(session) = &self.session {
            let server_now = session.clock().peer_time(now) as i32;
            let best = self
                .future_salts
                .iter()
                .filter(|s| s.valid_since <= server_now && server_now < s.valid_until)
                .max_by_key(|s| s.valid_since)
                .map(|s| s.salt);
            if let Some(salt) = best
                && salt != session.salt()
            {
                self.set_salt(salt);
            }
            self.future_salts.retain(|s| s.valid_until > server_now);
        }
    }

    fn set_salt(&mut self, salt: i64) {
        if let Some(s) = &mut self.session
            && s.salt() != salt
        {
            s.set_salt(salt);
            self.events.push_back(Event::SaltChanged { salt });
        }
    }

    /// Packs the queue (and pending acks) into packets.
    /// Flushes several connections at once: each frames what it has queued
    /// (as [`Connection::poll_output`] would), then the packets of all of
    /// them are encrypted in one multi-buffer call
    /// (`mtproto_crypto::envelope::encrypt_many`, any mix of keys and
    /// directions), their AES chains interleaved. A server driver that
    /// answers many clients in one loop turn calls this before polling each
    /// connection's output as usual; the bytes are the same as those of
    /// separate flushes, only produced faster.
    pub fn flush_together(conns: &mut [&mut Connection], now: Duration) {
        let mut framed: Vec<Vec<(Vec<u8>, bool)>> = conns
            .iter_mut()
            .map(|c| if matches!(c.phase, Phase::Ready) { c.prepare_flush(now, false) } else { Vec::new() })
            .collect();
        {
            let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> = Vec::new();
            for (c, packets) in conns.iter().zip(framed.iter_mut()) {
                if let Some(session) = c.session.as_ref() {
                    let dir = session.send_direction();
                    jobs.extend(packets.iter_mut().map(|(p, _)| (session.auth_key(), dir, &mut p[..])));
                }
            }
            // Framed packets are block aligned by construction: this cannot fail.
            let sealed = envelope::encrypt_many(&mut jobs);
            debug_assert!(sealed.is_ok());
        }
        for (c, packets) in conns.iter_mut().zip(framed) {
            for (packet, quick_ack) in packets {
                c.transmit(packet, quick_ack);
            }
        }
    }

    fn flush(&mut self, now: Duration, force_acks: bool) {
        let mut packets = self.prepare_flush(now, force_acks);
        if let Some(session) = self.session.as_ref() {
            match packets.as_mut_slice() {
                [] => {}
                [(one, _)] => session.seal(one),
                many => {
                    let mut framed: Vec<&mut [u8]> = many.iter_mut().map(|(p, _)| &mut p[..]).collect();
                    session.seal_many(&mut framed);
                }
            }
        }
        for (packet, quick_ack) in packets {
            self.transmit(packet, quick_ack);
        }
    }

    /// Everything a flush does before encryption: timers, due acks, and the
    /// queue framed into packets (unencrypted; each with its quick-ack wish).
    fn prepare_flush(&mut self, now: Duration, force_acks: bool) -> Vec<(Vec<u8>, bool)> {
        if self.role == Role::Client {
            self.client_timers(now);
        }
        // Acks go out when the batch is full or the oldest has waited `ack_delay`;
        // they then ride in the same container as whatever else is queued.
        let ack_due = !self.acks.is_empty()
            && (force_acks
                || self.acks.len() >= self.config.ack_batch
                || self.ack_since.is_some_and(|t| now >= t + self.config.ack_delay));
        if ack_due {
            let ids = std::mem::take(&mut self.acks);
            self.ack_since = None;
            for chunk in ids.chunks(8192) {
                let body = MsgsAck { msg_ids: chunk.to_vec() }.to_bytes();
                self.queue.push_front(Outgoing::service(body, false, false));
            }
        }
        // Frame every packet first; the caller encrypts them together, so
        // several packets (a large upload, a burst of answers) go through the
        // multi-buffer path, their AES chains interleaved.
        let mut packets: Vec<(Vec<u8>, bool)> = Vec::new();
        while !self.queue.is_empty() {
            match self.frame_batch(now) {
                Some(p) => packets.push(p),
                None => break,
            }
        }
        packets
    }

    /// Takes one container's worth (or one message) off the queue and frames
    /// it, unencrypted; returns the packet and whether a quick ack was asked.
    fn frame_batch(&mut self, now: Duration) -> Option<(Vec<u8>, bool)> {
        let session = self.session.as_mut()?;
        let max_msgs = self.config.container_max_messages.clamp(1, container::MAX_MESSAGES);
        let max_bytes = self.config.container_max_bytes;
        // Take as many as fit one container; a lone or oversized message goes alone.
        let mut batch: Vec<Outgoing> = Vec::new();
        let mut size = 8;
        while let Some(o) = self.queue.front() {
            let len = o.body.len() + if o.after.is_some() { INVOKE_AFTER_LEN } else { 0 };
            let fits = !o.alone && batch.len() < max_msgs && size + container::INNER_HEADER + len <= max_bytes;
            if !batch.is_empty() && (!fits || batch.iter().any(|b| b.alone)) {
                break;
            }
            size += container::INNER_HEADER + len;
            let Some(o) = self.queue.pop_front() else {
                break;
            };
            batch.push(o);
            if batch[0].alone {
                break;
            }
        }
        let mut packet = Vec::with_capacity(size + 128);
        let mut sent_ids: Vec<(i64, i32)> = Vec::with_capacity(batch.len());
        // invokeAfterMsg with the dependency's msg_id as it is now: framed
        // earlier in this batch, or on the wire (a dependency already
        // answered needs no wrapping).
        let handles = &self.handles;
        let dependency = |batch: &[Outgoing], sent_ids: &[(i64, i32)], after: Option<RequestHandle>| {
            let h = after?;
            let in_batch = batch.iter().zip(sent_ids).find(|(b, _)| b.handle == Some(h)).map(|(_, s)| s.0);
            in_batch.or_else(|| handles.get(&h).copied().filter(|id| *id != 0))
        };
        let quick_ack;
        if batch.len() == 1 {
            let o = &batch[0];
            let msg_id = session.next_msg_id(now, o.response);
            let seq = session.next_seq_no(o.content_related);
            quick_ack = o.quick_ack;
            match dependency(&batch, &sent_ids, o.after) {
                Some(dep) => session.frame_with(msg_id, seq, &invoke_after(dep, &o.body), &mut packet),
                None => session.frame_with(msg_id, seq, &o.body, &mut packet),
            };
            sent_ids.push((msg_id, seq));
        } else {
            // One packet, one token: a container asks for a quick ack when any
            // of its requests did, and the ack reaches all of those.
            quick_ack = batch.iter().any(|o| o.quick_ack);
            // The container body is built in a buffer kept across flushes.
            let mut body = std::mem::take(&mut self.scratch);
            body.clear();
            let mut c = container::ContainerBuilder::new(&mut body, max_msgs, usize::MAX);
            for o in &batch {
                let msg_id = session.next_msg_id(now, o.response);
                let seq = session.next_seq_no(o.content_related);
                match dependency(&batch, &sent_ids, o.after) {
                    Some(dep) => c.push(msg_id, seq, &invoke_after(dep, &o.body)),
                    None => c.push(msg_id, seq, &o.body),
                };
                sent_ids.push((msg_id, seq));
            }
            c.finish();
            let container_id = session.next_msg_id(now, false);
            let seq = session.next_seq_no(false);
            session.frame_with(container_id, seq, &body, &mut packet);
            if body.capacity() <= 1 << 20 {
                self.scratch = body;
            }
            self.containers.insert(container_id, sent_ids.iter().map(|(id, _)| *id).collect());
            self.container_order.push_back(container_id);
            while self.container_order.len() > MAX_KEPT {
                if let Some(old) = self.container_order.pop_front() {
                    self.containers.remove(&old);
                }
            }
        }
        if quick_ack {
            let token = session.quick_ack_token(&packet);
            let asked: Vec<RequestHandle> = batch.iter().filter(|o| o.quick_ack).filter_map(|o| o.handle).collect();
            if !asked.is_empty() {
                self.quick_acks.insert(token, asked);
            }
            // Tokens of packets never acknowledged are forgotten beyond a bound.
            if self.quick_acks.len() > MAX_KEPT {
                self.quick_acks.clear();
            }
        }
        let current_session = session.session_id();
        for (mut o, (msg_id, seq_no)) in batch.into_iter().zip(sent_ids) {
            o.on_wire = true;
            if let Some(h) = o.handle {
                self.handles.insert(h, msg_id);
            }
            if o.content_related {
                self.sent.insert(msg_id, Sent { out: o, sent_at: now, seq_no, session_id: current_session });
                self.sent_order.push_back(msg_id);
            }
        }
        self.trim_sent();
        Some((packet, quick_ack))
    }

    /// Bounds what is kept for re-sending: pending requests stay (they are
    /// bounded by `max_queued_bytes`); other kept messages are dropped oldest first.
    fn trim_sent(&mut self) {
        while self.sent_order.len() > MAX_KEPT {
            let Some(id) = self.sent_order.pop_front() else {
                break;
            };
            if self.sent.get(&id).is_some_and(|s| s.out.handle.is_some()) {
                self.sent_order.push_back(id);
                if self.sent_order.len() <= MAX_KEPT + self.handles.len() {
                    break;
                }
                continue;
            }
            self.sent.remove(&id);
        }
    }

    /// Answers msg_resend_req: kept messages go out again, up to
    /// `max_resend_bytes` for all such requests of one input (the rest are counted in
    /// Stats and not re-sent; the peer may ask again).
    fn resend_bounded(&mut self, ids: &[i64]) {
        let mut left = self.resend_left;
        for id in ids.iter().take(container::MAX_MESSAGES) {
            let size = match self.containers.get(id) {
                Some(inner) => inner.iter().filter_map(|i| self.sent.get(i)).map(|s| s.out.body.len()).sum(),
                None => self.sent.get(id).map_or(0, |s| s.out.body.len()),
            };
            if size > left {
                self.resend_bytes_refused += size as u64;
                continue;
            }
            left -= size;
            self.requeue(*id, false);
        }
        self.resend_left = left;
    }

    /// Server: drops the answer to client message `req_msg_id` (rpc_drop_answer)
    /// and says what was dropped: rpc_answer_dropped naming the answer's own
    /// msg_id and seq_no when it was sent and kept, or rpc_answer_unknown.
    fn drop_answer(&mut self, req_msg_id: i64) -> Vec<u8> {
        if let Some(pos) = self.queue.iter().position(|o| o.answers == Some(req_msg_id)) {
            // Not sent yet: it never will be.
            let bytes = self.queue.remove(pos).map_or(0, |o| o.body.len());
            return RpcAnswerDropped { msg_id: 0, seq_no: 0, bytes: bytes as i32 }.to_bytes();
        }
        let kept = self.sent.iter().find(|(_, s)| s.out.answers == Some(req_msg_id)).map(|(id, _)| *id);
        match kept.and_then(|id| self.sent.remove(&id).map(|s| (id, s))) {
            Some((msg_id, s)) => {
                RpcAnswerDropped { msg_id, seq_no: s.seq_no, bytes: s.out.body.len() as i32 }.to_bytes()
            }
            None if self.running.contains(req_msg_id) => {
                // Still running: its answer will be discarded by `respond`.
                self.dropped.insert(req_msg_id);
                schema::RPC_ANSWER_DROPPED_RUNNING.to_le_bytes().to_vec()
            }
            None => schema::RPC_ANSWER_UNKNOWN.to_le_bytes().to_vec(),
        }
    }

    /// Moves a sent message (or a container's messages) back to the queue, to
    /// go out again with a new msg_id. Returns how many were re-queued.
    fn requeue(&mut self, msg_id: i64, alone: bool) -> usize {
        let ids = self.containers.remove(&msg_id).unwrap_or_else(|| vec![msg_id]);
        let mut n = 0;
        for id in ids.into_iter().rev() {
            if let Some(mut s) = self.sent.remove(&id) {
                s.out.alone |= alone;
                // Refused, not received, or asked for again: not executed.
                s.out.on_wire = false;
                self.queue.push_front(s.out);
                n += 1;
            }
        }
        n
    }

    // ------------------------------------------------------------------ receiving

    fn handle_encrypted(&mut self, packet: &mut [u8], quick_ack: bool, now: Duration) {
        let Some(session) = self.session.as_ref() else {
            return;
        };
        if envelope::peek_auth_key_id(packet) != Some(session.auth_key().id_bytes()) {
            match self.role {
                Role::Server => self.unknown_key(),
                // A client drops packets for another key (e.g. a stale plain answer).
                Role::Client => {}
            }
            return;
        }
        let result = envelope::decrypt_in_place(session.auth_key(), session.receive_direction(), packet).map(|_| ());
        self.handle_opened(packet, result, quick_ack, now);
    }

    /// Decrypts, in one multi-buffer call, the packets of one input that are
    /// encrypted with our key, when there are at least [`OPEN_TOGETHER_MIN`]
    /// (with fewer, one at a time is as fast). Returns, per frame, the outcome
    /// of the packets it opened; the others are handled as usual.
    fn open_together(&mut self, frames: &mut [Frame]) -> Vec<Option<Result<(), CryptoError>>> {
        let (Phase::Ready, Some(session)) = (&self.phase, self.session.as_ref()) else {
            return Vec::new();
        };
        let key = session.auth_key();
        let ours = |f: &Frame| match f {
            Frame::Packet { data, .. } => envelope::peek_auth_key_id(data) == Some(key.id_bytes()),
            _ => false,
        };
        if frames.iter().filter(|f| ours(f)).count() < OPEN_TOGETHER_MIN {
            return Vec::new();
        }
        let dir = session.receive_direction();
        let mut slots = Vec::with_capacity(frames.len());
        let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> = Vec::new();
        for f in frames.iter_mut() {
            let take = ours(f);
            slots.push(take);
            if let (true, Frame::Packet { data, .. }) = (take, f) {
                jobs.push((key, dir, &mut data[..]));
            }
        }
        self.opened_together += jobs.len() as u64;
        let mut results = envelope::decrypt_many(&mut jobs).into_iter();
        slots.into_iter().map(|take| if take { results.next() } else { None }).collect()
    }

    /// An encrypted packet after decryption: on success its plaintext follows
    /// the 24-byte envelope header; failures are dropped, never acted on.
    fn handle_opened(&mut self, packet: &[u8], result: Result<(), CryptoError>, quick_ack: bool, now: Duration) {
        let Some(session) = self.session.as_ref() else {
            return;
        };
        let for_this_key = envelope::peek_auth_key_id(packet) == Some(session.auth_key().id_bytes());
        if result.is_err() || !for_this_key || !matches!(self.phase, Phase::Ready) {
            return;
        }
        let plain = &packet[envelope::HEADER_LEN..];
        match self.role {
            Role::Client => {
                let m = match session.check_decrypted(plain) {
                    Ok(m) => m,
                    // Answers the server sent in a session we just left
                    // (bad_msg 32-35, 17) still count: their requests may
                    // have run, so they must not be lost or re-run.
                    Err(message::MessageError::WrongSession { got }) if self.previous_sessions.contains(&got) => {
                        match message::parse_decrypted(plain) {
                            Ok(m) if message::parity_ok(m.msg_id, Role::Server) => m,
                            _ => return,
                        }
                    }
                    Err(_) => return,
                };
                if self.replay.contains(m.msg_id) || m.msg_id <= self.replay.floor() {
                    return;
                }
                // Over the inflate budget: dropped before it is recorded or
                // acknowledged, so the server sends it again.
                if self.refuse_inflation(self.declared_packet_inflation(m.body, m.msg_id)) {
                    return;
                }
                self.replay.insert(m.msg_id);
                // A link that carries authenticated messages: a later -429
                // starts the backoff again at 1 s.
                self.floods = 0;
                if let Some(s) = self.session.as_mut() {
                    s.clock_mut().learn_from_msg_id(m.msg_id, now);
                }
                // The body stays a view into the caller's buffer: no copy.
                self.dispatch(m.msg_id, m.seq_no, m.body, true, now);
            }
            Role::Server => {
                if quick_ack {
                    let token = envelope::quick_ack_token(session.auth_key(), Direction::ClientToServer, plain);
                    if let Some(t) = &mut self.transport {
                        t.encode_quick_ack(token, &mut self.wire);
                    }
                }
                let Ok(m) = message::parse_decrypted(plain) else {
                    return;
                };
                self.server_message(m.salt, m.session_id, m.msg_id, m.seq_no, m.body, now);
            }
        }
    }

    fn server_message(&mut self, salt: i64, session_id: i64, msg_id: i64, seq_no: i32, body: &[u8], now: Duration) {
        // Every check comes before any state changes. Replays first, against
        // the window of the session the message names: a captured packet of
        // another session neither runs twice nor moves us to its session.
        if self.refused.contains((session_id, msg_id)) || self.seen_before(session_id, msg_id, now) {
            // A network duplicate or a replay: ignored. (Code 19 would make the
            // client re-send messages already processed, since a duplicate
            // cannot be told from a container reusing an id.)
            return;
        }
        let failed = self.check_client_message(msg_id, seq_no, body, now).or_else(|| self.force_bad_msg.take());
        let answer = match failed {
            Some(error_code) => {
                Some(BadMsgNotification { bad_msg_id: msg_id, bad_msg_seqno: seq_no, error_code }.to_bytes())
            }
            None if !self.salt_ok(salt, now) => {
                self.bad_salts_sent += 1;
                let new_server_salt = self.current_salt(now);
                Some(
                    BadServerSalt { bad_msg_id: msg_id, bad_msg_seqno: seq_no, error_code: 48, new_server_salt }
                        .to_bytes(),
                )
            }
            None => None,
        };
        if let Some(answer) = answer {
            // Refused unprocessed: the client sends it again under a new
            // msg_id, so this one must never run later (a replay of it, once
            // its time or salt is right, is ignored).
            self.refused.insert((session_id, msg_id));
            if self.client_session == Some(session_id) {
                self.push_response(answer);
            } else {
                self.answer_outside_session(session_id, &answer, now);
            }
            return;
        }
        // A packet over the inflate budget is dropped before anything of it
        // is recorded, so it can come again.
        if self.refuse_inflation(self.declared_packet_inflation(body, msg_id)) {
            return;
        }
        self.last_authenticated = Some(now);
        if self.client_session != Some(session_id) {
            self.switch_session(session_id, msg_id, body, now);
        }
        if let Some(ready) = self.ready_pending.take() {
            self.events.push_back(ready);
        }
        self.replay.insert(msg_id);
        self.dispatch(msg_id, seq_no, body, true, now);
    }

    /// Server: whether `msg_id` of client session `session_id` was seen
    /// (or falls below what is remembered). A session kept in the store is
    /// brought into this connection first, so its window answers.
    fn seen_before(&mut self, session_id: i64, msg_id: i64, now: Duration) -> bool {
        if self.client_session == Some(session_id) {
            return self.replay.contains(msg_id) || msg_id <= self.replay.floor();
        }
        if !self.seen.contains(session_id)
            && let (Some(store), Some(session)) = (self.config.session_store.clone(), self.session.as_ref())
            && let Some(saved) = store.take(session.auth_key().id(), session_id, now)
        {
            let (record, unacknowledged) = SessionRecord::from_saved(saved);
            self.restored.push((session_id, unacknowledged));
            if let Some(evicted) = self.seen.put(record) {
                self.save_record(evicted, now);
            }
        }
        match self.seen.get(session_id) {
            Some(r) => r.replay.contains(msg_id) || msg_id <= r.replay.floor(),
            None => msg_id <= self.seen.floor(),
        }
    }

    /// Server: an answer (bad_msg_notification, bad_server_salt) to a
    /// message of a session we do not switch to, sealed at once under that
    /// session's id, not content-related (nothing is kept for it).
    fn answer_outside_session(&mut self, session_id: i64, body: &[u8], now: Duration) {
        let seq = self.seen.get(session_id).map_or(0, |r| r.seq_count);
        let Some(s) = self.session.as_mut() else { return };
        let (current, current_seq) = (s.session_id(), s.seq_count());
        s.switch_to(session_id, seq);
        let msg_id = s.next_msg_id(now, true);
        let seq_no = s.next_seq_no(false);
        let mut packet = Vec::with_capacity(body.len() + 96);
        s.frame_with(msg_id, seq_no, body, &mut packet);
        s.seal(&mut packet);
        s.switch_to(current, current_seq);
        self.transmit(packet, false);
    }

    /// Server: keeps a session record pushed out of this connection's
    /// memory in the store (when there is one).
    fn save_record(&mut self, r: SessionRecord, now: Duration) {
        if let (Some(store), Some(session)) = (self.config.session_store.as_ref(), self.session.as_ref()) {
            store.put(session.auth_key().id(), r.into_saved(Vec::new(), now));
        }
    }

    /// Server: makes `session_id` the current session: an earlier one comes
    /// back with its replay window and seq_no (and, from the store, with the
    /// answers the client had not acknowledged, sent again now); an unknown
    /// one is announced with new_session_created. The current one is kept,
    /// window and all.
    fn switch_session(&mut self, session_id: i64, msg_id: i64, body: &[u8], now: Duration) {
        let fresh = ReplayWindow::new(self.config.replay_window);
        let (replay, seq_count, first_msg_id, known) = match self.seen.take(session_id) {
            Some(r) => (r.replay, r.seq_count, r.first_msg_id, true),
            None => (fresh, 0, 0, false),
        };
        let old_replay = std::mem::replace(&mut self.replay, replay);
        let old_first = std::mem::replace(&mut self.session_first_msg_id, first_msg_id);
        let old_seq = self.session.as_ref().map_or(0, EncryptedSession::seq_count);
        if let Some(old) = self.client_session.replace(session_id) {
            let record = SessionRecord { id: old, replay: old_replay, seq_count: old_seq, first_msg_id: old_first };
            if let Some(evicted) = self.seen.put(record) {
                self.save_record(evicted, now);
            }
        }
        if let Some(s) = self.session.as_mut() {
            s.switch_to(session_id, seq_count);
        }
        if let Some(pos) = self.restored.iter().position(|(id, _)| *id == session_id) {
            let (_, answers) = self.restored.swap_remove(pos);
            for body in answers {
                self.queue.push_back(Outgoing::service(body, true, false));
            }
        }
        if known {
            return;
        }
        // The first message of the session: for a container, its first inner
        // message (the container's own id is larger than all of them).
        let first_msg_id = container::unpack(body, msg_id, Role::Client, container::MAX_MESSAGES)
            .ok()
            .and_then(|inner| inner.iter().map(|m| m.msg_id).min())
            .unwrap_or(msg_id);
        self.session_first_msg_id = first_msg_id;
        let unique_id = self.entropy.next_u64() as i64;
        let server_salt = self.current_salt(now);
        self.push_service(NewSessionCreated { first_msg_id, unique_id, server_salt }.to_bytes(), true);
        self.events.push_back(Event::NewSession { session_id });
    }

    /// Server: the checks every client message gets, top-level or inside a
    /// container: msg_id parity and time window, and seq_no parity against
    /// content-relatedness (with the tolerance real clients need, see
    /// [`parity_tolerant`]). Returns the bad_msg_notification code, if any.
    fn check_client_message(&self, msg_id: i64, seq_no: i32, body: &[u8], now: Duration) -> Option<i32> {
        if msg_id % 4 != 0 {
            return Some(18);
        }
        let t = Duration::from_secs((msg_id >> 32).max(0) as u64);
        if t + self.config.msg_id_past < now {
            return Some(16);
        }
        if t > now + self.config.msg_id_future {
            return Some(17);
        }
        if parity_tolerant(body) {
            return None;
        }
        match (is_content_related(body), seq_no % 2 == 0) {
            // 35: odd msg_seqno expected (relevant message), but even received.
            (true, true) => Some(35),
            // 34: even msg_seqno expected (irrelevant message), but odd received.
            (false, false) => Some(34),
            _ => None,
        }
    }

    fn bad_msg(&mut self, bad_msg_id: i64, bad_msg_seqno: i32, error_code: i32) {
        self.push_response(BadMsgNotification { bad_msg_id, bad_msg_seqno, error_code }.to_bytes());
    }

    fn current_salt(&mut self, now: Duration) -> i64 {
        let t = now.as_secs() as i32;
        while self.salts.len() > 1 && self.salts.front().is_some_and(|s| s.valid_until <= t) {
            self.salts.pop_front();
        }
        if self.salts.back().is_none_or(|s| s.valid_until <= t + 60) {
            let since = self.salts.back().map_or(t, |s| s.valid_until.max(t));
            let salt = self.entropy.next_u64() as i64;
            self.salts.push_back(FutureSalt {
                valid_since: since,
                valid_until: since + self.config.salt_lifetime.as_secs() as i32,
                salt,
            });
        }
        self.salts.iter().find(|s| s.valid_since <= t && t < s.valid_until).or(self.salts.back()).map_or(0, |s| s.salt)
    }

    fn salt_ok(&mut self, salt: i64, now: Duration) -> bool {
        let current = self.current_salt(now);
        let t = now.as_secs() as i32;
        // The current salt, or one issued as future salt that is valid now or
        // expired less than 30 minutes ago.
        salt == current
            || self.salts.iter().any(|s| s.salt == salt && s.valid_since <= t + 30 && t < s.valid_until + 1800)
    }

    /// Handles one message (possibly a container) after the envelope checks.
    fn dispatch(&mut self, msg_id: i64, seq_no: i32, body: &[u8], top: bool, now: Duration) {
        let sender = self.role.peer();
        if container::is_container(body) {
            if !top {
                return;
            }
            let Ok(inner) = container::unpack(body, msg_id, sender, container::MAX_MESSAGES) else {
                return;
            };
            for m in inner {
                if self.role == Role::Server
                    && let Some(code) = self.check_client_message(m.msg_id, m.seq_no, m.body, now)
                {
                    self.bad_msg(m.msg_id, m.seq_no, code);
                    continue;
                }
                if self.replay.insert(m.msg_id) {
                    self.dispatch(m.msg_id, m.seq_no, m.body, false, now);
                }
            }
            return;
        }
        if self.role == Role::Server && msg_id < self.session_first_msg_id {
            // Announced as "re-send it" by new_session_created: not processed here.
            return;
        }
        if seq_no % 2 == 1 && !matches!(constructor(body), MsgsAck::ID) {
            if self.acks.is_empty() {
                self.ack_since = Some(now);
            }
            self.acks.push(msg_id);
        }
        if gzip::is_gzip(body) {
            // gzip_packed may wrap any object, service messages included:
            // inflate first (within the budget), then dispatch what it holds.
            match self.unwrap_gzip(body) {
                Some(inner) if !gzip::is_gzip(&inner) && !container::is_container(&inner) => {
                    self.dispatch_object(msg_id, &inner, now);
                }
                // Acknowledged already: never dropped in silence.
                _ if self.role == Role::Server => self.respond_error(msg_id, 400, "INPUT_GZIP_INVALID"),
                _ => {}
            }
            return;
        }
        self.dispatch_object(msg_id, body, now);
    }

    /// One object (no container, no gzip) to the role's dispatcher.
    fn dispatch_object(&mut self, msg_id: i64, body: &[u8], now: Duration) {
        match self.role {
            Role::Client => self.client_dispatch(msg_id, body, now),
            Role::Server => self.server_dispatch(msg_id, body, now),
        }
    }

    /// The inflated bytes a packet's messages declare together (a
    /// container's inner messages summed, saturating).
    fn declared_packet_inflation(&self, body: &[u8], msg_id: i64) -> usize {
        let sender = self.role.peer();
        if !container::is_container(body) {
            return self.declared_inflation(body);
        }
        container::unpack(body, msg_id, sender, container::MAX_MESSAGES)
            .map(|inner| inner.iter().fold(0usize, |sum, m| sum.saturating_add(self.declared_inflation(m.body))))
            .unwrap_or(0)
    }

    /// The inflated bytes a message declares: a gzip_packed body, or an
    /// rpc_result carrying one.
    fn declared_inflation(&self, body: &[u8]) -> usize {
        let object = match constructor(body) {
            schema::RPC_RESULT => body.get(12..).unwrap_or(&[]),
            _ => body,
        };
        if gzip::is_gzip(object) { gzip::declared_len(object).min(self.config.inflate_limit) } else { 0 }
    }

    /// Whether a packet declaring `declared` inflated bytes is refused (and
    /// reported) because the input's budget has less left.
    fn refuse_inflation(&mut self, declared: usize) -> bool {
        if declared <= self.inflate_left {
            return false;
        }
        let reason = DropReason::InflateBudget { declared, left: self.inflate_left };
        self.events.push_back(Event::InboundDropped { reason });
        true
    }

    /// Inflates a gzip_packed (or passes anything else through), within the
    /// per-object limit and what is left of the input's budget.
    fn unwrap_gzip(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        if gzip::is_gzip(body) {
            gzip::unpack_within(body, self.config.inflate_limit, &mut self.inflate_left).ok()
        } else {
            Some(body.to_vec())
        }
    }

    fn client_dispatch(&mut self, msg_id: i64, body: &[u8], now: Duration) {
        match constructor(body) {
            schema::RPC_RESULT => {
                let Ok(r) = RpcResult::from_bytes(body) else {
                    return;
                };
                let Some(sent) = self.sent.remove(&r.req_msg_id) else {
                    // An answer to a ping sent as a request, or to nothing we know.
                    return;
                };
                let Some(handle) = sent.out.handle else {
                    return;
                };
                self.handles.remove(&handle);
                self.release(&sent.out);
                let Some(result) = self.unwrap_gzip(r.result) else {
                    self.events.push_back(Event::RequestFailed { handle, error: RequestError::BadAnswer });
                    return;
                };
                if constructor(&result) == RpcError::ID {
                    match RpcError::from_bytes(&result) {
                        Ok(e) => self.events.push_back(Event::RpcError {
                            handle,
                            code: e.error_code,
                            message: e.error_message,
                        }),
                        Err(_) => {
                            self.events.push_back(Event::RequestFailed { handle, error: RequestError::BadAnswer })
                        }
                    }
                } else {
                    self.events.push_back(Event::RpcResult { handle, body: result });
                }
            }
            MsgsAck::ID => {
                let Ok(a) = MsgsAck::from_bytes(body) else {
                    return;
                };
                for id in a.msg_ids {
                    let inner = self.containers.get(&id).cloned().unwrap_or_else(|| vec![id]);
                    for id in inner {
                        match self.sent.get_mut(&id) {
                            Some(s) if s.out.handle.is_some() || is_answered_service(&s.out.body) => s.out.acked = true,
                            Some(_) => {
                                self.sent.remove(&id);
                            }
                            None => {}
                        }
                    }
                }
            }
            BadServerSalt::ID => {
                let Ok(n) = BadServerSalt::from_bytes(body) else {
                    return;
                };
                self.set_salt(n.new_server_salt);
                self.learn_time(msg_id, now);
                self.requeue(n.bad_msg_id, false);
                // A salt the server just told us is all we know: refresh soon
                // (unless a get_future_salts is already on its way).
                self.future_salts.clear();
            }
            BadMsgNotification::ID => {
                let Ok(n) = BadMsgNotification::from_bytes(body) else {
                    return;
                };
                self.on_bad_msg(msg_id, &n, now);
            }
            NewSessionCreated::ID => {
                let Ok(n) = NewSessionCreated::from_bytes(body) else {
                    return;
                };
                self.set_salt(n.server_salt);
                // Re-send requests of this session sent before the server's
                // new session began and not acknowledged: the server did not
                // process them. Requests of sessions we left ourselves stay
                // pending (their answers still arrive, and are accepted).
                let current = self.session.as_ref().map_or(0, EncryptedSession::session_id);
                let older: Vec<i64> = self
                    .sent
                    .iter()
                    .filter(|(id, s)| {
                        **id < n.first_msg_id && s.out.handle.is_some() && s.session_id == current && !s.out.acked
                    })
                    .map(|(id, _)| *id)
                    .collect();
                let mut older = older;
                older.sort_unstable();
                for id in older.into_iter().rev() {
                    self.requeue(id, false);
                }
                self.events.push_back(Event::SessionReset { action: super::ResetAction::FetchMissedUpdates });
            }
            Pong::ID => {
                let Ok(p) = Pong::from_bytes(body) else {
                    return;
                };
                self.remove_answered_service(p.msg_id, &[Ping::ID, PingDelayDisconnect::ID]);
                if let Some((id, at)) = self.ping
                    && id == p.ping_id
                {
                    self.ping = None;
                    self.pong_deadline = None;
                    self.events.push_back(Event::Pong { rtt: now.saturating_sub(at) });
                }
            }
            FutureSalts::ID => {
                let Ok(f) = FutureSalts::from_bytes(body) else {
                    return;
                };
                self.remove_answered_service(f.req_msg_id, &[GetFutureSalts::ID]);
                self.salts_requested_at = None;
                self.future_salts = f.salts.into_iter().take(64).collect();
                self.client_timers(now);
            }
            MsgsStateReq::ID => self.answer_state_req(msg_id, body),
            MsgResendReq::ID | schema::MsgResendAnsReq::ID => {
                let mut r = Reader::new(body);
                let _ = r.u32();
                let Ok(ids) = r.vec_i64() else { return };
                self.resend_bounded(&ids);
            }
            MsgDetailedInfo::ID => {
                let Ok(d) = MsgDetailedInfo::from_bytes(body) else {
                    return;
                };
                // The server has the message and an answer to it: a request
                // stays pending until that answer arrives (asked for again
                // below when we do not have it); anything else is done.
                if self.sent.get(&d.msg_id).is_some_and(|s| s.out.handle.is_none()) {
                    self.sent.remove(&d.msg_id);
                }
                self.detailed_info(d.answer_msg_id);
            }
            MsgNewDetailedInfo::ID => {
                let Ok(d) = MsgNewDetailedInfo::from_bytes(body) else {
                    return;
                };
                self.detailed_info(d.answer_msg_id);
            }
            MsgsStateInfo::ID => {
                if let Ok(i) = MsgsStateInfo::from_bytes(body) {
                    self.state_info(i.req_msg_id, &i.info);
                }
            }
            MsgsAllInfo::ID => {}
            DestroySessionOk::ID | DestroySessionNone::ID => {}
            // gzip_packed was unwrapped by `dispatch`.
            _ => self.events.push_back(Event::Update { body: body.to_vec() }),
        }
    }

    /// Client: acts on the answer to a msgs_state_req we sent after a lost
    /// link (as TDLib does): "nothing known", "not received" or "msg_id too
    /// high" (1, 2, 3) mean the request was never executed: it is sent again;
    /// "received" (4) marks it acknowledged, to wait for its answer (which
    /// the server sends again, unacknowledged answers being kept).
    fn state_info(&mut self, req_msg_id: i64, info: &[u8]) {
        let (asked, asked_in) = match self.sent.get(&req_msg_id) {
            Some(s) if s.out.handle.is_none() && constructor(&s.out.body) == MsgsStateReq::ID => {
                (MsgsStateReq::from_bytes(&s.out.body).map(|r| r.msg_ids).unwrap_or_default(), s.session_id)
            }
            _ => return,
        };
        self.sent.remove(&req_msg_id);
        for (id, state) in asked.into_iter().zip(info.iter().copied()) {
            // A state is only meaningful in the session the request was
            // sent in (a msgs_state_req re-sent after a session switch is
            // answered by a session that never saw these ids).
            if self.sent.get(&id).is_none_or(|s| s.out.handle.is_none() || s.session_id != asked_in) {
                continue;
            }
            match state & 7 {
                1..=3 => {
                    self.requeue(id, false);
                }
                4 => {
                    if let Some(s) = self.sent.get_mut(&id) {
                        s.out.acked = true;
                    }
                }
                _ => {}
            }
        }
    }

    /// Removes a kept service message (a ping, get_future_salts,
    /// msgs_state_req) that `answer` names, only when it is one of `kinds`:
    /// an answer naming a request's msg_id leaves the request pending.
    fn remove_answered_service(&mut self, msg_id: i64, kinds: &[u32]) {
        if self.sent.get(&msg_id).is_some_and(|s| s.out.handle.is_none() && kinds.contains(&constructor(&s.out.body))) {
            self.sent.remove(&msg_id);
        }
    }

    fn learn_time(&mut self, server_msg_id: i64, now: Duration) {
        if let Some(s) = self.session.as_mut() {
            s.clock_mut().learn_from_msg_id(server_msg_id, now);
        }
    }

    /// The deliberate action for each bad_msg_notification code (docs/protocol.md).
    fn on_bad_msg(&mut self, notification_msg_id: i64, n: &BadMsgNotification, now: Duration) {
        match n.error_code {
            // msg_id too low: our clock is behind; take the server's time from
            // the notification's own msg_id and send again (new ids are higher).
            16 => {
                self.learn_time(notification_msg_id, now);
                self.requeue(n.bad_msg_id, false);
            }
            // msg_id too high: our clock is ahead. Learn the server's time. If ids
            // already used in this session are still ahead of it, correct ids
            // would have to be lower, which one session forbids: start a new
            // session whose msg_ids restart from the corrected clock and move
            // every unanswered message into it. Otherwise just send again.
            17 => {
                self.learn_time(notification_msg_id, now);
                // Ids above this are too far ahead of the server's clock.
                let limit = self.session.as_ref().map_or(i64::MAX, |s| s.clock().time_msg_id(now) + (30i64 << 32));
                let ahead = self.session.as_ref().is_some_and(|s| s.clock().last() > limit);
                if ahead {
                    // Only the messages whose msg_ids are ahead were refused
                    // (each gets its own 17); the earlier ones were accepted
                    // and stay pending, their answers accepted from the old
                    // session.
                    self.new_session(true);
                    let mut refused: Vec<i64> =
                        self.sent.keys().copied().filter(|id| *id > limit || *id == n.bad_msg_id).collect();
                    refused.sort_unstable();
                    for id in refused.into_iter().rev() {
                        self.requeue(id, false);
                    }
                } else {
                    self.requeue(n.bad_msg_id, false);
                }
            }
            // Wrong msg_id parity, a container reusing a msg_id, or a message the
            // server has forgotten: send again under fresh msg_ids.
            18..=20 => {
                self.requeue(n.bad_msg_id, false);
            }
            // seq_no too low / too high or of the wrong parity: the counters
            // disagree and cannot be repaired in place. Start a new session
            // (as the official client does) and send again.
            32..=35 => {
                self.new_session(false);
                self.requeue(n.bad_msg_id, false);
            }
            // Bad salt without a new one: ask for salts, then send again.
            48 => {
                self.future_salts.clear();
                self.requeue(n.bad_msg_id, false);
            }
            // Invalid container: send its messages again one by one.
            64 => {
                self.requeue(n.bad_msg_id, true);
            }
            code => {
                if let Some(s) = self.sent.remove(&n.bad_msg_id)
                    && let Some(handle) = s.out.handle
                {
                    self.handles.remove(&handle);
                    self.release(&s.out);
                    self.events.push_back(Event::RequestFailed { handle, error: RequestError::Refused { code } });
                }
            }
        }
    }

    /// Client: switches to a fresh session id (seq_no from zero; with
    /// `restart_clock`, msg_ids may restart lower).
    fn new_session(&mut self, restart_clock: bool) {
        if let Some(s) = self.session.as_mut() {
            self.previous_sessions.push_back(s.session_id());
            if self.previous_sessions.len() > 4 {
                self.previous_sessions.pop_front();
            }
            let id = s.random_session_id();
            if restart_clock { s.reset_with_clock(id) } else { s.reset(id) }
        }
        // The replay window stays: server msg_ids are unique across sessions,
        // and late messages of the session we left are still accepted.
    }

    fn detailed_info(&mut self, answer_msg_id: i64) {
        if self.replay.contains(answer_msg_id) {
            if self.acks.is_empty() {
                self.ack_since = Some(Duration::ZERO);
            }
            self.acks.push(answer_msg_id);
        } else {
            self.push_service(MsgResendReq { msg_ids: vec![answer_msg_id] }.to_bytes(), true);
        }
    }

    fn answer_state_req(&mut self, msg_id: i64, body: &[u8]) {
        let Ok(req) = MsgsStateReq::from_bytes(body) else {
            return;
        };
        let max = self.replay.max().unwrap_or(0);
        let info: Vec<u8> = req
            .msg_ids
            .iter()
            .take(8192)
            .map(|id| {
                if self.replay.contains(*id) {
                    4
                } else if *id > max {
                    3
                } else if *id <= self.replay.floor() {
                    1
                } else {
                    2
                }
            })
            .collect();
        self.push_response(MsgsStateInfo { req_msg_id: msg_id, info }.to_bytes());
    }

    fn server_dispatch(&mut self, msg_id: i64, body: &[u8], now: Duration) {
        match constructor(body) {
            Ping::ID => {
                if let Ok(p) = Ping::from_bytes(body) {
                    self.push_response(Pong { msg_id, ping_id: p.ping_id }.to_bytes());
                }
            }
            PingDelayDisconnect::ID => {
                if let Ok(p) = PingDelayDisconnect::from_bytes(body) {
                    self.push_response(Pong { msg_id, ping_id: p.ping_id }.to_bytes());
                    self.pong_deadline = Some(now + Duration::from_secs(p.disconnect_delay.clamp(1, 3600) as u64));
                }
            }
            MsgsAck::ID => {
                if let Ok(a) = MsgsAck::from_bytes(body) {
                    for id in a.msg_ids {
                        self.sent.remove(&id);
                    }
                }
            }
            GetFutureSalts::ID => {
                let Ok(g) = GetFutureSalts::from_bytes(body) else {
                    return;
                };
                let _ = self.current_salt(now);
                let lifetime = self.config.salt_lifetime.as_secs() as i32;
                while (self.salts.len() as i32) < g.num.clamp(1, 64) {
                    let since = self.salts.back().map_or(now.as_secs() as i32, |s| s.valid_until);
                    let salt = self.entropy.next_u64() as i64;
                    self.salts.push_back(FutureSalt { valid_since: since, valid_until: since + lifetime, salt });
                }
                let salts = self.salts.iter().take(g.num.clamp(1, 64) as usize).cloned().collect();
                self.push_response(FutureSalts { req_msg_id: msg_id, now: now.as_secs() as i32, salts }.to_bytes());
            }
            DestroySession::ID => {
                let Ok(d) = DestroySession::from_bytes(body) else {
                    return;
                };
                let in_store = || {
                    let key_id = self.session.as_ref().map_or(0, |s| s.auth_key().id());
                    self.config.session_store.as_ref().is_some_and(|s| s.remove(key_id, d.session_id))
                };
                let answer =
                    if self.client_session != Some(d.session_id) && (self.seen.remove(d.session_id) | in_store()) {
                        DestroySessionOk { session_id: d.session_id }.to_bytes()
                    } else {
                        DestroySessionNone { session_id: d.session_id }.to_bytes()
                    };
                self.push_response(answer);
            }
            MsgsStateReq::ID => self.answer_state_req(msg_id, body),
            MsgResendReq::ID => {
                let Ok(r) = MsgResendReq::from_bytes(body) else {
                    return;
                };
                self.resend_bounded(&r.msg_ids);
            }
            RpcDropAnswer::ID => {
                let Ok(r) = RpcDropAnswer::from_bytes(body) else {
                    return;
                };
                // The answer, if we still keep it (sent, not acknowledged) or
                // have it queued, is dropped: never sent (again).
                let answer = self.drop_answer(r.req_msg_id);
                let mut out = Vec::new();
                RpcResult { req_msg_id: msg_id, result: &answer }.serialize(&mut out);
                self.push_response(out);
            }
            MsgsStateInfo::ID
            | MsgsAllInfo::ID
            | MsgDetailedInfo::ID
            | MsgNewDetailedInfo::ID
            | schema::HttpWait::ID => {}
            // gzip_packed was unwrapped by `dispatch` (or answered with
            // INPUT_GZIP_INVALID there).
            _ => {
                self.running.insert(msg_id);
                self.events.push_back(Event::Request { req_msg_id: msg_id, body: body.to_vec() });
            }
        }
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
