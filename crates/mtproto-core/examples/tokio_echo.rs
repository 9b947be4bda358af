//! The async driver: tokio for both roles. A server and a client in one
//! process: handshake, then requests, each answered with its echo. Halfway
//! the client drops its TCP connection; it reconnects with a backoff and
//! the session continues (the server keeps it in its session store), so
//! every request is still answered exactly once.
//! `cargo run -p mtproto-core --example tokio_echo`
#![allow(missing_docs)]

#[path = "common/tokio_driver.rs"]
mod tokio_driver;

use mtproto_core::ClientEvent;
use mtproto_core::connection::{ClientConnection, ClientOptions, SendOptions, ServerConnection};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_crypto::OsEntropy;
use mtproto_crypto::rsa::RsaPrivateKey;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_driver::{Ended, Flow, Keys, Limits, drive, echo, echo_server, now};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = RsaPrivateKey::generate(&mut OsEntropy::new()?)?;
    let public = key.public_key().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let keys = Keys::default();
    let server = echo_server(ServerConfig::new(vec![key])?, &keys)?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (mut link, keys) = (server.link(now()), Arc::clone(&keys));
            tokio::spawn(async move {
                let on_event = |conn: &mut ServerConnection, ev| echo(&keys, conn, ev);
                drive(&mut link, &mut stream, Limits::default(), on_event, |_| {}).await;
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
        let on_event = |conn: &mut ClientConnection, ev| match ev {
            ClientEvent::Ready { auth_key, .. } => {
                println!("handshake done, auth_key_id {:016x}", auth_key.id() as u64);
                for i in 0u32..10 {
                    conn.send(
                        [0xec40_0000u32 | i].iter().flat_map(|w| w.to_le_bytes()).collect(),
                        SendOptions::default(),
                    );
                }
                Flow::Continue
            }
            ClientEvent::RpcResult { handle, body } => {
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
        };
        match drive(&mut conn, &mut stream, Limits::default(), on_event, |_| {}).await {
            Ended::Stopped => break,
            Ended::LinkLost => {}
            Ended::Closed(reason) => return Err(reason.to_string().into()),
        }
    }
    println!("{answered} answers over {links} TCP connections: OK");
    Ok(())
}
