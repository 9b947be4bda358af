//! The message layer and the Connection beside the crypto floor (one SHA-256
//! pass + one AES-256-IGE pass with the `aes` crate's per-block calls, over
//! the same bytes). `cargo bench -p mtproto-core --bench wire`
#![allow(missing_docs, clippy::unwrap_used)]

use core::time::Duration;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mtproto_core::connection::{ClientConnection, ClientOptions, ServerConnection, ServerOptions, SessionOptions};
use mtproto_core::connection::{Persisted, SendOptions, Transporting};
use mtproto_core::message::{EncryptedSession, Role, container};
use mtproto_core::{ClientEvent, Input, Output, ServerEvent};
use mtproto_crypto::floor::Floor;
use mtproto_crypto::{AuthKey, Entropy, SeededEntropy};
use std::hint::black_box;
use std::sync::Arc;

static FLOOR: std::sync::LazyLock<Floor> = std::sync::LazyLock::new(Floor::default);

fn floor(data: &mut [u8]) {
    black_box(FLOOR.run(data));
}

fn key() -> AuthKey {
    AuthKey::from_bytes(core::array::from_fn(|i| (i * 7) as u8))
}

const NOW: Duration = Duration::from_secs(1_780_000_000);

fn message_layer(c: &mut Criterion) {
    // Padding from a fork, as a Connection's sessions draw it.
    let mut client = EncryptedSession::with_entropy(key(), Role::Client, 1, 2, 0, SeededEntropy::new(1).fork());
    let server = EncryptedSession::with_entropy(key(), Role::Server, 1, 2, 0, SeededEntropy::new(2).fork());
    let body = vec![0x42u8; 1024];
    let mut out = Vec::with_capacity(4096);
    let mut g = c.benchmark_group("message_1KiB");
    g.throughput(Throughput::Bytes(1024));
    let mut fl = vec![0u8; 1024 + 32 + 16];
    g.bench_function("floor", |b| b.iter(|| floor(&mut fl)));
    g.bench_function("pack", |b| {
        b.iter(|| {
            out.clear();
            client.pack(black_box(&body), true, NOW, &mut out)
        })
    });
    // The pure crypto of the same message (header, body, padding already laid out).
    let k = key();
    let mut raw = out.clone();
    g.bench_function("crypto_only_encrypt", |b| {
        b.iter(|| {
            mtproto_crypto::envelope::encrypt_in_place(
                &k,
                mtproto_crypto::Direction::ClientToServer,
                black_box(&mut raw),
            )
            .unwrap()
        })
    });
    out.clear();
    client.pack(&body, true, NOW, &mut out);
    let sealed = out.clone();
    let mut work = sealed.clone();
    g.bench_function("unpack", |b| {
        b.iter(|| {
            work.copy_from_slice(&sealed);
            server.unpack(black_box(&mut work)).unwrap().body.len()
        })
    });
    g.bench_function("crypto_only_decrypt", |b| {
        b.iter(|| {
            work.copy_from_slice(&sealed);
            mtproto_crypto::envelope::decrypt_in_place(
                &k,
                mtproto_crypto::Direction::ClientToServer,
                black_box(&mut work),
            )
            .unwrap()
            .len()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("container_100x64B");
    g.throughput(Throughput::Bytes(100 * 64));
    let mut cbody = Vec::with_capacity(16 * 1024);
    let mut fl = vec![0u8; 100 * 80 + 64];
    g.bench_function("floor", |b| b.iter(|| floor(&mut fl)));
    g.bench_function("pack", |b| {
        b.iter(|| {
            cbody.clear();
            let mut cb = container::ContainerBuilder::new(&mut cbody, 100, 1 << 20);
            for i in 0..100 {
                cb.push(i * 4 + 4, 1, &body[..64]);
            }
            cb.finish();
            out.clear();
            client.pack(&cbody, false, NOW, &mut out)
        })
    });
    let sealed = out.clone();
    let mut work = sealed.clone();
    g.bench_function("unpack", |b| {
        b.iter(|| {
            work.copy_from_slice(&sealed);
            let m = server.unpack(&mut work).unwrap();
            container::unpack(m.body, m.msg_id, Role::Client, 1020).unwrap().len()
        })
    });
    g.finish();
}

fn pair() -> (ClientConnection, ServerConnection) {
    pair_over(Transporting::Unframed)
}

/// A client and a server over `transport`, one exchange done (salt and
/// session settled); gzip off: the benchmark measures the session
/// machinery, not deflate.
fn pair_over(transport: Transporting) -> (ClientConnection, ServerConnection) {
    let k = key();
    let framed = !matches!(transport, Transporting::Unframed);
    let session =
        SessionOptions { transport: transport.clone(), gzip_threshold: usize::MAX, ..SessionOptions::default() };
    let mut sc = ServerOptions { session: session.clone(), ..ServerOptions::default() };
    sc.key_lookup = Some(Arc::new(move |_| Some(k.clone())));
    let cc = ClientOptions {
        ping_interval: None,
        session: SessionOptions { transport, ..SessionOptions::default() },
        ..ClientOptions::resume(Persisted::new(key(), 0, 0))
    };
    let mut client = ClientConnection::with_entropy(cc, NOW, Box::new(SeededEntropy::new(1)));
    let mut server = ServerConnection::with_entropy(sc, NOW, Box::new(SeededEntropy::new(2)));
    client.send(vec![0; 16], SendOptions::default());
    pump_over(&mut client, &mut server, framed);
    (client, server)
}

/// Moves every packet both ways until both are idle; the server echoes.
/// Returns the number of answers the client received.
fn pump(client: &mut ClientConnection, server: &mut ServerConnection) -> usize {
    pump_over(client, server, false)
}

/// [`pump`], the transmits fed as socket bytes when `framed`.
fn pump_over(client: &mut ClientConnection, server: &mut ServerConnection, framed: bool) -> usize {
    let feed = |to: &mut dyn FnMut(Input<'_>), mut p: Vec<u8>| {
        if framed { to(Input::Bytes(&p)) } else { to(Input::Packet(&mut p)) }
    };
    let mut answers = 0;
    loop {
        let mut moved = false;
        loop {
            match server.poll_output(NOW) {
                Output::Transmit(p) => {
                    feed(&mut |i| client.handle_input(i, NOW), p);
                    moved = true;
                }
                Output::Event(ServerEvent::Request { req_msg_id, body }) => server.respond(req_msg_id, &body),
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        loop {
            match client.poll_output(NOW) {
                Output::Transmit(p) => {
                    feed(&mut |i| server.handle_input(i, NOW), p);
                    moved = true;
                }
                Output::Event(ClientEvent::RpcResult { .. }) => answers += 1,
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        if !moved {
            return answers;
        }
    }
}

/// Feeds the client's packets to `link` and drains the link, answering its
/// requests: what a server does for the first message of a client on a new
/// link. Returns the link's transmits.
fn first_message(packets: Vec<Vec<u8>>, link: &mut ServerConnection) -> Vec<Vec<u8>> {
    for mut p in packets {
        link.handle_input(Input::Packet(&mut p), NOW);
    }
    let mut out = Vec::new();
    loop {
        match link.poll_output(NOW) {
            Output::Transmit(p) => out.push(p),
            Output::Event(ServerEvent::Request { req_msg_id, body }) => link.respond(req_msg_id, &body),
            Output::Event(_) => {}
            Output::Timeout(_) => return out,
        }
    }
}

/// Continuing a session on a new link (no handshake): the server's side of
/// the client's first message there (the session attached from the store,
/// its replay window and counters carried over, the request run and
/// answered), beside one floor pass over the same 64-byte request.
fn session_resume(c: &mut Criterion) {
    use mtproto_core::connection::{MemorySessionStore, Server, SessionStore};
    let k = key();
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(1024));
    let session = SessionOptions { transport: Transporting::Unframed, ..SessionOptions::default() };
    let mut options = ServerOptions { session: session.clone(), session_store: store, ..ServerOptions::default() };
    options.key_lookup = Some(Arc::new(move |_| Some(k.clone())));
    let server = Server::with_entropy(options, Box::new(SeededEntropy::new(3)));
    let cc = ClientOptions { ping_interval: None, session, ..ClientOptions::resume(Persisted::new(key(), 0, 0)) };
    let mut client = ClientConnection::with_entropy(cc, NOW, Box::new(SeededEntropy::new(4)));
    let mut link = server.link(NOW);
    client.send(vec![0; 16], SendOptions::default());
    pump(&mut client, &mut link);
    let mut g = c.benchmark_group("session_resume");
    let mut fl = vec![0u8; 64 + 64];
    g.bench_function("floor", |b| b.iter(|| floor(&mut fl)));
    let body = vec![0x17u8; 64];
    g.bench_function("first_message_on_a_new_link", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                // The link goes (its session back to the store); the client
                // attaches a new one and sends.
                link.handle_input(Input::LinkLost, NOW);
                client.handle_input(Input::LinkLost, NOW);
                link = server.link(NOW);
                client.attach_link(NOW);
                client.send(body.clone(), SendOptions { no_gzip: true, ..SendOptions::default() });
                let mut packets = Vec::new();
                while let Output::Transmit(p) = client.poll_output(NOW) {
                    packets.push(p);
                }
                let started = std::time::Instant::now();
                let out = black_box(first_message(packets, &mut link));
                spent += started.elapsed();
                for mut p in out {
                    client.handle_input(Input::Packet(&mut p), NOW);
                }
                assert_eq!(pump(&mut client, &mut link), 1, "answered on the new link");
            }
            spent
        })
    });
    g.finish();
}

fn connection(c: &mut Criterion) {
    for size in [64usize, 1024] {
        let (mut client, mut server) = pair();
        let mut g = c.benchmark_group(format!("connection_round_trip_{size}B"));
        g.throughput(Throughput::Bytes(size as u64));
        // The floor of a round trip: request and answer, each sealed and opened
        // once (four passes over about the body size).
        let mut fl = vec![0u8; size + 64];
        g.bench_function("floor_x4", |b| {
            b.iter(|| {
                for _ in 0..4 {
                    floor(&mut fl);
                }
            })
        });
        let body = vec![0x17u8; size];
        g.bench_function("request_response", |b| {
            b.iter(|| {
                client.send(body.clone(), SendOptions { no_gzip: true, ..SendOptions::default() });
                assert_eq!(pump(&mut client, &mut server), 1);
            })
        });
        // The same over the intermediate transport, socket bytes in and out:
        // what framing adds (the header, the copy of each sealed packet into
        // its frame, the decoder's buffering).
        let intermediate = Transporting::Framed(mtproto_core::transport::TransportKind::Intermediate, None);
        let (mut framed_client, mut framed_server) = pair_over(intermediate);
        g.bench_function("request_response_intermediate", |b| {
            b.iter(|| {
                framed_client.send(body.clone(), SendOptions { no_gzip: true, ..SendOptions::default() });
                assert_eq!(pump_over(&mut framed_client, &mut framed_server, true), 1);
            })
        });
        g.finish();
    }
    let (mut client, mut server) = pair();
    let mut g = c.benchmark_group("connection_100k_small");
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    let body = vec![0x17u8; 32];
    g.bench_function("containers", |b| {
        b.iter(|| {
            let mut got = 0;
            for _ in 0..100 {
                for _ in 0..1000 {
                    client.send(body.clone(), SendOptions::default());
                }
                got += pump(&mut client, &mut server);
            }
            assert_eq!(got, 100_000);
        })
    });
    g.finish();
}

/// One in-memory handshake; returns the CPU time spent in the client's and in
/// the server's state machine.
fn one_handshake(seed: u64, key: &mtproto_crypto::rsa::RsaPrivateKey) -> (Duration, Duration) {
    use mtproto_core::handshake::{ClientConfig, ClientHandshake, ServerConfig, ServerHandshake, Step};
    use std::time::Instant;
    let t = Instant::now();
    let (mut client, mut packet) = ClientHandshake::start(
        ClientConfig::new(vec![key.public_key().clone()], 2),
        NOW,
        Box::new(SeededEntropy::new(seed)),
    );
    let mut client_time = t.elapsed();
    let mut server_time = Duration::ZERO;
    let mut server =
        ServerHandshake::new(ServerConfig::new(vec![key.clone()]).unwrap(), NOW, Box::new(SeededEntropy::new(!seed)));
    loop {
        let t = Instant::now();
        let step = server.handle(&packet, NOW, &|_| false).unwrap();
        server_time += t.elapsed();
        let reply = match step {
            Step::Send(p) => p,
            Step::Done(Some(p), _) => {
                let t = Instant::now();
                client.handle(&p, NOW).unwrap();
                client_time += t.elapsed();
                return (client_time, server_time);
            }
            Step::Done(None, _) => unreachable!(),
        };
        let t = Instant::now();
        match client.handle(&reply, NOW).unwrap() {
            Step::Send(p) => packet = p,
            Step::Done(..) => unreachable!(),
        }
        client_time += t.elapsed();
    }
}

fn handshakes(c: &mut Criterion) {
    let key = mtproto_crypto::rsa::RsaPrivateKey::generate(&mut SeededEntropy::new(5)).unwrap();
    let mut g = c.benchmark_group("handshake_cpu");
    g.sample_size(20);
    let mut seed = 0;
    g.bench_function("client", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    seed += 1;
                    one_handshake(seed, &key).0
                })
                .sum()
        })
    });
    g.bench_function("server", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    seed += 1;
                    one_handshake(seed, &key).1
                })
                .sum()
        })
    });
    g.finish();
}

/// Fake-TLS: the handshake (hello, proxy check and answer, client check) with
/// fresh transports each time, beside its floor (the four HMAC-SHA256 passes
/// over the same hello and answer the two sides cannot avoid); and the
/// per-packet cost and overhead bytes of the record layer.
fn fake_tls(c: &mut Criterion) {
    use hmac::{KeyInit, Mac};
    use mtproto_core::transport::fake_tls::{self, FakeTlsConfig, ReplayCache};
    use mtproto_core::transport::{Obfuscation, Transport, TransportKind};
    let mut cfg = FakeTlsConfig::new([7; 16], "www.example.com", 2);
    // Every hello of the run is new; a one-entry cache keeps memory flat.
    cfg.replay = ReplayCache::new(1);
    let mut seed = 0u64;
    let mut handshake = |answer_len: &mut usize| {
        seed += 2;
        let mut client = Transport::fake_tls_client(&cfg, 1 << 20, Box::new(SeededEntropy::new(seed)));
        let mut server = Transport::fake_tls_server(cfg.clone(), 1 << 20, Box::new(SeededEntropy::new(seed + 1)));
        client.set_unix_time(NOW.as_secs() as i64);
        server.set_unix_time(NOW.as_secs() as i64);
        let mut wire = Vec::with_capacity(8192);
        client.poll_transmit(&mut wire);
        server.feed(&wire, &mut Vec::new()).unwrap();
        wire.clear();
        server.poll_transmit(&mut wire);
        *answer_len = wire.len();
        client.feed(&wire, &mut Vec::new()).unwrap();
        black_box((client, server));
    };
    let mut answer_len = 0;
    handshake(&mut answer_len);
    let hello = fake_tls::client_hello(&[7; 16], "www.example.com", 0, &mut SeededEntropy::new(1));
    let answer = vec![0x5au8; answer_len];
    let mut g = c.benchmark_group("fake_tls_handshake");
    g.bench_function("floor_4_hmac", |b| {
        b.iter(|| {
            for part in [&hello.record[..], &hello.record[..], &answer[..], &answer[..]] {
                let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7; 16]).unwrap();
                m.update(black_box(part));
                black_box(m.finalize());
            }
        })
    });
    g.bench_function("both_sides", |b| b.iter(|| handshake(&mut answer_len)));
    g.bench_function("client_hello", |b| {
        let mut e = SeededEntropy::new(9);
        b.iter(|| black_box(fake_tls::client_hello(&[7; 16], "www.example.com", 0, &mut e)))
    });
    g.bench_function("client_hello_post_quantum", |b| {
        let mut e = SeededEntropy::new(11);
        let pq = fake_tls::HelloTemplate::PostQuantum;
        b.iter(|| black_box(fake_tls::client_hello_with(&[7; 16], "www.example.com", 0, pq, &mut e)))
    });
    g.bench_function("x25519_point", |b| {
        let mut e = SeededEntropy::new(10);
        b.iter(|| black_box(fake_tls::x25519_point(&mut e)))
    });
    g.finish();

    // Per packet: padded intermediate + obfuscated2, with and without the records.
    let open = |fake: bool| {
        let mut client = if fake {
            Transport::fake_tls_client(&cfg, 1 << 21, Box::new(SeededEntropy::new(1)))
        } else {
            let obf = Obfuscation { dc_id: 2, secret: Some([7; 16]) };
            Transport::client(TransportKind::PaddedIntermediate, Some(obf), 1 << 21, Box::new(SeededEntropy::new(1)))
                .unwrap()
        };
        if fake {
            // The same seeded hello each time: a fresh cache, or it is a replay.
            let mut own = cfg.clone();
            own.replay = ReplayCache::new(1);
            let mut server = Transport::fake_tls_server(own, 1 << 20, Box::new(SeededEntropy::new(2)));
            client.set_unix_time(NOW.as_secs() as i64);
            server.set_unix_time(NOW.as_secs() as i64);
            let mut wire = Vec::new();
            client.poll_transmit(&mut wire);
            server.feed(&wire, &mut Vec::new()).unwrap();
            wire.clear();
            server.poll_transmit(&mut wire);
            client.feed(&wire, &mut Vec::new()).unwrap();
        }
        let mut first = Vec::new();
        client.encode(&[1; 40], false, &mut first);
        client.poll_transmit(&mut first);
        client
    };
    for size in [88usize, 1048, 16408, 1 << 20] {
        let packet = vec![0x33u8; size];
        let mut overhead = [0usize; 2];
        for (i, fake) in [false, true].into_iter().enumerate() {
            let mut t = open(fake);
            let mut out = Vec::new();
            for _ in 0..64 {
                t.encode(&packet, false, &mut out);
            }
            overhead[i] = (out.len() - 64 * size) / 64;
        }
        println!(
            "fake_tls overhead per {size}-byte packet: obfuscated2 padded intermediate {} bytes, fake-TLS {} bytes",
            overhead[0], overhead[1]
        );
    }
    let packet = vec![0x33u8; 1048];
    let mut g = c.benchmark_group("fake_tls_packet_1KiB");
    g.throughput(Throughput::Bytes(packet.len() as u64));
    let mut fl = vec![0u8; 1048 + 32 + 16];
    g.bench_function("floor", |b| b.iter(|| floor(&mut fl)));
    for (name, fake) in [("obfuscated2_padded", false), ("fake_tls", true)] {
        let mut t = open(fake);
        let mut out = Vec::with_capacity(4096);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                t.encode(black_box(&packet), false, &mut out);
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    targets = message_layer, connection, session_resume, handshakes, fake_tls
}
criterion_main!(benches);
