//! The fuzz targets' bodies, shared by `fuzz/` (libFuzzer) and by the corpus
//! replay test, so every checked-in input runs on the stable toolchain too.
//! Each function must return normally for any input.

use core::time::Duration;
use mtproto_core::connection::{
    ClientConnection, ClientOptions, Endpoint, Persisted, ServerConnection, ServerOptions, SessionOptions, Transporting,
};
use mtproto_core::handshake::{ClientConfig, ClientHandshake, ServerConfig, ServerHandshake, Step};
use mtproto_core::message::{self, EncryptedSession, Role, container, gzip};
use mtproto_core::tl::Deserialize;
use mtproto_core::tl::schema::*;
use mtproto_core::transport::{Frame, Transport, TransportKind};
use mtproto_core::{Input, Output};
use mtproto_crypto::{AuthKey, Direction, SeededEntropy, envelope};

fn now() -> Duration {
    Duration::from_secs(1_780_000_000)
}

/// The fixed key the authenticated targets encrypt with.
pub fn fuzz_key() -> AuthKey {
    crate::shared_key()
}

fn drain(conn: &mut impl Endpoint) {
    for _ in 0..10_000 {
        if let Output::Timeout(_) = conn.poll_output(now()) {
            return;
        }
    }
}

/// Raw bytes as an encrypted message for either role, as a plain message,
/// and as saved client state (`Persisted`).
pub fn unpack_raw(data: &[u8]) {
    let _ = message::unpack_plain(data);
    // Saved client state: the bytes as they are, and as the tail (session
    // flag, counters, salt count, salts) of a version-2 record.
    let _ = Persisted::from_bytes(data);
    let mut saved = 2u32.to_le_bytes().to_vec();
    saved.resize(4 + 256 + 16, 0);
    saved.extend_from_slice(data);
    let _ = Persisted::from_bytes(&saved);
    for role in [Role::Client, Role::Server] {
        let s = EncryptedSession::with_entropy(fuzz_key(), role, 0, 0, 0, Box::new(SeededEntropy::new(0)));
        let _ = s.unpack(&mut data.to_vec());
    }
}

/// The fuzzer's bytes become the *plaintext* of a correctly encrypted
/// message (session id and length fields kept sane half of the time), so the
/// input gets past msg_key and reaches containers, gzip and the service
/// messages in both roles.
pub fn unpack_authenticated(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    for role in [Role::Client, Role::Server] {
        let session = SessionOptions { transport: Transporting::Unframed, ..SessionOptions::default() };
        match role {
            Role::Client => {
                let cfg = ClientOptions { session, ..ClientOptions::resume(Persisted::new(fuzz_key(), 0, 0)) };
                let mut conn = ClientConnection::with_entropy(cfg, now(), Box::new(SeededEntropy::new(1)));
                authenticated_into(&mut conn, role, mode, rest);
            }
            Role::Server => {
                let key = fuzz_key();
                let mut cfg = ServerOptions { session, ..ServerOptions::default() };
                cfg.key_lookup = Some(std::sync::Arc::new(move |_| Some(key.clone())));
                let mut conn = ServerConnection::with_entropy(cfg, now(), Box::new(SeededEntropy::new(2)));
                authenticated_into(&mut conn, role, mode, rest);
            }
        }
    }
}

/// One encrypted packet built around the fuzzer's bytes into `conn`
/// (whose role is `role`), for [`unpack_authenticated`].
fn authenticated_into(conn: &mut impl Endpoint, role: Role, mode: u8, rest: &[u8]) {
    drain(conn);
    let session_id = conn.session_id().unwrap_or(0);
    let mut plain = Vec::with_capacity(rest.len() + 64);
    if mode & 1 == 0 {
        // Well-formed header around the fuzzer's body.
        let msg_id: i64 = (now().as_secs() as i64) << 32 | if role == Role::Client { 1 } else { 4 };
        plain.extend_from_slice(&0i64.to_le_bytes());
        plain.extend_from_slice(&session_id.to_le_bytes());
        plain.extend_from_slice(&msg_id.to_le_bytes());
        plain.extend_from_slice(&((mode as i32) >> 1).to_le_bytes());
        plain.extend_from_slice(&(rest.len() as u32 & !3).to_le_bytes());
        plain.extend_from_slice(&rest[..rest.len() & !3]);
        let pad = message::padding_len(rest.len() & !3);
        plain.resize(plain.len() + pad, 0);
    } else {
        plain.extend_from_slice(rest);
        plain.resize(plain.len().div_ceil(16).max(3) * 16, 0);
    }
    let mut packet = vec![0u8; envelope::HEADER_LEN];
    packet.extend_from_slice(&plain);
    let dir = if role == Role::Client { Direction::ServerToClient } else { Direction::ClientToServer };
    if envelope::encrypt_in_place(&fuzz_key(), dir, &mut packet).is_ok() {
        conn.handle_input(Input::Packet(&mut packet), now());
        drain(conn);
        conn.handle_input(Input::Timeout, now() + Duration::from_secs(5));
        drain(conn);
    }
}

/// Transport decoding with the input split at fuzzer-chosen points, as a
/// server (detecting the framing) and as a client of each framing.
pub fn transport_decode(data: &[u8]) {
    let Some((&splits, rest)) = data.split_first() else { return };
    let step = (splits as usize % 17) + 1;
    let mut frames = Vec::new();
    let mut server = Transport::server(None, 1 << 16, Box::new(SeededEntropy::new(0)));
    for chunk in rest.chunks(step) {
        if server.feed(chunk, &mut frames).is_err() {
            break;
        }
    }
    for kind in
        [TransportKind::Abridged, TransportKind::Intermediate, TransportKind::PaddedIntermediate, TransportKind::Full]
    {
        let Ok(mut client) = Transport::client(kind, None, 1 << 16, Box::new(SeededEntropy::new(0))) else { continue };
        for chunk in rest.chunks(step) {
            if client.feed(chunk, &mut frames).is_err() {
                break;
            }
        }
    }
    for f in &frames {
        if let Frame::Packet { data, .. } = f {
            assert!(data.len() <= 1 << 16);
        }
    }
}

/// Every service type's decoder on the same bytes.
pub fn tl_decode(data: &[u8]) {
    let _ = ResPq::from_bytes(data);
    let _ = PqInnerData::from_bytes(data);
    let _ = ReqDhParams::from_bytes(data);
    let _ = ServerDhParamsOk::from_bytes(data);
    let _ = ServerDhInnerData::from_bytes(data);
    let _ = ClientDhInnerData::from_bytes(data);
    let _ = SetClientDhParams::from_bytes(data);
    let _ = mtproto_core::handshake::DhGenAnswer::from_bytes(data);
    let _ = BindAuthKeyInner::from_bytes(data);
    let _ = RpcResult::from_bytes(data);
    let _ = RpcError::from_bytes(data);
    let _ = FutureSalts::from_bytes(data);
    let _ = Pong::from_bytes(data);
    let _ = NewSessionCreated::from_bytes(data);
    let _ = MsgsAck::from_bytes(data);
    let _ = BadMsgNotification::from_bytes(data);
    let _ = BadServerSalt::from_bytes(data);
    let _ = MsgResendReq::from_bytes(data);
    let _ = MsgsStateReq::from_bytes(data);
    let _ = MsgsStateInfo::from_bytes(data);
    let _ = MsgsAllInfo::from_bytes(data);
    let _ = MsgDetailedInfo::from_bytes(data);
    let _ = MsgNewDetailedInfo::from_bytes(data);
    let _ = HttpWait::from_bytes(data);
    let _ = DestroySession::from_bytes(data);
    let _ = container::unpack(data, i64::MAX, Role::Server, 1020);
    let _ = container::unpack(data, i64::MAX, Role::Client, 1020);
    let _ = gzip::unpack(data, 1 << 20);
}

/// Arbitrary packets to both handshake machines, after 0, 1 or 2 honest steps.
pub fn handshake(data: &[u8]) {
    let Some((&at, rest)) = data.split_first() else { return };
    let key = crate::server_rsa_key();
    let config = ClientConfig::new(vec![key.public_key().clone()], 2);
    let (mut client, mut packet) = ClientHandshake::start(config, now(), Box::new(SeededEntropy::new(3)));
    let Ok(server_config) = ServerConfig::new(vec![key.clone()]) else { return };
    let mut server = ServerHandshake::new(server_config, now(), Box::new(SeededEntropy::new(4)));
    for _ in 0..(at % 3) {
        let Ok(Step::Send(reply)) = server.handle(&packet, now(), &|_| false) else { break };
        let Ok(Step::Send(next)) = client.handle(&reply, now()) else { break };
        packet = next;
    }
    let mut framed = Vec::new();
    message::pack_plain(4, rest, &mut framed);
    for input in [rest, &framed[..]] {
        let _ = server.handle(input, now(), &|_| false);
        let _ = client.handle(input, now());
    }
}

/// Arbitrary framed bytes into a Connection of either role.
pub fn connection_input(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let step = (mode as usize >> 1).max(1);
    if mode & 1 == 0 {
        let mut cfg = ClientOptions::resume(Persisted::new(fuzz_key(), 0, 0));
        cfg.session.transport = Transporting::Framed(TransportKind::Intermediate, None);
        let mut conn = ClientConnection::with_entropy(cfg, now(), Box::new(SeededEntropy::new(5)));
        bytes_into(&mut conn, rest, step);
    } else {
        bytes_into(&mut connection_input_server(), rest, step);
    }
}

/// `data` into `conn` in pieces of `step` bytes, draining after each.
fn bytes_into(conn: &mut impl Endpoint, data: &[u8], step: usize) {
    for chunk in data.chunks(step) {
        conn.handle_input(Input::Bytes(chunk), now());
        drain(conn);
    }
}

/// MTProxy secrets (hex, base64url, base64; plain, dd, ee): a typed
/// error or a secret whose key is the 16 bytes after the prefix.
pub fn proxy_secret(data: &[u8]) {
    use mtproto_core::transport::ProxySecret;
    let Ok(text) = core::str::from_utf8(data) else { return };
    if let Ok(secret) = ProxySecret::parse(text) {
        let _ = secret.key();
    }
    let _ = ProxySecret::from_bytes(data);
}

/// The server of [`connection_input`]: intermediate framing, a handshake
/// configuration, and the fuzz key known (so seeds can carry encrypted
/// sessions, replays and session switches under it).
pub fn connection_input_server() -> ServerConnection {
    let mut cfg = ServerOptions::default();
    cfg.session.transport = Transporting::Framed(TransportKind::Intermediate, None);
    cfg.handshake = ServerConfig::new(vec![crate::server_rsa_key().clone()]).ok();
    let key = fuzz_key();
    cfg.key_lookup = Some(std::sync::Arc::new(move |id| (id == key.id()).then(|| key.clone())));
    ServerConnection::with_entropy(cfg, now(), Box::new(SeededEntropy::new(6)))
}

/// Differential: the multi-buffer and fused fast paths against the one-by-one
/// portable paths, on fuzzer-chosen keys, directions, lengths and contents,
/// with a fuzzer-chosen byte flipped after sealing. Any disagreement panics.
pub fn crypto_paths(data: &[u8]) {
    let mut jobs_spec = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 && jobs_spec.len() < 6 {
        let (head, tail) = rest.split_at(3);
        let blocks = 3 + (head[2] as usize % 40);
        let take = tail.len().min(blocks * 16);
        jobs_spec.push((head[0], head[1] & 1 == 0, blocks, &tail[..take]));
        rest = &tail[take..];
    }
    if jobs_spec.is_empty() {
        return;
    }
    let key_of =
        |seed: u8| AuthKey::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(seed | 1).wrapping_add(seed)));
    let keys: Vec<AuthKey> = jobs_spec.iter().map(|(s, ..)| key_of(*s)).collect();
    let dirs: Vec<Direction> = jobs_spec
        .iter()
        .map(|(_, c, ..)| if *c { Direction::ClientToServer } else { Direction::ServerToClient })
        .collect();
    let plains: Vec<Vec<u8>> = jobs_spec
        .iter()
        .map(|(_, _, blocks, bytes)| {
            let mut v = vec![0u8; envelope::HEADER_LEN + blocks * 16];
            v[envelope::HEADER_LEN..envelope::HEADER_LEN + bytes.len()].copy_from_slice(bytes);
            v
        })
        .collect();
    let mut one_by_one = plains.clone();
    for ((buf, key), dir) in one_by_one.iter_mut().zip(&keys).zip(&dirs) {
        envelope::encrypt_in_place(key, *dir, buf).expect("aligned");
    }
    let mut many = plains.clone();
    {
        let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> =
            many.iter_mut().zip(&keys).zip(&dirs).map(|((b, k), d)| (k, *d, &mut b[..])).collect();
        envelope::encrypt_many(&mut jobs).expect("aligned");
    }
    assert_eq!(many, one_by_one, "encrypt_many disagrees");
    // Flip one byte of the first message (chosen by the input), then every
    // decrypt path must agree on the outcome and the plaintext.
    if let Some(&at) = data.first() {
        let n = many[0].len();
        many[0][at as usize % n] ^= data.get(1).copied().unwrap_or(1) | 1;
    }
    let sealed = many.clone();
    let expect: Vec<_> = sealed
        .iter()
        .zip(&keys)
        .zip(&dirs)
        .map(|((s, k), d)| {
            let mut b = s.clone();
            envelope::decrypt_in_place_unfused(k, *d, &mut b).map(|p| p.to_vec())
        })
        .collect();
    let fused: Vec<_> = sealed
        .iter()
        .zip(&keys)
        .zip(&dirs)
        .map(|((s, k), d)| {
            let mut b = s.clone();
            envelope::decrypt_in_place(k, *d, &mut b).map(|p| p.to_vec())
        })
        .collect();
    assert_eq!(fused, expect, "fused decrypt disagrees");
    let mut work = sealed.clone();
    let results = {
        let mut jobs: Vec<(&AuthKey, Direction, &mut [u8])> =
            work.iter_mut().zip(&keys).zip(&dirs).map(|((b, k), d)| (k, *d, &mut b[..])).collect();
        envelope::decrypt_many(&mut jobs)
    };
    for ((r, w), e) in results.iter().zip(&work).zip(&expect) {
        match (r, e) {
            (Ok(()), Ok(p)) => assert_eq!(&w[envelope::HEADER_LEN..], &p[..], "decrypt_many plaintext"),
            (Err(a), Err(b)) => assert_eq!(a, b, "decrypt_many error"),
            _ => panic!("decrypt_many outcome disagrees"),
        }
    }
}

/// The DH exponentiation: the fast path (AVX-512 IFMA where present) and
/// crypto-bigint agree for any base below 2^2048 and any exponent, under
/// Telegram's prime (the first 256 input bytes are the base, the next 256
/// the exponent, both zero-padded on the left).
pub fn modexp(data: &[u8]) {
    use mtproto_crypto::dh::{DhGroup, PrimeCache, TELEGRAM_DH_PRIME, left_pad};
    thread_local! {
        static GROUP: DhGroup = DhGroup::new(&TELEGRAM_DH_PRIME, 3, &mut PrimeCache::default()).expect("known prime");
    }
    let (base, exponent) = data.split_at(data.len().min(256));
    let (base, exponent) = (left_pad(base), left_pad(&exponent[..exponent.len().min(256)]));
    GROUP.with(|g| assert_eq!(g.pow(&base, &exponent), g.pow_portable(&base, &exponent), "modexp paths disagree"));
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The key and domain of the fake-TLS targets (the seeds are made with them).
pub const FAKE_TLS_KEY: [u8; 16] = *b"fuzz-fake-tls-k!";
/// See [`FAKE_TLS_KEY`].
pub const FAKE_TLS_DOMAIN: &str = "fuzz.example.com";

fn fake_tls_config() -> mtproto_core::transport::fake_tls::FakeTlsConfig {
    mtproto_core::transport::fake_tls::FakeTlsConfig::new(FAKE_TLS_KEY, FAKE_TLS_DOMAIN, 2)
}

/// Fake-TLS records: the bytes (after a split-size byte) through the record
/// reader, as a proxy's answer to a client, and as what a client sends
/// after a hello our proxy accepted (records, then obfuscated2 inside).
pub fn fake_tls_records(data: &[u8]) {
    use mtproto_core::transport::fake_tls::{RecordReader, client_hello, verify_server_answer};
    let Some((&splits, rest)) = data.split_first() else { return };
    let step = (splits as usize % 17) + 1;
    let mut reader = RecordReader::new();
    let mut out = Vec::new();
    for chunk in rest.chunks(step) {
        if reader.read(chunk, &mut out).is_err() {
            break;
        }
    }
    assert!(out.len() <= rest.len(), "payload never exceeds the input");
    let _ = verify_server_answer(&FAKE_TLS_KEY, &[0; 32], rest);
    let cfg = fake_tls_config();
    let mut frames = Vec::new();
    let mut client = Transport::fake_tls_client(&cfg, 1 << 16, Box::new(SeededEntropy::new(0)));
    client.set_unix_time(now().as_secs() as i64);
    client.poll_transmit(&mut Vec::new());
    for chunk in rest.chunks(step) {
        if client.feed(chunk, &mut frames).is_err() {
            break;
        }
    }
    let mut server = Transport::fake_tls_server(cfg, 1 << 16, Box::new(SeededEntropy::new(1)));
    server.set_unix_time(now().as_secs() as i64);
    let hello = client_hello(&FAKE_TLS_KEY, FAKE_TLS_DOMAIN, now().as_secs() as u32, &mut SeededEntropy::new(2));
    if server.feed(&hello.record, &mut frames).is_ok() {
        for chunk in rest.chunks(step) {
            if server.feed(chunk, &mut frames).is_err() {
                break;
            }
        }
    }
    for f in &frames {
        if let Frame::Packet { data, .. } = f {
            assert!(data.len() <= 1 << 16);
        }
    }
}

/// Fake-TLS ClientHellos: the bytes through the parser and the proxy's
/// check, then (after a split-size byte) as the first bytes a fake-TLS
/// server reads. A refused stream must be handed back exactly as fed.
pub fn fake_tls_hello(data: &[u8]) {
    use mtproto_core::transport::TransportError;
    use mtproto_core::transport::fake_tls::{parse_client_hello, verify_client_hello};
    let cfg = fake_tls_config();
    if let Ok(p) = parse_client_hello(data) {
        assert!(p.session_id.len() <= 32);
    }
    let _ = verify_client_hello(&cfg, data, now().as_secs() as i64);
    let Some((&splits, rest)) = data.split_first() else { return };
    let step = (splits as usize % 17) + 1;
    let mut cfg = fake_tls_config();
    cfg.secret_only = splits & 0x80 != 0;
    let mut server = Transport::fake_tls_server(cfg, 1 << 16, Box::new(SeededEntropy::new(3)));
    server.set_unix_time(now().as_secs() as i64);
    let mut frames = Vec::new();
    let mut fed = 0;
    for chunk in rest.chunks(step) {
        fed += chunk.len();
        match server.feed(chunk, &mut frames) {
            Ok(()) => {}
            Err(TransportError::NotFakeTls { .. }) => {
                let back = server.take_rejected().unwrap_or_default();
                assert_eq!(&back[..], &rest[..fed], "handed back untouched");
                let mut answer = Vec::new();
                server.poll_transmit(&mut answer);
                assert!(answer.is_empty(), "never answered");
                break;
            }
            Err(_) => break,
        }
    }
}

/// HTTP: the bytes (after a split-size byte) as requests to an
/// [`HttpServer`](mtproto_core::transport::http::HttpServer) and as
/// responses to an [`HttpClient`](mtproto_core::transport::http::HttpClient)
/// with requests in flight, fed in pieces. Nothing buffered beyond the
/// limits; every body handed out fits the limit; every request is answered
/// once; what the server read goes through the client's requests again and
/// reads back the same.
pub fn http_messages(data: &[u8]) {
    use mtproto_core::transport::http::{HttpClient, HttpLimits, HttpServer, Response};
    let Some((&splits, rest)) = data.split_first() else { return };
    let step = (splits as usize % 23) + 1;
    let limits = HttpLimits { max_head: 1024, max_body: 4096, max_pending: 8, max_queued: 1 << 16 };
    let bound = limits.max_head + 1 + limits.max_body;
    let mut server = HttpServer::new(limits);
    let mut packets = Vec::new();
    for chunk in rest.chunks(step) {
        let ok = server.handle_bytes(chunk, now()).is_ok();
        assert!(server.buffered() <= bound);
        while let Some(p) = server.poll_packet() {
            assert!(!p.is_empty() && p.len() <= limits.max_body);
            packets.push(p.to_vec());
        }
        if !ok {
            let _ = HttpServer::refusal(&server.error().unwrap_or(mtproto_core::transport::http::HttpError::Malformed));
            break;
        }
    }
    let pending = server.pending_requests();
    let mut answers = Vec::new();
    while let Some(b) = server.poll_transmit(now() + Duration::from_secs(3600)) {
        answers.extend(b);
    }
    assert_eq!(server.pending_requests(), 0);
    let mut client = HttpClient::new("h", limits).unwrap_or_else(|_| unreachable!("a valid host"));
    let mut wire = Vec::new();
    for p in &packets {
        client.encode_request(p, &mut wire);
    }
    let mut again = HttpServer::new(limits);
    if again.handle_bytes(&wire, now()).is_ok() {
        let reread: Vec<Vec<u8>> = core::iter::from_fn(|| again.poll_packet()).map(|p| p.to_vec()).collect();
        assert_eq!(reread, packets, "requests read back the same");
    }
    let mut ours = HttpClient::new("h", limits).unwrap_or_else(|_| unreachable!("a valid host"));
    for _ in 0..pending {
        ours.encode_poll(&mut Vec::new());
    }
    if ours.handle_bytes(&answers).is_ok() {
        assert_eq!(core::iter::from_fn(|| ours.poll_response()).count(), pending, "one answer per request");
    }
    for _ in 0..4 {
        client.encode_poll(&mut Vec::new());
    }
    for chunk in rest.chunks(step) {
        let ok = client.handle_bytes(chunk).is_ok();
        assert!(client.buffered() <= bound);
        while let Some(r) = client.poll_response() {
            if let Response::Packet(p) = r {
                assert!(p.len() <= limits.max_body);
            }
        }
        if !ok {
            break;
        }
    }
}

/// Every target by name, for the corpus replay test.
pub const TARGETS: &[(&str, Target)] = &[
    ("unpack_raw", unpack_raw),
    ("unpack_authenticated", unpack_authenticated),
    ("transport_decode", transport_decode),
    ("tl_decode", tl_decode),
    ("handshake", handshake),
    ("connection_input", connection_input),
    ("crypto_paths", crypto_paths),
    ("modexp", modexp),
    ("proxy_secret", proxy_secret),
    ("fake_tls_records", fake_tls_records),
    ("fake_tls_hello", fake_tls_hello),
    ("http_messages", http_messages),
];
