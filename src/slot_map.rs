//! Ordered maps and sets that share one B-tree.
//!
//! Why: every `BTreeMap<K, V>` brings its own copy of the B-tree code (search, insert, split,
//! merge, iteration), 4–7 KB of MIPS code each, and the daemon has some thirty maps: on
//! mipsel that was a third of the binary. Here every key is written as [`KEY_BYTES`] bytes
//! whose lexicographic order is the key's own order ([`SlotKey`]), the B-tree is always
//! `BTreeMap<[u8; KEY_BYTES], u32>`, and the values (with their keys) live in a slab. One copy
//! of the B-tree serves every map and set; a map's own code is only the few lines below.
//! Iteration is in key order, exactly as a `BTreeMap`'s, so nothing that depends on order
//! changes.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// Room for the longest key: a timer's deadline and key (8 + 1 + 17 bytes).
pub const KEY_BYTES: usize = 26;

type Encoded = [u8; KEY_BYTES];

/// A key whose order is the order of its encoding: [`SlotKey::WIDTH`] bytes, the same width
/// for every value of the type, so that keys made of several parts stay in order part by
/// part. Unused bytes stay zero.
pub trait SlotKey: Ord {
    const WIDTH: usize;
    /// Writes exactly `WIDTH` bytes at the start of `out`.
    fn write(&self, out: &mut [u8]);
}

fn encode<K: SlotKey>(key: &K) -> Encoded {
    let mut out = [0; KEY_BYTES];
    key.write(&mut out);
    out
}

impl SlotKey for u32 {
    const WIDTH: usize = 4;
    fn write(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.to_be_bytes());
    }
}

impl SlotKey for u64 {
    const WIDTH: usize = 8;
    fn write(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.to_be_bytes());
    }
}

impl SlotKey for usize {
    const WIDTH: usize = 8;
    fn write(&self, out: &mut [u8]) {
        (*self as u64).write(out);
    }
}

impl SlotKey for u8 {
    const WIDTH: usize = 1;
    fn write(&self, out: &mut [u8]) {
        out[0] = *self;
    }
}

impl<const N: usize> SlotKey for [u8; N] {
    const WIDTH: usize = N;
    fn write(&self, out: &mut [u8]) {
        out[..N].copy_from_slice(self);
    }
}

impl SlotKey for Ipv6Addr {
    const WIDTH: usize = 16;
    fn write(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.octets());
    }
}

/// As `IpAddr`'s derived order: every IPv4 address before every IPv6 address.
impl SlotKey for IpAddr {
    const WIDTH: usize = 17;
    fn write(&self, out: &mut [u8]) {
        match self {
            IpAddr::V4(addr) => out[1..5].copy_from_slice(&addr.octets()),
            IpAddr::V6(addr) => {
                out[0] = 1;
                out[1..17].copy_from_slice(&addr.octets());
            }
        }
    }
}

impl SlotKey for mio::Token {
    const WIDTH: usize = 8;
    fn write(&self, out: &mut [u8]) {
        self.0.write(out);
    }
}

impl<A: SlotKey, B: SlotKey> SlotKey for (A, B) {
    const WIDTH: usize = A::WIDTH + B::WIDTH;
    fn write(&self, out: &mut [u8]) {
        self.0.write(out);
        self.1.write(&mut out[A::WIDTH..]);
    }
}

pub struct SlotMap<K, V> {
    index: BTreeMap<Encoded, u32>,
    slots: Vec<Option<(K, V)>>,
    /// Emptied slots, reused before the slab grows.
    free: Vec<u32>,
}

impl<K, V> Default for SlotMap<K, V> {
    fn default() -> Self {
        SlotMap {
            index: BTreeMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<K: SlotKey, V> SlotMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.index.contains_key(&encode(key))
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        let slot = *self.index.get(&encode(key))?;
        self.slots
            .get(slot as usize)?
            .as_ref()
            .map(|(_, value)| value)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let slot = *self.index.get(&encode(key))?;
        self.slots
            .get_mut(slot as usize)?
            .as_mut()
            .map(|(_, value)| value)
    }

    /// The value under `key`, first made with `make` if there is none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let encoded = encode(&key);
        let slot = match self.index.get(&encoded) {
            Some(&slot) => slot,
            None => {
                let slot = self.new_slot((key, make()));
                self.index.insert(encoded, slot);
                slot
            }
        };
        // The index only ever names slots that hold an entry.
        let (_, value) = self.slots[slot as usize]
            .as_mut()
            .expect("an indexed slot holds its entry");
        value
    }

    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.get_or_insert_with(key, V::default)
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let encoded = encode(&key);
        if let Some(&slot) = self.index.get(&encoded) {
            if let Some(Some((_, old))) = self.slots.get_mut(slot as usize) {
                return Some(std::mem::replace(old, value));
            }
        }
        let slot = self.new_slot((key, value));
        self.index.insert(encoded, slot);
        None
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.index.remove(&encode(key))?;
        let entry = self.slots.get_mut(slot as usize)?.take();
        if self.index.is_empty() {
            // After a burst the slab would keep its high-water mark: give it back.
            self.slots = Vec::new();
            self.free = Vec::new();
        } else {
            self.free.push(slot);
        }
        entry.map(|(_, value)| value)
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            index: self.index.values(),
            slots: &self.slots,
        }
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }

    /// The entry with the smallest key.
    pub fn first(&self) -> Option<(&K, &V)> {
        self.iter().next()
    }

    pub fn into_keys(self) -> impl Iterator<Item = K> {
        let SlotMap {
            index, mut slots, ..
        } = self;
        index
            .into_values()
            .filter_map(move |slot| slots.get_mut(slot as usize)?.take().map(|(key, _)| key))
    }

    fn new_slot(&mut self, entry: (K, V)) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(entry);
                slot
            }
            None => {
                // Maps are bounded far below 2^32 entries (the largest holds routes).
                let slot = self.slots.len() as u32;
                self.slots.push(Some(entry));
                slot
            }
        }
    }
}

pub struct Iter<'a, K, V> {
    index: std::collections::btree_map::Values<'a, Encoded, u32>,
    slots: &'a [Option<(K, V)>],
}

impl<'a, K, V> Iter<'a, K, V> {
    fn resolve(&self, slot: u32) -> Option<(&'a K, &'a V)> {
        let (key, value) = self.slots.get(slot as usize)?.as_ref()?;
        Some((key, value))
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let &slot = self.index.next()?;
            if let Some(item) = self.resolve(slot) {
                return Some(item);
            }
        }
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            let &slot = self.index.next_back()?;
            if let Some(item) = self.resolve(slot) {
                return Some(item);
            }
        }
    }
}

impl<'a, K: SlotKey, V> IntoIterator for &'a SlotMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<K: SlotKey + fmt::Debug, V: fmt::Debug> fmt::Debug for SlotMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: SlotKey + Clone, V: Clone> Clone for SlotMap<K, V> {
    fn clone(&self) -> Self {
        let mut copy = SlotMap::new();
        for (key, value) in self.iter() {
            copy.insert(key.clone(), value.clone());
        }
        copy
    }
}

/// A set on the same shared B-tree as [`SlotMap`]: a map to nothing.
pub struct SlotSet<K> {
    map: SlotMap<K, ()>,
}

impl<K> Default for SlotSet<K> {
    fn default() -> Self {
        SlotSet {
            map: SlotMap::default(),
        }
    }
}

impl<K: SlotKey> SlotSet<K> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// True if `key` was not there before.
    pub fn insert(&mut self, key: K) -> bool {
        self.map.insert(key, ()).is_none()
    }

    /// True if `key` was there.
    pub fn remove(&mut self, key: &K) -> bool {
        self.map.remove(key).is_some()
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.map.keys()
    }

    /// The smallest element.
    pub fn first(&self) -> Option<&K> {
        self.map.first().map(|(key, _)| key)
    }
}

impl<'a, K: SlotKey> IntoIterator for &'a SlotSet<K> {
    type Item = &'a K;
    type IntoIter = std::iter::Map<Iter<'a, K, ()>, fn((&'a K, &'a ())) -> &'a K>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.iter().map(|(key, _)| key)
    }
}

impl<K: SlotKey> FromIterator<K> for SlotSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(items: I) -> Self {
        let mut set = SlotSet::new();
        for item in items {
            set.insert(item);
        }
        set
    }
}

impl<K: SlotKey + fmt::Debug> fmt::Debug for SlotSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<K: SlotKey + Clone> Clone for SlotSet<K> {
    fn clone(&self) -> Self {
        SlotSet {
            map: self.map.clone(),
        }
    }
}

impl<K: SlotKey> PartialEq for SlotSet<K> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: SlotKey> Eq for SlotSet<K> {}

/// For the tests of every key type: the encoding orders `keys` as their `Ord` does, tells
/// apart exactly the keys `Ord` tells apart, fits, and writes nothing past its width.
#[cfg(test)]
pub(crate) fn assert_order_preserved<K: SlotKey + fmt::Debug>(keys: &[K]) {
    assert!(K::WIDTH <= KEY_BYTES);
    for a in keys {
        let ea = encode(a);
        assert!(
            ea[K::WIDTH..].iter().all(|&b| b == 0),
            "{a:?} writes past its width"
        );
        for b in keys {
            assert_eq!(a.cmp(b), ea.cmp(&encode(b)), "{a:?} vs {b:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Rng;
    use std::net::Ipv4Addr;

    #[test]
    fn behaves_as_an_ordered_map() {
        let mut map = SlotMap::<u32, &str>::new();
        assert_eq!(map.insert(3, "c"), None);
        assert_eq!(map.insert(1, "a"), None);
        assert_eq!(map.insert(2, "b"), None);
        assert_eq!(map.insert(2, "B"), Some("b"));
        assert_eq!(map.len(), 3);
        assert_eq!(
            map.iter().collect::<Vec<_>>(),
            [(&1, &"a"), (&2, &"B"), (&3, &"c")]
        );
        assert_eq!(map.values().rev().collect::<Vec<_>>(), [&"c", &"B", &"a"]);
        assert_eq!(map.first(), Some((&1, &"a")));
        assert_eq!(map.remove(&1), Some("a"));
        assert_eq!(map.remove(&1), None);
        assert!(!map.contains_key(&1) && map.contains_key(&3));
        *map.get_mut(&3).unwrap() = "C";
        assert_eq!(map.get(&3), Some(&"C"));
        assert_eq!(*map.get_or_insert_with(4, || "d"), "d");
        assert_eq!(*map.get_or_insert_with(4, || "x"), "d");
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(map.into_keys().collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn slots_are_reused_and_an_empty_map_gives_its_memory_back() {
        let mut map = SlotMap::<u32, u32>::new();
        for key in 0..100 {
            map.insert(key, key);
        }
        for key in 0..50 {
            map.remove(&key);
        }
        for key in 100..150 {
            map.insert(key, key);
        }
        assert_eq!(map.slots.len(), 100, "freed slots are filled first");
        assert!((50..150).all(|key| map.get(&key) == Some(&key)));
        for key in 50..150 {
            map.remove(&key);
        }
        assert!(map.is_empty());
        assert_eq!(map.slots.capacity() + map.free.capacity(), 0);
    }

    #[test]
    fn against_a_btree_map_on_random_operations() {
        let mut rng = Rng::from_u64(7);
        let mut ours = SlotMap::new();
        let mut model = BTreeMap::new();
        for step in 0..20_000u32 {
            let key = (rng.below(8), ip(&mut rng, 8));
            match rng.below(4) {
                0 | 1 => assert_eq!(ours.insert(key, step), model.insert(key, step)),
                2 => assert_eq!(ours.remove(&key), model.remove(&key)),
                _ => assert_eq!(
                    *ours.get_or_insert_with(key, || step),
                    *model.entry(key).or_insert(step)
                ),
            }
            assert_eq!(ours.get(&key), model.get(&key));
            assert_eq!(ours.len(), model.len());
        }
        assert!(ours.iter().eq(model.iter()));
        assert!(ours.iter().rev().eq(model.iter().rev()));
    }

    #[test]
    fn set_insert_remove_contains_in_order() {
        let mut set: SlotSet<u32> = [5, 1, 3].into_iter().collect();
        assert!(!set.insert(3));
        assert!(set.insert(2));
        assert!(set.remove(&5) && !set.remove(&5));
        assert!(set.contains(&1) && !set.contains(&5));
        assert_eq!(set.first(), Some(&1));
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
    }

    /// Few distinct values per byte, so that equal prefixes and equal keys are common.
    fn ip(rng: &mut Rng, spread: u32) -> IpAddr {
        let byte = |rng: &mut Rng| [0, 1, 127, 128, 255][rng.below(spread.min(5)) as usize];
        if rng.below(2) == 0 {
            IpAddr::V4(Ipv4Addr::new(byte(rng), byte(rng), byte(rng), byte(rng)))
        } else {
            let mut octets = [0; 16];
            for octet in octets.iter_mut().step_by(5) {
                *octet = byte(rng);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    }

    #[test]
    fn every_key_type_is_encoded_in_its_own_order() {
        let mut rng = Rng::from_u64(11);
        let edges = [0, 1, 255, 256, u32::MAX - 1, u32::MAX];
        assert_order_preserved(&edges);
        assert_order_preserved(&edges.map(u64::from).map(|v| v << 31));
        assert_order_preserved(&[0usize, 1, usize::MAX]);
        assert_order_preserved(&[
            [0u8; 16],
            [1; 16],
            [255; 16],
            [0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ]);
        let ips: Vec<IpAddr> = (0..60).map(|_| ip(&mut rng, 5)).collect();
        assert_order_preserved(&ips);
        let v6: Vec<Ipv6Addr> = ips
            .iter()
            .filter_map(|a| match a {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            })
            .collect();
        assert_order_preserved(&v6);
        let pairs: Vec<(u32, IpAddr)> = (0..60).map(|_| (rng.below(3), ip(&mut rng, 3))).collect();
        assert_order_preserved(&pairs);
        let macs: Vec<crate::wire::MacAddr> = (0..40)
            .map(|_| crate::wire::MacAddr([0, 0, 0, 0, rng.below(3) as u8, rng.below(256) as u8]))
            .collect();
        assert_order_preserved(&macs);
        let routes: Vec<crate::engine::output::HostRoute> = (0..60)
            .map(|_| crate::engine::output::HostRoute {
                dst: ip(&mut rng, 2),
                table: [0, 254, u32::MAX][rng.below(3) as usize],
                ifindex: rng.below(3),
            })
            .collect();
        assert_order_preserved(&routes);
        let prefixes: Vec<crate::wire::babel::Prefix> = (0..60)
            .map(|_| crate::wire::babel::Prefix {
                addr: ip(&mut rng, 2),
                len: [0, 32, 128][rng.below(3) as usize],
            })
            .collect();
        assert_order_preserved(&prefixes);
        let deadlines: Vec<(crate::time::Instant, mio::Token)> = (0..40)
            .map(|_| {
                let at = crate::time::Instant::from_millis(u64::from(rng.below(3)) << 33);
                (at, mio::Token(rng.below(3) as usize))
            })
            .collect();
        assert_order_preserved(&deadlines);
    }
}
