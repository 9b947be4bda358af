//! A hand-driven peer for tests that must craft exactly the packets a
//! hostile or unusual peer sends: an [`EncryptedSession`] under the shared
//! key, talking unframed packets to one [`ServerConnection`] or [`ClientConnection`] of the other role.

use crate::shared_key;
use core::time::Duration;
use mtproto_core::connection::{ClientConnection, ClientOptions, Endpoint, ServerConnection, ServerOptions};
use mtproto_core::connection::{Persisted, Transporting};
use mtproto_core::message::{EncryptedSession, Role, container, parse_decrypted};
use mtproto_core::tl::schema::{self, BadServerSalt, Ping};
use mtproto_core::tl::{Deserialize, Reader, Serialize};
use mtproto_core::{Input, Output, ServerEvent};
use mtproto_crypto::{Direction, SeededEntropy, envelope};
use std::sync::Arc;

/// The virtual "now" of these tests.
pub const NOW: Duration = Duration::from_secs(1_780_000_000);

/// One message received from the Connection under test, decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its session id.
    pub session_id: i64,
    /// Its msg_id.
    pub msg_id: i64,
    /// Its seq_no.
    pub seq_no: i32,
    /// Its body (a container's inner messages are listed one by one).
    pub body: Vec<u8>,
}

/// The constructor id of a body.
pub fn constructor(body: &[u8]) -> u32 {
    Reader::new(body).peek_u32().unwrap_or(0)
}

/// Decrypts one packet the Connection under test sent (`dir` is its
/// direction) and lists its messages, containers opened.
pub fn open(packet: &[u8], dir: Direction) -> Vec<Received> {
    let mut p = packet.to_vec();
    if envelope::decrypt_in_place(&shared_key(), dir, &mut p).is_err() {
        return Vec::new();
    }
    let Ok(m) = parse_decrypted(&p[envelope::HEADER_LEN..]) else { return Vec::new() };
    let sender = if dir == Direction::ClientToServer { Role::Client } else { Role::Server };
    if container::is_container(m.body) {
        let inner = container::unpack(m.body, m.msg_id, sender, container::MAX_MESSAGES).unwrap_or_default();
        return inner
            .into_iter()
            .map(|i| Received { session_id: m.session_id, msg_id: i.msg_id, seq_no: i.seq_no, body: i.body.to_vec() })
            .collect();
    }
    vec![Received { session_id: m.session_id, msg_id: m.msg_id, seq_no: m.seq_no, body: m.body.to_vec() }]
}

/// Drains a Connection: its transmits (raw packets: unframed) and events.
pub fn drain<C: Endpoint>(conn: &mut C, now: Duration) -> (Vec<Vec<u8>>, Vec<C::Event>) {
    let mut packets = Vec::new();
    let mut events = Vec::new();
    loop {
        match conn.poll_output(now) {
            Output::Transmit(b) => packets.push(b.to_vec()),
            Output::Event(e) => events.push(e),
            Output::Timeout(_) => return (packets, events),
        }
    }
}

/// A server Connection (unframed) that knows the shared key.
pub fn server(config: impl FnOnce(&mut ServerOptions)) -> ServerConnection {
    let key = shared_key();
    let mut cfg = ServerOptions::default();
    cfg.session.transport = Transporting::Unframed;
    cfg.key_lookup = Some(Arc::new(move |id| (id == key.id()).then(|| key.clone())));
    config(&mut cfg);
    ServerConnection::with_entropy(cfg, NOW, Box::new(SeededEntropy::new(77)))
}

/// A client Connection (unframed) resuming with the shared key, no pings.
pub fn client(salt: i64, config: impl FnOnce(&mut ClientOptions)) -> ClientConnection {
    let mut cfg = ClientOptions { ping_interval: None, ..ClientOptions::resume(Persisted::new(shared_key(), salt, 0)) };
    cfg.session.transport = Transporting::Unframed;
    config(&mut cfg);
    ClientConnection::with_entropy(cfg, NOW, Box::new(SeededEntropy::new(78)))
}

/// A hand-driven client talking to a server Connection.
pub struct FakeClient {
    /// Its session (session id, clock, seq_no, salt).
    pub session: EncryptedSession,
}

impl FakeClient {
    /// A client with the given session id and salt 0.
    pub fn new(session_id: i64) -> Self {
        let session = EncryptedSession::with_entropy(
            shared_key(),
            Role::Client,
            0,
            session_id,
            0,
            Box::new(SeededEntropy::new(session_id as u64)),
        );
        Self { session }
    }

    /// One encrypted packet carrying `body` as a message of its own.
    pub fn packet(&mut self, body: &[u8], content_related: bool, now: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        self.session.pack(body, content_related, now, &mut out);
        out
    }

    /// One packet with the given msg_id and seq_no.
    pub fn packet_with(&mut self, msg_id: i64, seq_no: i32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.session.pack_with(msg_id, seq_no, body, &mut out);
        out
    }

    /// Learns the server's salt: a ping with a wrong salt, answered by
    /// bad_server_salt. Returns the server's events.
    pub fn learn_salt(&mut self, server: &mut ServerConnection, now: Duration) -> Vec<ServerEvent> {
        let mut p = self.packet(&Ping { ping_id: 1 }.to_bytes(), true, now);
        server.handle_input(Input::Packet(&mut p), now);
        let (packets, events) = drain(server, now);
        for packet in packets {
            for m in open(&packet, Direction::ServerToClient) {
                if constructor(&m.body) == BadServerSalt::ID
                    && let Ok(b) = BadServerSalt::from_bytes(&m.body)
                {
                    self.session.set_salt(b.new_server_salt);
                }
            }
        }
        events
    }
}

/// A hand-driven server talking to a client Connection.
pub struct FakeServer {
    /// Its session.
    pub session: EncryptedSession,
}

impl FakeServer {
    /// A server in the given session with salt `salt`.
    pub fn new(session_id: i64, salt: i64) -> Self {
        let session = EncryptedSession::with_entropy(
            shared_key(),
            Role::Server,
            salt,
            session_id,
            0,
            Box::new(SeededEntropy::new(9)),
        );
        Self { session }
    }

    /// One encrypted packet carrying `body`.
    pub fn packet(&mut self, body: &[u8], content_related: bool, now: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        self.session.pack(body, content_related, now, &mut out);
        out
    }

    /// An rpc_result for `req_msg_id`.
    pub fn rpc_result(&mut self, req_msg_id: i64, result: &[u8], now: Duration) -> Vec<u8> {
        let mut body = Vec::new();
        schema::RpcResult { req_msg_id, result }.serialize(&mut body);
        self.packet(&body, true, now)
    }
}
