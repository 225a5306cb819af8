//! Authenticated intercom (`--key-file`): what is signed on the way out, what is accepted on
//! the way in, and the replay cache.
//!
//! Replay protection keeps no state per peer. A signed datagram carries the sender's wall
//! clock; it is accepted only within [`AUTH_WINDOW`] of ours, and the MACs of accepted
//! datagrams are remembered for as long as their timestamp stays inside the window, so an
//! exact repeat is caught while it could still pass the clock check. The price is that nodes
//! need roughly synchronised clocks (NTP); a peer whose clock is off by more than the window
//! is heard by nobody, and the operator sees the offset in the log.
//!
//! The engine never reads a clock: the driver tells it the wall clock together with the
//! monotonic `now` ([`super::Engine::set_wall_clock`]), and tests step both in virtual time.

use crate::slot_map::{SlotMap, SlotSet};
use crate::time::Duration;
use crate::wire::auth::Key;
use std::net::Ipv6Addr;

/// How far a signed datagram's timestamp may be from the receiver's wall clock, either way.
pub const AUTH_WINDOW: Duration = Duration::from_secs(30);
/// MACs remembered at most. Each lives for at most two windows (a timestamp 30 s ahead of
/// our clock stays acceptable for 60 s); only datagrams new to the duplicate cache are
/// entered, so retransmissions and flood copies of one message cost one entry.
pub const REPLAY_CAPACITY: usize = 4096;

/// What is remembered of a MAC: half of it. An attacker cannot produce a valid MAC at all,
/// and two genuine datagrams colliding in 128 bits does not happen.
pub type Tag = [u8; 16];

pub fn window_ms() -> u64 {
    u64::try_from(AUTH_WINDOW.as_millis()).unwrap_or(u64::MAX)
}

/// Whether a timestamp is acceptable at wall-clock time `wall_ms` (both in ms since the
/// Unix epoch): at most [`AUTH_WINDOW`] away, the edges included.
pub fn within_window(timestamp_ms: u64, wall_ms: u64) -> bool {
    timestamp_ms.abs_diff(wall_ms) <= window_ms()
}

/// The keys and the allow-list of one node.
#[derive(Debug)]
pub struct Auth {
    /// The first signs, all verify.
    pub keys: Vec<Key>,
    /// Senders whose unsigned datagrams are still accepted (`--accept-unauthenticated`).
    pub accept_unsigned: SlotSet<Ipv6Addr>,
    pub replay: ReplayCache,
}

impl Auth {
    /// `None` without keys: the intercom is not authenticated.
    pub fn new(keys: &[Key], accept_unsigned: &[Ipv6Addr]) -> Option<Auth> {
        if keys.is_empty() {
            return None;
        }
        Some(Auth {
            keys: keys.to_vec(),
            accept_unsigned: accept_unsigned.iter().copied().collect(),
            replay: ReplayCache::default(),
        })
    }

    /// While any node is still allowed to send unsigned, it (or a C peer) may also be unable
    /// to verify: everything goes out unsigned too.
    pub fn sends_unsigned(&self) -> bool {
        !self.accept_unsigned.is_empty()
    }

    pub fn signing_key(&self) -> Option<&Key> {
        self.keys.first()
    }
}

/// The outcome of [`ReplayCache::check_and_insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    New,
    /// Accepted before, and still inside the window: an exact repeat.
    Replayed,
    /// Full of MACs that are all still inside the window: the datagram is rejected, since
    /// accepting it unremembered would let it be replayed.
    Full,
}

/// MACs of accepted signed datagrams, each until its timestamp leaves the window.
#[derive(Debug, Default)]
pub struct ReplayCache {
    expiry: SlotMap<Tag, u64>,
    /// The same entries ordered by expiry, so that the expired ones go first and cheaply.
    by_expiry: SlotSet<(u64, Tag)>,
}

impl ReplayCache {
    /// Looks `tag` up and remembers it until `expires_ms` (wall clock) if it is new.
    /// Entries whose expiry is before `wall_ms` are dropped first.
    pub fn check_and_insert(&mut self, wall_ms: u64, tag: Tag, expires_ms: u64) -> Replay {
        self.expire(wall_ms);
        if self.expiry.contains_key(&tag) {
            return Replay::Replayed;
        }
        if self.expiry.len() >= REPLAY_CAPACITY {
            return Replay::Full;
        }
        self.expiry.insert(tag, expires_ms);
        self.by_expiry.insert((expires_ms, tag));
        Replay::New
    }

    pub fn contains(&self, tag: &Tag) -> bool {
        self.expiry.contains_key(tag)
    }

    /// Forgets the MACs whose datagrams could no longer pass the clock check at `wall_ms`.
    pub fn expire(&mut self, wall_ms: u64) {
        while let Some(&(at, tag)) = self.by_expiry.first() {
            if at >= wall_ms {
                break;
            }
            self.by_expiry.remove(&(at, tag));
            self.expiry.remove(&tag);
        }
    }

    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: u32) -> Tag {
        let mut tag = [0; 16];
        tag[..4].copy_from_slice(&n.to_be_bytes());
        tag
    }

    #[test]
    fn window_edges_are_inside() {
        let wall = 1_700_000_000_000;
        assert!(within_window(wall, wall));
        assert!(within_window(wall - 30_000, wall));
        assert!(within_window(wall + 30_000, wall));
        assert!(!within_window(wall - 30_001, wall));
        assert!(!within_window(wall + 30_001, wall));
        // A clock near the epoch (a router before NTP) neither wraps nor panics.
        assert!(!within_window(wall, 0));
        assert!(within_window(0, 10));
        assert!(!within_window(u64::MAX, 0));
    }

    #[test]
    fn a_repeat_is_caught_until_its_timestamp_leaves_the_window() {
        let mut cache = ReplayCache::default();
        let ts = 100_000;
        let expires = ts + window_ms();
        assert_eq!(cache.check_and_insert(ts, tag(1), expires), Replay::New);
        assert_eq!(
            cache.check_and_insert(ts + 29_999, tag(1), expires),
            Replay::Replayed
        );
        assert_eq!(
            cache.check_and_insert(expires, tag(1), expires),
            Replay::Replayed
        );
        // Past the expiry the datagram is stale anyway, and its MAC is forgotten.
        cache.expire(expires + 1);
        assert!(cache.is_empty());
    }

    #[test]
    fn bounded_full_of_live_entries_it_rejects_and_it_makes_room_from_expired_ones() {
        let mut cache = ReplayCache::default();
        for i in 0..REPLAY_CAPACITY as u32 {
            // Half expire at 10 s, half at 20 s.
            let expires = if i % 2 == 0 { 10_000 } else { 20_000 };
            assert_eq!(cache.check_and_insert(0, tag(i), expires), Replay::New);
        }
        assert_eq!(cache.len(), REPLAY_CAPACITY);
        let new = tag(u32::MAX);
        assert_eq!(cache.check_and_insert(5_000, new, 40_000), Replay::Full);
        assert!(!cache.contains(&new));
        // A repeat is still recognised as one when full.
        assert_eq!(
            cache.check_and_insert(5_000, tag(0), 10_000),
            Replay::Replayed
        );
        // Once the first half has expired there is room again, and only for live ones.
        assert_eq!(cache.check_and_insert(10_001, new, 40_000), Replay::New);
        assert_eq!(cache.len(), REPLAY_CAPACITY / 2 + 1);
        assert!(!cache.contains(&tag(0)) && cache.contains(&tag(1)));
    }
}
