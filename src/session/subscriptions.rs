//! What a subscriber wants, sans-I/O: its channels, patterns and shard channels, kept apart
//! from what any connection has confirmed, because that is what a new connection must be
//! given again; and the commands that ask a server for all of it.

use std::collections::{BTreeMap, BTreeSet};

use super::push::{NameClass, SubscriptionKind};

/// Most names one restoring command carries: a subscriber with many thousands of channels
/// restores them in several frames of reasonable size rather than one huge one.
const NAMES_PER_COMMAND: usize = 1024;

/// A set of channels, patterns and shard channels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscriptions {
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    shards: BTreeSet<Vec<u8>>,
}

impl Subscriptions {
    /// An empty set.
    pub fn new() -> Subscriptions {
        Subscriptions::default()
    }

    fn set(&self, class: NameClass) -> &BTreeSet<Vec<u8>> {
        match class {
            NameClass::Channel => &self.channels,
            NameClass::Pattern => &self.patterns,
            NameClass::Shard => &self.shards,
        }
    }

    fn set_mut(&mut self, class: NameClass) -> &mut BTreeSet<Vec<u8>> {
        match class {
            NameClass::Channel => &mut self.channels,
            NameClass::Pattern => &mut self.patterns,
            NameClass::Shard => &mut self.shards,
        }
    }

    /// Adds names of `class`; returns how many were not in the set yet.
    pub fn add<'a>(
        &mut self,
        class: NameClass,
        names: impl IntoIterator<Item = &'a [u8]>,
    ) -> usize {
        let set = self.set_mut(class);
        names
            .into_iter()
            .filter(|name| set.insert(name.to_vec()))
            .count()
    }

    /// Removes names of `class`; returns how many were in the set.
    pub fn remove<'a>(
        &mut self,
        class: NameClass,
        names: impl IntoIterator<Item = &'a [u8]>,
    ) -> usize {
        let set = self.set_mut(class);
        names.into_iter().filter(|name| set.remove(*name)).count()
    }

    /// Empties one class; returns what it held.
    pub fn clear(&mut self, class: NameClass) -> Vec<Vec<u8>> {
        std::mem::take(self.set_mut(class)).into_iter().collect()
    }

    /// True when `name` of `class` is in the set.
    pub fn contains(&self, class: NameClass, name: &[u8]) -> bool {
        self.set(class).contains(name)
    }

    /// The names of one class, in byte order.
    pub fn names(&self, class: NameClass) -> impl Iterator<Item = &[u8]> {
        self.set(class).iter().map(Vec::as_slice)
    }

    /// How many names of one class.
    pub fn len(&self, class: NameClass) -> usize {
        self.set(class).len()
    }

    /// True when nothing of any class is in the set.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shards.is_empty()
    }

    /// The commands that ask a fresh connection for everything in the set: SUBSCRIBE with the
    /// channels, PSUBSCRIBE with the patterns, and SSUBSCRIBE with the shard channels that
    /// share a `group` (a cluster takes one slot per SSUBSCRIBE), each command with at most
    /// `NAMES_PER_COMMAND` names. Each is answered by one confirmation per name.
    pub fn restore<K: Ord>(
        &self,
        group: impl Fn(&[u8]) -> K,
    ) -> Vec<(SubscriptionKind, Vec<&[u8]>)> {
        fn push<'a>(
            commands: &mut Vec<(SubscriptionKind, Vec<&'a [u8]>)>,
            kind: SubscriptionKind,
            names: Vec<&'a [u8]>,
        ) {
            for chunk in names.chunks(NAMES_PER_COMMAND) {
                commands.push((kind, chunk.to_vec()));
            }
        }
        let mut commands = Vec::new();
        let channels = self.names(NameClass::Channel).collect();
        push(&mut commands, SubscriptionKind::Subscribe, channels);
        let patterns = self.names(NameClass::Pattern).collect();
        push(&mut commands, SubscriptionKind::Psubscribe, patterns);
        let mut groups: BTreeMap<K, Vec<&[u8]>> = BTreeMap::new();
        for name in self.names(NameClass::Shard) {
            groups.entry(group(name)).or_default().push(name);
        }
        for names in groups.into_values() {
            push(&mut commands, SubscriptionKind::Ssubscribe, names);
        }
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_and_removing_counts_what_changed() {
        let mut subs = Subscriptions::new();
        assert_eq!(subs.add(NameClass::Channel, [&b"a"[..], b"b", b"a"]), 2);
        assert_eq!(
            subs.add(NameClass::Pattern, [&b"a"[..]]),
            1,
            "classes are apart"
        );
        assert_eq!(subs.remove(NameClass::Channel, [&b"a"[..], b"z"]), 1);
        assert!(subs.contains(NameClass::Channel, b"b"));
        assert!(!subs.contains(NameClass::Channel, b"a"));
        assert_eq!(subs.len(NameClass::Pattern), 1);
        assert_eq!(subs.clear(NameClass::Pattern), vec![b"a".to_vec()]);
        subs.remove(NameClass::Channel, [&b"b"[..]]);
        assert!(subs.is_empty());
    }

    #[test]
    fn restoring_sends_each_class_and_groups_shard_channels() {
        let mut subs = Subscriptions::new();
        subs.add(NameClass::Channel, [&b"news"[..], b"alerts"]);
        subs.add(NameClass::Shard, [&b"{x}1"[..], b"{y}1", b"{x}2"]);
        // Grouped by the hash tag's first byte here; by slot in a cluster.
        let commands = subs.restore(|name| name[1]);
        let shown: Vec<(SubscriptionKind, Vec<&str>)> = commands
            .iter()
            .map(|(k, names)| {
                (
                    *k,
                    names
                        .iter()
                        .map(|n| std::str::from_utf8(n).unwrap())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                (SubscriptionKind::Subscribe, vec!["alerts", "news"]),
                (SubscriptionKind::Ssubscribe, vec!["{x}1", "{x}2"]),
                (SubscriptionKind::Ssubscribe, vec!["{y}1"]),
            ]
        );
        assert!(Subscriptions::new().restore(|_| 0).is_empty());
    }

    #[test]
    fn a_large_set_is_restored_in_bounded_commands() {
        let mut subs = Subscriptions::new();
        let names: Vec<Vec<u8>> = (0..2500).map(|i| format!("c{i}").into_bytes()).collect();
        subs.add(NameClass::Pattern, names.iter().map(Vec::as_slice));
        let commands = subs.restore(|_| 0);
        let sizes: Vec<usize> = commands.iter().map(|(_, n)| n.len()).collect();
        assert_eq!(sizes, vec![1024, 1024, 452]);
        assert!(commands
            .iter()
            .all(|(k, _)| *k == SubscriptionKind::Psubscribe));
    }
}
