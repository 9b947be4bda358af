//! What real clients send that Telegram's servers accept (#13): service
//! messages inside gzip_packed, pings and acks with either seq_no parity,
//! zlib instead of gzip inside gzip_packed; and the client asking for
//! future salts once, however many bad_server_salt arrive.
#![allow(clippy::unwrap_used, missing_docs)]

use mtproto_core::tl::schema::{self, BadMsgNotification, BadServerSalt, GetFutureSalts, MsgsAck, Ping, Pong};
use mtproto_core::tl::{Deserialize, Serialize, Writer};
use mtproto_core::{ClientEvent, Input, ServerEvent, connection::SendOptions};
use mtproto_crypto::Direction;
use mtproto_tests::peer::{self, FakeClient, FakeServer, NOW, Received, constructor, drain, open};

fn messages(packets: &[Vec<u8>], dir: Direction) -> Vec<Received> {
    packets.iter().flat_map(|p| open(p, dir)).collect()
}

fn requests(events: &[ServerEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| if let ServerEvent::Request { body, .. } = e { Some(body.clone()) } else { None })
        .collect()
}

/// `gzip_packed` around a gzip stream of exactly `body` (however small).
fn gzip_packed(body: &[u8]) -> Vec<u8> {
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    gz.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(body, 6));
    gz.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    gz.extend_from_slice(&(body.len() as u32).to_le_bytes());
    let mut packed = Vec::new();
    packed.put_u32(schema::GZIP_PACKED);
    packed.put_bytes(&gz);
    packed
}

/// `gzip_packed` around a zlib stream (RFC 1950), as ferogram and others send.
fn zlib_packed(body: &[u8]) -> Vec<u8> {
    let mut packed = Vec::new();
    packed.put_u32(schema::GZIP_PACKED);
    packed.put_bytes(&miniz_oxide::deflate::compress_to_vec_zlib(body, 6));
    packed
}

fn ready_server() -> (mtproto_core::ServerConnection, FakeClient) {
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0xfa);
    c.learn_salt(&mut server, NOW);
    (server, c)
}

#[test]
fn service_messages_inside_gzip_are_answered_not_passed_on() {
    for packed in [gzip_packed(&Ping { ping_id: 77 }.to_bytes()), zlib_packed(&Ping { ping_id: 77 }.to_bytes())] {
        let (mut server, mut c) = ready_server();
        let mut p = c.packet(&packed, true, NOW);
        server.handle_input(Input::Packet(&mut p), NOW);
        let (out, events) = drain(&mut server, NOW);
        assert!(requests(&events).is_empty(), "a wrapped ping is no request: {events:?}");
        let pong = messages(&out, Direction::ServerToClient).into_iter().find(|m| constructor(&m.body) == Pong::ID);
        assert_eq!(Pong::from_bytes(&pong.unwrap().body).unwrap().ping_id, 77);
    }
}

#[test]
fn zlib_inside_gzip_packed_is_inflated_and_a_broken_stream_is_answered() {
    let (mut server, mut c) = ready_server();
    let request = [0x1234_5678u32.to_le_bytes().to_vec(), vec![b'z'; 2000]].concat();
    let mut p = c.packet(&zlib_packed(&request), true, NOW);
    server.handle_input(Input::Packet(&mut p), NOW);
    assert_eq!(requests(&drain(&mut server, NOW).1), vec![request]);
    // A stream that does not inflate: acknowledged, so answered with an error.
    let mut broken = Vec::new();
    broken.put_u32(schema::GZIP_PACKED);
    broken.put_bytes(&[0x78, 0x9c, 1, 2, 3, 4, 5, 6]);
    let mut p = c.packet(&broken, true, NOW);
    server.handle_input(Input::Packet(&mut p), NOW);
    let (out, events) = drain(&mut server, NOW);
    assert!(requests(&events).is_empty());
    let answer =
        messages(&out, Direction::ServerToClient).into_iter().find(|m| constructor(&m.body) == schema::RPC_RESULT);
    let err = schema::RpcError::from_bytes(&answer.unwrap().body[12..]).unwrap();
    assert_eq!((err.error_code, err.error_message.as_str()), (400, "INPUT_GZIP_INVALID"));
}

#[test]
fn pings_and_acks_are_accepted_with_either_seq_no_parity() {
    let (mut server, mut c) = ready_server();
    let ping_even = c.session.next_msg_id(NOW, false);
    let mut p = c.packet_with(ping_even, 4, &Ping { ping_id: 5 }.to_bytes()); // Pyrogram: even
    server.handle_input(Input::Packet(&mut p), NOW);
    let ack_odd = c.session.next_msg_id(NOW, false);
    let mut p = c.packet_with(ack_odd, 7, &MsgsAck { msg_ids: vec![4] }.to_bytes()); // odd ack
    server.handle_input(Input::Packet(&mut p), NOW);
    let request_even = c.session.next_msg_id(NOW, false);
    let mut p = c.packet_with(request_even, 8, &[0x1234_5678u32.to_le_bytes(), [0; 4]].concat());
    server.handle_input(Input::Packet(&mut p), NOW);
    let (out, events) = drain(&mut server, NOW);
    let sent = messages(&out, Direction::ServerToClient);
    assert!(sent.iter().any(|m| constructor(&m.body) == Pong::ID), "the even ping is answered");
    let codes: Vec<(i64, i32)> = sent
        .iter()
        .filter(|m| constructor(&m.body) == BadMsgNotification::ID)
        .map(|m| BadMsgNotification::from_bytes(&m.body).unwrap())
        .map(|n| (n.bad_msg_id, n.error_code))
        .collect();
    assert_eq!(codes, vec![(request_even, 35)], "only the content-related request with an even seq_no");
    assert!(requests(&events).is_empty());
}

#[test]
fn client_asks_for_future_salts_once_however_many_bad_salts_arrive() {
    let mut client = peer::client(7, |_| {});
    let mut srv = FakeServer::new(client.session_id().unwrap(), 7);
    client.send(vec![1, 2, 3, 4], SendOptions::default());
    let mut asked = 0;
    let mut outgoing = drain(&mut client, NOW).0;
    for round in 0..3 {
        let sent = messages(&outgoing, Direction::ClientToServer);
        asked += sent.iter().filter(|m| constructor(&m.body) == GetFutureSalts::ID).count();
        let req = sent.iter().find(|m| m.body == vec![1, 2, 3, 4]).unwrap();
        let bad =
            BadServerSalt { bad_msg_id: req.msg_id, bad_msg_seqno: req.seq_no, error_code: 48, new_server_salt: round };
        let mut p = srv.packet(&bad.to_bytes(), false, NOW);
        client.handle_input(Input::Packet(&mut p), NOW);
        outgoing = drain(&mut client, NOW).0;
    }
    asked += messages(&outgoing, Direction::ClientToServer)
        .iter()
        .filter(|m| constructor(&m.body) == GetFutureSalts::ID)
        .count();
    assert_eq!(asked, 1, "one get_future_salts while one is pending");
}

/// Transport error codes get a policy (#13, item 5): -404 and -444 end the
/// connection with a typed reason (pending requests failing with their
/// delivery state), -429 drops only the link, with a doubling backoff hint.
#[test]
fn transport_error_codes_have_a_policy() {
    use core::time::Duration;
    use mtproto_core::connection::{CloseReason, LinkLoss, TransportFailure, Transporting};
    use mtproto_core::transport::TransportKind;
    let framed = |c: &mut mtproto_core::ClientOptions| {
        c.session.transport = Transporting::Framed(TransportKind::Intermediate, None)
    };
    let code = |c: i32| [4u32.to_le_bytes(), c.to_le_bytes()].concat();
    for (c, expected) in
        [(-404, TransportFailure::AuthKeyUnknown { temporary: false }), (-444, TransportFailure::BadDcId)]
    {
        let mut client = peer::client(7, framed);
        let h = client.send(vec![1, 2, 3, 4], SendOptions::default());
        drain(&mut client, NOW);
        client.handle_input(Input::Bytes(&code(c)), NOW);
        let (_, events) = drain(&mut client, NOW);
        assert!(
            events.iter().any(|e| matches!(e, ClientEvent::TransportError { failure, .. } if *failure == expected))
        );
        assert!(
            events.iter().any(
                |e| matches!(e, ClientEvent::Closed { reason: CloseReason::TransportFailure(f) } if *f == expected)
            )
        );
        assert!(events.iter().any(|e| matches!(e, ClientEvent::RequestFailed { handle, .. } if *handle == h)));
    }
    let mut client = peer::client(7, framed);
    client.send(vec![1, 2, 3, 4], SendOptions::default());
    drain(&mut client, NOW);
    for expected in [1, 2, 4] {
        client.handle_input(Input::Bytes(&code(-429)), NOW);
        let (_, events) = drain(&mut client, NOW);
        let hint = events.iter().find_map(|e| match e {
            ClientEvent::LinkLost { cause: LinkLoss::Flood { retry_after } } => Some(*retry_after),
            _ => None,
        });
        assert_eq!(hint, Some(Duration::from_secs(expected)), "{events:?}");
        assert!(!client.is_closed() && client.pending_requests() == 1, "the session and the request stay");
        client.attach_link(NOW);
        drain(&mut client, NOW);
    }
    assert_eq!(TransportFailure::from_code(-404, true), TransportFailure::AuthKeyUnknown { temporary: true });
    assert!(TransportFailure::AuthKeyUnknown { temporary: true }.to_string().contains("new handshake"));
}

/// A body that is no TL object (not whole 4-byte words) is refused at
/// `send` with a typed error; it used to go out, be dropped by the server
/// as unparseable and never be answered.
#[test]
fn a_body_that_is_no_tl_object_is_refused_at_send() {
    use mtproto_core::connection::RequestError;
    let mut client = peer::client(7, |_| {});
    let bad = client.send(vec![1, 2, 3, 4, 5], Default::default());
    let good = client.send(vec![1, 2, 3, 4], Default::default());
    let (packets, events) = drain(&mut client, NOW);
    let failed: Vec<_> = events
        .iter()
        .filter_map(
            |e| if let ClientEvent::RequestFailed { handle, error } = e { Some((*handle, *error)) } else { None },
        )
        .collect();
    assert_eq!(failed, vec![(bad, RequestError::NotTl { len: 5 })]);
    assert!(!failed.iter().any(|(h, _)| *h == good));
    assert!(!packets.is_empty(), "the good one goes out");
}
