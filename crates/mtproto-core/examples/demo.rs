//! The main job: our server on 127.0.0.1 with a freshly generated RSA key,
//! our client over TCP, a real handshake, a few thousand encrypted RPCs
//! (some large enough to be gzipped, many packed into containers), one
//! injected bad_server_salt and one new session, a dozen TCP connections
//! cut at random points (mid-frame) with the session continuing on the next
//! one, and a report. Every request must be answered, and executed by the
//! server, exactly once.
//!
//! The new session: two thirds in, the client lets its requests drain and
//! sends a marker; the server answers it and forgets the session, as a
//! server forgets an idle one (a session forgotten with requests in flight
//! loses what it ran: those fail with `RequestError::SessionLost`, which
//! the simulation checks, since no exactly-once answer is possible then).
//! `MTPROTO_TRACE=debug` with `--features tracing` prints the library's traces.
//!
//! `cargo run --release -p mtproto-core --example demo [-- REQUESTS]`
//! Exits non-zero if anything failed.
#![allow(missing_docs)]

#[path = "common/std_driver.rs"]
mod std_driver;
#[path = "common/trace_init.rs"]
mod trace_init;

use mtproto_core::connection::{ClientConnection, ClientOptions, ServerConnection, ServerOptions};
use mtproto_core::connection::{MemorySessionStore, SendOptions, SessionStore, Transporting};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::transport::{Obfuscation, TransportKind};
use mtproto_core::{Event, RequestHandle};
use mtproto_crypto::rsa::RsaPrivateKey;
use mtproto_crypto::{AuthKey, Entropy, OsEntropy};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use std_driver::{Flow, Wire, drive, drive_reconnecting, now};

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

fn serve(listener: TcpListener, key: RsaPrivateKey, served: Arc<AtomicU64>, total: u64, executed: Executions) {
    let config = ServerConfig::new(vec![key]).expect("server config");
    // Keys made by handshakes (so a new link can use them) and the sessions
    // between links: shared by every connection's thread.
    let keys: Arc<Mutex<HashMap<i64, AuthKey>>> = Arc::default();
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(10_000));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let config = config.clone();
        let served = Arc::clone(&served);
        let executed = Arc::clone(&executed);
        let (keys, lookup_keys, store) = (Arc::clone(&keys), Arc::clone(&keys), Arc::clone(&store));
        std::thread::spawn(move || {
            let mut cfg = ServerOptions::new(config);
            cfg.session.transport = Transporting::Framed(TransportKind::Intermediate, None);
            cfg.key_lookup = Some(Arc::new(move |id| lookup_keys.lock().ok()?.get(&id).cloned()));
            cfg.session_store = store;
            let Ok(mut conn) = ServerConnection::new(cfg, now()) else { return };
            let mut wire = Wire::default();
            // When the link ends, `drive` feeds Input::LinkLost: the
            // Connection saves its sessions into the store.
            let _ = drive(
                &mut conn,
                &mut stream,
                &mut wire,
                |conn, ev| {
                    if let Event::Ready { auth_key, .. } = &ev
                        && let Ok(mut k) = keys.lock()
                    {
                        k.insert(auth_key.id(), (**auth_key).clone());
                    }
                    if let Event::Request { req_msg_id, body } = ev {
                        let n = body.get(4..12).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
                        conn.respond(req_msg_id, &answer(&body));
                        if n == FORGET_MARKER {
                            // The client has nothing else in flight: the
                            // session is forgotten (its next message starts
                            // a new one, announced by new_session_created).
                            conn.forget_session();
                            return Flow::Continue;
                        }
                        if let Ok(mut e) = executed.lock() {
                            *e.entry(n).or_default() += 1;
                        }
                        // Fault injection: a third of the way in, the client's
                        // next message meets a new salt.
                        if served.fetch_add(1, Ordering::Relaxed) + 1 == total / 3 {
                            conn.rotate_salt(now());
                        }
                    }
                    Flow::Continue
                },
                |_| Flow::Continue,
            );
        });
    }
}

struct Stats {
    rtts: Vec<Duration>,
    salt_changes: u32,
    session_resets: u32,
    failures: Vec<String>,
}

fn main() {
    trace_init::init();
    let total: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3000);
    let started = Instant::now();
    let mut entropy = OsEntropy::new().expect("OS entropy");
    let key = RsaPrivateKey::generate(&mut entropy).expect("RSA key");
    println!(
        "server key: fresh 2048-bit RSA, fingerprint {:016x} ({:.0?})",
        key.public_key().fingerprint() as u64,
        started.elapsed()
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let public = key.public_key().clone();
    let served = Arc::new(AtomicU64::new(0));
    let served_by_server = Arc::clone(&served);
    let executed: Executions = Arc::default();
    let executed_by_server = Arc::clone(&executed);
    std::thread::spawn(move || serve(listener, key, served_by_server, total, executed_by_server));

    // A dozen cuts at random points of the run, each in the middle of a transmit.
    let mut rng = OsEntropy::new().expect("OS entropy");
    let mut cuts: Vec<u64> = (0..12).map(|_| 1 + rng.next_u64() % total.max(2)).collect();
    cuts.sort_unstable();
    let mut cfg = ClientOptions::new(ClientConfig::new(vec![public], 2));
    cfg.session.transport = Transporting::Framed(TransportKind::Intermediate, None::<Obfuscation>);
    let t0 = Instant::now();
    let mut conn = ClientConnection::new(cfg, now()).expect("client");
    let mut handshake_time = None;
    let in_flight: RefCell<HashMap<RequestHandle, (u64, Instant, usize)>> = RefCell::new(HashMap::new());
    let mut next = 0u64;
    let stats = RefCell::new(Stats { rtts: Vec::new(), salt_changes: 0, session_resets: 0, failures: Vec::new() });
    let mut wire = Wire::default();
    let mut last_progress = Instant::now();
    let rpc_started = std::cell::Cell::new(None::<Instant>);
    let forget_marker = std::cell::Cell::new(None::<RequestHandle>);
    let forgot = std::cell::Cell::new(false);
    let result = drive_reconnecting(
        &mut conn,
        addr,
        &mut wire,
        |_, ev| {
            let mut stats = stats.borrow_mut();
            let mut in_flight = in_flight.borrow_mut();
            match ev {
                Event::Ready { auth_key, .. } => {
                    handshake_time = Some(t0.elapsed());
                    println!("handshake done in {:.1?}: auth_key_id {:016x}", t0.elapsed(), auth_key.id() as u64);
                }
                Event::RpcResult { handle, .. } if Some(handle) == forget_marker.get() => {
                    forget_marker.set(None);
                    forgot.set(true);
                }
                Event::RpcResult { handle, body } => match in_flight.remove(&handle) {
                    Some((n, at, size)) => {
                        stats.rtts.push(at.elapsed());
                        if body != answer(&request_body(n, size)) {
                            stats.failures.push(format!("request {n}: wrong answer"));
                        }
                    }
                    None => stats.failures.push(format!("answer for unknown {handle:?}")),
                },
                Event::RpcError { handle, code, message } => {
                    stats.failures.push(format!("{handle:?}: rpc_error {code} {message}"))
                }
                Event::RequestFailed { handle, error } => {
                    stats.failures.push(format!("{handle:?}: {error}"));
                    in_flight.remove(&handle);
                }
                Event::SaltChanged { .. } => stats.salt_changes += 1,
                Event::SessionReset { .. } => stats.session_resets += 1,
                _ => {}
            }
            Flow::Continue
        },
        |conn| {
            if !conn.is_ready() {
                return Flow::Continue;
            }
            let mut in_flight = in_flight.borrow_mut();
            if rpc_started.get().is_none() {
                rpc_started.set(Some(Instant::now()));
            }
            // Two thirds in: let the requests drain, then the marker after
            // which the server forgets the (idle) session.
            let forget_due = next >= 2 * total / 3 && !forgot.get();
            if forget_due {
                if in_flight.is_empty() && forget_marker.get().is_none() {
                    forget_marker.set(Some(conn.send(request_body(FORGET_MARKER, 16), SendOptions::default())));
                }
                return Flow::Continue;
            }
            // Keep up to 64 requests in flight; every 20th is large (gzipped).
            while in_flight.len() < 64 && next < total {
                let size = match next % 20 {
                    0 => 48 * 1024,
                    7 => 1024,
                    _ => 64,
                };
                let h = conn.send(request_body(next, size), SendOptions::default());
                in_flight.insert(h, (next, Instant::now(), size));
                next += 1;
            }
            let answered = stats.borrow().rtts.len() as u64;
            if cuts.first().is_some_and(|c| answered >= *c) {
                cuts.remove(0);
                return Flow::CutLink { prefix: (rng.next_u64() % 200) as usize };
            }
            if last_progress.elapsed() > Duration::from_millis(200) {
                last_progress = Instant::now();
                print!("\r{} / {total} answered", stats.borrow().rtts.len());
                let _ = std::io::stdout().flush();
            }
            if next == total && in_flight.is_empty() { Flow::Stop } else { Flow::Continue }
        },
    );
    let stats = stats.into_inner();
    println!("\r{} / {total} answered", stats.rtts.len());
    let elapsed = rpc_started.get().map_or(Duration::ZERO, |s| s.elapsed());
    let mut rtts = stats.rtts.clone();
    rtts.sort_unstable();
    let pct = |p: f64| {
        rtts.get(((rtts.len() as f64 * p) as usize).min(rtts.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    println!("--- report ---");
    println!("handshake:        {:.1?}", handshake_time.unwrap_or_default());
    println!(
        "requests:         {} sent, {} answered correctly",
        next,
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
