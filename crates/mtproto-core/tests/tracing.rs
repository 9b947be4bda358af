//! The `tracing` feature (issue #15): spans per link and session carry the
//! ids, events name every state change a user debugs, and no span or event
//! field ever holds key material, salts or plaintext. Recorded with a
//! subscriber written here (every span field, every recorded value, every
//! event field, rendered as text), then searched for the secrets.
//!
//! `cargo test -p mtproto-core --features tracing --test tracing`
#![allow(clippy::unwrap_used, missing_docs)]

use core::fmt::Write as _;
use core::time::Duration;
use mtproto_core::connection::{ClientOptions, ServerOptions, Transporting};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::{ClientConnection, ClientEvent, Input, Output, ServerConnection, ServerEvent};
use mtproto_crypto::rsa::RsaPrivateKey;
use mtproto_crypto::{AuthKey, SeededEntropy};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};

/// Everything a subscriber is shown, as text: one line per span, per
/// recorded value and per event.
#[derive(Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    next_id: AtomicU64,
}

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn core::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Recorder {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = Text(format!("span {}", span.metadata().name()));
        span.record(&mut text);
        self.push(text.0);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut text = Text("record".into());
        values.record(&mut text);
        self.push(text.0);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = Text(format!("event {}", event.metadata().level()));
        event.record(&mut text);
        self.push(text.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

const NOW: Duration = Duration::from_secs(1_780_000_000);
/// A plaintext no trace may show.
const PLAINTEXT: &[u8; 16] = b"PLAINTEXT-SECRET";

fn rsa_key() -> RsaPrivateKey {
    RsaPrivateKey::generate(&mut SeededEntropy::new(15)).unwrap()
}

/// Moves everything each side has for the other until both are quiet;
/// the server echoes every request. Returns the client's events.
fn exchange(client: &mut ClientConnection, server: &mut ServerConnection, now: Duration) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    for _ in 0..20 {
        let mut moved = false;
        loop {
            match client.poll_output(now) {
                Output::Transmit(mut p) => {
                    moved = true;
                    server.handle_input(Input::Packet(&mut p), now);
                }
                Output::Event(e) => seen.push(e),
                Output::Timeout(_) => break,
            }
        }
        loop {
            match server.poll_output(now) {
                Output::Transmit(mut p) => {
                    moved = true;
                    client.handle_input(Input::Packet(&mut p), now);
                }
                Output::Event(ServerEvent::Request { req_msg_id, body }) => server.respond(req_msg_id, &body),
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        if !moved {
            break;
        }
    }
    seen
}

/// Every 8-byte window of `secret`, in the renderings a Debug or Display of
/// bytes or integers would use.
fn renderings(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for w in secret.windows(8).step_by(4) {
        out.push(w.iter().map(|b| format!("{b:02x}")).collect());
        out.push(format!("{:?}", w).trim_end_matches(']').to_string());
        out.push(i64::from_le_bytes(w.try_into().unwrap()).to_string());
        out.push(u64::from_le_bytes(w.try_into().unwrap()).to_string());
    }
    out
}

#[test]
fn spans_and_events_carry_ids_and_never_secrets() {
    let rsa = rsa_key();
    let recorder = Recorder::default();
    let lines = Arc::clone(&recorder.lines);
    let (auth_key, salts, answered) = tracing::subscriber::with_default(recorder, || {
        let keys: Arc<Mutex<HashMap<i64, AuthKey>>> = Arc::default();
        let lookup = Arc::clone(&keys);
        let mut server_options = ServerOptions::new(ServerConfig::new(vec![rsa.clone()]).unwrap());
        server_options.session.transport = Transporting::Unframed;
        server_options.key_lookup = Some(Arc::new(move |id| lookup.lock().unwrap().get(&id).cloned()));
        let new_server = || {
            let o = server_options.clone();
            ServerConnection::with_entropy(o, NOW, Box::new(SeededEntropy::new(2)))
        };
        let mut client_options = ClientOptions::new(ClientConfig::new(vec![rsa.public_key().clone()], 2));
        client_options.session.transport = Transporting::Unframed;
        let mut client = ClientConnection::with_entropy(client_options, NOW, Box::new(SeededEntropy::new(1)));
        let mut server = new_server();
        let mut salts = Vec::new();
        let mut auth_key = None;
        for e in exchange(&mut client, &mut server, NOW) {
            match e {
                ClientEvent::Ready { auth_key: k, salt, .. } => {
                    keys.lock().unwrap().insert(k.id(), (*k).clone());
                    auth_key = Some(*k);
                    salts.push(salt);
                }
                ClientEvent::SaltChanged { salt } => salts.push(salt),
                _ => {}
            }
        }
        let auth_key = auth_key.expect("handshake done");
        let mut body = PLAINTEXT.to_vec();
        body.extend_from_slice(&[0; 4]);
        client.send(body.clone(), Default::default());
        let mut now = NOW + Duration::from_secs(1);
        let mut answered = 0;
        let mut collect = |events: Vec<ClientEvent>, salts: &mut Vec<i64>| {
            for e in events {
                match e {
                    ClientEvent::RpcResult { .. } => answered += 1,
                    ClientEvent::SaltChanged { salt } => salts.push(salt),
                    _ => {}
                }
            }
        };
        collect(exchange(&mut client, &mut server, now), &mut salts);
        // The link goes; the session continues on a new one, whose server
        // rotates the salt and later forgets the session.
        client.handle_input(Input::LinkLost, now);
        server.handle_input(Input::LinkLost, now);
        let mut server = new_server();
        client.attach_link(now);
        client.send(body.clone(), Default::default());
        collect(exchange(&mut client, &mut server, now), &mut salts);
        server.rotate_salt(now);
        client.send(body.clone(), Default::default());
        collect(exchange(&mut client, &mut server, now), &mut salts);
        server.forget_session();
        now += Duration::from_secs(1);
        client.send(body, Default::default());
        collect(exchange(&mut client, &mut server, now), &mut salts);
        client.close();
        let _ = exchange(&mut client, &mut server, now);
        (auth_key, salts, answered)
    });
    let lines = lines.lock().unwrap().clone();
    let all = lines.join("\n");
    assert_eq!(answered, 4, "every request answered");
    // The spans and the state changes a user debugs are there, with ids.
    let key_id = format!("{:016x}", auth_key.id() as u64);
    for expected in [
        "span mtproto.link role=\"client\"",
        "span mtproto.link role=\"server\"",
        "span mtproto.session session_id=",
        &format!("record auth_key_id={key_id}"),
        "handshake started",
        "handshake step answered",
        "handshake done",
        "link lost; the session stays",
        "link attached; the session continues",
        "salt rotated for the key",
        "bad_server_salt: sent again with the new salt",
        "salt changed",
        "session forgotten",
        "new session created",
        "the server created a new session",
        "session handed back to the store",
        "closed",
    ] {
        assert!(all.contains(expected), "no {expected:?} in the trace:\n{all}");
    }
    // No secret in any of it.
    assert!(salts.len() >= 2, "salts seen: {salts:?}");
    let mut secrets = renderings(auth_key.as_bytes());
    secrets.extend(renderings(PLAINTEXT));
    secrets.push(String::from_utf8_lossy(PLAINTEXT).into_owned());
    for salt in &salts {
        secrets.push(salt.to_string());
        secrets.push(format!("{:016x}", *salt as u64));
        secrets.push((*salt as u64).to_string());
    }
    for secret in &secrets {
        assert!(!all.contains(secret.as_str()), "a secret ({secret}) is in the trace:\n{all}");
    }
}
