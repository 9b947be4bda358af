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

use super::replay::{BoundedSet, ReplayWindow};
use crate::tl::schema::FutureSalt;
use core::time::Duration;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// Most sessions one key keeps by default: beyond it, the key's least recently parked
/// session is forgotten first (a client runs a handful; one hostile client
/// cannot fill the store with its own).
pub const MAX_SESSIONS_PER_KEY: usize = 64;
/// Most bytes of answers a session holds for its next link; beyond it the
/// oldest are dropped (their requests then time out on the client as
/// acknowledged, never run again).
pub const MAX_REDELIVER_BYTES: usize = 4 << 20;
/// Client msg_ids refused unprocessed that a key remembers (so that none of
/// them runs later, on any link).
const MAX_REFUSED_PER_KEY: usize = 4096;
/// A forgotten session's floor is kept with its key this long at least
/// (longer than any accepted msg_id age), even when the key is otherwise
/// forgotten.
const FLOOR_KEPT: Duration = Duration::from_secs(3600);

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
    /// Content-related messages the server sent in it (its seq_no counter),
    /// on any link.
    pub seq_count: i32,
    /// The highest msg_id the server used in it, on any link: every link
    /// numbers above it, so two links never send one msg_id twice.
    pub last_msg_id: i64,
    /// The first msg_id announced by new_session_created for it.
    pub first_msg_id: i64,
    /// Answers (and other content) a departed link had not got
    /// acknowledged: sent again on the next link that carries the session.
    pub redeliver: VecDeque<Vec<u8>>,
    redeliver_bytes: usize,
    /// Links carrying the session now.
    links: u32,
    /// Requests of this session still running on links that have gone:
    /// their answers will be left here, so a live link keeps looking.
    pub late_answers: u32,
    /// The store forgot it: links carrying it let it go, no message is
    /// accepted in it any more, and its next message starts a new session.
    pub forgotten: bool,
    /// When the last link left (unix time), for idle expiry.
    parked_at: Duration,
}

impl SessionState {
    /// Keeps `body` for the next link, within [`MAX_REDELIVER_BYTES`].
    pub fn redeliver_later(&mut self, body: Vec<u8>) {
        self.redeliver_bytes += body.len();
        self.redeliver.push_back(body);
        while self.redeliver_bytes > MAX_REDELIVER_BYTES {
            let Some(old) = self.redeliver.pop_front() else { break };
            self.redeliver_bytes -= old.len();
        }
    }

    /// Takes what is kept for the next link.
    pub fn take_redeliver(&mut self) -> VecDeque<Vec<u8>> {
        self.redeliver_bytes = 0;
        core::mem::take(&mut self.redeliver)
    }
}

impl SharedSession {
    /// A new session `session_id` carried by one link, with a replay window
    /// of `replay_window` ids refusing everything at or below `floor` (for
    /// a [`SessionStore`] of your own).
    pub fn new(session_id: i64, replay_window: usize, floor: i64) -> Self {
        let mut replay = ReplayWindow::new(replay_window);
        replay.raise_floor(floor);
        let state = SessionState {
            replay,
            seq_count: 0,
            last_msg_id: 0,
            first_msg_id: 0,
            redeliver: VecDeque::new(),
            redeliver_bytes: 0,
            links: 1,
            late_answers: 0,
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

    /// Whether answers may still be left in it for a live link to send:
    /// another link carries it, or a departed link still runs requests of it.
    pub(crate) fn answers_may_be_left(&self) -> bool {
        let st = self.lock();
        st.links > 1 || st.late_answers > 0
    }

    /// One more link carries it; true when it was parked.
    pub fn add_link(&self) -> bool {
        let mut st = self.lock();
        st.links += 1;
        st.links == 1
    }

    /// A link let it go; `Some(now)` when none is left (it is parked now).
    pub fn remove_link(&self, now: Duration) -> Option<Duration> {
        let mut st = self.lock();
        st.links = st.links.saturating_sub(1);
        (st.links == 0).then(|| {
            st.parked_at = now;
            now
        })
    }

    /// Whether no link carries it and it was parked at `at`.
    pub fn parked_since(&self, at: Duration) -> bool {
        let st = self.lock();
        st.links == 0 && st.parked_at == at
    }

    /// Whether no link carries it and it has been parked for `expiry`.
    pub fn expired(&self, now: Duration, expiry: Duration) -> bool {
        let st = self.lock();
        st.links == 0 && now >= st.parked_at + expiry
    }

    /// Forgets it: no message is accepted in it any more. Returns the
    /// highest msg_id it received or promised never to run (disowned), or
    /// its floor: its key's floor from then on.
    pub fn forget(&self) -> i64 {
        let mut st = self.lock();
        st.forgotten = true;
        st.replay.top()
    }
}

/// What a server keeps of one auth key: its salt schedule, the floor below
/// which none of its forgotten sessions' messages is accepted, and the
/// client msg_ids it refused unprocessed.
#[derive(Debug)]
pub struct SharedKey {
    state: Mutex<KeyState>,
}

impl Default for SharedKey {
    fn default() -> Self {
        let state = KeyState { salts: VecDeque::new(), floor: None, refused: BoundedSet::new(MAX_REFUSED_PER_KEY) };
        Self { state: Mutex::new(state) }
    }
}

/// The state of a [`SharedKey`], behind its lock.
#[derive(Debug)]
pub(crate) struct KeyState {
    /// Salts, oldest first: the current one and those issued as future salts.
    pub salts: VecDeque<FutureSalt>,
    /// The highest msg_id any forgotten session of the key received.
    pub floor: Option<i64>,
    /// (session_id, msg_id) refused unprocessed (bad_msg, bad salt): the
    /// client sends them again under new ids, so these never run, on any
    /// link (bounded, the oldest forgotten first).
    pub refused: BoundedSet<(i64, i64)>,
}

impl SharedKey {
    /// The state, locked (a poisoned lock still yields it).
    pub(crate) fn lock(&self) -> MutexGuard<'_, KeyState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses every new session's messages at or below `to` from now on.
    pub fn raise_floor(&self, to: i64) {
        let mut k = self.lock();
        k.floor = Some(k.floor.map_or(to, |f| f.max(to)));
    }

    /// The floor: messages at or below it start no new session.
    pub fn floor(&self) -> Option<i64> {
        self.lock().floor
    }

    /// Whether the floor still matters at `now`: it names a msg_id less
    /// than [`FLOOR_KEPT`] old (older messages are refused by their age).
    fn floor_recent(&self, now: Duration) -> bool {
        self.floor().is_some_and(|f| Duration::from_secs((f >> 32).max(0) as u64) + FLOOR_KEPT > now)
    }
}

/// The sessions and keys of a server, shared by every server link of it
/// (`Arc<dyn SessionStore>` in [`super::ServerOptions`]). See the module
/// docs for what it guarantees; [`MemorySessionStore`] is the
/// implementation this crate ships.
pub trait SessionStore: Send + Sync {
    /// Session `session_id` of key `auth_key_id` if kept, without attaching
    /// a link (to check a message against it).
    fn peek(&self, auth_key_id: i64, session_id: i64, now: Duration) -> Option<Arc<SharedSession>>;
    /// Attaches one more link to session `session_id` of key `auth_key_id`,
    /// or creates it (with a replay window of `replay_window` ids refusing
    /// everything at or below the key's floor) in the same step; true when
    /// it was created here.
    fn attach_or_create(
        &self,
        auth_key_id: i64,
        session_id: i64,
        replay_window: usize,
        now: Duration,
    ) -> (Arc<SharedSession>, bool);
    /// A link no longer carries `session` (it has handed over what it could
    /// not get acknowledged). With no link left, the session is parked.
    fn detach(&self, auth_key_id: i64, session: &SharedSession, now: Duration);
    /// Key `auth_key_id`'s salt schedule, floor and refused ids.
    fn key(&self, auth_key_id: i64, now: Duration) -> Arc<SharedKey>;
    /// Forgets session `session_id` of a key (destroy_session, or the
    /// server's own decision); its msg_ids raise the key's floor. True when
    /// it was kept.
    fn remove(&self, auth_key_id: i64, session_id: i64) -> bool;
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<(i64, i64), Arc<SharedSession>>,
    /// Parked sessions, the least recently parked first. An entry whose
    /// session is no longer parked at that time is stale and skipped.
    parked: VecDeque<((i64, i64), Duration)>,
    /// How many sessions are parked now (the live entries of `parked`).
    parked_count: usize,
    keys: HashMap<i64, KeyEntry>,
    /// Keys in the order they were first seen, for the bound on keys.
    key_order: VecDeque<i64>,
}

#[derive(Debug, Default)]
struct KeyEntry {
    shared: Arc<SharedKey>,
    /// This key's parked sessions, the least recently parked first (stale
    /// entries skipped, as in `parked`).
    parked: VecDeque<(i64, Duration)>,
    /// Sessions of this key kept now.
    sessions: usize,
}

impl Inner {
    fn key(&mut self, auth_key_id: i64, max_keys: usize, now: Duration) -> &mut KeyEntry {
        if let std::collections::hash_map::Entry::Vacant(e) = self.keys.entry(auth_key_id) {
            e.insert(KeyEntry::default());
            self.key_order.push_back(auth_key_id);
            // Beyond the bound, forget the oldest keys that keep nothing
            // that matters: no session, no recent floor.
            let mut scanned = 0;
            while self.keys.len() > max_keys && scanned < self.key_order.len() {
                let Some(old) = self.key_order.pop_front() else { break };
                let idle = self.keys.get(&old).is_some_and(|k| k.sessions == 0 && !k.shared.floor_recent(now))
                    && old != auth_key_id;
                if idle {
                    self.keys.remove(&old);
                } else {
                    self.key_order.push_back(old);
                    scanned += 1;
                }
            }
        }
        self.keys.entry(auth_key_id).or_default()
    }

    /// Forgets a session: its ids raise its key's floor.
    fn forget(&mut self, id: (i64, i64), max_keys: usize) -> bool {
        let Some(s) = self.sessions.remove(&id) else { return false };
        if s.links() == 0 {
            self.parked_count = self.parked_count.saturating_sub(1);
        }
        let top = s.forget();
        let entry = self.key(id.0, max_keys, Duration::ZERO);
        entry.sessions = entry.sessions.saturating_sub(1);
        entry.shared.raise_floor(top);
        true
    }

    /// Whether the parked entry (`id`, `at`) is still live.
    fn parked_now(&self, id: &(i64, i64), at: Duration) -> bool {
        self.sessions.get(id).is_some_and(|s| s.parked_since(at))
    }

    /// Forgets the least recently parked session of key `key_id`; false
    /// when it has none parked.
    fn forget_oldest_of_key(&mut self, key_id: i64, max_keys: usize) -> bool {
        loop {
            let Some((sid, at)) = self.keys.get_mut(&key_id).and_then(|k| k.parked.pop_front()) else { return false };
            if self.parked_now(&(key_id, sid), at) {
                return self.forget((key_id, sid), max_keys);
            }
        }
    }

    /// Drops stale entries once they outnumber the live ones.
    fn compact(&mut self) {
        if self.parked.len() > 2 * self.parked_count + 16 {
            let parked = core::mem::take(&mut self.parked);
            self.parked = parked.into_iter().filter(|(id, at)| self.parked_now(id, *at)).collect();
        }
    }
}

/// An in-memory [`SessionStore`] with bounds: at most `max_sessions`
/// parked sessions (the least recently parked forgotten first), at most
/// [`MAX_SESSIONS_PER_KEY`] per key (see
/// [`MemorySessionStore::sessions_per_key`]), and an idle expiry (default 10
/// minutes, as Telegram keeps them; checked when a session is used again
/// and when parked sessions are counted). A forgotten session is announced
/// with new_session_created on the client's next message.
#[derive(Debug)]
pub struct MemorySessionStore {
    inner: Mutex<Inner>,
    max_sessions: usize,
    per_key: usize,
    idle_expiry: Duration,
}

/// # Examples
///
/// Two links attach to one session: a msg_id accepted on one is a replay
/// on the other.
///
/// ```
/// use core::time::Duration;
/// use mtproto_core::connection::{MemorySessionStore, SessionStore};
/// let store = MemorySessionStore::new(1000);
/// let now = Duration::from_secs(100);
/// let (first, created) = store.attach_or_create(1, 77, 2048, now);
/// let (second, again) = store.attach_or_create(1, 77, 2048, now);
/// assert!(created && !again && first.links() == 2);
/// store.detach(1, &first, now);
/// store.detach(1, &second, now);
/// assert_eq!(store.parked(), 1);
/// assert!(store.remove(1, 77));
/// ```
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
        Self {
            inner: Mutex::new(Inner::default()),
            max_sessions: max_sessions.max(1),
            per_key: MAX_SESSIONS_PER_KEY,
            idle_expiry,
        }
    }

    /// The same store with at most `per_key` sessions per key (default
    /// [`MAX_SESSIONS_PER_KEY`]).
    #[must_use]
    pub fn sessions_per_key(mut self, per_key: usize) -> Self {
        self.per_key = per_key.max(1);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keys kept at most: as many as sessions, and a few (a key without a
    /// session keeps only its salts, floor and refused ids).
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

    /// Sessions parked now (no link carries them).
    pub fn parked(&self) -> usize {
        self.lock().parked_count
    }

    /// Heap bytes held by the kept sessions' own state (replay windows and
    /// kept answers; the maps' overhead aside).
    pub fn session_heap_bytes(&self) -> usize {
        self.lock().sessions.values().map(|s| s.heap_bytes()).sum()
    }

    /// The session if kept and not expired (an expired one is forgotten).
    fn live(&self, inner: &mut Inner, id: (i64, i64), now: Duration) -> Option<Arc<SharedSession>> {
        let s = Arc::clone(inner.sessions.get(&id)?);
        if s.expired(now, self.idle_expiry) {
            inner.forget(id, self.max_keys());
            return None;
        }
        Some(s)
    }
}

impl SessionStore for MemorySessionStore {
    fn peek(&self, auth_key_id: i64, session_id: i64, now: Duration) -> Option<Arc<SharedSession>> {
        let mut inner = self.lock();
        self.live(&mut inner, (auth_key_id, session_id), now)
    }

    fn attach_or_create(
        &self,
        auth_key_id: i64,
        session_id: i64,
        replay_window: usize,
        now: Duration,
    ) -> (Arc<SharedSession>, bool) {
        let mut inner = self.lock();
        let id = (auth_key_id, session_id);
        if let Some(s) = self.live(&mut inner, id, now) {
            if s.add_link() {
                inner.parked_count = inner.parked_count.saturating_sub(1);
            }
            return (s, false);
        }
        let max_keys = self.max_keys();
        // A key at its bound gives up its least recently parked session.
        if inner.key(auth_key_id, max_keys, now).sessions >= self.per_key {
            inner.forget_oldest_of_key(auth_key_id, max_keys);
        }
        let entry = inner.key(auth_key_id, max_keys, now);
        entry.sessions += 1;
        let floor = entry.shared.floor().unwrap_or(i64::MIN);
        let s = Arc::new(SharedSession::new(session_id, replay_window, floor));
        inner.sessions.insert(id, Arc::clone(&s));
        (s, true)
    }

    fn detach(&self, auth_key_id: i64, session: &SharedSession, now: Duration) {
        let mut inner = self.lock();
        let id = (auth_key_id, session.session_id);
        if !inner.sessions.get(&id).is_some_and(|s| core::ptr::eq(&**s, session)) {
            return;
        }
        let Some(at) = session.remove_link(now) else { return };
        inner.parked.push_back((id, at));
        inner.parked_count += 1;
        let max_keys = self.max_keys();
        inner.key(auth_key_id, max_keys, now).parked.push_back((session.session_id, at));
        // Beyond the bound, the least recently parked go first (expired or
        // not); carried sessions are never pushed out.
        while inner.parked_count > self.max_sessions {
            let Some((old, at)) = inner.parked.pop_front() else { break };
            if inner.parked_now(&old, at) {
                inner.forget(old, max_keys);
            }
        }
        inner.compact();
        if let Some(k) = inner.keys.get_mut(&auth_key_id)
            && k.parked.len() > 2 * k.sessions + 16
        {
            let parked = core::mem::take(&mut k.parked);
            let kept: VecDeque<_> = parked
                .into_iter()
                .filter(|(sid, at)| inner.sessions.get(&(auth_key_id, *sid)).is_some_and(|s| s.parked_since(*at)))
                .collect();
            if let Some(k) = inner.keys.get_mut(&auth_key_id) {
                k.parked = kept;
            }
        }
    }

    fn key(&self, auth_key_id: i64, now: Duration) -> Arc<SharedKey> {
        let max_keys = self.max_keys();
        Arc::clone(&self.lock().key(auth_key_id, max_keys, now).shared)
    }

    fn remove(&self, auth_key_id: i64, session_id: i64) -> bool {
        let max_keys = self.max_keys();
        self.lock().forget((auth_key_id, session_id), max_keys)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn park(store: &MemorySessionStore, key: i64, id: i64, ids: &[i64], at: u64) -> Arc<SharedSession> {
        let (s, _) = store.attach_or_create(key, id, 8, t(at));
        for i in ids {
            s.lock().replay.insert(*i);
        }
        store.detach(key, &s, t(at));
        s
    }

    #[test]
    fn parked_sessions_are_bounded_by_count_and_by_idle_expiry() {
        let store = MemorySessionStore::with_expiry(2, t(60));
        park(&store, 1, 10, &[100], 100);
        park(&store, 1, 11, &[200], 101);
        park(&store, 1, 12, &[300], 102);
        assert_eq!((store.len(), store.parked()), (2, 2));
        assert!(store.peek(1, 10, t(103)).is_none(), "the least recently parked was forgotten");
        assert_eq!(store.key(1, t(103)).floor(), Some(100), "and its ids raised the key's floor");
        assert_eq!(store.peek(1, 11, t(103)).map(|s| s.session_id()), Some(11));
        assert!(store.peek(1, 12, t(162)).is_none(), "expired after 60 s idle");
        assert_eq!(store.key(1, t(162)).floor(), Some(300));
        assert!(store.remove(1, 11));
        assert!(!store.remove(1, 11));
        assert_eq!(store.parked(), 0);
    }

    #[test]
    fn links_share_one_session_and_a_new_one_starts_above_the_floor() {
        let store = MemorySessionStore::new(4);
        let now = t(10);
        let (a, created) = store.attach_or_create(7, 1, 8, now);
        assert!(created);
        let (b, created) = store.attach_or_create(7, 1, 8, now);
        assert!(!created, "a second link attaches to the same session");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.lock().replay.insert(40));
        assert!(!b.lock().replay.insert(40), "accepted on one link is a replay on the other");
        assert_eq!(a.links(), 2);
        store.detach(7, &a, now);
        store.detach(7, &b, now);
        assert_eq!((a.links(), store.parked()), (0, 1));
        assert!(store.remove(7, 1));
        assert!(a.lock().forgotten, "links still holding it see it forgotten");
        let (c, created) = store.attach_or_create(7, 1, 8, now);
        assert!(created);
        assert!(!c.lock().replay.insert(40), "a forgotten session's ids stay refused");
        assert!(c.lock().replay.insert(44));
    }

    #[test]
    fn carried_sessions_are_never_pushed_out() {
        let store = MemorySessionStore::new(1);
        let (live, _) = store.attach_or_create(1, 99, 8, t(1));
        park(&store, 1, 10, &[], 1);
        park(&store, 1, 11, &[], 2);
        assert!(Arc::ptr_eq(&store.peek(1, 99, t(5000)).expect("carried"), &live));
        assert_eq!((store.len(), store.parked()), (2, 1), "one carried, one parked");
    }

    /// Attaching and detaching a parked session again and again counts it
    /// once: it pushes no other session out.
    #[test]
    fn a_session_parked_again_counts_once() {
        let store = MemorySessionStore::new(3);
        park(&store, 1, 10, &[], 1);
        park(&store, 1, 11, &[], 2);
        for at in 3..50 {
            park(&store, 1, 11, &[], at);
        }
        assert_eq!((store.len(), store.parked()), (2, 2));
        assert!(store.peek(1, 10, t(60)).is_some(), "the other session stays");
    }

    /// One key cannot fill the store: beyond MAX_SESSIONS_PER_KEY its own
    /// least recently parked session goes first, and another key's stays.
    #[test]
    fn sessions_per_key_are_bounded() {
        let store = MemorySessionStore::new(10_000);
        park(&store, 2, 1, &[], 1);
        for id in 0..(MAX_SESSIONS_PER_KEY as i64 + 20) {
            park(&store, 1, 1000 + id, &[4 * (id + 1)], 2 + id as u64);
        }
        assert_eq!(store.len(), MAX_SESSIONS_PER_KEY + 1);
        assert!(store.peek(2, 1, t(200)).is_some());
        assert!(store.peek(1, 1000, t(200)).is_none(), "the key's oldest went first");
        assert_eq!(store.key(1, t(200)).floor(), Some(4 * 20));
    }

    /// A key with a recent floor is not forgotten to make room for new keys
    /// (its forgotten sessions' messages would run again).
    #[test]
    fn a_recent_floor_outlives_the_bound_on_keys() {
        let store = MemorySessionStore::new(1);
        let now = t(1_000_000);
        let recent = (1_000_000i64 << 32) | 4;
        let (s, _) = store.attach_or_create(1, 10, 8, now);
        s.lock().replay.insert(recent);
        store.detach(1, &s, now);
        assert!(store.remove(1, 10));
        for k in 2..200 {
            store.key(k, now);
        }
        assert_eq!(store.key(1, now).floor(), Some(recent));
        let (again, _) = store.attach_or_create(1, 10, 8, now);
        assert!(!again.lock().replay.insert(recent), "still refused");
    }

    #[test]
    fn answers_kept_for_the_next_link_are_bounded() {
        let s = SharedSession::new(1, 8, i64::MIN);
        for _ in 0..5 {
            s.lock().redeliver_later(vec![0; MAX_REDELIVER_BYTES / 4]);
        }
        let kept = s.lock().take_redeliver();
        assert_eq!(kept.len(), 4, "the oldest went");
        assert!(s.lock().redeliver.is_empty());
    }
}
