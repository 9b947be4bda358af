//! The server's policy: client sessions shared with every other link
//! of the server (store.rs), salts per key, the checks each client
//! message gets, answers and service messages.

use super::*;

impl Connection {
    /// Server: the link goes; every client session it carries is handed
    /// back to the store with what the client has not acknowledged, to be
    /// sent again on the next link that carries the session.
    pub(super) fn save_sessions(&mut self) {
        let now = self.last_authenticated.unwrap_or_default();
        // Requests still running: their answers will be left in their
        // sessions ([`Connection::leave_late_answer`] counts each off).
        self.count_running_as_late(true);
        let carried: Vec<Arc<SharedSession>> = self.carried.drain().collect();
        for session in carried {
            self.hand_over(&session, now);
        }
        self.current = None;
    }

    /// Server: this link stops carrying `session`: the messages sent in it
    /// and not acknowledged (and, for the current session, those queued)
    /// go to the session for the next link, and the store is told.
    pub(super) fn hand_over(&mut self, session: &Arc<SharedSession>, now: Duration) {
        let id = session.session_id();
        let is_current = self.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, session));
        let mut kept: Vec<i64> = self
            .sent
            .iter()
            .filter(|(_, s)| {
                s.session_id == id && s.out.handle.is_none() && s.out.content_related && !is_session_notice(&s.out.body)
            })
            .map(|(msg_id, _)| *msg_id)
            .collect();
        kept.sort_unstable();
        let mut unacknowledged: Vec<Vec<u8>> =
            kept.into_iter().filter_map(|msg_id| self.sent.remove(&msg_id)).map(|s| s.out.body).collect();
        if is_current {
            let queued = core::mem::take(&mut self.queue);
            for o in queued {
                if o.content_related && !is_session_notice(&o.body) {
                    unacknowledged.push(o.body);
                } else {
                    self.queue.push_back(o);
                }
            }
        }
        trace!(debug, session_id = %Hex(id), answers = unacknowledged.len(), "session handed back to the store");
        {
            let mut st = session.lock();
            if let Some(s) = self.session.as_ref() {
                st.last_msg_id = st.last_msg_id.max(s.clock().last());
                if is_current {
                    st.seq_count = st.seq_count.max(s.seq_count());
                }
            }
            for body in unacknowledged {
                st.redeliver_later(body);
            }
        }
        if is_current {
            self.current = None;
        }
        if let (Some(store), Some(s)) = (self.store.as_ref(), self.session.as_ref()) {
            store.detach(s.auth_key().id(), session, now);
        }
    }

    /// Server: session `id` if this link carries it (a forgotten one is let
    /// go). The store is not asked: see [`Connection::known_session`].
    pub(super) fn carried_session(&mut self, id: i64) -> Option<Arc<SharedSession>> {
        let s = self.carried.get(id)?;
        if !s.lock().forgotten {
            return Some(s);
        }
        self.carried.remove(id);
        if self.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &s)) {
            self.current = None;
        }
        None
    }

    /// Server: session `id` if this link carries it or the store keeps it,
    /// without carrying it from here (a message is only checked against
    /// it; only an accepted one makes this link carry its session).
    pub(super) fn known_session(&mut self, id: i64, now: Duration) -> Option<Arc<SharedSession>> {
        if let Some(s) = self.carried_session(id) {
            return Some(s);
        }
        let key_id = self.session.as_ref()?.auth_key().id();
        self.store.as_ref()?.peek(key_id, id, now).filter(|s| !s.lock().forgotten)
    }

    /// Records `msg_id` as received; false when it was received before (on
    /// any link that carries the session) or its session was forgotten.
    pub(super) fn accept_msg_id(&mut self, msg_id: i64) -> bool {
        match &self.current {
            Some(s) => {
                let mut st = s.lock();
                !st.forgotten && st.replay.insert(msg_id)
            }
            None => self.own_replay().insert(msg_id),
        }
    }

    /// Server: carries `session` on this link, handing back the least
    /// recently used one beyond [`MAX_CARRIED_SESSIONS`].
    pub(super) fn carry(&mut self, session: Arc<SharedSession>, now: Duration) {
        if let Some(old) = self.carried.put(session) {
            self.hand_over(&old, now);
        }
    }

    /// The window of received msg_ids: the client's own, or the server's
    /// current session's (shared with every link that carries it).
    pub(super) fn with_replay<R>(&mut self, f: impl FnOnce(&mut ReplayWindow) -> R) -> R {
        match &self.current {
            Some(s) => f(&mut s.lock().replay),
            None => f(self.own_replay()),
        }
    }

    /// This Connection's own window of received msg_ids (the client's; made
    /// on first use).
    pub(super) fn own_replay(&mut self) -> &mut ReplayWindow {
        let capacity = self.config.replay_window;
        self.replay.get_or_insert_with(|| Box::new(ReplayWindow::new(capacity)))
    }

    /// Server: the key's shared state, locked (once the key is known).
    pub(super) fn key_lock(&self) -> Option<std::sync::MutexGuard<'_, KeyState>> {
        self.key_state.as_deref().map(SharedKey::lock)
    }

    /// Server: answers a departed link left for the current session, queued
    /// to go out on this one (as responses: they answer client messages).
    pub(super) fn queue_redelivered(&mut self, bodies: VecDeque<Vec<u8>>) {
        for body in bodies {
            self.queue.push_back(Outgoing::service(body, true, true));
        }
    }

    /// Server: answers the client request `req_msg_id` with `body` (rpc_result).
    pub fn respond(&mut self, req_msg_id: i64, body: &[u8]) {
        let session_id = self.running.as_mut().and_then(|r| r.remove(req_msg_id));
        if self.dropped.as_mut().is_some_and(|d| d.remove(req_msg_id)) {
            // The client dropped this answer while the request ran.
            if let (Some(id), true) = (session_id, matches!(self.phase, Phase::Closed)) {
                self.leave_late_answer(id, None);
            }
            return;
        }
        let mut out = reuse_of(&mut self.reuse).pool.take_with(body.len() + 12);
        // rpc_result's header; then the result, gzip_packed when that is smaller.
        RpcResult { req_msg_id, result: &[] }.serialize(&mut out);
        if body.len() < self.config.gzip_threshold || !gzip::pack_if_smaller(body, &mut out) {
            out.extend_from_slice(body);
        }
        if matches!(self.phase, Phase::Closed) {
            // The link is gone: the answer goes to its session, for the
            // next link that carries it.
            if let Some(id) = session_id {
                self.leave_late_answer(id, Some(out));
            }
            return;
        }
        if let Some(id) = session_id.filter(|id| Some(*id) != self.current_session_id()) {
            // The client has moved to another session on this link: the
            // answer goes out in the session of its request.
            self.answer_outside_session(id, &out, true, self.last_authenticated.unwrap_or_default());
            return;
        }
        let mut answer = Outgoing::service(out, true, true);
        answer.answers = Some(req_msg_id);
        self.queue.push_back(answer);
    }

    /// Server: client session `session_id` as the store keeps it (for a
    /// link that no longer carries it).
    fn stored_session(&self, session_id: i64) -> Option<Arc<SharedSession>> {
        let (store, s) = (self.store.as_ref()?, self.session.as_ref()?);
        store.peek(s.auth_key().id(), session_id, self.last_authenticated.unwrap_or_default())
    }

    /// Server, link closed: a request of session `session_id` it was still
    /// running ended, with `answer` (kept in the session, sent on the next
    /// link that carries it) or without one; either way one late answer
    /// fewer is due.
    fn leave_late_answer(&mut self, session_id: i64, answer: Option<Vec<u8>>) {
        let Some(shared) = self.stored_session(session_id) else { return };
        let mut st = shared.lock();
        if let Some(body) = answer {
            st.redeliver_later(body);
        }
        st.late_answers = st.late_answers.saturating_sub(1);
    }

    /// Server: counts the requests this link still runs in their sessions'
    /// late answers (`more`: the link goes, their answers will be left
    /// there), or counts them off (the link is dropped: they never will be).
    pub(super) fn count_running_as_late(&mut self, more: bool) {
        let mut running: Vec<i64> = self.running.as_ref().map(|r| r.values().copied().collect()).unwrap_or_default();
        running.sort_unstable();
        for same in running.chunk_by(|a, b| a == b) {
            let Some(shared) = self.stored_session(same[0]) else { continue };
            let n = u32::try_from(same.len()).unwrap_or(u32::MAX);
            let mut st = shared.lock();
            st.late_answers = if more { st.late_answers.saturating_add(n) } else { st.late_answers.saturating_sub(n) };
        }
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

    /// Server: switches the key to a new salt now (on every link and
    /// session of the key); a client still using the old one gets
    /// bad_server_salt.
    pub fn rotate_salt(&mut self, now: Duration) {
        let salt = self.entropy.next_u64() as i64;
        let Some(mut k) = self.key_lock() else { return };
        trace!(info, "salt rotated for the key");
        k.salts.clear();
        k.salts.push_back(FutureSalt {
            valid_since: now.as_secs() as i32,
            valid_until: (now + self.config.salt_lifetime).as_secs() as i32,
            salt,
        });
    }

    /// Server: forgets the client's current session (on every link that
    /// carries it), so its next message starts a new one
    /// (new_session_created). Its msg_ids stay refused: they raise the
    /// key's floor.
    pub fn forget_session(&mut self) {
        let Some(current) = self.current.take() else { return };
        trace!(info, session_id = %Hex(current.session_id()), "session forgotten");
        self.carried.remove(current.session_id());
        if let (Some(store), Some(s)) = (self.store.as_ref(), self.session.as_ref()) {
            store.remove(s.auth_key().id(), current.session_id());
        }
    }

    /// Server (testing and fault injection, feature `fault-injection`):
    /// answer the next client message with bad_msg_notification carrying
    /// `code` instead of processing it.
    #[cfg(feature = "fault-injection")]
    pub fn inject_bad_msg(&mut self, code: i32) {
        self.force_bad_msg = Some(code);
    }

    /// Server: drops the answer to client message `req_msg_id` (rpc_drop_answer)
    /// and says what was dropped: rpc_answer_dropped naming the answer's own
    /// msg_id and seq_no when it was sent and kept, or rpc_answer_unknown.
    pub(super) fn drop_answer(&mut self, req_msg_id: i64) -> Vec<u8> {
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
            None if self.running.as_ref().is_some_and(|r| r.contains(req_msg_id)) => {
                // Still running: its answer will be discarded by `respond`.
                self.dropped.get_or_insert_with(|| Box::new(BoundedIdSet::new(MAX_KEPT))).insert(req_msg_id);
                schema::RPC_ANSWER_DROPPED_RUNNING.to_le_bytes().to_vec()
            }
            None => schema::RPC_ANSWER_UNKNOWN.to_le_bytes().to_vec(),
        }
    }

    pub(super) fn server_message(
        &mut self,
        salt: i64,
        session_id: i64,
        msg_id: i64,
        seq_no: i32,
        body: &[u8],
        now: Duration,
    ) {
        // Every check comes before any state changes. Replays first, against
        // the window of the session the message names: a captured packet of
        // another session neither runs twice nor moves us to its session.
        let refused = self.key_lock().is_some_and(|k| k.refused.contains((session_id, msg_id)));
        if refused || self.seen_before(session_id, msg_id, now) {
            trace!(debug, msg_id = %Hex(msg_id), "duplicate or replay ignored");
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
            trace!(debug, msg_id = %Hex(msg_id), code = failed.unwrap_or(48), "client message refused unprocessed");
            // Refused unprocessed: the client sends it again under a new
            // msg_id, so this one must never run later (a replay of it, once
            // its time or salt is right, is ignored).
            if let Some(mut k) = self.key_lock() {
                k.refused.insert((session_id, msg_id));
            }
            if self.current_session_id() == Some(session_id) {
                self.push_response(answer);
            } else {
                self.answer_outside_session(session_id, &answer, false, now);
            }
            return;
        }
        // A packet over the inflate budget is dropped before anything of it
        // is recorded, so it can come again.
        let declared = self.declared_packet_inflation(body, msg_id);
        if self.refuse_inflation(declared) {
            return;
        }
        if self.current_session_id() != Some(session_id) {
            self.switch_session(session_id, msg_id, body, now);
        }
        // The authoritative check, under the session's lock: another link
        // carrying the same session may have accepted this msg_id meanwhile.
        // Answers other links left for the session go out on this one.
        let Some(redeliver) = self.current.as_ref().and_then(|s| {
            let mut st = s.lock();
            (!st.forgotten && st.replay.insert(msg_id)).then(|| st.take_redeliver())
        }) else {
            return;
        };
        self.queue_redelivered(redeliver);
        self.last_authenticated = Some(now);
        if let Some(ready) = self.ready_pending.take() {
            self.events.push_back(*ready);
        }
        self.dispatch(msg_id, seq_no, body, true, now);
    }

    /// Server: the id of the current client session.
    pub(super) fn current_session_id(&self) -> Option<i64> {
        self.current.as_ref().map(|s| s.session_id())
    }

    /// Server: whether `msg_id` of client session `session_id` was seen
    /// (or falls below what is remembered), on this link or any other that
    /// carries the session.
    pub(super) fn seen_before(&mut self, session_id: i64, msg_id: i64, now: Duration) -> bool {
        match self.known_session(session_id, now) {
            Some(s) => {
                let st = s.lock();
                st.replay.contains(msg_id) || msg_id <= st.replay.floor() || st.replay.is_disowned(msg_id)
            }
            None => self.key_lock().and_then(|k| k.floor).is_some_and(|f| msg_id <= f),
        }
    }

    /// Server: a message in a session other than the current one (a
    /// bad_msg_notification or bad_server_salt to a message we do not
    /// switch to, or an answer to a request of a session the client has
    /// left), sealed at once under that session's id and seq_no (nothing is
    /// kept for re-sends).
    pub(super) fn answer_outside_session(
        &mut self,
        session_id: i64,
        body: &[u8],
        content_related: bool,
        now: Duration,
    ) {
        // The session's shared counters, also when this link no longer
        // carries it (another link may number in it).
        let other = self.known_session(session_id, now);
        let Some(s) = self.session.as_mut() else { return };
        // The session's counters are read, used and published under one
        // lock, so another link of the session numbering at the same moment
        // cannot take the same msg_id or seq_no.
        let mut shared = other.as_ref().map(|o| o.lock());
        let (seq, last_msg_id) = shared.as_ref().map_or((0, 0), |st| (st.seq_count, st.last_msg_id));
        let (current, current_seq) = (s.session_id(), s.seq_count());
        s.switch_to(session_id, seq);
        s.clock_mut().continue_after(last_msg_id);
        let msg_id = s.next_msg_id(now, true);
        let seq_no = s.next_seq_no(content_related);
        if let Some(st) = shared.as_mut() {
            st.seq_count = st.seq_count.max(s.seq_count());
            st.last_msg_id = st.last_msg_id.max(msg_id);
        }
        drop(shared);
        let mut packet = Vec::with_capacity(body.len() + 96);
        s.frame_with(msg_id, seq_no, body, &mut packet);
        s.seal(&mut packet);
        s.switch_to(current, current_seq);
        self.transmit(packet, false);
    }

    /// Server: makes `session_id` the current session: a session this link
    /// or another carries (or the store keeps) continues with its replay
    /// window and seq_no, and the answers a departed link left unacknowledged
    /// are sent again now; an unknown one is created and announced with
    /// new_session_created.
    pub(super) fn switch_session(&mut self, session_id: i64, msg_id: i64, body: &[u8], now: Duration) {
        let Some(key_id) = self.session.as_ref().map(|s| s.auth_key().id()) else { return };
        // What is queued (answers, acks) belongs to the session we leave:
        // it goes out now, in that session.
        if self.current.is_some() && (!self.queue.is_empty() || !self.acks.is_empty()) {
            self.flush(now, true);
        }
        if let (Some(old), Some(s)) = (self.current.take(), self.session.as_ref()) {
            let mut st = old.lock();
            st.seq_count = st.seq_count.max(s.seq_count());
            st.last_msg_id = st.last_msg_id.max(s.clock().last());
        }
        let (shared, known) = match self.carried_session(session_id) {
            Some(s) => (s, true),
            None => {
                let Some(store) = self.store.clone() else { return };
                let (s, created) = store.attach_or_create(key_id, session_id, self.config.replay_window, now);
                self.carry(Arc::clone(&s), now);
                (s, !created)
            }
        };
        let (seq_count, last_msg_id, first_msg_id, redeliver) = {
            let mut st = shared.lock();
            (st.seq_count, st.last_msg_id, st.first_msg_id, st.take_redeliver())
        };
        if let Some(s) = self.session.as_mut() {
            s.switch_to(session_id, seq_count);
            s.clock_mut().continue_after(last_msg_id);
        }
        self.trace.session(session_id);
        trace!(debug, known, answers_left = redeliver.len(), "session attached to this link");
        self.session_first_msg_id = first_msg_id;
        self.queue_redelivered(redeliver);
        self.current = Some(Arc::clone(&shared));
        if known {
            return;
        }
        // The first message of the session: for a container, its first inner
        // message (the container's own id is larger than all of them).
        let first_msg_id = container::unpack(body, msg_id, Role::Client, container::MAX_MESSAGES)
            .ok()
            .and_then(|inner| inner.iter().map(|m| m.msg_id).min())
            .unwrap_or(msg_id);
        shared.lock().first_msg_id = first_msg_id;
        self.session_first_msg_id = first_msg_id;
        let unique_id = self.entropy.next_u64() as i64;
        let server_salt = self.current_salt(now);
        trace!(info, first_msg_id = %Hex(first_msg_id), "new session created");
        self.push_service(NewSessionCreated { first_msg_id, unique_id, server_salt }.to_bytes(), true);
        self.server_event(ServerEvent::NewSession { session_id });
    }

    /// Server: the checks every client message gets, top-level or inside a
    /// container: msg_id parity and time window, and seq_no parity against
    /// content-relatedness (with the tolerance real clients need, see
    /// [`parity_tolerant`]). Returns the bad_msg_notification code, if any.
    pub(super) fn check_client_message(&self, msg_id: i64, seq_no: i32, body: &[u8], now: Duration) -> Option<i32> {
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

    pub(super) fn bad_msg(&mut self, bad_msg_id: i64, bad_msg_seqno: i32, error_code: i32) {
        self.push_response(BadMsgNotification { bad_msg_id, bad_msg_seqno, error_code }.to_bytes());
    }

    /// Server: the key's salt valid now, issuing the next one when the
    /// schedule runs out (shared by every link and session of the key).
    pub(super) fn current_salt(&mut self, now: Duration) -> i64 {
        let Some(key) = self.key_state.as_deref() else { return 0 };
        current_salt_in(&mut key.lock(), &mut *self.entropy, self.config.salt_lifetime, now)
    }

    pub(super) fn salt_ok(&mut self, salt: i64, now: Duration) -> bool {
        let Some(key) = self.key_state.as_deref() else { return false };
        let mut k = key.lock();
        let current = current_salt_in(&mut k, &mut *self.entropy, self.config.salt_lifetime, now);
        let t = now.as_secs() as i32;
        // The current salt, or one issued as future salt that is valid now or
        // expired less than 30 minutes ago.
        salt == current || k.salts.iter().any(|s| s.salt == salt && s.valid_since <= t + 30 && t < s.valid_until + 1800)
    }

    pub(super) fn server_dispatch(&mut self, msg_id: i64, body: &[u8], now: Duration) {
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
                // Acknowledged answers leave their buffers for reuse.
                for id in acked_ids(body) {
                    if let Some(s) = self.sent.remove(&id) {
                        reuse_of(&mut self.reuse).pool.give(s.out.body);
                    }
                }
            }
            GetFutureSalts::ID => {
                let Ok(g) = GetFutureSalts::from_bytes(body) else {
                    return;
                };
                let Some(key) = self.key_state.as_deref() else { return };
                let mut k = key.lock();
                let _ = current_salt_in(&mut k, &mut *self.entropy, self.config.salt_lifetime, now);
                let lifetime = self.config.salt_lifetime.as_secs() as i32;
                while (k.salts.len() as i32) < g.num.clamp(1, 64) {
                    let since = k.salts.back().map_or(now.as_secs() as i32, |s| s.valid_until);
                    let salt = self.entropy.next_u64() as i64;
                    k.salts.push_back(FutureSalt { valid_since: since, valid_until: since + lifetime, salt });
                }
                let salts = k.salts.iter().take(g.num.clamp(1, 64) as usize).cloned().collect();
                drop(k);
                self.push_response(FutureSalts { req_msg_id: msg_id, now: now.as_secs() as i32, salts }.to_bytes());
            }
            DestroySession::ID => {
                let Ok(d) = DestroySession::from_bytes(body) else {
                    return;
                };
                let key_id = self.session.as_ref().map_or(0, |s| s.auth_key().id());
                let destroyed = self.current_session_id() != Some(d.session_id) && {
                    self.carried.remove(d.session_id);
                    self.store.as_ref().is_some_and(|s| s.remove(key_id, d.session_id))
                };
                let answer = if destroyed {
                    DestroySessionOk { session_id: d.session_id }.to_bytes()
                } else {
                    DestroySessionNone { session_id: d.session_id }.to_bytes()
                };
                self.push_response(answer);
            }
            MsgsStateReq::ID => self.answer_state_req(msg_id, body, now),
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
            schema::HttpWait::ID => {
                if let Ok(wait) = schema::HttpWait::from_bytes(body) {
                    self.server_event(ServerEvent::HttpWait { wait });
                }
            }
            MsgsStateInfo::ID | MsgsAllInfo::ID | MsgDetailedInfo::ID | MsgNewDetailedInfo::ID => {}
            // gzip_packed was unwrapped by `dispatch` (or answered with
            // INPUT_GZIP_INVALID there).
            _ => {
                trace!(trace, msg_id = %Hex(msg_id), "request handed to the application");
                let body = reuse_of(&mut self.reuse).pool.copy_of(body);
                let session_id = self.current_session_id().unwrap_or(0);
                self.running.get_or_insert_with(|| Box::new(BoundedIdMap::new(MAX_KEPT))).insert(msg_id, session_id);
                self.server_event(ServerEvent::Request { req_msg_id: msg_id, body });
            }
        }
    }
}

/// The salt of `key` valid at `now`, issuing the next one (from `entropy`,
/// valid for `lifetime`) when the schedule runs out within a minute.
fn current_salt_in(key: &mut KeyState, entropy: &mut dyn Entropy, lifetime: Duration, now: Duration) -> i64 {
    let t = now.as_secs() as i32;
    while key.salts.len() > 1 && key.salts.front().is_some_and(|s| s.valid_until <= t) {
        key.salts.pop_front();
    }
    if key.salts.back().is_none_or(|s| s.valid_until <= t + 60) {
        let since = key.salts.back().map_or(t, |s| s.valid_until.max(t));
        let salt = entropy.next_u64() as i64;
        key.salts.push_back(FutureSalt { valid_since: since, valid_until: since + lifetime.as_secs() as i32, salt });
    }
    key.salts.iter().find(|s| s.valid_since <= t && t < s.valid_until).or(key.salts.back()).map_or(0, |s| s.salt)
}
