//! MTProto over WebSocket as Telegram's web endpoints carry it, driven with
//! tokio and tokio-tungstenite: `GET /apiws` with the subprotocol `binary`,
//! then our obfuscated2 stream (intermediate or padded intermediate inside)
//! in binary messages. The Connections see an ordinary byte stream; the
//! client cuts its bytes into messages of random sizes (a message holds
//! part of a frame, or several), the server gathers its answers into
//! messages of up to 4 KiB.
//!
//! By default both roles run in one process over loopback: a server task
//! per connection (the upgrade checked, then an obfuscated2-detecting
//! `ServerConnection`) and a client that runs a DH handshake and N requests
//! of assorted sizes (up to 160 KB, some compressible), each echoed and
//! checked byte for byte; prints `N of N requests echoed byte for byte over
//! WebSocket (...)`. With `--connect` only the client runs, against a
//! server such as the test server's `--ws-listen`.
//!
//! ```text
//! cargo run -p mtproto-core --example ws_echo -- 40
//! cargo run -p mtproto-core --example ws_echo -- --connect 127.0.0.1:PORT --key server.pub.pem --transport padded
//! ```
#![allow(missing_docs)]

#[path = "common/tokio_driver.rs"]
mod tokio_driver;
#[path = "common/ws_driver.rs"]
mod ws_driver;

use mtproto_core::connection::{ClientConnection, ClientOptions, SendOptions, ServerConnection, Transporting};
use mtproto_core::handshake::{ClientConfig, ServerConfig};
use mtproto_core::transport::{Obfuscation, TransportKind};
use mtproto_core::{ClientEvent, RequestHandle};
use mtproto_crypto::OsEntropy;
use mtproto_crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_driver::{Ended, Flow, Keys, echo, echo_server, now};
use ws_driver::{WsLimits, accept, connect, drive};

const USAGE: &str = "\
usage: ws_echo [N]
       ws_echo --connect ADDR --key PEM [--requests N] [--transport intermediate|padded]
               [--path PATH] [--no-subprotocol]

Without --connect: a server and a client in one process over loopback, N
requests (default 40). With --connect: the client only, against ADDR, the
server's public key in PEM (PKCS#1 or PKCS#8). --path (default /apiws) and
--no-subprotocol make an upgrade our server refuses.";

/// The command line.
struct Args {
    /// The server to use; `None` runs our own.
    connect: Option<SocketAddr>,
    key: Option<RsaPublicKey>,
    requests: u32,
    kind: TransportKind,
    path: String,
    subprotocol: bool,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        connect: None,
        key: None,
        requests: 40,
        kind: TransportKind::Intermediate,
        path: ws_driver::PATH.to_string(),
        subprotocol: true,
    };
    while let Some(flag) = it.next() {
        if flag == "--no-subprotocol" {
            args.subprotocol = false;
            continue;
        }
        if !flag.starts_with("--") {
            args.requests = flag.parse().map_err(|_| format!("not a number of requests: {flag:?}"))?;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--connect" => {
                args.connect = Some(value.parse().map_err(|_| format!("--connect: not an address: {value:?}"))?)
            }
            "--key" => {
                let pem = std::fs::read_to_string(&value).map_err(|e| format!("--key {value}: {e}"))?;
                args.key = Some(RsaPublicKey::from_pem(&pem).map_err(|e| format!("--key {value}: {e}"))?);
            }
            "--requests" => {
                args.requests = value.parse().map_err(|_| format!("--requests: not a number: {value:?}"))?
            }
            "--transport" => {
                args.kind = match value.as_str() {
                    "intermediate" => TransportKind::Intermediate,
                    "padded" => TransportKind::PaddedIntermediate,
                    other => return Err(format!("--transport: intermediate or padded, not {other:?}")),
                }
            }
            "--path" => args.path = value,
            _ => return Err(format!("unknown flag {flag:?}\n{USAGE}")),
        }
    }
    if args.connect.is_some() && args.key.is_none() {
        return Err("--connect needs --key (the server's public key)".into());
    }
    Ok(args)
}

/// The body of request `i`: a 4-byte tag, then whole words of noise or
/// of a repeating pattern (every fifth, large and compressible, so
/// gzip_packed goes both ways), from 4 bytes to 160 KB.
fn body(i: u32) -> Vec<u8> {
    let mut out = (0x5753_0000u32 | (i & 0xffff)).to_le_bytes().to_vec();
    if i % 5 == 4 {
        out.extend((0..40_000u32).flat_map(|w| (w / 32).to_le_bytes()));
        return out;
    }
    let words = (i as usize * 2473) % 6000;
    let mut x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..words {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&(x as u32).to_le_bytes());
    }
    out
}

/// Our server: every accepted TCP connection is upgraded (path and
/// subprotocol checked), then echoes every request.
async fn serve(listener: TcpListener, config: ServerConfig) {
    let keys = Keys::default();
    let Ok(server) = echo_server(config, &keys) else { return };
    while let Ok((stream, _)) = listener.accept().await {
        let (mut link, keys) = (server.link(now()), Arc::clone(&keys));
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let limits = WsLimits { max_message: 4096, ..WsLimits::default() };
            let Ok(mut ws) = accept(stream, &limits).await else { return };
            let on_event = |conn: &mut ServerConnection, ev| echo(&keys, conn, ev);
            drive(&mut link, &mut ws, limits, on_event, |_| {}).await;
        });
    }
}

/// The client: upgrade, handshake, `n` requests; returns how many came back
/// byte for byte.
async fn run_client(addr: SocketAddr, key: RsaPublicKey, args: &Args) -> Result<u32, String> {
    let mut opts = ClientOptions::new(ClientConfig::new(vec![key], 2));
    opts.session.transport = Transporting::Framed(args.kind, Some(Obfuscation { dc_id: 2, secret: None }));
    opts.ping_interval = None;
    let mut conn = ClientConnection::new(opts, now()).map_err(|e| format!("client: {e}"))?;
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().map_err(|e| format!("socket: {e}"))?;
    // Messages of 1..=1000 bytes: frames cut anywhere and merged.
    let limits = WsLimits { max_message: 1000, split_seed: Some(0x5eed_0f15), ..WsLimits::default() };
    let subprotocol = args.subprotocol.then_some(ws_driver::SUBPROTOCOL);
    let mut ws =
        connect(stream, &addr.to_string(), &args.path, subprotocol, &limits).await.map_err(|e| e.to_string())?;
    let n = args.requests;
    let mut pending: HashMap<RequestHandle, Vec<u8>> = HashMap::new();
    let (mut answered, mut failure, mut messages) = (0u32, None::<String>, 0u64);
    let on_event = |conn: &mut ClientConnection, ev| {
        match ev {
            ClientEvent::Ready { .. } if pending.is_empty() && answered == 0 => {
                for i in 0..n {
                    let b = body(i);
                    pending.insert(conn.send(b.clone(), SendOptions::default()), b);
                }
            }
            ClientEvent::RpcResult { handle, body } => match pending.remove(&handle) {
                Some(sent) if *body == *sent => answered += 1,
                Some(sent) => failure = Some(format!("echo of {} bytes differs ({} back)", sent.len(), body.len())),
                None => failure = Some(format!("an answer to no request of ours: {handle:?}")),
            },
            ClientEvent::RpcError { code, message, .. } => failure = Some(format!("rpc_error {code} {message}")),
            ClientEvent::RequestFailed { error, .. } => failure = Some(format!("request failed: {error}")),
            _ => {}
        }
        if failure.is_some() || answered == n { Flow::Stop } else { Flow::Continue }
    };
    let ended =
        tokio::time::timeout(Duration::from_secs(60), drive(&mut conn, &mut ws, limits, on_event, |_| messages += 1))
            .await
            .map_err(|_| format!("{answered} of {n} answered in 60 s"))?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    match ended {
        Ended::Stopped => {
            // The server's log names connections by this address.
            eprintln!("ws_echo: from {local}: {messages} binary messages received");
            Ok(answered)
        }
        Ended::LinkLost => Err(format!("the link was lost after {answered} of {n} answers")),
        Ended::Closed(reason) => Err(format!("closed after {answered} of {n} answers: {reason}")),
    }
}

async fn run(args: Args) -> Result<u32, String> {
    let (addr, key) = match (args.connect, &args.key) {
        (Some(addr), Some(key)) => (addr, key.clone()),
        _ => {
            let key = OsEntropy::new()
                .map_err(|e| e.to_string())
                .and_then(|mut e| RsaPrivateKey::generate(&mut e).map_err(|e| e.to_string()))
                .map_err(|e| format!("server key: {e}"))?;
            let public = key.public_key().clone();
            let config = ServerConfig::new(vec![key]).map_err(|e| format!("server config: {e}"))?;
            let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("listen: {e}"))?;
            let addr = listener.local_addr().map_err(|e| format!("listen: {e}"))?;
            tokio::spawn(serve(listener, config));
            (addr, public)
        }
    };
    run_client(addr, key, &args).await
}

#[tokio::main]
async fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("ws_echo: {e}");
            std::process::exit(2);
        }
    };
    let n = args.requests;
    let inner = if args.kind == TransportKind::PaddedIntermediate { "padded intermediate" } else { "intermediate" };
    match run(args).await {
        Ok(answered) => {
            println!("{answered} of {n} requests echoed byte for byte over WebSocket (obfuscated2 {inner})");
            if answered != n {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("ws_echo: {e}");
            std::process::exit(1);
        }
    }
}
