//! What idle sessions and idle links cost a server (#12), measured with the
//! counting allocator: sessions saved in a `MemorySessionStore` after their
//! link closed (each had a few requests, every answer acknowledged), and
//! server links that are open but quiet; plus the time to continue a saved
//! session on a new link. `SESSIONS=100000 cargo test --release --test
//! session_memory -- --nocapture` prints the figures of docs/benchmarks.md;
//! the suite runs 5,000 and bounds them.
#![allow(clippy::unwrap_used, missing_docs)]

use mtproto_core::connection::{MemorySessionStore, SessionStore};
use mtproto_core::connection::{Server, ServerConnection, ServerOptions};
use mtproto_core::tl::Serialize;
use mtproto_core::tl::schema::{self, MsgsAck};
use mtproto_core::{Input, ServerEvent};
use mtproto_crypto::Direction;
use mtproto_tests::heap::{SERIAL, live, peak_during};
use mtproto_tests::peer::{self, FakeClient, NOW, constructor, drain, open};
use std::sync::Arc;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mtproto_tests::heap::Counting = mtproto_tests::heap::Counting;

fn sessions() -> usize {
    std::env::var("SESSIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(5_000)
}

/// One link's life: three requests, answered, the answers acknowledged, then
/// the link closes and the session goes to the store.
fn serve_and_close(server: &mut ServerConnection, c: &mut FakeClient) {
    let mut out = Vec::new();
    for i in 0..3u32 {
        let mut p = c.packet(&[0x1234_5678u32.to_le_bytes(), i.to_le_bytes()].concat(), true, NOW);
        server.handle_input(Input::Packet(&mut p), NOW);
        let (packets, events) = drain(server, NOW);
        out.extend(packets);
        for e in events {
            if let ServerEvent::Request { req_msg_id, body } = e {
                server.respond(req_msg_id, &body);
            }
        }
    }
    out.extend(drain(server, NOW).0);
    let ids: Vec<i64> = out.iter().flat_map(|p| open(p, Direction::ServerToClient)).map(|m| m.msg_id).collect();
    let mut ack = c.packet(&MsgsAck { msg_ids: ids }.to_bytes(), false, NOW);
    server.handle_input(Input::Packet(&mut ack), NOW);
    server.handle_input(Input::LinkLost, NOW);
}

#[test]
fn idle_sessions_and_links_are_small_and_resume_fast() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = sessions();
    // Every client here shares one key: the bound per key is lifted.
    let store = Arc::new(MemorySessionStore::new(n + 1).sessions_per_key(n + 1));
    let dyn_store: Arc<dyn SessionStore> = store.clone();
    // The clients first, so that only what the store keeps is counted.
    let mut clients: Vec<FakeClient> = (0..n).map(|i| FakeClient::new(0x1000_0000 + i as i64)).collect();
    let mut salt = 0;
    let before = live();
    for (i, c) in clients.iter_mut().enumerate() {
        let mut server = peer::server(|cfg| cfg.session_store = Arc::clone(&dyn_store));
        if i == 0 {
            c.learn_salt(&mut server, NOW);
            salt = c.session.salt();
        } else {
            c.session.set_salt(salt);
        }
        serve_and_close(&mut server, c);
    }
    let stored = live().saturating_sub(before);
    let per_session = stored / n;
    assert_eq!(store.len(), n);
    eprintln!(
        "{n} idle sessions in the store: {} KiB in all, {per_session} bytes each (window and kept answers: {} bytes each)",
        stored >> 10,
        store.session_heap_bytes() / n
    );
    // Idle links: open server links that received nothing, as a server
    // makes them (one `Server`, its settings shared; a framed transport
    // waiting to detect the client's; entropy forked from the OS's).
    let links: usize = n.min(10_000);
    let server =
        Server::new(ServerOptions { session_store: Arc::clone(&dyn_store), ..ServerOptions::default() }).unwrap();
    let before = live();
    let idle: Vec<ServerConnection> = (0..links).map(|_| server.link(NOW)).collect();
    let per_link = live().saturating_sub(before) / links;
    eprintln!(
        "{links} idle server links: {per_link} bytes each (the ServerConnection itself included, {} of them)",
        std::mem::size_of::<ServerConnection>()
    );
    drop(idle);
    // Continuing a saved session on a new link: the first message's cost.
    let c = clients.last_mut().unwrap();
    let mut server = peer::server(|cfg| cfg.session_store = Arc::clone(&dyn_store));
    let mut p = c.packet(&[0x1234_5678u32.to_le_bytes(), 9u32.to_le_bytes()].concat(), true, NOW);
    let t = Instant::now();
    let (peak, _) = peak_during(|| server.handle_input(Input::Packet(&mut p), NOW));
    let resume = t.elapsed();
    let (out, events) = drain(&mut server, NOW);
    assert!(events.iter().any(|e| matches!(e, ServerEvent::Request { .. })));
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::NewSession { .. })), "the session continued");
    assert!(
        out.iter()
            .flat_map(|p| open(p, Direction::ServerToClient))
            .all(|m| constructor(&m.body) != schema::NewSessionCreated::ID)
    );
    eprintln!("continuing a saved session on a new link: {resume:?} for the first message, peak heap {} bytes", peak);
    assert!(per_session <= 4096, "{per_session} bytes per idle session");
    assert!(per_link <= 1024, "{per_link} bytes per idle link");
}
