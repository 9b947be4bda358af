//! Sending: the queue of outgoing messages framed into containers and
//! packets, acks that ride along, messages kept for re-sends, and the
//! bounds on both.

use super::*;

impl Connection {
    /// How far a pending request got (see [`Delivery`]).
    pub(super) fn delivery(&self, handle: RequestHandle) -> Delivery {
        let sent = self.handles.get(&handle).and_then(|id| self.sent.get(id)).filter(|s| s.out.handle == Some(handle));
        sent.map_or(Delivery::NotSent, |s| s.out.delivery())
    }

    pub(super) fn maybe_gzip(&mut self, body: Vec<u8>, no_gzip: bool) -> Vec<u8> {
        if no_gzip || body.len() < self.config.gzip_threshold {
            return body;
        }
        let pool = &mut reuse_of(&mut self.reuse).pool;
        let mut packed = pool.take_with(body.len());
        if gzip::pack_if_smaller(&body, &mut packed) {
            pool.give(body);
            packed
        } else {
            pool.give(packed);
            body
        }
    }

    /// Ends the sent request `msg_id` with the error `error` builds from
    /// what is known of its delivery (nothing happens for a message that is
    /// no pending request).
    pub(super) fn fail_sent(&mut self, msg_id: i64, error: impl FnOnce(Delivery) -> RequestError) {
        let Some(s) = self.sent.remove(&msg_id) else { return };
        let Some(handle) = s.out.handle else { return };
        let error = error(s.out.delivery());
        trace!(warn, msg_id = %Hex(msg_id), error = %error, "request failed");
        self.handles.remove(&handle);
        self.release(&s.out);
        reuse_of(&mut self.reuse).pool.give(s.out.body);
        self.client_event(ClientEvent::RequestFailed { handle, error });
    }

    /// Takes a request's bytes off `queued_bytes` (exactly what `send` added).
    pub(super) fn release(&mut self, out: &Outgoing) {
        self.queued_bytes = self.queued_bytes.saturating_sub(out.accounted);
    }

    pub(super) fn push_service(&mut self, body: Vec<u8>, content_related: bool) {
        self.queue.push_back(Outgoing::service(body, content_related, false));
    }

    pub(super) fn push_response(&mut self, body: Vec<u8>) {
        self.queue.push_back(Outgoing::service(body, true, true));
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

    pub(super) fn flush(&mut self, now: Duration, force_acks: bool) {
        let mut packets = self.prepare_flush(now, force_acks);
        if packets.is_empty() {
            reuse_of(&mut self.reuse).framed = packets;
            return;
        }
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
        for (packet, quick_ack) in packets.drain(..) {
            self.transmit(packet, quick_ack);
        }
        reuse_of(&mut self.reuse).framed = packets;
    }

    /// Everything a flush does before encryption: timers, due acks, and the
    /// queue framed into packets (unencrypted; each with its quick-ack wish).
    pub(super) fn prepare_flush(&mut self, now: Duration, force_acks: bool) -> Vec<(Vec<u8>, bool)> {
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
            trace!(trace, acks = ids.len(), "acks batched");
            self.ack_since = None;
            for chunk in ids.chunks(8192) {
                // msgs_ack written straight into a kept buffer.
                let mut body = reuse_of(&mut self.reuse).pool.take_with(16 + chunk.len() * 8);
                body.put_u32(MsgsAck::ID);
                body.put_vec_i64(chunk);
                self.queue.push_front(Outgoing::service(body, false, false));
            }
            let mut ids = ids;
            ids.clear();
            self.acks = ids;
        }
        // Frame every packet first; the caller encrypts them together, so
        // several packets (a large upload, a burst of answers) go through the
        // multi-buffer path, their AES chains interleaved.
        let mut packets = core::mem::take(&mut reuse_of(&mut self.reuse).framed);
        packets.clear();
        // Server: every link carrying the session numbers its messages from
        // the session's counters, under its lock, so two live links never
        // send one msg_id or seq_no twice. Under the same lock, answers a
        // departed link left for the session are taken to go out here at
        // once (the client may be waiting for them and send nothing).
        let shared = if self.role == Role::Server { self.current.clone() } else { None };
        let mut numbering = shared.as_deref().map(SharedSession::lock);
        if let Some(st) = numbering.as_deref_mut()
            && !st.redeliver.is_empty()
            && !st.forgotten
        {
            let bodies = st.take_redeliver();
            trace!(debug, answers = bodies.len(), "answers a departed link left, sent on this one");
            self.queue_redelivered(bodies);
        }
        if self.queue.is_empty() {
            return packets;
        }
        if let (Some(st), Some(s)) = (numbering.as_deref(), self.session.as_mut()) {
            s.clock_mut().continue_after(st.last_msg_id);
            if st.seq_count > s.seq_count() {
                s.switch_to(s.session_id(), st.seq_count);
            }
        }
        while !self.queue.is_empty() {
            match self.frame_batch(now) {
                Some(p) => packets.push(p),
                None => break,
            }
        }
        if let (Some(st), Some(s)) = (numbering.as_deref_mut(), self.session.as_ref()) {
            st.last_msg_id = st.last_msg_id.max(s.clock().last());
            st.seq_count = st.seq_count.max(s.seq_count());
        }
        drop(numbering);
        packets
    }

    /// Takes one container's worth (or one message) off the queue and frames
    /// it, unencrypted; returns the packet and whether a quick ack was asked.
    pub(super) fn frame_batch(&mut self, now: Duration) -> Option<(Vec<u8>, bool)> {
        let session = self.session.as_mut()?;
        let max_msgs = self.config.container_max_messages.clamp(1, container::MAX_MESSAGES);
        let max_bytes = self.config.container_max_bytes;
        // Take as many as fit one container; a lone or oversized message goes alone.
        let mut batch = core::mem::take(&mut reuse_of(&mut self.reuse).batch);
        batch.clear();
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
        let mut packet = reuse_of(&mut self.reuse).pool.take_with(size + 128);
        let mut sent_ids = core::mem::take(&mut reuse_of(&mut self.reuse).batch_ids);
        sent_ids.clear();
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
            let mut body = core::mem::take(&mut reuse_of(&mut self.reuse).container_body);
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
                reuse_of(&mut self.reuse).container_body = body;
            }
            self.containers.insert(container_id, InnerIds::of(sent_ids.iter().map(|(id, _)| *id)));
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
                let kept = self.quick_acks.get_or_insert_with(Box::default);
                // Tokens of packets never acknowledged are forgotten beyond a bound.
                if kept.len() >= MAX_KEPT {
                    kept.clear();
                }
                kept.insert(token, asked);
            }
        }
        let current_session = session.session_id();
        for (mut o, (msg_id, seq_no)) in batch.drain(..).zip(sent_ids.drain(..)) {
            o.on_wire = true;
            if let Some(h) = o.handle {
                self.handles.insert(h, msg_id);
            }
            if o.content_related {
                self.sent.insert(msg_id, Sent { out: o, sent_at: now, seq_no, session_id: current_session });
                self.sent_order.push_back(msg_id);
            } else {
                reuse_of(&mut self.reuse).pool.give(o.body);
            }
        }
        reuse_of(&mut self.reuse).batch = batch;
        reuse_of(&mut self.reuse).batch_ids = sent_ids;
        self.trim_sent();
        Some((packet, quick_ack))
    }

    /// Bounds what is kept for re-sending: pending requests stay (they are
    /// bounded by `max_queued_bytes`); other kept messages are dropped oldest first.
    pub(super) fn trim_sent(&mut self) {
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
    pub(super) fn resend_bounded(&mut self, ids: &[i64]) {
        let mut left = self.resend_left;
        for id in ids.iter().take(container::MAX_MESSAGES) {
            let size = match self.containers.get(id) {
                Some(inner) => inner.as_slice().iter().filter_map(|i| self.sent.get(i)).map(|s| s.out.body.len()).sum(),
                None => self.sent.get(id).map_or(0, |s| s.out.body.len()),
            };
            if size > left {
                trace!(warn, bytes = size, left, "msg_resend_req over the re-send budget: not re-sent");
                self.resend_bytes_refused += size as u64;
                continue;
            }
            left -= size;
            self.requeue(*id, false);
        }
        self.resend_left = left;
    }

    /// Moves a sent message (or a container's messages) back to the queue, to
    /// go out again with a new msg_id. Returns how many were re-queued.
    pub(super) fn requeue(&mut self, msg_id: i64, alone: bool) -> usize {
        let ids = self.containers.remove(&msg_id).unwrap_or_else(|| InnerIds::one(msg_id));
        let ids = ids.as_slice();
        trace!(debug, msg_id = %Hex(msg_id), messages = ids.len(), "sent again under new msg_ids");
        let mut n = 0;
        for &id in ids.iter().rev() {
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
}
