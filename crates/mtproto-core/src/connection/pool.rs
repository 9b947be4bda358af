//! Buffers handed back by the caller ([`super::ClientConnection::recycle`],
//! [`super::ServerConnection::recycle`]) and by the connection itself
//! (packets once framed, bodies once acknowledged or answered), reused for
//! the next transmit, packet or event body: in steady state a driver that
//! recycles what it is given makes the whole path allocation-free.

/// Most buffers kept (the rest are freed): enough for the answers a server
/// keeps until the client's next msgs_ack (it acknowledges every 16) with
/// the transmits beside them.
const MAX_BUFFERS: usize = 32;
/// A buffer larger than this is freed rather than kept (a large upload's
/// buffer should not stay for ever).
const MAX_KEPT_CAPACITY: usize = 64 << 10;
/// Most bytes of capacity kept in all (a link that had a burst keeps at
/// most this much after it).
const MAX_KEPT_TOTAL: usize = 64 << 10;

/// A small free list of byte buffers.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
    /// Capacity of the buffers in `free`, in bytes.
    kept: usize,
}

impl BufferPool {
    /// An empty buffer, with the capacity of one given back earlier when
    /// there is one.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        let b = self.free.pop().unwrap_or_default();
        self.kept -= b.capacity();
        b
    }

    /// An empty buffer with room for `len` bytes.
    pub(crate) fn take_with(&mut self, len: usize) -> Vec<u8> {
        let mut b = self.take();
        b.reserve(len);
        b
    }

    /// A copy of `bytes` in a kept buffer.
    pub(crate) fn copy_of(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut b = self.take_with(bytes.len());
        b.extend_from_slice(bytes);
        b
    }

    /// Keeps `buf` for reuse (its contents are wiped: it may have held
    /// plaintext), within the bounds.
    pub(crate) fn give(&mut self, mut buf: Vec<u8>) {
        // The whole allocation, spare capacity too (a buffer cleared or
        // truncated before it came back still holds what it held), also
        // when it is freed rather than kept. One bulk zeroing behind
        // `zeroize`'s optimisation barrier: `Vec::zeroize`'s byte-by-byte
        // volatile writes cost 12 % of a 1 KiB round trip over a framed
        // transport (perf, session 6).
        buf.clear();
        zeroize::Zeroize::zeroize(buf.spare_capacity_mut());
        let capacity = buf.capacity();
        if capacity == 0
            || capacity > MAX_KEPT_CAPACITY
            || self.free.len() >= MAX_BUFFERS
            || self.kept + capacity > MAX_KEPT_TOTAL
        {
            return;
        }
        self.kept += capacity;
        self.free.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_wiped_and_bounded() {
        let mut pool = BufferPool::default();
        let mut b = pool.take_with(100);
        b.extend_from_slice(b"secret");
        let ptr = b.as_ptr();
        pool.give(b);
        let again = pool.take();
        assert!(again.is_empty() && again.capacity() >= 100);
        assert_eq!(again.as_ptr(), ptr, "the same allocation");
        pool.give(vec![0; MAX_KEPT_CAPACITY + 1]);
        for _ in 0..MAX_BUFFERS + 4 {
            pool.give(Vec::with_capacity(8));
        }
        assert_eq!(pool.free.len(), MAX_BUFFERS, "bounded; the oversized one freed");
        let mut total = BufferPool::default();
        for _ in 0..4 {
            total.give(Vec::with_capacity(MAX_KEPT_TOTAL / 3));
        }
        assert_eq!(total.free.len(), 3, "bounded in bytes too");
        assert!(total.kept <= MAX_KEPT_TOTAL);
    }
}
