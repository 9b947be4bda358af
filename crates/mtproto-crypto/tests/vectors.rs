#![allow(clippy::unwrap_used)]
//! Every published vector in `tests/vectors/` (copied from ../shared/vectors,
//! each file keeps its `source` fields), run against this crate.

use mtproto_crypto::entropy::ReplayEntropy;
use mtproto_crypto::rsa::{self, RsaPublicKey};
use mtproto_crypto::{AuthKey, Direction, dh, envelope, ige, nonce, obfuscated2, pq};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("json")
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    h(v).try_into().expect("length")
}

fn auth_key(v: &Value) -> AuthKey {
    AuthKey::from_bytes(arr::<256>(v))
}

#[test]
fn aes256_ige_all_cases_both_backends() {
    let d = load("aes256_ige.json");
    let mut n = 0;
    for c in d["cases"].as_array().expect("cases") {
        if c["key_bits"].as_u64() != Some(256) {
            continue;
        }
        let key = arr::<32>(&c["key"]);
        let iv = arr::<32>(&c["iv"]);
        let pt = h(&c["plaintext"]);
        let ct = h(&c["ciphertext"]);
        for (enc, dec) in [
            (
                ige::encrypt as fn(&[u8; 32], &[u8; 32], &mut [u8]) -> _,
                ige::decrypt as fn(&[u8; 32], &[u8; 32], &mut [u8]) -> _,
            ),
            (ige::encrypt_portable, ige::decrypt_portable),
        ] {
            let mut buf = pt.clone();
            enc(&key, &iv, &mut buf).expect("aligned");
            assert_eq!(buf, ct, "encrypt {}", c["name"]);
            dec(&key, &iv, &mut buf).expect("aligned");
            assert_eq!(buf, pt, "decrypt {}", c["name"]);
        }
        n += 1;
    }
    assert!(n >= 11, "only {n} AES-256 cases");
}

#[test]
fn mtproto2_kdf_cases() {
    let d = load("mtproto2_kdf.json");
    for c in d["cases"].as_array().expect("cases") {
        let key = auth_key(&c["auth_key"]);
        let dir = if c["x"].as_u64() == Some(0) { Direction::ClientToServer } else { Direction::ServerToClient };
        let (k, iv) = envelope::derive_aes(&key, dir, &arr::<16>(&c["msg_key"]));
        assert_eq!(k[..], h(&c["aes_key"])[..], "{}", c["name"]);
        assert_eq!(iv[..], h(&c["aes_iv"])[..], "{}", c["name"]);
    }
    for c in d["auth_key_id_cases"].as_array().expect("cases") {
        let key = auth_key(&c["auth_key"]);
        assert_eq!(key.id_bytes()[..], h(&c["auth_key_id"])[..]);
        assert_eq!(key.aux_hash_bytes()[..], h(&c["aux_hash"])[..]);
    }
}

#[test]
fn mtproto2_message_cases() {
    let d = load("mtproto2_messages.json");
    let cases = d["cases"].as_array().expect("cases");
    // client -> server: encrypt the published plaintext + padding.
    let c = &cases[0];
    let key = auth_key(&c["auth_key"]);
    let mut buf = vec![0u8; envelope::HEADER_LEN];
    buf.extend(h(&c["plaintext"]));
    buf.extend(h(&c["padding"]));
    envelope::encrypt_in_place(&key, Direction::ClientToServer, &mut buf).expect("encrypt");
    assert_eq!(buf, h(&c["encrypted_message"]));
    // server -> client: decrypt the published message.
    let c = &cases[1];
    let key = auth_key(&c["auth_key"]);
    let mut buf = h(&c["encrypted_message"]);
    let plain = envelope::decrypt_in_place(&key, Direction::ServerToClient, &mut buf).expect("decrypt");
    assert_eq!(plain, &h(&c["plaintext_with_padding"])[..]);
    // The wrong direction must not authenticate.
    let mut buf = h(&c["encrypted_message"]);
    assert_eq!(
        envelope::decrypt_in_place(&key, Direction::ClientToServer, &mut buf).unwrap_err(),
        mtproto_crypto::CryptoError::MsgKeyMismatch
    );
}

#[test]
fn handshake_tmp_aes_and_new_nonce_hash_cases() {
    let d = load("auth_key_handshake.json");
    for c in d["tmp_aes_kdf_cases"].as_array().expect("cases") {
        let (k, iv) = nonce::tmp_aes_key_iv(&arr::<32>(&c["new_nonce"]), &arr::<16>(&c["server_nonce"]));
        assert_eq!(k[..], h(&c["tmp_aes_key"])[..], "{}", c["name"]);
        assert_eq!(iv[..], h(&c["tmp_aes_iv"])[..], "{}", c["name"]);
    }
    for c in d["new_nonce_hash_cases"].as_array().expect("cases") {
        let key = auth_key(&c["auth_key"]);
        let n = c["number"].as_u64().expect("number") as u8;
        assert_eq!(
            nonce::new_nonce_hash(&arr::<32>(&c["new_nonce"]), n, &key)[..],
            h(&c["new_nonce_hash"])[..],
            "{}",
            c["name"]
        );
    }
}

#[test]
fn handshake_dh_parts_of_published_exchanges() {
    let d = load("auth_key_handshake.json");
    let mut cache = dh::PrimeCache::empty();
    for c in d["cases"].as_array().expect("cases") {
        let given = c.get("given_by_doc").or_else(|| c.get("given")).expect("given");
        let derived = &c["derived_by_us"];
        let prime = h(given.get("dh_prime").unwrap_or(&derived["dh_prime"]));
        let g = given.get("g").or_else(|| derived.get("g")).and_then(Value::as_u64).expect("g") as u32;
        // The 2013 sample uses g = 2 with p mod 8 = 3: 2 is then a non-residue
        // and generates the whole group, which Telegram's security guidelines
        // forbid. We must refuse it, and still reproduce its arithmetic.
        let group = match dh::DhGroup::new(&prime, g, &mut cache) {
            Ok(group) => group,
            Err(mtproto_crypto::CryptoError::DhGeneratorResidue { g: 2 }) => {
                assert!(c["name"].as_str().expect("name").starts_with("telegram-docs-2013"));
                dh::DhGroup::new(&prime, 3, &mut cache).expect("same prime with g = 3")
            }
            Err(e) => panic!("{}: {e}", c["name"]),
        };
        let g_a = h(given.get("g_a").unwrap_or(&derived["g_a"]));
        group.check_public(&g_a).expect("g_a in range");
        let Some(b) = given.get("b").or_else(|| given.get("step3_random")) else {
            continue;
        };
        let b: [u8; 256] = h(b)[..256].try_into().expect("b");
        let g_b = group.pow(&dh::left_pad(&[g as u8]), &b);
        let expected_g_b = given.get("g_b").unwrap_or_else(|| &derived["g_b"]);
        assert_eq!(dh::trim(&g_b), dh::trim(&h(expected_g_b)), "g_b {}", c["name"]);
        let key = group.pow(&dh::left_pad(&g_a), &b);
        assert_eq!(key[..], h(&given["auth_key"])[..], "auth_key {}", c["name"]);
        // Both backends (IFMA where the CPU has it, crypto-bigint) reach the published values.
        assert_eq!(group.pow_portable(&dh::left_pad(&g_a), &b), key, "portable auth_key {}", c["name"]);
        assert_eq!(dh::trim(&group.pow_portable(&dh::left_pad(&[g as u8]), &b)), dh::trim(&g_b));
        let key = AuthKey::from_bytes(key);
        assert_eq!(key.id_bytes()[..], h(&derived["auth_key_id"])[..], "{}", c["name"]);
        if let Some(nn) = given.get("new_nonce").or_else(|| derived.get("new_nonce")) {
            let new_nonce = arr::<32>(nn);
            let sn = arr::<16>(given.get("server_nonce").unwrap_or_else(|| &derived["server_nonce"]));
            if let Some(expect) = given.get("new_nonce_hash1").or_else(|| derived.get("new_nonce_hash1")) {
                assert_eq!(nonce::new_nonce_hash(&new_nonce, 1, &key)[..], h(expect)[..]);
            }
            if let Some(k) = given.get("tmp_aes_key").or_else(|| derived.get("tmp_aes_key")) {
                let (tk, _) = nonce::tmp_aes_key_iv(&new_nonce, &sn);
                assert_eq!(tk[..], h(k)[..]);
            }
            if let Some(salt) = derived.get("server_salt").or_else(|| given.get("first_salt")) {
                let s = nonce::first_salt(&new_nonce, &sn);
                match salt {
                    Value::String(_) => {
                        assert_eq!(s.to_le_bytes()[..], h(salt)[..], "salt {}", c["name"])
                    }
                    other => assert_eq!(Some(s), other.as_i64(), "salt {}", c["name"]),
                }
            }
        }
    }
    assert_eq!(cache.len(), 1, "all published exchanges use one prime");
}

#[test]
fn rsa_pad_case_with_published_randomness() {
    let d = load("auth_key_handshake.json");
    for c in d["rsa_pad_cases"].as_array().expect("cases") {
        let n = c["key_n_decimal"].as_str().expect("n");
        let n = decimal_to_be(n);
        let e = (c["key_e"].as_u64().expect("e") as u32).to_be_bytes();
        let key = RsaPublicKey::from_n_e(&n, &e).expect("key");
        let data = h(&c["data"]);
        let random = h(&c["random_bytes_224"]);
        // random_bytes_224[0 .. 192 - len] is the padding, [192 .. 224] the temp_key.
        // When the block is not below n, grammers (the source) retries with
        // temp_key + 1 (big-endian); the entropy-driven form feeds those keys.
        let mut temp_key: [u8; 32] = random[192..224].try_into().expect("32");
        let mut replay_bytes = random[..192 - data.len()].to_vec();
        let out = loop {
            replay_bytes.extend_from_slice(&temp_key);
            if let Some(out) =
                rsa::rsa_pad_encrypt_with(&key, &data, &random[..192 - data.len()], &temp_key).expect("encrypt")
            {
                break out;
            }
            for b in temp_key.iter_mut().rev() {
                *b = b.wrapping_add(1);
                if *b != 0 {
                    break;
                }
            }
        };
        assert_eq!(out[..], h(&c["encrypted_data"])[..]);
        let mut replay = ReplayEntropy::new(replay_bytes, None);
        assert_eq!(rsa::rsa_pad_encrypt(&key, &data, &mut replay).expect("encrypt")[..], h(&c["encrypted_data"])[..]);
    }
}

fn decimal_to_be(s: &str) -> Vec<u8> {
    let mut out = vec![0u8];
    for ch in s.bytes() {
        let mut carry = (ch - b'0') as u32;
        for b in out.iter_mut().rev() {
            let v = *b as u32 * 10 + carry;
            *b = v as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            out.insert(0, carry as u8);
            carry >>= 8;
        }
    }
    out
}

#[test]
fn rsa_keys_and_fingerprints() {
    let d = load("rsa_keys.json");
    let mut n = 0;
    for k in d["keys"].as_array().expect("keys") {
        let Some(pem) = k["pem"].as_str() else {
            continue;
        };
        let key = match RsaPublicKey::from_pem(pem) {
            Ok(key) => key,
            Err(mtproto_crypto::CryptoError::UnsupportedKeySize { bits }) => {
                assert_ne!(bits, 2048, "{}", k["name"]);
                continue;
            }
            Err(e) => panic!("{}: {e}", k["name"]),
        };
        let fp = key.fingerprint();
        assert_eq!(fp, k["computed_fingerprint"]["int64"].as_i64().expect("int64"), "{}", k["name"]);
        for stated in k["expected_fingerprints"].as_array().into_iter().flatten() {
            if let Some(v) = stated["value"].as_str() {
                assert_eq!(
                    fp as u64,
                    u64::from_str_radix(v.trim_start_matches("0x"), 16).expect("hex"),
                    "{}",
                    k["name"]
                );
            } else if let Some(v) = stated["value"].as_i64() {
                assert_eq!(fp, v, "{}", k["name"]);
            } else {
                assert_eq!(fp.to_le_bytes()[..], h(&stated["value_le_hex"])[..], "{}", k["name"]);
            }
        }
        assert_eq!(key.n_bytes()[..], h(&k["n_hex"])[..], "{}", k["name"]);
        n += 1;
    }
    assert!(n >= 10, "only {n} 2048-bit keys");
    // The built-in keys are the published production and test keys.
    let prod = &rsa::builtin::production()[0];
    let test = &rsa::builtin::test()[0];
    assert_eq!(prod.fingerprint() as u64, 0xd09d1d85de64fd85);
    assert_eq!(test.fingerprint() as u64, 0xb25898df208d2603);
}

#[test]
fn raw_rsa_case() {
    use base64ct::Encoding;
    use sha2::Digest;
    let d = load("rsa_keys.json");
    for c in d["raw_rsa_cases"].as_array().expect("cases") {
        let key_name = c["key"].as_str().expect("key");
        let key = d["keys"].as_array().expect("keys").iter().find(|k| k["name"] == key_name).expect("named key");
        let key = RsaPublicKey::from_pem(key["pem"].as_str().expect("pem")).expect("key");
        let m: [u8; 256] = c["plaintext_ascii_first_256_bytes_of_pem"].as_str().expect("pt").as_bytes()[..256]
            .try_into()
            .expect("256");
        let ct = key.encrypt_raw(&m).expect("below n");
        let digest = sha2::Sha256::digest(ct);
        let expected = base64ct::Base64::decode_vec(c["expected_sha256_base64_of_ciphertext"].as_str().expect("b64"))
            .expect("b64");
        assert_eq!(digest[..], expected[..]);
    }
}

#[test]
fn pq_factor_cases() {
    let d = load("pq_factor.json");
    for c in d["cases"].as_array().expect("cases") {
        let pq_v = c["pq"].as_u64().expect("pq");
        let (p, q) = pq::factorize(pq_v).expect("factorable");
        assert_eq!((p, q), (c["p"].as_u64().expect("p"), c["q"].as_u64().expect("q")), "pq {pq_v}");
    }
}

#[test]
fn obfuscated2_cases() {
    let d = load("obfuscated2.json");
    for c in d["cases"].as_array().expect("cases") {
        let init = arr::<64>(&c["init_random64"]);
        let tag = arr::<4>(&c["protocol_tag"]);
        let dc = c["dc_id"].as_i64().expect("dc") as i16;
        let secret = c["secret"].as_str().map(|s| hex::decode(s).expect("hex"));
        let mut cs = obfuscated2::client_from_init(init, tag, dc, secret.as_deref());
        assert_eq!(cs.header[..], h(&c["expected_header"])[..], "{}", c["name"]);
        // The responder recovers tag and dc and decrypts what follows.
        let mut ss = obfuscated2::server(&cs.header, secret.as_deref()).expect("64 bytes");
        assert_eq!((ss.tag, ss.dc_id), (tag, dc));
        if let Some(e) = c.get("encrypt_after_header") {
            let mut buf = h(&e["plaintext"]);
            cs.send.apply(&mut buf);
            assert_eq!(buf, h(&e["ciphertext"]), "{}", c["name"]);
            ss.recv.apply(&mut buf);
            assert_eq!(buf, h(&e["plaintext"]));
        }
        if let Some(e) = c.get("decrypt_stream_start") {
            let mut buf = h(&e["input"]);
            cs.recv.apply(&mut buf);
            assert_eq!(buf, h(&e["output"]), "{}", c["name"]);
            let mut again = h(&e["input"]);
            ss.send.apply(&mut again);
            assert_eq!(again, h(&e["output"]), "server send stream = client recv stream");
        }
    }
}

#[test]
fn mtproto1_kdf_and_msg_key_cases() {
    use mtproto_crypto::envelope_v1;
    let d = load("mtproto2_kdf.json");
    for c in d["mtproto1_kdf_cases"].as_array().expect("cases") {
        let key = auth_key(&c["auth_key"]);
        let dir = if c["x"].as_u64() == Some(0) { Direction::ClientToServer } else { Direction::ServerToClient };
        let (k, iv) = envelope_v1::derive_aes(&key, dir, &arr::<16>(&c["msg_key"]));
        assert_eq!(k[..], h(&c["aes_key"])[..], "{}", c["name"]);
        assert_eq!(iv[..], h(&c["aes_iv"])[..], "{}", c["name"]);
    }
    for c in d["mtproto1_msg_key_cases"].as_array().expect("cases") {
        assert_eq!(envelope_v1::msg_key(&h(&c["data"]))[..], h(&c["msg_key"])[..]);
    }
}
