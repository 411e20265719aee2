//! The impact service: "if these CIs fail, what fails and what degrades?", what a CI depends
//! on, and the graph index's size and consistency. Answers come from the in-memory index the
//! relationships service keeps; names and classes are read from storage for the CIs listed
//! (one query per 1,000).

use std::collections::HashMap;
use std::sync::Arc;

use cmdb_graph::{ImpactOptions, NodeId, State as CiState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ServiceError;
use crate::relationships::{CheckReport, Relationships};
use crate::storage::{Store, valid_key};
use crate::telemetry::Telemetry;

/// One affected CI.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AffectedCi {
    pub id: String,
    pub name: Option<String>,
    pub class: Option<String>,
    /// down, degraded or at_risk.
    pub state: String,
    /// failed, depends_on, runs_on, hosted_on, powered_by, member_of, redundancy, cut_off, lost_link.
    pub cause: String,
    /// The CI it inherits its state from.
    pub via: Option<String>,
    /// Hops from a failed CI.
    pub depth: u32,
    /// Ids from a failed CI to this one.
    pub path: Vec<String>,
}

/// A business service with CIs below it that lost redundancy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceAtRisk {
    pub id: String,
    pub name: Option<String>,
    /// The service's own state in this analysis: up, down or degraded.
    pub state: String,
    /// At-risk CIs it depends on (over dependency and member_of relationships), each once.
    pub at_risk_below: u32,
}

/// An impact analysis.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImpactReport {
    /// The CIs assumed down, as ids.
    pub failed: Vec<String>,
    /// CIs not working.
    pub down: usize,
    /// CIs working with reduced capacity (a redundancy group that lost members but kept its
    /// quorum), or depending on one.
    pub degraded: usize,
    /// CIs fully working that lost redundancy: a network link down while another path to the
    /// core remains. Nothing above them inherits this; see `services_at_risk`.
    #[serde(default)]
    pub at_risk: usize,
    /// Affected business services (down or degraded): all of them, even when `affected` is
    /// truncated.
    pub business_services: Vec<AffectedCi>,
    /// Every business service with at-risk CIs below it, the most exposed first.
    #[serde(default)]
    pub services_at_risk: Vec<ServiceAtRisk>,
    /// The affected CIs (the failed ones included) of the page asked for, by depth, then id.
    pub affected: Vec<AffectedCi>,
    /// Where `affected` starts in the whole list.
    #[serde(default)]
    pub offset: usize,
    /// Where the next page starts; none on the last page.
    #[serde(default)]
    pub next_offset: Option<usize>,
    /// True when `affected` is not the whole list: a page of it, or cut at
    /// `relationships.max_impact_items` (counts stay exact).
    pub truncated: bool,
    /// True when paths were left out (empty) past `relationships.max_path_elements` ids in
    /// all (the nearest CIs keep theirs; business services always do).
    pub paths_truncated: bool,
    /// Affected hosts and devices left out because they are retired (unseen for
    /// `availability.retire_after_secs`); not in `affected` nor in the counts. A retired CI
    /// named in `failed` is kept.
    pub retired_left_out: usize,
    /// Time the index took, in milliseconds.
    pub elapsed_ms: f64,
}

/// Which affected CIs an answer lists: `limit` of them (all, up to
/// `relationships.max_impact_items`, when none) from `offset`, in (depth, id) order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: Option<usize>,
}

/// What a CI depends on.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dependencies {
    pub id: String,
    /// Every CI whose failure could affect this one, nearest first.
    pub dependencies: Vec<AffectedCi>,
}

/// A CI on a relationship map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapCi {
    pub id: String,
    pub name: String,
    pub class: String,
    /// Hops from the map's centre.
    pub hops: u32,
}

/// A relationship on a relationship map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEdge {
    pub from: String,
    pub kind: String,
    pub to: String,
    pub stale: bool,
}

/// The relationships around a CI, both directions.
#[derive(Debug, Clone)]
pub struct Neighbourhood {
    pub centre: String,
    /// The centre first, then nearest first, by id within a hop.
    pub cis: Vec<MapCi>,
    /// Between CIs of `cis`, by (from, kind, to).
    pub relationships: Vec<MapEdge>,
    /// True when the walk stopped at its limit of CIs (some neighbours are left out).
    pub cut: bool,
}

/// Size of the graph index and its effective core set.
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphSummary {
    pub nodes: usize,
    pub edges: usize,
    pub memory_bytes: usize,
    /// CIs reachability is measured against: declared core/gateway CIs, else each network's
    /// centre.
    pub core: Vec<String>,
}

/// The impact service.
#[derive(Debug)]
pub struct Impact {
    store: Store,
    relationships: Arc<Relationships>,
    telemetry: Arc<Telemetry>,
    /// Hosts and devices unseen this long are retired: out of impact answers.
    retire_after_secs: u64,
}

impl Impact {
    pub fn new(
        store: Store,
        relationships: Arc<Relationships>,
        telemetry: Arc<Telemetry>,
        retire_after_secs: u64,
    ) -> Self {
        Self {
            store,
            relationships,
            telemetry,
            retire_after_secs,
        }
    }

    /// Resolves CI references (ids or unique names) to keys; `field` names them in errors.
    pub async fn resolve(&self, refs: &[String], field: &str) -> Result<Vec<String>, ServiceError> {
        if refs.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "{field}: name at least one CI"
            )));
        }
        if refs.len() > 10_000 {
            return Err(ServiceError::Invalid(format!("{field}: at most 10000 CIs")));
        }
        if let Some(i) = refs
            .iter()
            .position(|r| r.trim().is_empty() || r.trim().len() > 255)
        {
            return Err(ServiceError::Invalid(format!(
                "{field}[{i}]: expected a CI id or name of 1 to 255 characters"
            )));
        }
        // Ids in one lookup; the rest are names.
        let ids: Vec<String> = refs
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| valid_key(r))
            .collect();
        let known: std::collections::HashSet<String> =
            self.store.existing_cis(&ids).await?.into_iter().collect();
        let mut out = Vec::with_capacity(refs.len());
        for (i, r) in refs.iter().enumerate() {
            let r = r.trim();
            if known.contains(r) {
                out.push(r.to_string());
                continue;
            }
            let found = self.store.ci_keys_named(r, None, false, Some(20)).await?;
            match found.as_slice() {
                [one] => out.push(one.clone()),
                [] => {
                    return Err(ServiceError::Invalid(format!(
                        "{field}[{i}]: no CI with id or name {r:?}"
                    )));
                }
                many => {
                    return Err(ServiceError::Invalid(format!(
                        "{field}[{i}]: {} CIs are named {r:?}; give an id ({})",
                        many.len(),
                        many.join(", ")
                    )));
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Runs an impact analysis on the index and names the result.
    pub async fn analyse(
        &self,
        failed: &[String],
        max_depth: Option<u32>,
    ) -> Result<ImpactReport, ServiceError> {
        self.analyse_page(failed, max_depth, None).await
    }

    /// [`Self::analyse`], listing only `page` of the affected CIs (in (depth, id) order; the
    /// counts, business services and services at risk are always whole). Without a page, the
    /// first `relationships.max_impact_items`.
    pub async fn analyse_page(
        &self,
        failed: &[String],
        max_depth: Option<u32>,
        page: Option<Page>,
    ) -> Result<ImpactReport, ServiceError> {
        let started = std::time::Instant::now();
        let max = self.relationships.config().max_impact_items;
        let Page { offset, limit } = page.unwrap_or_default();
        // At most `max_impact_items` per page, whatever was asked for.
        let limit = limit.unwrap_or(max).min(max);
        let (mut rows, mut services, mut exposed, counts, listed, elapsed_ms, alone) = {
            let g = self.relationships.graph();
            let ids: Vec<NodeId> = failed.iter().filter_map(|k| g.node_id(k)).collect();
            // CIs without any relationship are not in the index: they are down, alone.
            let alone: Vec<&String> = failed.iter().filter(|k| g.node_id(k).is_none()).collect();
            let result = g.impact(&ids, &ImpactOptions { max_depth });
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            let all = result.affected();
            let row = |a: &cmdb_graph::Affected| AffectedCi {
                id: g.key(a.node).to_string(),
                name: None,
                class: None,
                state: a.state.as_str().into(),
                cause: a.cause.as_str().into(),
                via: a.via.map(|v| g.key(v).to_string()),
                depth: a.depth,
                path: result
                    .path(a.node)
                    .into_iter()
                    .map(|n| g.key(n).to_string())
                    .collect(),
            };
            // The page in (depth, id) order. `all` is by (depth, node id), so each depth is a
            // run of it: only the runs the page overlaps are sorted by id.
            let end = offset.saturating_add(limit);
            let mut rows: Vec<AffectedCi> = Vec::new();
            let mut start = 0;
            while start < all.len() && start < end {
                let depth = all[start].depth;
                let run = start + all[start..].partition_point(|a| a.depth == depth);
                if run > offset {
                    let mut ids: Vec<&cmdb_graph::Affected> = all[start..run].iter().collect();
                    ids.sort_unstable_by(|a, b| g.key(a.node).cmp(g.key(b.node)));
                    let from = offset.saturating_sub(start);
                    let to = (end - start).min(ids.len());
                    rows.extend(ids[from..to].iter().map(|a| row(a)));
                }
                start = run;
            }
            // Business services are what change managers look for: every one of them is
            // listed, however long the list of affected CIs it was cut from.
            let business: std::collections::HashSet<NodeId> =
                result.business_services().into_iter().collect();
            let services: Vec<AffectedCi> = all
                .iter()
                .filter(|a| business.contains(&a.node))
                .map(row)
                .collect();
            let exposed: Vec<ServiceAtRisk> = result
                .services_at_risk()
                .iter()
                .map(|&(n, count)| ServiceAtRisk {
                    id: g.key(n).to_string(),
                    name: None,
                    state: result
                        .get(n)
                        .map_or("up", |a| match a.state {
                            CiState::Down => "down",
                            CiState::Degraded => "degraded",
                            CiState::AtRisk => "up",
                        })
                        .into(),
                    at_risk_below: count,
                })
                .collect();
            let counts = (
                result.count(CiState::Down),
                result.count(CiState::Degraded),
                result.count(CiState::AtRisk),
            );
            (
                rows,
                services,
                exposed,
                counts,
                all.len(),
                elapsed_ms,
                alone,
            )
        };
        // Failed CIs without any relationship (not in the index) head the first page.
        let alone_total = alone.len();
        let more = listed + alone_total > offset.saturating_add(limit);
        let truncated = more || offset > 0;
        let alone: Vec<&String> = if offset == 0 { alone } else { Vec::new() };
        rows.extend(alone.iter().map(|k| AffectedCi {
            id: k.to_string(),
            name: None,
            class: None,
            state: "down".into(),
            cause: "failed".into(),
            via: None,
            depth: 0,
            path: vec![k.to_string()],
        }));
        // Within a depth, by id: the same answer whatever the index's internal order.
        rows.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
        let retired = self.name_rows(&mut rows).await?;
        // Retired hosts and devices are gone from the estate: out of the answer (their edges
        // still carry the propagation until they are stale and expire).
        let before = rows.len();
        let (mut down, mut degraded, mut at_risk) = (counts.0 + alone_total, counts.1, counts.2);
        rows.retain(|r| {
            let keep = r.depth == 0 || !retired.contains(&r.id);
            if !keep {
                let count = match r.state.as_str() {
                    "down" => &mut down,
                    "at_risk" => &mut at_risk,
                    _ => &mut degraded,
                };
                *count = count.saturating_sub(1);
            }
            keep
        });
        let retired_left_out = before - rows.len();
        // The answer's size is bounded by its paths: nearest first, within the budget.
        let mut budget = self.relationships.config().max_path_elements;
        let mut paths_truncated = false;
        for r in &mut rows {
            if r.path.len() <= budget {
                budget -= r.path.len();
            } else {
                r.path = Vec::new();
                paths_truncated = true;
            }
        }
        self.name_rows(&mut services).await?;
        services.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
        let business_services = services;
        let keys: Vec<String> = exposed.iter().map(|s| s.id.clone()).collect();
        let names: HashMap<String, String> = self
            .store
            .briefs_of(&keys)
            .await?
            .into_iter()
            .map(|(k, n, _, _)| (k, n))
            .collect();
        for s in &mut exposed {
            s.name = names.get(&s.id).cloned();
        }
        exposed.sort_by(|a, b| {
            b.at_risk_below
                .cmp(&a.at_risk_below)
                .then_with(|| a.id.cmp(&b.id))
        });
        self.telemetry.impact_queries.inc();
        Ok(ImpactReport {
            failed: failed.to_vec(),
            down,
            degraded,
            at_risk,
            business_services,
            services_at_risk: exposed,
            affected: rows,
            offset,
            next_offset: more.then(|| offset.saturating_add(limit)),
            truncated,
            paths_truncated,
            retired_left_out,
            elapsed_ms,
        })
    }

    /// Names the rows; answers which of them are retired hosts or devices.
    async fn name_rows(
        &self,
        rows: &mut [AffectedCi],
    ) -> Result<std::collections::HashSet<String>, ServiceError> {
        let keys: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let cutoff = crate::availability::retire_cutoff(
            self.retire_after_secs,
            chrono::Utc::now().timestamp(),
        );
        let mut retired = std::collections::HashSet::new();
        let mut names: HashMap<String, (String, String)> = HashMap::new();
        for (k, n, c, seen) in self.store.briefs_of(&keys).await? {
            if crate::inventory::lifecycle(&c, &seen, "", &cutoff) == "retired" {
                retired.insert(k.clone());
            }
            names.insert(k, (n, c));
        }
        for r in rows {
            if let Some((n, c)) = names.get(&r.id) {
                r.name = Some(n.clone());
                r.class = Some(c.clone());
            }
        }
        Ok(retired)
    }

    /// Every CI affected if `failed` fail (the failed included), as keys: not truncated, not
    /// named (for change conflicts, which must see all of them).
    pub fn affected_keys(&self, failed: &[String]) -> Vec<String> {
        let g = self.relationships.graph();
        let ids: Vec<NodeId> = failed.iter().filter_map(|k| g.node_id(k)).collect();
        let result = g.impact(&ids, &ImpactOptions { max_depth: None });
        let mut keys: Vec<String> = result
            .affected()
            .iter()
            .map(|a| g.key(a.node).to_string())
            .collect();
        keys.extend(failed.iter().cloned());
        keys.sort();
        keys.dedup();
        keys
    }

    /// What fails if `id` fails.
    pub async fn of_ci(
        &self,
        id: &str,
        max_depth: Option<u32>,
        page: Option<Page>,
    ) -> Result<ImpactReport, ServiceError> {
        self.relationships.must_exist(id).await?;
        self.analyse_page(std::slice::from_ref(&id.to_string()), max_depth, page)
            .await
    }

    /// What `id` depends on: everything whose failure could affect it, nearest first.
    pub async fn dependencies(
        &self,
        id: &str,
        max_depth: Option<u32>,
    ) -> Result<Dependencies, ServiceError> {
        self.relationships.must_exist(id).await?;
        let id = id.to_string();
        let limit = self.relationships.config().max_impact_items;
        let mut rows: Vec<AffectedCi> = {
            let g = self.relationships.graph();
            match g.node_id(&id) {
                None => Vec::new(),
                Some(n) => {
                    let reached = g.dependencies(n, max_depth);
                    let via: HashMap<NodeId, NodeId> =
                        reached.iter().map(|r| (r.node, r.via)).collect();
                    reached
                        .iter()
                        .take(limit)
                        .map(|r| {
                            let mut path = vec![r.node];
                            let mut at = r.node;
                            while let Some(v) = via.get(&at) {
                                path.push(*v);
                                at = *v;
                                if at == n || path.len() > 100_000 {
                                    break;
                                }
                            }
                            path.reverse();
                            AffectedCi {
                                id: g.key(r.node).to_string(),
                                name: None,
                                class: None,
                                state: "dependency".into(),
                                cause: r.kind.as_str().into(),
                                via: Some(g.key(r.via).to_string()),
                                depth: r.depth,
                                path: path.into_iter().map(|x| g.key(x).to_string()).collect(),
                            }
                        })
                        .collect()
                }
            }
        };
        // Retired hosts and devices are no longer something anything depends on.
        let retired = self.name_rows(&mut rows).await?;
        rows.retain(|r| !retired.contains(&r.id));
        Ok(Dependencies {
            id,
            dependencies: rows,
        })
    }

    /// The relationships around `id` up to `depth` hops in both directions, stale ones
    /// included, at most `max_cis` CIs (nearest first; `cut` says when some were left out).
    /// One storage read per CI expanded.
    pub async fn neighbourhood(
        &self,
        id: &str,
        depth: u32,
        max_cis: usize,
    ) -> Result<Neighbourhood, ServiceError> {
        self.relationships.must_exist(id).await?;
        let mut hops: std::collections::BTreeMap<String, u32> =
            std::collections::BTreeMap::from([(id.to_string(), 0)]);
        let mut order: Vec<String> = vec![id.to_string()];
        let mut edges: std::collections::BTreeSet<(String, String, String, bool)> =
            std::collections::BTreeSet::new();
        let mut frontier = vec![id.to_string()];
        let mut cut = false;
        for d in 1..=depth {
            let mut next: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
            for at in &frontier {
                for r in self.store.relationships_of(at).await? {
                    let other = if r.from == *at { &r.to } else { &r.from };
                    if !hops.contains_key(other) && !next.contains(other) {
                        if hops.len() + next.len() >= max_cis.max(1) {
                            cut = true;
                            continue;
                        }
                        next.insert(other.clone());
                    }
                    edges.insert((r.from.clone(), r.kind.clone(), r.to.clone(), r.stale));
                }
            }
            for k in &next {
                hops.insert(k.clone(), d);
                order.push(k.clone());
            }
            frontier = next.into_iter().collect();
            if frontier.is_empty() {
                break;
            }
        }
        let mut names: HashMap<String, (String, String)> = HashMap::new();
        for (k, n, c, _) in self.store.briefs_of(&order).await? {
            names.insert(k, (n, c));
        }
        let cis = order
            .iter()
            .map(|k| {
                let (name, class) = names
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| (k.clone(), String::new()));
                MapCi {
                    id: k.clone(),
                    name,
                    class,
                    hops: hops[k],
                }
            })
            .collect();
        let relationships = edges
            .into_iter()
            .filter(|(f, _, t, _)| hops.contains_key(f) && hops.contains_key(t))
            .map(|(from, kind, to, stale)| MapEdge {
                from,
                kind,
                to,
                stale,
            })
            .collect();
        Ok(Neighbourhood {
            centre: id.to_string(),
            cis,
            relationships,
            cut,
        })
    }

    /// Compares the in-memory graph index with storage.
    pub async fn check(&self) -> Result<CheckReport, ServiceError> {
        Ok(self.relationships.check().await?)
    }

    /// Size of the graph index and its effective core set.
    pub fn summary(&self) -> GraphSummary {
        let g = self.relationships.graph();
        let mut core: Vec<String> = g
            .core_nodes()
            .into_iter()
            .map(|n| g.key(n).to_string())
            .collect();
        core.sort();
        GraphSummary {
            nodes: g.node_count(),
            edges: g.edge_count(),
            memory_bytes: g.memory_bytes(),
            core,
        }
    }
}
