//! Bytes of overhead per packet for every transport: what goes on the wire
//! minus the MTProto packet (the encrypted message the transport carries),
//! for packets of 64 B, 1 KiB and 16 KiB, in each direction where they
//! differ. Byte counts do not depend on the CPU; nothing is timed.
//!
//! `cargo bench -p mtproto-core --bench overhead` prints a Markdown table
//! (any arguments, such as `-- --quick`, are ignored). Per-connection costs
//! (tags, the obfuscated2 header, the fake-TLS handshake, the WebSocket
//! upgrade) are printed below it and are not in the per-packet numbers.
//!
//! Every number is measured by encoding packets with the codecs, except
//! WebSocket's: the library has no WebSocket codec (the examples use
//! tungstenite), so its frame header is computed from RFC 6455's format
//! (2 bytes, plus 2 or 8 for lengths of 126..=65535 or more, plus the 4-byte
//! mask on a client's frames) and checked against tungstenite's own header
//! encoder.
#![allow(missing_docs, clippy::unwrap_used)]

use core::time::Duration;
use mtproto_core::transport::fake_tls::{FakeTlsConfig, ReplayCache};
use mtproto_core::transport::http::{HttpClient, HttpLimits, HttpServer};
use mtproto_core::transport::{DEFAULT_MAX_FRAME, Obfuscation, Transport, TransportKind};
use mtproto_crypto::SeededEntropy;
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

const SIZES: [usize; 3] = [64, 1024, 16 * 1024];

/// Packets encoded per measurement (padded intermediate's padding is
/// random: its number is the mean).
const PACKETS: usize = 4096;

const NOW: Duration = Duration::from_secs(1_780_000_000);

/// A host as a client would name one of Telegram's HTTP endpoints.
const HOST: &str = "149.154.167.51:80";

/// Mean overhead per packet of `size` bytes through `encode`, after a first
/// packet that carries the per-connection prefix.
fn per_packet(size: usize, mut encode: impl FnMut(&[u8], &mut Vec<u8>)) -> f64 {
    let mut scratch = Vec::new();
    encode(&[0x11; 64], &mut scratch);
    let packet = vec![0x5au8; size];
    let mut out = Vec::with_capacity(PACKETS * (size + 64));
    for _ in 0..PACKETS {
        encode(&packet, &mut out);
    }
    (out.len() - PACKETS * size) as f64 / PACKETS as f64
}

fn client(kind: TransportKind, obfuscation: Option<Obfuscation>) -> Transport {
    Transport::client(kind, obfuscation, DEFAULT_MAX_FRAME, Box::new(SeededEntropy::new(1))).unwrap()
}

/// A server transport that has detected `kind` from a client's first bytes.
fn server(kind: TransportKind, obfuscation: Option<Obfuscation>) -> Transport {
    let mut c = client(kind, obfuscation);
    let secret = obfuscation.and_then(|o| o.secret);
    let mut s = Transport::server(secret, DEFAULT_MAX_FRAME, Box::new(SeededEntropy::new(2)));
    let mut wire = Vec::new();
    c.encode(&[0x22; 64], false, &mut wire);
    s.feed(&wire, &mut Vec::new()).unwrap();
    s
}

/// A fake-TLS client and server after the handshake (and the client's
/// first packet); `report` prints the handshake's sizes.
fn fake_tls_pair(report: bool) -> (Transport, Transport) {
    let config = FakeTlsConfig::new([7; 16], "www.example.com", 2);
    let mut proxy = config.clone();
    proxy.replay = ReplayCache::new(1);
    let mut c = Transport::fake_tls_client(&config, DEFAULT_MAX_FRAME, Box::new(SeededEntropy::new(3)));
    let mut s = Transport::fake_tls_server(proxy, DEFAULT_MAX_FRAME, Box::new(SeededEntropy::new(4)));
    c.set_unix_time(NOW.as_secs() as i64);
    s.set_unix_time(NOW.as_secs() as i64);
    let mut wire = Vec::new();
    c.poll_transmit(&mut wire);
    let hello = wire.len();
    s.feed(&wire, &mut Vec::new()).unwrap();
    wire.clear();
    s.poll_transmit(&mut wire);
    let answer = wire.len();
    c.feed(&wire, &mut Vec::new()).unwrap();
    // The client's first packet carries the ChangeCipherSpec and the obfuscated2 header.
    wire.clear();
    c.encode(&[0x33; 64], false, &mut wire);
    c.poll_transmit(&mut wire);
    let first = wire.len() - 64;
    s.feed(&wire, &mut Vec::new()).unwrap();
    if !report {
        return (c, s);
    }
    println!(
        "fake-TLS handshake: ClientHello {hello} B, proxy answer {answer} B (its application-data record is \
         1,024..=4,096 random bytes by default), the client's first write {first} B before its packet \
         (ChangeCipherSpec, obfuscated2 header, record and frame headers)"
    );
    (c, s)
}

/// The WebSocket frame header of a binary message of `len` bytes, from the
/// format; checked against tungstenite's encoder.
fn ws_header(len: usize, masked: bool) -> usize {
    let extra = match len {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    let ours = 2 + extra + if masked { 4 } else { 0 };
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Binary),
        mask: masked.then_some([1, 2, 3, 4]),
        ..FrameHeader::default()
    };
    let mut formatted = Vec::new();
    header.format(len as u64, &mut formatted).unwrap();
    assert_eq!(ours, formatted.len(), "frame header of {len} bytes");
    ours
}

fn main() {
    println!("Bytes of overhead per packet (wire bytes minus the MTProto packet), mean of {PACKETS} packets:\n");
    println!("| transport | direction | 64 B | 1 KiB | 16 KiB |");
    println!("|---|---|---:|---:|---:|");
    let row = |name: &str, dir: &str, f: &mut dyn FnMut(usize) -> f64| {
        let cells: Vec<String> = SIZES
            .iter()
            .map(|&s| {
                let v = f(s);
                if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
            })
            .collect();
        println!("| {name} | {dir} | {} |", cells.join(" | "));
    };
    let framed = [
        ("abridged", TransportKind::Abridged, None),
        ("intermediate", TransportKind::Intermediate, None),
        ("padded intermediate", TransportKind::PaddedIntermediate, None),
        ("full", TransportKind::Full, None),
        ("obfuscated2 (intermediate)", TransportKind::Intermediate, Some(Obfuscation { dc_id: 2, secret: None })),
        (
            "obfuscated2 (padded intermediate)",
            TransportKind::PaddedIntermediate,
            Some(Obfuscation { dc_id: 2, secret: Some([9; 16]) }),
        ),
    ];
    for (name, kind, obf) in framed {
        row(name, "client → server", &mut |size| {
            let mut t = client(kind, obf);
            per_packet(size, |p, out| t.encode(p, false, out))
        });
        row(name, "server → client", &mut |size| {
            let mut t = server(kind, obf);
            per_packet(size, |p, out| t.encode(p, false, out))
        });
    }
    row("fake-TLS (padded intermediate in records)", "client → server", &mut |size| {
        let (mut c, _) = fake_tls_pair(false);
        per_packet(size, |p, out| c.encode(p, false, out))
    });
    row("fake-TLS (padded intermediate in records)", "server → client", &mut |size| {
        let (_, mut s) = fake_tls_pair(false);
        per_packet(size, |p, out| s.encode(p, false, out))
    });
    row("HTTP (request head)", "client → server", &mut |size| {
        let mut http = HttpClient::new(HOST, HttpLimits::default()).unwrap();
        per_packet(size, |p, out| http.encode_request(p, out))
    });
    row("HTTP (response head, CORS headers)", "server → client", &mut |size| {
        let mut http = HttpServer::new(HttpLimits::default());
        let mut request = Vec::new();
        HttpClient::new(HOST, HttpLimits::default()).unwrap().encode_poll(&mut request);
        per_packet(size, |p, out| {
            http.handle_bytes(&request, NOW).unwrap();
            http.queue_packet(p.to_vec(), NOW).unwrap();
            out.extend_from_slice(&http.poll_transmit(NOW).unwrap());
        })
    });
    // WebSocket: obfuscated2 intermediate inside (4 bytes per packet), one
    // binary message per packet.
    row("WebSocket (obfuscated2 intermediate, one message per packet)", "client → server", &mut |size| {
        4.0 + ws_header(size + 4, true) as f64
    });
    row("WebSocket (obfuscated2 intermediate, one message per packet)", "server → client", &mut |size| {
        4.0 + ws_header(size + 4, false) as f64
    });
    println!();
    println!(
        "Once per connection: abridged tag 1 B, intermediate / padded tag 4 B, full 0 B, obfuscated2 header 64 B."
    );
    let _ = fake_tls_pair(true);
    let mut poll = Vec::new();
    HttpClient::new(HOST, HttpLimits::default()).unwrap().encode_poll(&mut poll);
    let mut http = HttpServer::new(HttpLimits::default());
    http.handle_bytes(&poll, NOW).unwrap();
    http.answer_oldest();
    let empty = http.poll_transmit(NOW).unwrap();
    println!(
        "HTTP: an empty poll (no packet to send) is a {} B request; an empty answer (nothing due) {} B.",
        poll.len(),
        empty.len()
    );
}
