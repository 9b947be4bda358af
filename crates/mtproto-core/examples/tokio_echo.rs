//! The async driver: tokio for both roles. A server and a client in one
//! process: handshake, then a few requests, each answered with its echo.
//! `cargo run -p mtproto-core --example tokio_echo`
#![allow(missing_docs)]

use mtproto_core::connection::{ConnectionConfig, SendOptions};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::{Connection, Event, Input, Output};
use mtproto_crypto::OsEntropy;
use mtproto_crypto::rsa::RsaPrivateKey;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Moves bytes and time between a socket and a Connection; hands events to
/// `on_event`, which returns false to stop.
async fn drive(
    conn: &mut Connection,
    stream: &mut TcpStream,
    mut on_event: impl FnMut(&mut Connection, Event) -> bool,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let deadline = loop {
            match conn.poll_output(now()) {
                Output::Transmit(bytes) => stream.write_all(&bytes).await?,
                Output::Event(Event::Closed { reason }) => return Err(std::io::Error::other(reason.to_string())),
                Output::Event(ev) => {
                    if !on_event(conn, ev) {
                        return Ok(());
                    }
                }
                Output::Timeout(at) => break at,
            }
        };
        let wait = deadline.saturating_sub(now());
        tokio::select! {
            read = stream.read(&mut buf) => match read? {
                0 => return Ok(()),
                n => conn.handle_input(Input::Bytes(&buf[..n]), now()),
            },
            () = tokio::time::sleep(wait) => conn.handle_input(Input::Timeout, now()),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = RsaPrivateKey::generate(&mut OsEntropy::new()?)?;
    let public = key.public_key().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server_config = ServerConfig::new(vec![key])?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let config = server_config.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = Connection::server(ConnectionConfig::server(config), now()) else { return };
                let _ = drive(&mut conn, &mut stream, |conn, ev| {
                    if let Event::Request { req_msg_id, body } = ev {
                        conn.respond(req_msg_id, &body);
                    }
                    true
                })
                .await;
            });
        }
    });

    let mut stream = TcpStream::connect(addr).await?;
    let mut conn = Connection::client(ConnectionConfig::client(ClientConfig::new(vec![public], 2)), now())?;
    let mut answered = 0;
    drive(&mut conn, &mut stream, |conn, ev| match ev {
        Event::Ready { auth_key, .. } => {
            println!("handshake done, auth_key_id {:016x}", auth_key.id() as u64);
            for i in 0u32..5 {
                conn.send([0xec40_0000u32 | i].iter().flat_map(|w| w.to_le_bytes()).collect(), SendOptions::default());
            }
            true
        }
        Event::RpcResult { handle, body } => {
            println!("{handle:?} answered with {body:02x?}");
            answered += 1;
            answered < 5
        }
        _ => true,
    })
    .await?;
    println!("{answered} answers: OK");
    Ok(())
}
