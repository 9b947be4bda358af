//! Fake-TLS against the published answers of two proxies, and our client
//! against our server.

use super::*;
use crate::transport::{Frame, Transport, TransportError, TransportKind};
use mtproto_crypto::SeededEntropy;
use proptest::prelude::*;

const NOW: i64 = 1_780_000_000;
const KEY: [u8; 16] = [0x5a; 16];
const DOMAIN: &str = "www.example.com";

fn vectors() -> serde_json::Value {
    let path = format!("{}/../mtproto-crypto/tests/vectors/fake_tls_server_hello.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hexf(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// (key, client random, answer) of each published case.
fn cases() -> Vec<([u8; 16], [u8; 32], Vec<u8>)> {
    let d = vectors();
    let cases = d["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    cases
        .iter()
        .map(|c| {
            (
                hexf(&c["secret_hex"]).try_into().unwrap(),
                hexf(&c["client_random_hex"]).try_into().unwrap(),
                hexf(&c["server_hello_hex"]),
            )
        })
        .collect()
}

#[test]
fn published_answers_verify_and_are_consumed_exactly() {
    for (key, random, answer) in cases() {
        assert_eq!(verify_server_answer(&key, &random, &answer), Ok(Some(answer.len())));
        // Application data after the answer is not part of it.
        let mut more = answer.clone();
        more.extend_from_slice(&[0x17, 3, 3, 0, 1, 0xaa]);
        assert_eq!(verify_server_answer(&key, &random, &more), Ok(Some(answer.len())));
        // Every proper prefix waits for more.
        for cut in [0, 1, 5, 11, 43, 100, answer.len() - 1] {
            assert_eq!(verify_server_answer(&key, &random, &answer[..cut]), Ok(None), "cut {cut}");
        }
    }
}

#[test]
fn published_answers_refused_when_any_byte_is_tampered() {
    for (key, random, answer) in cases() {
        for i in 0..answer.len() {
            for flip in [0x01, 0x80] {
                let mut t = answer.clone();
                t[i] ^= flip;
                // A longer length only waits for more; given the rest, it refuses.
                let r = verify_server_answer(&key, &random, &t);
                let padded = [&t[..], &[0x17; 40000][..]].concat();
                let r2 = verify_server_answer(&key, &random, &padded);
                assert!(
                    matches!(r, Err(TransportError::FakeTlsAnswer)) || (r == Ok(None) && r2.is_err()),
                    "byte {i} ^ {flip:#x}: {r:?} {r2:?}"
                );
            }
        }
        for i in 0..32 {
            let mut r = random;
            r[i] ^= 1;
            assert_eq!(verify_server_answer(&key, &r, &answer), Err(TransportError::FakeTlsAnswer));
        }
        for i in 0..16 {
            let mut k = key;
            k[i] ^= 1;
            assert_eq!(verify_server_answer(&k, &random, &answer), Err(TransportError::FakeTlsAnswer));
        }
    }
}

#[test]
fn published_answers_through_a_transport_byte_at_a_time() {
    // Our client transport's hello has its own random, so it must refuse the
    // recorded answers (they answer another hello) -- at the last byte.
    for (key, _, answer) in cases() {
        let cfg = FakeTlsConfig::new(key, "example.com", 2);
        let mut c = Transport::fake_tls_client(&cfg, 1 << 20, Box::new(SeededEntropy::new(1)));
        c.set_unix_time(NOW);
        c.poll_transmit(&mut Vec::new());
        let mut frames = Vec::new();
        for (i, b) in answer.iter().enumerate() {
            let r = c.feed(&[*b], &mut frames);
            if i + 1 < answer.len() {
                assert_eq!(r, Ok(()), "byte {i}");
            } else {
                assert_eq!(r, Err(TransportError::FakeTlsAnswer));
            }
        }
    }
}

fn config() -> FakeTlsConfig {
    FakeTlsConfig::new(KEY, DOMAIN, 2)
}

fn hello_at(t: i64, seed: u64) -> ClientHello {
    client_hello(&KEY, DOMAIN, t as u32, &mut SeededEntropy::new(seed))
}

#[test]
fn client_hello_is_517_bytes_browser_like_and_verifies() {
    let mut orders = std::collections::HashSet::new();
    for seed in 0..32 {
        let h = hello_at(NOW, seed);
        assert_eq!(h.record.len(), CLIENT_HELLO_LEN);
        assert_eq!(&h.record[..5], &[0x16, 0x03, 0x01, 0x02, 0x00]);
        assert_eq!(&h.record[5..11], &[0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
        assert_eq!(&h.record[RANDOM_AT], &h.random);
        let p = parse_client_hello(&h.record).unwrap();
        assert_eq!(p.server_name, Some(DOMAIN.as_bytes()));
        assert_eq!(p.session_id.len(), 32);
        // Extensions: walk them, check the contents that matter.
        let exts = extensions(&h.record);
        let types: Vec<u16> = exts.iter().map(|e| e.0).collect();
        assert!(is_grease(types[0]) && is_grease(types[types.len() - 2]), "{types:04x?}");
        assert_eq!(*types.last().unwrap(), 0x0015, "padding last");
        for ty in [0x0000, 0x000a, 0x0033, 0x0010, 0x002b, 0x000d, 0x002d] {
            assert_eq!(types.iter().filter(|&&t| t == ty).count(), 1, "{ty:04x}");
        }
        let get = |ty: u16| exts.iter().find(|e| e.0 == ty).unwrap().1.clone();
        let ks = get(0x0033);
        // GREASE share, then x25519 with a curve point.
        assert!(is_grease(u16::from_be_bytes([ks[2], ks[3]])));
        assert_eq!(&ks[7..11], &[0x00, 0x1d, 0x00, 0x20]);
        assert!(is_curve_point(&ks[11..43].try_into().unwrap()));
        assert_eq!(&get(0x0010)[..], b"\x00\x0c\x02h2\x08http/1.1");
        let sv = get(0x002b);
        assert_eq!(&sv[3..], &[0x03, 0x04, 0x03, 0x03]);
        // Cipher suites: GREASE, then the three TLS 1.3 suites.
        let c = &h.record[44 + 32..];
        assert!(is_grease(u16::from_be_bytes([c[2], c[3]])));
        assert_eq!(&c[4..10], &[0x13, 0x01, 0x13, 0x02, 0x13, 0x03]);
        orders.insert(types[1..types.len() - 2].to_vec());
        // The proxy's check passes.
        let cfg = config();
        let v = verify_client_hello(&cfg, &h.record, NOW).unwrap();
        assert_eq!(v.client_time, NOW as u32);
    }
    assert!(orders.len() > 16, "extension order is randomized: {}", orders.len());
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 12 == (v >> 4) & 0xf
}

/// (type, body) of each extension of a ClientHello record.
fn extensions(record: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut at = 43;
    at += 1 + usize::from(record[at]);
    at += 2 + usize::from(u16::from_be_bytes([record[at], record[at + 1]]));
    at += 1 + usize::from(record[at]);
    let end = at + 2 + usize::from(u16::from_be_bytes([record[at], record[at + 1]]));
    at += 2;
    assert_eq!(end, record.len());
    let mut out = Vec::new();
    while at < end {
        let ty = u16::from_be_bytes([record[at], record[at + 1]]);
        let len = usize::from(u16::from_be_bytes([record[at + 2], record[at + 3]]));
        out.push((ty, record[at + 4..at + 4 + len].to_vec()));
        at += 4 + len;
    }
    out
}

#[test]
fn long_domains_give_longer_hellos_without_padding() {
    let d215 = "a".repeat(215);
    let h = client_hello(&KEY, &d215, 0, &mut SeededEntropy::new(1));
    assert_eq!(h.record.len(), CLIENT_HELLO_LEN);
    let d253 = "b".repeat(253);
    let h = client_hello(&KEY, &d253, 0, &mut SeededEntropy::new(1));
    assert_eq!(h.record.len(), 298 + 253);
    assert!(extensions(&h.record).iter().all(|e| e.0 != 0x0015));
    let cfg = FakeTlsConfig::new(KEY, d253, 2);
    assert!(verify_client_hello(&cfg, &h.record, 0).is_ok());
}

#[test]
fn timestamp_window_edges() {
    let cfg = config();
    let past = 20 * 60;
    let future = 10 * 60;
    for (skew, ok) in [(-past, true), (-past - 1, false), (future, true), (future + 1, false), (0, true)] {
        let h = hello_at(NOW + skew, skew.unsigned_abs());
        let r = verify_client_hello(&cfg, &h.record, NOW);
        if ok {
            assert!(r.is_ok(), "{skew}: {r:?}");
        } else {
            assert_eq!(r, Err(HelloRefusal::Stale { skew }));
        }
    }
    // A configured window.
    let mut narrow = config();
    narrow.max_past = core::time::Duration::from_secs(5);
    let h = hello_at(NOW - 6, 99);
    assert_eq!(verify_client_hello(&narrow, &h.record, NOW), Err(HelloRefusal::Stale { skew: -6 }));
}

#[test]
fn replayed_hello_is_refused_and_the_cache_is_bounded() {
    let cfg = config();
    let h = hello_at(NOW, 1);
    assert!(verify_client_hello(&cfg, &h.record, NOW).is_ok());
    assert_eq!(verify_client_hello(&cfg, &h.record, NOW), Err(HelloRefusal::Replayed));
    // A clone of the config shares the cache (one listener, many connections).
    assert_eq!(verify_client_hello(&cfg.clone(), &h.record, NOW), Err(HelloRefusal::Replayed));
    let mut small = config();
    small.replay = ReplayCache::new(4);
    for seed in 10..20 {
        assert!(verify_client_hello(&small, &hello_at(NOW, seed).record, NOW).is_ok());
    }
    assert_eq!(small.replay.len(), 4);
    // The oldest were forgotten; the newest are still refused.
    assert_eq!(verify_client_hello(&small, &hello_at(NOW, 19).record, NOW), Err(HelloRefusal::Replayed));
    assert!(verify_client_hello(&small, &hello_at(NOW, 10).record, NOW).is_ok());
}

#[test]
fn wrong_domain_key_and_lengths_are_refused() {
    let h = hello_at(NOW, 3);
    let other = FakeTlsConfig::new(KEY, "www.example.org", 2);
    assert_eq!(verify_client_hello(&other, &h.record, NOW), Err(HelloRefusal::WrongDomain));
    let wrong_key = FakeTlsConfig::new([1; 16], DOMAIN, 2);
    assert_eq!(verify_client_hello(&wrong_key, &h.record, NOW), Err(HelloRefusal::BadDigest));
    assert_eq!(parse_client_hello(&h.record[..516]), Err(HelloRefusal::BadLength { len: 512 }));
    let mut short = h.record.clone();
    short[3..5].copy_from_slice(&511u16.to_be_bytes());
    short.truncate(516);
    assert_eq!(parse_client_hello(&short), Err(HelloRefusal::BadLength { len: 511 }));
}

/// A packet the padded intermediate framing gives back unchanged.
fn packet(words: usize, seed: u8) -> Vec<u8> {
    (0..24 + 16 * words).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1).collect()
}

fn pipe(from: &[u8], to: &mut Transport, splits: &[usize], frames: &mut Vec<Frame>) -> Result<(), TransportError> {
    let mut pos = 0;
    let mut i = 0;
    while pos < from.len() {
        let step = splits.get(i).copied().unwrap_or(usize::MAX).max(1);
        let end = pos.saturating_add(step).min(from.len());
        to.feed(&from[pos..end], frames)?;
        pos = end;
        i += 1;
    }
    Ok(())
}

fn packets(frames: Vec<Frame>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .map(|f| match f {
            Frame::Packet { data, .. } => data.to_vec(),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Our client against our server: packets both ways, the wire split as given.
fn round_trip(payloads: &[Vec<u8>], splits: &[usize], seed: u64) {
    let cfg = config();
    let mut client = Transport::fake_tls_client(&cfg, 1 << 20, Box::new(SeededEntropy::new(seed)));
    let mut server = Transport::fake_tls_server(cfg.clone(), 1 << 20, Box::new(SeededEntropy::new(seed + 1)));
    client.set_unix_time(NOW);
    server.set_unix_time(NOW + 3);
    let mut up = Vec::new();
    for p in payloads {
        client.encode(p, false, &mut up);
    }
    // Only the hello goes before the answer; the packets are held.
    assert_eq!(up.len(), CLIENT_HELLO_LEN);
    client.poll_transmit(&mut up);
    assert_eq!(up.len(), CLIENT_HELLO_LEN);
    let mut frames = Vec::new();
    pipe(&up, &mut server, splits, &mut frames).unwrap();
    assert!(frames.is_empty() && server.is_fake_tls());
    let mut down = Vec::new();
    server.poll_transmit(&mut down);
    assert_eq!(&down[..3], &[0x16, 0x03, 0x03]);
    let mut cframes = Vec::new();
    pipe(&down, &mut client, splits, &mut cframes).unwrap();
    assert!(cframes.is_empty());
    let mut up = Vec::new();
    client.poll_transmit(&mut up);
    assert_eq!(&up[..6], &CHANGE_CIPHER_SPEC);
    assert_eq!(&up[6..9], &[0x17, 0x03, 0x03]);
    // One more packet after the answer: it follows the held ones.
    let last = packet(3, 0xee);
    client.encode(&last, false, &mut up);
    pipe(&up, &mut server, splits, &mut frames).unwrap();
    let mut want = payloads.to_vec();
    want.push(last);
    assert_eq!(packets(frames), want);
    assert_eq!(server.kind(), Some(TransportKind::PaddedIntermediate));
    // And back.
    let mut down = Vec::new();
    for p in payloads {
        server.encode(p, false, &mut down);
    }
    let mut cframes = Vec::new();
    pipe(&down, &mut client, splits, &mut cframes).unwrap();
    assert_eq!(packets(cframes), payloads);
    assert_eq!(client.buffered() + server.buffered(), 0);
}

#[test]
fn round_trip_byte_at_a_time() {
    let payloads: Vec<Vec<u8>> = (0..4).map(|i| packet(i * 90, i as u8)).collect();
    round_trip(&payloads, &[1; 1 << 16], 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip_random_splits(
        sizes in proptest::collection::vec(0usize..400, 1..5),
        splits in proptest::collection::vec(1usize..700, 0..60),
        seed in any::<u64>(),
    ) {
        let payloads: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &s)| packet(s, i as u8)).collect();
        round_trip(&payloads, &splits, seed >> 1);
    }
}

/// What a server transport makes of `bytes` fed in one go.
fn serve(cfg: &FakeTlsConfig, bytes: &[u8]) -> (Result<(), TransportError>, Option<Vec<u8>>, Vec<u8>) {
    let mut s = Transport::fake_tls_server(cfg.clone(), 1 << 20, Box::new(SeededEntropy::new(9)));
    s.set_unix_time(NOW);
    let r = s.feed(bytes, &mut Vec::new());
    let mut answer = Vec::new();
    s.poll_transmit(&mut answer);
    (r, s.take_rejected(), answer)
}

#[test]
fn every_tampered_hello_byte_is_not_ours_and_handed_back() {
    let h = hello_at(NOW, 5);
    for i in 0..h.record.len() {
        let mut t = h.record.clone();
        t[i] ^= 0x04;
        // A fresh cache each time, so only the tampering can refuse; secret
        // only, so a stream that no longer starts like TLS is not ours either.
        let mut cfg = config();
        cfg.secret_only = true;
        let (r, rejected, answer) = serve(&cfg, &t);
        if i < 3 {
            // Without secret-only it goes to the plain detection instead, unanswered.
            let (plain, rejected, answer) = serve(&config(), &t);
            assert!(plain.is_err() && rejected.is_none() && answer.is_empty(), "byte {i}: {plain:?}");
        }
        if (39..43).contains(&i) {
            // The last four bytes of the random carry the time, which only
            // the window checks (MTProxy compares the first 28 digest bytes):
            // refused exactly when the change moves it out of the window.
            let t = i64::from(NOW as u32 ^ (0x04u32 << (8 * (i - 39))));
            let inside = (-1200..=600).contains(&(t - NOW));
            assert_eq!(r.is_ok(), inside, "byte {i}: {r:?}");
            if inside {
                continue;
            }
        }
        if matches!(r, Ok(())) {
            // Only a longer record length waits for more.
            assert!(i == 3 || i == 4, "byte {i}");
            continue;
        }
        assert!(matches!(r, Err(TransportError::NotFakeTls { .. })), "byte {i}: {r:?}");
        assert_eq!(rejected.as_deref(), Some(&t[..]), "byte {i}: untouched");
        assert!(answer.is_empty(), "byte {i}: never answered");
    }
    // Untampered: answered, nothing handed back.
    let (r, rejected, answer) = serve(&config(), &h.record);
    assert_eq!(r, Ok(()));
    assert!(rejected.is_none());
    assert_eq!(verify_server_answer(&KEY, &h.random, &answer), Ok(Some(answer.len())));
}

#[test]
fn server_refusals_and_plain_clients() {
    let h = hello_at(NOW, 6);
    let cfg = config();
    assert_eq!(serve(&cfg, &h.record).0, Ok(()));
    // The same hello again, on a new connection of the same listener.
    let (r, rejected, answer) = serve(&cfg, &h.record);
    assert_eq!(r, Err(TransportError::NotFakeTls { refusal: HelloRefusal::Replayed }));
    assert_eq!(rejected.unwrap(), h.record);
    assert!(answer.is_empty());
    // A stale hello, an HTTP probe to a secret-only proxy.
    let (r, ..) = serve(&cfg, &hello_at(NOW - 3600, 7).record);
    assert_eq!(r, Err(TransportError::NotFakeTls { refusal: HelloRefusal::Stale { skew: -3600 } }));
    let mut only = config();
    only.secret_only = true;
    let (r, rejected, _) = serve(&only, b"GET / HTTP/1.1\r\n");
    assert_eq!(r, Err(TransportError::NotFakeTls { refusal: HelloRefusal::NotTls }));
    assert_eq!(rejected.unwrap(), b"GET / HTTP/1.1\r\n");
    // Without the secret-only setting a plain intermediate client is served.
    let mut s = Transport::fake_tls_server(config(), 1 << 20, Box::new(SeededEntropy::new(1)));
    let mut frames = Vec::new();
    let mut wire = vec![0xee; 4];
    wire.extend_from_slice(&(40u32).to_le_bytes());
    wire.extend_from_slice(&packet(1, 1));
    s.feed(&wire[..3], &mut frames).unwrap();
    s.feed(&wire[3..], &mut frames).unwrap();
    assert_eq!(packets(frames), vec![packet(1, 1)]);
    assert!(!s.is_fake_tls());
    // Without a clock every hello is refused.
    let mut s = Transport::fake_tls_server(config(), 1 << 20, Box::new(SeededEntropy::new(1)));
    assert!(matches!(s.feed(&hello_at(NOW, 8).record, &mut Vec::new()), Err(TransportError::NotFakeTls { .. })));
    // Once refused, always refused.
    assert!(matches!(s.feed(&[0], &mut Vec::new()), Err(TransportError::NotFakeTls { .. })));
    assert!(s.take_rejected().is_some() && s.take_rejected().is_none());
}

#[test]
fn inside_fake_tls_only_padded_intermediate_is_accepted() {
    // A client that speaks obfuscated2 abridged inside records.
    let h = hello_at(NOW, 11);
    let mut s = Transport::fake_tls_server(config(), 1 << 20, Box::new(SeededEntropy::new(1)));
    s.set_unix_time(NOW);
    s.feed(&h.record, &mut Vec::new()).unwrap();
    let mut e = SeededEntropy::new(3);
    let o = mtproto_crypto::obfuscated2::client(&mut e, [0xef; 4], 2, Some(&KEY[..]));
    let mut up = CHANGE_CIPHER_SPEC.to_vec();
    write_records(&o.header, &mut up);
    assert_eq!(s.feed(&up, &mut Vec::new()), Err(TransportError::BadObfuscatedTag { tag: [0xef; 4] }));
    // Records other than application data after the handshake close.
    let mut s = Transport::fake_tls_server(config(), 1 << 20, Box::new(SeededEntropy::new(1)));
    s.set_unix_time(NOW);
    s.feed(&hello_at(NOW, 12).record, &mut Vec::new()).unwrap();
    assert_eq!(s.feed(&[0x15, 3, 3, 0, 2, 2, 0], &mut Vec::new()), Err(TransportError::BadTlsRecord));
}

#[test]
fn answer_size_follows_the_configuration() {
    for (range, want) in [
        (100..=100, 100..=100),
        (0..=0, 1..=1),
        (usize::MAX..=usize::MAX, MAX_READ_PAYLOAD..=MAX_READ_PAYLOAD),
        (0..=usize::MAX, 1..=MAX_READ_PAYLOAD),
    ] {
        let mut cfg = config();
        cfg.answer_data = range.clone();
        let h = hello_at(NOW, 21);
        let (r, _, answer) = serve(&cfg, &h.record);
        assert_eq!(r, Ok(()));
        // ServerHello (127 bytes with a 32-byte session id) and ChangeCipherSpec, then the data record.
        let data = usize::from(u16::from_be_bytes([answer[136], answer[137]]));
        assert_eq!(answer.len(), 127 + 6 + 5 + data);
        assert!(want.contains(&data), "{range:?}: {data}");
    }
}

#[test]
fn config_debug_redacts_the_key() {
    let cfg = FakeTlsConfig::new([0xab; 16], DOMAIN, 2);
    let s = format!("{cfg:?}");
    assert!(s.contains(DOMAIN) && !s.contains("ab") && !s.contains("171"), "{s}");
    let secret =
        crate::transport::ProxySecret::parse(&format!("ee{}{}", "ab".repeat(16), hex::encode(DOMAIN))).unwrap();
    let from = FakeTlsConfig::from_secret(&secret, 4).unwrap();
    assert_eq!((from.key(), from.domain(), from.dc_id), (&[0xab; 16], DOMAIN, 4));
    assert!(FakeTlsConfig::from_secret(&crate::transport::ProxySecret::Padded([0; 16]), 1).is_none());
}

fn pq_hello_at(t: i64, seed: u64) -> ClientHello {
    client_hello_with(&KEY, DOMAIN, t as u32, HelloTemplate::PostQuantum, &mut SeededEntropy::new(seed))
}

/// The 12-bit coefficients of an ML-KEM encapsulation key's polynomial part.
fn mlkem_coefficients(ek: &[u8]) -> Vec<u16> {
    ek.chunks(3)
        .flat_map(|b| {
            [u16::from(b[0]) | (u16::from(b[1] & 0x0f) << 8), (u16::from(b[1]) >> 4) | (u16::from(b[2]) << 4)]
        })
        .collect()
}

#[test]
fn post_quantum_hello_is_chrome_sized_with_the_hybrid_share_and_verifies() {
    let mut lengths = std::collections::HashSet::new();
    for seed in 0..32 {
        let h = pq_hello_at(NOW, seed);
        let len = h.record.len();
        // Current Chrome's hello with X25519MLKEM768: about 1.7–1.8 KB.
        assert!((1650..=1850).contains(&len), "{len}");
        lengths.insert(len);
        assert_eq!(&h.record[..3], &[0x16, 0x03, 0x01]);
        assert_eq!(usize::from(u16::from_be_bytes([h.record[3], h.record[4]])), len - 5);
        assert_eq!(&h.record[RANDOM_AT], &h.random);
        let p = parse_client_hello(&h.record).unwrap();
        assert_eq!(p.server_name, Some(DOMAIN.as_bytes()));
        let exts = extensions(&h.record);
        let types: Vec<u16> = exts.iter().map(|e| e.0).collect();
        assert!(is_grease(types[0]) && is_grease(*types.last().unwrap()), "{types:04x?}");
        assert!(!types.contains(&0x0015), "no padding");
        assert!(!types.contains(&0x4469), "the new ALPS code point only");
        for ty in [0x0000, 0x000a, 0x0033, 0x0010, 0x002b, 0x000d, 0x002d, 0x44cd, 0xfe0d] {
            assert_eq!(types.iter().filter(|&&t| t == ty).count(), 1, "{ty:04x}");
        }
        let get = |ty: u16| exts.iter().find(|e| e.0 == ty).unwrap().1.clone();
        // supported_groups: GREASE, X25519MLKEM768, X25519, P-256, P-384.
        let groups = get(0x000a);
        assert!(is_grease(u16::from_be_bytes([groups[2], groups[3]])));
        assert_eq!(&groups[4..], &[0x11, 0xec, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]);
        // key_share: GREASE, the 1,216-byte hybrid share, then X25519.
        let ks = get(0x0033);
        assert_eq!(usize::from(u16::from_be_bytes([ks[0], ks[1]])), ks.len() - 2);
        assert!(is_grease(u16::from_be_bytes([ks[2], ks[3]])));
        assert_eq!(&ks[7..11], &[0x11, 0xec, 0x04, 0xc0]);
        assert_eq!(X25519_MLKEM768_SHARE_LEN, 0x04c0);
        let hybrid = &ks[11..11 + X25519_MLKEM768_SHARE_LEN];
        let (ek, x) = hybrid.split_at(1184);
        assert!(mlkem_coefficients(&ek[..1152]).iter().all(|&c| c < 3329), "a well-formed ML-KEM key");
        let rest = &ks[11 + X25519_MLKEM768_SHARE_LEN..];
        assert_eq!(&rest[..4], &[0x00, 0x1d, 0x00, 0x20]);
        assert_eq!(&rest[4..], x, "the hybrid's X25519 part is the X25519 share");
        assert!(is_curve_point(&x.try_into().unwrap()));
        // GREASE ECH: outer, HKDF-SHA256 / AES-128-GCM, a curve point as enc.
        let ech = get(0xfe0d);
        assert_eq!(&ech[..5], &[0x00, 0x00, 0x01, 0x00, 0x01]);
        assert_eq!(&ech[6..8], &[0x00, 0x20]);
        assert!(is_curve_point(&ech[8..40].try_into().unwrap()));
        let payload = usize::from(u16::from_be_bytes([ech[40], ech[41]]));
        assert!([144, 176, 208, 240].contains(&payload) && ech.len() == 42 + payload);
        // The proxy's check passes: digest and time.
        let v = verify_client_hello(&config(), &h.record, NOW).unwrap();
        assert_eq!(v.client_time, NOW as u32);
        assert_eq!(v.random, h.random);
    }
    assert!(lengths.len() > 1, "the ECH payload length varies: {lengths:?}");
}

#[test]
fn post_quantum_hello_keeps_the_digest_time_domain_and_replay_checks() {
    let cfg = config();
    let h = pq_hello_at(NOW - 20 * 60 - 1, 7);
    assert!(matches!(verify_client_hello(&cfg, &h.record, NOW), Err(HelloRefusal::Stale { skew }) if skew == -1201));
    let h = pq_hello_at(NOW + 10 * 60, 8);
    assert!(verify_client_hello(&cfg, &h.record, NOW).is_ok());
    let h = pq_hello_at(NOW, 9);
    let other = FakeTlsConfig::new(KEY, "other.example.org", 2);
    assert_eq!(verify_client_hello(&other, &h.record, NOW), Err(HelloRefusal::WrongDomain));
    let wrong_key = FakeTlsConfig::new([0x5b; 16], DOMAIN, 2);
    assert_eq!(verify_client_hello(&wrong_key, &h.record, NOW), Err(HelloRefusal::BadDigest));
    // A byte changed anywhere outside the random (here inside the ML-KEM
    // share, the ECH payload and the last byte) breaks the digest.
    for at in [200, 900, h.record.len() - 60, h.record.len() - 1] {
        let mut t = h.record.clone();
        t[at] ^= 0x01;
        assert!(verify_client_hello(&cfg, &t, NOW).is_err(), "byte {at}");
    }
    assert!(verify_client_hello(&cfg, &h.record, NOW).is_ok());
    assert_eq!(verify_client_hello(&cfg, &h.record, NOW), Err(HelloRefusal::Replayed));
}

#[test]
fn our_proxy_serves_a_post_quantum_client_in_any_split() {
    let mut cfg = config();
    cfg.hello = HelloTemplate::PostQuantum;
    for (seed, split) in [(1u64, 1usize), (2, 7), (3, 600), (4, usize::MAX)] {
        let mut client = Transport::fake_tls_client(&cfg, 1 << 20, Box::new(SeededEntropy::new(seed)));
        let mut server = Transport::fake_tls_server(config(), 1 << 20, Box::new(SeededEntropy::new(seed + 10)));
        client.set_unix_time(NOW);
        server.set_unix_time(NOW);
        let mut up = Vec::new();
        client.encode(&packet(40, 1), false, &mut up);
        assert!((1650..=1850).contains(&up.len()), "only the long hello goes first: {}", up.len());
        let mut frames = Vec::new();
        pipe(&up, &mut server, &[split; 1 << 12], &mut frames).unwrap();
        assert!(server.is_fake_tls());
        let mut down = Vec::new();
        server.poll_transmit(&mut down);
        pipe(&down, &mut client, &[split; 1 << 12], &mut Vec::new()).unwrap();
        let mut up = Vec::new();
        client.poll_transmit(&mut up);
        pipe(&up, &mut server, &[split; 1 << 12], &mut frames).unwrap();
        assert_eq!(packets(frames), vec![packet(40, 1)]);
    }
}

#[test]
fn the_default_hello_stays_517_bytes() {
    assert_eq!(config().hello, HelloTemplate::Classic);
    let mut client = Transport::fake_tls_client(&config(), 1 << 20, Box::new(SeededEntropy::new(5)));
    client.set_unix_time(NOW);
    let mut up = Vec::new();
    client.poll_transmit(&mut up);
    assert_eq!(up.len(), CLIENT_HELLO_LEN);
}
