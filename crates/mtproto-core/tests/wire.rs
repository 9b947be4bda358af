#![allow(clippy::unwrap_used)]
//! The wire layer against the schema file, the published vectors, and
//! round trips with random splits; a negative test per error variant.

use bytes::BytesMut;
use core::time::Duration;
use mtproto_core::message::{self, EncryptedSession, MessageError, MsgIdClock, MsgKind, Role, SeqNo, container, gzip};
use mtproto_core::tl::schema::{self, *};
use mtproto_core::tl::{Deserialize, Reader, Serialize, TlError, Writer};
use mtproto_core::transport::{
    Frame, Framing, Obfuscation, Peer, Transport, TransportError, TransportKind, full::Full,
};
use mtproto_crypto::{AuthKey, SeededEntropy};
use proptest::prelude::*;
use serde_json::Value;

fn vectors(name: &str) -> Value {
    let path = format!("{}/../mtproto-crypto/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("json")
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex")).expect("hex")
}

/// CRC32 of a normalised schema line, as the TL compiler computes ids.
fn schema_id(line: &str) -> Option<(String, u32)> {
    let line = line.trim().trim_end_matches(';');
    let (head, _) = line.split_once(' ')?;
    let (name, id) = head.split_once('#')?;
    let id = u32::from_str_radix(id, 16).ok()?;
    Some((name.to_string(), id))
}

#[test]
fn every_constructor_id_matches_the_schema_file() {
    let text = include_str!("../schema/mtproto.tl");
    let mut from_file = std::collections::HashMap::new();
    for raw in text.lines() {
        let line = raw.strip_prefix("//LEGACY ").unwrap_or(raw);
        if line.starts_with("//") {
            continue;
        }
        if let Some((name, id)) = schema_id(line) {
            from_file.insert(name, id);
        }
    }
    assert!(from_file.len() >= 50, "parsed {} ids", from_file.len());
    for (name, id) in schema::ALL_IDS {
        assert_eq!(from_file.get(*name), Some(id), "{name}");
    }
    // Every constructor of the file has a Rust counterpart.
    for name in from_file.keys() {
        if name == "rsa_public_key" || name == "vector" {
            continue;
        }
        assert!(schema::ALL_IDS.iter().any(|(n, _)| n == name), "{name} missing in ALL_IDS");
    }
}

#[test]
fn handshake_messages_of_the_published_exchange_decode_and_re_encode() {
    let d = vectors("auth_key_handshake.json");
    let doc = &d["cases"][0]["given_by_doc"];
    // Plain-message framing (auth_key_id 0, msg_id, length) around each body.
    let payload = h(&doc["req_pq_multi_payload"]);
    let m = message::unpack_plain(&payload).expect("plain");
    let req = ReqPqMulti::from_bytes(m.body).expect("req_pq_multi");
    assert_eq!(req.nonce[..], h(&doc["nonce"])[..]);
    assert_eq!(req.to_bytes(), m.body);

    let payload = h(&doc["res_pq_payload"]);
    // The doc's server dumps carry wrong length fields (see the vector errata),
    // so the body is taken past the 20-byte header.
    assert!(matches!(message::unpack_plain(&payload), Err(MessageError::BadLength { .. })));
    let res = ResPq::from_bytes(&payload[20..]).expect("resPQ");
    assert_eq!(res.server_nonce[..], h(&doc["server_nonce"])[..]);
    assert_eq!(u64::from_be_bytes(res.pq.clone().try_into().expect("8 bytes")), doc["pq"].as_u64().expect("pq"));
    assert_eq!(res.to_bytes(), &payload[20..]);

    let inner = PqInnerData::from_bytes(&h(&doc["p_q_inner_data_dc"])).expect("inner");
    assert_eq!(inner.dc(), Some(doc["dc"].as_i64().expect("dc") as i32));
    assert_eq!(inner.fields().new_nonce[..], h(&doc["new_nonce"])[..]);
    assert_eq!(inner.to_bytes(), h(&doc["p_q_inner_data_dc"]));

    let payload = h(&doc["req_DH_params_payload"]);
    let m = message::unpack_plain(&payload).expect("plain");
    let req = ReqDhParams::from_bytes(m.body).expect("req_DH_params");
    assert_eq!(req.encrypted_data, h(&doc["rsa_encrypted_data"]));
    assert_eq!(req.public_key_fingerprint.to_le_bytes()[..], h(&doc["public_key_fingerprint_used_le_hex"])[..]);
    assert_eq!(req.to_bytes(), m.body);

    let payload = h(&doc["server_DH_params_ok_payload"]);
    let ok = ServerDhParamsOk::from_bytes(&payload[20..]).expect("server_DH_params_ok");
    assert_eq!(ok.encrypted_answer, h(&doc["encrypted_answer"]));

    let answer = h(&doc["answer_with_hash"]);
    let mut r = Reader::new(&answer[20..]);
    let inner = ServerDhInnerData::deserialize(&mut r).expect("server_DH_inner_data");
    assert_eq!(inner.g, doc["g"].as_i64().expect("g") as i32);
    assert_eq!(inner.server_time, doc["server_time"].as_i64().expect("time") as i32);

    let cdh = ClientDhInnerData::from_bytes(&h(&doc["client_DH_inner_data"])).expect("client_DH_inner_data");
    assert_eq!(cdh.g_b, h(&doc["g_b"]));
    let payload = h(&doc["set_client_DH_params_payload"]);
    let m = message::unpack_plain(&payload).expect("plain");
    let set = SetClientDhParams::from_bytes(m.body).expect("set_client_DH_params");
    assert_eq!(set.encrypted_data, h(&doc["client_encrypted_data"]));
    let payload = h(&doc["dh_gen_ok_payload"]);
    let ok = DhGenOk::from_bytes(&payload[20..]).expect("dh_gen_ok");
    assert_eq!(ok.new_nonce_hash1[..], h(&doc["new_nonce_hash1"])[..]);
}

#[test]
fn mtproto2_message_vector_through_the_message_layer() {
    let d = vectors("mtproto2_messages.json");
    let c = &d["cases"][1];
    let key = AuthKey::from_bytes(h(&c["auth_key"]).try_into().expect("256"));
    let mut packet = h(&c["encrypted_message"]);
    let plain = h(&c["plaintext_with_padding"]);
    let session_id = i64::from_le_bytes(plain[8..16].try_into().expect("8"));
    let s = EncryptedSession::with_entropy(key, Role::Client, 0, session_id, 0, Box::new(SeededEntropy::new(1)));
    let m = s.unpack(&mut packet).expect("server message");
    assert_eq!(m.salt, i64::from_le_bytes(plain[..8].try_into().expect("8")));
    assert_eq!(m.msg_id, i64::from_le_bytes(plain[16..24].try_into().expect("8")));
    assert_eq!(m.msg_id & 1, 1, "server msg_id is odd");
    let len = u32::from_le_bytes(plain[28..32].try_into().expect("4")) as usize;
    assert_eq!(m.body, &plain[32..32 + len]);
    // The body is a container with a new_session_created and a pong/ack inside.
    let inner = container::unpack(m.body, m.msg_id, Role::Server, 1020).expect("container");
    assert!(!inner.is_empty());
    // Another session id is refused.
    let key = AuthKey::from_bytes(h(&c["auth_key"]).try_into().expect("256"));
    let s = EncryptedSession::with_entropy(key, Role::Client, 0, session_id ^ 1, 0, Box::new(SeededEntropy::new(1)));
    let mut packet = h(&c["encrypted_message"]);
    assert_eq!(s.unpack(&mut packet).unwrap_err(), MessageError::WrongSession { got: session_id });
}

#[test]
fn full_transport_vectors() {
    let d = vectors("crc32_full_transport.json");
    for c in d["cases"].as_array().expect("cases") {
        let seq = c["seq_no"].as_u64().expect("seq") as u32;
        let payload = h(&c["payload"]);
        let packet = h(&c["packet"]);
        let mut enc = Full::new(Peer::Server, 1 << 20);
        let mut out = Vec::new();
        for _ in 0..=seq {
            out.clear();
            enc.encode(&payload, false, &mut out);
        }
        assert_eq!(out, packet, "{}", c["name"]);
        // Decoding: frames 0..seq from our encoder, then the published packet.
        let mut dec = Full::new(Peer::Client, 1 << 20);
        let mut rx = BytesMut::new();
        let mut enc = Full::new(Peer::Server, 1 << 20);
        for _ in 0..seq {
            let mut o = Vec::new();
            enc.encode(&payload, false, &mut o);
            rx.extend_from_slice(&o);
        }
        rx.extend_from_slice(&packet);
        for _ in 0..=seq {
            match dec.decode(&mut rx).expect("valid") {
                Some(Frame::Packet { data, .. }) => assert_eq!(&data[..], &payload[..]),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(rx.is_empty());
    }
    for c in d["crc32_plain_cases"].as_array().expect("cases") {
        let input = match c.get("input_repeat") {
            Some(rep) => h(&rep["byte"]).repeat(rep["count"].as_u64().expect("count") as usize),
            None => h(&c["input_hex"]),
        };
        assert_eq!(crc32fast::hash(&input) as u64, c["crc32"].as_u64().expect("crc"));
    }
}

fn roundtrip_transport(kind: TransportKind, obf: Option<Obfuscation>, payloads: &[Vec<u8>], splits: &[usize]) {
    let mut client = Transport::client(kind, obf, 1 << 20, Box::new(SeededEntropy::new(5))).expect("client");
    let mut server = Transport::server(obf.and_then(|o| o.secret), 1 << 20, Box::new(SeededEntropy::new(6)));
    let mut wire = Vec::new();
    for p in payloads {
        client.encode(p, false, &mut wire);
    }
    let mut frames = Vec::new();
    let mut pos = 0usize;
    for &s in splits.iter().chain(std::iter::once(&usize::MAX)) {
        let end = pos.saturating_add(s.max(1)).min(wire.len());
        server.feed(&wire[pos..end], &mut frames).expect("decode");
        pos = end;
        if pos == wire.len() {
            break;
        }
    }
    assert_eq!(server.kind(), Some(kind));
    let got: Vec<Vec<u8>> = frames
        .into_iter()
        .map(|f| match f {
            Frame::Packet { data, .. } => data.to_vec(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(&got, payloads);
    // And back: server to client.
    let mut wire = Vec::new();
    for p in payloads {
        server.encode(p, false, &mut wire);
    }
    let mut frames = Vec::new();
    for b in wire.chunks(7) {
        client.feed(b, &mut frames).expect("decode");
    }
    assert_eq!(frames.len(), payloads.len());
}

fn packet_like(len_words: usize, seed: u8) -> Vec<u8> {
    // An encrypted-looking packet: 24 + 16k bytes, non-zero auth_key_id.
    let len = 24 + 16 * len_words.max(2);
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed) | 1).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn transports_round_trip_under_random_splits(
        sizes in proptest::collection::vec(0usize..80, 1..6),
        splits in proptest::collection::vec(1usize..200, 0..40),
        secret in proptest::option::of(any::<[u8; 16]>()),
        dc in any::<i16>(),
    ) {
        let payloads: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &s)| packet_like(s, i as u8)).collect();
        for kind in [TransportKind::Abridged, TransportKind::Intermediate, TransportKind::PaddedIntermediate, TransportKind::Full] {
            roundtrip_transport(kind, None, &payloads, &splits);
        }
        for kind in [TransportKind::Abridged, TransportKind::Intermediate, TransportKind::PaddedIntermediate] {
            roundtrip_transport(kind, Some(Obfuscation { dc_id: dc, secret }), &payloads, &splits);
        }
    }

    #[test]
    fn tl_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..1000)) {
        let mut out = Vec::new();
        out.put_bytes(&data);
        prop_assert_eq!(out.len() % 4, 0);
        let mut r = Reader::new(&out);
        prop_assert_eq!(r.bytes().unwrap(), &data[..]);
        prop_assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn tl_reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = ResPq::from_bytes(&data);
        let _ = PqInnerData::from_bytes(&data);
        let _ = FutureSalts::from_bytes(&data);
        let _ = ServerDhInnerData::from_bytes(&data);
        let _ = MsgsAck::from_bytes(&data);
        let _ = container::unpack(&data, i64::MAX, Role::Server, 1020);
        let _ = gzip::unpack(&data, 1 << 16);
        let _ = message::unpack_plain(&data);
    }

    #[test]
    fn encrypted_messages_round_trip_both_directions(body_words in 0usize..300, seed in any::<u64>(), content in any::<bool>()) {
        let key = AuthKey::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(seed as u8 | 1)));
        let sid = seed as i64;
        let mut client = EncryptedSession::with_entropy(key.clone(), Role::Client, 77, sid, 0, Box::new(SeededEntropy::new(seed)));
        let mut server = EncryptedSession::with_entropy(key, Role::Server, 77, sid, 0, Box::new(SeededEntropy::new(!seed)));
        let body: Vec<u8> = (0..body_words * 4).map(|i| i as u8).collect();
        let now = Duration::from_secs(1_700_000_000);
        let mut out = Vec::new();
        let id = client.pack(&body, content, now, &mut out);
        let m = server.unpack(&mut out).unwrap();
        prop_assert_eq!(m.msg_id, id);
        prop_assert_eq!(m.body, &body[..]);
        prop_assert_eq!(m.salt, 77);
        prop_assert_eq!(m.seq_no & 1, content as i32);
        let mut out = Vec::new();
        let id = server.pack(&body, content, now, &mut out);
        let m = client.unpack(&mut out).unwrap();
        prop_assert_eq!(m.msg_id, id);
        prop_assert_eq!(m.body, &body[..]);
    }

    #[test]
    fn containers_round_trip(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..30)) {
        let bodies: Vec<Vec<u8>> = bodies.into_iter().map(|mut b| { b.truncate(b.len() / 4 * 4); b }).collect();
        let mut out = Vec::new();
        let mut c = container::ContainerBuilder::new(&mut out, 1020, 1 << 20);
        for (i, b) in bodies.iter().enumerate() {
            prop_assert!(c.push(((i as i64) + 1) * 4, i as i32 * 2 + 1, b));
        }
        prop_assert_eq!(c.finish(), bodies.len());
        let inner = container::unpack(&out, 1 << 40, Role::Client, 1020).unwrap();
        prop_assert_eq!(inner.len(), bodies.len());
        for (m, b) in inner.iter().zip(&bodies) {
            prop_assert_eq!(m.body, &b[..]);
        }
    }

    #[test]
    fn gzip_round_trip(data in proptest::collection::vec(0u8..4, 0..5000)) {
        let mut out = Vec::new();
        if gzip::pack_if_smaller(&data, &mut out) {
            prop_assert!(out.len() < data.len());
            prop_assert_eq!(gzip::unpack(&out, data.len()).unwrap(), data.clone());
            if !data.is_empty() {
                prop_assert_eq!(gzip::unpack(&out, data.len() - 1).unwrap_err(), MessageError::GzipTooLarge { limit: data.len() - 1 });
            }
        }
    }
}

#[test]
fn transport_byte_at_a_time_and_errors() {
    let payloads = vec![packet_like(3, 1), packet_like(100, 2)];
    let ones = vec![1usize; 10_000];
    for kind in
        [TransportKind::Abridged, TransportKind::Intermediate, TransportKind::PaddedIntermediate, TransportKind::Full]
    {
        roundtrip_transport(kind, None, &payloads, &ones);
        if kind != TransportKind::Full {
            roundtrip_transport(kind, Some(Obfuscation { dc_id: 2, secret: None }), &payloads, &ones);
        }
    }
    // Full with obfuscation is refused.
    assert_eq!(
        Transport::client(
            TransportKind::Full,
            Some(Obfuscation { dc_id: 1, secret: None }),
            1 << 20,
            Box::new(SeededEntropy::new(1))
        )
        .unwrap_err(),
        TransportError::UnknownProtocol
    );
    let mut frames = Vec::new();
    // An absurd length is refused before buffering.
    let mut s = Transport::server(None, 1 << 20, Box::new(SeededEntropy::new(1)));
    assert!(matches!(
        s.feed(&[0xee, 0xee, 0xee, 0xee, 0xff, 0xff, 0xff, 0x7f], &mut frames),
        Err(TransportError::FrameTooLarge { .. })
    ));
    let mut s = Transport::server(None, 1 << 20, Box::new(SeededEntropy::new(1)));
    assert!(matches!(s.feed(&[0xef, 0x7f, 0xff, 0xff, 0xff], &mut frames), Err(TransportError::FrameTooLarge { .. })));
    // Length 0 / unaligned.
    let mut s = Transport::server(None, 1 << 20, Box::new(SeededEntropy::new(1)));
    assert_eq!(s.feed(&[0xef, 0x00], &mut frames), Err(TransportError::BadLength { len: 0 }));
    let mut s = Transport::server(None, 1 << 20, Box::new(SeededEntropy::new(1)));
    assert_eq!(s.feed(&[0xee, 0xee, 0xee, 0xee, 5, 0, 0, 0], &mut frames), Err(TransportError::BadLength { len: 5 }));
    // HTTP is not a transport we speak.
    let mut s = Transport::server(None, 1 << 20, Box::new(SeededEntropy::new(1)));
    assert_eq!(s.feed(b"POST / HTTP/1.1\r\n", &mut frames), Err(TransportError::UnknownProtocol));
    // With a secret, plain transports are refused.
    let mut s = Transport::server(Some([1; 16]), 1 << 20, Box::new(SeededEntropy::new(1)));
    assert_eq!(s.feed(&[0xef, 0x01], &mut frames), Err(TransportError::UnknownProtocol));
    // Full: bad CRC and bad seq.
    let mut wire = Vec::new();
    let mut f = Full::new(Peer::Client, 1 << 20);
    f.encode(&packet_like(2, 1), false, &mut wire);
    let mut bad = wire.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(Full::new(Peer::Client, 1 << 20).decode(&mut BytesMut::from(&bad[..])), Err(TransportError::BadCrc));
    let mut second = Vec::new();
    f.encode(&packet_like(2, 1), false, &mut second);
    assert_eq!(
        Full::new(Peer::Client, 1 << 20).decode(&mut BytesMut::from(&second[..])),
        Err(TransportError::BadSeq { expected: 0, got: 1 })
    );
    // Obfuscated header with an unknown tag.
    let c = mtproto_crypto::obfuscated2::client(&mut SeededEntropy::new(3), [1, 2, 3, 4], 2, None);
    let mut s = Transport::server(None, 1 << 20, Box::new(SeededEntropy::new(1)));
    assert_eq!(s.feed(&c.header, &mut frames), Err(TransportError::BadObfuscatedTag { tag: [1, 2, 3, 4] }));
    // Quick acks and transport errors reach the client as typed frames.
    for kind in [TransportKind::Abridged, TransportKind::Intermediate] {
        let mut client = Transport::client(kind, None, 1 << 20, Box::new(SeededEntropy::new(5))).expect("client");
        let mut server = Transport::server(None, 1 << 20, Box::new(SeededEntropy::new(6)));
        let mut wire = Vec::new();
        client.encode(&packet_like(2, 1), true, &mut wire);
        let mut frames = Vec::new();
        server.feed(&wire, &mut frames).expect("decode");
        assert!(matches!(frames[0], Frame::Packet { quick_ack: true, .. }));
        let mut back = Vec::new();
        server.encode_quick_ack(0x1234_5678, &mut back);
        server.encode_error(-404, &mut back);
        let mut frames = Vec::new();
        client.feed(&back, &mut frames).expect("decode");
        assert_eq!(frames, vec![Frame::QuickAck(0x1234_5678), Frame::TransportError(-404)]);
    }
}

#[test]
fn msg_id_clock_and_seq_no() {
    let mut c = MsgIdClock::default();
    let t = Duration::from_secs(1_700_000_000);
    let a = c.next(t, MsgKind::Client);
    let b = c.next(t, MsgKind::Client);
    let back = c.next(t - Duration::from_secs(100), MsgKind::Client);
    assert!(a < b && b < back, "strictly increasing even when the clock goes back");
    assert!(a % 4 == 0 && b % 4 == 0 && back % 4 == 0);
    assert_eq!(a >> 32, 1_700_000_000);
    let mut s = MsgIdClock::default();
    let r = s.next(t, MsgKind::ServerResponse);
    let o = s.next(t, MsgKind::ServerOther);
    assert_eq!((r % 4, o % 4), (1, 3));
    assert!(o > r);
    // Learning the offset from a peer's msg_id.
    let mut c = MsgIdClock::default();
    c.learn_from_msg_id((1_700_003_600i64) << 32, t);
    assert_eq!(c.offset(), 3600);
    assert_eq!(c.next(t, MsgKind::Client) >> 32, 1_700_003_600);
    let mut seq = SeqNo::default();
    assert_eq!([seq.next(true), seq.next(false), seq.next(true), seq.next(false)], [1, 2, 3, 4]);
}

#[test]
fn negative_message_and_tl_errors() {
    // TL
    assert_eq!(Reader::new(&[1, 2]).u32(), Err(TlError::Truncated { needed: 4, available: 2 }));
    assert_eq!(Reader::new(&[0xff, 0, 0, 0]).bytes(), Err(TlError::BadBytesLength));
    assert_eq!(Reader::new(&[0, 0, 0, 0]).bool(), Err(TlError::BadBool { found: 0 }));
    assert_eq!(Ping::from_bytes(&[0, 0, 0, 0]), Err(TlError::UnexpectedConstructor { found: 0 }));
    let mut v = Vec::new();
    v.put_u32(0x1cb5c415);
    v.put_u32(1_000_000);
    assert_eq!(
        MsgsAck::from_bytes(&[&MsgsAck::ID.to_le_bytes()[..], &v[..]].concat()),
        Err(TlError::VectorTooLong { count: 1_000_000 })
    );
    let mut p = Ping { ping_id: 1 }.to_bytes();
    p.push(0);
    assert_eq!(Ping::from_bytes(&p), Err(TlError::TrailingBytes { left: 1 }));
    // Plain messages.
    let mut pkt = Vec::new();
    message::pack_plain(4, b"abcd", &mut pkt);
    assert_eq!(message::unpack_plain(&pkt).expect("ok").body, b"abcd");
    let mut bad = pkt.clone();
    bad[0] = 1;
    assert_eq!(message::unpack_plain(&bad), Err(MessageError::NotPlaintext));
    let mut bad = pkt.clone();
    bad[16] = 9;
    assert!(matches!(message::unpack_plain(&bad), Err(MessageError::BadLength { declared: 9, actual: 4 })));
    let mut zero = Vec::new();
    message::pack_plain(0, b"abcd", &mut zero);
    assert_eq!(message::unpack_plain(&zero), Err(MessageError::BadMsgIdParity { msg_id: 0 }));
    // Containers.
    let mut out = Vec::new();
    let mut c = container::ContainerBuilder::new(&mut out, 2, 1 << 20);
    assert!(c.push(4, 1, b"abcd"));
    assert!(c.push(4, 3, b"abcd"));
    assert!(!c.push(8, 5, b"abcd"), "count limit");
    c.finish();
    assert_eq!(container::unpack(&out, 100, Role::Client, 1020), Err(MessageError::DuplicateInContainer { msg_id: 4 }));
    assert_eq!(container::unpack(&out, 4, Role::Client, 1020), Err(MessageError::ContainerOrder { msg_id: 4 }));
    assert_eq!(container::unpack(&out, 100, Role::Client, 1), Err(MessageError::ContainerTooLarge));
    assert_eq!(container::unpack(&out, 100, Role::Server, 1020), Err(MessageError::BadMsgIdParity { msg_id: 4 }));
    let mut nested = Vec::new();
    let mut inner = Vec::new();
    container::ContainerBuilder::new(&mut inner, 10, 1 << 20).finish();
    let mut c = container::ContainerBuilder::new(&mut nested, 10, 1 << 20);
    c.push(4, 1, &inner);
    c.finish();
    assert_eq!(container::unpack(&nested, 100, Role::Client, 1020), Err(MessageError::NestedContainer));
    let mut odd_len = Vec::new();
    odd_len.put_u32(schema::MSG_CONTAINER);
    odd_len.put_u32(1);
    odd_len.put_i64(4);
    odd_len.put_i32(1);
    odd_len.put_u32(3);
    odd_len.put_raw(&[0; 4]);
    assert!(matches!(
        container::unpack(&odd_len, 100, Role::Client, 1020),
        Err(MessageError::BadLength { declared: 3, .. })
    ));
    // gzip: a bomb costs nothing, garbage is refused.
    let zeros = vec![0u8; 10 << 20];
    let mut bomb = Vec::new();
    assert!(gzip::pack_if_smaller(&zeros, &mut bomb));
    assert!(bomb.len() < 64 << 10);
    assert_eq!(gzip::unpack(&bomb, 1 << 20), Err(MessageError::GzipTooLarge { limit: 1 << 20 }));
    let mut garbage = Vec::new();
    garbage.put_u32(schema::GZIP_PACKED);
    garbage.put_bytes(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 3, 4, 5, 6, 0, 0, 0, 0]);
    assert_eq!(gzip::unpack(&garbage, 1 << 20), Err(MessageError::BadGzip));
    // Encrypted: padding bounds, wrong parity.
    let key = AuthKey::from_bytes(core::array::from_fn(|i| (i * 7) as u8));
    let mut client =
        EncryptedSession::with_entropy(key.clone(), Role::Client, 1, 2, 0, Box::new(SeededEntropy::new(1)));
    let server = EncryptedSession::with_entropy(key.clone(), Role::Server, 1, 2, 0, Box::new(SeededEntropy::new(2)));
    let mut out = Vec::new();
    client.pack_with(5, 1, b"abcd", &mut out);
    assert_eq!(server.unpack(&mut out), Err(MessageError::BadMsgIdParity { msg_id: 5 }));
    // A client message seen by the client (wrong direction) fails msg_key.
    let mut out = Vec::new();
    client.pack(b"abcd", true, Duration::from_secs(1), &mut out);
    assert!(matches!(client.unpack(&mut out), Err(MessageError::Crypto(mtproto_crypto::CryptoError::MsgKeyMismatch))));
    // Padding above 1024 bytes.
    let mut plain = vec![0u8; 24];
    plain.extend_from_slice(&1i64.to_le_bytes());
    plain.extend_from_slice(&2i64.to_le_bytes());
    plain.extend_from_slice(&8i64.to_le_bytes());
    plain.extend_from_slice(&1i32.to_le_bytes());
    plain.extend_from_slice(&0u32.to_le_bytes());
    plain.resize(24 + 32 + 1040, 0);
    mtproto_crypto::envelope::encrypt_in_place(&key, mtproto_crypto::Direction::ClientToServer, &mut plain)
        .expect("aligned");
    assert_eq!(server.unpack(&mut plain), Err(MessageError::BadPadding { padding: 1040 }));
    // Every error has a message.
    for e in [
        MessageError::NotPlaintext,
        MessageError::BadGzip,
        MessageError::NestedContainer,
        MessageError::ContainerTooLarge,
    ] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn obfuscated2_vectors_through_the_transport() {
    use mtproto_crypto::entropy::ReplayEntropy;
    let d = vectors("obfuscated2.json");
    for c in d["cases"].as_array().expect("cases") {
        let tag = h(&c["protocol_tag"]);
        let kind = match tag[0] {
            0xef => TransportKind::Abridged,
            0xee => TransportKind::Intermediate,
            _ => TransportKind::PaddedIntermediate,
        };
        let secret: Option<[u8; 16]> =
            c["secret"].as_str().map(|s| hex::decode(s).expect("hex")[..16].try_into().expect("16"));
        let obf = Obfuscation { dc_id: c["dc_id"].as_i64().expect("dc") as i16, secret };
        // The transport draws its 64 random header bytes first: replay the published ones.
        let mut entropy = h(&c["init_random64"]);
        entropy.extend_from_slice(&[0u8; 64]);
        let mut t = Transport::client(kind, Some(obf), 1 << 20, Box::new(ReplayEntropy::new(entropy, Some(1))))
            .expect("client");
        let mut wire = Vec::new();
        t.encode(&[0u8; 16], false, &mut wire);
        assert_eq!(wire[..64], h(&c["expected_header"])[..], "{}", c["name"]);
        // And a server accepts the header with the same secret.
        let mut server = Transport::server(secret, 1 << 20, Box::new(SeededEntropy::new(1)));
        let mut frames = Vec::new();
        server.feed(&wire, &mut frames).expect("accepted");
        assert_eq!(server.kind(), Some(kind));
        assert_eq!(frames.len(), 1);
    }
    assert!(!TlError::BadValue.to_string().is_empty());
}
