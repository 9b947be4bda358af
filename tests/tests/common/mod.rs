//! Our server on a loopback port, run by the std driver example, for the
//! integration tests: a thread per connection, a cap on concurrent ones, and a
//! registry of keys created by handshakes (so clients can reconnect with them).
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../crates/mtproto-core/examples/common/std_driver.rs"]
pub mod std_driver;

pub mod server_process;

use mtproto_core::ServerEvent;
use mtproto_core::connection::{MemorySessionStore, ServerConnection, ServerOptions, SessionStore};
use mtproto_core::handshake::ServerConfig;
use mtproto_crypto::AuthKey;
use mtproto_tests::server_rsa_key;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std_driver::{Flow, Wire, drive, now};

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Connections currently open.
    pub active: Arc<AtomicUsize>,
    /// Connections refused by the cap.
    pub refused: Arc<AtomicUsize>,
    /// bad_server_salt notifications sent, over all connections that ended.
    pub bad_salts: Arc<AtomicUsize>,
    /// New client sessions started (new_session_created sent).
    pub new_sessions: Arc<AtomicUsize>,
    /// Links the server cut on purpose.
    pub cuts: Arc<AtomicUsize>,
}

/// How a test server behaves beyond its configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep sessions and salts between links (a `MemorySessionStore`).
    pub session_store: bool,
    /// Cut the first authenticated link once it has been up this long
    /// (the client sees EOF and reconnects).
    pub cut_once_after: Option<Duration>,
}

/// Starts a server; `tune` adjusts each connection's configuration.
pub fn start(cap: usize, tune: fn(&mut ServerOptions)) -> TestServer {
    start_with(cap, tune, Options::default())
}

/// Starts a server with `options`.
pub fn start_with(cap: usize, tune: fn(&mut ServerOptions), options: Options) -> TestServer {
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(10_000));
    let bad_salts = Arc::new(AtomicUsize::new(0));
    let new_sessions = Arc::new(AtomicUsize::new(0));
    let cuts = Arc::new(AtomicUsize::new(0));
    let (bad_salts2, new_sessions2, cuts2) = (Arc::clone(&bad_salts), Arc::clone(&new_sessions), Arc::clone(&cuts));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let keys: Arc<Mutex<HashMap<i64, AuthKey>>> = Arc::default();
    let active = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let config = ServerConfig::new(vec![server_rsa_key().clone()]).unwrap();
    let (active2, refused2) = (Arc::clone(&active), Arc::clone(&refused));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if active2.load(Ordering::SeqCst) >= cap {
                refused2.fetch_add(1, Ordering::SeqCst);
                drop(stream);
                continue;
            }
            active2.fetch_add(1, Ordering::SeqCst);
            let keys = Arc::clone(&keys);
            let lookup_keys = Arc::clone(&keys);
            let mut cfg = ServerOptions::new(config.clone());
            cfg.key_lookup = Some(Arc::new(move |id| lookup_keys.lock().ok()?.get(&id).cloned()));
            if options.session_store {
                cfg.session_store = Arc::clone(&store);
            }
            tune(&mut cfg);
            let active = Arc::clone(&active2);
            let (bad_salts, new_sessions, cuts) =
                (Arc::clone(&bad_salts2), Arc::clone(&new_sessions2), Arc::clone(&cuts2));
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut conn = ServerConnection::new(cfg, now()).unwrap();
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
                    let mut ready_at = None;
                    let _ = drive(
                        &mut conn,
                        &mut stream,
                        &mut Wire::default(),
                        |conn, ev| {
                            match ev {
                                ServerEvent::Ready { auth_key, .. } => {
                                    keys.lock().unwrap().insert(auth_key.id(), *auth_key);
                                }
                                ServerEvent::Request { req_msg_id, body } => conn.respond(req_msg_id, &body),
                                ServerEvent::NewSession { .. } => {
                                    new_sessions.fetch_add(1, Ordering::SeqCst);
                                }
                                _ => {}
                            }
                            Flow::Continue
                        },
                        |conn| {
                            let Some(after) = options.cut_once_after else { return Flow::Continue };
                            if !conn.is_ready() {
                                return Flow::Continue;
                            }
                            let up = *ready_at.get_or_insert_with(std::time::Instant::now);
                            if up.elapsed() >= after
                                && cuts.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_ok()
                            {
                                return Flow::Stop;
                            }
                            Flow::Continue
                        },
                    );
                    // However the link ended, the sessions go to the store.
                    conn.handle_input(mtproto_core::Input::LinkLost, now());
                    bad_salts.fetch_add(conn.stats().bad_salts_sent as usize, Ordering::SeqCst);
                    active.fetch_sub(1, Ordering::SeqCst);
                })
                .unwrap();
        }
    });
    TestServer { addr, active, refused, bad_salts, new_sessions, cuts }
}

/// The workspace root.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The interop venv's python (Telethon and pyrofork), or `None` when
/// MTPROTO_SKIP_INTEROP is set. Runs scripts/setup-interop.sh first, which
/// installs the venv on first use and again when the pins changed (and is a
/// no-op otherwise).
pub fn interop_python() -> Option<std::path::PathBuf> {
    if std::env::var_os("MTPROTO_SKIP_INTEROP").is_some() {
        eprintln!("MTPROTO_SKIP_INTEROP set: Python interop skipped");
        return None;
    }
    // One installer at a time: tests run in parallel.
    static SETUP: Mutex<()> = Mutex::new(());
    let _one = SETUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = workspace_root();
    let ok = std::process::Command::new("bash").arg(root.join("scripts/setup-interop.sh")).status().unwrap().success();
    assert!(ok, "could not install the interop venv (tests/interop/requirements.txt) into target/interop-venv");
    Some(root.join("target/interop-venv/bin/python"))
}
