//! grammers-mtproto 0.11 (the session layer under grammers, the Rust
//! Telegram client) against our `ServerConnection`, in memory, over every
//! transport grammers has; and ferogram-mtproto 0.6.6's packet layer
//! (`ferogram.rs`). grammers builds the encrypted messages (its own
//! msg_ids, seq_nos, containers, gzip, acks) and parses our answers; our
//! server checks and answers them. Exits non-zero on any disagreement.
//!
//! grammers' handshake cannot run against a server of ours: it only knows
//! Telegram's RSA keys (hard-coded), whose private halves only Telegram has.
//! The two sides share an auth key instead, as after a handshake.

use grammers_crypto::DequeBuffer;
use grammers_mtproto::MsgId;
use grammers_mtproto::mtp::{Deserialization, Encrypted, Mtp};
use grammers_mtproto::transport::{Abridged, Full, Intermediate, Obfuscated, Transport};
use mtproto_core::connection::Transporting;
use mtproto_core::connection::{ServerConnection, ServerOptions};
use mtproto_core::transport::TransportKind;
use mtproto_core::{Input, Output, ServerEvent};
use mtproto_crypto::AuthKey;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod ferogram;

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970")
}

/// What our server answers to a request body: its 4-byte words reversed.
fn answer(body: &[u8]) -> Vec<u8> {
    body.chunks(4).rev().flatten().copied().collect()
}

/// Our `ServerConnection`, knowing the shared auth key.
fn our_server(key_bytes: [u8; 256], transport: Transporting) -> Result<ServerConnection, String> {
    let server_key = AuthKey::from_bytes(key_bytes);
    let mut config = ServerOptions::default();
    config.session.transport = transport;
    config.key_lookup = Some(Arc::new(move |_| Some(server_key.clone())));
    ServerConnection::new(config, now()).map_err(|e| format!("server: {e}"))
}

/// Lets our server answer every request it has (with [`answer`]) and
/// returns what it transmits, one entry per transmit.
fn serve(server: &mut ServerConnection) -> Result<Vec<Vec<u8>>, String> {
    let mut sent = Vec::new();
    loop {
        match server.poll_output(now()) {
            Output::Transmit(bytes) => sent.push(bytes.to_vec()),
            Output::Event(ServerEvent::Request { req_msg_id, body }) => server.respond(req_msg_id, &answer(&body)),
            Output::Event(ServerEvent::Closed { reason }) => return Err(format!("server closed: {reason}")),
            Output::Event(_) => {}
            Output::Timeout(_) => return Ok(sent),
        }
    }
}

/// The two waves of one conversation: the first meets bad_server_salt and
/// re-sends, the second must go through without a re-send.
struct Waves {
    answered: Vec<bool>,
    resent: usize,
    first_wave_resent: Option<usize>,
}

impl Waves {
    fn new(requests: usize) -> Self {
        Self { answered: vec![false; requests], resent: 0, first_wave_resent: None }
    }

    /// After a round: `None` to go on (`to_send` refilled when the second
    /// wave starts), or the outcome once both waves are answered.
    fn after_round(&mut self, to_send: &mut Vec<usize>) -> Option<Result<usize, String>> {
        if !self.answered.iter().all(|&a| a) {
            return None;
        }
        match self.first_wave_resent {
            None => {
                self.first_wave_resent = Some(self.resent);
                self.answered.iter_mut().for_each(|a| *a = false);
                *to_send = (0..self.answered.len()).collect();
                None
            }
            Some(first) if first == self.resent => Some(Ok(self.resent)),
            Some(_) => Some(Err("the second wave needed re-sends".into())),
        }
    }

    /// The error when the rounds ran out.
    fn shortfall(&self) -> String {
        format!("{} of {} requests answered", self.answered.iter().filter(|&&a| a).count(), self.answered.len())
    }
}

/// One conversation: `requests` go out through grammers twice (the first
/// wave meets bad_server_salt, as with Telegram, the second must not), our
/// server answers each body reversed in 4-byte words, and grammers must hand
/// back exactly that.
fn converse(name: &str, mut transport: impl Transport, requests: &[Vec<u8>]) -> Result<String, String> {
    let key_bytes: [u8; 256] = core::array::from_fn(|i| (i as u8).wrapping_mul(13).wrapping_add(7));
    let mut server = our_server(key_bytes, Transporting::Framed(TransportKind::Intermediate, None))?;
    let mut client = Encrypted::build().finish(key_bytes);

    let mut waiting: HashMap<MsgId, usize> = HashMap::new();
    let mut containers: HashMap<MsgId, Vec<usize>> = HashMap::new();
    let mut to_send: Vec<usize> = (0..requests.len()).collect();
    let mut waves = Waves::new(requests.len());
    let mut from_server: Vec<u8> = Vec::new();
    for _round in 0..20 {
        // grammers: everything due into one buffer (a container when several).
        let mut buffer = DequeBuffer::with_capacity(1 << 20, 64);
        let mut in_buffer = Vec::new();
        for i in std::mem::take(&mut to_send) {
            match client.push(&mut buffer, &requests[i]) {
                Some(id) => {
                    waiting.insert(id, i);
                    in_buffer.push(i);
                }
                None => to_send.push(i),
            }
        }
        // When grammers wrapped several requests in a container, a
        // bad_msg_notification names the container.
        if let Some(last) = client.finalize(&mut buffer)
            && !waiting.contains_key(&last)
        {
            containers.insert(last, in_buffer);
        }
        if !buffer.is_empty() {
            transport.pack(&mut buffer);
            server.handle_input(Input::Bytes(&buffer[..]), now());
        }
        // Our server: answer requests, collect what it sends.
        from_server.extend(serve(&mut server)?.concat());
        // grammers: unpack every complete frame and deserialize it.
        loop {
            let offset = match transport.unpack(&mut from_server) {
                Ok(offset) => offset,
                Err(grammers_mtproto::transport::Error::MissingBytes) => break,
                Err(e) => return Err(format!("grammers transport: {e}")),
            };
            let results = client
                .deserialize(&mut from_server[offset.data_range.clone()])
                .map_err(|e| format!("grammers deserialize: {e}"))?;
            from_server.drain(..offset.next_offset);
            for result in results {
                match result {
                    Deserialization::RpcResult(r) => {
                        let i = waiting.remove(&r.msg_id).ok_or("an answer to no request")?;
                        if r.body != answer(&requests[i]) {
                            return Err(format!("request {i}: wrong answer body"));
                        }
                        waves.answered[i] = true;
                    }
                    Deserialization::BadMessage(b) => {
                        // bad_server_salt (48) on the first flight: grammers took
                        // the new salt; send the request again.
                        if b.code != 48 {
                            return Err(format!("bad_msg code {}", b.code));
                        }
                        let named = match (waiting.remove(&b.msg_id), containers.remove(&b.msg_id)) {
                            (Some(i), _) => vec![i],
                            (None, Some(inner)) => inner,
                            (None, None) => return Err(format!("bad_msg {} for no request", b.code)),
                        };
                        for i in named {
                            waiting.retain(|_, &mut j| j != i);
                            waves.resent += 1;
                            to_send.push(i);
                        }
                    }
                    Deserialization::RpcError(e) => return Err(format!("rpc_error {:?}", e.error)),
                    Deserialization::Failure(f) => return Err(format!("failure: {}", f.error)),
                    Deserialization::Update(_) | Deserialization::OwnUpdate { .. } => {}
                }
            }
        }
        if let Some(outcome) = waves.after_round(&mut to_send) {
            let resent = outcome.map_err(|e| format!("{name}: {e}"))?;
            return Ok(format!(
                "{name}: 2 x {} requests answered ({resent} re-sent after the first bad_server_salt), {} bytes of answers",
                requests.len(),
                2 * requests.iter().map(Vec::len).sum::<usize>()
            ));
        }
    }
    Err(format!("{name}: {}", waves.shortfall()))
}

fn main() {
    // An API-looking request (a made-up constructor and words), small and
    // large; the large ones compress, so gzip_packed goes both ways.
    let request = |i: usize, words: usize| -> Vec<u8> {
        let mut body = 0x1cb5_c415u32.wrapping_add(i as u32).to_le_bytes().to_vec();
        body.extend((0..words).flat_map(|w| ((w * 31 + i) as u32 % 251).to_le_bytes()));
        body
    };
    let requests: Vec<Vec<u8>> = (0..12).map(|i| request(i, if i % 4 == 3 { 30_000 } else { 1 + i * 3 })).collect();
    let runs = [
        converse("full", Full::new(), &requests),
        converse("intermediate", Intermediate::new(), &requests),
        converse("abridged", Abridged::new(), &requests),
        converse("obfuscated intermediate", Obfuscated::new(Intermediate::new()), &requests),
        converse("obfuscated abridged", Obfuscated::new(Abridged::new()), &requests),
    ];
    let mut failed = false;
    let runs = runs.into_iter().map(|r| ("grammers-mtproto", r));
    for (who, run) in runs.chain([("ferogram-mtproto", ferogram::converse(&requests))]) {
        match run {
            Ok(line) => println!("{who} interop OK: {line}"),
            Err(e) => {
                println!("{who} interop FAILED: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
