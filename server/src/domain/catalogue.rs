//! The CI catalogue: for every CI, what the CI list searches, filters and sorts on (class,
//! name, the text a search matches, the suspected-duplicate flag), held in memory so a
//! search or a class's total is answered without reading the table.
//!
//! SurrealDB has no index for "contains this fragment, whatever the case": a `?q=` search
//! there reads and decodes every CI (6.7 s at a million). Here it is one pass over compact
//! lowercase strings (tens of milliseconds at a million), and a class's size is a counter.
//! Storage keeps the catalogue in step with its writes; this module is the structure alone.

use std::collections::HashMap;

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
}

/// The order of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By name, then key.
    Name,
    /// By class, then name, then key.
    Class,
}

/// A question to the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub class: Option<&'a str>,
    /// Lowercase fragments: a CI matches when its text contains any of them.
    pub text: &'a [&'a str],
    pub duplicates_only: bool,
    pub order: Order,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug)]
struct Entry {
    /// The name as written; then, unless the name is lowercase already, `\0` and the name in
    /// lowercase; then `\0` and each term in lowercase. `text_from` is where the searched
    /// part starts.
    data: Box<str>,
    name_len: u32,
    text_from: u32,
    class: u32,
    duplicate: bool,
}

impl Entry {
    fn name(&self) -> &str {
        &self.data[..self.name_len as usize]
    }

    fn text(&self) -> &[u8] {
        &self.data.as_bytes()[self.text_from as usize..]
    }
}

/// The catalogue of every CI.
#[derive(Debug, Default)]
pub struct Catalogue {
    entries: HashMap<Box<str>, Entry>,
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
            data: data.into_boxed_str(),
            name_len: row.name.len() as u32,
            text_from: text_from as u32,
            class,
            duplicate: row.duplicate,
        };
        self.counts[class as usize] += 1;
        if let Some(old) = self.entries.insert(row.key.as_str().into(), entry) {
            self.counts[old.class as usize] -= 1;
        }
    }

    /// Forgets a CI; false if the catalogue did not hold it.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some(old) => {
                self.counts[old.class as usize] -= 1;
                true
            }
            None => false,
        }
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
    pub fn search(&self, q: &Query) -> (Vec<String>, usize) {
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
        let mut hits: Vec<(&str, &Entry)> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                class.is_none_or(|c| e.class == c)
                    && (!q.duplicates_only || e.duplicate)
                    && (any_text || finders.iter().any(|f| f.find(e.text()).is_some()))
            })
            .map(|(k, e)| (k.as_ref(), e))
            .collect();
        let total = hits.len();
        let end = q.offset.saturating_add(q.limit).min(total);
        if q.offset >= end {
            return (Vec::new(), total);
        }
        let classes = &self.classes;
        let cmp = |a: &(&str, &Entry), b: &(&str, &Entry)| match q.order {
            Order::Name => (a.1.name(), a.0).cmp(&(b.1.name(), b.0)),
            Order::Class => (&classes[a.1.class as usize], a.1.name(), a.0).cmp(&(
                &classes[b.1.class as usize],
                b.1.name(),
                b.0,
            )),
        };
        // Only the first `end` in order need sorting: a selection puts them first.
        if end < hits.len() {
            hits.select_nth_unstable_by(end, cmp);
            hits.truncate(end);
        }
        hits.sort_unstable_by(cmp);
        let page = hits[q.offset..end]
            .iter()
            .map(|(k, _)| (*k).to_string())
            .collect();
        (page, total)
    }

    /// Roughly the heap the catalogue takes, in bytes.
    pub fn memory_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(Box<str>, Entry)>() + 1;
        self.entries.capacity() * slot
            + self
                .entries
                .iter()
                .map(|(k, e)| k.len() + e.data.len())
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
        }
    }

    fn q<'a>(text: &'a [&'a str]) -> Query<'a> {
        Query {
            class: None,
            text,
            duplicates_only: false,
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
}
