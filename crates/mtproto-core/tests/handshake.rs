#![allow(clippy::unwrap_used)]
//! Handshake: known-answer replays of published exchanges, our client against
//! our server for many seeds (permanent and temporary keys), corruption at
//! every step, and arbitrary bytes fed to either machine.

use core::time::Duration;
use mtproto_core::handshake::{
    self, ClientConfig, ClientHandshake, DhGenAnswer, FinishResult, HandshakeError, ServerConfig, ServerHandshake,
    Step, Step2, pfs,
};
use mtproto_core::message;
use mtproto_core::tl::schema::{BindAuthKeyInner, PqInnerData, PqInnerFields, ResPq, ServerDhParamsOk};
use mtproto_core::tl::{Deserialize, Serialize};
use mtproto_crypto::dh::PrimeCache;
use mtproto_crypto::entropy::ReplayEntropy;
use mtproto_crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use mtproto_crypto::{AuthKey, SeededEntropy};
use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;

fn vectors(name: &str) -> Value {
    let path = format!("{}/../mtproto-crypto/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("json")
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex")).expect("hex")
}

fn server_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::generate(&mut SeededEntropy::new(99)).expect("keygen"))
}

fn now() -> Duration {
    Duration::from_secs(1_750_000_000)
}

#[test]
fn grammers_real_exchange_replayed_by_the_step_functions() {
    let d = vectors("auth_key_handshake.json");
    let c = &d["cases"][2];
    let g = &c["given"];
    let keys = vectors("rsa_keys.json");
    let test_pem =
        keys["keys"].as_array().expect("keys").iter().find(|k| k["role"] == "test").expect("test key")["pem"]
            .as_str()
            .expect("pem")
            .to_string();
    let config = ClientConfig {
        keys: vec![RsaPublicKey::from_pem(&test_pem).expect("pem")],
        dc_id: None,
        temp_key_expires_in: None,
        timeout: handshake::DEFAULT_TIMEOUT,
    };
    let mut e = ReplayEntropy::new(h(&g["nonce"]), None);
    let (req, s1) = handshake::step1(&mut e);
    assert_eq!(req.to_bytes(), h(&g["req_pq_multi_body"]));

    let res = ResPq::from_bytes(&h(&g["res_pq_body"])[..]).expect("resPQ");
    // Our draw order is new_nonce, RSA_PAD padding, temp_key; grammers' is new_nonce, then 224
    // bytes with the padding first and temp_key at offset 192.
    let r2 = h(&g["step2_random"]);
    let pq = u64::from_be_bytes(res.pq.clone().try_into().expect("8"));
    let (p, q) = mtproto_crypto::pq::factorize(pq).expect("pq");
    let inner_len = PqInnerData::Plain(PqInnerFields {
        pq: res.pq.clone(),
        p: (p as u32).to_be_bytes().to_vec(),
        q: (q as u32).to_be_bytes().to_vec(),
        nonce: [0; 16],
        server_nonce: [0; 16],
        new_nonce: [0; 32],
    })
    .to_bytes()
    .len();
    let rnd = &r2[32..];
    let mut replay = r2[..32].to_vec();
    replay.extend_from_slice(&rnd[..192 - inner_len]);
    replay.extend_from_slice(&rnd[192..224]);
    let mut e = ReplayEntropy::new(replay, None);
    let (req, s2) = handshake::step2(s1, &res, &config, &mut e).expect("step2");
    assert_eq!(req.to_bytes(), h(&g["req_DH_params_body"]));

    let ok = ServerDhParamsOk::from_bytes(&h(&g["server_DH_params_body"])[..]).expect("server_DH_params_ok");
    let mut e = ReplayEntropy::new(h(&g["step3_random"]), None);
    let now = Duration::from_secs(g["now"].as_u64().expect("now"));
    let (req, s3) = handshake::step3(s2, &ok, now, &mut PrimeCache::default(), &mut e).expect("step3");
    assert_eq!(req.to_bytes(), h(&g["set_client_DH_params_body"]));

    let answer = DhGenAnswer::from_bytes(&h(&g["dh_gen_body"])[..]).expect("dh_gen");
    let FinishResult::Done(result) = handshake::finish(s3, &answer, &mut SeededEntropy::new(0)).expect("finish") else {
        panic!("expected dh_gen_ok")
    };
    assert_eq!(result.auth_key.as_bytes()[..], h(&g["auth_key"])[..]);
    assert_eq!(result.first_salt, g["first_salt"].as_i64().expect("salt"));
    assert_eq!(result.time_offset, g["time_offset"].as_i64().expect("offset"));
    assert_eq!(result.auth_key.id_bytes()[..], h(&c["derived_by_us"]["auth_key_id"])[..]);
}

#[test]
fn official_2024_sample_replayed_from_step3() {
    let d = vectors("auth_key_handshake.json");
    let c = &d["cases"][0];
    let g = &c["given_by_doc"];
    let s2 = Step2::from_parts(
        h(&g["nonce"]).try_into().expect("16"),
        h(&g["server_nonce"]).try_into().expect("16"),
        h(&g["new_nonce"]).try_into().expect("32"),
        None,
    );
    let ok = ServerDhParamsOk::from_bytes(&h(&g["server_DH_params_ok_payload"])[20..]).expect("ok");
    let mut random = h(&g["b"]);
    random.extend(h(&g["client_DH_padding"]));
    let mut e = ReplayEntropy::new(random, None);
    let now = Duration::from_secs(g["server_time"].as_u64().expect("time"));
    let (req, s3) = handshake::step3(s2, &ok, now, &mut PrimeCache::default(), &mut e).expect("step3");
    assert_eq!(req.encrypted_data, h(&g["client_encrypted_data"]));
    let plain = message::unpack_plain(&h(&g["set_client_DH_params_payload"])).expect("plain").body.to_vec();
    assert_eq!(req.to_bytes(), plain);
    let answer = DhGenAnswer::from_bytes(&h(&g["dh_gen_ok_payload"])[20..]).expect("dh_gen_ok");
    let FinishResult::Done(result) = handshake::finish(s3, &answer, &mut SeededEntropy::new(0)).expect("finish") else {
        panic!("expected dh_gen_ok")
    };
    assert_eq!(result.auth_key.as_bytes()[..], h(&g["auth_key"])[..]);
    assert_eq!(result.first_salt.to_le_bytes()[..], h(&c["derived_by_us"]["server_salt"])[..]);
    assert_eq!(result.time_offset, 0);
}

/// Runs one in-memory handshake; `corrupt(step, packet)` may alter packets.
fn run(
    seed: u64,
    temp: bool,
    taken: &dyn Fn(i64) -> bool,
    corrupt: &mut dyn FnMut(usize, &mut Vec<u8>),
) -> Result<(handshake::HandshakeResult, handshake::HandshakeResult), (usize, HandshakeError)> {
    let key = server_key();
    let mut config = ClientConfig::new(vec![key.public_key().clone()], 2);
    if temp {
        config.temp_key_expires_in = Some(3600);
    }
    let (mut client, mut packet) = ClientHandshake::start(config, now(), Box::new(SeededEntropy::new(seed)));
    let mut server = ServerHandshake::new(
        ServerConfig::new(vec![key.clone()]).expect("config"),
        now(),
        Box::new(SeededEntropy::new(!seed)),
    );
    let mut step = 0;
    loop {
        corrupt(step, &mut packet);
        step += 1;
        match server.handle(&packet, now(), taken).map_err(|e| (step, e))? {
            Step::Send(reply) => packet = reply,
            Step::Done(Some(reply), server_result) => {
                let mut reply = reply;
                corrupt(step, &mut reply);
                step += 1;
                match client.handle(&reply, now()).map_err(|e| (step, e))? {
                    Step::Done(None, client_result) => return Ok((*client_result, *server_result)),
                    other => panic!("client did not finish: {other:?}"),
                }
            }
            Step::Done(None, _) => panic!("server finishes with a packet"),
        }
        corrupt(step, &mut packet);
        step += 1;
        match client.handle(&packet, now()).map_err(|e| (step, e))? {
            Step::Send(next) => packet = next,
            other => panic!("client finished early: {other:?}"),
        }
    }
}

#[test]
fn our_client_against_our_server_many_seeds() {
    let seeds: u64 = std::env::var("HANDSHAKE_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let mut ids = std::collections::HashSet::new();
    for seed in 0..seeds {
        let temp = seed % 2 == 1;
        let (c, s) = run(seed, temp, &|_| false, &mut |_, _| {}).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
        assert_eq!(c.auth_key, s.auth_key, "seed {seed}");
        assert_eq!(c.first_salt, s.first_salt);
        assert_eq!(s.dc_id, Some(2));
        assert_eq!(c.expires_at.is_some(), temp);
        assert_eq!(c.expires_at, s.expires_at);
        assert!(ids.insert(c.auth_key.id()), "seed {seed}: repeated key");
    }
}

#[test]
fn dh_gen_retry_when_the_key_id_is_taken() {
    let first = std::cell::Cell::new(true);
    let taken = |_id: i64| first.replace(false);
    let (c, s) = run(5, false, &taken, &mut |_, _| {}).expect("retry then ok");
    assert_eq!(c.auth_key, s.auth_key);
}

#[test]
fn every_corruption_is_a_typed_error() {
    // For each packet position and several byte positions, flip a byte; the
    // exchange must fail with a typed error (or, for bytes nobody checks such
    // as random padding, still agree on one key).
    for step in 0..7 {
        for at in [0usize, 9, 16, 20, 24, 40, 60, 100, 300, 600] {
            let r = run(at as u64 * 7 + step as u64, step % 2 == 0, &|_| false, &mut |s, p| {
                if s == step && at < p.len() {
                    p[at] ^= 0x5a;
                }
            });
            match r {
                Ok((c, s)) => assert_eq!(c.auth_key, s.auth_key, "step {step} byte {at}: silent disagreement"),
                Err((_, e)) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

#[test]
fn specific_failures_name_their_check() {
    let key = server_key();
    // Unknown fingerprint on the client side.
    let other = RsaPrivateKey::generate(&mut SeededEntropy::new(3)).expect("keygen");
    let config = ClientConfig::new(vec![other.public_key().clone()], 2);
    let (mut client, packet) = ClientHandshake::start(config, now(), Box::new(SeededEntropy::new(1)));
    let mut server = ServerHandshake::new(
        ServerConfig::new(vec![key.clone()]).expect("config"),
        now(),
        Box::new(SeededEntropy::new(2)),
    );
    let Step::Send(res) = server.handle(&packet, now(), &|_| false).expect("resPQ") else { panic!() };
    assert_eq!(client.handle(&res, now()).unwrap_err(), HandshakeError::NoKnownFingerprint);
    // Nonce not echoed.
    let config = ClientConfig::new(vec![key.public_key().clone()], 2);
    let (mut client, _) = ClientHandshake::start(config, now(), Box::new(SeededEntropy::new(11)));
    assert_eq!(client.handle(&res, now()).unwrap_err(), HandshakeError::NonceMismatch);
    // Unexpected message, msg_id parity, trailing bytes, deadline.
    let mut server = ServerHandshake::new(
        ServerConfig::new(vec![key.clone()]).expect("config"),
        now(),
        Box::new(SeededEntropy::new(2)),
    );
    let mut ping = Vec::new();
    message::pack_plain(4, &mtproto_core::tl::schema::Ping { ping_id: 1 }.to_bytes(), &mut ping);
    assert!(matches!(server.handle(&ping, now(), &|_| false), Err(HandshakeError::UnexpectedMessage { .. })));
    let config = ClientConfig::new(vec![key.public_key().clone()], 2);
    let (_, packet) = ClientHandshake::start(config.clone(), now(), Box::new(SeededEntropy::new(1)));
    let mut server = ServerHandshake::new(
        ServerConfig::new(vec![key.clone()]).expect("config"),
        now(),
        Box::new(SeededEntropy::new(2)),
    );
    let mut odd = packet.clone();
    odd[8] |= 1;
    assert!(matches!(server.handle(&odd, now(), &|_| false), Err(HandshakeError::Message(_))));
    let mut server = ServerHandshake::new(
        ServerConfig::new(vec![key.clone()]).expect("config"),
        now(),
        Box::new(SeededEntropy::new(2)),
    );
    let mut trailing = packet.clone();
    trailing.extend_from_slice(&[0; 4]);
    trailing[16] += 4;
    assert!(matches!(server.handle(&trailing, now(), &|_| false), Err(HandshakeError::Tl(_))));
    let mut server = ServerHandshake::new(
        ServerConfig::new(vec![key.clone()]).expect("config"),
        now(),
        Box::new(SeededEntropy::new(2)),
    );
    assert_eq!(
        server.handle(&packet, now() + Duration::from_secs(31), &|_| false).unwrap_err(),
        HandshakeError::Timeout
    );
    let (mut client, _) = ClientHandshake::start(config, now(), Box::new(SeededEntropy::new(1)));
    assert_eq!(client.deadline(), now() + handshake::DEFAULT_TIMEOUT);
    assert_eq!(client.handle_timeout(now() + Duration::from_secs(30)), Err(HandshakeError::Timeout));
}

#[test]
fn pfs_binding_round_trip_and_refusals() {
    let perm = AuthKey::from_bytes(core::array::from_fn(|i| i as u8));
    let temp = AuthKey::from_bytes(core::array::from_fn(|i| (255 - i) as u8));
    let inner = BindAuthKeyInner {
        nonce: 42,
        temp_auth_key_id: temp.id(),
        perm_auth_key_id: perm.id(),
        temp_session_id: 7,
        expires_at: 1_800_000_000,
    };
    let msg_id = 0x6000_0000_0000_0004;
    let enc = pfs::encrypt_bind_message(&perm, msg_id, &inner, &mut SeededEntropy::new(1)).expect("encrypt");
    let request = pfs::BindRequest {
        msg_id,
        nonce: 42,
        expires_at: 1_800_000_000,
        temp_key_id: temp.id(),
        temp_session_id: 7,
        temp_key_expires_at: Some(1_800_000_000),
    };
    let verify = |key: &AuthKey, enc: &[u8], change: fn(&mut pfs::BindRequest)| {
        let mut r = request;
        change(&mut r);
        pfs::verify_bind_message(key, enc, &r)
    };
    assert_eq!(verify(&perm, &enc, |_| {}).expect("verify"), inner);
    assert_eq!(verify(&perm, &enc, |r| r.msg_id += 4).unwrap_err(), HandshakeError::NonceMismatch);
    assert_eq!(verify(&perm, &enc, |r| r.temp_session_id = 8).unwrap_err(), HandshakeError::NonceMismatch);
    // The review's finding 7c: the call's nonce and expires_at, and the temp
    // key's expiry, are checked against the encrypted inner object.
    assert_eq!(verify(&perm, &enc, |r| r.nonce = 43).unwrap_err(), HandshakeError::NonceMismatch);
    assert_eq!(verify(&perm, &enc, |r| r.expires_at += 1).unwrap_err(), HandshakeError::BindingExpiry);
    assert_eq!(
        verify(&perm, &enc, |r| r.temp_key_expires_at = Some(1_799_999_999)).unwrap_err(),
        HandshakeError::BindingExpiry
    );
    assert!(verify(&perm, &enc, |r| r.temp_key_expires_at = None).is_ok());
    assert!(matches!(verify(&temp, &enc, |_| {}), Err(HandshakeError::Crypto(_))));
    let mut bad = enc.clone();
    bad[40] ^= 1;
    assert!(matches!(verify(&perm, &bad, |_| {}), Err(HandshakeError::Crypto(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_at_any_state_never_panic(garbage in proptest::collection::vec(any::<u8>(), 0..700), at_step in 0usize..3, seed in any::<u64>()) {
        let key = server_key();
        let config = ClientConfig::new(vec![key.public_key().clone()], 2);
        let (mut client, mut packet) = ClientHandshake::start(config, now(), Box::new(SeededEntropy::new(seed)));
        let mut server = ServerHandshake::new(ServerConfig::new(vec![key.clone()]).expect("config"), now(), Box::new(SeededEntropy::new(seed ^ 1)));
        for _ in 0..at_step {
            match server.handle(&packet, now(), &|_| false) {
                Ok(Step::Send(r)) => match client.handle(&r, now()) {
                    Ok(Step::Send(n)) => packet = n,
                    _ => break,
                },
                _ => break,
            }
        }
        // Both raw garbage and garbage in a valid plain frame.
        let mut framed = Vec::new();
        message::pack_plain(4, &garbage, &mut framed);
        for input in [&garbage, &framed] {
            let _ = server.handle(input, now(), &|_| false);
            let _ = client.handle(input, now());
        }
    }
}

/// The review's finding 7c: a server refuses a temporary key whose
/// requested lifetime is not positive or absurdly long.
#[test]
fn server_refuses_absurd_temp_key_lifetimes() {
    let key = server_key();
    for (expires_in, refused) in
        [(-5, true), (0, true), (handshake::MAX_TEMP_KEY_LIFETIME + 1, true), (i32::MAX, true), (86_400, false)]
    {
        let mut config = ClientConfig::new(vec![key.public_key().clone()], 2);
        config.temp_key_expires_in = Some(expires_in);
        let (mut client, first) = ClientHandshake::start(config, now(), Box::new(SeededEntropy::new(3)));
        let mut server = ServerHandshake::new(
            ServerConfig::new(vec![key.clone()]).expect("config"),
            now(),
            Box::new(SeededEntropy::new(4)),
        );
        let Ok(Step::Send(res_pq)) = server.handle(&first, now(), &|_| false) else { panic!("resPQ") };
        let Ok(Step::Send(req_dh)) = client.handle(&res_pq, now()) else { panic!("req_DH_params") };
        let answer = server.handle(&req_dh, now(), &|_| false);
        if refused {
            assert_eq!(answer.unwrap_err(), HandshakeError::BadTempKeyLifetime { expires_in }, "{expires_in}");
        } else {
            assert!(matches!(answer, Ok(Step::Send(_))), "{expires_in}");
        }
    }
}
