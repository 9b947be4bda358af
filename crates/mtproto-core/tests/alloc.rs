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
