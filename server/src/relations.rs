//! Relationships: the layer between their writers (discovery, the API, import) and storage
//! plus the in-memory graph index.
//!
//! Every write goes through [`Relations`], under one lock: read what storage holds, plan,
//! write storage in one transaction, then update the index. The index is never the source of
//! truth: it is loaded from storage at start ([`Relations::load`]) and
//! [`Relations::check`] compares the two.
//!
//! Discovered edges are upserted by a key derived from what identifies them ([`edge_key`]),
//! so the same link seen from both switches, or the same connection seen from the client and
//! the server, is one edge. An edge observed again refreshes its `last_seen` (at most once per
//! `refresh_secs`); one not observed for `stale_after_secs` is marked stale by
//! [`Relations::sweep`], kept in storage and dropped from the index. Manual edges never expire.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use cmdb_graph::{GraphIndex, NodeAttrs, RelKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::Relationships as RelConfig;
use crate::ingest::time_str;
use crate::storage::{HistoryRecord, RelWrite, RelationshipRecord, StorageError, Store};

/// A discovered edge, as derived from one observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub key: String,
    pub from: String,
    pub to: String,
    pub kind: RelKind,
    /// lldp, cdp, fdb, listening, connection, virtualization.
    pub discovered_by: &'static str,
    pub evidence: Value,
}

/// The key of a discovered edge: a hash of its kind and the parts that identify it.
pub fn edge_key(kind: RelKind, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_str().as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// What a history row says of an edge.
fn summary(r: &RelationshipRecord) -> Value {
    json!({
        "rel": r.key,
        "kind": r.kind,
        "from": r.from,
        "to": r.to,
        "source": r.source,
        "stale": r.stale,
        "evidence": r.evidence,
    })
}

/// History rows of one edge change, on both endpoints.
pub fn history_rows(
    before: Option<&RelationshipRecord>,
    after: Option<&RelationshipRecord>,
    at: &str,
    source: &str,
) -> Vec<HistoryRecord> {
    let Some(any) = after.or(before) else {
        return Vec::new();
    };
    let mut ends = vec![any.from.clone(), any.to.clone()];
    ends.dedup();
    ends.into_iter()
        .map(|ci| HistoryRecord {
            ci,
            at: at.to_string(),
            source: source.to_string(),
            attribute: "relationship".into(),
            old: before.map(summary).unwrap_or(Value::Null),
            new: after.map(summary).unwrap_or(Value::Null),
        })
        .collect()
}

/// The storage and index effects of upserting discovered edges.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub upserts: Vec<RelationshipRecord>,
    pub history: Vec<HistoryRecord>,
    /// Triples that start carrying impact.
    pub index_add: Vec<(String, String, RelKind)>,
}

/// Plans the upsert of `desired` over what storage holds (`existing`, by key): new edges are
/// created, stale ones revived, changed evidence rewritten (with history), and unchanged
/// ones get a new `last_seen` only when theirs is older than `refresh_before`.
pub fn plan_discovered(
    existing: &HashMap<String, RelationshipRecord>,
    desired: &[Desired],
    now: &str,
    refresh_before: &str,
) -> Plan {
    let mut plan = Plan::default();
    // One observation may show a link twice (a switch's LLDP and CDP tables): one edge,
    // discovered by both.
    let mut protocols_of: HashMap<&str, Vec<String>> = HashMap::new();
    for d in desired {
        let v = protocols_of.entry(d.key.as_str()).or_default();
        if !v.iter().any(|p| p == d.discovered_by) {
            v.push(d.discovered_by.to_string());
            v.sort();
        }
    }
    let mut seen = std::collections::HashSet::new();
    for d in desired {
        if !seen.insert(d.key.as_str()) {
            continue;
        }
        let protocols = protocols_of
            .get(d.key.as_str())
            .cloned()
            .unwrap_or_default();
        match existing.get(&d.key) {
            None => {
                let r = RelationshipRecord {
                    key: d.key.clone(),
                    from: d.from.clone(),
                    to: d.to.clone(),
                    kind: d.kind.as_str().into(),
                    source: "discovered".into(),
                    discovered_by: protocols,
                    first_seen: now.into(),
                    last_seen: now.into(),
                    evidence: d.evidence.clone(),
                    stale: false,
                    stale_since: None,
                    note: None,
                };
                plan.history
                    .extend(history_rows(None, Some(&r), now, "discovery"));
                plan.index_add.push((d.from.clone(), d.to.clone(), d.kind));
                plan.upserts.push(r);
            }
            Some(e) => {
                let mut r = e.clone();
                for p in protocols {
                    if !r.discovered_by.contains(&p) {
                        r.discovered_by.push(p);
                    }
                }
                r.discovered_by.sort();
                r.evidence = d.evidence.clone();
                r.stale = false;
                r.stale_since = None;
                let meaningful = r.evidence != e.evidence || r.stale != e.stale;
                if meaningful || r.discovered_by != e.discovered_by {
                    r.last_seen = now.into();
                    if meaningful {
                        plan.history
                            .extend(history_rows(Some(e), Some(&r), now, "discovery"));
                    }
                    if e.stale {
                        plan.index_add.push((d.from.clone(), d.to.clone(), d.kind));
                    }
                    plan.upserts.push(r);
                } else if e.last_seen.as_str() < refresh_before {
                    r.last_seen = now.into();
                    plan.upserts.push(r);
                }
            }
        }
    }
    plan
}

/// Differences between the index and storage.
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct CheckReport {
    pub consistent: bool,
    /// Distinct active (from, to, kind) triples in storage.
    pub storage_edges: usize,
    pub index_edges: usize,
    /// Triples (with their counts) in storage but not (or fewer times) in the index.
    pub missing_from_index: Vec<String>,
    /// Triples in the index but not (or fewer times) in storage.
    pub extra_in_index: Vec<String>,
    /// CIs whose impact attributes (business service, min_up, core) differ.
    pub attribute_mismatches: Vec<String>,
}

/// Relationship writes and the graph index.
#[derive(Debug)]
pub struct Relations {
    graph: RwLock<GraphIndex>,
    write: tokio::sync::Mutex<()>,
    config: RelConfig,
}

/// What the index needs of a CI, from its stored class and fields.
pub fn node_attrs(class: &str, min_up: Option<u32>, core: bool) -> NodeAttrs {
    NodeAttrs {
        business_service: class == "business_service",
        min_up,
        core,
    }
}

fn rw_read(l: &RwLock<GraphIndex>) -> std::sync::RwLockReadGuard<'_, GraphIndex> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn rw_write(l: &RwLock<GraphIndex>) -> std::sync::RwLockWriteGuard<'_, GraphIndex> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Relations {
    /// Loads the index from storage.
    pub async fn load(store: &Store, config: RelConfig) -> Result<Self, StorageError> {
        let graph = Self::read_index(store, &config).await?;
        tracing::info!(
            nodes = graph.node_count(),
            edges = graph.edge_count(),
            "relationship index loaded"
        );
        Ok(Self {
            graph: RwLock::new(graph),
            write: tokio::sync::Mutex::new(()),
            config,
        })
    }

    /// Builds an index from what storage holds now.
    async fn read_index(store: &Store, config: &RelConfig) -> Result<GraphIndex, StorageError> {
        let nodes = store.graph_nodes().await?;
        let declared: std::collections::HashSet<&str> =
            config.core.iter().map(String::as_str).collect();
        let mut names: HashMap<String, String> = HashMap::new();
        if !declared.is_empty() {
            for (k, name) in store.ci_names().await? {
                names.insert(k, name);
            }
        }
        let node_rows = nodes.into_iter().filter_map(|n| {
            let core = n.core.unwrap_or(false)
                || declared.contains(n.key.as_str())
                || names
                    .get(&n.key)
                    .is_some_and(|name| declared.contains(name.as_str()));
            let attrs = node_attrs(&n.class, n.min_up, core);
            (attrs != NodeAttrs::default()).then_some((n.key, attrs))
        });
        let edges = store
            .active_edges()
            .await?
            .into_iter()
            .filter_map(|(f, t, k)| RelKind::parse(&k).map(|k| (f, t, k)));
        Ok(GraphIndex::build(node_rows, edges))
    }

    /// Read access to the index.
    pub fn graph(&self) -> std::sync::RwLockReadGuard<'_, GraphIndex> {
        rw_read(&self.graph)
    }

    pub fn config(&self) -> &RelConfig {
        &self.config
    }

    /// Upserts discovered edges (see [`plan_discovered`]), with `base` (the CIs they need)
    /// written in the same transaction.
    pub async fn upsert_discovered(
        &self,
        store: &Store,
        base: RelWrite,
        desired: &[Desired],
    ) -> Result<usize, StorageError> {
        let _w = self.write.lock().await;
        let now_t = chrono::Utc::now();
        let now = time_str(now_t);
        let refresh_before = time_str(
            now_t - chrono::Duration::seconds(i64::try_from(self.config.refresh_secs).unwrap_or(0)),
        );
        let keys: Vec<String> = desired.iter().map(|d| d.key.clone()).collect();
        let existing: HashMap<String, RelationshipRecord> = store
            .relationships_by_keys(&keys)
            .await?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        let plan = plan_discovered(&existing, desired, &now, &refresh_before);
        let created = plan.index_add.len();
        let mut w = base;
        w.upserts = plan.upserts;
        w.history.extend(plan.history);
        store.apply_relationships(&w).await?;
        let mut g = rw_write(&self.graph);
        for (f, t, k) in plan.index_add {
            g.add_edge(&f, &t, k);
        }
        Ok(created)
    }

    /// Writes a manual operation already validated by the caller: `w` as given, then the
    /// index effects (`add`/`remove` triples, node attributes to set, nodes to drop).
    pub async fn apply_manual(
        &self,
        store: &Store,
        w: RelWrite,
        effects: IndexEffects,
    ) -> Result<(), StorageError> {
        let _w = self.write.lock().await;
        store.apply_relationships(&w).await?;
        let mut g = rw_write(&self.graph);
        effects.apply(&mut g);
        Ok(())
    }

    /// Runs `f` under the write lock (callers that must read, decide and write atomically:
    /// manual edits and imports).
    pub async fn exclusive<T, F, Fut>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let _w = self.write.lock().await;
        f().await
    }

    /// Applies index effects of a write the caller made under [`Self::exclusive`].
    pub fn apply_effects(&self, effects: IndexEffects) {
        let mut g = rw_write(&self.graph);
        effects.apply(&mut g);
    }

    /// Marks discovered edges not observed for `stale_after_secs` stale; returns how many.
    pub async fn sweep(&self, store: &Store) -> Result<usize, StorageError> {
        let _w = self.write.lock().await;
        let now_t = chrono::Utc::now();
        let now = time_str(now_t);
        let cutoff = time_str(
            now_t
                - chrono::Duration::seconds(
                    i64::try_from(self.config.stale_after_secs).unwrap_or(i64::MAX / 2),
                ),
        );
        let candidates = store.stale_candidates(&cutoff).await?;
        if candidates.is_empty() {
            return Ok(0);
        }
        let mut w = RelWrite::default();
        let mut remove = Vec::new();
        for e in &candidates {
            let mut r = e.clone();
            r.stale = true;
            r.stale_since = Some(now.clone());
            w.history
                .extend(history_rows(Some(e), Some(&r), &now, "discovery"));
            if let Some(k) = RelKind::parse(&e.kind) {
                remove.push((e.from.clone(), e.to.clone(), k));
            }
            w.upserts.push(r);
        }
        for chunk in w.upserts.chunks(200).zip(w.history.chunks(400)) {
            store
                .apply_relationships(&RelWrite {
                    upserts: chunk.0.to_vec(),
                    history: chunk.1.to_vec(),
                    ..Default::default()
                })
                .await?;
        }
        let mut g = rw_write(&self.graph);
        for (f, t, k) in remove {
            g.remove_edge(&f, &t, k);
        }
        tracing::info!(count = candidates.len(), "relationships marked stale");
        Ok(candidates.len())
    }

    /// Compares the index with storage.
    pub async fn check(&self, store: &Store) -> Result<CheckReport, StorageError> {
        // Under the write lock, so no write lands between the two reads.
        let _w = self.write.lock().await;
        let fresh = Self::read_index(store, &self.config).await?;
        let g = rw_read(&self.graph);
        Ok(compare(&fresh, &g))
    }
}

/// Differences between `storage` (an index freshly built from storage) and `index`.
pub fn compare(storage: &GraphIndex, index: &GraphIndex) -> CheckReport {
    let count = |g: &GraphIndex| -> BTreeMap<(String, String, RelKind), u32> {
        g.edges()
            .into_iter()
            .map(|(f, t, k, n)| ((f, t, k), n))
            .collect()
    };
    let (s, i) = (count(storage), count(index));
    let show =
        |(f, t, k): &(String, String, RelKind), n: u32| format!("{f} -{}-> {t} ×{n}", k.as_str());
    let mut r = CheckReport {
        storage_edges: s.len(),
        index_edges: i.len(),
        ..Default::default()
    };
    for (e, n) in &s {
        let m = i.get(e).copied().unwrap_or(0);
        if m < *n {
            r.missing_from_index.push(show(e, n - m));
        }
    }
    for (e, n) in &i {
        let m = s.get(e).copied().unwrap_or(0);
        if m < *n {
            r.extra_in_index.push(show(e, n - m));
        }
    }
    let attrs = |g: &GraphIndex| -> BTreeMap<String, NodeAttrs> {
        g.nodes()
            .into_iter()
            .filter(|(_, a)| *a != NodeAttrs::default())
            .collect()
    };
    let (sa, ia) = (attrs(storage), attrs(index));
    for key in sa.keys().chain(ia.keys()) {
        if sa.get(key) != ia.get(key) && !r.attribute_mismatches.contains(key) {
            r.attribute_mismatches.push(key.clone());
        }
    }
    r.consistent = r.missing_from_index.is_empty()
        && r.extra_in_index.is_empty()
        && r.attribute_mismatches.is_empty();
    r
}

/// What a manual write changes in the index.
#[derive(Debug, Default)]
pub struct IndexEffects {
    pub add: Vec<(String, String, RelKind)>,
    pub remove: Vec<(String, String, RelKind)>,
    pub nodes: Vec<(String, NodeAttrs)>,
    pub drop_nodes: Vec<String>,
}

impl IndexEffects {
    fn apply(self, g: &mut GraphIndex) {
        for (f, t, k) in self.remove {
            g.remove_edge(&f, &t, k);
        }
        for key in self.drop_nodes {
            g.remove_node(&key);
        }
        for (key, attrs) in self.nodes {
            // A node with default attributes and no edges need not be in the index, but one
            // whose attributes were cleared must lose them.
            if attrs != NodeAttrs::default() || g.node_id(&key).is_some() {
                g.upsert_node(&key, attrs);
            }
        }
        for (f, t, k) in self.add {
            g.add_edge(&f, &t, k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(key: &str, evidence: Value) -> Desired {
        Desired {
            key: key.into(),
            from: "a".into(),
            to: "b".into(),
            kind: RelKind::ConnectedTo,
            discovered_by: "lldp",
            evidence,
        }
    }

    const T0: &str = "2026-11-01T00:00:00.000Z";
    const T1: &str = "2026-11-01T00:30:00.000Z";
    const T2: &str = "2026-11-01T02:00:00.000Z";

    #[test]
    fn a_new_edge_is_created_with_history_on_both_ends_and_enters_the_index() {
        let plan = plan_discovered(
            &HashMap::new(),
            &[desired("k", json!({"from_port": "ge-0/0/1"}))],
            T0,
            T0,
        );
        assert_eq!(plan.upserts.len(), 1);
        assert_eq!(plan.upserts[0].first_seen, T0);
        let ends: Vec<&str> = plan.history.iter().map(|h| h.ci.as_str()).collect();
        assert_eq!(ends, vec!["a", "b"]);
        assert_eq!(
            plan.index_add,
            vec![("a".to_string(), "b".to_string(), RelKind::ConnectedTo)]
        );
    }

    #[test]
    fn an_unchanged_edge_is_refreshed_only_when_its_last_seen_is_old() {
        let first = plan_discovered(&HashMap::new(), &[desired("k", json!({}))], T0, T0);
        let existing: HashMap<_, _> = first
            .upserts
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        // Seen again 30 min later with a 1 h refresh: nothing to write.
        let again = plan_discovered(&existing, &[desired("k", json!({}))], T1, T0);
        assert_eq!(again, Plan::default());
        // Two hours later: last_seen moves, no history, no index change.
        let later = plan_discovered(&existing, &[desired("k", json!({}))], T2, T1);
        assert_eq!(later.upserts.len(), 1);
        assert_eq!(later.upserts[0].last_seen, T2);
        assert_eq!(later.upserts[0].first_seen, T0);
        assert!(later.history.is_empty() && later.index_add.is_empty());
    }

    #[test]
    fn changed_evidence_is_history_and_a_stale_edge_comes_back_into_the_index() {
        let first = plan_discovered(&HashMap::new(), &[desired("k", json!({"p": 1}))], T0, T0);
        let mut existing: HashMap<_, _> = first
            .upserts
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        let moved = plan_discovered(&existing, &[desired("k", json!({"p": 2}))], T1, T0);
        assert_eq!(moved.history.len(), 2);
        assert!(moved.index_add.is_empty());
        if let Some(e) = existing.get_mut("k") {
            e.stale = true;
            e.stale_since = Some(T1.into());
        }
        let back = plan_discovered(&existing, &[desired("k", json!({"p": 1}))], T2, T1);
        assert_eq!(back.index_add.len(), 1);
        assert!(!back.upserts[0].stale);
        assert_eq!(back.history[0].old["stale"], json!(true));
    }

    #[test]
    fn a_second_protocol_seeing_the_same_link_adds_to_discovered_by_without_history() {
        let first = plan_discovered(&HashMap::new(), &[desired("k", json!({}))], T0, T0);
        let existing: HashMap<_, _> = first
            .upserts
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        let mut cdp = desired("k", json!({}));
        cdp.discovered_by = "cdp";
        let plan = plan_discovered(&existing, &[cdp], T1, T0);
        assert_eq!(plan.upserts[0].discovered_by, vec!["cdp", "lldp"]);
        assert!(plan.history.is_empty());
    }

    #[test]
    fn a_link_in_both_the_lldp_and_cdp_tables_of_one_poll_is_one_edge_discovered_by_both() {
        let mut cdp = desired("k", json!({}));
        cdp.discovered_by = "cdp";
        let plan = plan_discovered(&HashMap::new(), &[desired("k", json!({})), cdp], T0, T0);
        assert_eq!(plan.upserts.len(), 1);
        assert_eq!(plan.upserts[0].discovered_by, vec!["cdp", "lldp"]);
        assert_eq!(plan.history.len(), 2);
    }

    #[test]
    fn edge_keys_depend_on_every_part_and_on_the_kind() {
        let a = edge_key(RelKind::DependsOn, &["x", "y"]);
        assert_eq!(a.len(), 32);
        assert_ne!(a, edge_key(RelKind::RunsOn, &["x", "y"]));
        assert_ne!(a, edge_key(RelKind::DependsOn, &["xy"]));
        assert_eq!(a, edge_key(RelKind::DependsOn, &["x", "y"]));
    }

    async fn store_with(cis: &[&str]) -> Store {
        let store = Store::memory().await.expect("memory");
        let w = RelWrite {
            cis: cis
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        json!({"class": "host", "name": k, "identified_by": "test", "keys": {},
                               "first_seen": T0, "last_seen": T0}),
                    )
                })
                .collect(),
            ..Default::default()
        };
        store.apply_relationships(&w).await.expect("cis");
        store
    }

    #[tokio::test]
    async fn an_edge_not_observed_for_stale_after_goes_stale_and_leaves_the_index_but_manual_ones_stay()
     {
        let store = store_with(&["a", "b", "c"]).await;
        let rels = Relations::load(&store, RelConfig::default())
            .await
            .expect("load");
        rels.upsert_discovered(&store, RelWrite::default(), &[desired("k", json!({}))])
            .await
            .expect("discovered");
        let manual = crate::storage::RelationshipRecord {
            key: "m".into(),
            from: "c".into(),
            to: "a".into(),
            kind: "depends_on".into(),
            source: "manual".into(),
            discovered_by: vec![],
            first_seen: T0.into(),
            last_seen: T0.into(),
            evidence: json!({}),
            stale: false,
            stale_since: None,
            note: None,
        };
        rels.apply_manual(
            &store,
            RelWrite {
                upserts: vec![manual],
                ..Default::default()
            },
            IndexEffects {
                add: vec![("c".into(), "a".into(), RelKind::DependsOn)],
                ..Default::default()
            },
        )
        .await
        .expect("manual");
        assert_eq!(rels.graph().edge_count(), 2);
        assert_eq!(rels.sweep(&store).await.expect("sweep"), 0, "seen just now");
        // Back-date the discovered edge's last observation past stale_after_secs.
        let mut old = store.relationship("k").await.expect("read").expect("edge");
        old.last_seen = T0.into();
        store
            .apply_relationships(&RelWrite {
                upserts: vec![old],
                ..Default::default()
            })
            .await
            .expect("backdate");
        assert_eq!(rels.sweep(&store).await.expect("sweep"), 1);
        let k = store.relationship("k").await.expect("read").expect("kept");
        assert!(k.stale && k.stale_since.is_some());
        assert_eq!(
            rels.graph().edges().len(),
            1,
            "only the manual edge carries impact"
        );
        assert!(rels.check(&store).await.expect("check").consistent);
        let h = store.history("a", None, None, 10).await.expect("history");
        assert!(
            h.iter()
                .any(|r| r.attribute == "relationship" && r.new["stale"] == json!(true))
        );
        // Seen again: back in the index, not stale.
        rels.upsert_discovered(&store, RelWrite::default(), &[desired("k", json!({}))])
            .await
            .expect("again");
        assert_eq!(rels.graph().edge_count(), 2);
        assert!(
            !store
                .relationship("k")
                .await
                .expect("read")
                .expect("edge")
                .stale
        );
    }

    #[tokio::test]
    async fn the_check_reports_an_index_that_drifted_from_storage() {
        let store = store_with(&["a", "b"]).await;
        let rels = Relations::load(&store, RelConfig::default())
            .await
            .expect("load");
        rels.upsert_discovered(&store, RelWrite::default(), &[desired("k", json!({}))])
            .await
            .expect("discovered");
        assert!(rels.check(&store).await.expect("check").consistent);
        rels.apply_effects(IndexEffects {
            remove: vec![("a".into(), "b".into(), RelKind::ConnectedTo)],
            add: vec![("b".into(), "a".into(), RelKind::DependsOn)],
            ..Default::default()
        });
        let r = rels.check(&store).await.expect("check");
        assert!(!r.consistent);
        assert_eq!(
            r.missing_from_index,
            vec!["a -connected_to-> b ×1".to_string()]
        );
        assert_eq!(r.extra_in_index, vec!["b -depends_on-> a ×1".to_string()]);
        // A restart reloads what storage holds.
        let again = Relations::load(&store, RelConfig::default())
            .await
            .expect("reload");
        assert!(again.check(&store).await.expect("check").consistent);
    }
}
