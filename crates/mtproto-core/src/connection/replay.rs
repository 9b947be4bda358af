//! A bounded window of received msg_ids that refuses replays.

use super::idmap::IdSet;
use std::collections::VecDeque;

/// Remembers the last `capacity` msg_ids; anything at or below the newest
/// forgotten one counts as too old.
///
/// An id can also be *disowned*: the window told the peer it never
/// received it (a msgs_state_info "not received"), and keeps that true:
/// the id is refused from then on, as a replay would be, so the copy a
/// slower link still carries never runs after the peer sent it again.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    capacity: usize,
    order: VecDeque<i64>,
    set: IdSet,
    floor: i64,
    max: Option<i64>,
    disowned: BoundedIdSet,
    /// The largest id ever disowned (a forgotten session's floor covers it).
    disowned_max: Option<i64>,
}

impl ReplayWindow {
    /// A window of `capacity` msg_ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            order: VecDeque::new(),
            set: IdSet::default(),
            floor: i64::MIN,
            max: None,
            disowned: BoundedIdSet::new(capacity),
            disowned_max: None,
        }
    }

    /// Records `msg_id`; false when it was seen before, is below the window
    /// or was disowned.
    pub fn insert(&mut self, msg_id: i64) -> bool {
        if msg_id <= self.floor || self.disowned.contains(msg_id) || !self.set.insert(msg_id) {
            return false;
        }
        self.max = Some(self.max.map_or(msg_id, |m| m.max(msg_id)));
        self.order.push_back(msg_id);
        if self.order.len() > self.capacity {
            // Everything at or below an evicted id can no longer be told
            // apart from a replay, so it is refused from now on.
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
                self.floor = self.floor.max(old);
            }
        }
        true
    }

    /// Promises that `msg_id`, not received, never will be: it is refused
    /// from now on. False (and nothing changes) when it was received or is
    /// below the window. Bounded like the window: when more ids are
    /// disowned than it holds, the oldest one raises the floor instead.
    pub fn disown(&mut self, msg_id: i64) -> bool {
        if msg_id <= self.floor || self.set.contains(&msg_id) {
            return false;
        }
        if let Some(evicted) = self.disowned.insert(msg_id) {
            self.floor = self.floor.max(evicted);
        }
        self.disowned_max = Some(self.disowned_max.map_or(msg_id, |m| m.max(msg_id)));
        true
    }

    /// The highest id the window refuses for good: the largest received,
    /// disowned, or the floor (what a forgotten session leaves its key).
    pub fn top(&self) -> i64 {
        self.max.unwrap_or(i64::MIN).max(self.floor).max(self.disowned_max.unwrap_or(i64::MIN))
    }

    /// Whether `msg_id` was disowned (see [`ReplayWindow::disown`]).
    pub fn is_disowned(&self, msg_id: i64) -> bool {
        self.disowned.contains(msg_id)
    }

    /// Whether `msg_id` was recorded and is still remembered.
    pub fn contains(&self, msg_id: i64) -> bool {
        self.set.contains(&msg_id)
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Ids at or below this are refused as too old.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// Refuses everything at or below `floor` from now on.
    pub fn raise_floor(&mut self, floor: i64) {
        self.floor = self.floor.max(floor);
    }

    /// The largest id recorded, if any.
    pub fn max(&self) -> Option<i64> {
        self.max
    }

    /// Heap bytes the window holds (its id list and set, by capacity; a
    /// hash set entry costs its 8-byte id and one control byte).
    pub fn heap_bytes(&self) -> usize {
        self.order.capacity() * 8 + self.set.capacity() * 9 + self.disowned.heap_bytes()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// A bounded set of ids (msg_ids, or (session_id, msg_id) pairs), the
/// oldest forgotten first.
#[derive(Debug, Clone)]
pub(crate) struct BoundedSet<K> {
    capacity: usize,
    order: VecDeque<K>,
    set: std::collections::HashSet<K, super::idmap::IdBuild>,
}

/// A bounded set of msg_ids.
pub(crate) type BoundedIdSet = BoundedSet<i64>;

/// A bounded map from msg_ids, the oldest entries forgotten first.
#[derive(Debug, Clone)]
pub(crate) struct BoundedIdMap<V> {
    capacity: usize,
    order: VecDeque<i64>,
    map: std::collections::HashMap<i64, V, super::idmap::IdBuild>,
}

impl<V> BoundedIdMap<V> {
    /// At most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), order: VecDeque::new(), map: Default::default() }
    }

    /// Records `id` with `value`.
    pub fn insert(&mut self, id: i64, value: V) {
        if self.map.insert(id, value).is_none() {
            self.order.push_back(id);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// Whether `id` is recorded.
    pub fn contains(&self, id: i64) -> bool {
        self.map.contains_key(&id)
    }

    /// The values recorded.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }

    /// Forgets `id`, returning its value. (Its place in the order stays
    /// until it ages out; an id never comes back, so that is harmless.)
    pub fn remove(&mut self, id: i64) -> Option<V> {
        self.map.remove(&id)
    }
}

impl<K: Copy + Eq + core::hash::Hash> BoundedSet<K> {
    /// At most `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), order: VecDeque::new(), set: Default::default() }
    }

    /// Records `id`; returns the oldest id, forgotten to make room.
    pub fn insert(&mut self, id: K) -> Option<K> {
        if self.set.insert(id) {
            self.order.push_back(id);
            if self.order.len() > self.capacity
                && let Some(old) = self.order.pop_front()
            {
                // Removed ids keep their place in the order; only a live one is evicted.
                return self.set.remove(&old).then_some(old);
            }
        }
        None
    }

    /// Whether `id` is recorded.
    pub fn contains(&self, id: K) -> bool {
        self.set.contains(&id)
    }

    /// Heap bytes held (by capacity).
    pub fn heap_bytes(&self) -> usize {
        self.order.capacity() * core::mem::size_of::<K>() + self.set.capacity() * (core::mem::size_of::<K>() + 1)
    }

    /// Forgets `id`; true when it was recorded. (Its place in the order
    /// stays until it ages out; an id never comes back, so that is harmless.)
    pub fn remove(&mut self, id: K) -> bool {
        self.set.remove(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::ReplayWindow;

    #[test]
    fn a_disowned_id_is_refused_and_a_received_one_cannot_be_disowned() {
        let mut w = ReplayWindow::new(4);
        assert!(w.insert(8));
        assert!(!w.disown(8), "received: the promise would be false");
        assert!(w.disown(12));
        assert!(w.is_disowned(12) && !w.contains(12));
        assert!(!w.insert(12), "a disowned id never arrives");
        assert!(w.insert(16));
    }

    /// A forgotten session's floor covers the ids it promised never to run,
    /// not only those it received (found by review).
    #[test]
    fn the_top_covers_disowned_ids() {
        let mut w = ReplayWindow::new(8);
        assert!(w.insert(100));
        assert!(w.disown(200));
        assert_eq!(w.top(), 200);
    }

    #[test]
    fn disowned_ids_are_bounded_by_raising_the_floor() {
        let mut w = ReplayWindow::new(2);
        for id in [100, 104, 108] {
            assert!(w.disown(id));
        }
        // The oldest disowned id left the set, so the floor now refuses it.
        assert!(!w.is_disowned(100));
        assert_eq!(w.floor(), 100);
        assert!(!w.insert(100) && !w.insert(96));
        assert!(w.insert(112));
    }
}
