//! The HTTP transport end to end (#14): a ClientConnection and
//! ServerConnections, all unframed, talking through `transport::http`'s
//! client and server codecs in memory, the HTTP bytes cut into small pieces.
//! One link carries a DH handshake and RPCs; then two HTTP links carry one client session (two
//! ServerConnections sharing one SessionStore), each request sent on one
//! link and answered on the other, as a long-polling client receives them.
#![allow(clippy::unwrap_used, missing_docs)]

use core::time::Duration;
use mtproto_core::connection::{
    ClientConnection, ClientOptions, MemorySessionStore, SendOptions, ServerConnection, ServerOptions, SessionStore,
    Transporting,
};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::transport::http::{HttpClient, HttpLimits, HttpServer, Response, WaitPolicy};
use mtproto_core::{ClientEvent, Input, Output, RequestHandle, ServerEvent};
use mtproto_crypto::SeededEntropy;
use mtproto_tests::peer::{self, NOW};
use mtproto_tests::server_rsa_key;
use std::sync::Arc;

fn api(tag: u32) -> Vec<u8> {
    [0x1234_5678u32.to_le_bytes(), tag.to_le_bytes()].concat()
}

/// One HTTP connection: the client's codec, the server's codec and the
/// ServerConnection behind it.
struct Link {
    client: HttpClient,
    server: HttpServer,
    conn: ServerConnection,
    /// Requests the server's application saw on this link.
    requests: usize,
    /// Sessions this link's Connection announced.
    new_sessions: usize,
}

impl Link {
    fn new(store: &Arc<dyn SessionStore>, seed: u64, now: Duration) -> Self {
        // Each link its own entropy, as separate connections have.
        let mut cfg = ServerOptions::default();
        cfg.session.transport = Transporting::Unframed;
        let key = mtproto_tests::shared_key();
        cfg.key_lookup = Some(Arc::new(move |id| (id == key.id()).then(|| key.clone())));
        cfg.session_store = Arc::clone(store);
        Self::with(ServerConnection::with_entropy(cfg, now, Box::new(SeededEntropy::new(seed))))
    }

    fn with(conn: ServerConnection) -> Self {
        Self {
            client: HttpClient::new("149.154.167.51", HttpLimits::default()).unwrap(),
            server: HttpServer::new(HttpLimits::default()),
            conn,
            requests: 0,
            new_sessions: 0,
        }
    }

    /// Client → server: the HTTP bytes in pieces of 5, the bodies into the Connection.
    fn carry_requests(&mut self, wire: &[u8], now: Duration) {
        for piece in wire.chunks(5) {
            self.server.handle_bytes(piece, now).unwrap();
        }
        while let Some(mut p) = self.server.poll_packet() {
            self.conn.handle_input(Input::Packet(&mut p), now);
        }
    }

    /// Sends an empty-bodied poll, for the server to answer when something is due.
    fn poll(&mut self, now: Duration) {
        let mut wire = Vec::new();
        self.client.encode_poll(&mut wire);
        self.carry_requests(&wire, now);
    }
}

/// Runs the application on `links[on]` (echoing every request) and queues
/// what its Connection sends on the HTTP codec of `links[answer_via]`.
fn serve(links: &mut [Link], on: usize, answer_via: usize, now: Duration) {
    let mut packets = Vec::new();
    loop {
        match links[on].conn.poll_output(now) {
            Output::Transmit(p) => packets.push(p),
            Output::Event(ServerEvent::Request { req_msg_id, body }) => {
                links[on].requests += 1;
                links[on].conn.respond(req_msg_id, &body);
            }
            Output::Event(ServerEvent::NewSession { .. }) => links[on].new_sessions += 1,
            // The client's long-poll settings apply to the link it came on.
            Output::Event(ServerEvent::HttpWait { wait }) => links[on].server.set_wait(WaitPolicy::from_tl(&wait)),
            Output::Event(_) => {}
            Output::Timeout(_) => break,
        }
    }
    for p in packets {
        links[answer_via].server.queue_packet(p, now).unwrap();
    }
}

/// Sends what the client has on `link`.
fn client_send(client: &mut ClientConnection, link: &mut Link, now: Duration) -> Vec<ClientEvent> {
    let mut wire = Vec::new();
    let mut events = Vec::new();
    loop {
        match client.poll_output(now) {
            Output::Transmit(p) => link.client.encode_request(&p, &mut wire),
            Output::Event(e) => events.push(e),
            Output::Timeout(_) => break,
        }
    }
    link.carry_requests(&wire, now);
    events
}

/// Server → client on `link`: what its codec answers at `at`, in pieces of
/// 3 bytes, packets into the client. Returns the responses.
fn deliver(client: &mut ClientConnection, link: &mut Link, at: Duration) -> Vec<Response> {
    let mut responses = Vec::new();
    while let Some(bytes) = link.server.poll_transmit(at) {
        for piece in bytes.chunks(3) {
            link.client.handle_bytes(piece).unwrap();
        }
        while let Some(r) = link.client.poll_response() {
            if let Response::Packet(mut p) = r.clone() {
                client.handle_input(Input::Packet(&mut p), at);
            }
            responses.push(r);
        }
    }
    responses
}

fn results(events: &[ClientEvent]) -> Vec<(RequestHandle, Vec<u8>)> {
    events
        .iter()
        .filter_map(
            |e| if let ClientEvent::RpcResult { handle, body } = e { Some((*handle, body.clone())) } else { None },
        )
        .collect()
}

/// Drives RPCs over `links[0]` alone until every one is answered.
fn rpcs_on_one_link(client: &mut ClientConnection, links: &mut [Link], tags: &[u32], now: Duration) {
    let handles: Vec<RequestHandle> = tags.iter().map(|&t| client.send(api(t), SendOptions::default())).collect();
    let mut answered = Vec::new();
    for _ in 0..16 {
        let events = client_send(client, &mut links[0], now);
        answered.extend(results(&events));
        serve(links, 0, 0, now);
        for r in deliver(client, &mut links[0], now) {
            assert!(!matches!(r, Response::TransportError(_)), "{r:?}");
        }
        if answered.len() == tags.len() {
            break;
        }
    }
    answered.extend(results(&client_send(client, &mut links[0], now)));
    answered.sort_by_key(|(h, _)| handles.iter().position(|x| x == h));
    let bodies: Vec<Vec<u8>> = answered.into_iter().map(|(_, b)| b).collect();
    assert_eq!(bodies, tags.iter().map(|&t| api(t)).collect::<Vec<_>>(), "every RPC answered once, echoed");
}

#[test]
fn rpcs_over_one_http_link() {
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(16));
    let mut links = vec![Link::new(&store, 90, NOW)];
    // Salt 0: the first request meets bad_server_salt and is sent again, over HTTP.
    let mut client = peer::client(0, |_| {});
    rpcs_on_one_link(&mut client, &mut links, &[1, 2, 3], NOW);
    rpcs_on_one_link(&mut client, &mut links, &[4], NOW + Duration::from_secs(1));
    let link = &mut links[0];
    assert_eq!(link.requests, 4);
    assert_eq!(link.new_sessions, 1);
    // Requests that carried only acks are held, then answered empty at the deadline.
    let held = link.server.pending_requests();
    assert_eq!(link.client.in_flight(), held);
    let deadline = link.server.deadline();
    assert!(held == 0 || deadline.is_some());
    let late = NOW + Duration::from_secs(1) + WaitPolicy::DEFAULT.max_wait;
    let rest = deliver(&mut client, link, late);
    assert!(rest.iter().all(|r| *r == Response::Empty), "{rest:?}");
    assert_eq!(rest.len(), held);
    assert_eq!(link.client.in_flight(), 0, "every request got exactly one response");
    assert_eq!(link.server.pending_requests(), 0);
}

/// The client's `http_wait` reaches the server as `ServerEvent::HttpWait`, and
/// the link then holds an idle request for the client's `max_wait`, not
/// the default 25 s.
#[test]
fn the_client_s_http_wait_sets_the_long_poll() {
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(16));
    let mut links = vec![Link::new(&store, 91, NOW)];
    let mut client = peer::client(0, |_| {});
    rpcs_on_one_link(&mut client, &mut links, &[1], NOW);
    client.http_wait(0, 0, 2_000);
    client_send(&mut client, &mut links[0], NOW);
    serve(&mut links, 0, 0, NOW);
    let asked = WaitPolicy { max_delay: Duration::ZERO, wait_after: Duration::ZERO, max_wait: Duration::from_secs(2) };
    assert_eq!(links[0].server.wait(), asked);
    // What is due now goes out; then idle requests are held 2 s (the
    // default would be 25 s) and answered empty.
    deliver(&mut client, &mut links[0], NOW);
    for _ in 0..10 {
        if links[0].server.queued_packets() == 0 {
            break;
        }
        links[0].poll(NOW);
        deliver(&mut client, &mut links[0], NOW);
    }
    assert_eq!(links[0].server.queued_packets(), 0);
    links[0].poll(NOW);
    // Only one request is held at a time: older ones are answered now.
    deliver(&mut client, &mut links[0], NOW);
    assert_eq!(links[0].server.pending_requests(), 1);
    assert_eq!(links[0].server.deadline(), Some(NOW + Duration::from_secs(2)));
    let after = deliver(&mut client, &mut links[0], NOW + Duration::from_millis(2_100));
    assert!(after.contains(&Response::Empty), "{after:?}");
    assert_eq!(links[0].server.pending_requests(), 0);
}

/// No key yet: the DH handshake runs over HTTP too (plain packets as
/// request and response bodies), then RPCs.
#[test]
fn a_handshake_then_rpcs_over_http() {
    let key = server_rsa_key();
    let mut sc = ServerOptions::new(ServerConfig::new(vec![key.clone()]).unwrap());
    sc.session.transport = Transporting::Unframed;
    let mut cc = ClientOptions::new(ClientConfig::new(vec![key.public_key().clone()], 2));
    cc.session.transport = Transporting::Unframed;
    cc.ping_interval = None;
    let mut client = ClientConnection::with_entropy(cc, NOW, Box::new(SeededEntropy::new(5)));
    let mut links = vec![Link::with(ServerConnection::with_entropy(sc, NOW, Box::new(SeededEntropy::new(6))))];
    rpcs_on_one_link(&mut client, &mut links, &[7, 8], NOW);
    assert!(client.is_ready());
    assert!(client.persisted().is_some(), "a key to save");
}

#[test]
fn two_http_links_carry_one_session_answers_on_the_other_link() {
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(16));
    let mut links = vec![Link::new(&store, 90, NOW), Link::new(&store, 91, NOW)];
    let mut client = peer::client(0, |_| {});
    rpcs_on_one_link(&mut client, &mut links, &[1], NOW);
    let session = client.session_id();

    for (round, (send_via, poll_via)) in [(0usize, 1usize), (1, 0), (0, 1)].into_iter().enumerate() {
        let now = NOW + Duration::from_secs(2 + round as u64);
        // The long poll waits on one link …
        links[poll_via].poll(now);
        // … the request goes out on the other …
        let tag = 10 + round as u32;
        let handle = client.send(api(tag), SendOptions::default());
        client_send(&mut client, &mut links[send_via], now);
        let before = links[send_via].requests;
        // … its link's Connection runs it, and the answer rides the poll.
        serve(&mut links, send_via, poll_via, now);
        assert_eq!(links[send_via].requests, before + 1, "round {round}: ran on link {send_via}");
        let responses = deliver(&mut client, &mut links[poll_via], now);
        assert!(matches!(responses.first(), Some(Response::Packet(_))), "round {round}: {responses:?}");
        let got = results(&client_send(&mut client, &mut links[send_via], now));
        let answer = got.iter().find(|(h, _)| *h == handle).map(|(_, b)| b.clone());
        assert_eq!(answer, Some(api(tag)), "round {round}: answered through link {poll_via}");
        // The request's own link answers no packet: its HTTP request is
        // held (older held ones become due behind it and go out empty).
        let own = deliver(&mut client, &mut links[send_via], now);
        assert!(own.iter().all(|r| *r == Response::Empty), "round {round}: {own:?}");
        assert!(links[send_via].server.pending_requests() >= 1, "round {round}: held");
        // The client's acks went to the sending link; let that Connection take them.
        serve(&mut links, send_via, send_via, now);
    }
    assert_eq!(client.session_id(), session, "one session throughout");
    assert_eq!(links[0].new_sessions + links[1].new_sessions, 1, "announced once, on the first link");
    assert!(links[1].requests >= 1, "the second link's Connection ran requests of the shared session");
    // Every held request ends with an empty answer at its deadline.
    let late = NOW + Duration::from_secs(60);
    for link in &mut links {
        let rest = deliver(&mut client, link, late);
        assert!(rest.iter().all(|r| matches!(r, Response::Empty | Response::Packet(_))));
        assert_eq!(link.client.in_flight(), 0);
    }
    assert!(!client.is_closed());
}
