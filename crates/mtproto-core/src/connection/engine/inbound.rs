//! Receiving, for both roles: decrypted messages checked, unpacked
//! (containers, gzip_packed within the inflate budget) and handed to the
//! role's dispatcher.

use super::*;

impl Connection {
    /// An encrypted packet after decryption: on success its plaintext follows
    /// the 24-byte envelope header; failures are dropped, never acted on.
    pub(super) fn handle_opened(
        &mut self,
        packet: &[u8],
        result: Result<(), CryptoError>,
        quick_ack: bool,
        now: Duration,
    ) {
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
                let replay = self.own_replay();
                if replay.contains(m.msg_id) || m.msg_id <= replay.floor() {
                    return;
                }
                // Over the inflate budget: dropped before it is recorded or
                // acknowledged, so the server sends it again.
                let declared = self.declared_packet_inflation(m.body, m.msg_id);
                if self.refuse_inflation(declared) {
                    return;
                }
                if !self.own_replay().insert(m.msg_id) {
                    return;
                }
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

    /// Handles one message (possibly a container) after the envelope checks.
    pub(super) fn dispatch(&mut self, msg_id: i64, seq_no: i32, body: &[u8], top: bool, now: Duration) {
        let sender = self.role.peer();
        if container::is_container(body) {
            if !top {
                return;
            }
            // Spans into `body`, in a vector kept across packets (inner
            // messages are never containers, so the recursion below does
            // not need it).
            let mut spans = core::mem::take(&mut reuse_of(&mut self.reuse).spans);
            if container::unpack_spans(body, msg_id, sender, container::MAX_MESSAGES, &mut spans).is_ok() {
                for m in &spans {
                    let inner = &body[m.start..m.start + m.len];
                    if self.role == Role::Server
                        && let Some(code) = self.check_client_message(m.msg_id, m.seq_no, inner, now)
                    {
                        self.bad_msg(m.msg_id, m.seq_no, code);
                        continue;
                    }
                    if self.accept_msg_id(m.msg_id) {
                        self.dispatch(m.msg_id, m.seq_no, inner, false, now);
                    }
                }
            }
            reuse_of(&mut self.reuse).spans = spans;
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
                    reuse_of(&mut self.reuse).pool.give(inner);
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
    pub(super) fn dispatch_object(&mut self, msg_id: i64, body: &[u8], now: Duration) {
        match self.role {
            Role::Client => self.client_dispatch(msg_id, body, now),
            Role::Server => self.server_dispatch(msg_id, body, now),
        }
    }

    /// The inflated bytes a packet's messages declare together (a
    /// container's inner messages summed, saturating).
    pub(super) fn declared_packet_inflation(&mut self, body: &[u8], msg_id: i64) -> usize {
        let sender = self.role.peer();
        if !container::is_container(body) {
            return self.declared_inflation(body);
        }
        let mut spans = core::mem::take(&mut reuse_of(&mut self.reuse).spans);
        let declared = match container::unpack_spans(body, msg_id, sender, container::MAX_MESSAGES, &mut spans) {
            Ok(()) => spans
                .iter()
                .fold(0usize, |sum, m| sum.saturating_add(self.declared_inflation(&body[m.start..m.start + m.len]))),
            Err(_) => 0,
        };
        reuse_of(&mut self.reuse).spans = spans;
        declared
    }

    /// The inflated bytes a message declares: a gzip_packed body, or an
    /// rpc_result carrying one.
    pub(super) fn declared_inflation(&self, body: &[u8]) -> usize {
        let object = match constructor(body) {
            schema::RPC_RESULT => body.get(12..).unwrap_or(&[]),
            _ => body,
        };
        if gzip::is_gzip(object) { gzip::declared_len(object).min(self.config.inflate_limit) } else { 0 }
    }

    /// Whether a packet declaring `declared` inflated bytes is refused (and
    /// reported) because the input's budget has less left.
    pub(super) fn refuse_inflation(&mut self, declared: usize) -> bool {
        if declared <= self.inflate_left {
            return false;
        }
        trace!(warn, declared, left = self.inflate_left, "inflate budget exceeded: packet dropped");
        let reason = DropReason::InflateBudget { declared, left: self.inflate_left };
        match self.role {
            Role::Client => self.client_event(ClientEvent::InboundDropped { reason }),
            Role::Server => self.server_event(ServerEvent::InboundDropped { reason }),
        }
        true
    }

    /// Inflates a gzip_packed (or passes anything else through), within the
    /// per-object limit and what is left of the input's budget.
    pub(super) fn unwrap_gzip(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        if gzip::is_gzip(body) {
            let mut out = reuse_of(&mut self.reuse).pool.take();
            match gzip::unpack_within_into(body, self.config.inflate_limit, &mut self.inflate_left, &mut out) {
                Ok(()) => Some(out),
                Err(_) => {
                    reuse_of(&mut self.reuse).pool.give(out);
                    None
                }
            }
        } else {
            Some(reuse_of(&mut self.reuse).pool.copy_of(body))
        }
    }

    /// Answers msgs_state_req from the window of received msg_ids.
    ///
    /// Server: "not received" (2, 3) is a promise kept. An id the server
    /// could still accept (a client msg_id within the time window) is
    /// disowned in the same step, under the session's lock, so a copy
    /// another link still carries is refused when it arrives and the
    /// client's re-send is the only one that runs; an id older than the
    /// window can never be accepted (bad_msg 16), so it is simply not
    /// received; for an id too far ahead, or of the wrong parity, nothing can
    /// be promised: "nothing known" (1). A client answers from its window
    /// and promises nothing (a server it talks to re-sends with new ids).
    pub(super) fn answer_state_req(&mut self, msg_id: i64, body: &[u8], now: Duration) {
        let Ok(req) = MsgsStateReq::from_bytes(body) else {
            return;
        };
        let server = self.role == Role::Server;
        let (past, future) = (self.config.msg_id_past, self.config.msg_id_future);
        let info: Vec<u8> = self.with_replay(|replay| {
            req.msg_ids
                .iter()
                .take(8192)
                .map(|&id| {
                    if replay.contains(id) {
                        return 4;
                    }
                    if id <= replay.floor() {
                        return 1;
                    }
                    let above = replay.max().is_none_or(|max| id > max);
                    let not_received = if above { 3 } else { 2 };
                    if !server {
                        return not_received;
                    }
                    let t = Duration::from_secs((id >> 32).max(0) as u64);
                    if id % 4 != 0 || t > now + future {
                        1
                    } else if t + past < now {
                        not_received
                    } else {
                        replay.disown(id);
                        not_received
                    }
                })
                .collect()
        });
        self.push_response(MsgsStateInfo { req_msg_id: msg_id, info }.to_bytes());
    }
}
