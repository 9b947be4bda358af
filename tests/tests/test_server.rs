//! The test server example (`crates/mtproto-core/examples/server.rs`) as a
//! separate process, driven over loopback TCP by our own client: every
//! transport, handshakes (permanent and temporary keys), echo RPCs checked
//! byte for byte, pings, a link resumed on the same session, a new
//! connection resuming the key, and garbage that must close only its own
//! connection. Built by `cargo test` (it builds the examples).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::server_process::{Server, example};
use common::std_driver::{Ended, Flow, Wire, drive, now};
use mtproto_core::connection::{ClientConnection, ClientOptions};
use mtproto_core::connection::{Persisted, SendOptions, Transporting};
use mtproto_core::handshake::ClientConfig;
use mtproto_core::transport::{Obfuscation, TransportKind};
use mtproto_core::{Event, Input, RequestHandle};
use mtproto_tests::server_rsa_key;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// A field `name=value` of a log line (values are numbers or quoted).
fn field(line: &str, name: &str) -> String {
    let start = line.find(&format!(" {name}=")).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len() + 2;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        quoted[..quoted.find('"').unwrap()].to_string()
    } else {
        rest[..rest.find([' ', ':']).unwrap_or(rest.len())].to_string()
    }
}

/// Request bodies the echo must hand back byte for byte: small, odd-sized,
/// and two large ones (one compressible, so gzip_packed goes both ways; one not).
fn bodies(seed: u32) -> Vec<Vec<u8>> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    };
    let word = |c: u32| c.to_le_bytes().to_vec();
    let mut out = vec![word(0x1234_0000 | seed)];
    let mut b = word(0x5678_0000 | seed);
    b.extend(noise(1000));
    out.push(b);
    let mut b = word(0x2222_0000 | seed);
    b.extend((0..40_000u32).flat_map(|i| (i / 64).to_le_bytes()));
    out.push(b);
    let mut b = word(0x3333_0000 | seed);
    b.extend(noise(20_000));
    out.push(b);
    out
}

/// What one link of a client saw.
#[derive(Debug, Default)]
struct Seen {
    answered: usize,
    pongs: usize,
    salt_changes: usize,
    session_resets: usize,
}

/// Drives `conn` over a new TCP connection until every body is echoed,
/// `pings` pongs came back and the client has acknowledged everything it
/// received (an unacknowledged new_session_created would rightly be sent
/// again on the next link); returns the client's local address (the
/// server's log names it) and what it saw.
fn round(conn: &mut ClientConnection, addr: SocketAddr, seed: u32, pings: usize, fresh: bool) -> (SocketAddr, Seen) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let local = stream.local_addr().unwrap();
    if !fresh {
        conn.attach_link(now());
    }
    let expected = bodies(seed);
    let pending: RefCell<HashMap<RequestHandle, Vec<u8>>> = RefCell::default();
    let seen = RefCell::new(Seen::default());
    let started = Cell::new(false);
    let begin = |conn: &mut ClientConnection| {
        started.set(true);
        for body in &expected {
            pending.borrow_mut().insert(conn.send(body.clone(), SendOptions::default()), body.clone());
        }
        conn.ping(now());
    };
    if conn.is_ready() {
        begin(conn);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let ended = drive(
        conn,
        &mut stream,
        &mut Wire::default(),
        |conn, ev| {
            let mut seen = seen.borrow_mut();
            match ev {
                Event::Ready { .. } if !started.get() => begin(conn),
                Event::RpcResult { handle, body } => {
                    let sent = pending.borrow_mut().remove(&handle).expect("an answer to a request we sent, once");
                    assert!(body == sent, "echo of {} bytes differs ({} bytes back)", sent.len(), body.len());
                    seen.answered += 1;
                }
                Event::Pong { .. } => {
                    seen.pongs += 1;
                    if seen.pongs < pings {
                        conn.ping(now());
                    }
                }
                Event::SaltChanged { .. } => seen.salt_changes += 1,
                Event::SessionReset { .. } => seen.session_resets += 1,
                Event::RpcError { code, message, .. } => panic!("rpc_error {code} {message}"),
                Event::RequestFailed { error, .. } => panic!("request failed: {error}"),
                _ => {}
            }
            Flow::Continue
        },
        |conn| {
            assert!(Instant::now() < deadline, "no answers in time: {:?}", seen.borrow());
            let done = started.get() && pending.borrow().is_empty() && seen.borrow().pongs >= pings;
            if done && conn.stats().pending_acks == 0 { Flow::Stop } else { Flow::Continue }
        },
    )
    .unwrap();
    assert_eq!(ended, Ended::Stopped);
    let seen = seen.into_inner();
    assert_eq!(seen.answered, expected.len());
    // Dropping the stream ends the link (the server saves the session);
    // the client keeps its session for the next link.
    drop(stream);
    conn.handle_input(Input::LinkLost, now());
    (local, seen)
}

fn client_config(transport: Transporting, temp: bool) -> ClientOptions {
    let mut cc = ClientConfig::new(vec![server_rsa_key().public_key().clone()], 2);
    if temp {
        cc.temp_key_expires_in = Some(3600);
    }
    let mut cfg = ClientOptions::new(cc);
    cfg.session.transport = transport;
    cfg
}

const TRANSPORTS: [(&str, TransportKind, bool); 7] = [
    ("abridged", TransportKind::Abridged, false),
    ("intermediate", TransportKind::Intermediate, false),
    ("padded intermediate", TransportKind::PaddedIntermediate, false),
    ("full", TransportKind::Full, false),
    ("obfuscated2 abridged", TransportKind::Abridged, true),
    ("obfuscated2 intermediate", TransportKind::Intermediate, true),
    ("obfuscated2 padded intermediate", TransportKind::PaddedIntermediate, true),
];

fn framed(kind: TransportKind, obfuscated: bool) -> Transporting {
    Transporting::Framed(kind, obfuscated.then_some(Obfuscation { dc_id: 2, secret: None }))
}

/// Handshake, echoes, pings on every transport; the same session on a new
/// link; the key on a new connection without a handshake.
#[test]
fn every_transport_handshake_echo_pings_and_resume() {
    let server = Server::start(&[]);
    assert_eq!(server.fingerprint, server_rsa_key().public_key().fingerprint() as u64);
    for (i, (name, kind, obfuscated)) in TRANSPORTS.into_iter().enumerate() {
        let seed = 10 * i as u32;
        // A handshake (a temporary key on every other transport).
        let temp = i % 2 == 1;
        let mut conn = ClientConnection::new(client_config(framed(kind, obfuscated), temp), now()).unwrap();
        let (peer, _) = round(&mut conn, server.addr, seed, 3, true);
        let line = server.line_for(peer);
        assert_eq!(field(&line, "transport"), name, "{line}");
        assert_eq!(field(&line, "key"), "new (handshake)", "{line}");
        assert_eq!(field(&line, "requests"), "4", "{line}");
        assert_eq!(field(&line, "new_sessions"), "1", "{line}");

        // The same Connection on a new TCP link: the server takes the
        // session from its store (no new session, no salt correction).
        let session = conn.session_id();
        let (peer, seen) = round(&mut conn, server.addr, seed + 1, 2, false);
        assert_eq!(conn.session_id(), session);
        let line = server.line_for(peer);
        assert_eq!(field(&line, "key"), "known", "{line}");
        assert_eq!(field(&line, "new_sessions"), "0", "{name}: the session continues: {line}");
        assert_eq!(field(&line, "bad_salts"), "0", "{line}");
        assert_eq!((seen.session_resets, seen.salt_changes), (0, 0), "{name}: {seen:?}");

        // A new Connection from the saved key: no handshake (nothing but
        // encrypted messages), a new session of the same key, and the salt
        // the key was given still valid.
        // (`conn` is still alive: the new client takes the key, not the
        // session, which one client at a time may continue.)
        let mut saved: Persisted = conn.persisted().unwrap();
        assert_eq!(saved.session.map(|s| s.session_id), session);
        saved.session = None;
        let resume = {
            let mut cfg = ClientOptions::resume(saved.clone());
            cfg.session.transport = framed(kind, obfuscated);
            cfg
        };
        let mut again = ClientConnection::new(resume, now()).unwrap();
        assert!(again.is_ready(), "a resumed key needs no handshake");
        let (peer, _) = round(&mut again, server.addr, seed + 2, 2, true);
        let line = server.line_for(peer);
        assert_eq!(field(&line, "key"), "known", "{line}");
        assert_eq!(field(&line, "new_sessions"), "1", "{line}");
        assert_eq!(field(&line, "bad_salts"), "0", "{name}: the key's salt carries over: {line}");
        assert_eq!(again.persisted().unwrap().auth_key.id(), saved.auth_key.id());
        println!(
            "{name}: handshake (temporary key: {temp}), 4 echoes, 3 pings; same session on a new link; key resumed"
        );
    }
}

/// Reads until the server closes; returns what it sent.
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

/// Garbage closes its own connection (with a -404 where a transport was
/// recognised), and the server goes on serving the next client.
#[test]
fn garbage_closes_only_its_connection() {
    let server = Server::start(&[]);
    // No transport: 64 bytes that are no tag and no valid obfuscated2 header.
    let mut s = TcpStream::connect(server.addr).unwrap();
    let garbage: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37).wrapping_add(1)).collect();
    s.write_all(&garbage).unwrap();
    assert!(read_to_close(&mut s).is_empty());
    let line = server.line_for(s.local_addr().unwrap());
    assert_eq!(field(&line, "transport"), "obfuscated2 with an unknown tag (refused)", "{line}");
    assert!(line.contains("transport"), "{line}");

    // HTTP is refused at once.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(read_to_close(&mut s).is_empty());
    assert_eq!(field(&server.line_for(s.local_addr().unwrap()), "transport"), "http (refused)");

    // Intermediate framing around a packet under an unknown auth_key_id:
    // the transport error -404, then the close.
    let mut s = TcpStream::connect(server.addr).unwrap();
    let mut packet = vec![0xee, 0xee, 0xee, 0xee];
    packet.extend_from_slice(&40u32.to_le_bytes());
    packet.extend((1..=40u8).map(|b| b.wrapping_mul(91)));
    s.write_all(&packet).unwrap();
    let mut expected = 4u32.to_le_bytes().to_vec();
    expected.extend_from_slice(&(-404i32).to_le_bytes());
    assert_eq!(read_to_close(&mut s), expected);
    let line = server.line_for(s.local_addr().unwrap());
    assert_eq!(field(&line, "transport"), "intermediate", "{line}");
    assert_eq!(field(&line, "key"), "none", "{line}");

    // A valid client still gets everything.
    let mut conn =
        ClientConnection::new(client_config(framed(TransportKind::Intermediate, false), false), now()).unwrap();
    let (peer, seen) = round(&mut conn, server.addr, 99, 2, true);
    assert_eq!(seen.pongs, 2);
    assert_eq!(field(&server.line_for(peer), "key"), "new (handshake)");
}

/// The command line: a bad flag is one line and exit 2; `--run-seconds`
/// ends the server by itself.
#[test]
fn command_line_and_run_seconds() {
    for args in [&["--bogus"][..], &["--listen"], &["--listen", "nowhere"], &["--run-seconds", "x"]] {
        let out = Command::new(example("server")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let help = Command::new(example("server")).arg("--help").output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--listen ADDR"));

    let started = Instant::now();
    let out = Command::new(example("server")).args(["--listen", "127.0.0.1:0", "--run-seconds", "1"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("READY 127.0.0.1:") && stdout.lines().count() == 1, "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no --key given: generated"), "{stderr}");
}
