//! Deterministic simulation: a [`ClientConnection`] and a [`ServerConnection`] wired
//! together in memory under a virtual clock and a seeded, faulty network.
//!
//! Every run is a pure function of its seed, [`Faults`] and transport; a
//! failing seed prints itself so it can be replayed with `SIM_SEED=<seed>`.
//!
//! By default both ends are unframed: each transmit is one packet, fed to
//! the peer with `Input::Packet`. [`Sim::with_transport`] runs a stream
//! transport instead (abridged, intermediate, padded, full, obfuscated2,
//! fake-TLS): transmits are bytes fed with `Input::Bytes`, a cut falls at
//! any byte (mid-frame, in either direction), and every new link gets a
//! fresh transport on both ends (the client's Connection makes one when
//! the link is lost, the server side is a new `ServerConnection`). A stream
//! is TCP-like: drop, duplicate, reorder and corrupt break it (the link is
//! then lost), so stream runs use cuts (and lag) only.

pub mod fuzzing;
pub mod heap;
pub mod peer;

use core::time::Duration;
use mtproto_core::connection::{ClientConnection, ClientOptions, ServerConnection, ServerOptions};
use mtproto_core::connection::{Delivery, MemorySessionStore, Persisted, SendOptions, SessionStore, Transporting};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::transport::TransportKind;
use mtproto_core::transport::fake_tls::{FakeTlsConfig, ReplayCache};
use mtproto_core::{ClientEvent, Input, Output, RequestHandle, ServerEvent};
use mtproto_crypto::rsa::RsaPrivateKey;
use mtproto_crypto::{AuthKey, Entropy, SeededEntropy};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

/// The server's RSA key, generated once per process from a fixed seed.
pub fn server_rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::generate(&mut SeededEntropy::new(2024)).expect("keygen"))
}

/// A fixed auth key both sides know, for runs that skip the handshake.
pub fn shared_key() -> AuthKey {
    AuthKey::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(151).wrapping_add(7)))
}

/// Which faults a run injects, each as a probability in percent per packet or per step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Drop a packet.
    pub drop: u8,
    /// Deliver a packet twice.
    pub duplicate: u8,
    /// Deliver a packet after the next one.
    pub reorder: u8,
    /// Flip a byte of a packet.
    pub corrupt: u8,
    /// Client clock offset from the server's, in seconds.
    pub skew_secs: i64,
    /// Per step: the server rotates its salt.
    pub rotate_salt: u8,
    /// Per step: the server forgets the session (new_session_created follows).
    pub new_session: u8,
    /// Per step: the server answers the next message with a bad_msg code.
    pub bad_msg: u8,
    /// Per step: the link is cut (in either direction, at any byte of a
    /// packet in flight): both ends keep their sessions, the server's in its
    /// session store, and the client attaches a new link after a delay.
    pub link_cut: u8,
    /// Per cut: the old link's server side lags (as a loaded server thread
    /// does): it still holds the bytes the client sent before the cut and
    /// processes them only after the new link has been served for a while,
    /// then sees EOF.
    pub lag: u8,
}

/// What a run observed.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Requests sent.
    pub sent: usize,
    /// Requests answered with the right echo.
    pub answered: usize,
    /// Requests that failed with a typed local error.
    pub failed: usize,
    /// Requests answered with an rpc_error.
    pub rpc_errors: usize,
    /// Packets carried by the network.
    pub packets: usize,
    /// Bytes carried.
    pub bytes: usize,
    /// Sessions the server saw.
    pub sessions: usize,
    /// Steps simulated.
    pub steps: usize,
    /// Connections re-established after one side closed.
    pub reconnects: usize,
    /// Links cut and resumed (the sessions continued).
    pub links_resumed: usize,
}

/// The bad_msg codes the server can be told to send.
pub const BAD_MSG_CODES: [i32; 11] = [16, 17, 18, 19, 20, 32, 33, 34, 35, 48, 64];

/// An old link's server side still running after the client moved on: the
/// bytes that reached it before the cut, processed at `release_at`.
struct LaggingLink {
    conn: ServerConnection,
    pending: VecDeque<Vec<u8>>,
    release_at: Duration,
}

struct Server {
    conn: ServerConnection,
    /// Sessions the server started (new_session_created), as seen by the client.
    epoch: u64,
    executed: HashMap<u64, HashSet<u64>>,
    /// Requests executed in any session of the key, over the whole run.
    executed_ever: HashSet<u64>,
    /// Where the server's sessions live between links.
    store: Arc<MemorySessionStore>,
    /// Old links still processing what they received (see [`Faults::lag`]).
    lagging: Vec<LaggingLink>,
    /// Requests a client reported as never delivered ([`Delivery::NotSent`]):
    /// the server must never execute them.
    not_sent: HashSet<u64>,
}

/// One simulation.
pub struct Sim {
    /// The client.
    pub client: ClientConnection,
    server: Server,
    now: Duration,
    faults: Faults,
    rng: SeededEntropy,
    to_server: VecDeque<(Duration, Vec<u8>)>,
    to_client: VecDeque<(Duration, Vec<u8>)>,
    resolved: HashMap<(usize, RequestHandle), u32>,
    expected: HashMap<(usize, RequestHandle), u64>,
    last_client_msg_id: i64,
    /// What was observed.
    pub report: Report,
    ready: bool,
    closed: bool,
    keys: Arc<Mutex<HashMap<i64, AuthKey>>>,
    persisted: Option<Persisted>,
    handshake: bool,
    /// When the client attaches its next link (after a cut).
    reattach_at: Option<Duration>,
    /// The client reported a lost link: cut it at the next step.
    cut_pending: bool,
    /// The client's framing ([`Transporting::Unframed`] by default).
    client_transport: Transporting,
    /// The server's framing, derived from the client's.
    server_transport: Transporting,
}

/// The framing a server needs for a client that uses `client`: unframed
/// for unframed; otherwise one that detects the client's framing (with the
/// client's MTProxy secret, if any); for fake-TLS the same key and domain,
/// fake-TLS clients only, a replay cache of its own shared by every link.
fn server_transport_for(client: &Transporting) -> Transporting {
    match client {
        Transporting::Unframed => Transporting::Unframed,
        Transporting::Framed(_, obf) => Transporting::Framed(TransportKind::Intermediate, *obf),
        Transporting::FakeTls(c) => {
            let mut server = FakeTlsConfig::new(*c.key(), c.domain(), c.dc_id);
            server.secret_only = true;
            server.replay = ReplayCache::new(4096);
            Transporting::FakeTls(server)
        }
    }
}

fn base_time() -> Duration {
    Duration::from_secs(1_780_000_000)
}

impl Sim {
    /// A run from `seed`; `handshake` chooses a real DH handshake over a
    /// pre-shared key. Both ends unframed.
    pub fn new(seed: u64, faults: Faults, handshake: bool) -> Self {
        Self::with_transport(seed, faults, handshake, Transporting::Unframed)
    }

    /// A run whose client uses `transport` (the server gets what serves
    /// it: see the [crate docs](crate)). With a stream transport, use cuts
    /// and lag only (see [`Faults`]).
    pub fn with_transport(seed: u64, faults: Faults, handshake: bool, transport: Transporting) -> Self {
        let rng = SeededEntropy::new(seed);
        let keys = Arc::new(Mutex::new(HashMap::new()));
        let shared = shared_key();
        if let Ok(mut k) = keys.lock() {
            k.insert(shared.id(), shared.clone());
        }
        let persisted = (!handshake).then(|| Persisted::new(shared, 0, 0));
        let now = base_time();
        let placeholder =
            ServerConnection::with_entropy(ServerOptions::default(), now, Box::new(SeededEntropy::new(0)));
        let client = ClientConnection::with_entropy(ClientOptions::default(), now, Box::new(SeededEntropy::new(0)));
        let mut sim = Self {
            client,
            server: Server {
                conn: placeholder,
                epoch: 0,
                executed: HashMap::new(),
                executed_ever: HashSet::new(),
                store: Arc::new(MemorySessionStore::new(64)),
                lagging: Vec::new(),
                not_sent: HashSet::new(),
            },
            now,
            faults,
            rng,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            resolved: HashMap::new(),
            expected: HashMap::new(),
            last_client_msg_id: 0,
            report: Report::default(),
            ready: false,
            closed: false,
            keys,
            persisted,
            handshake,
            reattach_at: None,
            cut_pending: false,
            server_transport: server_transport_for(&transport),
            client_transport: transport,
        };
        sim.connect();
        sim
    }

    /// (Re)creates both ends: a client that resumes a saved key when it has
    /// one and shakes hands otherwise, and a server that knows every key so far.
    fn server_config(&self) -> ServerOptions {
        let key = server_rsa_key();
        let keys = Arc::clone(&self.keys);
        let mut server_cfg = ServerOptions::new(ServerConfig::new(vec![key.clone()]).expect("server config"));
        server_cfg.session.transport = self.server_transport.clone();
        server_cfg.key_lookup = Some(Arc::new(move |id| keys.lock().ok().and_then(|k| k.get(&id).cloned())));
        let store: Arc<dyn SessionStore> = self.server.store.clone();
        server_cfg.session_store = store;
        server_cfg
    }

    /// Cuts the link: what is in flight is lost (a packet may arrive cut
    /// short first), the server Connection saves its sessions and ends, a
    /// new one (same store) serves the next link; the client keeps its
    /// Connection and attaches a new link after a delay.
    fn cut_link_now(&mut self) -> Result<(), String> {
        let now = self.now;
        let reattach_at = now + Duration::from_millis(50 + self.rng.next_u64() % 500);
        let cfg = self.server_config();
        let fresh = ServerConnection::with_entropy(cfg, now, Box::new(SeededEntropy::new(self.rng.next_u64())));
        let old = core::mem::replace(&mut self.server.conn, fresh);
        if self.chance(self.faults.lag) {
            // Everything the client wrote before the cut reaches the old
            // link (the last packet cut short), which processes it only
            // after the new link has been served for a while.
            let mut pending: VecDeque<Vec<u8>> = self.to_server.drain(..).map(|(_, p)| p).collect();
            if let Some(last) = pending.back_mut() {
                let cut = (self.rng.next_u64() % last.len().max(1) as u64) as usize;
                last.truncate(cut);
            }
            let release_at = reattach_at + Duration::from_millis(self.rng.next_u64() % 1500);
            if std::env::var_os("SIM_DEBUG").is_some() {
                eprintln!("{now:?} cut: old link lags with {} packets until {release_at:?}", pending.len());
            }
            self.server.lagging.push(LaggingLink { conn: old, pending, release_at });
        } else {
            // A packet cut mid-frame: its first bytes reach the old server link.
            if std::env::var_os("SIM_DEBUG").is_some() {
                eprintln!("{now:?} cut: old link ends");
            }
            let mut old = old;
            if let Some((_, p)) = self.to_server.pop_front() {
                let cut = (self.rng.next_u64() % p.len().max(1) as u64) as usize;
                let mut part = p[..cut].to_vec();
                Self::feed(&mut old, self.is_stream(), &mut part, now);
            }
            self.end_old_link(old)?;
        }
        if self.is_stream()
            && let Some((_, p)) = self.to_client.pop_front()
        {
            // The other direction: the client's transport gets the first
            // bytes of what the server wrote, cut at any byte.
            let cut = (self.rng.next_u64() % p.len().max(1) as u64) as usize;
            let mut part = p[..cut].to_vec();
            if !self.client.is_detached() {
                let cnow = self.client_now();
                Self::feed(&mut self.client, true, &mut part, cnow);
                self.drain_client_events()?;
            }
        }
        self.to_server.clear();
        self.to_client.clear();
        if !self.client.is_detached() {
            let cnow = self.client_now();
            self.client.handle_input(Input::LinkLost, cnow);
        }
        self.reattach_at = Some(reattach_at);
        self.report.links_resumed += 1;
        self.drain()
    }

    /// The client's outputs while its link is being cut: events are
    /// handled (answers that arrived whole before the cut count), bytes go
    /// nowhere, and a loss it notices itself is this cut.
    fn drain_client_events(&mut self) -> Result<(), String> {
        let cnow = self.client_now();
        loop {
            match self.client.poll_output(cnow) {
                Output::Transmit(_) | Output::Event(ClientEvent::LinkLost { .. }) => {}
                Output::Event(ev) => self.client_event(ev)?,
                Output::Timeout(_) => return Ok(()),
            }
        }
    }

    /// An old link's server side sees EOF: it saves its sessions and ends;
    /// what it still sends goes nowhere, but the requests it runs are
    /// executed (and checked) like any other.
    fn end_old_link(&mut self, mut old: ServerConnection) -> Result<(), String> {
        let now = self.now;
        old.handle_input(Input::LinkLost, now);
        self.drain_old_link(&mut old)
    }

    fn drain_old_link(&mut self, old: &mut ServerConnection) -> Result<(), String> {
        let now = self.now;
        loop {
            match old.poll_output(now) {
                Output::Transmit(_) => {}
                Output::Event(ev) => self.server_event(ev, Some(&mut *old))?,
                Output::Timeout(_) => return Ok(()),
            }
        }
    }

    /// Lagging old links whose time has come process what they hold, then end.
    fn release_lagging(&mut self) -> Result<(), String> {
        let now = self.now;
        let mut i = 0;
        while i < self.server.lagging.len() {
            if self.server.lagging[i].release_at > now {
                i += 1;
                continue;
            }
            let LaggingLink { mut conn, pending, .. } = self.server.lagging.swap_remove(i);
            for mut p in pending {
                Self::feed(&mut conn, self.is_stream(), &mut p, now);
                self.drain_old_link(&mut conn)?;
            }
            self.end_old_link(conn)?;
        }
        Ok(())
    }

    fn connect(&mut self) {
        let server_cfg = self.server_config();
        let key = server_rsa_key();
        let mut client_cfg = ClientOptions::new(ClientConfig::new(vec![key.public_key().clone()], 2));
        client_cfg.session.transport = self.client_transport.clone();
        client_cfg.request_timeout = Duration::from_secs(20);
        client_cfg.ping_interval = Some(Duration::from_secs(30));
        client_cfg.resume = self.persisted.clone();
        let cnow = self.client_now();
        self.client =
            ClientConnection::with_entropy(client_cfg, cnow, Box::new(SeededEntropy::new(self.rng.next_u64())));
        self.server.conn =
            ServerConnection::with_entropy(server_cfg, self.now, Box::new(SeededEntropy::new(self.rng.next_u64())));
        self.server.epoch += 1;
        self.to_server.clear();
        self.to_client.clear();
        self.closed = false;
        self.ready = false;
        self.last_client_msg_id = 0;
    }

    /// Whether transmits are byte streams (not one packet each).
    fn is_stream(&self) -> bool {
        !matches!(self.client_transport, Transporting::Unframed)
    }

    /// Feeds what the network carried: bytes of the stream, or one packet.
    fn feed<C: mtproto_core::Endpoint>(conn: &mut C, stream: bool, data: &mut [u8], now: Duration) {
        if stream {
            conn.handle_input(Input::Bytes(data), now);
        } else {
            conn.handle_input(Input::Packet(data), now);
        }
    }

    fn skewed(now: Duration, skew: i64) -> Duration {
        if skew >= 0 {
            now + Duration::from_secs(skew as u64)
        } else {
            now.saturating_sub(Duration::from_secs((-skew) as u64))
        }
    }

    fn client_now(&self) -> Duration {
        Self::skewed(self.now, self.faults.skew_secs)
    }

    fn chance(&mut self, percent: u8) -> bool {
        percent > 0 && (self.rng.next_u64() % 100) < percent as u64
    }

    /// Queues a request whose body carries `id`; the server echoes it.
    pub fn send_request(&mut self, id: u64, size: usize) -> RequestHandle {
        let mut body = Vec::with_capacity(size.max(12));
        body.extend_from_slice(&0x7e57_0001u32.to_le_bytes());
        body.extend_from_slice(&id.to_le_bytes());
        while body.len() < size {
            body.push((body.len() % 7) as u8);
        }
        body.truncate(body.len() / 4 * 4);
        let h = self.client.send(body, SendOptions::default());
        self.expected.insert((self.report.reconnects, h), id);
        self.report.sent += 1;
        h
    }

    fn deliver(&mut self, to_server: bool, mut packet: Vec<u8>) -> Result<(), String> {
        self.report.packets += 1;
        self.report.bytes += packet.len();
        if to_server {
            // Observe client msg_ids for the monotonicity invariant (decrypting is
            // the server's job; msg_ids are checked on what the server accepts).
            let (now, stream) = (self.now, self.is_stream());
            Self::feed(&mut self.server.conn, stream, &mut packet, now);
        } else {
            let (now, stream) = (self.client_now(), self.is_stream());
            Self::feed(&mut self.client, stream, &mut packet, now);
        }
        Ok(())
    }

    fn network(&mut self, to_server: bool, packet: Vec<u8>) {
        if self.reattach_at.is_some() {
            // No link: the bytes go nowhere.
            return;
        }
        let f = self.faults;
        if self.chance(f.drop) {
            return;
        }
        let mut packet = packet;
        if self.chance(f.corrupt) && !packet.is_empty() {
            let i = (self.rng.next_u64() % packet.len() as u64) as usize;
            packet[i] ^= 0x20;
        }
        let delay = Duration::from_millis(5 + self.rng.next_u64() % 20);
        let q = if to_server { &mut self.to_server } else { &mut self.to_client };
        let at = self.now + delay;
        if self.rng.next_u64() % 100 < f.duplicate as u64 {
            q.push_back((at, packet.clone()));
        }
        if self.rng.next_u64() % 100 < f.reorder as u64 && !q.is_empty() {
            let len = q.len();
            q.insert(len - 1, (at, packet));
        } else {
            q.push_back((at, packet));
        }
    }

    fn drain(&mut self) -> Result<(), String> {
        loop {
            let mut progressed = false;
            let cnow = self.client_now();
            loop {
                match self.client.poll_output(cnow) {
                    Output::Transmit(p) => {
                        progressed = true;
                        self.network(true, p);
                    }
                    Output::Event(ev) => {
                        progressed = true;
                        self.client_event(ev)?;
                    }
                    Output::Timeout(_) => break,
                }
            }
            let now = self.now;
            loop {
                match self.server.conn.poll_output(now) {
                    Output::Transmit(p) => {
                        progressed = true;
                        self.network(false, p);
                    }
                    Output::Event(ev) => {
                        progressed = true;
                        self.server_event(ev, None)?;
                    }
                    Output::Timeout(_) => break,
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    fn client_event(&mut self, ev: ClientEvent) -> Result<(), String> {
        if std::env::var_os("SIM_DEBUG").is_some() {
            eprintln!("{:?} client {:?}", self.now, format!("{ev:?}").chars().take(120).collect::<String>());
        }
        match ev {
            ClientEvent::Ready { auth_key, salt, time_offset } => {
                self.ready = true;
                self.persisted = Some(Persisted::new(*auth_key, salt, time_offset));
            }
            ClientEvent::RpcResult { handle, body } => {
                self.resolve(handle)?;
                let id = self
                    .expected
                    .get(&(self.report.reconnects, handle))
                    .copied()
                    .ok_or("result for an unknown handle")?;
                if body.get(4..12) != Some(&id.to_le_bytes()[..]) {
                    return Err(format!("handle {handle:?} got the answer of another request"));
                }
                self.report.answered += 1;
            }
            ClientEvent::RpcError { handle, .. } => {
                self.resolve(handle)?;
                self.report.rpc_errors += 1;
            }
            ClientEvent::RequestFailed { handle, error } => {
                self.resolve(handle)?;
                self.report.failed += 1;
                // "Not sent" is a promise: the server never ran it, and never will.
                if error.delivery() == Delivery::NotSent
                    && let Some(id) = self.expected.get(&(self.report.reconnects, handle)).copied()
                {
                    if self.server.executed_ever.contains(&id) {
                        return Err(format!("request {id} reported {error} but the server executed it"));
                    }
                    self.server.not_sent.insert(id);
                }
            }
            ClientEvent::Closed { .. } => self.closed = true,
            // The client noticed (pong timeout, transport error): the driver
            // drops the socket; the server side goes too.
            ClientEvent::LinkLost { .. } if self.reattach_at.is_none() => self.cut_pending = true,
            _ => {}
        }
        Ok(())
    }

    fn resolve(&mut self, handle: RequestHandle) -> Result<(), String> {
        let n = self.resolved.entry((self.report.reconnects, handle)).or_insert(0);
        *n += 1;
        if *n > 1 {
            return Err(format!("handle {handle:?} resolved twice"));
        }
        Ok(())
    }

    /// A server event, from the current link (`old` None) or an old one
    /// still running (answers go back on the link that ran the request).
    fn server_event(&mut self, ev: ServerEvent, old: Option<&mut ServerConnection>) -> Result<(), String> {
        if std::env::var_os("SIM_DEBUG").is_some() {
            eprintln!("{:?} server{} {ev:?}", self.now, if old.is_some() { " (old link)" } else { "" });
        }
        let on_current_link = old.is_none();
        let conn = match old {
            Some(c) => c,
            None => &mut self.server.conn,
        };
        match ev {
            ServerEvent::NewSession { .. } => {
                self.server.epoch += 1;
                self.report.sessions += 1;
                self.last_client_msg_id = 0;
            }
            ServerEvent::Request { req_msg_id, body } => {
                // Within one session, client msg_ids strictly increase (checked
                // where the network keeps the order, on one link).
                if on_current_link && self.faults.reorder == 0 && self.server.lagging.is_empty() {
                    if req_msg_id <= self.last_client_msg_id {
                        return Err(format!(
                            "client msg_id {req_msg_id:#x} not above {:#x} in one session",
                            self.last_client_msg_id
                        ));
                    }
                    self.last_client_msg_id = req_msg_id;
                }
                let epoch = self.server.epoch;
                if body.len() >= 12 {
                    let id = u64::from_le_bytes(body[4..12].try_into().map_err(|_| "short body")?);
                    if !self.server.executed.entry(epoch).or_default().insert(id) {
                        return Err(format!("request {id} executed twice in server session {epoch}"));
                    }
                    // Across all sessions of the key and every link, whatever
                    // the faults (forgotten sessions included): at most once.
                    if !self.server.executed_ever.insert(id) {
                        return Err(format!("request {id} executed twice across the sessions of the key"));
                    }
                    if self.server.not_sent.contains(&id) {
                        return Err(format!("request {id} executed after the client was told it was not sent"));
                    }
                }
                conn.respond(req_msg_id, &body);
            }
            // The server ended the link (idle, handshake deadline, a frame
            // left incomplete): the client sees EOF, keeps its session and
            // connects again.
            ServerEvent::Closed { .. } if on_current_link && self.reattach_at.is_none() => self.cut_pending = true,
            ServerEvent::Ready { auth_key, .. } => {
                if let Ok(mut k) = self.keys.lock() {
                    k.insert(auth_key.id(), *auth_key);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Advances the virtual clock by `dt`, delivering due packets and firing timers.
    pub fn step(&mut self, dt: Duration) -> Result<(), String> {
        self.report.steps += 1;
        if self.closed {
            // Both ends close their side; requests pending on the client have
            // already failed with typed errors. Reconnect with the saved key.
            self.server.conn.close();
            self.client.close();
            self.drain()?;
            self.report.reconnects += 1;
            if self.report.reconnects > 100 {
                return Err("more than 100 reconnects".into());
            }
            self.connect();
        }
        let f = self.faults;
        if self.cut_pending || (self.ready && self.reattach_at.is_none() && self.chance(f.link_cut)) {
            self.cut_pending = false;
            self.cut_link_now()?;
        }
        self.release_lagging()?;
        if self.reattach_at.is_some_and(|t| self.now >= t) {
            self.reattach_at = None;
            let cnow = self.client_now();
            self.client.attach_link(cnow);
        }
        if self.ready {
            if self.chance(f.rotate_salt) {
                let now = self.now;
                self.server.conn.rotate_salt(now);
            }
            if self.chance(f.new_session) {
                self.server.conn.forget_session();
            }
            if self.chance(f.bad_msg) {
                let code = BAD_MSG_CODES[(self.rng.next_u64() % BAD_MSG_CODES.len() as u64) as usize];
                self.server.conn.inject_bad_msg(code);
            }
        }
        self.now += dt;
        let cnow = self.client_now();
        let now = self.now;
        self.client.handle_input(Input::Timeout, cnow);
        self.server.conn.handle_input(Input::Timeout, now);
        self.drain()?;
        for _ in 0..10_000 {
            let next_s = self.to_server.front().map(|p| p.0);
            let next_c = self.to_client.front().map(|p| p.0);
            let due_s = next_s.is_some_and(|t| t <= self.now);
            let due_c = next_c.is_some_and(|t| t <= self.now);
            if !due_s && !due_c {
                break;
            }
            if due_s && let Some((_, p)) = self.to_server.pop_front() {
                self.deliver(true, p)?;
            }
            if due_c && let Some((_, p)) = self.to_client.pop_front() {
                self.deliver(false, p)?;
            }
            self.drain()?;
        }
        Ok(())
    }

    /// Cuts the link at the next step (the client reconnects after a delay
    /// and continues its session).
    pub fn cut_link(&mut self) {
        self.cut_pending = true;
    }

    /// Makes the server forget the client's session (new_session_created
    /// follows). Exactly-once still holds across sessions: what the
    /// forgotten session may have run fails with a typed error instead of
    /// running again.
    pub fn forget_session(&mut self) {
        self.server.conn.forget_session();
    }

    /// The server connection (for fault injection in tests).
    pub fn server_mut(&mut self) -> &mut ServerConnection {
        &mut self.server.conn
    }

    /// Cancels a request; its handle resolves with a typed failure.
    pub fn cancel(&mut self, handle: RequestHandle) {
        self.client.cancel(handle);
    }

    /// Whether the run used a real handshake first.
    pub fn used_handshake(&self) -> bool {
        self.handshake
    }

    /// Whether the client finished its handshake.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Checks the end-of-run invariants: every handle resolved exactly once,
    /// nothing left pending, memory bounded.
    pub fn finish(&mut self) -> Result<Report, String> {
        for _ in 0..200 {
            let settled = self.reattach_at.is_none()
                && !self.cut_pending
                && self.server.lagging.is_empty()
                && self.client.stats().queued == 0;
            if self.client.pending_requests() == 0 && settled {
                break;
            }
            self.step(Duration::from_millis(500))?;
        }
        let unresolved: Vec<_> = self.expected.keys().filter(|h| !self.resolved.contains_key(h)).collect();
        if !unresolved.is_empty() {
            return Err(format!(
                "{} handles never resolved (pending {}): {:?}",
                unresolved.len(),
                self.client.pending_requests(),
                self.client.debug_state()
            ));
        }
        if self.client.pending_requests() != 0 {
            return Err("requests still pending".into());
        }
        // Memory stays bounded: nothing left over on either side beyond the
        // fixed-size windows.
        for (side, stats) in [("client", self.client.stats()), ("server", self.server.conn.stats())] {
            if stats.queued > 0
                || stats.open_requests > 0
                || stats.awaiting_ack_or_answer > 4096
                || stats.containers_remembered > 4096
                || stats.replay_window > 2048
            {
                return Err(format!("{side} state not bounded: {stats:?}"));
            }
        }
        Ok(self.report.clone())
    }
}

/// Runs one seeded scenario: handshake or resume, `requests` echo requests
/// of mixed sizes under `faults`, then the invariants.
pub fn run_seed(seed: u64, faults: Faults, handshake: bool, requests: u64) -> Result<Report, String> {
    run_sim(Sim::new(seed, faults, handshake), seed, requests)
}

fn run_sim(mut sim: Sim, seed: u64, requests: u64) -> Result<Report, String> {
    let mut steps = 0;
    while !sim.is_ready() {
        sim.step(Duration::from_millis(50))?;
        steps += 1;
        if steps > 2000 {
            return Err("handshake never completed".into());
        }
    }
    let mut sizes = SeededEntropy::new(seed ^ 0x5eed);
    let mut sent = 0;
    let mut by_step: BTreeMap<u64, u64> = BTreeMap::new();
    while sent < requests {
        let burst = 1 + sizes.next_u64() % 8;
        for _ in 0..burst.min(requests - sent) {
            let size = match sizes.next_u64() % 10 {
                0 => 2000 + (sizes.next_u64() % 3000) as usize,
                _ => 16 + (sizes.next_u64() % 200) as usize,
            };
            sim.send_request(sent, size);
            sent += 1;
        }
        *by_step.entry(sent).or_default() += 1;
        sim.step(Duration::from_millis(10 + sizes.next_u64() % 200))?;
    }
    sim.finish()
}

/// [`run_seed`] with the client on `transport` (see [`Sim::with_transport`]).
pub fn run_seed_with(
    seed: u64,
    faults: Faults,
    handshake: bool,
    requests: u64,
    transport: Transporting,
) -> Result<Report, String> {
    run_sim(Sim::with_transport(seed, faults, handshake, transport), seed, requests)
}
