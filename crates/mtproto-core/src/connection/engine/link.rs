//! The link: one transport connection under the session. Framing in and
//! out, quick acks, transport error codes, link loss and re-attachment.

use super::*;

impl Connection {
    /// Sends a packet this connection built and owns: framed into the wire
    /// buffer, or (unframed) handed out as its own transmit, without a copy.
    pub(super) fn transmit(&mut self, packet: Vec<u8>, quick_ack: bool) {
        match &mut self.transport {
            Some(t) => {
                t.encode(&packet, quick_ack, &mut self.wire);
                reuse_of(&mut self.reuse).pool.give(packet);
            }
            None => self.pending_transmits.push_back(packet),
        }
    }

    /// Client: the link is gone. Everything of the session stays (key,
    /// session_id, clock, seq_no, salts, acks owed, queue, pending requests);
    /// what was on the wire and not acknowledged has an unknown fate, asked
    /// about with msgs_state_req on the next link. Server: the sessions are
    /// saved and the connection closes.
    /// `cause` is `None` when the driver reported the loss
    /// ([`Input::LinkLost`]); otherwise the Connection noticed it and
    /// reports it ([`ClientEvent::LinkLost`]) so the driver drops the socket.
    pub(super) fn link_lost(&mut self, cause: Option<LinkLoss>) {
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
        trace!(info, cause = ?cause, pending = self.handles.len(), "link lost; the session stays");
        self.detached = true;
        self.links_lost += 1;
        self.wire.clear();
        self.pending_transmits.clear();
        self.partial_since = None;
        self.quick_acks = None;
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
            self.client_event(ClientEvent::LinkLost { cause });
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
        let _entered = self.trace.enter();
        if matches!(self.phase, Phase::ClientAwaitingLink) {
            trace!(info, "link attached; the handshake starts again");
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
        // Acknowledged ones are asked about too: the question is what makes
        // the server send, on this link, the answers it kept for the session
        // when the last link went (the client may have nothing else to send).
        let current = self.session.as_ref().map_or(0, |s| s.session_id());
        let mut unknown: Vec<i64> = self
            .sent
            .iter()
            .filter(|(_, s)| s.out.handle.is_some() && s.out.on_wire && s.session_id == current)
            .map(|(id, _)| *id)
            .collect();
        unknown.sort_unstable();
        trace!(info, asked = unknown.len(), "link attached; the session continues");
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

    pub(super) fn take_transmit<E>(&mut self) -> Option<Output<E>> {
        if let Some(p) = self.pending_transmits.pop_front() {
            return Some(Output::Transmit(p));
        }
        if self.wire.is_empty() {
            return None;
        }
        let next = reuse_of(&mut self.reuse).pool.take();
        Some(Output::Transmit(std::mem::replace(&mut self.wire, next)))
    }

    pub(super) fn handle_packet(&mut self, packet: &mut [u8], quick_ack: bool, now: Duration) {
        let auth_key_id = envelope::peek_auth_key_id(packet).unwrap_or([0; 8]);
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::ClientHandshake(mut hs) => match hs.handle(packet, now) {
                Ok(Step::Send(p)) => {
                    trace!(debug, "handshake step answered");
                    self.phase = Phase::ClientHandshake(hs);
                    self.transmit(p, false);
                }
                Ok(Step::Done(_, result)) => self.handshake_done(*result, now),
                Err(e) => {
                    trace!(warn, error = %e, "handshake failed");
                    self.close_with(CloseReason::Handshake(e));
                }
            },
            Phase::ServerStart if auth_key_id == [0; 8] => {
                let Some(sc) = self.config.server.clone() else {
                    self.close_with(CloseReason::Config(ConfigError::NoServerHandshake));
                    return;
                };
                trace!(debug, "handshake started by the client");
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
                self.ready_pending = self.events.pop_back().map(Box::new);
                self.handle_opened(packet, Ok(()), quick_ack, now);
            }
            Phase::ServerHandshake(mut hs) => {
                let lookup = self.config.key_lookup.clone();
                let taken = move |id: i64| lookup.as_ref().is_some_and(|f| f(id).is_some());
                match hs.handle(packet, now, &taken) {
                    Ok(Step::Send(p)) => {
                        trace!(debug, "handshake step answered");
                        self.phase = Phase::ServerHandshake(hs);
                        self.transmit(p, false);
                    }
                    Ok(Step::Done(p, result)) => {
                        if let Some(p) = p {
                            self.transmit(p, false);
                        }
                        self.handshake_done(*result, now);
                    }
                    Err(e) => {
                        trace!(warn, error = %e, "handshake failed");
                        self.close_with(CloseReason::Handshake(e));
                    }
                }
            }
            Phase::Ready => {
                self.phase = Phase::Ready;
                self.handle_encrypted(packet, quick_ack, now);
            }
            Phase::ClientAwaitingLink | Phase::Closed => {}
        }
    }

    pub(super) fn unknown_key(&mut self) {
        trace!(warn, "unknown auth key (or one that does not authenticate): -404");
        if let Some(t) = &mut self.transport {
            t.encode_error(-404, &mut self.wire);
        }
        self.close_with(CloseReason::UnknownAuthKey);
    }

    /// A transport error code from the server: -404 (the key is unknown: a
    /// temporary one was destroyed) and -444 (wrong DC) end the connection,
    /// pending requests failing with what is known of them; -429 (flood)
    /// drops the link and keeps the session, with a doubling backoff hint.
    pub(super) fn transport_error(&mut self, code: i32) {
        // Only a client's decoder makes these (a 4-byte frame from a server).
        if self.role != Role::Client {
            return;
        }
        let failure = TransportFailure::from_code(code, self.temporary_key);
        trace!(warn, code, failure = ?failure, "transport error code");
        self.client_event(ClientEvent::TransportError { code, failure });
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

    pub(super) fn handle_encrypted(&mut self, packet: &mut [u8], quick_ack: bool, now: Duration) {
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
    pub(super) fn open_together(&mut self, frames: &mut [Frame]) -> Vec<Option<Result<(), CryptoError>>> {
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
}
