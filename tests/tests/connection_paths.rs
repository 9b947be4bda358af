//! Connection paths the simulation does not reach: quick acks over a framed
//! transport, and several packets sealed together in one flush.
#![allow(clippy::unwrap_used, missing_docs)]

use core::time::Duration;
use mtproto_core::connection::{
    ClientConnection, ClientOptions, Persisted, SendOptions, ServerConnection, ServerOptions, Transporting,
};
use mtproto_core::transport::TransportKind;
use mtproto_core::{ClientEvent, Input, Output, RequestHandle, ServerEvent};
use mtproto_crypto::SeededEntropy;
use mtproto_tests::shared_key;
use std::sync::Arc;

const NOW: Duration = Duration::from_secs(1_780_000_000);

fn pair(kind: TransportKind) -> (ClientConnection, ServerConnection) {
    let key = shared_key();
    let mut sc = ServerOptions::default();
    sc.session.transport = Transporting::Framed(kind, None);
    sc.key_lookup = Some(Arc::new(move |_| Some(key.clone())));
    let mut cc = ClientOptions { ping_interval: None, ..ClientOptions::resume(Persisted::new(shared_key(), 0, 0)) };
    cc.session.transport = Transporting::Framed(kind, None);
    (
        ClientConnection::with_entropy(cc, NOW, Box::new(SeededEntropy::new(1))),
        ServerConnection::with_entropy(sc, NOW, Box::new(SeededEntropy::new(2))),
    )
}

/// Moves bytes both ways until idle; the server echoes requests. Returns the
/// client's events and how many packets (transmits) the client produced.
fn pump(client: &mut ClientConnection, server: &mut ServerConnection) -> (Vec<ClientEvent>, usize) {
    let mut events = Vec::new();
    let mut client_transmits = 0;
    loop {
        let mut moved = false;
        loop {
            match client.poll_output(NOW) {
                Output::Transmit(b) => {
                    client_transmits += 1;
                    server.handle_input(Input::Bytes(&b), NOW);
                    moved = true;
                }
                Output::Event(e) => events.push(e),
                Output::Timeout(_) => break,
            }
        }
        loop {
            match server.poll_output(NOW) {
                Output::Transmit(b) => {
                    client.handle_input(Input::Bytes(&b), NOW);
                    moved = true;
                }
                Output::Event(ServerEvent::Request { req_msg_id, body }) => server.respond(req_msg_id, &body),
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        if !moved {
            return (events, client_transmits);
        }
    }
}

#[test]
fn quick_acks_reach_their_handles() {
    for kind in [TransportKind::Abridged, TransportKind::Intermediate] {
        let (mut client, mut server) = pair(kind);
        let handles: Vec<RequestHandle> = (0..3u32)
            .map(|i| {
                client.send(
                    i.to_le_bytes().repeat(8),
                    SendOptions { quick_ack: true, no_gzip: true, ..SendOptions::default() },
                )
            })
            .collect();
        let (events, _) = pump(&mut client, &mut server);
        let acked: Vec<RequestHandle> = events
            .iter()
            .filter_map(|e| if let ClientEvent::QuickAck { handle } = e { Some(*handle) } else { None })
            .collect();
        let answered = events.iter().filter(|e| matches!(e, ClientEvent::RpcResult { .. })).count();
        assert_eq!(answered, 3, "{kind:?}");
        // The three requests share one container packet, so one quick ack
        // reaches all three handles. The first transmission (salt 0) is refused
        // with bad_server_salt and re-sent, and each transmission is acked.
        let mut acked = acked;
        acked.sort_unstable();
        acked.dedup();
        assert_eq!(acked, handles, "{kind:?}");
    }
}

#[test]
fn many_packets_in_one_flush_are_sealed_together() {
    let (mut client, mut server) = pair(TransportKind::Intermediate);
    // 250 requests with the default 100-message containers: three packets.
    for i in 0..250u32 {
        client.send(i.to_le_bytes().repeat(4), SendOptions::default());
    }
    let (events, transmits) = pump(&mut client, &mut server);
    let answered = events.iter().filter(|e| matches!(e, ClientEvent::RpcResult { .. })).count();
    assert_eq!(answered, 250);
    assert!(transmits >= 1);
    assert_eq!(client.stats().open_requests, 0);
}

/// Collects what the client transmits right now.
fn flush(client: &mut ClientConnection) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match client.poll_output(NOW) {
            Output::Transmit(b) => out.push(b.to_vec()),
            Output::Event(_) => {}
            Output::Timeout(_) => return out,
        }
    }
}

#[test]
fn frames_arriving_together_are_decrypted_together() {
    for corrupt in [false, true] {
        let (mut client, mut server) = pair(TransportKind::Intermediate);
        // Settle the salt (the first packet goes out with salt 0).
        client.send(vec![1; 8], SendOptions::default());
        pump(&mut client, &mut server);
        // Four large requests, each flushed as its own packet, then delivered
        // to the server in one input.
        let mut packets = Vec::new();
        for i in 0..4u8 {
            client.send(vec![i; 20_000], SendOptions { quick_ack: false, no_gzip: true, ..SendOptions::default() });
            packets.extend(flush(&mut client));
        }
        assert!(packets.len() >= 4, "{} packets", packets.len());
        if corrupt {
            // A byte deep in the second packet's ciphertext: its msg_key fails.
            packets[1][5_000] ^= 0x40;
        }
        let before = server.stats().opened_together;
        server.handle_input(Input::Bytes(&packets.concat()), NOW);
        assert!(server.stats().opened_together >= before + 4, "decrypted together");
        let (events, _) = pump(&mut client, &mut server);
        let answers: Vec<usize> = events
            .iter()
            .filter_map(|e| if let ClientEvent::RpcResult { body, .. } = e { Some(body.len()) } else { None })
            .collect();
        // The corrupted packet is dropped unanswered (its request times out
        // later); every other request is answered with its own body.
        assert_eq!(answers, vec![20_000; if corrupt { 3 } else { 4 }], "corrupt {corrupt}");
    }
}

/// Both worlds start alike (seeded entropy, fixed time); one flushes its two
/// server connections separately, the other with `ServerConnection::flush_together`.
fn answers_from_two_servers(together: bool) -> (Vec<Vec<u8>>, usize) {
    let (mut c1, mut s1) = pair(TransportKind::Intermediate);
    let (mut c2, mut s2) = pair(TransportKind::Intermediate);
    for (c, s) in [(&mut c1, &mut s1), (&mut c2, &mut s2)] {
        c.send(vec![1; 8], SendOptions::default());
        pump(c, s);
    }
    let mut wire = Vec::new();
    for (i, (c, s)) in [(&mut c1, &mut s1), (&mut c2, &mut s2)].into_iter().enumerate() {
        // Incompressible bodies, so the echoed answers are not gzipped small.
        let mut state = 0x9E37_79B9_7F4A_7C15u64 + i as u64;
        let body: Vec<u8> = (0..20_000 + 10_000 * i)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        c.send(body, SendOptions { quick_ack: false, no_gzip: true, ..SendOptions::default() });
        for packet in flush(c) {
            s.handle_input(Input::Bytes(&packet), NOW);
        }
        // Answer the request; stop polling before the answer is flushed.
        loop {
            match s.poll_output(NOW) {
                Output::Transmit(b) => wire.push(b.to_vec()),
                Output::Event(ServerEvent::Request { req_msg_id, body }) => {
                    s.respond(req_msg_id, &body);
                    break;
                }
                Output::Event(_) => {}
                Output::Timeout(_) => panic!("no request arrived"),
            }
        }
    }
    if together {
        assert!(s1.stats().queued > 0 && s2.stats().queued > 0);
        ServerConnection::flush_together(&mut [&mut s1, &mut s2], NOW);
        // Both answers were framed and sealed by that call.
        assert_eq!((s1.stats().queued, s2.stats().queued), (0, 0));
    }
    let mut answered = 0;
    for (c, s) in [(&mut c1, &mut s1), (&mut c2, &mut s2)] {
        loop {
            match s.poll_output(NOW) {
                Output::Transmit(b) => {
                    c.handle_input(Input::Bytes(&b), NOW);
                    wire.push(b.to_vec());
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        let (events, _) = pump(c, s);
        answered += events.iter().filter(|e| matches!(e, ClientEvent::RpcResult { .. })).count();
    }
    (wire, answered)
}

#[test]
fn connections_flushed_together_send_the_same_bytes() {
    let (separate, answered_separately) = answers_from_two_servers(false);
    let (together, answered_together) = answers_from_two_servers(true);
    assert_eq!(answered_separately, 2);
    assert_eq!(answered_together, 2);
    assert!(together.iter().map(Vec::len).sum::<usize>() > 50_000);
    assert_eq!(together, separate);
}

/// The client's events after receiving `count` separate answer packets, some
/// corrupted or duplicated, either in one input or one packet per input.
fn client_events_for_answers(count: usize, corrupt: &[bool], duplicate: usize, one_input: bool) -> (Vec<String>, u64) {
    let (mut c, mut s) = pair(TransportKind::Intermediate);
    c.send(vec![1; 8], SendOptions::default());
    pump(&mut c, &mut s);
    let mut frames = Vec::new();
    for i in 0..count {
        let len = 16 + 3_000 * (i % 4);
        c.send(
            (0..len).map(|k| (k * 7 + i) as u8).collect(),
            SendOptions { quick_ack: false, no_gzip: true, ..SendOptions::default() },
        );
        for packet in flush(&mut c) {
            s.handle_input(Input::Bytes(&packet), NOW);
        }
        loop {
            match s.poll_output(NOW) {
                Output::Transmit(b) => frames.push(b.to_vec()),
                Output::Event(ServerEvent::Request { req_msg_id, body }) => s.respond(req_msg_id, &body),
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
    }
    for (frame, &bad) in frames.iter_mut().zip(corrupt) {
        if bad {
            // Inside the ciphertext: past the 4-byte length and the 24-byte envelope header.
            let at = 4 + 24 + (frame.len() - 28) / 2;
            frame[at] ^= 0x20;
        }
    }
    if let Some(copy) = frames.get(duplicate % frames.len().max(1)).cloned() {
        frames.push(copy);
    }
    if one_input {
        c.handle_input(Input::Bytes(&frames.concat()), NOW);
    } else {
        for frame in &frames {
            c.handle_input(Input::Bytes(frame), NOW);
        }
    }
    let mut events = Vec::new();
    loop {
        match c.poll_output(NOW) {
            Output::Event(e) => events.push(format!("{e:?}")),
            Output::Transmit(_) => {}
            Output::Timeout(_) => return (events, c.stats().opened_together),
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Frames opened together (one input) give exactly the events of the same
    /// frames opened one at a time, with corrupted and duplicated frames among them.
    #[test]
    fn opening_frames_together_changes_nothing(
        count in 3usize..8,
        corrupt in proptest::collection::vec(proptest::prelude::any::<bool>(), 8),
        duplicate in 0usize..8,
    ) {
        let (together, opened) = client_events_for_answers(count, &corrupt, duplicate, true);
        let (apart, opened_apart) = client_events_for_answers(count, &corrupt, duplicate, false);
        proptest::prop_assert!(opened >= count as u64 && opened_apart == 0);
        proptest::prop_assert!(together.iter().any(|e| e.starts_with("RpcResult")) || corrupt[..count].iter().all(|&b| b));
        proptest::prop_assert_eq!(together, apart);
    }
}
