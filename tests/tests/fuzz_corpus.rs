//! Replays every checked-in fuzz corpus file through its target on the stable
//! toolchain, so regressions show up without nightly or cargo-fuzz.
//! `cargo test -p mtproto-tests --test fuzz_corpus -- --ignored` regenerates the seeds.
#![allow(clippy::unwrap_used, missing_docs)]

use mtproto_core::message::container::ContainerBuilder;
use mtproto_core::message::gzip;
use mtproto_core::tl::schema::*;
use mtproto_core::tl::{Deserialize, Serialize};
use mtproto_tests::fuzzing::TARGETS;
use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

#[test]
fn replay_every_corpus_file() {
    let mut total = 0;
    for (name, target) in TARGETS {
        let dir = corpus_dir(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {dir:?}: {e}"));
        let mut n = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                target(&std::fs::read(&path).unwrap());
                n += 1;
            }
        }
        assert!(n > 0, "no seeds for {name}");
        total += n;
    }
    println!("replayed {total} corpus files");
}

#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn generate_seed_corpus() {
    let mut bodies: Vec<Vec<u8>> = vec![
        Ping { ping_id: 7 }.to_bytes(),
        PingDelayDisconnect { ping_id: 8, disconnect_delay: 75 }.to_bytes(),
        MsgsAck { msg_ids: vec![4, 8, 12] }.to_bytes(),
        GetFutureSalts { num: 3 }.to_bytes(),
        MsgsStateReq { msg_ids: vec![4, 8] }.to_bytes(),
        MsgResendReq { msg_ids: vec![4] }.to_bytes(),
        DestroySession { session_id: 1 }.to_bytes(),
        RpcDropAnswer { req_msg_id: 4 }.to_bytes(),
        BadServerSalt { bad_msg_id: 4, bad_msg_seqno: 1, error_code: 48, new_server_salt: 9 }.to_bytes(),
        BadMsgNotification { bad_msg_id: 4, bad_msg_seqno: 1, error_code: 17 }.to_bytes(),
        NewSessionCreated { first_msg_id: 4, unique_id: 1, server_salt: 2 }.to_bytes(),
        Pong { msg_id: 4, ping_id: 7 }.to_bytes(),
        FutureSalts { req_msg_id: 4, now: 1, salts: vec![FutureSalt { valid_since: 0, valid_until: 9, salt: 3 }] }
            .to_bytes(),
        MsgDetailedInfo { msg_id: 4, answer_msg_id: 5, bytes: 8, status: 0 }.to_bytes(),
        RpcResult {
            req_msg_id: 4,
            result: &RpcError { error_code: 420, error_message: "FLOOD_WAIT_3".into() }.to_bytes(),
        }
        .to_bytes(),
    ];
    let mut gz = Vec::new();
    gzip::pack_if_smaller(&[7u8; 4096], &mut gz);
    let mut rpc_gz = Vec::new();
    RpcResult { req_msg_id: 4, result: &gz }.serialize(&mut rpc_gz);
    bodies.push(gz.clone());
    bodies.push(rpc_gz);
    let mut cont = Vec::new();
    let mut c = ContainerBuilder::new(&mut cont, 100, 1 << 20);
    for (i, b) in bodies.iter().take(5).enumerate() {
        c.push(((1_780_000_000i64 << 32) - 1000) + (i as i64) * 4 + 1, (i * 2 + 1) as i32, b);
    }
    c.finish();
    bodies.push(cont);
    let write = |target: &str, name: String, data: &[u8]| {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    for (i, b) in bodies.iter().enumerate() {
        for mode in [1u8, 2] {
            let mut d = vec![mode];
            d.extend_from_slice(b);
            write("unpack_authenticated", format!("seed-{i}-{mode}"), &d);
        }
        write("tl_decode", format!("seed-{i}"), b);
    }
    // Transport streams: each framing around a packet-like payload.
    let payload: Vec<u8> = (0..72u8).collect();
    let mut t = mtproto_core::transport::Transport::client(
        mtproto_core::transport::TransportKind::Abridged,
        None,
        1 << 16,
        Box::new(mtproto_crypto::SeededEntropy::new(1)),
    )
    .unwrap();
    let mut wire = vec![3u8];
    t.encode(&payload, false, &mut wire);
    write("transport_decode", "abridged".into(), &wire);
    write("connection_input", "abridged".into(), &wire);
    for (i, kind) in [
        mtproto_core::transport::TransportKind::Intermediate,
        mtproto_core::transport::TransportKind::PaddedIntermediate,
        mtproto_core::transport::TransportKind::Full,
    ]
    .into_iter()
    .enumerate()
    {
        let mut t = mtproto_core::transport::Transport::client(
            kind,
            None,
            1 << 16,
            Box::new(mtproto_crypto::SeededEntropy::new(1)),
        )
        .unwrap();
        let mut wire = vec![i as u8 * 4 + 1];
        t.encode(&payload, false, &mut wire);
        write("transport_decode", format!("kind-{i}"), &wire);
        write("connection_input", format!("kind-{i}"), &wire);
    }
    // Raw and handshake seeds.
    // Replays and session switches under the fuzz key (the review's finding
    // 2): a salt-learning ping, requests in three sessions, then the captured
    // packets again in another order, some duplicated; one packet per frame.
    {
        use mtproto_tests::peer::{FakeClient, NOW};
        let mut server = mtproto_tests::fuzzing::connection_input_server();
        let mut first = FakeClient::new(0x51);
        let frame = |p: &[u8]| [&(p.len() as u32).to_le_bytes()[..], p].concat();
        let mut ping = first.packet(&Ping { ping_id: 1 }.to_bytes(), true, NOW);
        let mut learn = [0xee; 4].to_vec();
        learn.extend(frame(&ping));
        server.handle_input(mtproto_core::Input::Bytes(&learn), NOW);
        let (out, _) = mtproto_tests::peer::drain(&mut server, NOW);
        // Intermediate frames: a 4-byte length, then the packet.
        let mut packets = Vec::new();
        let mut rest = &out.concat()[..];
        while rest.len() >= 4 {
            let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
            packets.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        let salt = packets
            .iter()
            .flat_map(|p| mtproto_tests::peer::open(p, mtproto_crypto::Direction::ServerToClient))
            .find_map(|m| BadServerSalt::from_bytes(&m.body).ok())
            .unwrap()
            .new_server_salt;
        let mut captured = Vec::new();
        for s in 0..3i64 {
            let mut c = FakeClient::new(0x60 + s);
            c.session.set_salt(salt);
            for r in 0..2u32 {
                captured.push(c.packet(
                    &[0x1234_5678u32.to_le_bytes(), (s as u32 * 2 + r).to_le_bytes()].concat(),
                    true,
                    NOW,
                ));
            }
        }
        ping = first.packet(&Ping { ping_id: 2 }.to_bytes(), true, NOW);
        for (name, order) in
            [("replay-switch", vec![0, 2, 0, 2, 4, 1, 0, 5, 3, 2]), ("replay-dup", vec![5, 5, 4, 3, 3, 0, 1, 1])]
        {
            let mut wire = vec![0xffu8, 0xee, 0xee, 0xee, 0xee];
            wire.extend(frame(&ping));
            for i in order {
                wire.extend(frame(&captured[i]));
            }
            write("connection_input", name.into(), &wire);
        }
    }
    let mut plain = Vec::new();
    mtproto_core::message::pack_plain(4, &ReqPqMulti { nonce: [1; 16] }.to_bytes(), &mut plain);
    write("unpack_raw", "plain".into(), &plain);
    write("unpack_raw", "zeros".into(), &[0u8; 80]);
    for at in 0..3u8 {
        let mut d = vec![at];
        d.extend_from_slice(
            &ResPq {
                nonce: [0; 16],
                server_nonce: [1; 16],
                pq: vec![0x17, 0xed, 0x48, 0x94, 0x1a, 0x08, 0xf9, 0x81],
                server_public_key_fingerprints: vec![1],
            }
            .to_bytes(),
        );
        write("handshake", format!("respq-{at}"), &d);
    }
    // Fake-TLS: the long (post-quantum, Chrome-like) hello, valid at the
    // fuzz clock under the fuzz key, whole (the parser and the proxy's
    // check) and after a split byte (through a server transport, fed 5
    // bytes at a time; then secret-only, 3 at a time).
    {
        use mtproto_core::transport::fake_tls::{HelloTemplate, client_hello_with};
        use mtproto_tests::fuzzing::{FAKE_TLS_DOMAIN, FAKE_TLS_KEY};
        let mut e = mtproto_crypto::SeededEntropy::new(17);
        let h = client_hello_with(&FAKE_TLS_KEY, FAKE_TLS_DOMAIN, 1_780_000_000, HelloTemplate::PostQuantum, &mut e);
        write("fake_tls_hello", "valid-long-hello".into(), &h.record);
        for (name, split) in [("valid-long-hello-split5", 4u8), ("valid-long-hello-secret-only", 0x80 | 10)] {
            write("fake_tls_hello", name.into(), &[&[split][..], &h.record].concat());
        }
    }
}

/// The replay seeds reach the server's session logic: captured requests run
/// at most once, however often and in whatever order the seed repeats them
/// ("replay-dup" delivers two sessions' second messages first: their first
/// ones fall below the announced first_msg_id and are the client's to
/// re-send, so four of its six run).
#[test]
fn replay_seeds_run_each_request_once() {
    use mtproto_core::{Input, Output, ServerEvent};
    for (name, distinct) in [("replay-switch", 6), ("replay-dup", 4)] {
        let data = std::fs::read(corpus_dir("connection_input").join(name)).unwrap();
        let mut server = mtproto_tests::fuzzing::connection_input_server();
        server.handle_input(Input::Bytes(&data[1..]), mtproto_tests::peer::NOW);
        let mut ran = Vec::new();
        loop {
            match server.poll_output(mtproto_tests::peer::NOW) {
                Output::Event(ServerEvent::Request { body, .. }) => ran.push(body),
                Output::Timeout(_) => break,
                _ => {}
            }
        }
        let mut unique = ran.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((ran.len(), unique.len()), (distinct, distinct), "{name}");
    }
}
