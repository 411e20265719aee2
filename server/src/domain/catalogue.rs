//! The CI catalogue: for every CI, what the CI list searches, filters and sorts on (class,
//! name, the text a search matches, the suspected-duplicate flag, when it was last seen),
//! held in memory so a search, a class's total, the stale CIs or the most recently seen are
//! answered without reading the table.
//!
//! SurrealDB has no index for "contains this fragment, whatever the case": a `?q=` search
//! there reads and decodes every CI (6.7 s at a million). Here it is one pass over compact
//! lowercase strings (tens of milliseconds at a million), and a class's size is a counter.
//! Storage keeps the catalogue in step with its writes; this module is the structure alone.

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;

use hashbrown::HashTable;

use memchr::memmem::Finder;

/// What the catalogue holds of one CI, as storage reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogueRow {
    pub key: String,
    pub class: String,
    pub name: String,
    /// Other text a search matches (FQDN, serials, hardware UUID, machine id, addresses,
    /// chassis ids), in any case.
    pub terms: Vec<String>,
    /// Flagged as a suspected duplicate of another CI.
    pub duplicate: bool,
    /// When it was last seen, as stored (RFC 3339).
    pub last_seen: String,
}

/// The order of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By name, then key.
    Name,
    /// By class, then name, then key.
    Class,
    /// Most recently seen first, then by key.
    LastSeen,
}

/// A filter on when CIs were last seen, in microseconds since the epoch ([`seen_micros`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Last seen before this time: stale.
    Before(i64),
    /// Last seen at this time or later.
    Since(i64),
}

/// A stored time (RFC 3339) as microseconds since the epoch; a time that does not parse is
/// older than any other. Stored times are fixed-width UTC strings, so this orders them as
/// their text does.
pub fn seen_micros(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).map_or(i64::MIN, |t| t.timestamp_micros())
}

/// A question to the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub class: Option<&'a str>,
    /// Lowercase fragments: a CI matches when its text contains any of them.
    pub text: &'a [&'a str],
    pub duplicates_only: bool,
    pub seen: Option<Seen>,
    pub order: Order,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug)]
struct Entry {
    key: Box<str>,
    /// The name as written; then, unless the name is lowercase already, `\0` and the name in
    /// lowercase; then `\0` and each term in lowercase. `text_from` is where the searched
    /// part starts.
    data: Box<str>,
    name_len: u32,
    text_from: u32,
    class: u32,
    duplicate: bool,
    /// [`seen_micros`] of the last-seen time.
    seen: i64,
}

impl Entry {
    fn name(&self) -> &str {
        &self.data[..self.name_len as usize]
    }

    fn text(&self) -> &[u8] {
        &self.data.as_bytes()[self.text_from as usize..]
    }
}

/// Where a CI goes in a page's order; one search uses one kind.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey<'a> {
    /// Name, key.
    Name(&'a str, &'a str),
    /// Class, name, key.
    Class(&'a str, &'a str, &'a str),
    /// Newest first, then key.
    Seen(Reverse<i64>, &'a str),
}

impl SortKey<'_> {
    fn key(&self) -> &str {
        match self {
            SortKey::Name(_, k) | SortKey::Class(_, _, k) | SortKey::Seen(_, k) => k,
        }
    }
}

/// The catalogue of every CI.
#[derive(Debug, Default)]
pub struct Catalogue {
    /// Every CI's entry, in the order they were added. A search walks them in that order,
    /// which is the order their text was allocated in, so it reads memory mostly forward; a
    /// hash map's own order jumps around the heap (66 ms for a search of a million CIs).
    entries: Vec<Entry>,
    /// Where each key's entry is: indexes into `entries`, hashed by key.
    slots: HashTable<u32>,
    hasher: RandomState,
    /// Class names, by the number entries hold, and how many CIs each has.
    classes: Vec<Box<str>>,
    class_ids: HashMap<Box<str>, u32>,
    counts: Vec<u64>,
}

impl Catalogue {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many CIs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn class_id(&mut self, class: &str) -> u32 {
        if let Some(id) = self.class_ids.get(class) {
            return *id;
        }
        let id = self.classes.len() as u32;
        self.classes.push(class.into());
        self.class_ids.insert(class.into(), id);
        self.counts.push(0);
        id
    }

    /// Adds a CI, or replaces what the catalogue held of it.
    pub fn upsert(&mut self, row: &CatalogueRow) {
        let class = self.class_id(&row.class);
        let lower = row.name.to_lowercase();
        let mut data = String::with_capacity(
            row.name.len() * 2 + row.terms.iter().map(|t| t.len() + 1).sum::<usize>(),
        );
        data.push_str(&row.name);
        let text_from = if lower == row.name {
            0
        } else {
            data.push('\0');
            let from = data.len();
            data.push_str(&lower);
            from
        };
        for t in &row.terms {
            if !t.is_empty() {
                data.push('\0');
                data.push_str(&t.to_lowercase());
            }
        }
        let entry = Entry {
            key: row.key.as_str().into(),
            data: data.into_boxed_str(),
            name_len: row.name.len() as u32,
            text_from: text_from as u32,
            class,
            duplicate: row.duplicate,
            seen: seen_micros(&row.last_seen),
        };
        self.counts[class as usize] += 1;
        match self.slot(&row.key) {
            Some(i) => {
                let old = std::mem::replace(&mut self.entries[i], entry);
                self.counts[old.class as usize] -= 1;
            }
            None => {
                let i = self.entries.len() as u32;
                self.entries.push(entry);
                let (entries, hasher) = (&self.entries, &self.hasher);
                self.slots
                    .insert_unique(hasher.hash_one(&*row.key), i, |&j| {
                        hasher.hash_one(&*entries[j as usize].key)
                    });
            }
        }
    }

    /// Where the entry of `key` is in `entries`.
    fn slot(&self, key: &str) -> Option<usize> {
        let entries = &self.entries;
        self.slots
            .find(self.hasher.hash_one(key), |&i| {
                &*entries[i as usize].key == key
            })
            .map(|&i| i as usize)
    }

    /// Forgets a CI; false if the catalogue did not hold it.
    pub fn remove(&mut self, key: &str) -> bool {
        let entries = &self.entries;
        let Ok(found) = self.slots.find_entry(self.hasher.hash_one(key), |&i| {
            &*entries[i as usize].key == key
        }) else {
            return false;
        };
        let i = found.remove().0 as usize;
        let old = self.entries.swap_remove(i);
        self.counts[old.class as usize] -= 1;
        // The last entry moved into the hole: its slot follows.
        if let Some(moved) = self.entries.get(i) {
            let last = self.entries.len() as u32;
            if let Some(slot) = self
                .slots
                .find_mut(self.hasher.hash_one(&*moved.key), |&j| j == last)
            {
                *slot = i as u32;
            }
        }
        true
    }

    /// Moves a CI's last-seen time forward to `t` (a stored time), never back; false if the
    /// catalogue does not hold the CI.
    pub fn seen(&mut self, key: &str, t: &str) -> bool {
        match self.slot(key) {
            Some(i) => {
                let e = &mut self.entries[i];
                e.seen = e.seen.max(seen_micros(t));
                true
            }
            None => false,
        }
    }

    /// The last-seen time of CI `key` as [`seen_micros`], if catalogued and ever seen.
    pub fn seen_of(&self, key: &str) -> Option<i64> {
        self.slot(key)
            .map(|i| self.entries[i].seen)
            .filter(|&s| s != i64::MIN)
    }

    /// How many CIs of `class`.
    pub fn class_count(&self, class: &str) -> u64 {
        self.class_ids
            .get(class)
            .map_or(0, |id| self.counts[*id as usize])
    }

    /// Every class with at least one CI, and how many CIs each has.
    pub fn class_counts(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .classes
            .iter()
            .zip(&self.counts)
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c.to_string(), *n))
            .collect();
        out.sort();
        out
    }

    /// The keys of the page `q` asks for, in its order, and how many CIs match in all.
    pub fn search<'a>(&'a self, q: &Query) -> (Vec<String>, usize) {
        let class = match q.class {
            Some(c) => match self.class_ids.get(c) {
                Some(id) => Some(*id),
                None => return (Vec::new(), 0),
            },
            None => None,
        };
        let finders: Vec<Finder> = q
            .text
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| Finder::new(t.as_bytes()))
            .collect();
        // An empty fragment matches everything, as `string::contains(x, '')` does.
        let any_text = q.text.is_empty() || finders.len() < q.text.len();
        let classes = &self.classes;
        let sort_key = |e: &'a Entry| match q.order {
            Order::Name => SortKey::Name(e.name(), &e.key),
            Order::Class => SortKey::Class(&classes[e.class as usize], e.name(), &e.key),
            Order::LastSeen => SortKey::Seen(Reverse(e.seen), &e.key),
        };
        // One pass: every match is counted, and only the first `offset + limit` in order are
        // kept (a heap whose top is the last of them), so a page of a million matches is
        // neither collected nor sorted.
        let end = q.offset.saturating_add(q.limit);
        let mut total = 0;
        let mut first: BinaryHeap<SortKey<'a>> = BinaryHeap::new();
        for e in &self.entries {
            let matches = class.is_none_or(|c| e.class == c)
                && (!q.duplicates_only || e.duplicate)
                && match q.seen {
                    None => true,
                    Some(Seen::Before(t)) => e.seen < t,
                    Some(Seen::Since(t)) => e.seen >= t,
                }
                && (any_text || finders.iter().any(|f| f.find(e.text()).is_some()));
            if !matches {
                continue;
            }
            total += 1;
            if first.len() < end {
                first.push(sort_key(e));
            } else if let Some(mut last) = first.peek_mut() {
                let k = sort_key(e);
                if k < *last {
                    *last = k;
                }
            }
        }
        let page = first
            .into_sorted_vec()
            .into_iter()
            .skip(q.offset)
            .map(|k| k.key().to_string())
            .collect();
        (page, total)
    }

    /// Roughly the heap the catalogue takes, in bytes.
    pub fn memory_bytes(&self) -> usize {
        // A slot is an index and a control byte.
        let slot = std::mem::size_of::<u32>() + 1;
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.slots.capacity() * slot
            + self
                .entries
                .iter()
                .map(|e| e.key.len() + e.data.len())
                .sum::<usize>()
            + self.classes.iter().map(|c| c.len() * 2 + 40).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, class: &str, name: &str, terms: &[&str]) -> CatalogueRow {
        CatalogueRow {
            key: key.into(),
            class: class.into(),
            name: name.into(),
            terms: terms.iter().map(|t| t.to_string()).collect(),
            duplicate: false,
            last_seen: "2026-12-01T00:00:00.000Z".into(),
        }
    }

    fn q<'a>(text: &'a [&'a str]) -> Query<'a> {
        Query {
            class: None,
            text,
            duplicates_only: false,
            seen: None,
            order: Order::Name,
            offset: 0,
            limit: 100,
        }
    }

    fn sample() -> Catalogue {
        let mut c = Catalogue::new();
        c.upsert(&row(
            "k1",
            "host",
            "Web-01",
            &["web-01.example.org", "10.0.0.1"],
        ));
        c.upsert(&row(
            "k2",
            "host",
            "db-01",
            &["DB-01.example.org", "10.0.0.2"],
        ));
        c.upsert(&row(
            "k3",
            "network_device",
            "core-1",
            &["00:11:22:33:44:55"],
        ));
        c.upsert(&row("k4", "vm", "web-02", &[]));
        c
    }

    #[test]
    fn a_fragment_matches_name_and_terms_whatever_the_case() {
        let c = sample();
        assert_eq!(c.search(&q(&["web"])), (vec!["k1".into(), "k4".into()], 2));
        // In a term only, written in capitals there.
        assert_eq!(c.search(&q(&["db-01.exa"])).0, vec!["k2".to_string()]);
        assert_eq!(c.search(&q(&["10.0.0."])).1, 2);
        assert_eq!(c.search(&q(&["33:44"])).0, vec!["k3".to_string()]);
        assert_eq!(c.search(&q(&["nothing"])), (vec![], 0));
        // Any of several fragments (a MAC in two notations).
        assert_eq!(c.search(&q(&["nothing", "core"])).0, vec!["k3".to_string()]);
    }

    #[test]
    fn a_fragment_does_not_match_across_two_fields() {
        let mut c = Catalogue::new();
        c.upsert(&row("k", "host", "ab", &["cd"]));
        assert_eq!(c.search(&q(&["bc"])).1, 0);
        assert_eq!(c.search(&q(&["b"])).1, 1);
    }

    #[test]
    fn pages_follow_the_order_and_the_total_counts_every_match() {
        let mut c = Catalogue::new();
        for i in 0..50 {
            c.upsert(&row(
                &format!("k{i:02}"),
                if i % 2 == 0 { "vm" } else { "host" },
                &format!("n{:02}", 49 - i),
                &[],
            ));
        }
        let mut query = q(&[]);
        query.offset = 10;
        query.limit = 5;
        let (page, total) = c.search(&query);
        assert_eq!(total, 50);
        // Names n10..n14 belong to keys k39..k35.
        assert_eq!(page, vec!["k39", "k38", "k37", "k36", "k35"]);
        query.order = Order::Class;
        query.offset = 24;
        query.limit = 2;
        // 25 hosts first (odd keys; by name n00 of k49 … n48 of k01), then vms (n01 of k48 …).
        let (page, _) = c.search(&query);
        assert_eq!(page, vec!["k01", "k48"]);
        query.offset = 50;
        assert_eq!(c.search(&query), (vec![], 50));
        // Equal names are ordered by key.
        let mut c = Catalogue::new();
        for k in ["b", "c", "a"] {
            c.upsert(&row(k, "vm", "same", &[]));
        }
        assert_eq!(c.search(&q(&["same"])).0, vec!["a", "b", "c"]);
    }

    #[test]
    fn class_and_duplicate_filters_and_counts_follow_upserts_and_removals() {
        let mut c = sample();
        assert_eq!(c.class_count("host"), 2);
        let mut query = q(&[]);
        query.class = Some("host");
        assert_eq!(c.search(&query).1, 2);
        query.class = Some("router");
        assert_eq!(c.search(&query), (vec![], 0));
        // A CI changing class moves between the counts.
        let mut moved = row("k4", "host", "web-02", &[]);
        moved.duplicate = true;
        c.upsert(&moved);
        assert_eq!(c.class_count("host"), 3);
        assert_eq!(c.class_count("vm"), 0);
        assert_eq!(
            c.class_counts(),
            vec![("host".into(), 3), ("network_device".into(), 1)]
        );
        let mut query = q(&[]);
        query.duplicates_only = true;
        assert_eq!(c.search(&query).0, vec!["k4".to_string()]);
        assert!(c.remove("k4"));
        assert!(!c.remove("k4"));
        assert_eq!(c.class_count("host"), 2);
        assert_eq!(c.len(), 3);
        assert_eq!(c.search(&query).1, 0);
    }

    #[test]
    fn names_keep_their_case_for_the_order_and_non_ascii_text_is_found() {
        let mut c = Catalogue::new();
        c.upsert(&row("k1", "host", "Zeta", &[]));
        c.upsert(&row("k2", "host", "alpha", &[]));
        c.upsert(&row("k3", "host", "ÉCOLE-01", &[]));
        // Byte order, as SurrealDB sorts strings: capitals first.
        assert_eq!(c.search(&q(&[])).0, vec!["k1", "k2", "k3"]);
        assert_eq!(c.search(&q(&["école"])).0, vec!["k3".to_string()]);
        assert!(c.memory_bytes() > 0);
    }

    #[test]
    fn last_seen_filters_and_orders_and_only_moves_forward() {
        let mut c = Catalogue::new();
        for (k, t) in [
            ("k1", "2026-12-01T10:00:00.000Z"),
            ("k2", "2026-12-01T12:00:00.000Z"),
            ("k3", "2026-12-01T11:00:00.000Z"),
            ("k4", "2026-12-01T11:00:00.000Z"),
            ("k5", "not a time"),
        ] {
            let mut r = row(k, "host", k, &[]);
            r.last_seen = t.into();
            c.upsert(&r);
        }
        let mut query = q(&[]);
        query.order = Order::LastSeen;
        // Newest first, ties by key, a time that does not parse last.
        assert_eq!(c.search(&query).0, vec!["k2", "k3", "k4", "k1", "k5"]);
        let cutoff = seen_micros("2026-12-01T11:00:00.000Z");
        query.seen = Some(Seen::Before(cutoff));
        assert_eq!(c.search(&query), (vec!["k1".into(), "k5".into()], 2));
        query.seen = Some(Seen::Since(cutoff));
        assert_eq!(c.search(&query).1, 3);
        // Seen again: forward, never back, and only CIs it holds.
        assert!(c.seen("k1", "2026-12-01T13:00:00.000Z"));
        assert!(c.seen("k2", "2026-12-01T09:00:00.000Z"));
        assert!(!c.seen("nope", "2026-12-01T13:00:00.000Z"));
        query.seen = None;
        assert_eq!(c.search(&query).0, vec!["k1", "k2", "k3", "k4", "k5"]);
        // An upsert sets what storage holds.
        let mut r = row("k1", "host", "k1", &[]);
        r.last_seen = "2026-12-01T08:00:00.000Z".into();
        c.upsert(&r);
        assert_eq!(c.search(&query).0[3], "k1");
    }

    #[test]
    fn removals_keep_every_other_entry_reachable() {
        let mut c = Catalogue::new();
        for i in 1..=5 {
            c.upsert(&row(&format!("k{i}"), "host", &format!("n{i}"), &[]));
        }
        // Removing the first moves the last into its place.
        assert!(c.remove("k1"));
        assert!(c.seen("k5", "2026-12-02T00:00:00.000Z"));
        c.upsert(&row("k5", "vm", "n5", &[]));
        assert_eq!(c.len(), 4);
        assert_eq!(c.class_count("vm"), 1);
        assert_eq!(c.search(&q(&["n"])).0, vec!["k2", "k3", "k4", "k5"]);
        for k in ["k3", "k5", "k2", "k4"] {
            assert!(c.remove(k), "{k}");
            assert!(!c.remove(k), "{k} twice");
        }
        assert!(c.is_empty());
        assert_eq!(c.class_counts(), vec![]);
    }
}
