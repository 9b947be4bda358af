//! Server: the client sessions of a server, shared by all its links.
//!
//! MTProto's session belongs to the client and its auth key, not to a TCP
//! connection. A server [`super::Connection`] is one link; every client
//! session it serves is a [`SharedSession`] kept in the server's
//! [`SessionStore`], keyed by (auth_key_id, session_id), and every link
//! that carries messages of that session holds the same one. So:
//!
//! - a session continues on a new link (no new_session_created, no
//!   bad_server_salt), with its replay window, seq_no and first_msg_id;
//! - several links may carry one session at once (a client that opened a
//!   new connection before the old one timed out, or HTTP's long-poll link
//!   beside its request link), and a message accepted on one of them is a
//!   replay on every other: one replay window, checked and updated under
//!   one lock;
//! - answers a link could not get acknowledged before it went are handed to
//!   the session and sent again on the next link that carries it;
//! - the salt schedule belongs to the key ([`SharedKey`]): every session
//!   and link of a key sees the same salts.
//!
//! Bounded: a session no link carries is parked; parked sessions are
//! forgotten after an idle expiry (default 10 minutes, as Telegram keeps
//! them) or, beyond `max_sessions`, the least recently parked first. A
//! forgotten session's msg_ids raise its key's floor: no message at or
//! below it starts a new session, so a forgotten session cannot come back
//! as new. Sessions some link carries are never forgotten (each link
//! carries at most a few; links are bounded by the server).

use super::replay::ReplayWindow;
use crate::tl::schema::FutureSalt;
use core::time::Duration;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a server keeps of one client session (see the module docs).
#[derive(Debug)]
pub struct SharedSession {
    session_id: i64,
    state: Mutex<SessionState>,
}

/// The state of a [`SharedSession`], behind its lock.
#[derive(Debug)]
pub(crate) struct SessionState {
    /// The client's msg_ids received in this session, on any link.
    pub replay: ReplayWindow,
    /// Content-related messages the server sent in it (its seq_no counter).
    pub seq_count: i32,
    /// The first msg_id announced by new_session_created for it.
    pub first_msg_id: i64,
    /// Answers (and other content) a departed link had not got
    /// acknowledged: sent again on the next link that carries the session.
    pub redeliver: Vec<Vec<u8>>,
    /// Links carrying the session now.
    links: u32,
    /// The store forgot it: links carrying it let it go, and its next
    /// message starts a new session.
    pub forgotten: bool,
    /// When the last link left (unix time), for idle expiry.
    parked_at: Duration,
}

impl SharedSession {
    fn new(session_id: i64, replay_window: usize, floor: i64) -> Self {
        let mut replay = ReplayWindow::new(replay_window);
        replay.raise_floor(floor);
        let state = SessionState {
            replay,
            seq_count: 0,
            first_msg_id: 0,
            redeliver: Vec::new(),
            links: 1,
            forgotten: false,
            parked_at: Duration::ZERO,
        };
        Self { session_id, state: Mutex::new(state) }
    }

    /// The client's session id.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// The state, locked. A poisoned lock (a panic elsewhere while it was
    /// held) still yields the state: every update to it is a single step.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Heap bytes this session holds (replay window and kept answers).
    pub fn heap_bytes(&self) -> usize {
        let s = self.lock();
        s.replay.heap_bytes() + s.redeliver.iter().map(|a| a.capacity() + 24).sum::<usize>()
    }

    /// How many links carry the session now.
    pub fn links(&self) -> u32 {
        self.lock().links
    }
}

/// What a server keeps of one auth key: its salt schedule and the floor
/// below which none of its forgotten sessions' messages is accepted.
#[derive(Debug, Default)]
pub struct SharedKey {
    state: Mutex<KeyState>,
}

/// The state of a [`SharedKey`], behind its lock.
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    /// Salts, oldest first: the current one and those issued as future salts.
    pub salts: VecDeque<FutureSalt>,
    /// The highest msg_id any forgotten session of the key received.
    pub floor: Option<i64>,
}

impl SharedKey {
    /// The state, locked (a poisoned lock still yields it).
    pub(crate) fn lock(&self) -> MutexGuard<'_, KeyState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn raise_floor(&self, to: i64) {
        let mut k = self.lock();
        k.floor = Some(k.floor.map_or(to, |f| f.max(to)));
    }
}

/// The sessions and keys of a server, shared by every server Connection of
/// it (`Arc<dyn SessionStore>` in the configuration). See the module docs
/// for what it guarantees; [`MemorySessionStore`] is the implementation
/// this crate ships.
pub trait SessionStore: Send + Sync {
    /// Attaches one more link to session `session_id` of key `auth_key_id`;
    /// `None` when it is not kept (a new session, or one forgotten).
    fn attach(&self, auth_key_id: i64, session_id: i64, now: Duration) -> Option<Arc<SharedSession>>;
    /// Creates session `session_id` of key `auth_key_id`, attached to one
    /// link, with a replay window of `replay_window` ids that refuses
    /// everything at or below the key's floor. When another link created it
    /// meanwhile, that one is attached instead and `false` returned.
    fn create(
        &self,
        auth_key_id: i64,
        session_id: i64,
        replay_window: usize,
        now: Duration,
    ) -> (Arc<SharedSession>, bool);
    /// A link no longer carries `session` (it has handed over what it could
    /// not get acknowledged). With no link left, the session is parked.
    fn detach(&self, auth_key_id: i64, session: &SharedSession, now: Duration);
    /// Key `auth_key_id`'s salt schedule and floor.
    fn key(&self, auth_key_id: i64) -> Arc<SharedKey>;
    /// Forgets session `session_id` of a key (destroy_session, or the
    /// server's own decision); its msg_ids raise the key's floor. True when
    /// it was kept.
    fn remove(&self, auth_key_id: i64, session_id: i64) -> bool;
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<(i64, i64), Arc<SharedSession>>,
    /// Parked sessions, the least recently parked first (a session may
    /// appear again after it was carried and parked once more; entries that
    /// no longer match the session's `parked_at` are stale and skipped).
    parked: VecDeque<((i64, i64), Duration)>,
    keys: HashMap<i64, Arc<SharedKey>>,
    /// Keys in the order they were first seen, for the bound on keys.
    key_order: VecDeque<i64>,
}

impl Inner {
    fn key(&mut self, auth_key_id: i64, max_keys: usize) -> Arc<SharedKey> {
        if let Some(k) = self.keys.get(&auth_key_id) {
            return Arc::clone(k);
        }
        let k = Arc::new(SharedKey::default());
        self.keys.insert(auth_key_id, Arc::clone(&k));
        self.key_order.push_back(auth_key_id);
        // Beyond the bound, forget the oldest keys no session refers to.
        let mut scanned = 0;
        while self.keys.len() > max_keys && scanned < self.key_order.len() {
            let Some(old) = self.key_order.pop_front() else { break };
            if old != auth_key_id && !self.sessions.keys().any(|(key, _)| *key == old) {
                self.keys.remove(&old);
            } else {
                self.key_order.push_back(old);
                scanned += 1;
            }
        }
        k
    }

    /// Forgets a session: its ids raise its key's floor.
    fn forget(&mut self, id: (i64, i64), max_keys: usize) -> bool {
        let Some(s) = self.sessions.remove(&id) else { return false };
        let top = {
            let mut st = s.lock();
            st.forgotten = true;
            st.replay.max().unwrap_or(i64::MIN).max(st.replay.floor())
        };
        self.key(id.0, max_keys).raise_floor(top);
        true
    }
}

/// An in-memory [`SessionStore`] with a bound: at most `max_sessions`
/// parked sessions (the least recently parked forgotten first) and an idle
/// expiry (default 10 minutes, as Telegram keeps them). A forgotten session
/// is announced with new_session_created on the client's next message.
#[derive(Debug)]
pub struct MemorySessionStore {
    inner: Mutex<Inner>,
    max_sessions: usize,
    idle_expiry: Duration,
}

impl MemorySessionStore {
    /// Default idle expiry: 10 minutes.
    pub const DEFAULT_IDLE_EXPIRY: Duration = Duration::from_secs(600);

    /// A store of at most `max_sessions` parked sessions, each kept for
    /// [`MemorySessionStore::DEFAULT_IDLE_EXPIRY`].
    pub fn new(max_sessions: usize) -> Self {
        Self::with_expiry(max_sessions, Self::DEFAULT_IDLE_EXPIRY)
    }

    /// A store with the given bound and idle expiry.
    pub fn with_expiry(max_sessions: usize, idle_expiry: Duration) -> Self {
        Self { inner: Mutex::new(Inner::default()), max_sessions: max_sessions.max(1), idle_expiry }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keys kept at most: as many as sessions (a key without a session
    /// keeps only its salts and floor).
    fn max_keys(&self) -> usize {
        self.max_sessions.saturating_add(64)
    }

    /// Sessions kept now (carried or parked).
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by the kept sessions' own state (replay windows and
    /// kept answers; the maps' overhead aside).
    pub fn session_heap_bytes(&self) -> usize {
        self.lock().sessions.values().map(|s| s.heap_bytes()).sum()
    }
}

impl SessionStore for MemorySessionStore {
    fn attach(&self, auth_key_id: i64, session_id: i64, now: Duration) -> Option<Arc<SharedSession>> {
        let mut inner = self.lock();
        let s = Arc::clone(inner.sessions.get(&(auth_key_id, session_id))?);
        let mut st = s.lock();
        if st.links == 0 && now >= st.parked_at + self.idle_expiry {
            drop(st);
            inner.forget((auth_key_id, session_id), self.max_keys());
            return None;
        }
        st.links += 1;
        drop(st);
        Some(s)
    }

    fn create(
        &self,
        auth_key_id: i64,
        session_id: i64,
        replay_window: usize,
        now: Duration,
    ) -> (Arc<SharedSession>, bool) {
        if let Some(s) = self.attach(auth_key_id, session_id, now) {
            return (s, false);
        }
        let mut inner = self.lock();
        let floor = inner.key(auth_key_id, self.max_keys()).lock().floor.unwrap_or(i64::MIN);
        let s = Arc::new(SharedSession::new(session_id, replay_window, floor));
        inner.sessions.insert((auth_key_id, session_id), Arc::clone(&s));
        (s, true)
    }

    fn detach(&self, auth_key_id: i64, session: &SharedSession, now: Duration) {
        let mut inner = self.lock();
        let id = (auth_key_id, session.session_id);
        if !inner.sessions.get(&id).is_some_and(|s| core::ptr::eq(&**s, session)) {
            return;
        }
        {
            let mut st = session.lock();
            st.links = st.links.saturating_sub(1);
            if st.links > 0 {
                return;
            }
            st.parked_at = now;
        }
        inner.parked.push_back((id, now));
        let parked_now = |inner: &Inner, id: &(i64, i64), at: Duration| {
            inner.sessions.get(id).is_some_and(|s| {
                let st = s.lock();
                st.links == 0 && st.parked_at == at
            })
        };
        // Beyond the bound, the least recently parked go first; carried
        // sessions are never forgotten.
        let mut parked_count = inner.parked.iter().filter(|(k, at)| parked_now(&inner, k, *at)).count();
        while parked_count > self.max_sessions {
            let Some((old, at)) = inner.parked.pop_front() else { break };
            if parked_now(&inner, &old, at) {
                inner.forget(old, self.max_keys());
                parked_count -= 1;
            }
        }
        if inner.parked.len() > 2 * self.max_sessions + 16 {
            let keep: VecDeque<_> = inner.parked.iter().copied().filter(|(k, at)| parked_now(&inner, k, *at)).collect();
            inner.parked = keep;
        }
    }

    fn key(&self, auth_key_id: i64) -> Arc<SharedKey> {
        let max_keys = self.max_keys();
        self.lock().key(auth_key_id, max_keys)
    }

    fn remove(&self, auth_key_id: i64, session_id: i64) -> bool {
        let max_keys = self.max_keys();
        self.lock().forget((auth_key_id, session_id), max_keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn park(store: &MemorySessionStore, key: i64, id: i64, ids: &[i64], at: u64) {
        let (s, _) = store.create(key, id, 8, Duration::from_secs(at));
        for i in ids {
            s.lock().replay.insert(*i);
        }
        store.detach(key, &s, Duration::from_secs(at));
    }

    #[test]
    fn parked_sessions_are_bounded_by_count_and_by_idle_expiry() {
        let store = MemorySessionStore::with_expiry(2, Duration::from_secs(60));
        park(&store, 1, 10, &[100], 100);
        park(&store, 1, 11, &[200], 101);
        park(&store, 1, 12, &[300], 102);
        assert_eq!(store.len(), 2);
        let t = Duration::from_secs(103);
        assert!(store.attach(1, 10, t).is_none(), "the least recently parked was forgotten");
        assert_eq!(store.key(1).lock().floor, Some(100), "and its ids raised the key's floor");
        let s = store.attach(1, 11, t).map(|s| s.session_id());
        assert_eq!(s, Some(11));
        assert!(store.attach(1, 12, Duration::from_secs(162)).is_none(), "expired after 60 s idle");
        assert_eq!(store.key(1).lock().floor, Some(300));
        assert!(store.remove(1, 11));
        assert!(!store.remove(1, 11));
    }

    #[test]
    fn links_share_one_session_and_a_new_one_starts_above_the_floor() {
        let store = MemorySessionStore::new(4);
        let now = Duration::from_secs(10);
        let (a, created) = store.create(7, 1, 8, now);
        assert!(created);
        let (b, created) = store.create(7, 1, 8, now);
        assert!(!created, "a second link attaches to the same session");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.lock().replay.insert(40));
        assert!(!b.lock().replay.insert(40), "accepted on one link is a replay on the other");
        assert_eq!(a.links(), 2);
        store.detach(7, &a, now);
        store.detach(7, &b, now);
        assert_eq!(a.links(), 0);
        assert!(store.remove(7, 1));
        let (c, created) = store.create(7, 1, 8, now);
        assert!(created);
        assert!(!c.lock().replay.insert(40), "a forgotten session's ids stay refused");
        assert!(c.lock().replay.insert(44));
    }

    #[test]
    fn carried_sessions_are_never_forgotten() {
        let store = MemorySessionStore::new(1);
        let now = Duration::from_secs(1);
        let (live, _) = store.create(1, 99, 8, now);
        park(&store, 1, 10, &[], 1);
        park(&store, 1, 11, &[], 2);
        assert!(Arc::ptr_eq(&store.attach(1, 99, Duration::from_secs(5000)).expect("carried"), &live));
        assert_eq!(store.len(), 2, "one carried, one parked");
    }
}
