//! Server: randomness for a link, drawn from the server's generator only
//! when the link first needs some, so that a link waiting for its first
//! packet holds no generator state (an AES-256 key schedule and a buffer,
//! about a kilobyte, otherwise).

use mtproto_crypto::Entropy;
use std::sync::{Arc, Mutex, PoisonError};

/// The server's generator, shared by its links.
pub(crate) type SharedEntropy = Arc<Mutex<Box<dyn Entropy + Send>>>;

/// A child of the server's generator, made at first use: a full
/// [`mtproto_crypto::ForkedEntropy`] seed (a 256-bit key and a 128-bit
/// counter) drawn from the parent then. Every fork is lazy the same way.
pub(crate) struct LazyEntropy {
    parent: SharedEntropy,
    child: Option<Box<dyn Entropy + Send>>,
}

impl LazyEntropy {
    pub(crate) fn new(parent: SharedEntropy) -> Self {
        Self { parent, child: None }
    }
}

impl Entropy for LazyEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        let parent = &self.parent;
        self.child.get_or_insert_with(|| parent.lock().unwrap_or_else(PoisonError::into_inner).fork()).fill(dest);
    }

    fn fork(&mut self) -> Box<dyn Entropy + Send> {
        Box::new(Self::new(Arc::clone(&self.parent)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtproto_crypto::SeededEntropy;

    #[test]
    fn children_draw_from_the_parent_at_first_use_and_differ() {
        let parent: SharedEntropy = Arc::new(Mutex::new(Box::new(SeededEntropy::new(3))));
        let mut a = LazyEntropy::new(Arc::clone(&parent));
        let mut b = a.fork();
        assert!(a.child.is_none(), "nothing drawn before first use");
        let (x, y) = (a.next_u64(), b.next_u64());
        assert_ne!(x, y, "two children, two streams");
        // Deterministic under a deterministic parent (seeded simulations replay).
        let again: SharedEntropy = Arc::new(Mutex::new(Box::new(SeededEntropy::new(3))));
        assert_eq!(LazyEntropy::new(again).next_u64(), x);
    }
}
