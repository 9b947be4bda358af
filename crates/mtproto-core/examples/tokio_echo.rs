//! The async driver: tokio for both roles. A server and a client in one
//! process: handshake, then requests, each answered with its echo. Halfway
//! the client drops its TCP connection; it reconnects with a backoff and
//! the session continues (the server keeps it in its session store), so
//! every request is still answered exactly once.
//! `cargo run -p mtproto-core --example tokio_echo`
#![allow(missing_docs)]

use mtproto_core::connection::{ClientConnection, ClientOptions, Endpoint, ServerConnection, ServerOptions};
use mtproto_core::connection::{MemorySessionStore, SendOptions, SessionStore};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::{Event, Input, Output};
use mtproto_crypto::rsa::RsaPrivateKey;
use mtproto_crypto::{AuthKey, OsEntropy};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// What `on_event` wants.
enum Flow {
    Continue,
    Stop,
    /// Drop the TCP connection now (fault injection).
    Cut,
}

/// Moves bytes and time between a socket and a Connection; hands events to
/// `on_event`. Returns true when stopped, false when the link was lost (the
/// Connection has been told with `Input::LinkLost`).
async fn drive<C: Endpoint>(
    conn: &mut C,
    stream: &mut TcpStream,
    mut on_event: impl FnMut(&mut C, Event) -> Flow,
) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    let stopped = 'link: loop {
        let deadline = loop {
            match conn.poll_output(now()) {
                Output::Transmit(bytes) => {
                    if stream.write_all(&bytes).await.is_err() {
                        break 'link false;
                    }
                }
                Output::Event(Event::Closed { reason }) => return Err(std::io::Error::other(reason.to_string())),
                Output::Event(Event::LinkLost { .. }) => return Ok(false),
                Output::Event(ev) => match on_event(conn, ev) {
                    Flow::Continue => {}
                    Flow::Stop => return Ok(true),
                    Flow::Cut => break 'link false,
                },
                Output::Timeout(at) => break at,
            }
        };
        let wait = deadline.saturating_sub(now());
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break false,
                Ok(n) => conn.handle_input(Input::Bytes(&buf[..n]), now()),
            },
            () = tokio::time::sleep(wait) => conn.handle_input(Input::Timeout, now()),
        }
    };
    let _ = stream.shutdown().await;
    conn.handle_input(Input::LinkLost, now());
    Ok(stopped)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = RsaPrivateKey::generate(&mut OsEntropy::new()?)?;
    let public = key.public_key().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server_config = ServerConfig::new(vec![key])?;
    let keys: Arc<Mutex<HashMap<i64, AuthKey>>> = Arc::default();
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(1000));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut cfg = ServerOptions::new(server_config.clone());
            let (keys, lookup) = (Arc::clone(&keys), Arc::clone(&keys));
            cfg.key_lookup = Some(Arc::new(move |id| lookup.lock().ok()?.get(&id).cloned()));
            cfg.session_store = Arc::clone(&store);
            tokio::spawn(async move {
                let Ok(mut conn) = ServerConnection::new(cfg, now()) else { return };
                let _ = drive(&mut conn, &mut stream, |conn, ev| {
                    match ev {
                        Event::Ready { auth_key, .. } => {
                            if let Ok(mut k) = keys.lock() {
                                k.insert(auth_key.id(), *auth_key);
                            }
                        }
                        Event::Request { req_msg_id, body } => conn.respond(req_msg_id, &body),
                        _ => {}
                    }
                    Flow::Continue
                })
                .await;
            });
        }
    });

    let mut conn = ClientConnection::new(ClientOptions::new(ClientConfig::new(vec![public], 2)), now())?;
    let mut answered = 0;
    let mut cut_done = false;
    let mut links = 0;
    loop {
        // Connect, with a backoff when the server is not there (yet).
        let mut backoff = Duration::from_millis(5);
        let mut stream = loop {
            match TcpStream::connect(addr).await {
                Ok(s) => break s,
                Err(e) if backoff > Duration::from_secs(2) => return Err(e.into()),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        };
        if links > 0 {
            conn.attach_link(now());
        }
        links += 1;
        let stopped = drive(&mut conn, &mut stream, |conn, ev| match ev {
            Event::Ready { auth_key, .. } => {
                println!("handshake done, auth_key_id {:016x}", auth_key.id() as u64);
                for i in 0u32..10 {
                    conn.send(
                        [0xec40_0000u32 | i].iter().flat_map(|w| w.to_le_bytes()).collect(),
                        SendOptions::default(),
                    );
                }
                Flow::Continue
            }
            Event::RpcResult { handle, body } => {
                println!("{handle:?} answered with {body:02x?}");
                answered += 1;
                if answered == 10 {
                    Flow::Stop
                } else if answered == 3 && !cut_done {
                    cut_done = true;
                    println!("dropping the TCP connection; the session continues on the next one");
                    Flow::Cut
                } else {
                    Flow::Continue
                }
            }
            _ => Flow::Continue,
        })
        .await?;
        if stopped {
            break;
        }
    }
    println!("{answered} answers over {links} TCP connections: OK");
    Ok(())
}
