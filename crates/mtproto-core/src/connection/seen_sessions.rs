//! Server: the client sessions one link carries. Each is a
//! [`SharedSession`] of the server's [`super::SessionStore`], shared with
//! every other link that carries it; the link holds at most a few, the
//! least recently used handed back (detached) first.

use super::store::SharedSession;
use std::collections::VecDeque;
use std::sync::Arc;

/// The sessions a link carries, most recently used last.
#[derive(Debug)]
pub(crate) struct CarriedSessions {
    sessions: VecDeque<Arc<SharedSession>>,
    capacity: usize,
}

impl CarriedSessions {
    /// Carries up to `capacity` sessions (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { sessions: VecDeque::new(), capacity: capacity.max(1) }
    }

    /// Session `id`, if carried (marked most recently used).
    pub fn get(&mut self, id: i64) -> Option<Arc<SharedSession>> {
        let pos = self.sessions.iter().position(|s| s.session_id() == id)?;
        let s = self.sessions.remove(pos)?;
        self.sessions.push_back(Arc::clone(&s));
        Some(s)
    }

    /// Carries `session`; beyond the capacity the least recently used one
    /// is returned, to be detached.
    pub fn put(&mut self, session: Arc<SharedSession>) -> Option<Arc<SharedSession>> {
        self.sessions.push_back(session);
        if self.sessions.len() > self.capacity { self.sessions.pop_front() } else { None }
    }

    /// Stops carrying session `id` (returned, to be detached).
    pub fn remove(&mut self, id: i64) -> Option<Arc<SharedSession>> {
        let pos = self.sessions.iter().position(|s| s.session_id() == id)?;
        self.sessions.remove(pos)
    }

    /// Takes every carried session out (to detach them).
    pub fn drain(&mut self) -> impl Iterator<Item = Arc<SharedSession>> + '_ {
        self.sessions.drain(..)
    }

    /// How many sessions are carried.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }
}
