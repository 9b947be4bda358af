//! The example server under hostile input: hundreds of misbehaving
//! connections at once while an honest client completes its handshake and
//! RPCs; every hostile connection is closed (after -404 where the spec says
//! so), none is answered, and the process's memory returns to its baseline.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::std_driver::{Flow, Wire, drive, now};
use mtproto_core::ClientEvent;
use mtproto_core::connection::SendOptions;
use mtproto_core::connection::{ClientConnection, ClientOptions};
use mtproto_core::handshake::ClientConfig;
use mtproto_core::tl::Serialize;
use mtproto_core::tl::schema::ReqPqMulti;
use mtproto_tests::server_rsa_key;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn intermediate(payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0xee; 4];
    v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    v.extend_from_slice(payload);
    v
}

fn plain(msg_id: i64, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    mtproto_core::message::pack_plain(msg_id, body, &mut p);
    p
}

/// What a hostile connection sends, and what it must get back before EOF.
fn hostile(kind: usize) -> (Vec<u8>, Option<Vec<u8>>) {
    let good_msg_id = (now().as_secs() as i64) << 32;
    match kind % 9 {
        // Slowloris: a frame header announcing 1000 bytes, then silence.
        0 => ([&[0xee; 4][..], &1000u32.to_le_bytes(), &[1, 2, 3]].concat(), None),
        // An absurd length prefix.
        1 => ([&[0xee; 4][..], &0x7fff_fff0u32.to_le_bytes()].concat(), None),
        // Garbage after a valid tag (abridged with a long-form length of 0x7fffff words).
        2 => (vec![0xef, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3], None),
        // A flood of tiny frames.
        3 => ([&[0xee; 4][..], &[4, 0, 0, 0, 1, 2, 3, 4].repeat(500)].concat(), None),
        // A malformed handshake: req_pq_multi with a short nonce.
        4 => (intermediate(&plain(good_msg_id, &[&ReqPqMulti::ID.to_le_bytes()[..], &[0; 8]].concat())), None),
        // msg_id 0.
        5 => (intermediate(&plain(0, &ReqPqMulti { nonce: [1; 16] }.to_bytes())), None),
        // Trailing bytes after a valid request.
        6 => (
            intermediate(&plain(good_msg_id, &[&ReqPqMulti { nonce: [1; 16] }.to_bytes()[..], &[0; 4]].concat())),
            None,
        ),
        // A handshake message with an unknown constructor.
        7 => (intermediate(&plain(good_msg_id, &[&0xdead_beefu32.to_le_bytes()[..], &[0; 16]].concat())), None),
        // An encrypted message under an unknown auth_key_id: -404, then close.
        _ => {
            let mut packet = vec![0x5a; 72];
            packet[..8].copy_from_slice(&0x1234_5678_9abc_def0u64.to_le_bytes());
            let mut expect = 4u32.to_le_bytes().to_vec();
            expect.extend_from_slice(&(-404i32).to_le_bytes());
            (intermediate(&packet), Some(expect))
        }
    }
}

fn honest_client(addr: std::net::SocketAddr, requests: u64) -> Result<Duration, String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let mut conn = ClientConnection::new(
        ClientOptions::new(ClientConfig::new(vec![server_rsa_key().public_key().clone()], 2)),
        now(),
    )
    .unwrap();
    let mut sent = 0;
    let answered = std::cell::Cell::new(0u64);
    drive(
        &mut conn,
        &mut stream,
        &mut Wire::default(),
        |_, ev| {
            if let ClientEvent::RpcResult { .. } = ev {
                answered.set(answered.get() + 1);
            }
            Flow::Continue
        },
        |conn| {
            if conn.is_ready() && sent < requests {
                conn.send(sent.to_le_bytes().to_vec(), SendOptions::default());
                sent += 1;
            }
            if answered.get() == requests || started.elapsed() > Duration::from_secs(60) {
                Flow::Stop
            } else {
                Flow::Continue
            }
        },
    )
    .map_err(|e| e.to_string())?;
    if answered.get() != requests {
        return Err(format!("{} of {requests} answered", answered.get()));
    }
    Ok(started.elapsed())
}

#[test]
fn hundreds_of_hostile_connections_and_an_honest_client() {
    let server = common::start(400, |cfg| {
        cfg.session.frame_timeout = Duration::from_secs(2);
        if let Some(s) = cfg.handshake.as_mut() {
            s.timeout = Duration::from_secs(3);
        }
    });
    // Warm up (one honest session), then take the memory baseline.
    honest_client(server.addr, 20).unwrap();
    let baseline = rss_kib();
    let hostile_count = 324;
    let handles: Vec<_> = (0..hostile_count)
        .map(|i| {
            let addr = server.addr;
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || -> Result<(), String> {
                    let (send, expect) = hostile(i);
                    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
                    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
                    let _ = s.write_all(&send);
                    let mut got = Vec::new();
                    let started = Instant::now();
                    match s.read_to_end(&mut got) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                        Err(e) => return Err(format!("kind {}: not closed after {:?}: {e}", i % 9, started.elapsed())),
                    }
                    match expect {
                        Some(want) if got != want => Err(format!("kind {}: got {got:02x?}, want {want:02x?}", i % 9)),
                        None if !got.is_empty() => Err(format!("kind {}: answered with {} bytes", i % 9, got.len())),
                        _ => Ok(()),
                    }
                })
                .unwrap()
        })
        .collect();
    // Meanwhile an honest client completes its handshake and RPCs.
    let honest = honest_client(server.addr, 200);
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} hostile connections misbehaved: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let took = honest.unwrap();
    println!("honest client: handshake + 200 RPCs in {took:.2?} beside {hostile_count} hostile connections");
    // Every connection is gone, and the memory is back near the baseline.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.active.load(Ordering::SeqCst), 0, "connections left open");
    let after = rss_kib();
    println!("RSS: baseline {baseline} KiB, after {after} KiB");
    assert!(after < baseline + 16 * 1024, "memory grew from {baseline} KiB to {after} KiB");
}

#[test]
fn connection_cap_refuses_excess() {
    let server = common::start(2, |cfg| cfg.session.frame_timeout = Duration::from_secs(2));
    let _a = TcpStream::connect(server.addr).unwrap();
    let _b = TcpStream::connect(server.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0, "the third connection is closed at once");
    assert!(server.refused.load(Ordering::SeqCst) >= 1);
}
