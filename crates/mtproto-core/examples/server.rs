//! A test server for client authors (like gotd's `tgtest`): it speaks every
//! transport we speak (abridged, intermediate, padded intermediate, full,
//! obfuscated2; detected per connection), runs the handshake in both RSA
//! schemes (RSA_PAD and the legacy one) for permanent and temporary keys,
//! keeps keys and sessions across connections, answers service messages
//! itself and every API request with its own body as the rpc_result.
//!
//! ```text
//! cargo run --release -p mtproto-core --example server -- --listen 127.0.0.1:4430 --key server.pem
//! ```
//!
//! Once it listens it prints exactly one line on stdout,
//! `READY 127.0.0.1:PORT fingerprint=0x<16 hex digits>`, then one line per
//! connection on stderr when that connection ends. One tokio task per
//! connection on a runtime with one worker thread per core; each connection
//! holds a fixed read buffer, its Connection (bounded by its configuration)
//! and waits for the socket before producing more output.
#![allow(missing_docs)]

#[path = "common/tokio_driver.rs"]
mod tokio_driver;

use mtproto_core::Event;
use mtproto_core::connection::{MemorySessionStore, SessionStore, Transporting};
use mtproto_core::connection::{ServerConnection, ServerOptions};
use mtproto_core::handshake::ServerConfig;
use mtproto_core::transport::{Obfuscation, TransportKind};
use mtproto_crypto::obfuscated2::{self, TAG_ABRIDGED, TAG_INTERMEDIATE, TAG_PADDED_INTERMEDIATE};
use mtproto_crypto::rsa::RsaPrivateKey;
use mtproto_crypto::{AuthKey, OsEntropy};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_driver::{Ended, Flow, Limits, drive, now};

const USAGE: &str = "\
usage: server [--listen ADDR] [--key PEM] [--run-seconds N] [--max-connections N]
              [--max-keys N] [--max-sessions N] [--secret HEX] [--public-key-out PATH]

A test MTProto server: every transport (detected per connection), handshakes
(RSA_PAD and legacy RSA, permanent and temporary keys), keys and sessions kept
across connections, service messages answered, every API request answered with
its own body as the rpc_result.

  --listen ADDR          address to listen on (default 127.0.0.1:0; port 0 picks one)
  --key PEM              RSA private key, PKCS#1 or PKCS#8 PEM (default: a fresh
                         2048-bit key, generated at start)
  --run-seconds N        exit after N seconds (default: run until killed)
  --max-connections N    concurrent connections; more are refused (default 20000)
  --max-keys N           auth keys remembered, oldest forgotten first (default 100000)
  --max-sessions N       client sessions remembered between links (default 100000)
  --secret HEX           MTProxy secret (32 hex digits): only obfuscated2 clients
                         that know it are accepted
  --public-key-out PATH  write the server's public key (PKCS#1 PEM) to PATH
  --help                 this text

Prints `READY ADDR fingerprint=0x...` on stdout once listening, then one line
per connection on stderr.";

/// The command line.
#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    key: Option<PathBuf>,
    run_seconds: Option<u64>,
    max_connections: usize,
    max_keys: usize,
    max_sessions: usize,
    secret: Option<[u8; 16]>,
    public_key_out: Option<PathBuf>,
}

/// What the command line asked for.
enum Command {
    Serve(Box<Args>),
    Help,
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag}: not a number: {value:?}"))
}

fn parse_secret(value: &str) -> Result<[u8; 16], String> {
    let bad = || format!("--secret: expected 32 hex digits, got {value:?}");
    if value.len() != 32 || !value.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        key: None,
        run_seconds: None,
        max_connections: 20_000,
        max_keys: 100_000,
        max_sessions: 100_000,
        secret: None,
        public_key_out: None,
    };
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        let Some(value) = it.next() else {
            return Err(if flag.starts_with("--") {
                format!("{flag} needs a value (see --help)")
            } else {
                format!("unexpected argument {flag:?} (see --help)")
            });
        };
        match flag.as_str() {
            "--listen" => args.listen = value.parse().map_err(|_| format!("--listen: not an address: {value:?}"))?,
            "--key" => args.key = Some(PathBuf::from(value)),
            "--run-seconds" => args.run_seconds = Some(number(&flag, &value)?),
            "--max-connections" => args.max_connections = number(&flag, &value)?,
            "--max-keys" => args.max_keys = number(&flag, &value)?,
            "--max-sessions" => args.max_sessions = number(&flag, &value)?,
            "--secret" => args.secret = Some(parse_secret(&value)?),
            "--public-key-out" => args.public_key_out = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag:?} (see --help)")),
        }
    }
    if args.max_connections == 0 || args.max_keys == 0 || args.max_sessions == 0 {
        return Err("--max-connections, --max-keys and --max-sessions must be at least 1".into());
    }
    Ok(Command::Serve(Box::new(args)))
}

/// Every auth key a handshake created, by auth_key_id, shared by all
/// connections (their `key_lookup`); the oldest are forgotten beyond `cap`.
struct KeyRegistry {
    keys: HashMap<i64, AuthKey>,
    order: VecDeque<i64>,
    cap: usize,
}

impl KeyRegistry {
    fn new(cap: usize) -> Self {
        Self { keys: HashMap::new(), order: VecDeque::new(), cap }
    }

    /// Remembers `key`; true when it was not known yet (a handshake made it).
    fn insert(&mut self, key: &AuthKey) -> bool {
        if self.keys.contains_key(&key.id()) {
            return false;
        }
        while self.keys.len() >= self.cap {
            let Some(old) = self.order.pop_front() else { break };
            self.keys.remove(&old);
        }
        self.keys.insert(key.id(), key.clone());
        self.order.push_back(key.id());
        true
    }

    fn get(&self, id: i64) -> Option<AuthKey> {
        self.keys.get(&id).cloned()
    }
}

/// Counters over the server's life.
#[derive(Default)]
struct Totals {
    connections: AtomicU64,
    refused: AtomicU64,
    handshakes: AtomicU64,
    requests: AtomicU64,
}

/// The transport a client chose, read from its first bytes as the server
/// `Transport` reads them (for the log only; the Connection detects it).
#[derive(Default)]
struct Sniffer {
    head: Vec<u8>,
    verdict: Option<&'static str>,
}

impl Sniffer {
    fn feed(&mut self, bytes: &[u8], secret: Option<&[u8; 16]>) {
        if self.verdict.is_some() {
            return;
        }
        let take = (64 - self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..take]);
        self.verdict = classify(&self.head, secret);
    }

    fn name(&self) -> &'static str {
        self.verdict.unwrap_or(if self.head.is_empty() { "none (no bytes)" } else { "unknown (too few bytes)" })
    }
}

/// The transport named by a stream's first bytes; `None` while more are needed.
fn classify(head: &[u8], secret: Option<&[u8; 16]>) -> Option<&'static str> {
    if secret.is_none() {
        if head.first() == Some(&0xef) {
            return Some("abridged");
        }
        let tag = head.get(..4)?;
        if tag == TAG_INTERMEDIATE {
            return Some("intermediate");
        }
        if tag == TAG_PADDED_INTERMEDIATE {
            return Some("padded intermediate");
        }
        if [*b"POST", *b"GET ", *b"HEAD", *b"OPTI"].iter().any(|t| tag == t) {
            return Some("http (refused)");
        }
        if head.get(4..8)? == [0, 0, 0, 0] {
            return Some("full");
        }
    }
    let header = head.get(..64)?;
    let inner = obfuscated2::server(header, secret.map(|s| &s[..])).ok()?;
    Some(match inner.tag {
        TAG_ABRIDGED => "obfuscated2 abridged",
        TAG_INTERMEDIATE => "obfuscated2 intermediate",
        TAG_PADDED_INTERMEDIATE => "obfuscated2 padded intermediate",
        _ => "obfuscated2 with an unknown tag (refused)",
    })
}

/// Shared by every connection.
struct Shared {
    config: ServerConfig,
    keys: Arc<Mutex<KeyRegistry>>,
    store: Arc<dyn SessionStore>,
    secret: Option<[u8; 16]>,
    totals: Totals,
}

impl Shared {
    fn connection_config(&self) -> ServerOptions {
        let mut cfg = ServerOptions::new(self.config.clone());
        let keys = Arc::clone(&self.keys);
        cfg.key_lookup = Some(Arc::new(move |id| keys.lock().ok()?.get(id)));
        cfg.session_store = Arc::clone(&self.store);
        if let Some(secret) = self.secret {
            // The server reads only the secret; the DC id is the client's.
            cfg.session.transport =
                Transporting::Framed(TransportKind::Intermediate, Some(Obfuscation { dc_id: 0, secret: Some(secret) }));
        }
        cfg
    }
}

/// One connection, start to end; logs one line when it ends.
async fn serve(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let started = Instant::now();
    let mut sniffer = Sniffer::default();
    let (mut requests, mut new_sessions, mut bad_salts, mut key) = (0u64, 0u64, 0u64, "none");
    let ended = match ServerConnection::new(shared.connection_config(), now()) {
        Err(e) => format!("no entropy for the connection: {e}"),
        Ok(mut conn) => {
            let ended = drive(
                &mut conn,
                &mut stream,
                Limits { read_buf: 4096, ..Limits::default() },
                |conn, ev| {
                    match ev {
                        Event::Ready { auth_key, .. } => {
                            let new = shared.keys.lock().is_ok_and(|mut k| k.insert(&auth_key));
                            key = if new { "new (handshake)" } else { "known" };
                            if new {
                                shared.totals.handshakes.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Event::Request { req_msg_id, body } => {
                            conn.respond(req_msg_id, &body);
                            requests += 1;
                        }
                        Event::NewSession { .. } => new_sessions += 1,
                        _ => {}
                    }
                    Flow::Continue
                },
                |bytes| sniffer.feed(bytes, shared.secret.as_ref()),
            )
            .await;
            bad_salts = conn.stats().bad_salts_sent;
            match ended {
                Ended::Closed(reason) => reason.to_string(),
                Ended::LinkLost => "the client went away".into(),
                Ended::Stopped => "stopped".into(),
            }
        }
    };
    shared.totals.requests.fetch_add(requests, Ordering::Relaxed);
    eprintln!(
        "conn {peer} transport={:?} key={key:?} requests={requests} new_sessions={new_sessions} \
         bad_salts={bad_salts} secs={:.3}: {ended}",
        sniffer.name(),
        started.elapsed().as_secs_f64()
    );
}

fn load_key(args: &Args) -> Result<RsaPrivateKey, String> {
    match &args.key {
        Some(path) => {
            let pem = std::fs::read_to_string(path).map_err(|e| format!("--key {}: {e}", path.display()))?;
            RsaPrivateKey::from_pem(&pem).map_err(|e| format!("--key {}: {e}", path.display()))
        }
        None => {
            let mut entropy = OsEntropy::new().map_err(|e| format!("no OS entropy: {e}"))?;
            let key = RsaPrivateKey::generate(&mut entropy).map_err(|e| format!("key generation: {e}"))?;
            eprintln!(
                "no --key given: generated a fresh 2048-bit RSA key, fingerprint 0x{:016x} \
                 (clients need its public half: --public-key-out PATH writes it)",
                key.public_key().fingerprint() as u64
            );
            Ok(key)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let key = load_key(&args)?;
    let fingerprint = key.public_key().fingerprint() as u64;
    if let Some(path) = &args.public_key_out {
        let pem = key.public_key().to_pem().map_err(|e| format!("public key: {e}"))?;
        std::fs::write(path, pem).map_err(|e| format!("--public-key-out {}: {e}", path.display()))?;
    }
    let config = ServerConfig::new(vec![key]).map_err(|e| format!("server config: {e}"))?;
    let shared = Arc::new(Shared {
        config,
        keys: Arc::new(Mutex::new(KeyRegistry::new(args.max_keys))),
        store: Arc::new(MemorySessionStore::new(args.max_sessions)),
        secret: args.secret,
        totals: Totals::default(),
    });

    let socket = if args.listen.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
    let listener = socket
        .and_then(|s| {
            s.set_reuseaddr(true)?;
            s.bind(args.listen)?;
            s.listen(4096)
        })
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| format!("listener: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY {addr} fingerprint=0x{fingerprint:016x}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))?;
    }

    let slots = Arc::new(Semaphore::new(args.max_connections));
    let stop_at = args.run_seconds.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    loop {
        let accepted = match stop_at {
            Some(at) => tokio::select! {
                accepted = listener.accept() => accepted,
                () = tokio::time::sleep_until(at) => break,
            },
            None => listener.accept().await,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to close.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            shared.totals.refused.fetch_add(1, Ordering::Relaxed);
            eprintln!("conn {peer} refused: --max-connections {} reached", args.max_connections);
            continue;
        };
        shared.totals.connections.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            serve(stream, peer, shared).await;
            drop(slot);
        });
    }
    let t = &shared.totals;
    eprintln!(
        "stopping after {} s: {} connections ({} refused), {} handshakes, {} requests answered",
        args.run_seconds.unwrap_or_default(),
        t.connections.load(Ordering::Relaxed),
        t.refused.load(Ordering::Relaxed),
        t.handshakes.load(Ordering::Relaxed),
        t.requests.load(Ordering::Relaxed),
    );
    Ok(())
}

fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve(args)) => *args,
        Ok(Command::Help) => {
            // A closed stdout (`server --help | head -1`) is not an error here.
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("server: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("server: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("server: {e}");
        std::process::exit(1);
    }
    // Connections still open end with the runtime.
    runtime.shutdown_timeout(Duration::from_millis(200));
}
