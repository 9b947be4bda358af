//! The client's policy: requests and their delivery state, pings and
//! salts, and what each service message from the server means.

use super::*;

impl Connection {
    /// Queues a request (opaque API bytes) and returns its handle, which stays
    /// valid across re-sends.
    pub fn send(&mut self, body: Vec<u8>, options: SendOptions) -> RequestHandle {
        let handle = RequestHandle(self.next_handle);
        self.next_handle += 1;
        if matches!(self.phase, Phase::Closed) {
            let error = RequestError::Closed { delivery: Delivery::NotSent };
            self.client_event(ClientEvent::RequestFailed { handle, error });
            return handle;
        }
        if !body.len().is_multiple_of(4) {
            let error = RequestError::NotTl { len: body.len() };
            self.client_event(ClientEvent::RequestFailed { handle, error });
            return handle;
        }
        if self.queued_bytes + body.len() > self.config.max_queued_bytes {
            trace!(warn, limit = self.config.max_queued_bytes, "queue full: request refused");
            let error = RequestError::QueueFull { limit: self.config.max_queued_bytes };
            self.client_event(ClientEvent::RequestFailed { handle, error });
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
            self.client_event(ClientEvent::RequestFailed { handle, error: RequestError::Cancelled { delivery } });
        }
    }

    /// Client: sends a ping now (ping_delay_disconnect); an [`ClientEvent::Pong`]
    /// with the round trip follows. Does nothing while a ping is outstanding.
    pub fn ping(&mut self, now: Duration) {
        if self.ping.is_some() || !matches!(self.phase, Phase::Ready) {
            return;
        }
        self.next_ping = Some(now);
        self.client_timers(now);
    }

    /// Client (HTTP transport): sends `http_wait`, the long-poll settings
    /// for the server's HTTP answers (milliseconds): answer at most
    /// `max_delay` after the first packet is due, wait `wait_after` for more,
    /// and answer an idle request empty after `max_wait`.
    pub fn http_wait(&mut self, max_delay: i32, wait_after: i32, max_wait: i32) {
        self.push_service(schema::HttpWait { max_delay, wait_after, max_wait }.to_bytes(), false);
    }

    /// Client: asks the server to destroy another session of this key.
    pub fn destroy_session(&mut self, session_id: i64) {
        self.push_service(DestroySession { session_id }.to_bytes(), true);
    }

    pub(super) fn salt_refresh_at(&self) -> Option<Duration> {
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

    pub(super) fn client_timers(&mut self, now: Duration) {
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

    pub(super) fn set_salt(&mut self, salt: i64) {
        if let Some(s) = &mut self.session
            && s.salt() != salt
        {
            s.set_salt(salt);
            trace!(debug, "salt changed");
            self.client_event(ClientEvent::SaltChanged { salt });
        }
    }

    pub(super) fn client_dispatch(&mut self, msg_id: i64, body: &[u8], now: Duration) {
        match constructor(body) {
            schema::RPC_RESULT => {
                let Ok(r) = RpcResult::from_bytes(body) else {
                    return;
                };
                let Some(sent) = self.sent.remove(&r.req_msg_id) else {
                    // An answer to a ping sent as a request, or to nothing we know.
                    trace!(debug, req_msg_id = %Hex(r.req_msg_id), "answer to no pending msg_id, dropped");
                    return;
                };
                let Some(handle) = sent.out.handle else {
                    return;
                };
                self.handles.remove(&handle);
                self.release(&sent.out);
                reuse_of(&mut self.reuse).pool.give(sent.out.body);
                let Some(result) = self.unwrap_gzip(r.result) else {
                    self.client_event(ClientEvent::RequestFailed { handle, error: RequestError::BadAnswer });
                    return;
                };
                if constructor(&result) == RpcError::ID {
                    match RpcError::from_bytes(&result) {
                        Ok(e) => self.client_event(ClientEvent::RpcError {
                            handle,
                            code: e.error_code,
                            message: e.error_message,
                        }),
                        Err(_) => {
                            self.client_event(ClientEvent::RequestFailed { handle, error: RequestError::BadAnswer })
                        }
                    }
                } else {
                    self.client_event(ClientEvent::RpcResult { handle, body: result });
                }
            }
            MsgsAck::ID => {
                for id in acked_ids(body) {
                    match self.containers.get(&id) {
                        Some(inner) => {
                            for &i in inner.as_slice() {
                                mark_acknowledged(&mut self.sent, &mut reuse_of(&mut self.reuse).pool, i);
                            }
                        }
                        None => mark_acknowledged(&mut self.sent, &mut reuse_of(&mut self.reuse).pool, id),
                    }
                }
            }
            BadServerSalt::ID => {
                let Ok(n) = BadServerSalt::from_bytes(body) else {
                    return;
                };
                trace!(debug, msg_id = %Hex(n.bad_msg_id), "bad_server_salt: sent again with the new salt");
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
                // The same notice again (sent again on a new link until
                // acknowledged): already acted on.
                if n.unique_id != 0 && n.unique_id == self.new_session_seen {
                    return;
                }
                self.new_session_seen = n.unique_id;
                self.set_salt(n.server_salt);
                // Requests of this session sent before the server's new
                // session began and not answered: the server may have run
                // them in the session it forgot, or never received them.
                // Guessing either way breaks exactly-once (a re-send may run
                // twice, a failure may lose one never run), so the new
                // session is asked: "not received" re-sends (and the server
                // refuses the old copy from then on), "received" waits, and
                // "nothing known" (below what it remembers) fails the request
                // with SessionLost. Requests of sessions we left ourselves
                // stay pending (their answers still arrive, and are accepted).
                let current = self.session.as_ref().map_or(0, |s| s.session_id());
                let mut older: Vec<i64> = self
                    .sent
                    .iter()
                    .filter(|(id, s)| **id < n.first_msg_id && s.out.handle.is_some() && s.session_id == current)
                    .map(|(id, _)| *id)
                    .collect();
                older.sort_unstable();
                trace!(
                    info,
                    first_msg_id = %Hex(n.first_msg_id),
                    asked = older.len(),
                    "the server created a new session"
                );
                for chunk in older.chunks(8192) {
                    self.push_service(MsgsStateReq { msg_ids: chunk.to_vec() }.to_bytes(), true);
                }
                self.client_event(ClientEvent::SessionReset {
                    action: crate::connection::ResetAction::FetchMissedUpdates,
                });
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
                    self.client_event(ClientEvent::Pong { rtt: now.saturating_sub(at) });
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
            MsgsStateReq::ID => self.answer_state_req(msg_id, body, now),
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
            _ => self.client_event(ClientEvent::Update { body: body.to_vec() }),
        }
    }

    /// Client: acts on the answer to a msgs_state_req (sent after a lost
    /// link, a new session on the server, or a request timeout). "Not
    /// received" or "msg_id too high" (2, 3) mean the request was never
    /// executed, and the server refuses that msg_id from then on: it is sent
    /// again. "Received" (4) marks it acknowledged, to wait for its answer
    /// (which the server sends again, unacknowledged answers being kept).
    /// "Nothing known" (1: below what the server remembers, or in a session
    /// it forgot) means it may have run and its answer will not come: it
    /// fails with [`RequestError::SessionLost`] rather than run twice (TDLib
    /// sends it again).
    pub(super) fn state_info(&mut self, req_msg_id: i64, info: &[u8]) {
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
            trace!(debug, msg_id = %Hex(id), state = state & 7, "msgs_state_info");
            match state & 7 {
                1 => self.fail_sent(id, |delivery| RequestError::SessionLost { delivery }),
                2 | 3 => {
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
    pub(super) fn remove_answered_service(&mut self, msg_id: i64, kinds: &[u32]) {
        if self.sent.get(&msg_id).is_some_and(|s| s.out.handle.is_none() && kinds.contains(&constructor(&s.out.body))) {
            self.sent.remove(&msg_id);
        }
    }

    pub(super) fn learn_time(&mut self, server_msg_id: i64, now: Duration) {
        if let Some(s) = self.session.as_mut() {
            s.clock_mut().learn_from_msg_id(server_msg_id, now);
        }
    }

    /// The deliberate action for each bad_msg_notification code (docs/protocol.md).
    pub(super) fn on_bad_msg(&mut self, notification_msg_id: i64, n: &BadMsgNotification, now: Duration) {
        trace!(
            warn,
            code = n.error_code,
            msg_id = %Hex(n.bad_msg_id),
            action = bad_msg_action(n.error_code),
            "bad_msg_notification"
        );
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
            code => self.fail_sent(n.bad_msg_id, |_| RequestError::Refused { code }),
        }
    }

    /// Client: switches to a fresh session id (seq_no from zero; with
    /// `restart_clock`, msg_ids may restart lower).
    pub(super) fn new_session(&mut self, restart_clock: bool) {
        if let Some(s) = self.session.as_mut() {
            trace!(info, restart_clock, "switching to a new session");
            self.previous_sessions.push_back(s.session_id());
            if self.previous_sessions.len() > 4 {
                self.previous_sessions.pop_front();
            }
            let id = s.random_session_id();
            if restart_clock {
                s.reset_with_clock(id)
            } else {
                s.reset(id)
            }
            self.trace.session(id);
        }
        // The replay window stays: server msg_ids are unique across sessions,
        // and late messages of the session we left are still accepted.
    }

    pub(super) fn detailed_info(&mut self, answer_msg_id: i64) {
        if self.with_replay(|r| r.contains(answer_msg_id)) {
            if self.acks.is_empty() {
                self.ack_since = Some(Duration::ZERO);
            }
            self.acks.push(answer_msg_id);
        } else {
            self.push_service(MsgResendReq { msg_ids: vec![answer_msg_id] }.to_bytes(), true);
        }
    }
}

/// What the client does for each bad_msg_notification code (for traces).
#[cfg(feature = "tracing")]
fn bad_msg_action(code: i32) -> &'static str {
    match code {
        16 | 17 => "clock corrected from the server's msg_id; sent again",
        18..=20 => "sent again under a new msg_id",
        32..=35 => "new session; sent again",
        48 => "salts asked for; sent again",
        64 => "container split; its messages sent one by one",
        _ => "request failed (no recovery for this code)",
    }
}

/// msgs_ack for `id`: a request (or a service message that gets an answer)
/// is marked acknowledged and stays for its answer; anything else is done.
fn mark_acknowledged(sent: &mut IdMap<i64, Sent>, pool: &mut crate::connection::pool::BufferPool, id: i64) {
    match sent.get_mut(&id) {
        Some(s) if s.out.handle.is_some() || is_answered_service(&s.out.body) => s.out.acked = true,
        Some(_) => {
            if let Some(s) = sent.remove(&id) {
                pool.give(s.out.body);
            }
        }
        None => {}
    }
}
