//! Server: where client sessions live between links.
//!
//! MTProto's session belongs to the client and its auth key, not to a TCP
//! connection. A server [`super::Connection`] is one link; when the link
//! goes (EOF, [`super::Input::LinkLost`], any close) it saves every client
//! session it served into the [`SessionStore`], and the Connection of the
//! client's next link takes the session back on its first message: its
//! replay window, seq_no and first_msg_id carry over, no new_session_created
//! is sent, and every answer the client had not acknowledged is sent again.
//! The salt schedule belongs to the auth key and is kept here too, so a new
//! link sees no bad_server_salt. The model is rustls' `StoresServerSessions`.

use super::replay::ReplayWindow;
use crate::tl::schema::FutureSalt;
use core::time::Duration;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// What a server keeps of one client session between links.
#[derive(Debug, Clone)]
pub struct SavedSession {
    /// The client's session id.
    pub session_id: i64,
    pub(crate) replay: ReplayWindow,
    pub(crate) seq_count: i32,
    pub(crate) first_msg_id: i64,
    /// Answers (and other content) not acknowledged by the client: sent again
    /// on the next link.
    pub(crate) unacknowledged: Vec<Vec<u8>>,
    /// When it was saved (unix time), for idle expiry.
    pub saved_at: Duration,
}

impl SavedSession {
    /// Heap bytes this session holds (replay window and kept answers).
    pub fn heap_bytes(&self) -> usize {
        self.replay.heap_bytes() + self.unacknowledged.iter().map(|a| a.capacity() + 24).sum::<usize>()
    }
}

/// Keeps client sessions (by auth_key_id and session_id) and each key's
/// salt schedule between the links of a server. Shared by every server
/// Connection of one server (`Arc<dyn SessionStore>` in the configuration).
pub trait SessionStore: Send + Sync {
    /// Takes session `session_id` of key `auth_key_id` out, if kept.
    fn take(&self, auth_key_id: i64, session_id: i64, now: Duration) -> Option<SavedSession>;
    /// Keeps a session of key `auth_key_id`.
    fn put(&self, auth_key_id: i64, session: SavedSession);
    /// The salt schedule of a key, if one was saved.
    fn salts(&self, auth_key_id: i64) -> Option<Vec<FutureSalt>>;
    /// Saves the salt schedule of a key.
    fn set_salts(&self, auth_key_id: i64, salts: Vec<FutureSalt>);
    /// Forgets session `session_id` of a key (destroy_session); true when it was kept.
    fn remove(&self, auth_key_id: i64, session_id: i64) -> bool;
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<(i64, i64), SavedSession>,
    /// Keys of `sessions`, oldest first (a key may appear again after a
    /// re-save; stale entries are skipped on eviction).
    order: VecDeque<((i64, i64), Duration)>,
    salts: HashMap<i64, Vec<FutureSalt>>,
}

/// An in-memory [`SessionStore`] with a bound: at most `max_sessions`
/// sessions (the least recently saved forgotten first) and an idle expiry
/// (default 10 minutes, as Telegram keeps them). A forgotten session is
/// announced with new_session_created on the client's next message.
#[derive(Debug)]
pub struct MemorySessionStore {
    inner: Mutex<Inner>,
    max_sessions: usize,
    idle_expiry: Duration,
}

impl MemorySessionStore {
    /// Default idle expiry: 10 minutes.
    pub const DEFAULT_IDLE_EXPIRY: Duration = Duration::from_secs(600);

    /// A store of at most `max_sessions` sessions, each kept for
    /// [`MemorySessionStore::DEFAULT_IDLE_EXPIRY`].
    pub fn new(max_sessions: usize) -> Self {
        Self::with_expiry(max_sessions, Self::DEFAULT_IDLE_EXPIRY)
    }

    /// A store with the given bound and idle expiry.
    pub fn with_expiry(max_sessions: usize, idle_expiry: Duration) -> Self {
        Self { inner: Mutex::new(Inner::default()), max_sessions: max_sessions.max(1), idle_expiry }
    }

    /// Sessions kept now.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.sessions.len())
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by the kept sessions' own state (replay windows and
    /// kept answers; the maps' overhead aside).
    pub fn session_heap_bytes(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.sessions.values().map(SavedSession::heap_bytes).sum())
    }
}

impl SessionStore for MemorySessionStore {
    fn take(&self, auth_key_id: i64, session_id: i64, now: Duration) -> Option<SavedSession> {
        let mut inner = self.inner.lock().ok()?;
        let s = inner.sessions.remove(&(auth_key_id, session_id))?;
        (now < s.saved_at + self.idle_expiry).then_some(s)
    }

    fn put(&self, auth_key_id: i64, session: SavedSession) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let key = (auth_key_id, session.session_id);
        inner.order.push_back((key, session.saved_at));
        inner.sessions.insert(key, session);
        let Inner { sessions, order, .. } = &mut *inner;
        // Only the newest save of a session counts: older entries are stale.
        let live = |sessions: &HashMap<(i64, i64), SavedSession>, k: &(i64, i64), at: Duration| {
            sessions.get(k).is_some_and(|s| s.saved_at == at)
        };
        while sessions.len() > self.max_sessions {
            let Some((old, at)) = order.pop_front() else { break };
            if live(sessions, &old, at) {
                sessions.remove(&old);
            }
        }
        if order.len() > 2 * self.max_sessions + 16 {
            order.retain(|(k, at)| live(sessions, k, *at));
        }
    }

    fn salts(&self, auth_key_id: i64) -> Option<Vec<FutureSalt>> {
        self.inner.lock().ok()?.salts.get(&auth_key_id).cloned()
    }

    fn set_salts(&self, auth_key_id: i64, salts: Vec<FutureSalt>) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.salts.insert(auth_key_id, salts);
        }
    }

    fn remove(&self, auth_key_id: i64, session_id: i64) -> bool {
        self.inner.lock().is_ok_and(|mut i| i.sessions.remove(&(auth_key_id, session_id)).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(id: i64, at: u64) -> SavedSession {
        SavedSession {
            session_id: id,
            replay: ReplayWindow::new(8),
            seq_count: 3,
            first_msg_id: 4,
            unacknowledged: vec![vec![1; 8]],
            saved_at: Duration::from_secs(at),
        }
    }

    #[test]
    fn bounded_by_count_and_by_idle_expiry() {
        let store = MemorySessionStore::with_expiry(2, Duration::from_secs(60));
        store.put(1, saved(10, 100));
        store.put(1, saved(11, 101));
        store.put(1, saved(12, 102));
        assert_eq!(store.len(), 2);
        assert!(store.take(1, 10, Duration::from_secs(103)).is_none(), "the oldest was forgotten");
        assert_eq!(store.take(1, 11, Duration::from_secs(103)).map(|s| s.seq_count), Some(3));
        assert!(store.take(1, 11, Duration::from_secs(103)).is_none(), "taken once");
        assert!(store.take(1, 12, Duration::from_secs(162)).is_none(), "expired after 60 s idle");
        store.put(2, saved(10, 200));
        assert!(store.remove(2, 10));
        assert!(!store.remove(2, 10));
        store.set_salts(2, vec![FutureSalt { valid_since: 1, valid_until: 2, salt: 3 }]);
        assert_eq!(store.salts(2).map(|s| s[0].salt), Some(3));
    }

    #[test]
    fn re_saving_a_session_keeps_the_newest() {
        let store = MemorySessionStore::new(2);
        for t in 0..100 {
            store.put(1, saved(10, t));
        }
        store.put(1, saved(11, 200));
        assert_eq!(store.len(), 2);
        assert_eq!(store.take(1, 10, Duration::from_secs(300)).map(|s| s.saved_at), Some(Duration::from_secs(99)));
    }
}
