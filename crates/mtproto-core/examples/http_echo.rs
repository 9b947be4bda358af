//! The HTTP transport driven with blocking std::net, both roles in one
//! process: a server thread per HTTP connection (`HttpServer` in front of
//! an unframed `ServerConnection`), and a client (`HttpClient` in front of
//! an unframed `ClientConnection`) that runs a DH handshake and N requests
//! over one keep-alive HTTP connection, keeping a poll in flight while an
//! answer is due. Every request is echoed; prints `N of N requests answered
//! over HTTP`.
//! `cargo run -p mtproto-core --example http_echo -- 40`
#![allow(missing_docs)]

use mtproto_core::connection::{ClientConnection, ClientOptions, ServerConnection, ServerOptions, Transporting};
use mtproto_core::connection::{MemorySessionStore, SendOptions, SessionStore};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::transport::http::{HttpClient, HttpLimits, HttpServer, Response};
use mtproto_core::{ClientEvent, Input, Output, ServerEvent};
use mtproto_crypto::rsa::RsaPrivateKey;
use mtproto_crypto::{AuthKey, OsEntropy};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Keys = Arc<Mutex<HashMap<i64, AuthKey>>>;

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Reads what is there, waiting at most until `deadline`; `None` on EOF.
fn read_until(stream: &mut TcpStream, deadline: Duration, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    let wait = deadline.saturating_sub(now()).clamp(Duration::from_millis(1), Duration::from_secs(1));
    stream.set_read_timeout(Some(wait))?;
    match stream.read(buf) {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(Some(0)),
        Err(e) => Err(e),
    }
}

/// One HTTP connection of the server: bytes ↔ HttpServer ↔ ServerConnection.
fn serve(mut stream: TcpStream, mut conn: ServerConnection, keys: Keys) -> std::io::Result<()> {
    let mut http = HttpServer::new(HttpLimits::default());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Drain the Connection: run the application, queue its packets.
        let conn_deadline = loop {
            match conn.poll_output(now()) {
                Output::Transmit(p) => {
                    if http.queue_packet(p, now()).is_err() {
                        return Ok(()); // the client stopped asking: drop the link
                    }
                }
                Output::Event(ServerEvent::Ready { auth_key, .. }) => {
                    if let Ok(mut k) = keys.lock() {
                        k.insert(auth_key.id(), *auth_key);
                    }
                }
                Output::Event(ServerEvent::Request { req_msg_id, body }) => conn.respond(req_msg_id, &body),
                Output::Event(_) => {}
                Output::Timeout(at) => break at,
            }
        };
        while let Some(bytes) = http.poll_transmit(now()) {
            stream.write_all(&bytes)?;
        }
        let deadline = http.deadline().map_or(conn_deadline, |d| d.min(conn_deadline));
        match read_until(&mut stream, deadline, &mut buf)? {
            None => {
                conn.handle_input(Input::LinkLost, now());
                return Ok(());
            }
            Some(n) => {
                if let Err(e) = http.handle_bytes(&buf[..n], now()) {
                    stream.write_all(&HttpServer::refusal(&e))?;
                    conn.handle_input(Input::LinkLost, now());
                    return Ok(());
                }
                while let Some(mut p) = http.poll_packet() {
                    conn.handle_input(Input::Packet(&mut p), now());
                }
            }
        }
        if now() >= conn_deadline {
            conn.handle_input(Input::Timeout, now());
        }
        if conn.is_closed() {
            return Ok(());
        }
    }
}

/// The client: a handshake, then `n` requests, over one HTTP connection.
fn run_client(addr: std::net::SocketAddr, public: ClientConfig, n: u32) -> Result<u32, Box<dyn std::error::Error>> {
    let mut opts = ClientOptions::new(public);
    opts.session.transport = Transporting::Unframed;
    opts.ping_interval = None;
    let mut conn = ClientConnection::new(opts, now())?;
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut http = HttpClient::new(&addr.to_string(), HttpLimits::default())?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut sent, mut answered) = (false, 0u32);
    let deadline_all = now() + Duration::from_secs(60);
    while answered < n && now() < deadline_all {
        let mut wire = Vec::new();
        let conn_deadline = loop {
            match conn.poll_output(now()) {
                Output::Transmit(p) => http.encode_request(&p, &mut wire),
                Output::Event(ClientEvent::Ready { .. }) if !sent => {
                    for i in 0..n {
                        conn.send([0x1234_5678u32.to_le_bytes(), i.to_le_bytes()].concat(), SendOptions::default());
                    }
                    sent = true;
                }
                Output::Event(ClientEvent::RpcResult { .. }) => answered += 1,
                Output::Event(ClientEvent::Closed { reason }) => return Err(format!("closed: {reason:?}").into()),
                Output::Event(_) => {}
                Output::Timeout(at) => break at,
            }
        };
        // Something is due from the server and no request is out to carry
        // it: poll (the server holds the poll until there is).
        if http.in_flight() == 0 && wire.is_empty() && (conn.pending_requests() > 0 || !conn.is_ready()) {
            http.encode_poll(&mut wire);
        }
        stream.write_all(&wire)?;
        let Some(got) = read_until(&mut stream, conn_deadline, &mut buf)? else {
            return Err("the server closed the connection".into());
        };
        http.handle_bytes(&buf[..got])?;
        while let Some(r) = http.poll_response() {
            match r {
                Response::Packet(mut p) => conn.handle_input(Input::Packet(&mut p), now()),
                Response::Empty => {}
                Response::TransportError(code) => return Err(format!("transport error {code}").into()),
            }
        }
        if now() >= conn_deadline {
            conn.handle_input(Input::Timeout, now());
        }
    }
    Ok(answered)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(40);
    let key = RsaPrivateKey::generate(&mut OsEntropy::new()?)?;
    let public = ClientConfig::new(vec![key.public_key().clone()], 2);
    let server_config = ServerConfig::new(vec![key])?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let keys: Keys = Arc::default();
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(1000));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut cfg = ServerOptions::new(server_config.clone());
            cfg.session.transport = Transporting::Unframed;
            let lookup = Arc::clone(&keys);
            cfg.key_lookup = Some(Arc::new(move |id| lookup.lock().ok()?.get(&id).cloned()));
            cfg.session_store = Arc::clone(&store);
            let keys = Arc::clone(&keys);
            std::thread::spawn(move || {
                if let Ok(conn) = ServerConnection::new(cfg, now()) {
                    let _ = serve(stream, conn, keys);
                }
            });
        }
    });
    let answered = run_client(addr, public, n)?;
    println!("{answered} of {n} requests answered over HTTP");
    if answered != n {
        std::process::exit(1);
    }
    Ok(())
}
