//! The deadline index: which entity needs attention next, and when.
//!
//! Deadlines live on the entities that own them; this index only maps each key to its one
//! current deadline. It is an ordered set with exact cancellation rather than a heap with
//! lazy cancellation: re-arming or cancelling a key leaves nothing stale behind, so
//! `next_deadline` is exact (no spurious wake-ups) and the index never holds more entries
//! than there are keys.

use crate::slot_map::{SlotKey, SlotMap, SlotSet};
use crate::time::Instant;

#[derive(Debug)]
pub struct Timers<K: SlotKey + Copy> {
    by_time: SlotSet<(Instant, K)>,
    by_key: SlotMap<K, Instant>,
}

impl<K: SlotKey + Copy> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            by_time: SlotSet::new(),
            by_key: SlotMap::new(),
        }
    }
}

impl<K: SlotKey + Copy> Timers<K> {
    /// Arms `key` for `at`, replacing its previous deadline; `None` cancels it.
    pub fn set(&mut self, key: K, at: Option<Instant>) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
        if let Some(at) = at {
            self.by_key.insert(key, at);
            self.by_time.insert((at, key));
        }
    }

    /// The deadline `key` is armed for, if it is.
    pub fn deadline(&self, key: &K) -> Option<Instant> {
        self.by_key.get(key).copied()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns one key whose deadline is at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn rearming_and_cancelling_leave_nothing_stale() {
        let mut timers = Timers::default();
        timers.set(1u8, Some(t(100)));
        timers.set(2u8, Some(t(50)));
        timers.set(1u8, Some(t(10)));
        assert_eq!(timers.len(), 2);
        assert_eq!(timers.next_deadline(), Some(t(10)));
        timers.set(1u8, None);
        assert_eq!(timers.next_deadline(), Some(t(50)));
        assert_eq!(timers.pop_due(t(49)), None);
        assert_eq!(timers.pop_due(t(50)), Some(2));
        assert!(timers.is_empty());
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn due_keys_come_out_in_deadline_order() {
        let mut timers = Timers::default();
        for (key, at) in [(3u8, 30), (1, 10), (2, 20)] {
            timers.set(key, Some(t(at)));
        }
        let order: Vec<u8> = std::iter::from_fn(|| timers.pop_due(t(25))).collect();
        assert_eq!(order, vec![1, 2]);
        assert_eq!(timers.len(), 1);
    }
}
