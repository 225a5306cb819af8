//! The intercom duplicate cache (intercom.md §8.2).
//!
//! Keyed on the whole datagram except the ttl byte (and, for a signed datagram, the version
//! byte and the trailer, so that the signed and the unsigned copy of one message, and every
//! re-signed retransmission, are one message): sender, nonce and type alone are not
//! enough, because deployed C peers reuse one nonce for every packet they send, and keying on
//! it would drop their SEEK for a second address or CLAIM for a second client (the very bug
//! C peers suffer from each other). Entries expire after a fixed lifetime and the cache is
//! bounded; when full, the oldest entry goes first.

use crate::time::{Duration, Instant};
use std::collections::{BTreeMap, VecDeque};

pub const LIFETIME: Duration = Duration::from_secs(10);
pub const CAPACITY: usize = 1024;

/// Offset of the ttl byte, the only byte a forwarder changes.
const TTL_OFFSET: usize = 1;
/// Offset of the version byte: 0 or 2 for the same message.
const VERSION_OFFSET: usize = 0;

#[derive(Debug, Default)]
pub struct DupCache {
    /// key -> (insertion time, the reply sent for it, if any: the ACK for an INFO)
    entries: BTreeMap<Vec<u8>, (Instant, Option<Vec<u8>>)>,
    order: VecDeque<(Instant, Vec<u8>)>,
}

/// The cache key of a datagram (header and TLVs, without a signed datagram's trailer): every
/// byte but the ttl and the version.
pub fn key_of(datagram: &[u8]) -> Vec<u8> {
    let mut key = datagram.to_vec();
    for offset in [VERSION_OFFSET, TTL_OFFSET] {
        if let Some(byte) = key.get_mut(offset) {
            *byte = 0;
        }
    }
    key
}

/// The result of a lookup-and-insert.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not seen before; now inserted, after evicting this many of the oldest entries to make
    /// room (a flood of new datagrams shortens every entry's life below [`LIFETIME`]).
    New { evicted: u64 },
    /// Seen before; carries the reply remembered for it.
    Duplicate(Option<Vec<u8>>),
}

impl DupCache {
    /// Looks `key` up; a miss inserts it.
    pub fn check_and_insert(&mut self, now: Instant, key: Vec<u8>) -> Seen {
        self.expire(now);
        if let Some((_, reply)) = self.entries.get(&key) {
            return Seen::Duplicate(reply.clone());
        }
        let mut evicted = 0;
        while self.entries.len() >= CAPACITY {
            match self.order.pop_front() {
                Some((_, oldest)) => {
                    self.entries.remove(&oldest);
                    evicted += 1;
                }
                None => break,
            }
        }
        self.entries.insert(key.clone(), (now, None));
        self.order.push_back((now, key));
        Seen::New { evicted }
    }

    /// Whether `key` is known, without inserting it.
    pub fn contains(&mut self, now: Instant, key: &[u8]) -> bool {
        self.expire(now);
        self.entries.contains_key(key)
    }

    /// Remembers the reply sent for `key`, so a retransmission gets the identical reply.
    pub fn set_reply(&mut self, key: &[u8], reply: Vec<u8>) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.1 = Some(reply);
        }
    }

    /// Drops entries older than the lifetime.
    pub fn expire(&mut self, now: Instant) {
        while let Some((inserted, _)) = self.order.front() {
            if now.saturating_since(*inserted) < LIFETIME {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.entries.remove(&key);
            }
        }
    }

    /// When the oldest entry expires, for the timer index.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|(inserted, _)| *inserted + LIFETIME)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn ttl_does_not_change_the_key() {
        assert_eq!(key_of(&[0, 255, 0, 0, 9]), key_of(&[0, 254, 0, 0, 9]));
        assert_eq!(
            key_of(&[2, 255, 0, 0, 9]),
            key_of(&[0, 254, 0, 0, 9]),
            "nor the version"
        );
        assert_ne!(key_of(&[0, 255, 0, 0, 9]), key_of(&[0, 255, 0, 0, 8]));
        assert_eq!(key_of(&[]), Vec::<u8>::new());
    }

    #[test]
    fn entries_expire_after_ten_seconds() {
        let mut cache = DupCache::default();
        assert_eq!(
            cache.check_and_insert(t(0), vec![1]),
            Seen::New { evicted: 0 }
        );
        assert_eq!(
            cache.check_and_insert(t(9_999), vec![1]),
            Seen::Duplicate(None)
        );
        assert_eq!(cache.next_expiry(), Some(t(10_000)));
        assert_eq!(
            cache.check_and_insert(t(10_000), vec![1]),
            Seen::New { evicted: 0 }
        );
    }

    #[test]
    fn remembers_the_reply() {
        let mut cache = DupCache::default();
        cache.check_and_insert(t(0), vec![2]);
        cache.set_reply(&[2], vec![7, 7]);
        assert_eq!(
            cache.check_and_insert(t(1), vec![2]),
            Seen::Duplicate(Some(vec![7, 7]))
        );
    }

    #[test]
    fn stays_bounded_and_evicts_the_oldest() {
        let mut cache = DupCache::default();
        let evicted: u64 = (0..(CAPACITY as u32 + 10))
            .map(
                |i| match cache.check_and_insert(t(0), i.to_be_bytes().to_vec()) {
                    Seen::New { evicted } => evicted,
                    Seen::Duplicate(_) => panic!("{i} is new"),
                },
            )
            .sum();
        assert_eq!(evicted, 10, "one per insertion beyond the capacity");
        assert_eq!(cache.len(), CAPACITY);
        assert_eq!(
            cache.check_and_insert(t(1), 0u32.to_be_bytes().to_vec()),
            Seen::New { evicted: 1 }
        );
        let last = CAPACITY as u32 + 9;
        assert_eq!(
            cache.check_and_insert(t(1), last.to_be_bytes().to_vec()),
            Seen::Duplicate(None)
        );
    }
}
