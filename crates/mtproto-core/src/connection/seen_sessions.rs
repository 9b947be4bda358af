//! Server: the client sessions one connection has seen besides the current
//! one, each with its own replay window, so that switching between sessions
//! (legitimately, or by an attacker replaying captured packets) never lets
//! a message run twice.

use super::replay::ReplayWindow;
use super::store::SavedSession;
use std::collections::VecDeque;

/// What a server keeps of a client session that is not the current one.
#[derive(Debug, Clone)]
pub(crate) struct SessionRecord {
    /// The client's session id.
    pub id: i64,
    /// Its received msg_ids.
    pub replay: ReplayWindow,
    /// Content-related messages the server sent in it (its seq_no counter).
    pub seq_count: i32,
    /// The first msg_id announced by new_session_created for it.
    pub first_msg_id: i64,
}

impl SessionRecord {
    /// What the session store keeps of it, with the messages to send again.
    pub fn into_saved(self, unacknowledged: Vec<Vec<u8>>, saved_at: core::time::Duration) -> SavedSession {
        let Self { id, replay, seq_count, first_msg_id } = self;
        SavedSession { session_id: id, replay, seq_count, first_msg_id, unacknowledged, saved_at }
    }

    /// A session taken back from the store, and its messages to send again.
    pub fn from_saved(saved: SavedSession) -> (Self, Vec<Vec<u8>>) {
        let SavedSession { session_id, replay, seq_count, first_msg_id, unacknowledged, .. } = saved;
        (Self { id: session_id, replay, seq_count, first_msg_id }, unacknowledged)
    }
}

/// The earlier sessions of a connection, the least recently used forgotten
/// first. A forgotten session's msg_ids are remembered as a floor: no
/// message at or below the highest id it received is accepted in a session
/// that is not remembered, so a forgotten session cannot come back as new.
#[derive(Debug)]
pub(crate) struct SeenSessions {
    records: VecDeque<SessionRecord>,
    capacity: usize,
    floor: i64,
}

impl SeenSessions {
    /// Remembers up to `capacity` sessions (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { records: VecDeque::new(), capacity: capacity.max(1), floor: i64::MIN }
    }

    /// Takes the record of session `id` out, if remembered.
    pub fn take(&mut self, id: i64) -> Option<SessionRecord> {
        let pos = self.records.iter().position(|r| r.id == id)?;
        self.records.remove(pos)
    }

    /// Whether session `id` is remembered.
    pub fn contains(&self, id: i64) -> bool {
        self.records.iter().any(|r| r.id == id)
    }

    /// The record of session `id`, if remembered.
    pub fn get(&self, id: i64) -> Option<&SessionRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    /// Keeps `record`; beyond the capacity the oldest is pushed out (and
    /// returned, to be kept elsewhere) and its msg_ids raise the floor.
    pub fn put(&mut self, record: SessionRecord) -> Option<SessionRecord> {
        self.records.push_back(record);
        if self.records.len() > self.capacity {
            let old = self.records.pop_front()?;
            self.forget(&old);
            return Some(old);
        }
        None
    }

    /// Forgets session `id` (destroy_session); true when it was remembered.
    pub fn remove(&mut self, id: i64) -> bool {
        match self.take(id) {
            Some(old) => {
                self.forget(&old);
                true
            }
            None => false,
        }
    }

    /// Takes every remembered session out (to save them elsewhere).
    pub fn drain(&mut self) -> impl Iterator<Item = SessionRecord> + '_ {
        self.records.drain(..)
    }

    /// Forgets `old` without keeping it: its msg_ids raise the floor.
    pub fn retire(&mut self, old: SessionRecord) {
        self.forget(&old);
    }

    fn forget(&mut self, old: &SessionRecord) {
        self.floor = self.floor.max(old.replay.max().unwrap_or(i64::MIN)).max(old.replay.floor());
    }

    /// Messages of sessions not remembered must have msg_ids above this.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i64, ids: &[i64]) -> SessionRecord {
        let mut replay = ReplayWindow::new(16);
        for i in ids {
            replay.insert(*i);
        }
        SessionRecord { id, replay, seq_count: 0, first_msg_id: 0 }
    }

    #[test]
    fn forgetting_a_session_raises_the_floor_to_its_newest_id() {
        let mut s = SeenSessions::new(2);
        assert!(s.put(record(1, &[10, 20])).is_none());
        assert!(s.put(record(2, &[30])).is_none());
        assert_eq!(s.floor(), i64::MIN);
        assert_eq!(s.put(record(3, &[40])).map(|r| r.id), Some(1));
        assert!(!s.contains(1));
        assert_eq!(s.floor(), 20);
        assert!(s.remove(3));
        assert_eq!(s.floor(), 40);
        assert!(!s.remove(3));
        assert_eq!(s.len(), 1);
        assert_eq!(s.take(2).map(|r| r.id), Some(2));
    }
}
