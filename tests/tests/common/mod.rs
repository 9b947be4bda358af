//! Our server on a loopback port, run by the std driver example, for the
//! integration tests: a thread per connection, a cap on concurrent ones, and a
//! registry of keys created by handshakes (so clients can reconnect with them).
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../crates/mtproto-core/examples/common/std_driver.rs"]
pub mod std_driver;

use mtproto_core::connection::ConnectionConfig;
use mtproto_core::handshake::ServerConfig;
use mtproto_core::{Connection, Event};
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
}

/// Starts a server; `tune` adjusts each connection's configuration.
pub fn start(cap: usize, tune: fn(&mut ConnectionConfig)) -> TestServer {
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
            let mut cfg = ConnectionConfig::server(config.clone());
            cfg.key_lookup = Some(Arc::new(move |id| lookup_keys.lock().ok()?.get(&id).cloned()));
            tune(&mut cfg);
            let active = Arc::clone(&active2);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut conn = Connection::server(cfg, now()).unwrap();
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
                    let _ = drive(
                        &mut conn,
                        &mut stream,
                        &mut Wire::default(),
                        |conn, ev| {
                            match ev {
                                Event::Ready { auth_key, .. } => {
                                    keys.lock().unwrap().insert(auth_key.id(), *auth_key);
                                }
                                Event::Request { req_msg_id, body } => conn.respond(req_msg_id, &body),
                                _ => {}
                            }
                            Flow::Continue
                        },
                        |_| Flow::Continue,
                    );
                    active.fetch_sub(1, Ordering::SeqCst);
                })
                .unwrap();
        }
    });
    TestServer { addr, active, refused }
}
