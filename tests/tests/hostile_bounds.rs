//! "Bounds under a hostile peer" (docs/security.md): the most heap one
//! packet and one connection of an authenticated but hostile peer make us
//! hold, in each role, measured with a counting allocator. The figures are
//! printed (`cargo test --test hostile_bounds -- --nocapture`) and bounded
//! here; CPU time per packet is printed, never asserted.
#![allow(clippy::unwrap_used, missing_docs)]

use core::time::Duration;
use mtproto_core::Input;
use mtproto_core::connection::ServerConnection;
use mtproto_core::message::container::{self, ContainerBuilder};
use mtproto_core::tl::Serialize;
use mtproto_core::tl::schema::{MsgResendReq, MsgsStateReq, Ping};
use mtproto_tests::heap::{SERIAL, live, peak_during as measure};
use mtproto_tests::peer::{self, FakeClient, FakeServer, NOW, drain};

#[global_allocator]
static GLOBAL: mtproto_tests::heap::Counting = mtproto_tests::heap::Counting;

/// A container of 1020 copies of `body` under fresh msg_ids.
fn full_container(next: &mut dyn FnMut() -> i64, body: &[u8]) -> Vec<u8> {
    let mut c = Vec::new();
    let mut b = ContainerBuilder::new(&mut c, container::MAX_MESSAGES, usize::MAX);
    while b.len() < container::MAX_MESSAGES && b.push(next(), 1, body) {}
    b.finish();
    c
}

#[test]
fn server_bounds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0x1);
    c.learn_salt(&mut server, NOW);
    // One packet: a full container of requests of 1 KiB (about 1 MiB); every
    // one becomes an ServerEvent::Request (the application's to answer).
    let body = [0x1234_5678u32.to_le_bytes().to_vec(), vec![7; 1020]].concat();
    let b = full_container(&mut || c.session.next_msg_id(NOW, false), &body);
    let id = c.session.next_msg_id(NOW, false);
    let mut p = c.packet_with(id, 2, &b);
    let (peak, t) = measure(|| {
        server.handle_input(Input::Packet(&mut p), NOW);
        drain(&mut server, NOW);
    });
    eprintln!("server, one 1 MiB packet of 1020 requests: peak heap {} KiB, {:?}", peak >> 10, t);
    assert!(peak < 4 << 20);
    // One connection: a hostile client cycles through 20 sessions with 3000
    // pings each, asks for the state of 8192 ids and the re-sending of
    // everything, and acknowledges nothing. What the connection keeps stays
    // bounded by its windows and caps.
    let before = live();
    let (peak, t) = measure(|| {
        for s in 0..20i64 {
            let mut c = FakeClient::new(0x100 + s);
            c.session.set_salt(c_salt(&mut server));
            for i in 0..3000 {
                let mut p = c.packet(&Ping { ping_id: i }.to_bytes(), true, NOW + Duration::from_millis(s as u64));
                server.handle_input(Input::Packet(&mut p), NOW);
                drain(&mut server, NOW);
            }
            let ids: Vec<i64> = (0..8192).map(|i| (NOW.as_secs() as i64) << 32 | i << 2).collect();
            let mut p = c.packet(&MsgsStateReq { msg_ids: ids.clone() }.to_bytes(), true, NOW);
            server.handle_input(Input::Packet(&mut p), NOW);
            let mut p = c.packet(&MsgResendReq { msg_ids: ids }.to_bytes(), true, NOW);
            server.handle_input(Input::Packet(&mut p), NOW);
            drain(&mut server, NOW);
        }
    });
    let kept = live().saturating_sub(before);
    let stats = server.stats();
    eprintln!(
        "server, one connection after 60,000 pings in 20 sessions: keeps {} KiB (peak {} KiB), {} sessions remembered, \
         {} kept messages, {:?}",
        kept >> 10,
        peak >> 10,
        stats.sessions_remembered,
        stats.awaiting_ack_or_answer,
        t
    );
    assert!(stats.sessions_remembered <= 8);
    assert!(kept < 8 << 20, "kept {kept} bytes");
}

/// The salt a server currently wants (learned by a throwaway client).
fn c_salt(server: &mut ServerConnection) -> i64 {
    let mut probe = FakeClient::new(0x7777_0000);
    probe.learn_salt(server, NOW);
    probe.session.salt()
}

#[test]
fn client_bounds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut client = peer::client(7, |_| {});
    let mut srv = FakeServer::new(client.session_id().unwrap(), 7);
    // One packet: a full container of 1 KiB updates.
    let body = [0x1234_5678u32.to_le_bytes().to_vec(), vec![7; 1020]].concat();
    let b = full_container(&mut || srv.session.next_msg_id(NOW, false), &body);
    let mut p = srv.packet(&b, false, NOW);
    let (peak, t) = measure(|| {
        client.handle_input(Input::Packet(&mut p), NOW);
        drain(&mut client, NOW);
    });
    eprintln!("client, one 1 MiB packet of 1020 updates: peak heap {} KiB, {:?}", peak >> 10, t);
    assert!(peak < 4 << 20);
    // One connection: 100,000 small updates, each content-related (acks owed).
    let before = live();
    let (peak, t) = measure(|| {
        for i in 0..100_000u32 {
            let mut p = srv.packet(&[0x1234_5678u32.to_le_bytes(), i.to_le_bytes()].concat(), true, NOW);
            client.handle_input(Input::Packet(&mut p), NOW);
            drain(&mut client, NOW);
        }
    });
    let kept = live().saturating_sub(before);
    eprintln!(
        "client, one connection after 100,000 updates: keeps {} KiB (peak {} KiB), replay window {}, {:?}",
        kept >> 10,
        peak >> 10,
        client.stats().replay_window,
        t
    );
    assert!(kept < 2 << 20, "kept {kept} bytes");
}

/// HTTP (#14): heads announcing the largest body, or bodies of 4 GiB, and a
/// head trickled a byte at a time make the codecs hold what arrived, never
/// what was announced; many pipelined polls are refused at the limit.
#[test]
fn http_codecs_hold_what_arrived_not_what_was_announced() {
    use mtproto_core::transport::http::{HttpClient, HttpError, HttpLimits, HttpServer};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let limits = HttpLimits::default();
    let (peak, _) = measure(|| {
        let mut servers: Vec<HttpServer> = (0..64).map(|_| HttpServer::new(limits)).collect();
        let head = format!("POST /api HTTP/1.1\r\nContent-Length: {}\r\n\r\n", limits.max_body);
        for s in &mut servers {
            s.handle_bytes(head.as_bytes(), NOW).unwrap();
            s.handle_bytes(&[0u8; 100], NOW).unwrap();
        }
        let mut huge = HttpServer::new(limits);
        let r = huge.handle_bytes(b"POST /api HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\n", NOW);
        assert!(matches!(r, Err(HttpError::BodyTooLarge { .. })));
        let mut c = HttpClient::new("h", limits).unwrap();
        c.encode_poll(&mut Vec::new());
        c.handle_bytes(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", limits.max_body).as_bytes()).unwrap();
        c.handle_bytes(&[0u8; 100]).unwrap();
    });
    eprintln!("64 HTTP requests announcing 1 MiB bodies, 100 bytes each sent: peak heap {} KiB", peak >> 10);
    assert!(peak < 1 << 20, "64 announced MiB never allocated: {peak}");
    let mut head = b"POST /api HTTP/1.1\r\nX-Pad: ".to_vec();
    head.resize(limits.max_head + 100, b'a');
    let polls = b"POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n".repeat(10_000);
    let (peak, _) = measure(|| {
        let mut s = HttpServer::new(limits);
        let err = head.iter().try_for_each(|b| s.handle_bytes(&[*b], NOW)).unwrap_err();
        assert_eq!(err, HttpError::HeadTooLarge { max: limits.max_head });
        let mut s = HttpServer::new(limits);
        assert_eq!(s.handle_bytes(&polls, NOW), Err(HttpError::TooManyPending { max: limits.max_pending }));
    });
    eprintln!("an oversize HTTP head a byte at a time, 10,000 pipelined polls: peak heap {} KiB", peak >> 10);
    assert!(peak < 64 << 10, "a head limit and a pending limit: {peak}");
}
