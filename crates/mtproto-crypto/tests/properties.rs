#![allow(clippy::unwrap_used)]
//! Property tests (round trips, differential fast path vs portable) and the
//! unhappy paths: every error variant this crate can return.

use mtproto_crypto::rsa::{self, RsaPrivateKey};
use mtproto_crypto::{AuthKey, CryptoError, Direction, SeededEntropy, dh, envelope, ige, obfuscated2, pq};
use proptest::prelude::*;
use std::sync::OnceLock;

fn test_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::generate(&mut SeededEntropy::new(7)).expect("keygen"))
}

fn key_from(seed: u8) -> AuthKey {
    let mut b = [0u8; 256];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
    AuthKey::from_bytes(b)
}

fn dir(client: bool) -> Direction {
    if client { Direction::ClientToServer } else { Direction::ServerToClient }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ige_fast_path_matches_portable(key in any::<[u8; 32]>(), iv in any::<[u8; 32]>(), blocks in 0usize..64, fill in any::<u8>(), seed in any::<u64>()) {
        let mut data = vec![fill; blocks * 16];
        use mtproto_crypto::Entropy;
        SeededEntropy::new(seed).fill(&mut data);
        let mut fast = data.clone();
        let mut slow = data.clone();
        ige::encrypt(&key, &iv, &mut fast).unwrap();
        ige::encrypt_portable(&key, &iv, &mut slow).unwrap();
        prop_assert_eq!(&fast, &slow);
        ige::decrypt(&key, &iv, &mut fast).unwrap();
        ige::decrypt_portable(&key, &iv, &mut slow).unwrap();
        prop_assert_eq!(&fast, &data);
        prop_assert_eq!(&slow, &data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn envelope_round_trip_and_tamper(seed in any::<u8>(), client in any::<bool>(), blocks in 3usize..40, flip in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = key_from(seed);
        let d = dir(client);
        let plain: Vec<u8> = (0..blocks * 16).map(|i| (i * 7) as u8).collect();
        let mut buf = vec![0u8; envelope::HEADER_LEN];
        buf.extend_from_slice(&plain);
        envelope::encrypt_in_place(&key, d, &mut buf).unwrap();
        let sealed = buf.clone();
        prop_assert_eq!(envelope::decrypt_in_place(&key, d, &mut buf).unwrap(), &plain[..]);
        // The other direction's keys never authenticate it.
        let mut other = sealed.clone();
        prop_assert_eq!(envelope::decrypt_in_place(&key, d.reverse(), &mut other), Err(CryptoError::MsgKeyMismatch));
        // Any flipped bit is caught.
        let mut bad = sealed.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 1 << bit;
        let expect = if i < 8 { CryptoError::AuthKeyIdMismatch } else { CryptoError::MsgKeyMismatch };
        let mut bad_copy = bad.clone();
        prop_assert_eq!(envelope::decrypt_in_place(&key, d, &mut bad_copy), Err(expect));
        if expect == CryptoError::MsgKeyMismatch {
            // Unauthenticated plaintext is wiped, not left for the caller.
            prop_assert!(bad_copy[envelope::HEADER_LEN..].iter().all(|&b| b == 0));
        }
        // Truncation by a block is caught (or the length rule trips first).
        let mut short = sealed[..sealed.len() - 16].to_vec();
        prop_assert!(envelope::decrypt_in_place(&key, d, &mut short).is_err());
    }

    #[test]
    fn ctr_streams_round_trip(init in any::<[u8; 32]>(), data in proptest::collection::vec(any::<u8>(), 0..300), secret in proptest::option::of(any::<[u8; 16]>()), dc in any::<i16>()) {
        let mut e = SeededEntropy::new(u64::from_le_bytes(init[..8].try_into().unwrap()));
        let mut c = obfuscated2::client(&mut e, obfuscated2::TAG_INTERMEDIATE, dc, secret.as_ref().map(|s| &s[..]));
        prop_assert!(obfuscated2::is_valid_init(&c.header));
        let mut s = obfuscated2::server(&c.header, secret.as_ref().map(|s| &s[..])).unwrap();
        prop_assert_eq!(s.tag, obfuscated2::TAG_INTERMEDIATE);
        prop_assert_eq!(s.dc_id, dc);
        let mut buf = data.clone();
        c.send.apply(&mut buf);
        s.recv.apply(&mut buf);
        prop_assert_eq!(&buf, &data);
        s.send.apply(&mut buf);
        c.recv.apply(&mut buf);
        prop_assert_eq!(&buf, &data);
    }

    #[test]
    fn pq_products_of_two_primes(a in 2u32.., b in 2u32..) {
        let (p, q) = (next_prime(a), next_prime(b));
        let n = p as u64 * q as u64;
        let (x, y) = pq::factorize(n).unwrap();
        prop_assert!(x <= y);
        prop_assert_eq!((x, y), (p.min(q) as u64, p.max(q) as u64));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rsa_pad_round_trip(data in proptest::collection::vec(any::<u8>(), 0..=144), seed in any::<u64>()) {
        let key = test_key();
        let mut e = SeededEntropy::new(seed);
        let ct = rsa::rsa_pad_encrypt(key.public_key(), &data, &mut e).unwrap();
        let back = rsa::rsa_pad_decrypt(key, &ct, &mut e).unwrap();
        prop_assert_eq!(&back[..data.len()], &data[..]);
        // The legacy scheme round-trips too, and its hash pins the length.
        let ct = rsa::legacy_encrypt(key.public_key(), &data, &mut e).unwrap();
        let block = rsa::legacy_decrypt(key, &ct, &mut e).unwrap();
        prop_assert_eq!(block.verify(data.len()).unwrap(), &data[..]);
        if !data.is_empty() {
            prop_assert_eq!(block.verify(data.len() - 1).err(), Some(CryptoError::RsaHashMismatch));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Telegram-sized pq (a 31- or 32-bit prime times another): ECM alone and
    /// Pollard–Brent rho alone both find the exact factors.
    #[test]
    fn pq_ecm_and_rho_each_factor_telegram_sized(a in (1u32 << 30).., b in (1u32 << 30)..) {
        let (p, q) = (next_prime(a), next_prime(b));
        prop_assume!(p > 3 && q > 3);
        let n = p as u64 * q as u64;
        let want = Ok((p.min(q) as u64, p.max(q) as u64));
        prop_assert_eq!(pq::factorize_ecm(n), want);
        prop_assert_eq!(pq::factorize_rho(n), want);
    }

    /// Any u64 (a server may send anything): a proper split or, exactly for
    /// primes and values below 4, the typed error.
    #[test]
    fn pq_any_u64_splits_or_is_refused(n in any::<u64>()) {
        match pq::factorize(n) {
            Ok((p, q)) => {
                prop_assert!(1 < p && p <= q);
                prop_assert_eq!(p.checked_mul(q), Some(n));
            }
            Err(e) => {
                prop_assert_eq!(e, CryptoError::PqNotFactorable { pq: n });
                prop_assert!(n < 4 || pq::is_prime_u64(n));
            }
        }
    }
}

fn next_prime(mut n: u32) -> u32 {
    n |= 1;
    while !pq::is_prime_u64(n as u64) {
        n = n.wrapping_add(2).max(3);
    }
    n
}

#[test]
fn rsa_pad_rejects_tampering_and_bad_sizes() {
    let key = test_key();
    let mut e = SeededEntropy::new(1);
    assert_eq!(
        rsa::rsa_pad_encrypt(key.public_key(), &[0u8; 145], &mut e).unwrap_err(),
        CryptoError::RsaDataTooLong { len: 145 }
    );
    assert_eq!(
        rsa::legacy_encrypt(key.public_key(), &[0u8; 236], &mut e).unwrap_err(),
        CryptoError::RsaDataTooLong { len: 236 }
    );
    let ct = rsa::rsa_pad_encrypt(key.public_key(), b"hello", &mut e).unwrap();
    let mut bad = ct;
    bad[200] ^= 1;
    assert_eq!(rsa::rsa_pad_decrypt(key, &bad, &mut e).unwrap_err(), CryptoError::RsaHashMismatch);
    assert_eq!(rsa::rsa_pad_decrypt(key, &ct[..255], &mut e).unwrap_err(), CryptoError::RsaBadCiphertext);
    assert_eq!(rsa::rsa_pad_decrypt(key, &[0xff; 256], &mut e).unwrap_err(), CryptoError::RsaBadCiphertext);
    // A legacy block without the leading zero is refused.
    let mut m = [0x11u8; 256];
    m[0] = 0x01;
    let c = key.public_key().encrypt_raw(&m).unwrap();
    assert_eq!(rsa::legacy_decrypt(key, &c, &mut e).err().map(|_| ()), Some(()));
    assert!(matches!(rsa::legacy_decrypt(key, &c, &mut e), Err(CryptoError::RsaBadCiphertext)));
}

#[test]
fn rsa_key_parsing_errors_and_pem_round_trip() {
    assert_eq!(rsa::RsaPublicKey::from_pem("not a key").unwrap_err(), CryptoError::BadKeyEncoding);
    assert_eq!(
        RsaPrivateKey::from_pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----").unwrap_err(),
        CryptoError::BadKeyEncoding
    );
    let key = test_key();
    let pem = key.public_key().to_pem().unwrap();
    let back = rsa::RsaPublicKey::from_pem(&pem).unwrap();
    assert_eq!(back.fingerprint(), key.public_key().fingerprint());
    let private = RsaPrivateKey::from_pem(&key.to_pem().unwrap()).unwrap();
    assert_eq!(private.public_key(), key.public_key());
    assert!(!format!("{private:?}").contains("BEGIN"));
    // A 1024-bit key (gotd's test key) is refused by size.
    let small = rsa::RsaPublicKey::from_n_e(&[0xc1; 128], &[1, 0, 1]).unwrap_err();
    assert_eq!(small, CryptoError::UnsupportedKeySize { bits: 1024 });
}

#[test]
fn ige_rejects_unaligned() {
    let mut buf = [0u8; 17];
    assert_eq!(ige::encrypt(&[0; 32], &[0; 32], &mut buf), Err(CryptoError::NotBlockAligned { len: 17 }));
    assert_eq!(ige::decrypt(&[0; 32], &[0; 32], &mut buf), Err(CryptoError::NotBlockAligned { len: 17 }));
    assert_eq!(ige::encrypt_portable(&[0; 32], &[0; 32], &mut buf), Err(CryptoError::NotBlockAligned { len: 17 }));
    assert_eq!(ige::decrypt_portable(&[0; 32], &[0; 32], &mut buf), Err(CryptoError::NotBlockAligned { len: 17 }));
}

#[test]
fn envelope_length_rules() {
    let key = key_from(1);
    let d = Direction::ClientToServer;
    assert_eq!(envelope::encrypt_in_place(&key, d, &mut [0u8; 24]), Err(CryptoError::BadPlaintextLayout { len: 0 }));
    assert_eq!(
        envelope::encrypt_in_place(&key, d, &mut [0u8; 24 + 20]),
        Err(CryptoError::BadPlaintextLayout { len: 20 })
    );
    assert_eq!(
        envelope::decrypt_in_place(&key, d, &mut [0u8; 71]).unwrap_err(),
        CryptoError::MessageTooShort { len: 71 }
    );
    assert_eq!(
        envelope::decrypt_in_place(&key, d, &mut [0u8; 24 + 50]).unwrap_err(),
        CryptoError::NotBlockAligned { len: 50 }
    );
    assert_eq!(envelope::decrypt_in_place(&key, d, &mut [0u8; 24 + 48]).unwrap_err(), CryptoError::AuthKeyIdMismatch);
}

#[test]
fn auth_key_debug_hides_bytes_and_compares() {
    let key = key_from(3);
    let dbg = format!("{key:?}");
    assert!(dbg.contains("AuthKey") && !dbg.contains("bytes"));
    assert_eq!(key, key_from(3));
    assert_ne!(key, key_from(4));
}

#[test]
fn dh_checks_refuse_bad_parameters() {
    let mut cache = dh::PrimeCache::default();
    let p = dh::TELEGRAM_DH_PRIME;
    // g out of range and residue conditions (p mod 8 = 3, p mod 3 = 2, ...).
    assert_eq!(dh::DhGroup::new(&p, 1, &mut cache).unwrap_err(), CryptoError::DhGeneratorOutOfRange { g: 1 });
    assert_eq!(dh::DhGroup::new(&p, 8, &mut cache).unwrap_err(), CryptoError::DhGeneratorOutOfRange { g: 8 });
    assert_eq!(dh::DhGroup::new(&p, 2, &mut cache).unwrap_err(), CryptoError::DhGeneratorResidue { g: 2 });
    let group = dh::DhGroup::new(&p, 3, &mut cache).unwrap();
    // A short prime, and a 2048-bit odd number that is not a safe prime.
    assert!(matches!(dh::DhGroup::new(&p[1..], 3, &mut cache), Err(CryptoError::DhPrimeBadLength { .. })));
    let mut not_safe = p;
    not_safe[255] = not_safe[255].wrapping_add(24); // keeps p mod 3 and mod 8
    assert_eq!(dh::DhGroup::new(&not_safe, 3, &mut cache).unwrap_err(), CryptoError::DhPrimeNotSafe);
    // g_a bounds: 2^1984 - 1 and p - 2^1984 + 1 are out, 2^1984 and p - 2^1984 are in.
    let mut low = [0u8; 256];
    low[7] = 1; // 2^(2048-64) in big-endian: byte 7 holds bit 1984
    assert!(group.check_public(&low).is_ok());
    let mut below = [0u8; 256];
    below[8..].fill(0xff);
    assert_eq!(group.check_public(&below), Err(CryptoError::DhValueOutOfRange));
    assert_eq!(group.check_public(&[1]), Err(CryptoError::DhValueOutOfRange));
    assert_eq!(group.check_public(&p), Err(CryptoError::DhValueOutOfRange));
    assert_eq!(group.check_public(&[0xff; 257]), Err(CryptoError::DhValueOutOfRange));
    // A real g^a passes.
    let ga = group.pow_g(&[0x5a; 256]);
    assert!(group.check_public(&ga).is_ok());
    // DH agreement: (g^a)^b == (g^b)^a.
    let a = [0x33u8; 256];
    let b = [0x44u8; 256];
    assert_eq!(group.pow(&group.pow_g(&a), &b), group.pow(&group.pow_g(&b), &a));
}

#[test]
fn pq_refuses_primes_and_tiny_values() {
    for n in [0u64, 1, 2, 3, 1_000_000_007, 18446744073709551557] {
        assert_eq!(pq::factorize(n), Err(CryptoError::PqNotFactorable { pq: n }));
    }
    assert_eq!(pq::factorize(4), Ok((2, 2)));
    // The largest pq Telegram could send: two primes just below 2^32.
    assert_eq!(pq::factorize(0xffff_fffb * 0xffff_ffbf), Ok((0xffff_ffbf, 0xffff_fffb)));
}

#[test]
fn obfuscated2_header_size_and_forbidden_starts() {
    assert_eq!(obfuscated2::server(&[0u8; 63], None).unwrap_err(), CryptoError::BadObfuscatedHeader);
    let mut init = [1u8; 64];
    assert!(obfuscated2::is_valid_init(&init));
    init[0] = 0xef;
    assert!(!obfuscated2::is_valid_init(&init));
    for start in [*b"HEAD", *b"POST", *b"GET ", *b"OPTI", [0xdd; 4], [0xee; 4], [0x16, 3, 1, 2]] {
        let mut i = [1u8; 64];
        i[..4].copy_from_slice(&start);
        assert!(!obfuscated2::is_valid_init(&i));
    }
    let mut i = [1u8; 64];
    i[4..8].fill(0);
    assert!(!obfuscated2::is_valid_init(&i));
}

#[test]
fn errors_display() {
    let all = [
        CryptoError::NotBlockAligned { len: 1 },
        CryptoError::MessageTooShort { len: 1 },
        CryptoError::AuthKeyIdMismatch,
        CryptoError::MsgKeyMismatch,
        CryptoError::BadPlaintextLayout { len: 1 },
        CryptoError::RsaDataTooLong { len: 1 },
        CryptoError::RsaBadCiphertext,
        CryptoError::RsaHashMismatch,
        CryptoError::BadKeyEncoding,
        CryptoError::UnsupportedKeySize { bits: 1 },
        CryptoError::DhPrimeBadLength { bits: 1 },
        CryptoError::DhPrimeNotSafe,
        CryptoError::DhGeneratorOutOfRange { g: 1 },
        CryptoError::DhGeneratorResidue { g: 1 },
        CryptoError::DhValueOutOfRange,
        CryptoError::PqNotFactorable { pq: 1 },
        CryptoError::BadObfuscatedHeader,
        CryptoError::EntropyUnavailable,
    ];
    let texts: std::collections::HashSet<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), all.len(), "every error has its own message");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The fused AES-NI + SHA-256 decrypt agrees with the portable two-pass one
    /// on every size (the 32-byte prefix shifts SHA blocks against AES blocks,
    /// so every remainder of the length mod 64 is exercised), and both refuse
    /// the same tampered inputs.
    #[test]
    fn fused_decrypt_matches_unfused(seed in any::<u8>(), client in any::<bool>(), blocks in 3usize..300, flip in any::<prop::sample::Index>()) {
        let key = key_from(seed);
        let d = dir(client);
        let plain: Vec<u8> = (0..blocks * 16).map(|i| (i * 31 + seed as usize) as u8).collect();
        let mut sealed = vec![0u8; envelope::HEADER_LEN];
        sealed.extend_from_slice(&plain);
        envelope::encrypt_in_place(&key, d, &mut sealed).unwrap();
        let mut a = sealed.clone();
        let mut b = sealed.clone();
        prop_assert_eq!(envelope::decrypt_in_place(&key, d, &mut a).unwrap(), &plain[..]);
        prop_assert_eq!(envelope::decrypt_in_place_unfused(&key, d, &mut b).unwrap(), &plain[..]);
        let i = flip.index(sealed.len());
        let mut a = sealed.clone();
        a[i] ^= 0x10;
        let mut b = a.clone();
        prop_assert_eq!(envelope::decrypt_in_place(&key, d, &mut a).err(), envelope::decrypt_in_place_unfused(&key, d, &mut b).err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Sizes anywhere up to 2 MiB with random keys and IVs: the AES-NI IGE
    /// (XOR-free chain) equals the portable loop both ways, and a message
    /// sealed on the fast path opens on the portable two-pass path and on
    /// the fused one alike.
    #[test]
    fn fast_paths_match_portable_up_to_2_mib(
        key in any::<[u8; 32]>(),
        iv in any::<[u8; 32]>(),
        auth in any::<u8>(),
        blocks in 3usize..(2 << 20) / 16,
    ) {
        use mtproto_crypto::Entropy;
        let mut data = vec![0u8; blocks * 16];
        SeededEntropy::new(blocks as u64).fill(&mut data);
        let (mut fast, mut portable) = (data.clone(), data.clone());
        ige::encrypt(&key, &iv, &mut fast).unwrap();
        ige::encrypt_portable(&key, &iv, &mut portable).unwrap();
        prop_assert!(fast == portable, "IGE encrypt differs at {} blocks", blocks);
        ige::decrypt(&key, &iv, &mut fast).unwrap();
        ige::decrypt_portable(&key, &iv, &mut portable).unwrap();
        prop_assert!(fast == data && portable == data, "IGE decrypt differs at {} blocks", blocks);
        let auth_key = key_from(auth);
        let mut sealed = vec![0u8; envelope::HEADER_LEN];
        sealed.extend_from_slice(&data);
        envelope::encrypt_in_place(&auth_key, Direction::ClientToServer, &mut sealed).unwrap();
        let mut fused = sealed.clone();
        prop_assert!(envelope::decrypt_in_place(&auth_key, Direction::ClientToServer, &mut fused).unwrap() == &data[..]);
        prop_assert!(envelope::decrypt_in_place_unfused(&auth_key, Direction::ClientToServer, &mut sealed).unwrap() == &data[..]);
    }
}

#[test]
fn fused_decrypt_matches_unfused_on_large_messages() {
    use mtproto_crypto::Entropy;
    let key = key_from(9);
    for len in [1 << 16, (1 << 20) + 16 * 7, 2 << 20] {
        let mut plain = vec![0u8; len];
        SeededEntropy::new(len as u64).fill(&mut plain);
        let mut sealed = vec![0u8; envelope::HEADER_LEN];
        sealed.extend_from_slice(&plain);
        envelope::encrypt_in_place(&key, Direction::ServerToClient, &mut sealed).unwrap();
        let mut a = sealed.clone();
        assert_eq!(envelope::decrypt_in_place(&key, Direction::ServerToClient, &mut a).unwrap(), &plain[..]);
        let mut b = sealed;
        assert_eq!(envelope::decrypt_in_place_unfused(&key, Direction::ServerToClient, &mut b).unwrap(), &plain[..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Multi-buffer encryption equals encrypting each message alone, for any
    /// mix of keys, directions and lengths (lanes that end early included).
    #[test]
    fn encrypt_many_matches_one_by_one(specs in proptest::collection::vec((any::<u8>(), any::<bool>(), 1usize..200), 1..10)) {
        let keys: Vec<AuthKey> = specs.iter().map(|(s, _, _)| key_from(*s)).collect();
        let plains: Vec<Vec<u8>> = specs
            .iter()
            .map(|(s, _, blocks)| {
                let mut v = vec![0u8; envelope::HEADER_LEN];
                v.extend((0..blocks * 16).map(|i| (i as u8).wrapping_mul(*s | 1)));
                v
            })
            .collect();
        let mut expected = plains.clone();
        for ((buf, key), (_, client, _)) in expected.iter_mut().zip(&keys).zip(&specs) {
            envelope::encrypt_in_place(key, dir(*client), buf).unwrap();
        }
        let mut got = plains.clone();
        let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> =
            got.iter_mut().zip(&keys).zip(&specs).map(|((buf, key), (_, client, _))| (key, dir(*client), &mut buf[..])).collect();
        envelope::encrypt_many(&mut jobs).unwrap();
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn encrypt_many_refuses_a_bad_layout_before_encrypting_anything() {
    let key = key_from(1);
    let mut good = vec![0u8; envelope::HEADER_LEN + 48];
    let before = good.clone();
    let mut bad = [0u8; envelope::HEADER_LEN + 20];
    let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> =
        vec![(&key, Direction::ClientToServer, &mut good[..]), (&key, Direction::ClientToServer, &mut bad[..])];
    assert_eq!(envelope::encrypt_many(&mut jobs), Err(CryptoError::BadPlaintextLayout { len: 20 }));
    assert_eq!(good, before);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Multi-buffer decryption agrees with one-by-one portable two-pass decryption, including
    /// which messages fail (a flipped byte, a foreign key, a short buffer).
    #[test]
    fn decrypt_many_matches_one_by_one(specs in proptest::collection::vec((any::<u8>(), any::<bool>(), 3usize..150, 0u8..4), 1..10)) {
        let keys: Vec<AuthKey> = specs.iter().map(|(s, ..)| key_from(*s)).collect();
        let other = key_from(200);
        let mut sealed: Vec<Vec<u8>> = Vec::new();
        for ((s, client, blocks, fault), key) in specs.iter().zip(&keys) {
            let mut v = vec![0u8; envelope::HEADER_LEN];
            v.extend((0..blocks * 16).map(|i| (i as u8) ^ *s));
            envelope::encrypt_in_place(key, dir(*client), &mut v).unwrap();
            match fault {
                1 => { let n = v.len(); v[n - 1] ^= 1; }
                2 => v.truncate(40),
                _ => {}
            }
            sealed.push(v);
        }
        let use_key = |i: usize| if specs[i].3 == 3 { &other } else { &keys[i] };
        let mut expected = sealed.clone();
        let want: Vec<Result<(), CryptoError>> = expected
            .iter_mut()
            .enumerate()
            .map(|(i, buf)| envelope::decrypt_in_place_unfused(use_key(i), dir(specs[i].1), buf).map(|_| ()))
            .collect();
        let mut got = sealed.clone();
        let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> =
            got.iter_mut().enumerate().map(|(i, buf)| (use_key(i), dir(specs[i].1), &mut buf[..])).collect();
        let results = envelope::decrypt_many(&mut jobs);
        prop_assert_eq!(&results, &want);
        // Same plaintexts, and the same wiped or untouched buffers where a check failed.
        prop_assert_eq!(&got, &expected);
    }
}
