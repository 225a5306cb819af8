//! An ordered map that keeps its values in a slab and only slot numbers in its B-tree.
//!
//! Why: every `BTreeMap<K, V>` brings its own copy of the B-tree code (search, insert, split,
//! merge, iteration), 4–7 KB of MIPS code each, and the daemon has some thirty maps: on
//! mipsel that was a third of the binary. Here the B-tree is always `BTreeMap<K, u32>`, so
//! all maps keyed by MAC addresses share one copy, all maps keyed by IPv6 addresses another,
//! and a map's own code is only the few lines below. Iteration is in key order, exactly as
//! a `BTreeMap`'s, so nothing that depends on order changes.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

pub struct SlotMap<K, V> {
    index: BTreeMap<K, u32>,
    slots: Vec<Option<V>>,
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

impl<K: Ord, V> SlotMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.index.contains_key(key)
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        let slot = *self.index.get(key)?;
        self.slots.get(slot as usize)?.as_ref()
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        let slot = *self.index.get(key)?;
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// The value under `key`, first made with `make` if there is none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let slot = match self.index.get(&key) {
            Some(&slot) => slot,
            None => {
                let slot = self.new_slot(None);
                self.index.insert(key, slot);
                slot
            }
        };
        self.slots[slot as usize].get_or_insert_with(make)
    }

    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.get_or_insert_with(key, V::default)
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(&slot) = self.index.get(&key) {
            if let Some(old) = self.slots.get_mut(slot as usize) {
                return old.replace(value);
            }
        }
        let slot = self.new_slot(Some(value));
        self.index.insert(key, slot);
        None
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let slot = self.index.remove(key)?;
        let value = self.slots.get_mut(slot as usize)?.take();
        if self.index.is_empty() {
            // After a burst the slab would keep its high-water mark: give it back.
            self.slots = Vec::new();
            self.free = Vec::new();
        } else {
            self.free.push(slot);
        }
        value
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            index: self.index.iter(),
            slots: &self.slots,
        }
    }

    pub fn keys(&self) -> std::collections::btree_map::Keys<'_, K, u32> {
        self.index.keys()
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }

    pub fn into_keys(self) -> std::collections::btree_map::IntoKeys<K, u32> {
        self.index.into_keys()
    }

    fn new_slot(&mut self, value: Option<V>) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = value;
                slot
            }
            None => {
                // Maps are bounded far below 2^32 entries (the largest holds routes).
                let slot = self.slots.len() as u32;
                self.slots.push(value);
                slot
            }
        }
    }
}

pub struct Iter<'a, K, V> {
    index: std::collections::btree_map::Iter<'a, K, u32>,
    slots: &'a [Option<V>],
}

impl<'a, K, V> Iter<'a, K, V> {
    fn resolve(&self, (key, &slot): (&'a K, &'a u32)) -> Option<(&'a K, &'a V)> {
        Some((key, self.slots.get(slot as usize)?.as_ref()?))
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = self.index.next()?;
            if let Some(item) = self.resolve(entry) {
                return Some(item);
            }
        }
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            let entry = self.index.next_back()?;
            if let Some(item) = self.resolve(entry) {
                return Some(item);
            }
        }
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a SlotMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<K: Ord + fmt::Debug, V: fmt::Debug> fmt::Debug for SlotMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Ord + Clone, V: Clone> Clone for SlotMap<K, V> {
    fn clone(&self) -> Self {
        let mut copy = SlotMap::new();
        for (key, value) in self.iter() {
            copy.insert(key.clone(), value.clone());
        }
        copy
    }
}

/// A set on the same shared B-tree code as [`SlotMap`] (a `BTreeSet<K>` would be yet another
/// copy of it): the slot numbers are all 0.
pub struct SlotSet<K> {
    index: BTreeMap<K, u32>,
}

impl<K> Default for SlotSet<K> {
    fn default() -> Self {
        SlotSet {
            index: BTreeMap::new(),
        }
    }
}

impl<K: Ord> SlotSet<K> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.index.contains_key(key)
    }

    /// True if `key` was not there before.
    pub fn insert(&mut self, key: K) -> bool {
        self.index.insert(key, 0).is_none()
    }

    /// True if `key` was there.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.index.remove(key).is_some()
    }

    pub fn clear(&mut self) {
        self.index.clear();
    }

    pub fn iter(&self) -> std::collections::btree_map::Keys<'_, K, u32> {
        self.index.keys()
    }
}

impl<'a, K: Ord> IntoIterator for &'a SlotSet<K> {
    type Item = &'a K;
    type IntoIter = std::collections::btree_map::Keys<'a, K, u32>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<K: Ord> FromIterator<K> for SlotSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(items: I) -> Self {
        let mut set = SlotSet::new();
        for item in items {
            set.insert(item);
        }
        set
    }
}

impl<K: Ord + fmt::Debug> fmt::Debug for SlotSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<K: Ord + Clone> Clone for SlotSet<K> {
    fn clone(&self) -> Self {
        SlotSet {
            index: self.index.clone(),
        }
    }
}

impl<K: Ord> PartialEq for SlotSet<K> {
    fn eq(&self, other: &Self) -> bool {
        self.index.len() == other.index.len() && self.iter().eq(other.iter())
    }
}

impl<K: Ord> Eq for SlotSet<K> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_an_ordered_map() {
        let mut map = SlotMap::new();
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
        assert_eq!(map.remove(&1), Some("a"));
        assert_eq!(map.remove(&1), None);
        assert!(!map.contains_key(&1) && map.contains_key(&3));
        *map.get_mut(&3).unwrap() = "C";
        assert_eq!(map.get(&3), Some(&"C"));
        assert_eq!(*map.get_or_insert_with(4, || "d"), "d");
        assert_eq!(*map.get_or_insert_with(4, || "x"), "d");
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn slots_are_reused_and_an_empty_map_gives_its_memory_back() {
        let mut map = SlotMap::new();
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
        let mut rng = crate::engine::rng::Rng::from_u64(7);
        let mut ours = SlotMap::new();
        let mut model = BTreeMap::new();
        for step in 0..20_000u32 {
            let key = rng.below(64);
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
    }

    #[test]
    fn set_insert_remove_contains_in_order() {
        let mut set: SlotSet<u32> = [5, 1, 3].into_iter().collect();
        assert!(!set.insert(3));
        assert!(set.insert(2));
        assert!(set.remove(&5) && !set.remove(&5));
        assert!(set.contains(&1) && !set.contains(&5));
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
    }
}
