#![allow(clippy::unwrap_used)]
//! Deterministic simulation of a client and a server Connection.
//! `SIM_SEEDS=100000 cargo test -p mtproto-tests --release --test simulation many_seeds`
//! runs more seeds; `SIM_SEED=n` replays one.

use mtproto_core::connection::Transporting;
use mtproto_core::transport::fake_tls::FakeTlsConfig;
use mtproto_core::transport::{Obfuscation, TransportKind};
use mtproto_tests::{BAD_MSG_CODES, Faults, run_seed, run_seed_with};

fn seeds(default: u64) -> Vec<u64> {
    if let Some(one) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![one];
    }
    let n = std::env::var("SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    (0..n).collect()
}

fn check(seed: u64, faults: Faults, handshake: bool, requests: u64) -> mtproto_tests::Report {
    match run_seed(seed, faults, handshake, requests) {
        Ok(r) => r,
        Err(e) => panic!("seed {seed} failed ({faults:?}, handshake {handshake}): {e}\nreplay: SIM_SEED={seed}"),
    }
}

#[test]
fn many_seeds_with_mixed_faults() {
    let mut answered = 0;
    let mut total = 0;
    for seed in seeds(1000) {
        let f = Faults {
            drop: (seed % 3) as u8,
            duplicate: (seed % 5) as u8 * 2,
            reorder: (seed % 7) as u8 * 2,
            corrupt: (seed % 4) as u8,
            skew_secs: [0, 3 * 3600, -2 * 3600, 45][(seed % 4) as usize],
            rotate_salt: (seed % 3 == 0) as u8 * 2,
            new_session: (seed % 5 == 0) as u8 * 2,
            bad_msg: (seed % 6 == 0) as u8 * 3,
            link_cut: (seed % 4 == 1) as u8 * 3,
            lag: (seed % 8 == 1) as u8 * 50,
        };
        let r = check(seed, f, seed % 100 == 0, 12);
        answered += r.answered;
        total += r.sent;
    }
    // Faults cost some requests (timeouts after drops), but most get through.
    assert!(answered * 10 >= total * 7, "only {answered} of {total} answered");
}

/// Link faults only (cuts in either direction at any byte, a new link after
/// a delay, both ends keeping their sessions): every request is answered,
/// exactly once, none lost; the server's execution log across all sessions
/// of the key has no request twice (checked by the simulation).
#[test]
fn link_cuts_lose_nothing() {
    let mut cuts = 0;
    for seed in seeds(1000) {
        // Half the cuts leave the old link's server side lagging behind the new one.
        let f = Faults { link_cut: 8, lag: 50, ..Faults::default() };
        let r = check(seed, f, seed % 50 == 0, 12);
        assert_eq!(r.answered, r.sent, "seed {seed}: {r:?}");
        assert_eq!(r.failed, 0, "seed {seed}: {r:?}");
        assert_eq!(r.reconnects, 0, "seed {seed}: the session continued: {r:?}");
        cuts += r.links_resumed;
    }
    assert!(cuts > 100, "only {cuts} cuts");
}

#[test]
fn clean_network_answers_everything() {
    for seed in 0..20 {
        let r = check(seed, Faults::default(), seed % 5 == 0, 200);
        assert_eq!(r.answered, r.sent, "seed {seed}: {r:?}");
        assert_eq!(r.failed, 0);
    }
}

#[test]
fn every_bad_msg_code_is_survived() {
    for (i, code) in BAD_MSG_CODES.iter().enumerate() {
        for seed in 0..10u64 {
            let f = Faults { bad_msg: 30, ..Faults::default() };
            let r = check(seed * 100 + i as u64, f, false, 30);
            assert_eq!(r.answered, r.sent, "code {code} seed {seed}: {r:?}");
        }
    }
}

#[test]
fn clock_skewed_by_hours_works_from_the_first_exchange() {
    for skew in [-6 * 3600, -300, 301, 5 * 3600, 30 * 24 * 3600] {
        for handshake in [false, true] {
            let r = check(7, Faults { skew_secs: skew, ..Faults::default() }, handshake, 50);
            assert_eq!(r.answered, r.sent, "skew {skew}: {r:?}");
        }
    }
}

#[test]
fn salt_rotation_and_new_sessions() {
    for seed in 0..30 {
        let f = Faults { rotate_salt: 10, new_session: 10, ..Faults::default() };
        let r = check(seed, f, false, 60);
        assert_eq!(r.answered, r.sent, "seed {seed}: {r:?}");
    }
}

/// Link cuts over a stream transport (both roles): transmits are bytes
/// (`Input::Bytes`), a cut falls at any byte of what is in flight in either
/// direction (mid-frame), every new link has a fresh transport on both
/// ends (new tag or obfuscated2 header, a new fake-TLS hello), half the
/// cuts leave the old server link lagging. Every request is answered,
/// none fails, none runs twice across the sessions of the key.
fn stream_cuts_lose_nothing(name: &str, transport: Transporting) {
    let mut cuts = 0;
    let list = seeds(100);
    for &seed in &list {
        let f = Faults { link_cut: 8, lag: 50, ..Faults::default() };
        let handshake = seed % 10 == 0;
        let r = match run_seed_with(seed, f, handshake, 12, transport.clone()) {
            Ok(r) => r,
            Err(e) => panic!("{name}: seed {seed} failed (handshake {handshake}): {e}\nreplay: SIM_SEED={seed}"),
        };
        assert_eq!(r.answered, r.sent, "{name} seed {seed}: {r:?}");
        assert_eq!(r.failed, 0, "{name} seed {seed}: {r:?}");
        assert_eq!(r.reconnects, 0, "{name} seed {seed}: the session continued: {r:?}");
        cuts += r.links_resumed;
    }
    assert!(cuts as u64 >= list.len() as u64 / 4, "{name}: only {cuts} cuts in {} seeds", list.len());
}

#[test]
fn stream_cuts_abridged() {
    stream_cuts_lose_nothing("abridged", Transporting::Framed(TransportKind::Abridged, None));
}

#[test]
fn stream_cuts_intermediate() {
    stream_cuts_lose_nothing("intermediate", Transporting::Framed(TransportKind::Intermediate, None));
}

#[test]
fn stream_cuts_padded_intermediate() {
    stream_cuts_lose_nothing("padded", Transporting::Framed(TransportKind::PaddedIntermediate, None));
}

#[test]
fn stream_cuts_full() {
    stream_cuts_lose_nothing("full", Transporting::Framed(TransportKind::Full, None));
}

#[test]
fn stream_cuts_obfuscated2_intermediate() {
    let obf = Obfuscation { dc_id: 2, secret: None };
    stream_cuts_lose_nothing("obfuscated2", Transporting::Framed(TransportKind::Intermediate, Some(obf)));
}

#[test]
fn stream_cuts_obfuscated2_with_proxy_secret() {
    let obf = Obfuscation { dc_id: 2, secret: Some([0x3c; 16]) };
    stream_cuts_lose_nothing("obfuscated2+secret", Transporting::Framed(TransportKind::PaddedIntermediate, Some(obf)));
}

#[test]
fn stream_cuts_fake_tls() {
    let config = FakeTlsConfig::new([0x5a; 16], "www.example.com", 2);
    stream_cuts_lose_nothing("fake-TLS", Transporting::FakeTls(config));
}

/// The stream runs really are streams: the client's first bytes are its
/// transport's (tag, obfuscated2 header, TLS hello), not a bare packet.
#[test]
fn stream_runs_start_with_the_transport() {
    use mtproto_core::Output;
    let now = core::time::Duration::from_secs(1_780_000_000);
    let obf = Some(Obfuscation { dc_id: 2, secret: None });
    let fake_tls = Transporting::FakeTls(FakeTlsConfig::new([0x5a; 16], "www.example.com", 2));
    type Check = fn(&[u8]) -> bool;
    let cases: [(Transporting, Check); 6] = [
        (Transporting::Framed(TransportKind::Abridged, None), |b| b[0] == 0xef),
        (Transporting::Framed(TransportKind::Intermediate, None), |b| b[..4] == [0xee; 4]),
        (Transporting::Framed(TransportKind::PaddedIntermediate, None), |b| b[..4] == [0xdd; 4]),
        // Length (LE, the whole frame), then seq_no 0.
        (Transporting::Framed(TransportKind::Full, None), |b| {
            b[4..8] == [0; 4] && u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize == b.len()
        }),
        // 64 random-looking bytes: no plain tag in front.
        (Transporting::Framed(TransportKind::Intermediate, obf), |b| b.len() > 64 && b[..4] != [0xee; 4]),
        // A 517-byte ClientHello record.
        (fake_tls, |b| b.len() == 517 && b[..5] == [0x16, 0x03, 0x01, 0x02, 0x00]),
    ];
    for (transport, looks_right) in cases {
        let mut sim = mtproto_tests::Sim::with_transport(1, Faults::default(), true, transport.clone());
        let Output::Transmit(first) = sim.client.poll_output(now) else { panic!("{transport:?}: nothing sent") };
        assert!(looks_right(&first), "{transport:?}: {:02x?}", &first[..first.len().min(16)]);
    }
}

#[test]
fn stream_cuts_fake_tls_post_quantum_hello() {
    use mtproto_core::transport::fake_tls::HelloTemplate;
    let mut config = FakeTlsConfig::new([0x5a; 16], "www.example.com", 2);
    config.hello = HelloTemplate::PostQuantum;
    stream_cuts_lose_nothing("fake-TLS (post-quantum hello)", Transporting::FakeTls(config));
}
