//! Zero heap allocations per message in steady state: pack into a reused
//! buffer and unpack in place, counted with a counting global allocator.
#![allow(clippy::unwrap_used)]
// A counting global allocator must implement the unsafe GlobalAlloc trait;
// it only forwards to the system allocator. Test code only.
#![allow(unsafe_code)]

use core::time::Duration;
use mtproto_core::message::{EncryptedSession, Role, container};
use mtproto_crypto::{AuthKey, SeededEntropy};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// The count is global: the tests of this file run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);

        // SAFETY: forwarding to the system allocator with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarding a pointer the system allocator returned.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn pack_and_unpack_allocate_nothing_in_steady_state() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let key = AuthKey::from_bytes(core::array::from_fn(|i| i as u8));
    let mut client =
        EncryptedSession::with_entropy(key.clone(), Role::Client, 1, 2, 0, Box::new(SeededEntropy::new(1)));
    let server = EncryptedSession::with_entropy(key, Role::Server, 1, 2, 0, Box::new(SeededEntropy::new(2)));
    let body = vec![0x42u8; 1024];
    let mut out = Vec::with_capacity(4096);
    let mut container_body = Vec::with_capacity(16 * 1024);
    let now = Duration::from_secs(1_780_000_000);
    // Warm up, then count.
    for round in 0..2 {
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..1000 {
            out.clear();
            client.pack(&body, true, now, &mut out);
            let m = server.unpack(&mut out).unwrap();
            assert_eq!(m.body.len(), 1024);
            // A container of 100 small messages, built into a reused buffer.
            container_body.clear();
            let mut c = container::ContainerBuilder::new(&mut container_body, 100, 1 << 20);
            for i in 0..100 {
                c.push(i * 4 + 4, 1, &body[..64]);
            }
            c.finish();
            out.clear();
            client.pack(&container_body, false, now, &mut out);
            server.unpack(&mut out).unwrap();
        }
        let used = ALLOCS.load(Ordering::Relaxed) - before;
        if round == 1 {
            assert_eq!(used, 0, "{used} allocations for 2000 messages");
        }
    }
}

/// The whole path, client and server Connections over the intermediate
/// transport: a 1 KiB request sent, framed, encrypted, carried as bytes,
/// decrypted, handed to the server's application, answered, and the answer
/// back to the client's. Counted per round trip in steady state.
fn whole_path_allocations(gzip: bool) -> usize {
    use mtproto_core::connection::{ClientOptions, Persisted, ServerOptions, Transporting};
    use mtproto_core::transport::TransportKind;
    use mtproto_core::{ClientConnection, ClientEvent, Input, Output, ServerConnection, ServerEvent};
    use std::sync::Arc;
    let now = Duration::from_secs(1_780_000_000);
    let key = AuthKey::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(7)));
    let transport = Transporting::Framed(TransportKind::Intermediate, None);
    let mut co = ClientOptions::resume(Persisted::new(key.clone(), 0, 0));
    co.session.transport = transport.clone();
    co.ping_interval = None;
    // With gzip on, the 1 KiB body (and its echo) is gzip_packed both ways.
    co.session.gzip_threshold = if gzip { 512 } else { usize::MAX };
    let mut so = ServerOptions::default();
    so.session.transport = transport;
    so.session.gzip_threshold = co.session.gzip_threshold;
    so.key_lookup = Some(Arc::new(move |id| (id == key.id()).then(|| key.clone())));
    let mut client = ClientConnection::with_entropy(co, now, Box::new(SeededEntropy::new(1)));
    let mut server = ServerConnection::with_entropy(so, now, Box::new(SeededEntropy::new(2)));
    // Compressible (as API answers are), so that gzip_packed is used.
    let body: Vec<u8> = (0..1024u32).map(|i| (i % 7) as u8).collect();
    let round_trip = |client: &mut ClientConnection, server: &mut ServerConnection| {
        let mut request = client.take_buffer();
        request.extend_from_slice(&body);
        client.send(request, Default::default());
        let mut answered = false;
        for _ in 0..4 {
            while let Some(out) = Some(client.poll_output(now)) {
                match out {
                    Output::Transmit(bytes) => {
                        server.handle_input(Input::Bytes(&bytes), now);
                        client.recycle(bytes);
                    }
                    Output::Event(ClientEvent::RpcResult { body, .. }) => {
                        assert_eq!(body.len(), 1024);
                        answered = true;
                        client.recycle(body);
                    }
                    Output::Event(_) => {}
                    Output::Timeout(_) => break,
                }
            }
            while let Some(out) = Some(server.poll_output(now)) {
                match out {
                    Output::Transmit(bytes) => {
                        client.handle_input(Input::Bytes(&bytes), now);
                        server.recycle(bytes);
                    }
                    Output::Event(ServerEvent::Request { req_msg_id, body }) => {
                        server.respond(req_msg_id, &body);
                        server.recycle(body);
                    }
                    Output::Event(_) => {}
                    Output::Timeout(_) => break,
                }
            }
            if answered {
                break;
            }
        }
        assert!(answered);
    };
    // Warm up past every bounded structure's final size (replay windows of
    // 2,048 ids, 4,096 kept messages), then count.
    for _ in 0..5000 {
        round_trip(&mut client, &mut server);
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        round_trip(&mut client, &mut server);
    }
    ALLOCS.load(Ordering::Relaxed) - before
}

#[test]
fn whole_path_allocates_nothing_per_round_trip() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let used = whole_path_allocations(false);
    eprintln!("whole path, gzip off: {used} allocations for 1000 round trips");
    assert_eq!(used, 0, "{} allocations per round trip", used as f64 / 1000.0);
}

/// The same with gzip_packed both ways: the deflate state is kept per
/// thread, so compressing allocates nothing either (inflating writes into
/// a pooled buffer).
#[test]
fn whole_path_with_gzip_allocates_nothing_per_round_trip() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let used = whole_path_allocations(true);
    eprintln!("whole path, gzip on: {used} allocations for 1000 round trips");
    assert_eq!(used, 0, "{} allocations per round trip", used as f64 / 1000.0);
}

/// A buffer given back is the next one handed out (its allocation reused).
#[test]
fn a_recycled_buffer_is_the_next_one_used() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let now = Duration::from_secs(1_780_000_000);
    let key = AuthKey::from_bytes([9; 256]);
    let options = mtproto_core::connection::ClientOptions::resume(mtproto_core::connection::Persisted::new(key, 0, 0));
    let mut client = mtproto_core::ClientConnection::with_entropy(options, now, Box::new(SeededEntropy::new(3)));
    let buf = Vec::with_capacity(4096);
    let ptr = buf.as_ptr();
    client.recycle(buf);
    let again = client.take_buffer();
    assert_eq!(again.as_ptr(), ptr);
    assert!(again.is_empty() && again.capacity() >= 4096);
}
