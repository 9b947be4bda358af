//! A one-thread server loop over many connections that seals their answers
//! together (`ServerConnection::flush_together`: one multi-buffer encryption for
//! all of them), with blocking clients in threads. Each client does a real
//! handshake, then sends requests of 16 KiB that the server echoes; the
//! example fails if any answer is missing or wrong.
//! `cargo run --release -p mtproto-core --example batch_server -- [clients] [requests]`
#![allow(missing_docs)]

#[path = "common/std_driver.rs"]
mod std_driver;

use mtproto_core::connection::SendOptions;
use mtproto_core::connection::{ClientConnection, ClientOptions, ServerConnection, ServerOptions};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::{ClientEvent, Input, Output, ServerEvent};
use mtproto_crypto::OsEntropy;
use mtproto_crypto::rsa::RsaPrivateKey;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use std_driver::{Flow, Wire, drive, now};

/// The server: accept, read every socket, answer, flush all connections
/// together, write. Returns after `expected` connections came and went.
fn serve(listener: TcpListener, config: ServerConfig, expected: usize) -> std::io::Result<(u64, u64)> {
    listener.set_nonblocking(true)?;
    let mut conns: Vec<(TcpStream, ServerConnection)> = Vec::new();
    let (mut seen, mut turns, mut batched_turns) = (0, 0u64, 0u64);
    let mut buf = vec![0u8; 256 * 1024];
    while seen < expected || !conns.is_empty() {
        while let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(true)?;
            stream.set_nodelay(true)?;
            let conn = ServerConnection::new(ServerOptions::new(config.clone()), now())
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            conns.push((stream, conn));
            seen += 1;
        }
        let mut open = vec![true; conns.len()];
        for ((stream, conn), open) in conns.iter_mut().zip(open.iter_mut()) {
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => *open = false,
                    Ok(n) => {
                        conn.handle_input(Input::Bytes(&buf[..n]), now());
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => *open = false,
                }
                break;
            }
            conn.handle_input(Input::Timeout, now());
            while let Some(event) = conn.poll_event() {
                if let ServerEvent::Request { req_msg_id, body } = event {
                    conn.respond(req_msg_id, &body);
                }
            }
        }
        // Every connection's answers sealed in one multi-buffer call.
        let mut all: Vec<&mut ServerConnection> = conns.iter_mut().map(|(_, c)| c).collect();
        let busy = all.iter().filter(|c| c.stats().queued > 0).count();
        ServerConnection::flush_together(&mut all, now());
        turns += 1;
        batched_turns += u64::from(busy > 1);
        for ((stream, conn), open) in conns.iter_mut().zip(open.iter_mut()) {
            loop {
                match conn.poll_output(now()) {
                    Output::Transmit(bytes) => {
                        // Blocking for the write keeps the example short.
                        let written = stream
                            .set_nonblocking(false)
                            .and_then(|()| stream.write_all(&bytes))
                            .and_then(|()| stream.set_nonblocking(true));
                        if written.is_err() {
                            *open = false;
                            break;
                        }
                    }
                    Output::Event(ServerEvent::Request { req_msg_id, body }) => conn.respond(req_msg_id, &body),
                    Output::Event(ServerEvent::Closed { .. }) => {
                        *open = false;
                        break;
                    }
                    Output::Event(_) => {}
                    Output::Timeout(_) => break,
                }
            }
        }
        let mut keep = open.into_iter();
        conns.retain(|_| keep.next().unwrap_or(false));
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok((turns, batched_turns))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let clients = args.next().transpose()?.unwrap_or(4);
    let requests = args.next().transpose()?.unwrap_or(50);
    let key = RsaPrivateKey::generate(&mut OsEntropy::new()?)?;
    let public = key.public_key().clone();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let config = ServerConfig::new(vec![key])?;
    let server = std::thread::spawn(move || serve(listener, config, clients));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let public = public.clone();
            std::thread::spawn(move || -> Result<usize, String> {
                let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
                let config = ClientOptions::new(ClientConfig::new(vec![public], 2));
                let mut conn = ClientConnection::new(config, now()).map_err(|e| e.to_string())?;
                let body = |i: usize| -> Vec<u8> { (0..16 * 1024).map(|k| (k * 7 + i * 13 + c) as u8).collect() };
                let (mut sent, mut answered) = (0, 0);
                // Both callbacks need the map: one inserts, one removes.
                let handles = std::cell::RefCell::new(std::collections::HashMap::new());
                drive(
                    &mut conn,
                    &mut stream,
                    &mut Wire::default(),
                    |_, event| match event {
                        ClientEvent::RpcResult { handle, body: answer } => {
                            let i = handles.borrow_mut().remove(&handle).unwrap_or(usize::MAX);
                            if answer == body(i) {
                                answered += 1;
                            }
                            if answered == requests { Flow::Stop } else { Flow::Continue }
                        }
                        _ => Flow::Continue,
                    },
                    |conn| {
                        while sent < requests && handles.borrow().len() < 8 {
                            handles.borrow_mut().insert(conn.send(body(sent), SendOptions::default()), sent);
                            sent += 1;
                        }
                        Flow::Continue
                    },
                )
                .map_err(|e| e.to_string())?;
                Ok(answered)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.join().map_err(|_| "client thread panicked")??;
    }
    let elapsed = started.elapsed();
    let (turns, batched) = server.join().map_err(|_| "server thread panicked")??;
    println!(
        "{total} of {} requests of 16 KiB answered in {elapsed:?} by one server thread; \
         {batched} of {turns} loop turns sealed several connections' answers together",
        clients * requests
    );
    if total != clients * requests {
        return Err("some answers are missing or wrong".into());
    }
    Ok(())
}
