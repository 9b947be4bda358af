//! A counting global allocator for the tests that measure heap use: a test
//! binary installs it with
//! `#[global_allocator] static GLOBAL: mtproto_tests::heap::Counting = mtproto_tests::heap::Counting;`
//! and measures with [`peak_during`] and [`live`].
// A global allocator must implement the unsafe GlobalAlloc trait; this one
// only forwards to the system allocator and counts. Test code only.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Forwards to the system allocator, counting live and peak bytes.
#[derive(Debug)]
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Measurements of one binary run one at a time (take it first).
pub static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: every call forwards the caller's layout and pointer to `System`
// unchanged; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarding to the system allocator with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarding a pointer the system allocator returned.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Heap bytes live now (when [`Counting`] is the global allocator).
pub fn live() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// Runs `f`; returns the peak of live heap bytes above the start, and the time it took.
pub fn peak_during(f: impl FnOnce()) -> (usize, Duration) {
    let start = live();
    PEAK.store(start, Ordering::SeqCst);
    let t = Instant::now();
    f();
    (PEAK.load(Ordering::SeqCst).saturating_sub(start), t.elapsed())
}
