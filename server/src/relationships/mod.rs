//! The relationships service: the only writer of relationships (and of the CIs they need:
//! service CIs discovery finds, manual CIs), and the owner of the in-memory graph index that
//! impact analysis reads.
//!
//! Every write goes through [`Relationships`], under one lock: read what storage holds, plan,
//! write storage in one transaction, then update the index. The index is never the source of
//! truth: it is loaded from storage at start ([`Relationships::load`]) and
//! [`Relationships::check`] compares the two.
//!
//! - [`discover`]: edges derived from what a report says, matched through the directory;
//! - [`manual`]: what people create, edit and delete (manual CIs and relationships);
//! - [`import`]: bulk import and export of manual CIs and relationships.
//!
//! Discovered edges are upserted by a key derived from what identifies them ([`edge_key`](crate::domain::discovery::edge_key)),
//! so the same link seen from both switches, or the same connection seen from the client and
//! the server, is one edge. An edge observed again refreshes its `last_seen` (at most once per
//! `refresh_secs`); one not observed for `stale_after_secs` is marked stale by
//! [`Relationships::sweep`], kept in storage and dropped from the index. Manual edges never expire.

pub use crate::storage::RelationshipRecord;

pub mod discover;
mod follow;
pub mod import;
pub mod manual;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use cmdb_graph::{GraphIndex, NodeAttrs, RelKind};
use serde_json::{Value, json};

use crate::config::RelationshipsConfig;
use crate::domain::discovery::{Directory, DiscoveredEdge};
use crate::storage::{GraphWrite, HistoryRecord, StorageError, Store, time_str};
use crate::telemetry::Telemetry;

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
    desired: &[DiscoveredEdge],
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

/// The relationships service: relationship writes, the graph index and the directory.
#[derive(Debug)]
pub struct Relationships {
    store: Store,
    graph: RwLock<GraphIndex>,
    /// The write lock; it holds how many times it was taken, so a plan made outside it (an
    /// import's) can tell whether anything was written since.
    write: tokio::sync::Mutex<u64>,
    config: RelationshipsConfig,
    /// What discovery matches reports against.
    directory: RwLock<Directory>,
    /// When each CI's derivation last ran.
    throttle: discover::Throttle,
    telemetry: Arc<Telemetry>,
}

/// What the index needs of a CI, from its stored class and fields.
pub fn node_attrs(class: &str, min_up: Option<u32>, core: bool) -> NodeAttrs {
    NodeAttrs {
        business_service: class == "business_service",
        min_up,
        core,
    }
}

/// Which CIs are core: marked so, or declared in `relationships.core` by key or name.
struct CoreRule<'a> {
    declared: std::collections::HashSet<&'a str>,
}

impl<'a> CoreRule<'a> {
    fn new(config: &'a RelationshipsConfig) -> Self {
        Self {
            declared: config.core.iter().map(String::as_str).collect(),
        }
    }

    /// Gives the builder the CI's node, unless it has only default attributes (a CI without
    /// edges and attributes needs no node).
    fn add(
        &self,
        b: &mut cmdb_graph::GraphBuilder,
        key: String,
        name: &str,
        class: &str,
        min_up: Option<u32>,
        core: Option<bool>,
    ) {
        let core = core.unwrap_or(false)
            || self.declared.contains(key.as_str())
            || self.declared.contains(name);
        let attrs = node_attrs(class, min_up, core);
        if attrs != NodeAttrs::default() {
            b.node(key, attrs);
        }
    }
}

fn rw_read(l: &RwLock<GraphIndex>) -> std::sync::RwLockReadGuard<'_, GraphIndex> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn rw_write(l: &RwLock<GraphIndex>) -> std::sync::RwLockWriteGuard<'_, GraphIndex> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Relationships {
    /// Loads the index and the directory from storage.
    pub async fn load(
        store: Store,
        config: RelationshipsConfig,
        telemetry: Arc<Telemetry>,
    ) -> Result<Self, StorageError> {
        let started = std::time::Instant::now();
        let (graph, directory) = Self::read_index_and_directory(&store, &config).await?;
        tracing::info!(
            nodes = graph.node_count(),
            edges = graph.edge_count(),
            secs = started.elapsed().as_secs_f64(),
            "relationship index loaded"
        );
        Ok(Self {
            store,
            graph: RwLock::new(graph),
            write: tokio::sync::Mutex::new(0),
            config,
            directory: RwLock::new(directory),
            throttle: discover::Throttle::default(),
            telemetry,
        })
    }

    /// Builds an index from what storage holds now.
    async fn read_index(
        store: &Store,
        config: &RelationshipsConfig,
    ) -> Result<GraphIndex, StorageError> {
        let core = CoreRule::new(config);
        let mut b = cmdb_graph::GraphBuilder::default();
        store
            .graph_nodes(|page| {
                for n in page {
                    core.add(&mut b, n.key, &n.name, &n.class, n.min_up, n.core);
                }
            })
            .await?;
        Self::read_edges(store, b).await
    }

    /// The index and the directory, from one pass over the CIs and one over the edges, by
    /// pages straight into the builders: a million CIs and five million edges never sit in
    /// memory as rows next to the index.
    async fn read_index_and_directory(
        store: &Store,
        config: &RelationshipsConfig,
    ) -> Result<(GraphIndex, crate::domain::discovery::Directory), StorageError> {
        let core = CoreRule::new(config);
        let mut b = cmdb_graph::GraphBuilder::default();
        let mut dir = discover::DirectoryLoad::default();
        store
            .directory_rows(|page| {
                for row in page {
                    core.add(
                        &mut b,
                        row.key.clone(),
                        &row.name,
                        &row.class,
                        row.min_up,
                        row.core,
                    );
                    dir.row(row);
                }
            })
            .await?;
        Ok((Self::read_edges(store, b).await?, dir.finish()))
    }

    async fn read_edges(
        store: &Store,
        mut b: cmdb_graph::GraphBuilder,
    ) -> Result<GraphIndex, StorageError> {
        store
            .active_edges(|page| {
                for (f, t, k) in page {
                    if let Some(k) = RelKind::parse(&k) {
                        b.edge(&f, &t, k);
                    }
                }
            })
            .await?;
        Ok(b.finish())
    }

    /// Read access to the index.
    pub fn graph(&self) -> std::sync::RwLockReadGuard<'_, GraphIndex> {
        rw_read(&self.graph)
    }

    /// The CI holding `ip`, as discovery knows it (host interfaces, device addresses).
    pub fn ci_by_address(&self, ip: &std::net::IpAddr) -> Option<String> {
        self.directory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_address(ip)
            .map(str::to_string)
    }

    pub fn config(&self) -> &RelationshipsConfig {
        &self.config
    }

    /// Upserts discovered edges (see [`plan_discovered`]), with `base` (the CIs they need)
    /// written in the same transaction.
    async fn upsert_discovered(
        &self,
        base: GraphWrite,
        desired: &[DiscoveredEdge],
    ) -> Result<usize, StorageError> {
        let _w = self.lock_write().await;
        let now_t = chrono::Utc::now();
        let now = time_str(now_t);
        let refresh_before = time_str(
            now_t - chrono::Duration::seconds(i64::try_from(self.config.refresh_secs).unwrap_or(0)),
        );
        let keys: Vec<String> = desired.iter().map(|d| d.key.clone()).collect();
        let existing: HashMap<String, RelationshipRecord> = self
            .store
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
        self.store.apply_relationships(&w).await?;
        let mut g = rw_write(&self.graph);
        for (f, t, k) in plan.index_add {
            g.add_edge(&f, &t, k);
        }
        Ok(created)
    }

    /// Writes a manual operation already validated by the caller: `w` as given, then the
    /// index effects.
    async fn write_manual(&self, w: GraphWrite, effects: IndexEffects) -> Result<(), StorageError> {
        let _w = self.lock_write().await;
        self.store.apply_relationships(&w).await?;
        self.apply_effects(effects);
        Ok(())
    }

    /// Takes the write lock and counts the taking.
    async fn lock_write(&self) -> tokio::sync::MutexGuard<'_, u64> {
        let mut w = self.write.lock().await;
        *w += 1;
        w
    }

    /// How many times the write lock was taken so far.
    async fn write_generation(&self) -> u64 {
        *self.write.lock().await
    }

    /// Runs `f` under the write lock: manual edits and imports read, decide and write
    /// atomically, then apply their index effects ([`Self::apply_effects`]).
    async fn exclusive<T, F, Fut>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let _w = self.lock_write().await;
        f().await
    }

    /// Applies the index effects of a write made under [`Self::exclusive`].
    fn apply_effects(&self, effects: IndexEffects) {
        let mut g = rw_write(&self.graph);
        effects.apply(&mut g);
    }

    /// Marks discovered edges not observed for `stale_after_secs` stale; returns how many.
    pub async fn sweep(&self) -> Result<usize, StorageError> {
        let store = &self.store;
        let _w = self.lock_write().await;
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
        let mut w = GraphWrite::default();
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
                .apply_relationships(&GraphWrite {
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

    /// Compares the index with storage. Storage is read without the write lock (at a
    /// million CIs the read takes a minute, and relationship writes would wait for it); a
    /// write landing meanwhile can make a triple or a CI look different, so when anything
    /// was written during the read, what differs is read again under the lock and only what
    /// still differs is reported.
    pub async fn check(&self) -> Result<CheckReport, StorageError> {
        let seen = self.write_generation().await;
        let fresh = Self::read_index(&self.store, &self.config).await?;
        let mut diff = {
            let g = rw_read(&self.graph);
            IndexDiff::between(&fresh, &g)
        };
        if diff.is_empty() {
            return Ok(diff.report());
        }
        let w = self.lock_write().await;
        // The count went up once for each writer since `seen`, and once for this lock.
        if *w > seen + 1 {
            self.confirm(&mut diff).await?;
        }
        drop(w);
        Ok(diff.report())
    }

    /// Keeps only the differences storage and the index still show (under the write lock).
    async fn confirm(&self, diff: &mut IndexDiff) -> Result<(), StorageError> {
        let triples: Vec<(String, String, String)> = diff
            .edges
            .iter()
            .map(|(f, t, k, _, _)| (f.clone(), t.clone(), k.as_str().to_string()))
            .collect();
        let stored: HashMap<(String, String, String), u32> = self
            .store
            .active_edge_counts(&triples)
            .await?
            .into_iter()
            .map(|(f, t, k, n)| ((f, t, k), n))
            .collect();
        let nodes = self.store.graph_nodes_of(&diff.attrs).await?;
        let core = CoreRule::new(&self.config);
        let mut b = cmdb_graph::GraphBuilder::default();
        for n in nodes {
            core.add(&mut b, n.key, &n.name, &n.class, n.min_up, n.core);
        }
        let now = b.finish();
        let g = rw_read(&self.graph);
        diff.edges.retain_mut(|(f, t, k, s, i)| {
            *s = stored
                .get(&(f.clone(), t.clone(), k.as_str().to_string()))
                .copied()
                .unwrap_or(0);
            *i = g.multiplicity(f, t, *k);
            s != i
        });
        let attrs_of = |g: &GraphIndex, key: &str| {
            g.node_id(key)
                .map(|id| g.attrs(id).clone())
                .unwrap_or_default()
        };
        diff.attrs
            .retain(|key| attrs_of(&now, key) != attrs_of(&g, key));
        Ok(())
    }
}

/// How an index freshly built from storage and the live index differ.
#[derive(Debug, Default)]
struct IndexDiff {
    storage_edges: usize,
    index_edges: usize,
    /// (from, to, kind, count in storage, count in the index), where the counts differ.
    edges: Vec<(String, String, RelKind, u32, u32)>,
    /// CIs whose impact attributes differ.
    attrs: Vec<String>,
}

impl IndexDiff {
    fn between(storage: &GraphIndex, index: &GraphIndex) -> Self {
        let count = |g: &GraphIndex| -> BTreeMap<(String, String, RelKind), u32> {
            g.edges()
                .into_iter()
                .map(|(f, t, k, n)| ((f, t, k), n))
                .collect()
        };
        let (s, i) = (count(storage), count(index));
        let mut d = IndexDiff {
            storage_edges: s.len(),
            index_edges: i.len(),
            ..Default::default()
        };
        for e in s.keys().chain(i.keys().filter(|e| !s.contains_key(*e))) {
            let (m, n) = (
                s.get(e).copied().unwrap_or(0),
                i.get(e).copied().unwrap_or(0),
            );
            if m != n {
                d.edges.push((e.0.clone(), e.1.clone(), e.2, m, n));
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
            if sa.get(key) != ia.get(key) && !d.attrs.contains(key) {
                d.attrs.push(key.clone());
            }
        }
        d
    }

    fn is_empty(&self) -> bool {
        self.edges.is_empty() && self.attrs.is_empty()
    }

    fn report(&self) -> CheckReport {
        let show = |f: &str, t: &str, k: RelKind, n: u32| format!("{f} -{}-> {t} ×{n}", k.as_str());
        let mut r = CheckReport {
            storage_edges: self.storage_edges,
            index_edges: self.index_edges,
            attribute_mismatches: self.attrs.clone(),
            ..Default::default()
        };
        for (f, t, k, s, i) in &self.edges {
            if s > i {
                r.missing_from_index.push(show(f, t, *k, s - i));
            } else {
                r.extra_in_index.push(show(f, t, *k, i - s));
            }
        }
        r.consistent = self.is_empty();
        r
    }
}

/// Differences between `storage` (an index freshly built from storage) and `index`.
pub fn compare_index(storage: &GraphIndex, index: &GraphIndex) -> CheckReport {
    IndexDiff::between(storage, index).report()
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
mod tests;
