//! The main job: our server on 127.0.0.1 with a freshly generated RSA key,
//! our client over TCP, a real handshake, a few thousand encrypted RPCs
//! (some large enough to be gzipped, many packed into containers), one
//! injected bad_server_salt and one new session, a dozen links cut at
//! random points (mid-frame) with the session continuing on the next one,
//! and a report. Every request must be answered, and executed by the
//! server, exactly once.
//!
//! The new session: two thirds in, the client lets its requests drain and
//! sends a marker; the server answers it and forgets the session, as a
//! server forgets an idle one (a session forgotten with requests in flight
//! loses what it ran: those fail with `RequestError::SessionLost`, which
//! the simulation checks, since no exactly-once answer is possible then).
//! `MTPROTO_TRACE=debug` with `--features tracing` prints the library's traces.
//!
//! ```text
//! cargo run --release -p mtproto-core --example demo -- [REQUESTS] [--transport KIND]
//! ```
//!
//! REQUESTS (default 3000) and `--transport KIND` may come in either order
//! (`demo 2000 --transport http`, `demo --transport http 2000`). KIND:
//!
//! * `intermediate` (the default), `abridged`, `padded` (padded
//!   intermediate), `full`: plain TCP, each cut writes part of a frame;
//! * `obfuscated`: obfuscated2 around intermediate;
//! * `fake-tls`: MTProxy fake-TLS with an `ee` secret generated at start
//!   (printed), the server accepting only fake-TLS clients; every new link
//!   is a new TLS hello;
//! * `http`: `POST /api` over keep-alive HTTP/1.1 connections
//!   (`transport::http`); a cut drops the current HTTP connection in the
//!   middle of a request or while responses are on their way;
//! * `ws`: obfuscated2 intermediate in WebSocket binary messages (`GET
//!   /apiws`, subprotocol `binary`), driven with tokio and tokio-tungstenite;
//!   the client's messages have random sizes, so a cut loses the stream at
//!   an arbitrary byte.
//!
//! Whatever the transport, the report is the same and the run is checked
//! the same way. Exits non-zero if anything failed (2 for a bad command line).
#![allow(missing_docs)]

#[path = "common/http_driver.rs"]
mod http_driver;
#[path = "common/std_driver.rs"]
mod std_driver;
#[path = "common/tokio_driver.rs"]
mod tokio_driver;
#[path = "common/trace_init.rs"]
mod trace_init;
#[path = "common/ws_driver.rs"]
mod ws_driver;

use mtproto_core::connection::{ClientConnection, ClientOptions, ServerConnection, ServerOptions};
use mtproto_core::connection::{MemorySessionStore, SendOptions, SessionStore, Transporting};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::transport::fake_tls::{FakeTlsConfig, ReplayCache};
use mtproto_core::transport::{Obfuscation, ProxySecret, TransportKind};
use mtproto_core::{ClientEvent, RequestHandle, ServerEvent};
use mtproto_crypto::rsa::RsaPrivateKey;
use mtproto_crypto::{AuthKey, Entropy, OsEntropy};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use std_driver::{Flow, Wire, drive, drive_reconnecting, now};

const USAGE: &str = "\
usage: demo [REQUESTS] [--transport KIND]

REQUESTS: how many RPCs (default 3000). KIND: intermediate (default),
abridged, padded, full, obfuscated, fake-tls, http, ws. The two may come
in either order.";

/// The transports the demo runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Intermediate,
    Abridged,
    Padded,
    Full,
    Obfuscated,
    FakeTls,
    Http,
    Ws,
}

impl Kind {
    const ALL: [(&'static str, Kind); 8] = [
        ("intermediate", Kind::Intermediate),
        ("abridged", Kind::Abridged),
        ("padded", Kind::Padded),
        ("full", Kind::Full),
        ("obfuscated", Kind::Obfuscated),
        ("fake-tls", Kind::FakeTls),
        ("http", Kind::Http),
        ("ws", Kind::Ws),
    ];

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Intermediate => "intermediate over TCP",
            Kind::Abridged => "abridged over TCP",
            Kind::Padded => "padded intermediate over TCP",
            Kind::Full => "full over TCP",
            Kind::Obfuscated => "obfuscated2 (intermediate inside) over TCP",
            Kind::FakeTls => "fake-TLS (obfuscated2, padded intermediate inside) over TCP",
            Kind::Http => "HTTP/1.1 POST /api, keep-alive",
            Kind::Ws => "WebSocket /apiws (obfuscated2, intermediate inside)",
        }
    }
}

/// The command line.
struct Args {
    total: u64,
    kind: Kind,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args { total: 3000, kind: Kind::Intermediate };
    let mut total_seen = false;
    while let Some(arg) = it.next() {
        let value = match arg.strip_prefix("--transport") {
            Some("") => it.next().ok_or("--transport needs a value")?,
            Some(rest) if rest.starts_with('=') => rest[1..].to_string(),
            _ if arg == "-h" || arg == "--help" => return Err(String::new()),
            _ if !arg.starts_with('-') && !total_seen => {
                args.total = arg.parse().map_err(|_| format!("not a number of requests: {arg:?}"))?;
                total_seen = true;
                continue;
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        };
        args.kind = Kind::parse(&value).ok_or_else(|| format!("unknown transport {value:?}"))?;
    }
    Ok(args)
}

/// The request: a tag, the request number, and filler.
fn request_body(n: u64, size: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(size);
    b.extend_from_slice(&0xdec0_de01u32.to_le_bytes());
    b.extend_from_slice(&n.to_le_bytes());
    let filler = b"MTProto 2.0 sans-IO demo payload; repeated so large bodies compress. ";
    while b.len() < size {
        b.push(filler[b.len() % filler.len()]);
    }
    b.truncate(size / 4 * 4);
    b
}

/// What the server computes: the request number doubled, then the body.
fn answer(body: &[u8]) -> Vec<u8> {
    let n = body.get(4..12).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(n * 2).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// The request number of the marker after which the server forgets the session.
const FORGET_MARKER: u64 = u64::MAX / 4;

/// What the server executed: request number -> times.
type Executions = Arc<Mutex<HashMap<u64, u32>>>;

/// What every server link shares: the configuration, the keys made by
/// handshakes (so a new link can use them), the sessions between links,
/// and the execution log.
struct ServerSide {
    config: ServerConfig,
    transport: Transporting,
    keys: Arc<Mutex<HashMap<i64, AuthKey>>>,
    store: Arc<dyn SessionStore>,
    served: AtomicU64,
    total: u64,
    executed: Executions,
}

impl ServerSide {
    /// The options of a new link's ServerConnection.
    fn options(&self) -> ServerOptions {
        let mut cfg = ServerOptions::new(self.config.clone());
        cfg.session.transport = self.transport.clone();
        let keys = Arc::clone(&self.keys);
        cfg.key_lookup = Some(Arc::new(move |id| keys.lock().ok()?.get(&id).cloned()));
        cfg.session_store = Arc::clone(&self.store);
        cfg
    }

    /// The server application: answers, the execution log, the injected faults.
    fn on_event(&self, conn: &mut ServerConnection, ev: ServerEvent) {
        if let ServerEvent::Ready { auth_key, .. } = &ev
            && let Ok(mut k) = self.keys.lock()
        {
            k.insert(auth_key.id(), (**auth_key).clone());
        }
        let ServerEvent::Request { req_msg_id, body } = ev else { return };
        let n = body.get(4..12).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
        conn.respond(req_msg_id, &answer(&body));
        if n == FORGET_MARKER {
            // The client has nothing else in flight: the session is
            // forgotten (its next message starts a new one, announced by
            // new_session_created).
            conn.forget_session();
            return;
        }
        if let Ok(mut e) = self.executed.lock() {
            *e.entry(n).or_default() += 1;
        }
        // Fault injection: a third of the way in, the client's next message
        // meets a new salt.
        if self.served.fetch_add(1, Ordering::Relaxed) + 1 == self.total / 3 {
            conn.rotate_salt(now());
        }
    }
}

/// A thread per TCP connection (framed transports and fake-TLS). When the
/// link ends, `drive` feeds Input::LinkLost: the Connection saves its
/// sessions into the store.
fn serve_tcp(listener: TcpListener, side: Arc<ServerSide>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let side = Arc::clone(&side);
        std::thread::spawn(move || {
            let Ok(mut conn) = ServerConnection::new(side.options(), now()) else { return };
            let mut wire = Wire::default();
            let _ = drive(
                &mut conn,
                &mut stream,
                &mut wire,
                |conn, ev| {
                    side.on_event(conn, ev);
                    Flow::Continue
                },
                |_| Flow::Continue,
            );
        });
    }
}

/// A thread per HTTP connection, an unframed ServerConnection behind an `HttpServer`.
fn serve_http(listener: TcpListener, side: Arc<ServerSide>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let side = Arc::clone(&side);
        std::thread::spawn(move || {
            let Ok(mut conn) = ServerConnection::new(side.options(), now()) else { return };
            http_driver::serve(&mut conn, &mut stream, &mut Wire::default(), |conn, ev| side.on_event(conn, ev));
        });
    }
}

/// A task per WebSocket connection: the upgrade checked, then a ServerConnection.
async fn serve_ws(listener: tokio::net::TcpListener, side: Arc<ServerSide>) {
    while let Ok((stream, _)) = listener.accept().await {
        let side = Arc::clone(&side);
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let limits = ws_driver::WsLimits { max_message: 4096, ..ws_driver::WsLimits::default() };
            let Ok(mut ws) = ws_driver::accept(stream, &limits).await else { return };
            let Ok(mut conn) = ServerConnection::new(side.options(), now()) else { return };
            let on_event = |conn: &mut ServerConnection, ev| {
                side.on_event(conn, ev);
                tokio_driver::Flow::Continue
            };
            ws_driver::drive(&mut conn, &mut ws, limits, on_event, |_| {}).await;
        });
    }
}

struct Stats {
    rtts: Vec<Duration>,
    salt_changes: u32,
    session_resets: u32,
    failures: Vec<String>,
}

/// What the client wants after an event or an idle turn.
enum Action {
    Continue,
    Stop,
    /// Cut the link; at most this many bytes of the next write go out.
    Cut(usize),
}

impl From<Action> for Flow {
    fn from(a: Action) -> Self {
        match a {
            Action::Continue => Flow::Continue,
            Action::Stop => Flow::Stop,
            Action::Cut(prefix) => Flow::CutLink { prefix },
        }
    }
}

/// The client application, whatever drives it.
struct Client {
    total: u64,
    /// Answers after which a link is cut, ascending.
    cuts: Vec<u64>,
    rng: OsEntropy,
    in_flight: HashMap<RequestHandle, (u64, Instant, usize)>,
    next: u64,
    stats: Stats,
    t0: Instant,
    handshake_time: Option<Duration>,
    last_progress: Instant,
    rpc_started: Option<Instant>,
    forget_marker: Option<RequestHandle>,
    forgot: bool,
}

impl Client {
    fn new(total: u64) -> Self {
        // A dozen cuts at random points of the run, each in the middle of a transmit.
        let mut rng = OsEntropy::new().expect("OS entropy");
        let mut cuts: Vec<u64> = (0..12).map(|_| 1 + rng.next_u64() % total.max(2)).collect();
        cuts.sort_unstable();
        Self {
            total,
            cuts,
            rng,
            in_flight: HashMap::new(),
            next: 0,
            stats: Stats { rtts: Vec::new(), salt_changes: 0, session_resets: 0, failures: Vec::new() },
            t0: Instant::now(),
            handshake_time: None,
            last_progress: Instant::now(),
            rpc_started: None,
            forget_marker: None,
            forgot: false,
        }
    }

    fn event(&mut self, ev: ClientEvent) {
        let stats = &mut self.stats;
        match ev {
            ClientEvent::Ready { auth_key, .. } => {
                self.handshake_time = Some(self.t0.elapsed());
                println!("handshake done in {:.1?}: auth_key_id {:016x}", self.t0.elapsed(), auth_key.id() as u64);
            }
            ClientEvent::RpcResult { handle, .. } if Some(handle) == self.forget_marker => {
                self.forget_marker = None;
                self.forgot = true;
            }
            ClientEvent::RpcResult { handle, body } => match self.in_flight.remove(&handle) {
                Some((n, at, size)) => {
                    stats.rtts.push(at.elapsed());
                    if body != answer(&request_body(n, size)) {
                        stats.failures.push(format!("request {n}: wrong answer"));
                    }
                }
                None => stats.failures.push(format!("answer for unknown {handle:?}")),
            },
            ClientEvent::RpcError { handle, code, message } => {
                stats.failures.push(format!("{handle:?}: rpc_error {code} {message}"))
            }
            ClientEvent::RequestFailed { handle, error } => {
                stats.failures.push(format!("{handle:?}: {error}"));
                self.in_flight.remove(&handle);
            }
            ClientEvent::SaltChanged { .. } => stats.salt_changes += 1,
            ClientEvent::SessionReset { .. } => stats.session_resets += 1,
            _ => {}
        }
    }

    /// Queues more work, decides on cuts and the end.
    fn tick(&mut self, conn: &mut ClientConnection) -> Action {
        if !conn.is_ready() {
            return Action::Continue;
        }
        if self.rpc_started.is_none() {
            self.rpc_started = Some(Instant::now());
        }
        // Two thirds in: let the requests drain, then the marker after which
        // the server forgets the (idle) session.
        let forget_due = self.next >= 2 * self.total / 3 && !self.forgot;
        if forget_due {
            if self.in_flight.is_empty() && self.forget_marker.is_none() {
                self.forget_marker = Some(conn.send(request_body(FORGET_MARKER, 16), SendOptions::default()));
            }
            return Action::Continue;
        }
        // Keep up to 64 requests in flight; every 20th is large (gzipped).
        while self.in_flight.len() < 64 && self.next < self.total {
            let size = match self.next % 20 {
                0 => 48 * 1024,
                7 => 1024,
                _ => 64,
            };
            let h = conn.send(request_body(self.next, size), SendOptions::default());
            self.in_flight.insert(h, (self.next, Instant::now(), size));
            self.next += 1;
        }
        let answered = self.stats.rtts.len() as u64;
        if self.cuts.first().is_some_and(|c| answered >= *c) {
            self.cuts.remove(0);
            return Action::Cut((self.rng.next_u64() % 200) as usize);
        }
        if self.last_progress.elapsed() > Duration::from_millis(200) {
            self.last_progress = Instant::now();
            print!("\r{answered} / {} answered", self.total);
            let _ = std::io::stdout().flush();
        }
        if self.next == self.total && self.in_flight.is_empty() { Action::Stop } else { Action::Continue }
    }
}

/// Byte counters of a tokio stream (what crossed the TCP socket,
/// WebSocket framing included).
struct Counted {
    inner: tokio::net::TcpStream,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.received.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        poll
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            self.sent.fetch_add(*n as u64, Ordering::Relaxed);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The WebSocket client: a new TCP connection and upgrade per link (backoff
/// from 5 ms, doubling to 1 s, at most 30 attempts in a row), the session
/// continuing on each. The application runs after every event (the
/// WebSocket driver has no idle hook).
async fn run_ws_client(
    conn: &mut ClientConnection,
    addr: SocketAddr,
    client: &mut Client,
    wire: &mut Wire,
) -> std::io::Result<()> {
    let (sent, received) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut first = true;
    let result = loop {
        let mut backoff = Duration::from_millis(5);
        let mut attempt = 0;
        let tcp = loop {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => break s,
                Err(e) if first || attempt >= 30 => return Err(e),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    attempt += 1;
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        let stream = Counted { inner: tcp, sent: Arc::clone(&sent), received: Arc::clone(&received) };
        // Messages of 1..=1000 bytes, cut at random points of the stream.
        let limits = ws_driver::WsLimits {
            max_message: 1000,
            split_seed: Some(client.rng.next_u64()),
            ..ws_driver::WsLimits::default()
        };
        let host = addr.to_string();
        let mut ws = ws_driver::connect(stream, &host, ws_driver::PATH, Some(ws_driver::SUBPROTOCOL), &limits)
            .await
            .map_err(std::io::Error::other)?;
        if !first {
            wire.links_resumed += 1;
            conn.attach_link(now());
        }
        first = false;
        let on_event = |conn: &mut ClientConnection, ev| {
            client.event(ev);
            match client.tick(conn) {
                Action::Continue => tokio_driver::Flow::Continue,
                Action::Stop => tokio_driver::Flow::Stop,
                Action::Cut(_) => tokio_driver::Flow::Cut,
            }
        };
        match ws_driver::drive(conn, &mut ws, limits, on_event, |_| {}).await {
            tokio_driver::Ended::Stopped => break Ok(()),
            tokio_driver::Ended::LinkLost => {}
            tokio_driver::Ended::Closed(reason) => break Err(std::io::Error::other(format!("closed: {reason}"))),
        }
    };
    wire.sent = sent.load(Ordering::Relaxed);
    wire.received = received.load(Ordering::Relaxed);
    result
}

/// A fresh `ee` secret: 16 random bytes and the domain, in hex.
fn fresh_secret(rng: &mut OsEntropy) -> String {
    let mut key = [0u8; 16];
    rng.fill(&mut key);
    let mut hex = String::from("ee");
    for b in key.iter().chain(b"www.example.com") {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

fn main() {
    trace_init::init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("demo: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let total = args.total;
    let started = Instant::now();
    let mut entropy = OsEntropy::new().expect("OS entropy");
    let key = RsaPrivateKey::generate(&mut entropy).expect("RSA key");
    println!(
        "server key: fresh 2048-bit RSA, fingerprint {:016x} ({:.0?})",
        key.public_key().fingerprint() as u64,
        started.elapsed()
    );
    println!("transport:        {}", args.kind.describe());
    let public = key.public_key().clone();

    // Both ends' framing. A server detects the client's framing (plain or
    // obfuscated2) itself; fake-TLS needs the secret on both ends.
    let detect = Transporting::Framed(TransportKind::Intermediate, None);
    let obfuscated = |kind| Transporting::Framed(kind, Some(Obfuscation { dc_id: 2, secret: None }));
    let (server_transport, client_transport) = match args.kind {
        Kind::Intermediate => (detect.clone(), Transporting::Framed(TransportKind::Intermediate, None)),
        Kind::Abridged => (detect.clone(), Transporting::Framed(TransportKind::Abridged, None)),
        Kind::Padded => (detect.clone(), Transporting::Framed(TransportKind::PaddedIntermediate, None)),
        Kind::Full => (detect.clone(), Transporting::Framed(TransportKind::Full, None)),
        Kind::Obfuscated | Kind::Ws => (detect.clone(), obfuscated(TransportKind::Intermediate)),
        Kind::FakeTls => {
            let secret = fresh_secret(&mut entropy);
            println!("proxy secret:     {secret}");
            let parsed = ProxySecret::parse(&secret).expect("our own ee secret");
            let client = FakeTlsConfig::from_secret(&parsed, 2).expect("an ee secret");
            let mut server = client.clone();
            server.secret_only = true;
            // One replay cache for every link of the listener.
            server.replay = ReplayCache::default();
            (Transporting::FakeTls(server), Transporting::FakeTls(client))
        }
        Kind::Http => (Transporting::Unframed, Transporting::Unframed),
    };
    let executed: Executions = Arc::default();
    let side = Arc::new(ServerSide {
        config: ServerConfig::new(vec![key]).expect("server config"),
        transport: server_transport,
        keys: Arc::default(),
        store: Arc::new(MemorySessionStore::new(10_000)),
        served: AtomicU64::new(0),
        total,
        executed: Arc::clone(&executed),
    });

    let mut cfg = ClientOptions::new(ClientConfig::new(vec![public], 2));
    cfg.session.transport = client_transport;
    let mut client = Client::new(total);
    let mut conn = ClientConnection::new(cfg, now()).expect("client");
    let mut wire = Wire::default();
    let result = match args.kind {
        Kind::Ws => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
            let rt = rt.expect("tokio runtime");
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                tokio::spawn(serve_ws(listener, Arc::clone(&side)));
                run_ws_client(&mut conn, addr, &mut client, &mut wire).await
            })
        }
        kind => {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let serve_side = Arc::clone(&side);
            let client = RefCell::new(&mut client);
            let app = |_: &mut ClientConnection, ev| {
                client.borrow_mut().event(ev);
                Flow::Continue
            };
            let tick = |conn: &mut ClientConnection| client.borrow_mut().tick(conn).into();
            if kind == Kind::Http {
                std::thread::spawn(move || serve_http(listener, serve_side));
                http_driver::drive_reconnecting(&mut conn, addr, &mut wire, app, tick)
            } else {
                std::thread::spawn(move || serve_tcp(listener, serve_side));
                drive_reconnecting(&mut conn, addr, &mut wire, app, tick)
            }
        }
    };
    report(total, client, &wire, result, &executed);
}

fn report(total: u64, client: Client, wire: &Wire, result: std::io::Result<()>, executed: &Executions) -> ! {
    let stats = client.stats;
    println!("\r{} / {total} answered", stats.rtts.len());
    let elapsed = client.rpc_started.map_or(Duration::ZERO, |s| s.elapsed());
    let mut rtts = stats.rtts.clone();
    rtts.sort_unstable();
    let pct = |p: f64| {
        rtts.get(((rtts.len() as f64 * p) as usize).min(rtts.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    println!("--- report ---");
    println!("handshake:        {:.1?}", client.handshake_time.unwrap_or_default());
    println!(
        "requests:         {} sent, {} answered correctly",
        client.next,
        rtts.len() - stats.failures.iter().filter(|f| f.contains("wrong")).count()
    );
    println!(
        "latency:          p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    println!("throughput:       {:.0} requests/s", rtts.len() as f64 / elapsed.as_secs_f64().max(1e-9));
    println!("bytes on wire:    {} sent, {} received", wire.sent, wire.received);
    println!("links lost and resumed: {}", wire.links_resumed);
    let executed = executed.lock().map(|e| e.clone()).unwrap_or_default();
    let twice = executed.values().filter(|n| **n > 1).count();
    println!("server executions: {} distinct requests, {twice} executed more than once", executed.len());
    // The first new_session_created opens the session; later ones are injected.
    let injected_resets = stats.session_resets.saturating_sub(1);
    println!(
        "faults survived:  {} salt change(s) (bad_server_salt), {injected_resets} new session(s)",
        stats.salt_changes
    );
    let mut ok = true;
    if let Err(e) = result {
        println!("driver error: {e}");
        ok = false;
    }
    if !stats.failures.is_empty() {
        println!("failures: {:?}", &stats.failures[..stats.failures.len().min(10)]);
        ok = false;
    }
    if rtts.len() as u64 != total {
        println!("only {} of {total} requests answered", rtts.len());
        ok = false;
    }
    if twice > 0 || executed.len() as u64 != total {
        println!("the server did not execute every request exactly once");
        ok = false;
    }
    if total >= 1000 && wire.links_resumed < 12 {
        println!("fewer than 12 links were cut and resumed");
        ok = false;
    }
    if total >= 1000 && (stats.salt_changes < 1 || injected_resets < 1) {
        println!("the injected bad_server_salt and new session were not both seen");
        ok = false;
    }
    println!("{}", if ok { "every request got its answer: OK" } else { "FAILED" });
    std::process::exit(if ok { 0 } else { 1 });
}
