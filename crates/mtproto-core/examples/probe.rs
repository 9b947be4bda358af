//! Probe a real MTProto server: connect to HOST:PORT with a transport (and an
//! optional MTProxy secret: plain, `dd` or `ee`, the last through fake-TLS),
//! shake hands using Telegram's built-in keys (or a
//! PEM file), send a few pings, and print auth_key_id, salt and round trips.
//!
//! ```text
//! cargo run --release -p mtproto-core --example probe -- 149.154.167.40:443 --test-dc 2
//! cargo run --release -p mtproto-core --example probe -- HOST:PORT --transport obfuscated --secret SECRET
//! cargo run --release -p mtproto-core --example probe -- 127.0.0.1:PORT --key server.pem
//! ```
#![allow(missing_docs)]

#[path = "common/std_driver.rs"]
mod std_driver;

use mtproto_core::ClientEvent;
use mtproto_core::connection::Transporting;
use mtproto_core::connection::{ClientConnection, ClientOptions};
use mtproto_core::handshake::ClientConfig;
use mtproto_core::transport::fake_tls::FakeTlsConfig;
use mtproto_core::transport::{Obfuscation, ProxySecret, TransportKind};
use mtproto_crypto::rsa::{RsaPublicKey, builtin};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use std_driver::{Flow, Wire, drive, now};

struct Args {
    addr: String,
    transport: TransportKind,
    obfuscated: bool,
    secret: Option<[u8; 16]>,
    /// An `ee` secret: connect through MTProxy fake-TLS.
    fake_tls: Option<ProxySecret>,
    dc: i32,
    test_dc: bool,
    key: Option<String>,
    pings: u32,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args { addr: it.next().ok_or("usage: probe HOST:PORT [--transport abridged|intermediate|padded|full|obfuscated] [--secret SECRET (hex, base64url or base64: 16 bytes, dd + 16, ee + 16 + domain)] [--dc N] [--test-dc N] [--key PEM] [--pings N]")?, transport: TransportKind::Intermediate, obfuscated: false, secret: None, fake_tls: None, dc: 2, test_dc: false, key: None, pings: 5 };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--transport" => match value.as_str() {
                "abridged" => a.transport = TransportKind::Abridged,
                "intermediate" => a.transport = TransportKind::Intermediate,
                "padded" => a.transport = TransportKind::PaddedIntermediate,
                "full" => a.transport = TransportKind::Full,
                "obfuscated" => {
                    a.transport = TransportKind::PaddedIntermediate;
                    a.obfuscated = true;
                }
                other => return Err(format!("unknown transport {other}")),
            },
            "--secret" => {
                // Parsed as TDLib does (hex, base64url, base64; plain, dd, ee).
                match ProxySecret::parse(&value).map_err(|e| format!("--secret: {e}"))? {
                    ProxySecret::Obfuscated(key) => a.secret = Some(key),
                    ProxySecret::Padded(key) => {
                        a.secret = Some(key);
                        a.transport = TransportKind::PaddedIntermediate;
                    }
                    fake @ ProxySecret::FakeTls { .. } => a.fake_tls = Some(fake),
                }
                a.obfuscated = true;
            }
            "--dc" => a.dc = value.parse().map_err(|_| "bad dc")?,
            "--test-dc" => {
                a.dc = value.parse().map_err(|_| "bad dc")?;
                a.test_dc = true;
            }
            "--key" => a.key = Some(std::fs::read_to_string(&value).map_err(|e| format!("{value}: {e}"))?),
            "--pings" => a.pings = value.parse().map_err(|_| "bad count")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let fail = |what: String| -> ! {
        eprintln!("probe: {what}");
        std::process::exit(1);
    };
    let keys = match &args.key {
        Some(pem) => vec![RsaPublicKey::from_pem(pem).unwrap_or_else(|e| fail(format!("the PEM key: {e}")))],
        None if args.test_dc => builtin::test(),
        None => builtin::production(),
    };
    let dc_field = if args.test_dc { 10_000 + args.dc } else { args.dc };
    let mut cfg = ClientOptions::new(ClientConfig::new(keys, dc_field));
    cfg.ping_interval = None;
    let obfuscation = args.obfuscated.then_some(Obfuscation { dc_id: dc_field as i16, secret: args.secret });
    cfg.session.transport = match args.fake_tls.as_ref().and_then(|s| FakeTlsConfig::from_secret(s, dc_field as i16)) {
        Some(fake) => Transporting::FakeTls(fake),
        None => Transporting::Framed(args.transport, obfuscation),
    };
    let mut stream =
        TcpStream::connect(&args.addr).unwrap_or_else(|e| fail(format!("cannot connect to {}: {e}", args.addr)));
    stream.set_write_timeout(Some(Duration::from_secs(10))).ok();
    let started = Instant::now();
    let mut conn = ClientConnection::new(cfg, now()).unwrap_or_else(|e| fail(format!("client: {e}")));
    let mut sent_pings = 0;
    let rtts = std::cell::RefCell::new(Vec::new());
    let mut wire = Wire::default();
    let result = drive(
        &mut conn,
        &mut stream,
        &mut wire,
        |_, ev| {
            match ev {
                ClientEvent::Ready { auth_key, salt, time_offset } => {
                    println!("handshake: {:.1?}", started.elapsed());
                    println!("auth_key_id: {:016x}", auth_key.id() as u64);
                    println!("salt: {salt:016x}  time offset: {time_offset} s");
                }
                ClientEvent::Pong { rtt } => rtts.borrow_mut().push(rtt),
                ClientEvent::TransportError { failure, .. } => println!("{failure}"),
                _ => {}
            }
            Flow::Continue
        },
        |conn| {
            let got = rtts.borrow().len() as u32;
            if conn.is_ready() && sent_pings == got && sent_pings < args.pings {
                conn.ping(now());
                sent_pings += 1;
            }
            if got >= args.pings || started.elapsed() > Duration::from_secs(60) { Flow::Stop } else { Flow::Continue }
        },
    );
    let rtts = rtts.into_inner();
    for (i, rtt) in rtts.iter().enumerate() {
        println!("ping {i}: {rtt:.2?}");
    }
    println!("bytes: {} sent, {} received", wire.sent, wire.received);
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    if (rtts.len() as u32) < args.pings {
        std::process::exit(1);
    }
}
