//! A test server for client authors (like gotd's `tgtest`): it speaks every
//! transport we speak (abridged, intermediate, padded intermediate, full,
//! obfuscated2; detected per connection; MTProxy fake-TLS with an `ee`
//! secret; HTTP and WebSocket on listeners of their own), runs the
//! handshake in both RSA schemes (RSA_PAD and the legacy one) for permanent
//! and temporary keys, keeps keys and sessions across connections (and
//! across listeners), answers service messages itself and every API
//! request with its own body as the rpc_result.
//!
//! ```text
//! cargo run --release -p mtproto-core --example server -- --listen 127.0.0.1:4430 --key server.pem
//! cargo run --release -p mtproto-core --example server -- --key server.pem \
//!     --http-listen 127.0.0.1:8080 --ws-listen 127.0.0.1:8443 --secret ee<32 hex digits><domain in hex>
//! ```
//!
//! Once it listens it prints `READY 127.0.0.1:PORT fingerprint=0x<16 hex
//! digits>` on stdout, then `READY-HTTP ADDR` with `--http-listen` and
//! `READY-WS ADDR` with `--ws-listen` (nothing else ever goes to stdout),
//! then one line per connection on stderr when that connection ends. One
//! tokio task per connection on a runtime with one worker thread per core;
//! each connection holds a fixed read buffer, its Connection (bounded by
//! its configuration) and waits for the socket before producing more output.
#![allow(missing_docs)]

#[path = "common/tokio_driver.rs"]
mod tokio_driver;
#[path = "common/ws_driver.rs"]
mod ws_driver;

use mtproto_core::connection::{CloseReason, MemorySessionStore, SessionStore, Transporting};
use mtproto_core::connection::{Server, ServerConnection, ServerOptions};
use mtproto_core::handshake::ServerConfig;
use mtproto_core::transport::fake_tls::FakeTlsConfig;
use mtproto_core::transport::http::{HttpLimits, HttpServer, WaitPolicy};
use mtproto_core::transport::{Obfuscation, ProxySecret, TransportKind};
use mtproto_core::{Endpoint, Input, Output, ServerEvent};
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_driver::{Ended, Flow, Limits, drive, now};
use ws_driver::WsLimits;

const USAGE: &str = "\
usage: server [--listen ADDR] [--http-listen ADDR] [--ws-listen ADDR] [--key PEM]
              [--run-seconds N] [--max-connections N] [--max-keys N] [--max-sessions N]
              [--secret SECRET [--secret-only]] [--public-key-out PATH]

A test MTProto server: every transport (detected per connection), handshakes
(RSA_PAD and legacy RSA, permanent and temporary keys), keys and sessions kept
across connections, service messages answered, every API request answered with
its own body as the rpc_result.

  --listen ADDR          address to listen on (default 127.0.0.1:0; port 0 picks one):
                         abridged, intermediate, padded intermediate, full,
                         obfuscated2 (and fake-TLS with an ee secret), detected
  --http-listen ADDR     also serve the HTTP transport there (POST /api, keep-alive,
                         long polls held up to 25 s, CORS as Telegram sends it)
  --ws-listen ADDR       also serve WebSocket there as Telegram's web endpoints do:
                         GET /apiws with the subprotocol `binary`, then obfuscated2
                         (intermediate or padded intermediate) in binary messages;
                         another path gets 404, no `binary` subprotocol gets 400
  --key PEM              RSA private key, PKCS#1 or PKCS#8 PEM (default: a fresh
                         2048-bit key, generated at start)
  --run-seconds N        exit after N seconds (default: run until killed)
  --max-connections N    concurrent connections; more are refused (default 20000)
  --max-keys N           auth keys remembered, oldest forgotten first (default 100000)
  --max-sessions N       client sessions remembered between links (default 100000)
  --secret SECRET        MTProxy secret for --listen, any form TDLib accepts (hex,
                         base64url or base64): 16 bytes or dd + 16 bytes: only
                         obfuscated2 clients that know the key are accepted; ee +
                         16 bytes + domain: fake-TLS for that domain, and plain
                         (unobfuscated or secretless obfuscated2) clients too
  --secret-only          with an ee secret, refuse every client that does not
                         speak fake-TLS (16-byte and dd secrets admit only their
                         own clients anyway); HTTP and WebSocket take no secret
  --public-key-out PATH  write the server's public key (PKCS#1 PEM) to PATH
  --help                 this text

Prints `READY ADDR fingerprint=0x...` on stdout once listening (then
`READY-HTTP ADDR` and `READY-WS ADDR` for the other listeners), then one line
per connection on stderr.";

/// The command line.
#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    http_listen: Option<SocketAddr>,
    ws_listen: Option<SocketAddr>,
    key: Option<PathBuf>,
    run_seconds: Option<u64>,
    max_connections: usize,
    max_keys: usize,
    max_sessions: usize,
    secret: Option<ProxySecret>,
    secret_only: bool,
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

fn address(flag: &str, value: &str) -> Result<SocketAddr, String> {
    value.parse().map_err(|_| format!("{flag}: not an address: {value:?}"))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_listen: None,
        ws_listen: None,
        key: None,
        run_seconds: None,
        max_connections: 20_000,
        max_keys: 100_000,
        max_sessions: 100_000,
        secret: None,
        secret_only: false,
        public_key_out: None,
    };
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        if flag == "--secret-only" {
            args.secret_only = true;
            continue;
        }
        let Some(value) = it.next() else {
            return Err(if flag.starts_with("--") {
                format!("{flag} needs a value (see --help)")
            } else {
                format!("unexpected argument {flag:?} (see --help)")
            });
        };
        match flag.as_str() {
            "--listen" => args.listen = address(&flag, &value)?,
            "--http-listen" => args.http_listen = Some(address(&flag, &value)?),
            "--ws-listen" => args.ws_listen = Some(address(&flag, &value)?),
            "--key" => args.key = Some(PathBuf::from(value)),
            "--run-seconds" => args.run_seconds = Some(number(&flag, &value)?),
            "--max-connections" => args.max_connections = number(&flag, &value)?,
            "--max-keys" => args.max_keys = number(&flag, &value)?,
            "--max-sessions" => args.max_sessions = number(&flag, &value)?,
            "--secret" => args.secret = Some(ProxySecret::parse(&value).map_err(|e| format!("--secret: {e}"))?),
            "--public-key-out" => args.public_key_out = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag:?} (see --help)")),
        }
    }
    if args.max_connections == 0 || args.max_keys == 0 || args.max_sessions == 0 {
        return Err("--max-connections, --max-keys and --max-sessions must be at least 1".into());
    }
    if args.secret_only && args.secret.is_none() {
        return Err("--secret-only needs --secret".into());
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

/// How the main listener's streams are told apart (for the log only; the
/// Connection detects the transport itself).
#[derive(Clone, Copy)]
enum Detect {
    /// No secret: every transport.
    Plain,
    /// A 16-byte or `dd` secret: only obfuscated2 under this key.
    Obfuscated([u8; 16]),
    /// An `ee` secret: a TLS record is fake-TLS; anything else is plain
    /// (refused when `secret_only`).
    FakeTls { secret_only: bool },
}

/// The transport a client chose, read from its first bytes as the server
/// `Transport` reads them (for the log only; the Connection detects it).
#[derive(Default)]
struct Sniffer {
    head: Vec<u8>,
    verdict: Option<&'static str>,
}

impl Sniffer {
    fn feed(&mut self, bytes: &[u8], detect: Detect) {
        if self.verdict.is_some() {
            return;
        }
        let take = (64 - self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..take]);
        self.verdict = match detect {
            Detect::Plain => classify(&self.head, None),
            Detect::Obfuscated(key) => classify(&self.head, Some(&key)),
            Detect::FakeTls { secret_only } => match self.head.get(..3) {
                None => None,
                Some([0x16, 0x03, 0x01]) => Some("fake-tls"),
                Some(_) if secret_only => Some("not fake-tls (refused)"),
                Some(_) => classify(&self.head, None),
            },
        };
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

/// Which listener a connection came in on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listener {
    /// `--listen`: the byte-stream transports (and fake-TLS with an `ee` secret).
    Tcp,
    /// `--http-listen`: the HTTP transport.
    Http,
    /// `--ws-listen`: WebSocket binary messages carrying the byte stream.
    Ws,
}

/// Shared by every connection.
struct Shared {
    config: ServerConfig,
    keys: Arc<Mutex<KeyRegistry>>,
    store: Arc<dyn SessionStore>,
    /// The main listener's transport (from `--secret`).
    transport: Transporting,
    detect: Detect,
    totals: Totals,
    /// One `Server` per listener kind: each link shares its settings and
    /// draws its randomness from it only when it first needs some.
    servers: Vec<(Listener, Server)>,
}

impl Shared {
    /// A new link for a connection accepted on `listener`.
    fn link(&self, listener: Listener) -> Option<ServerConnection> {
        self.servers.iter().find(|(l, _)| *l == listener).map(|(_, s)| s.link(now()))
    }

    fn connection_config(&self, listener: Listener) -> ServerOptions {
        let mut cfg = ServerOptions::new(self.config.clone());
        let keys = Arc::clone(&self.keys);
        cfg.key_lookup = Some(Arc::new(move |id| keys.lock().ok()?.get(id)));
        cfg.session_store = Arc::clone(&self.store);
        cfg.session.transport = match listener {
            // Every connection shares the fake-TLS replay cache (clones share it).
            Listener::Tcp => self.transport.clone(),
            Listener::Http => Transporting::Unframed,
            // Detected per connection, no secret (Telegram's web endpoints have none).
            Listener::Ws => Transporting::Framed(TransportKind::Intermediate, None),
        };
        cfg
    }
}

/// The main listener's transport and how its log names streams, from `--secret`.
fn main_transport(secret: Option<&ProxySecret>, secret_only: bool) -> (Transporting, Detect) {
    match secret {
        None => (Transporting::Framed(TransportKind::Intermediate, None), Detect::Plain),
        // The server reads only the secret; the DC id is the client's.
        Some(ProxySecret::Obfuscated(key) | ProxySecret::Padded(key)) => (
            Transporting::Framed(TransportKind::Intermediate, Some(Obfuscation { dc_id: 0, secret: Some(*key) })),
            Detect::Obfuscated(*key),
        ),
        Some(fake @ ProxySecret::FakeTls { .. }) => match FakeTlsConfig::from_secret(fake, 0) {
            Some(mut cfg) => {
                cfg.secret_only = secret_only;
                (Transporting::FakeTls(cfg), Detect::FakeTls { secret_only })
            }
            None => (Transporting::Framed(TransportKind::Intermediate, None), Detect::Plain),
        },
    }
}

/// What one connection's application saw.
struct App<'a> {
    shared: &'a Shared,
    requests: u64,
    new_sessions: u64,
    key: &'static str,
}

impl App<'_> {
    fn on_event(&mut self, conn: &mut ServerConnection, ev: ServerEvent) -> Flow {
        match ev {
            ServerEvent::Ready { auth_key, .. } => {
                let new = self.shared.keys.lock().is_ok_and(|mut k| k.insert(&auth_key));
                self.key = if new { "new (handshake)" } else { "known" };
                if new {
                    self.shared.totals.handshakes.fetch_add(1, Ordering::Relaxed);
                }
            }
            ServerEvent::Request { req_msg_id, body } => {
                conn.respond(req_msg_id, &body);
                self.requests += 1;
            }
            ServerEvent::NewSession { .. } => self.new_sessions += 1,
            _ => {}
        }
        Flow::Continue
    }
}

/// One connection, start to end; logs one line when it ends.
async fn serve(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, listener: Listener) {
    let started = Instant::now();
    let mut sniffer = Sniffer::default();
    let mut app = App { shared: &shared, requests: 0, new_sessions: 0, key: "none" };
    let mut bad_salts = 0u64;
    let mut upgraded = true;
    let ended = match shared.link(listener) {
        None => "no server for this listener".to_string(),
        Some(mut conn) => {
            let on_event = |conn: &mut ServerConnection, ev| app.on_event(conn, ev);
            let ended = match listener {
                Listener::Tcp => {
                    let limits = Limits { read_buf: 4096, ..Limits::default() };
                    let detect = shared.detect;
                    Ok(drive(&mut conn, &mut stream, limits, on_event, |b| sniffer.feed(b, detect)).await)
                }
                Listener::Http => drive_http(&mut conn, &mut stream, on_event).await,
                Listener::Ws => {
                    let _ = stream.set_nodelay(true);
                    let limits = WsLimits::default();
                    match ws_driver::accept(&mut stream, &limits).await {
                        Ok(mut ws) => Ok(ws_driver::drive(&mut conn, &mut ws, limits, on_event, |b| {
                            sniffer.feed(b, Detect::Plain);
                        })
                        .await),
                        Err(e) => {
                            upgraded = false;
                            conn.handle_input(Input::LinkLost, now());
                            Err(e.to_string())
                        }
                    }
                }
            };
            bad_salts = conn.stats().bad_salts_sent;
            match ended {
                Ok(Ended::Closed(reason)) => reason.to_string(),
                Ok(Ended::LinkLost) => "the client went away".into(),
                Ok(Ended::Stopped) => "stopped".into(),
                Err(why) => why,
            }
        }
    };
    let transport = match listener {
        Listener::Tcp => sniffer.name().to_string(),
        Listener::Http => "http".to_string(),
        Listener::Ws if !upgraded => "ws (upgrade refused)".to_string(),
        Listener::Ws => format!("ws {}", sniffer.name()),
    };
    let (requests, new_sessions, key) = (app.requests, app.new_sessions, app.key);
    shared.totals.requests.fetch_add(requests, Ordering::Relaxed);
    eprintln!(
        "conn {peer} transport={transport:?} key={key:?} requests={requests} new_sessions={new_sessions} \
         bad_salts={bad_salts} secs={:.3}: {ended}",
        started.elapsed().as_secs_f64()
    );
}

/// Drives an unframed `conn` behind the HTTP transport's server codec:
/// request bodies in as packets, the Connection's packets out as the
/// bodies of the answers (a request waits for one up to the codec's
/// deadline). An unknown auth key is answered with the -404 code as the
/// body. A malformed request gets its refusal and the link ends: `Err`
/// with the reason, for the log.
async fn drive_http(
    conn: &mut ServerConnection,
    stream: &mut TcpStream,
    mut on_event: impl FnMut(&mut ServerConnection, ServerEvent) -> Flow,
) -> Result<Ended, String> {
    const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
    let mut http = HttpServer::new(HttpLimits::default());
    let mut buf = vec![0u8; 16 * 1024];
    let _ = stream.set_nodelay(true);
    loop {
        let mut closed = None;
        let conn_deadline = loop {
            match conn.poll_output(now()) {
                Output::Transmit(packet) => {
                    // Too much queued for a client that stopped asking: drop the link.
                    if http.queue_packet(packet, now()).is_err() {
                        return Ok(lose(conn, stream).await);
                    }
                }
                Output::Event(ServerEvent::Closed { reason }) => {
                    if reason == CloseReason::UnknownAuthKey {
                        http.answer_error(-404);
                    }
                    closed = Some(reason);
                    break now();
                }
                // The client's long-poll settings (http_wait) for this link.
                Output::Event(ServerEvent::HttpWait { wait }) => http.set_wait(WaitPolicy::from_tl(&wait)),
                Output::Event(ev) => match on_event(conn, ev) {
                    Flow::Continue => {}
                    Flow::Stop => return Ok(Ended::Stopped),
                    Flow::Cut => return Ok(lose(conn, stream).await),
                },
                Output::Timeout(at) => break at,
            }
        };
        while let Some(bytes) = http.poll_transmit(now()) {
            if !matches!(tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await, Ok(Ok(()))) {
                return Ok(lose(conn, stream).await);
            }
        }
        if let Some(reason) = closed {
            let _ = stream.shutdown().await;
            return Ok(Ended::Closed(reason));
        }
        let deadline = http.deadline().map_or(conn_deadline, |d| d.min(conn_deadline));
        let wait = deadline.saturating_sub(now());
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Ok(lose(conn, stream).await),
                Ok(n) => {
                    if let Err(e) = http.handle_bytes(&buf[..n], now()) {
                        let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&HttpServer::refusal(&e))).await;
                        lose(conn, stream).await;
                        return Err(format!("HTTP request refused: {e}"));
                    }
                    while let Some(mut packet) = http.poll_packet() {
                        conn.handle_input(Input::Packet(&mut packet), now());
                    }
                }
            },
            () = tokio::time::sleep(wait) => {}
        }
        if now() >= conn_deadline {
            conn.handle_input(Input::Timeout, now());
        }
    }
}

/// The link is gone: close the socket and tell the Connection.
async fn lose(conn: &mut impl Endpoint, stream: &mut TcpStream) -> Ended {
    let _ = stream.shutdown().await;
    conn.handle_input(Input::LinkLost, now());
    Ended::LinkLost
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

/// Binds a listening socket (address reuse on, a deep backlog).
fn bind(flag: &str, addr: SocketAddr) -> Result<TcpListener, String> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
    socket
        .and_then(|s| {
            s.set_reuseaddr(true)?;
            s.bind(addr)?;
            s.listen(4096)
        })
        .map_err(|e| format!("{flag} {addr}: {e}"))
}

/// Accepts connections on `listener` forever, each served by a task of its
/// own while a slot of `--max-connections` (shared by every listener) is free.
async fn accept_loop(listener: TcpListener, kind: Listener, shared: Arc<Shared>, slots: Arc<Semaphore>, max: usize) {
    loop {
        let (stream, peer) = match listener.accept().await {
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
            eprintln!("conn {peer} refused: --max-connections {max} reached");
            continue;
        };
        shared.totals.connections.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            serve(stream, peer, shared, kind).await;
            drop(slot);
        });
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
    let (transport, detect) = main_transport(args.secret.as_ref(), args.secret_only);
    let mut shared = Shared {
        config,
        keys: Arc::new(Mutex::new(KeyRegistry::new(args.max_keys))),
        store: Arc::new(MemorySessionStore::new(args.max_sessions)),
        transport,
        detect,
        totals: Totals::default(),
        servers: Vec::new(),
    };
    for listener in [Listener::Tcp, Listener::Http, Listener::Ws] {
        let server = Server::new(shared.connection_config(listener)).map_err(|e| format!("entropy: {e}"))?;
        shared.servers.push((listener, server));
    }
    let shared = Arc::new(shared);

    // Every listener is bound before anything is printed: READY means all listen.
    let mut listeners = vec![(Listener::Tcp, "READY", bind("--listen", args.listen)?)];
    if let Some(addr) = args.http_listen {
        listeners.push((Listener::Http, "READY-HTTP", bind("--http-listen", addr)?));
    }
    if let Some(addr) = args.ws_listen {
        listeners.push((Listener::Ws, "READY-WS", bind("--ws-listen", addr)?));
    }
    {
        let mut out = std::io::stdout().lock();
        for (kind, ready, listener) in &listeners {
            let addr = listener.local_addr().map_err(|e| format!("listener: {e}"))?;
            if *kind == Listener::Tcp {
                writeln!(out, "{ready} {addr} fingerprint=0x{fingerprint:016x}")
            } else {
                writeln!(out, "{ready} {addr}")
            }
            .map_err(|e| format!("stdout: {e}"))?;
        }
        out.flush().map_err(|e| format!("stdout: {e}"))?;
    }

    let slots = Arc::new(Semaphore::new(args.max_connections));
    for (kind, _, listener) in listeners {
        tokio::spawn(accept_loop(listener, kind, Arc::clone(&shared), Arc::clone(&slots), args.max_connections));
    }
    match args.run_seconds {
        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
        None => std::future::pending::<()>().await,
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
