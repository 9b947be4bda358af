//! Connection paths the simulation does not reach: quick acks over a framed
//! transport, and several packets sealed together in one flush.
#![allow(clippy::unwrap_used, missing_docs)]

use core::time::Duration;
use mtproto_core::connection::{ConnectionConfig, Persisted, SendOptions, Transporting};
use mtproto_core::transport::TransportKind;
use mtproto_core::{Connection, Event, Input, Output, RequestHandle};
use mtproto_crypto::SeededEntropy;
use mtproto_tests::shared_key;
use std::sync::Arc;

const NOW: Duration = Duration::from_secs(1_780_000_000);

fn pair(kind: TransportKind) -> (Connection, Connection) {
    let key = shared_key();
    let mut sc = ConnectionConfig { transport: Transporting::Framed(kind, None), ..ConnectionConfig::default() };
    sc.key_lookup = Some(Arc::new(move |_| Some(key.clone())));
    let mut cc = ConnectionConfig {
        transport: Transporting::Framed(kind, None),
        ping_interval: None,
        ..ConnectionConfig::default()
    };
    cc.resume = Some(Persisted { auth_key: shared_key(), salt: 0, time_offset: 0 });
    (
        Connection::client_with_entropy(cc, NOW, Box::new(SeededEntropy::new(1))),
        Connection::server_with_entropy(sc, NOW, Box::new(SeededEntropy::new(2))),
    )
}

/// Moves bytes both ways until idle; the server echoes requests. Returns the
/// client's events and how many packets (transmits) the client produced.
fn pump(client: &mut Connection, server: &mut Connection) -> (Vec<Event>, usize) {
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
                Output::Event(Event::Request { req_msg_id, body }) => server.respond(req_msg_id, &body),
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
            .map(|i| client.send(i.to_le_bytes().repeat(8), SendOptions { quick_ack: true, no_gzip: true }))
            .collect();
        let (events, _) = pump(&mut client, &mut server);
        let acked: Vec<RequestHandle> = events
            .iter()
            .filter_map(|e| if let Event::QuickAck { handle } = e { Some(*handle) } else { None })
            .collect();
        let answered = events.iter().filter(|e| matches!(e, Event::RpcResult { .. })).count();
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
    let answered = events.iter().filter(|e| matches!(e, Event::RpcResult { .. })).count();
    assert_eq!(answered, 250);
    assert!(transmits >= 1);
    assert_eq!(client.stats().open_requests, 0);
}
