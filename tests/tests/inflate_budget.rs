//! Finding 3 of the 2026 review: one packet full of gzip bombs must not make
//! either role allocate more than its inflate budget. Peak heap use is
//! measured with a counting global allocator.
#![allow(clippy::unwrap_used, missing_docs)]

use mtproto_core::message::container::ContainerBuilder;
use mtproto_core::message::gzip;
use mtproto_core::{ClientEvent, Input, ServerEvent};
use mtproto_tests::heap::SERIAL;
use mtproto_tests::peer::{self, FakeClient, FakeServer, NOW, drain};

#[global_allocator]
static GLOBAL: mtproto_tests::heap::Counting = mtproto_tests::heap::Counting;

const BOMB: usize = 16 << 20;
const BOMBS: usize = 60;

/// A gzip_packed object inflating to 16 MiB of zeros (about 16 KiB), with
/// its trailer's size field set to `declared` (a liar declares less).
fn bomb(declared: Option<u32>) -> Vec<u8> {
    let mut packed = Vec::new();
    assert!(gzip::pack_if_smaller(&vec![0u8; BOMB], &mut packed));
    if let Some(d) = declared {
        // gzip_packed: id (4), TL bytes header (4), stream, padding; the
        // stream ends with CRC32 and ISIZE. Find ISIZE by its value.
        let isize = (BOMB as u32).to_le_bytes();
        let at = packed.windows(4).rposition(|w| w == isize).unwrap();
        packed[at..at + 4].copy_from_slice(&d.to_le_bytes());
    }
    packed
}

fn container_of(msg_ids: &mut dyn FnMut() -> i64, body: &[u8]) -> Vec<u8> {
    let mut c = Vec::new();
    let mut b = ContainerBuilder::new(&mut c, BOMBS, usize::MAX);
    for _ in 0..BOMBS {
        assert!(b.push(msg_ids(), 1, body));
    }
    b.finish();
    c
}

fn peak_during(f: impl FnOnce()) -> usize {
    mtproto_tests::heap::peak_during(f).0
}

fn server_peak(declared: Option<u32>) -> (usize, Vec<ServerEvent>) {
    let mut server = peer::server(|_| {});
    let mut c = FakeClient::new(0x99);
    c.learn_salt(&mut server, NOW);
    let body = container_of(&mut || c.session.next_msg_id(NOW, false), &bomb(declared));
    let container_id = c.session.next_msg_id(NOW, false);
    let mut p = c.packet_with(container_id, 2, &body);
    assert!(p.len() < 1 << 20, "the bombs fit one 1 MiB frame ({} bytes)", p.len());
    let mut events = Vec::new();
    let peak = peak_during(|| {
        server.handle_input(Input::Packet(&mut p), NOW);
        events = drain(&mut server, NOW).1;
    });
    (peak, events)
}

#[test]
fn server_inflates_at_most_its_budget_from_one_packet() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for declared in [None, Some(64)] {
        let (peak, events) = server_peak(declared);
        let inflated: usize =
            events.iter().map(|e| if let ServerEvent::Request { body, .. } = e { body.len() } else { 0 }).sum();
        eprintln!("server, 60 bombs declaring {declared:?}: inflated {inflated} bytes, peak heap {} KiB", peak >> 10);
        assert!(inflated <= BOMB, "{declared:?}: {inflated} bytes inflated");
        assert!(peak <= 3 * BOMB, "{declared:?}: peak heap {} MiB", peak >> 20);
        if declared.is_none() {
            assert!(
                events.iter().any(|e| matches!(e, ServerEvent::InboundDropped { .. })),
                "the packet is dropped with a typed reason: {events:?}"
            );
        }
    }
}

#[test]
fn client_inflates_at_most_its_budget_from_one_packet() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for declared in [None, Some(64)] {
        let mut client = peer::client(7, |_| {});
        let mut srv = FakeServer::new(client.session_id().unwrap(), 7);
        let body = container_of(&mut || srv.session.next_msg_id(NOW, false), &bomb(declared));
        let mut p = srv.packet(&body, false, NOW);
        let mut events = Vec::new();
        let peak = peak_during(|| {
            client.handle_input(Input::Packet(&mut p), NOW);
            events = drain(&mut client, NOW).1;
        });
        let inflated: usize =
            events.iter().map(|e| if let ClientEvent::Update { body } = e { body.len() } else { 0 }).sum();
        eprintln!("client, 60 bombs declaring {declared:?}: inflated {inflated} bytes, peak heap {} KiB", peak >> 10);
        assert!(inflated <= BOMB, "{declared:?}: {inflated} bytes inflated");
        assert!(peak <= 3 * BOMB, "{declared:?}: peak heap {} MiB", peak >> 20);
    }
}
