//! The async tokio driver, for both roles: it only moves bytes and time
//! between a `TcpStream` and a `Connection`, with a fixed read buffer and a
//! write timeout (a peer that stops reading cannot make us queue without
//! bound: the Connection's output waits for the socket, and the socket for
//! the peer). Shared by the tokio examples.
#![allow(dead_code)]

use mtproto_core::connection::{CloseReason, MemorySessionStore, Server, ServerConnection, ServerOptions};
use mtproto_core::handshake::ServerConfig;
use mtproto_core::{Endpoint, EndpointEvent, Input, Output, ServerEvent};
use mtproto_crypto::AuthKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The current unix time, the only clock the Connection ever sees.
pub fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The keys an example server's handshakes made, where its `key_lookup`
/// finds them for the client's next links.
pub type Keys = Arc<Mutex<HashMap<i64, AuthKey>>>;

/// An echo server: handshakes with `config`, keys kept in `keys`, sessions
/// in one store (so a client's session continues on its next link). Make
/// each accepted connection's link with `Server::link`.
///
/// # Errors
/// The OS's randomness is unavailable.
pub fn echo_server(config: ServerConfig, keys: &Keys) -> Result<Server, mtproto_crypto::CryptoError> {
    let mut options = ServerOptions::new(config);
    let lookup = Arc::clone(keys);
    options.key_lookup = Some(Arc::new(move |id| lookup.lock().ok()?.get(&id).cloned()));
    options.session_store = Arc::new(MemorySessionStore::new(1000));
    Server::new(options)
}

/// An echo server's events: a new key is kept, every request answered
/// with its own body.
pub fn echo(keys: &Keys, conn: &mut ServerConnection, event: ServerEvent) -> Flow {
    match event {
        ServerEvent::Ready { auth_key, .. } => {
            if let Ok(mut k) = keys.lock() {
                k.insert(auth_key.id(), *auth_key);
            }
        }
        ServerEvent::Request { req_msg_id, body } => conn.respond(req_msg_id, &body),
        _ => {}
    }
    Flow::Continue
}

/// What the application wants after an event.
pub enum Flow {
    /// Keep driving.
    Continue,
    /// Stop (the caller decides what happens to the connection).
    Stop,
    /// Drop the TCP connection now (fault injection); the Connection is told
    /// with `Input::LinkLost`.
    Cut,
}

/// How one link's drive ended.
#[derive(Debug)]
pub enum Ended {
    /// The application said stop.
    Stopped,
    /// The link is gone (EOF, a socket error, a write timeout, a cut, or the
    /// Connection reported `LinkLost`); the Connection has been told.
    LinkLost,
    /// The Connection closed (its last bytes, such as a transport error
    /// code, were written first).
    Closed(CloseReason),
}

/// Per-link limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes read from the socket at a time (the only buffer the driver keeps).
    pub read_buf: usize,
    /// A write that does not complete in this time loses the link.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { read_buf: 16 * 1024, write_timeout: Duration::from_secs(10) }
    }
}

/// Drives `conn` over `stream` until the application says stop, the link is
/// lost, or the connection closes. `on_event` sees every event but `Closed`
/// and `LinkLost` (and may call `send`/`respond`/`ping`); `on_read` sees the
/// bytes read, before the Connection does (to sniff a transport, count bytes).
pub async fn drive<C: Endpoint>(
    conn: &mut C,
    stream: &mut TcpStream,
    limits: Limits,
    mut on_event: impl FnMut(&mut C, C::Event) -> Flow,
    mut on_read: impl FnMut(&[u8]),
) -> Ended {
    let mut buf = vec![0u8; limits.read_buf.max(1)];
    let _ = stream.set_nodelay(true);
    loop {
        let deadline = loop {
            match conn.poll_output(now()) {
                Output::Transmit(bytes) => {
                    match tokio::time::timeout(limits.write_timeout, stream.write_all(&bytes)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) | Err(_) => return lose(conn, stream).await,
                    }
                }
                Output::Event(ev) => {
                    if let Some(reason) = ev.close_reason() {
                        let reason = reason.clone();
                        let _ = stream.shutdown().await;
                        return Ended::Closed(reason);
                    }
                    if ev.link_loss().is_some() {
                        let _ = stream.shutdown().await;
                        return Ended::LinkLost;
                    }
                    match on_event(conn, ev) {
                        Flow::Continue => {}
                        Flow::Stop => return Ended::Stopped,
                        Flow::Cut => return lose(conn, stream).await,
                    }
                }
                Output::Timeout(at) => break at,
            }
        };
        let wait = deadline.saturating_sub(now());
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return lose(conn, stream).await,
                Ok(n) => {
                    on_read(&buf[..n]);
                    conn.handle_input(Input::Bytes(&buf[..n]), now());
                }
            },
            () = tokio::time::sleep(wait) => conn.handle_input(Input::Timeout, now()),
        }
    }
}

/// The link is gone: close the socket and tell the Connection (a client
/// keeps its session for `attach_link`; a server saves its sessions).
async fn lose(conn: &mut impl Endpoint, stream: &mut TcpStream) -> Ended {
    let _ = stream.shutdown().await;
    conn.handle_input(Input::LinkLost, now());
    Ended::LinkLost
}
