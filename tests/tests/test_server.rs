//! The test server example (`crates/mtproto-core/examples/server.rs`) as a
//! separate process, driven over loopback TCP by our own client: every
//! transport, handshakes (permanent and temporary keys), echo RPCs checked
//! byte for byte, pings, a link resumed on the same session, a new
//! connection resuming the key, and garbage that must close only its own
//! connection; the HTTP (`--http-listen`) and WebSocket (`--ws-listen`)
//! listeners; `--secret` in every form, fake-TLS with and without
//! `--secret-only` (#14). Built by `cargo test` (it builds the examples).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::server_process::{Server, example};
use common::std_driver::{Ended, Flow, Wire, drive, now};
use mtproto_core::connection::{ClientConnection, ClientOptions};
use mtproto_core::connection::{Persisted, SendOptions, Transporting};
use mtproto_core::handshake::ClientConfig;
use mtproto_core::transport::{Obfuscation, TransportKind};
use mtproto_core::{ClientEvent, Input, RequestHandle};
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
                ClientEvent::Ready { .. } if !started.get() => begin(conn),
                ClientEvent::RpcResult { handle, body } => {
                    let sent = pending.borrow_mut().remove(&handle).expect("an answer to a request we sent, once");
                    assert!(body == sent, "echo of {} bytes differs ({} bytes back)", sent.len(), body.len());
                    seen.answered += 1;
                }
                ClientEvent::Pong { .. } => {
                    seen.pongs += 1;
                    if seen.pongs < pings {
                        conn.ping(now());
                    }
                }
                ClientEvent::SaltChanged { .. } => seen.salt_changes += 1,
                ClientEvent::SessionReset { .. } => seen.session_resets += 1,
                ClientEvent::RpcError { code, message, .. } => panic!("rpc_error {code} {message}"),
                ClientEvent::RequestFailed { error, .. } => panic!("request failed: {error}"),
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
    for args in [
        &["--bogus"][..],
        &["--listen"],
        &["--listen", "nowhere"],
        &["--run-seconds", "x"],
        &["--http-listen", "nowhere"],
        &["--ws-listen"],
        &["--secret", "not a secret"],
        &["--secret", "0123"],
        &["--secret-only"],
    ] {
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

/// Runs the ws_echo example's client against `ws` with `args`.
fn ws_echo(server: &Server, args: &[&str]) -> std::process::Output {
    Command::new(example("ws_echo"))
        .args(["--connect", &server.ws_addr.unwrap().to_string(), "--key"])
        .arg(&server.public_pem)
        .args(args)
        .output()
        .unwrap()
}

/// One upgrade request by hand; returns the stream and the server's answer
/// up to the end of its head (or of the stream).
fn upgrade_by_hand(addr: SocketAddr, path: &str, protocol: Option<&str>) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let protocol = protocol.map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n")).unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{protocol}\r\n"
    );
    s.write_all(request.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    (s, String::from_utf8_lossy(&got).into_owned())
}

/// `--ws-listen`: our WebSocket client (the ws_echo example: tokio-tungstenite,
/// messages cut at random bytes) runs a DH handshake and 40 echoed requests
/// over obfuscated2 intermediate and padded intermediate, each checked byte
/// for byte; a wrong path, a missing or different subprotocol and a text
/// message are refused, and the listener goes on serving.
#[test]
fn websocket_listener_echoes_and_refuses_bad_upgrades() {
    let server = Server::start(&["--ws-listen", "127.0.0.1:0"]);
    for (transport, name) in [("intermediate", "intermediate"), ("padded", "padded intermediate")] {
        let out = ws_echo(&server, &["--transport", transport, "--requests", "40"]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.starts_with("40 of 40 requests echoed byte for byte over WebSocket"), "{stdout}");
        let local =
            stderr.split("from ").nth(1).and_then(|r| r.split(':').take(2).collect::<Vec<_>>().join(":").parse().ok());
        let line = server.line_for(local.unwrap_or_else(|| panic!("no address in {stderr}")));
        assert_eq!(field(&line, "transport"), format!("ws obfuscated2 {name}"), "{line}");
        assert_eq!(field(&line, "key"), "new (handshake)", "{line}");
        assert_eq!(field(&line, "requests"), "40", "{line}");
    }

    // Refused upgrades: our client sees the status, the log says why.
    for (args, status) in [(&["--path", "/api"][..], "HTTP 404"), (&["--no-subprotocol"], "HTTP 400")] {
        let out = ws_echo(&server, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("websocket upgrade refused: {status}")), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    let ws = server.ws_addr.unwrap();
    for (path, protocol, status) in [
        ("/apiws/", Some("binary"), "404"),
        ("/", Some("binary"), "404"),
        ("/apiws", None, "400"),
        ("/apiws", Some("chat, superchat"), "400"),
    ] {
        let (s, answer) = upgrade_by_hand(ws, path, protocol);
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{path} {protocol:?}: {answer}");
        let line = server.line_for(s.local_addr().unwrap());
        assert_eq!(field(&line, "transport"), "ws (upgrade refused)", "{line}");
        assert!(line.contains(&format!("HTTP {status}")), "{line}");
    }
    // The subprotocol among others is enough; the answer names it.
    let (s, answer) = upgrade_by_hand(ws, "/apiws", Some("chat, binary"));
    assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("sec-websocket-protocol: binary\r\n"), "{answer}");
    let peer = s.local_addr().unwrap();
    drop(s);
    // Closed without a byte: logged as such.
    assert_eq!(field(&server.line_for(peer), "transport"), "ws none (no bytes)");

    // A text message after a good upgrade ends the link (only binary carries MTProto).
    let (mut s, answer) = upgrade_by_hand(ws, "/apiws", Some("binary"));
    assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81, 0x80 | 5];
    frame.extend_from_slice(&mask);
    frame.extend(b"hello".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    s.write_all(&frame).unwrap();
    // At most a close frame comes back (opcode 8), never data.
    let got = read_to_close(&mut s);
    assert!(got.is_empty() || got[0] == 0x88, "{got:02x?}");
    let line = server.line_for(s.local_addr().unwrap());
    assert_eq!(field(&line, "requests"), "0", "{line}");

    // Still serving.
    let out = ws_echo(&server, &["--requests", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `--http-listen`: our client Connection (unframed) behind the HTTP
/// transport's client codec, over one keep-alive connection: a DH
/// handshake, then echoes checked byte for byte (with gzip both ways) and
/// pings; a request that is no `POST /api` is refused with its status.
#[test]
fn http_listener_handshake_and_echoes() {
    use mtproto_core::Output;
    use mtproto_core::transport::http::{HttpClient, HttpLimits, Response};
    let server = Server::start(&["--http-listen", "127.0.0.1:0"]);
    let addr = server.http_addr.unwrap();
    let mut conn = ClientConnection::new(client_config(Transporting::Unframed, false), now()).unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let local = stream.local_addr().unwrap();
    let mut http = HttpClient::new(&addr.to_string(), HttpLimits::default()).unwrap();
    let expected = bodies(7);
    let mut pending: HashMap<RequestHandle, Vec<u8>> = HashMap::new();
    let (mut sent, mut answered, mut pongs) = (false, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buf = vec![0u8; 64 * 1024];
    while answered < expected.len() || pongs < 2 {
        assert!(Instant::now() < deadline, "answered {answered}, pongs {pongs}");
        let mut wire = Vec::new();
        loop {
            match conn.poll_output(now()) {
                Output::Transmit(p) => http.encode_request(&p, &mut wire),
                Output::Event(ClientEvent::Ready { .. }) if !sent => {
                    for body in &expected {
                        pending.insert(conn.send(body.clone(), SendOptions::default()), body.clone());
                    }
                    conn.ping(now());
                    sent = true;
                }
                Output::Event(ClientEvent::RpcResult { handle, body }) => {
                    let want = pending.remove(&handle).expect("an answer to a request we sent, once");
                    assert!(body == want, "echo of {} bytes differs ({} back)", want.len(), body.len());
                    answered += 1;
                }
                Output::Event(ClientEvent::Pong { .. }) => {
                    pongs += 1;
                    if pongs < 2 {
                        conn.ping(now());
                    }
                }
                Output::Event(ClientEvent::Closed { reason }) => panic!("closed: {reason:?}"),
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        // Something is due and no request is out to carry it: a poll.
        if http.in_flight() == 0 && wire.is_empty() {
            http.encode_poll(&mut wire);
        }
        stream.write_all(&wire).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => panic!("the server closed the connection"),
            Ok(n) => http.handle_bytes(&buf[..n]).unwrap(),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
        while let Some(r) = http.poll_response() {
            match r {
                Response::Packet(mut p) => conn.handle_input(Input::Packet(&mut p), now()),
                Response::Empty => {}
                Response::TransportError(code) => panic!("transport error {code}"),
            }
        }
        conn.handle_input(Input::Timeout, now());
    }
    drop(stream);
    let line = server.line_for(local);
    assert_eq!(field(&line, "transport"), "http", "{line}");
    assert_eq!(field(&line, "key"), "new (handshake)", "{line}");
    assert_eq!(field(&line, "requests"), "4", "{line}");

    // Not POST /api: the codec's refusal, then the close.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /apiws HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let got = String::from_utf8_lossy(&read_to_close(&mut s)).into_owned();
    assert!(got.starts_with("HTTP/1.1 4"), "{got}");
    let line = server.line_for(s.local_addr().unwrap());
    assert_eq!(field(&line, "transport"), "http", "{line}");
    assert!(line.contains("HTTP request refused"), "{line}");

    // A packet under an unknown auth key: the -404 code as the body, then the close.
    let mut s = TcpStream::connect(addr).unwrap();
    let packet: Vec<u8> = (1..=40u8).map(|b| b.wrapping_mul(91)).collect();
    s.write_all(format!("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", packet.len()).as_bytes())
        .unwrap();
    s.write_all(&packet).unwrap();
    let got = read_to_close(&mut s);
    assert!(got.starts_with(b"HTTP/1.1 404 "), "{}", String::from_utf8_lossy(&got));
    assert!(got.ends_with(&(-404i32).to_le_bytes()), "{got:02x?}");
    let line = server.line_for(s.local_addr().unwrap());
    assert_eq!(field(&line, "key"), "none", "{line}");
}

/// Hex to base64 with the standard or the url-safe alphabet, padded or
/// not (the forms TDLib accepts for a secret).
fn base64(hex: &str, url: bool, pad: bool) -> String {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=c.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            out.push_str(&"=".repeat(3 - c.len()));
        }
    }
    out
}

/// An intermediate-framed packet under an unknown key: plain bytes no
/// fake-TLS proxy may take when it serves only fake-TLS.
fn plain_garbage() -> Vec<u8> {
    let mut packet = vec![0xee, 0xee, 0xee, 0xee];
    packet.extend_from_slice(&40u32.to_le_bytes());
    packet.extend((1..=40u8).map(|b| b.wrapping_mul(91)));
    packet
}

/// `--secret` with an `ee` secret, in hex and base64 forms: fake-TLS
/// clients (our Connection and the probe) get handshakes and echoes; plain
/// clients too, unless `--secret-only`, which closes them unanswered.
#[test]
fn fake_tls_secret_with_and_without_secret_only() {
    use mtproto_core::transport::ProxySecret;
    use mtproto_core::transport::fake_tls::FakeTlsConfig;
    let hex = format!(
        "ee{}{}",
        "00112233445566778899aabbccddeeff",
        "cdn.example.org".bytes().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let fake = || Transporting::FakeTls(FakeTlsConfig::from_secret(&ProxySecret::parse(&hex).unwrap(), 2).unwrap());
    for (form, only) in [(hex.clone(), false), (base64(&hex, true, false), true), (base64(&hex, false, true), true)] {
        let mut flags = vec!["--secret", &form];
        if only {
            flags.push("--secret-only");
        }
        let server = Server::start(&flags);
        let mut conn = ClientConnection::new(client_config(fake(), false), now()).unwrap();
        let (peer, _) = round(&mut conn, server.addr, 40, 2, true);
        let line = server.line_for(peer);
        assert_eq!(field(&line, "transport"), "fake-tls", "{line}");
        assert_eq!(field(&line, "requests"), "4", "{line}");
        assert_eq!(field(&line, "key"), "new (handshake)", "{line}");
        // The same session on a second fake-TLS link (a fresh ClientHello).
        let (peer, _) = round(&mut conn, server.addr, 41, 1, false);
        assert_eq!(field(&server.line_for(peer), "new_sessions"), "0");

        if only {
            // A plain client: no answer at all, its bytes never taken.
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(&plain_garbage()).unwrap();
            assert!(read_to_close(&mut s).is_empty());
            let line = server.line_for(s.local_addr().unwrap());
            assert_eq!(field(&line, "transport"), "not fake-tls (refused)", "{line}");
            assert!(line.contains("not a fake-TLS client of ours"), "{line}");
            // Nor does our own client get through without fake-TLS.
            let mut plain =
                ClientConnection::new(client_config(framed(TransportKind::Intermediate, false), false), now()).unwrap();
            let mut stream = TcpStream::connect(server.addr).unwrap();
            let got = drive(&mut plain, &mut stream, &mut Wire::default(), |_, _| Flow::Continue, |_| Flow::Continue);
            assert!(!matches!(got, Ok(Ended::Stopped)), "{got:?}");
            assert!(!plain.is_ready());
        } else {
            // Plain clients are still served beside fake-TLS.
            for (name, kind, obfuscated) in [TRANSPORTS[1], TRANSPORTS[6]] {
                let mut plain = ClientConnection::new(client_config(framed(kind, obfuscated), false), now()).unwrap();
                let (peer, _) = round(&mut plain, server.addr, 42, 1, true);
                assert_eq!(field(&server.line_for(peer), "transport"), name);
            }
        }

        // The probe takes the same secret in this form and goes through fake-TLS.
        let out = Command::new(example("probe"))
            .arg(server.addr.to_string())
            .args(["--secret", &form, "--key"])
            .arg(&server.public_pem)
            .args(["--pings", "2"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "probe {form}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("auth_key_id:") && stdout.contains("ping 1:"), "{stdout}");
    }
}

/// `--secret` with a 16-byte or `dd` secret (hex and base64): only
/// obfuscated2 clients that know the key are served, the probe among them.
#[test]
fn obfuscated_secret_in_every_form() {
    let key = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let raw: [u8; 16] = std::array::from_fn(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).unwrap());
    for form in
        [key.to_string(), format!("dd{key}"), base64(key, false, true), base64(&format!("dd{key}"), true, false)]
    {
        let server = Server::start(&["--secret", &form]);
        let transport =
            Transporting::Framed(TransportKind::PaddedIntermediate, Some(Obfuscation { dc_id: 2, secret: Some(raw) }));
        let mut conn = ClientConnection::new(client_config(transport, false), now()).unwrap();
        let (peer, _) = round(&mut conn, server.addr, 50, 1, true);
        let line = server.line_for(peer);
        assert_eq!(field(&line, "transport"), "obfuscated2 padded intermediate", "{form}: {line}");
        assert_eq!(field(&line, "requests"), "4", "{line}");

        // Without the key: the header decrypts to no known tag, closed unanswered.
        let mut plain =
            ClientConnection::new(client_config(framed(TransportKind::Intermediate, true), false), now()).unwrap();
        let mut stream = TcpStream::connect(server.addr).unwrap();
        let got = drive(&mut plain, &mut stream, &mut Wire::default(), |_, _| Flow::Continue, |_| Flow::Continue);
        assert!(!matches!(got, Ok(Ended::Stopped)), "{got:?}");
        assert!(!plain.is_ready());

        let out = Command::new(example("probe"))
            .arg(server.addr.to_string())
            .args(["--transport", "obfuscated", "--secret", &form, "--key"])
            .arg(&server.public_pem)
            .args(["--pings", "1"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "probe {form}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    }
}
