//! msg_id generation from injected time, and seq_no counting.

use core::time::Duration;

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that connects and sends requests.
    Client,
    /// The side that accepts and answers.
    Server,
}

impl Role {
    /// The role at the other end.
    pub fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }
}

/// What a server msg_id answers, which fixes its low bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    /// A client message (msg_id ≡ 0 mod 4).
    Client,
    /// A server response to a client message (msg_id ≡ 1 mod 4).
    ServerResponse,
    /// Any other server message (msg_id ≡ 3 mod 4).
    ServerOther,
}

impl MsgKind {
    fn low_bits(self) -> i64 {
        match self {
            Self::Client => 0,
            Self::ServerResponse => 1,
            Self::ServerOther => 3,
        }
    }
}

/// Whether `msg_id` has the parity its sender's role requires.
pub fn parity_ok(msg_id: i64, sender: Role) -> bool {
    msg_id != 0
        && match sender {
            Role::Client => msg_id % 4 == 0,
            Role::Server => msg_id & 1 == 1,
        }
}

/// Generates msg_ids: unix time (corrected by a learned offset) in the high 32
/// bits, the sub-second fraction below, strictly increasing even when the
/// clock stands still or goes back.
#[derive(Debug, Clone, Default)]
pub struct MsgIdClock {
    last: i64,
    /// Seconds to add to the local clock to get the peer's.
    offset: i64,
}

impl MsgIdClock {
    /// A clock with a known offset (e.g. from a saved session or the handshake).
    pub fn with_offset(offset: i64) -> Self {
        Self { last: 0, offset }
    }

    /// The offset in seconds to the peer's clock.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Replaces the offset (learned from the peer).
    pub fn set_offset(&mut self, offset: i64) {
        self.offset = offset;
    }

    /// Learns the offset from a msg_id the peer generated at `now`.
    pub fn learn_from_msg_id(&mut self, peer_msg_id: i64, now: Duration) {
        self.offset = (peer_msg_id >> 32) - now.as_secs() as i64;
    }

    /// The peer's time as we currently estimate it, in seconds.
    pub fn peer_time(&self, now: Duration) -> i64 {
        now.as_secs() as i64 + self.offset
    }

    /// The msg_id the current time would give, without advancing the clock.
    pub fn time_msg_id(&self, now: Duration) -> i64 {
        let secs = now.as_secs() as i64 + self.offset;
        let frac = ((now.subsec_nanos() as u64) << 32) / 1_000_000_000;
        (secs << 32) | frac as i64
    }

    /// The next msg_id of the given kind.
    pub fn next(&mut self, now: Duration, kind: MsgKind) -> i64 {
        let low = kind.low_bits();
        let mut id = (self.time_msg_id(now) & !3) | low;
        if id <= self.last {
            id = ((self.last & !3) + 4) | low;
        }
        self.last = id;
        id
    }

    /// Forgets the last msg_id, so ids may start lower (only with a new session).
    pub fn restart(&mut self) {
        self.last = 0;
    }

    /// Continues after `last` (a session resumed after a restart): every
    /// later id is larger.
    pub fn continue_after(&mut self, last: i64) {
        self.last = self.last.max(last);
    }

    /// The last msg_id handed out.
    pub fn last(&self) -> i64 {
        self.last
    }
}

/// seq_no: content-related messages get odd numbers and advance the counter,
/// others get the current even number.
#[derive(Debug, Clone, Default)]
pub struct SeqNo {
    counter: i32,
}

impl SeqNo {
    /// The next seq_no.
    pub fn next(&mut self, content_related: bool) -> i32 {
        if content_related {
            let s = self.counter.wrapping_mul(2).wrapping_add(1);
            self.counter = self.counter.wrapping_add(1);
            s
        } else {
            self.counter.wrapping_mul(2)
        }
    }

    /// A counter that continues after `count` content-related messages.
    pub fn resume(count: i32) -> Self {
        Self { counter: count }
    }

    /// Content-related messages counted so far.
    pub fn count(&self) -> i32 {
        self.counter
    }
}
