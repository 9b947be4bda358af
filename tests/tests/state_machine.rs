//! proptest state-machine test: random sequences of API calls and faults on
//! a client and a server Connection; the simulation's invariants hold after
//! every sequence (each handle resolves exactly once, no request runs twice
//! in a session, msg_ids increase, nothing stays pending).
#![allow(clippy::unwrap_used, missing_docs)]

use core::time::Duration;
use mtproto_tests::{BAD_MSG_CODES, Faults, Sim};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    Send(usize),
    Burst(u8),
    Cancel(usize),
    Ping,
    DestroySession,
    Wait(u16),
    RotateSalt,
    ForgetSession,
    BadMsg(usize),
    LongSilence,
    CutLink,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (4usize..3000).prop_map(Action::Send),
        2 => (1u8..40).prop_map(Action::Burst),
        1 => any::<usize>().prop_map(Action::Cancel),
        1 => Just(Action::Ping),
        1 => Just(Action::DestroySession),
        4 => (1u16..2000).prop_map(Action::Wait),
        1 => Just(Action::RotateSalt),
        1 => Just(Action::ForgetSession),
        1 => (0usize..BAD_MSG_CODES.len()).prop_map(Action::BadMsg),
        1 => Just(Action::LongSilence),
        2 => Just(Action::CutLink),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn random_api_sequences_keep_every_invariant(actions in proptest::collection::vec(action(), 1..60), seed in any::<u64>()) {
        let mut sim = Sim::new(seed, Faults::default(), false);
        while !sim.is_ready() {
            sim.step(Duration::from_millis(20)).map_err(TestCaseError::fail)?;
        }
        let mut handles = Vec::new();
        let mut id = 0u64;
        for a in actions {
            match a {
                Action::Send(size) => {
                    handles.push(sim.send_request(id, size));
                    id += 1;
                }
                Action::Burst(n) => {
                    for _ in 0..n {
                        handles.push(sim.send_request(id, 16));
                        id += 1;
                    }
                }
                Action::Cancel(i) if !handles.is_empty() => sim.cancel(handles[i % handles.len()]),
                Action::Cancel(_) => {}
                Action::Ping => {
                    let now = Duration::from_secs(1_780_000_000);
                    sim.client.ping(now);
                }
                Action::DestroySession => sim.client.destroy_session(seed as i64),
                Action::Wait(ms) => sim.step(Duration::from_millis(ms as u64)).map_err(TestCaseError::fail)?,
                Action::RotateSalt => {
                    let now = Duration::from_secs(1_780_000_000);
                    sim.server_mut().rotate_salt(now);
                }
                Action::ForgetSession => sim.forget_session(),
                Action::BadMsg(i) => sim.server_mut().inject_bad_msg(BAD_MSG_CODES[i]),
                Action::CutLink => sim.cut_link(),
                Action::LongSilence => {
                    for _ in 0..10 {
                        sim.step(Duration::from_secs(10)).map_err(TestCaseError::fail)?;
                    }
                }
            }
            sim.step(Duration::from_millis(5)).map_err(TestCaseError::fail)?;
        }
        let report = sim.finish().map_err(TestCaseError::fail)?;
        prop_assert_eq!(report.sent, handles.len());
    }
}

#[test]
fn persisted_state_round_trips_and_resumes() {
    use mtproto_core::connection::{ContinuedSession, Persisted};
    use mtproto_core::tl::schema::FutureSalt;
    let p = Persisted::new(mtproto_tests::shared_key(), -42, 3600);
    let bytes = p.to_bytes();
    assert_eq!(bytes.len(), Persisted::MIN_ENCODED_LEN);
    let back = Persisted::from_bytes(&bytes).unwrap();
    assert_eq!(back.auth_key, p.auth_key);
    assert_eq!((back.salt, back.time_offset), (-42, 3600));
    assert!(back.session.is_none() && back.future_salts.is_empty());
    assert!(Persisted::from_bytes(&bytes[1..]).is_none());
    let mut wrong_version = bytes.to_vec();
    wrong_version[0] = 9;
    assert!(Persisted::from_bytes(&wrong_version).is_none());
    // The first format (version 1: key, salt, offset) is still read.
    let mut v1 = 1u32.to_le_bytes().to_vec();
    v1.extend_from_slice(&bytes[4..276]);
    assert_eq!(Persisted::from_bytes(&v1).map(|b| (b.salt, b.time_offset, b.session)), Some((-42, 3600, None)));
    assert!(Persisted::from_bytes(&v1[..275]).is_none());
    // A continued session and future salts round-trip; the salt count is checked.
    let mut full = p.clone();
    full.session = Some(ContinuedSession { session_id: 7, seq_count: 9, last_msg_id: 1 << 40 });
    full.future_salts =
        (0..70).map(|i| FutureSalt { valid_since: i, valid_until: i + 1, salt: i64::from(i) }).collect();
    let bytes = full.to_bytes();
    assert_eq!(bytes.len(), Persisted::MAX_ENCODED_LEN, "at most 64 salts are kept");
    let back = Persisted::from_bytes(&bytes).unwrap();
    assert_eq!(back.session, full.session);
    assert_eq!(back.future_salts.len(), 64);
    assert_eq!(back.future_salts[63].salt, 63);
    assert!(Persisted::from_bytes(&bytes[..bytes.len() - 1]).is_none());
    let mut bad_flag = bytes.to_vec();
    bad_flag[276] = 2;
    assert!(Persisted::from_bytes(&bad_flag).is_none());
}
