//! Regression tests for the security review of 77edec2 (docs/security.md,
//! "Findings of the 2026 review"): each fails on that commit.
#![allow(clippy::unwrap_used, missing_docs)]

use core::time::Duration;
use mtproto_core::connection::{ClientConnection, ClientOptions, SendOptions, ServerConnection};
use mtproto_core::message::container::ContainerBuilder;
use mtproto_core::tl::Deserialize;
use mtproto_core::tl::Serialize;
use mtproto_core::tl::schema::{
    self, BadMsgNotification, FutureSalt, FutureSalts, MsgDetailedInfo, MsgResendReq, MsgsAck, MsgsStateInfo, Ping,
    Pong, RpcAnswerDropped, RpcDropAnswer,
};
use mtproto_core::{ClientEvent, Input, ServerEvent};
use mtproto_crypto::Direction;
use mtproto_tests::peer::{self, FakeClient, FakeServer, NOW, constructor, drain, open};
use proptest::prelude::*;

fn requests(events: &[ServerEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| if let ServerEvent::Request { body, .. } = e { Some(body.clone()) } else { None })
        .collect()
}

fn api(tag: u32) -> Vec<u8> {
    // An opaque API request: an unknown constructor and a tag.
    [0x1234_5678u32.to_le_bytes(), tag.to_le_bytes()].concat()
}

/// Finding 2: an old packet of another session followed by a repeat of a
/// live one must not make the server run the live request again.
#[test]
fn replay_across_a_session_switch_runs_nothing_twice() {
    let mut server = peer::server(|_| {});
    let mut one = FakeClient::new(0x1111);
    one.learn_salt(&mut server, NOW);
    let mut two = FakeClient::new(0x2222);
    two.session.set_salt(one.session.salt());
    let p1 = one.packet(&api(1), true, NOW);
    let p2 = two.packet(&api(2), true, NOW);
    let mut seen = Vec::new();
    for p in [&p1, &p2, &p1, &p2, &p1] {
        server.handle_input(Input::Packet(&mut p.clone()), NOW);
        seen.extend(requests(&drain(&mut server, NOW).1));
    }
    assert_eq!(seen, vec![api(1), api(2)], "each request exactly once");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Any interleaving, duplication and replay of the captured packets of
    /// several sessions of one key executes each request at most once.
    #[test]
    fn captured_packets_of_many_sessions_execute_at_most_once(order in prop::collection::vec(0usize..12, 1..60)) {
        let mut server = peer::server(|_| {});
        let mut first = FakeClient::new(0x100);
        first.learn_salt(&mut server, NOW);
        let salt = first.session.salt();
        let mut captured = Vec::new();
        for s in 0..4u32 {
            let mut c = FakeClient::new(0x200 + i64::from(s));
            c.session.set_salt(salt);
            for r in 0..3u32 {
                captured.push(c.packet(&api(s * 10 + r), true, NOW + Duration::from_millis(u64::from(s * 3 + r))));
            }
        }
        let mut seen = Vec::new();
        for i in order {
            server.handle_input(Input::Packet(&mut captured[i].clone()), NOW + Duration::from_secs(1));
            seen.extend(requests(&drain(&mut server, NOW + Duration::from_secs(1)).1));
        }
        let mut dedup = seen.clone();
        dedup.sort();
        dedup.dedup();
        prop_assert_eq!(dedup.len(), seen.len(), "a request ran twice: {:?}", seen);
    }
}

/// Finding 4: a known auth_key_id with garbage behind it starts nothing: no
/// Ready, -404 and close (as for an unknown key).
#[test]
fn a_known_key_id_without_a_valid_msg_key_starts_no_session() {
    use mtproto_core::connection::Transporting;
    use mtproto_core::transport::TransportKind;
    let mut server = peer::server(|c| c.session.transport = Transporting::Framed(TransportKind::Intermediate, None));
    let mut packet = mtproto_tests::shared_key().id_bytes().to_vec();
    packet.extend((0..64u8).map(|i| i.wrapping_mul(37)));
    let framed = [&[0xee; 4][..], &(packet.len() as u32).to_le_bytes(), &packet].concat();
    server.handle_input(Input::Bytes(&framed), NOW);
    let (out, events) = drain(&mut server, NOW);
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Ready { .. })), "{events:?}");
    assert!(server.is_closed(), "closed like an unknown key");
    assert_eq!(out.concat(), [4u32.to_le_bytes(), (-404i32).to_le_bytes()].concat(), "-404 sent");
}

/// Finding 4: an authenticated session that goes quiet is closed at the
/// server's idle deadline (default 5 minutes).
#[test]
fn a_quiet_client_is_closed_at_the_idle_deadline() {
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0x42);
    c.learn_salt(&mut server, NOW);
    server.handle_input(Input::Timeout, NOW + Duration::from_secs(299));
    drain(&mut server, NOW + Duration::from_secs(299));
    assert!(!server.is_closed());
    server.handle_input(Input::Timeout, NOW + Duration::from_secs(301));
    drain(&mut server, NOW + Duration::from_secs(301));
    assert!(server.is_closed(), "idle for more than 5 minutes");
}

/// Finding 5: `queued_bytes` returns to zero after compressible traffic.
#[test]
fn queued_bytes_do_not_leak_with_gzip() {
    let mut client = peer::client(7, |c| c.max_queued_bytes = 1 << 20);
    let mut srv = FakeServer::new(client.session_id().unwrap(), 7);
    for i in 0..100u32 {
        let body = [api(i), vec![b'a'; 64 << 10]].concat();
        let h = client.send(body, SendOptions::default());
        let (packets, events) = drain(&mut client, NOW);
        assert!(!events.iter().any(|e| matches!(e, ClientEvent::RequestFailed { .. })), "request {i}: {events:?}");
        let req = packets
            .iter()
            .flat_map(|p| open(p, Direction::ClientToServer))
            .find(|m| constructor(&m.body) == schema::GZIP_PACKED)
            .unwrap();
        let mut answer = srv.rpc_result(req.msg_id, &api(i), NOW);
        client.handle_input(Input::Packet(&mut answer), NOW);
        let (_, events) = drain(&mut client, NOW);
        assert!(
            events.iter().any(|e| matches!(e, ClientEvent::RpcResult { handle, .. } if *handle == h)),
            "{i}: {events:?}"
        );
    }
    assert_eq!(client.stats().queued_bytes, 0);
}

/// Sends one request from a fresh client and returns (client, fake server, the request's msg_id, handle).
fn one_request() -> (ClientConnection, FakeServer, i64, mtproto_core::RequestHandle) {
    let mut client = peer::client(7, |_| {});
    let srv = FakeServer::new(client.session_id().unwrap(), 7);
    let h = client.send(api(9), SendOptions::default());
    let (packets, _) = drain(&mut client, NOW);
    let req = packets.iter().flat_map(|p| open(p, Direction::ClientToServer)).find(|m| m.body == api(9)).unwrap();
    (client, srv, req.msg_id, h)
}

/// Finding 6: service messages that name a request's msg_id leave it pending,
/// so its real answer still resolves it.
#[test]
fn service_messages_naming_a_request_leave_it_pending() {
    type Naming = (&'static str, fn(i64) -> Vec<u8>);
    let naming: [Naming; 4] = [
        ("msg_detailed_info", |id| MsgDetailedInfo { msg_id: id, answer_msg_id: 0x77, bytes: 8, status: 0 }.to_bytes()),
        ("pong", |id| Pong { msg_id: id, ping_id: 5 }.to_bytes()),
        ("future_salts", |id| {
            FutureSalts {
                req_msg_id: id,
                now: 0,
                salts: vec![FutureSalt { valid_since: 0, valid_until: i32::MAX, salt: 7 }],
            }
            .to_bytes()
        }),
        ("msgs_state_info", |id| MsgsStateInfo { req_msg_id: id, info: vec![4] }.to_bytes()),
    ];
    for (name, body) in naming {
        let (mut client, mut srv, req, h) = one_request();
        let mut p = srv.packet(&body(req), true, NOW);
        client.handle_input(Input::Packet(&mut p), NOW);
        drain(&mut client, NOW);
        assert_eq!(client.pending_requests(), 1, "{name} resolved or dropped the request");
        let mut answer = srv.rpc_result(req, &api(10), NOW);
        client.handle_input(Input::Packet(&mut answer), NOW);
        let (_, events) = drain(&mut client, NOW);
        assert!(
            events.iter().any(|e| matches!(e, ClientEvent::RpcResult { handle, .. } if *handle == h)),
            "{name}: the real answer was ignored: {events:?}"
        );
    }
}

/// Finding 7d: inner messages of a container get the top-level checks.
#[test]
fn container_inner_messages_are_checked_like_top_level_ones() {
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0x55);
    c.learn_salt(&mut server, NOW);
    let old = ((NOW.as_secs() as i64 - 3600) << 32) & !3;
    let even_seq = c.session.next_msg_id(NOW, false);
    let mut body = Vec::new();
    let mut b = ContainerBuilder::new(&mut body, 10, usize::MAX);
    b.push(old, 1, &api(1)); // an hour old
    b.push(even_seq, 4, &api(3)); // content-related with an even seq_no
    b.finish();
    let container_id = c.session.next_msg_id(NOW, false);
    let mut p = c.packet_with(container_id, 6, &body);
    server.handle_input(Input::Packet(&mut p), NOW);
    let (out, events) = drain(&mut server, NOW);
    assert_eq!(requests(&events), Vec::<Vec<u8>>::new(), "neither may run");
    let codes: Vec<i32> = out
        .iter()
        .flat_map(|p| open(p, Direction::ServerToClient))
        .filter(|m| constructor(&m.body) == BadMsgNotification::ID)
        .map(|m| BadMsgNotification::from_bytes(&m.body).unwrap().error_code)
        .collect();
    assert_eq!(codes, vec![16, 35]);
}

/// Server: answers `n` requests of `size` bytes each and returns the answers' msg_ids.
fn answered(server: &mut ServerConnection, c: &mut FakeClient, n: u32, size: usize) -> Vec<(i64, i64, i32)> {
    let mut got = Vec::new();
    for i in 0..n {
        let mut p = c.packet(&api(100 + i), true, NOW);
        server.handle_input(Input::Packet(&mut p), NOW);
        let (_, events) = drain(server, NOW);
        for e in events {
            if let ServerEvent::Request { req_msg_id, .. } = e {
                server.respond(req_msg_id, &vec![0x5a; size]);
            }
        }
        let (packets, _) = drain(server, NOW);
        for m in packets.iter().flat_map(|p| open(p, Direction::ServerToClient)) {
            if constructor(&m.body) == schema::RPC_RESULT {
                let req = i64::from_le_bytes(m.body[4..12].try_into().unwrap());
                got.push((req, m.msg_id, m.seq_no));
            }
        }
    }
    got
}

/// Finding 7e: one msg_resend_req re-sends at most 1 MiB of kept answers.
#[test]
fn one_resend_request_re_sends_a_bounded_amount() {
    let mut server = peer::server(|c| c.session.gzip_threshold = usize::MAX);
    let mut c = FakeClient::new(0x66);
    c.learn_salt(&mut server, NOW);
    let answers = answered(&mut server, &mut c, 40, 100 << 10);
    assert_eq!(answers.len(), 40);
    let ids: Vec<i64> = answers.iter().map(|a| a.1).collect();
    let mut p = c.packet(&MsgResendReq { msg_ids: ids }.to_bytes(), true, NOW);
    server.handle_input(Input::Packet(&mut p), NOW);
    let (packets, _) = drain(&mut server, NOW);
    let resent: usize = packets.iter().map(Vec::len).sum();
    assert!(resent <= (1 << 20) + (64 << 10), "one msg_resend_req made us send {resent} bytes");
    assert!(resent >= 512 << 10, "answers within the cap are re-sent ({resent} bytes)");
    assert!(server.stats().resend_bytes_refused > 0);
}

/// Finding 7f: rpc_drop_answer finds the answer by the request's msg_id and
/// names the answer's own msg_id and seq_no.
#[test]
fn rpc_drop_answer_names_the_dropped_answer() {
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0x77);
    c.learn_salt(&mut server, NOW);
    let answers = answered(&mut server, &mut c, 1, 64);
    let (req, answer_id, answer_seq) = answers[0];
    let mut p = c.packet(&RpcDropAnswer { req_msg_id: req }.to_bytes(), true, NOW);
    server.handle_input(Input::Packet(&mut p), NOW);
    let (packets, _) = drain(&mut server, NOW);
    let result = packets
        .iter()
        .flat_map(|p| open(p, Direction::ServerToClient))
        .find(|m| constructor(&m.body) == schema::RPC_RESULT)
        .unwrap();
    let dropped = RpcAnswerDropped::from_bytes(&result.body[12..]).unwrap();
    assert_eq!((dropped.msg_id, dropped.seq_no), (answer_id, answer_seq));
    assert!(dropped.bytes > 64);
}

/// Acks and pings are handled by the session, never passed on as requests.
#[test]
fn acks_and_pings_are_answered_not_passed_on() {
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0x88);
    c.learn_salt(&mut server, NOW);
    let mut p = c.packet(&MsgsAck { msg_ids: vec![1] }.to_bytes(), false, NOW);
    server.handle_input(Input::Packet(&mut p), NOW);
    let mut p = c.packet(&Ping { ping_id: 3 }.to_bytes(), true, NOW);
    server.handle_input(Input::Packet(&mut p), NOW);
    let (packets, events) = drain(&mut server, NOW);
    assert!(requests(&events).is_empty());
    assert!(packets.iter().flat_map(|p| open(p, Direction::ServerToClient)).any(|m| constructor(&m.body) == Pong::ID));
}

/// Finding 1: the handshake's secrets come from a child generator seeded
/// with 384 bits of the parent, not from `SeededEntropy::new(parent.next_u64())`.
#[test]
fn handshake_nonce_is_not_a_function_of_one_u64_of_the_parent() {
    use mtproto_core::connection::Transporting;
    use mtproto_core::handshake::ClientConfig;
    use mtproto_core::tl::schema::ReqPqMulti;
    use mtproto_crypto::{Entropy, SeededEntropy};
    let mut cfg = ClientOptions::new(ClientConfig::new(vec![mtproto_tests::server_rsa_key().public_key().clone()], 2));
    cfg.session.transport = Transporting::Unframed;
    let mut client = ClientConnection::with_entropy(cfg, NOW, Box::new(SeededEntropy::new(5)));
    let (packets, _) = drain(&mut client, NOW);
    let plain = mtproto_core::message::unpack_plain(&packets[0]).unwrap();
    let nonce = ReqPqMulti::from_bytes(plain.body).unwrap().nonce;
    // What the old code derived: a child seeded with one of the parent's u64s.
    let mut parent = SeededEntropy::new(5);
    for _ in 0..4 {
        let s = parent.next_u64();
        let derived: [u8; 16] = SeededEntropy::new(s).array();
        assert_ne!(nonce, derived, "the nonce is a function of the 64-bit seed {s:#x}");
    }
}

/// Review of the fix (problem 1): a message refused unprocessed (here: its
/// msg_id too far in the future) never runs later, when replayed once its
/// time is right; the client's re-send under a new msg_id does.
#[test]
fn a_refused_message_replayed_later_does_not_run() {
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0x90);
    c.learn_salt(&mut server, NOW);
    let ahead = NOW + Duration::from_secs(40);
    let early = c.packet(&api(1), true, ahead);
    server.handle_input(Input::Packet(&mut early.clone()), NOW);
    assert!(requests(&drain(&mut server, NOW).1).is_empty(), "17: msg_id too high");
    let later = NOW + Duration::from_secs(45);
    let mut resent = c.packet(&api(1), true, later);
    server.handle_input(Input::Packet(&mut resent), later);
    server.handle_input(Input::Packet(&mut early.clone()), later);
    assert_eq!(requests(&drain(&mut server, later).1), vec![api(1)], "the re-send runs, the replay does not");
}

/// Review of the fix (problem 2): a replayed packet of another session
/// that fails a check does not make the server switch to that session, so
/// the live session's answers keep their session id.
#[test]
fn a_failing_packet_of_another_session_does_not_switch_sessions() {
    let mut server = peer::server(|_| {});
    let mut live = FakeClient::new(0xa1);
    live.learn_salt(&mut server, NOW);
    let mut old = FakeClient::new(0xa2);
    old.session.set_salt(live.session.salt());
    // Captured long ago: now outside the time window.
    let stale = old.packet(&api(7), true, NOW - Duration::from_secs(400));
    let mut p = live.packet(&api(1), true, NOW);
    server.handle_input(Input::Packet(&mut p), NOW);
    server.handle_input(Input::Packet(&mut stale.clone()), NOW);
    let (out, events) = drain(&mut server, NOW);
    assert_eq!(requests(&events), vec![api(1)]);
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::NewSession { session_id } if *session_id == 0xa2)));
    let answers: Vec<_> = out
        .iter()
        .flat_map(|p| open(p, Direction::ServerToClient))
        .filter(|m| constructor(&m.body) == schema::RPC_RESULT || constructor(&m.body) == Pong::ID)
        .collect();
    assert!(answers.iter().all(|m| m.session_id == 0xa1), "{answers:?}");
    // The refusal went to the stale session, sealed under its id.
    let refusals: Vec<_> = out
        .iter()
        .flat_map(|p| open(p, Direction::ServerToClient))
        .filter(|m| constructor(&m.body) == BadMsgNotification::ID)
        .collect();
    assert!(refusals.iter().all(|m| m.session_id == 0xa2) && !refusals.is_empty());
}

/// Review of the fix (problem 3): refused replays do not keep a
/// connection alive past the idle deadline.
#[test]
fn refused_replays_do_not_move_the_idle_deadline() {
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0xb1);
    c.learn_salt(&mut server, NOW);
    // The same session, captured long ago (its own clock, 400 s back).
    let mut then = FakeClient::new(0xb1);
    then.session.set_salt(c.session.salt());
    let stale = then.packet(&api(1), true, NOW - Duration::from_secs(400));
    for minute in 1..=6u64 {
        let t = NOW + Duration::from_secs(minute * 55);
        server.handle_input(Input::Packet(&mut stale.clone()), t);
        server.handle_input(Input::Timeout, t);
        drain(&mut server, t);
    }
    assert!(server.is_closed(), "closed at the idle deadline despite the replays");
}

/// Review of the fix (problem 5): the re-send budget is per input, so a
/// container of many msg_resend_req does not multiply it.
#[test]
fn resend_budget_is_per_input() {
    let mut server = peer::server(|c| c.session.gzip_threshold = usize::MAX);
    let mut c = FakeClient::new(0xc1);
    c.learn_salt(&mut server, NOW);
    let answers = answered(&mut server, &mut c, 30, 100 << 10);
    let mut body = Vec::new();
    let mut b = ContainerBuilder::new(&mut body, 100, usize::MAX);
    for chunk in answers.chunks(3) {
        let ids = chunk.iter().map(|a| a.1).collect();
        b.push(c.session.next_msg_id(NOW, false), 1, &MsgResendReq { msg_ids: ids }.to_bytes());
    }
    b.finish();
    let id = c.session.next_msg_id(NOW, false);
    let mut p = c.packet_with(id, 2, &body);
    server.handle_input(Input::Packet(&mut p), NOW);
    let (packets, _) = drain(&mut server, NOW);
    let resent: usize = packets.iter().map(Vec::len).sum();
    assert!(resent <= (1 << 20) + (64 << 10), "one input made us re-send {resent} bytes");
}

/// Review of the fix (problem 7): rpc_drop_answer for a request still
/// running answers rpc_answer_dropped_running, and its answer is never sent.
#[test]
fn dropping_a_running_request_discards_its_answer() {
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0xd1);
    c.learn_salt(&mut server, NOW);
    let mut p = c.packet(&api(5), true, NOW);
    server.handle_input(Input::Packet(&mut p), NOW);
    let req = drain(&mut server, NOW)
        .1
        .into_iter()
        .find_map(|e| if let ServerEvent::Request { req_msg_id, .. } = e { Some(req_msg_id) } else { None })
        .unwrap();
    let mut p = c.packet(&RpcDropAnswer { req_msg_id: req }.to_bytes(), true, NOW);
    server.handle_input(Input::Packet(&mut p), NOW);
    server.respond(req, &api(6));
    let (packets, _) = drain(&mut server, NOW);
    let results: Vec<Vec<u8>> = packets
        .iter()
        .flat_map(|p| open(p, Direction::ServerToClient))
        .filter(|m| constructor(&m.body) == schema::RPC_RESULT)
        .map(|m| m.body[12..].to_vec())
        .collect();
    assert_eq!(results, vec![schema::RPC_ANSWER_DROPPED_RUNNING.to_le_bytes().to_vec()]);
}
