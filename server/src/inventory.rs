//! The inventory service: the CMDB as people read it. CI lists with filters, a CI with all
//! its sections (a network device with what its last polls saw), its packages, its history and
//! the net change between two times; the hosts that have a package; and the health of the
//! storage behind it all.

use std::collections::BTreeMap;
use std::sync::Arc;

use cmdb_shared::Package;
use cmdb_shared::device::{
    ArpEntry, CdpNeighbor, DeviceMetrics, ForwardingEntry, LldpNeighbor, TargetSource,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Config;
use crate::domain::device_report::{self as device, overlay_volatile};
use crate::domain::software::version;
use crate::error::{ServiceError, check_id};
use crate::ingest::Ingestor;
use crate::storage::{CiFilter, CiRecord, CiSort, Store, now_str, time_str};

pub use crate::storage::{CiSummary, HistoryRecord};
/// The section of a network device CI that holds its stable inventory (interfaces, addresses…).
pub use device::SECTION as DEVICE_SECTION;

/// Which CIs to list.
#[derive(Debug, Default)]
pub struct CiQuery {
    /// CI class ("host", "network_device").
    pub class: Option<String>,
    /// Case-insensitive text (see the API's `q`).
    pub q: Option<String>,
    /// true: only stale CIs; false: only fresh ones.
    pub stale: Option<bool>,
    /// Only CIs flagged as suspected duplicates.
    pub duplicates: bool,
    /// `name` (default), `class` or `last_seen` (most recent first).
    pub sort: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A page of CIs.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiPage {
    pub items: Vec<CiListItem>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

/// One CI in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiListItem {
    #[serde(flatten)]
    pub ci: CiSummary,
    pub stale: bool,
    /// `active`, `stale` (unseen for `lifecycle.stale_after_secs`) or `retired` (a host or
    /// device unseen for `availability.retire_after_secs`: kept and listed, left out of
    /// availability and capacity reports; back to active when it reports again).
    pub lifecycle: &'static str,
}

/// A CI's lifecycle state from its class and when it was last seen (`stale_cutoff` and
/// `retire_cutoff` as stored times). Only discovered CIs (hosts, devices) retire: manual ones
/// are not "seen".
pub fn lifecycle(
    class: &str,
    last_seen: &str,
    stale_cutoff: &str,
    retire_cutoff: &str,
) -> &'static str {
    let discovered = class == "host" || class == device::CLASS;
    if discovered && last_seen < retire_cutoff {
        "retired"
    } else if last_seen < stale_cutoff {
        "stale"
    } else {
        "active"
    }
}

/// One CI with all its sections. Packages are listed by `/api/v1/cis/{id}/packages`.
/// For a network device, `sections.device` is its stable inventory with the latest volatile
/// values (interface oper_status, storage used_bytes, processor load_percent) overlaid,
/// `measured_at` when they were sampled, and `device` what the last polls saw.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiDetail {
    #[serde(flatten)]
    pub ci: CiRecord,
    pub stale: bool,
    /// `active`, `stale` or `retired` (see the CI list).
    pub lifecycle: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceDetail>,
}

/// What the pollers of a network device saw: the latest poll and metrics sample, and the
/// topology observations (neighbours, forwarding and ARP entries) as last changed.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DeviceDetail {
    /// The agent that polled the device last.
    pub poller: Option<String>,
    /// The target it polled (`host`, `host:port`).
    pub target: Option<String>,
    /// Why it polled it: listed in its configuration, or found by a discovery sweep.
    pub source: Option<TargetSource>,
    /// When the server received the last poll.
    pub polled_at: Option<String>,
    /// The latest metrics sample: sysUpTime and per-interface counters, with their time.
    pub metrics: Option<DeviceMetrics>,
    /// When the topology observations below were last different from the poll before.
    pub topology_changed_at: Option<String>,
    pub lldp_neighbors: Vec<LldpNeighbor>,
    pub cdp_neighbors: Vec<CdpNeighbor>,
    /// MAC address → port (BRIDGE-MIB / Q-BRIDGE-MIB).
    pub forwarding: Vec<ForwardingEntry>,
    /// IP → MAC.
    pub arp: Vec<ArpEntry>,
}

/// A history window: RFC 3339 times, both inclusive, and a size.
#[derive(Debug, Default)]
pub struct HistoryQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// 1–10000 (default 1000).
    pub limit: Option<u32>,
}

/// One attribute (or relationship) that differs between two times.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DiffEntry {
    /// The attribute, or `relationship:<id>` for an edge.
    pub attribute: String,
    /// Value at `from` (null: absent).
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    /// Value at `to` (null: absent).
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    /// How many changes happened in between.
    pub changes: usize,
    /// When it last changed.
    pub last_changed_at: String,
}

/// A CI between two times.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiDiff {
    pub id: String,
    pub from: String,
    pub to: String,
    pub entries: Vec<DiffEntry>,
}

/// Folds history (oldest first) into the net difference per attribute: the first `old` and
/// the last `new`; attributes that came back to where they were are left out.
pub fn fold_history(records: &[HistoryRecord]) -> Vec<DiffEntry> {
    let mut by: std::collections::BTreeMap<String, DiffEntry> = std::collections::BTreeMap::new();
    for r in records {
        let attribute = if r.attribute == "relationship" {
            let rel = r
                .new
                .get("rel")
                .or_else(|| r.old.get("rel"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?");
            format!("relationship:{rel}")
        } else {
            r.attribute.clone()
        };
        by.entry(attribute.clone())
            .and_modify(|e| {
                e.after = r.new.clone();
                e.changes += 1;
                e.last_changed_at = r.at.clone();
            })
            .or_insert(DiffEntry {
                attribute,
                before: r.old.clone(),
                after: r.new.clone(),
                changes: 1,
                last_changed_at: r.at.clone(),
            });
    }
    by.into_values().filter(|e| e.before != e.after).collect()
}

/// A host with matching packages.
#[derive(Debug, Serialize, ToSchema)]
pub struct SoftwareHost {
    pub ci_id: String,
    pub name: String,
    pub last_seen: String,
    /// Matching installed versions, "manager version architecture".
    pub packages: Vec<cmdb_shared::Package>,
}

/// Which packages to look for.
#[derive(Debug, Default)]
pub struct SoftwareQuery {
    /// Exact package name.
    pub name: String,
    /// Only versions strictly lower than this, by the package manager's rules.
    pub version_lt: Option<String>,
    /// Only this package manager ("dpkg", "rpm", "apk").
    pub manager: Option<String>,
}

fn parse_time(field: &str, v: Option<String>) -> Result<Option<String>, ServiceError> {
    v.map(|s| {
        chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| time_str(t.with_timezone(&chrono::Utc)))
            .map_err(|e| ServiceError::Invalid(format!("{field}: not an RFC 3339 time ({e})")))
    })
    .transpose()
}

/// A value counted now and then, with when.
type Cached<T> = std::sync::Mutex<Option<(std::time::Instant, T)>>;

/// The inventory service.
#[derive(Debug)]
pub struct Inventory {
    store: Store,
    config: Arc<Config>,
    ingest: Arc<Ingestor>,
    /// The last record counts and when they were taken (counting scans whole tables).
    counts: Cached<BTreeMap<String, u64>>,
    /// CIs by class, for the dashboard.
    classes: Cached<Vec<(String, u64)>>,
}

/// How long record counts are reused (a Prometheus scrape every 15 s must not scan tables).
const COUNTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

impl Inventory {
    pub fn new(store: Store, config: Arc<Config>, ingest: Arc<Ingestor>) -> Self {
        Self {
            store,
            config,
            ingest,
            counts: std::sync::Mutex::default(),
            classes: std::sync::Mutex::default(),
        }
    }

    /// Record counts at most a minute old: counted again only when older.
    pub async fn counts_cached(&self) -> Result<BTreeMap<String, u64>, ServiceError> {
        if let Some((at, c)) = self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && at.elapsed() < COUNTS_MAX_AGE
        {
            return Ok(c.clone());
        }
        let c = self.counts().await?;
        *self.counts.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), c.clone()));
        Ok(c)
    }

    /// How many CIs of each class, at most a minute old.
    pub async fn class_counts(&self) -> Result<Vec<(String, u64)>, ServiceError> {
        if let Some((at, c)) = self
            .classes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && at.elapsed() < COUNTS_MAX_AGE
        {
            return Ok(c.clone());
        }
        let c = self.store.class_counts().await?;
        *self.classes.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), c.clone()));
        Ok(c)
    }

    /// (name, class) of these CIs, by key; unknown keys are left out.
    pub async fn names(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, (String, String)>, ServiceError> {
        let keys: Vec<String> = keys
            .iter()
            .filter(|k| crate::storage::valid_key(k))
            .cloned()
            .collect();
        Ok(self
            .store
            .briefs_of(&keys)
            .await?
            .into_iter()
            .map(|(k, n, c, _)| (k, (n, c)))
            .collect())
    }

    /// Hosts and devices last seen before this time are retired.
    pub fn retire_cutoff(&self) -> String {
        let secs =
            i64::try_from(self.config.availability.retire_after_secs).unwrap_or(i64::MAX / 2);
        time_str(chrono::Utc::now() - chrono::Duration::seconds(secs.min(100 * 365 * 86400)))
    }

    fn stale_cutoff(&self) -> String {
        let secs = i64::try_from(self.config.lifecycle.stale_after_secs).unwrap_or(i64::MAX / 2);
        time_str(chrono::Utc::now() - chrono::Duration::seconds(secs.min(100 * 365 * 86400)))
    }

    async fn load(&self, id: &str) -> Result<CiRecord, ServiceError> {
        check_id("id", id, "CI")?;
        self.store
            .ci(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no CI with id {id}")))
    }

    /// A page of CIs.
    pub async fn list(&self, q: CiQuery) -> Result<CiPage, ServiceError> {
        let limit = q.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(ServiceError::Invalid(
                "limit: must be between 1 and 1000".into(),
            ));
        }
        if q.q.as_ref().is_some_and(|q| q.len() > 256) {
            return Err(ServiceError::Invalid("q: at most 256 characters".into()));
        }
        let sort = match q.sort.as_deref() {
            None | Some("name") => CiSort::Name,
            Some("class") => CiSort::Class,
            Some("last_seen") => CiSort::LastSeen,
            Some(other) => {
                return Err(ServiceError::Invalid(format!(
                    "sort: expected name, class or last_seen, got {other:?}"
                )));
            }
        };
        let cutoff = self.stale_cutoff();
        let retire = self.retire_cutoff();
        let filter = CiFilter {
            class: q.class.filter(|c| !c.is_empty()),
            q: q.q.filter(|q| !q.is_empty()),
            stale: q.stale,
            duplicates: q.duplicates,
            stale_cutoff: cutoff.clone(),
            sort,
            limit,
            offset: q.offset.unwrap_or(0),
        };
        let (items, total) = self.store.list_cis(&filter).await?;
        Ok(CiPage {
            items: items
                .into_iter()
                .map(|ci| CiListItem {
                    stale: ci.last_seen < cutoff,
                    lifecycle: lifecycle(&ci.class, &ci.last_seen, &cutoff, &retire),
                    ci,
                })
                .collect(),
            total,
            limit,
            offset: filter.offset,
        })
    }

    /// One CI with all its sections; a device's with what its last polls saw.
    pub async fn ci(&self, id: &str) -> Result<CiDetail, ServiceError> {
        let mut ci = self.load(id).await?;
        let stale = ci.last_seen < self.stale_cutoff();
        let lifecycle = lifecycle(
            &ci.class,
            &ci.last_seen,
            &self.stale_cutoff(),
            &self.retire_cutoff(),
        );
        let device = if ci.class == device::CLASS {
            let seen = self.store.device_observations(id).await?;
            let mut out = DeviceDetail::default();
            if let Some(st) = seen.state {
                if let Some(section) = ci.sections.get_mut(device::SECTION) {
                    overlay_volatile(section, &st.volatile);
                }
                ci.measured_at = Some(st.sample_at);
                out.poller = Some(st.poller);
                out.target = Some(st.target);
                out.source = Some(st.source);
                out.polled_at = Some(st.at);
                out.metrics = Some(st.metrics);
            }
            if let Some(t) = seen.topology {
                out.topology_changed_at = Some(t.at);
                out.lldp_neighbors = t.lldp_neighbors;
                out.cdp_neighbors = t.cdp_neighbors;
                out.forwarding = t.forwarding;
                out.arp = t.arp;
            }
            Some(out)
        } else {
            None
        };
        Ok(CiDetail {
            ci,
            stale,
            lifecycle,
            device,
        })
    }

    /// Installed packages of a CI, sorted.
    pub async fn packages(&self, id: &str) -> Result<Vec<Package>, ServiceError> {
        self.load(id).await?;
        let keys = self.store.ci_package_keys(id).await?;
        let mut list = self.ingest.packages_of(&keys);
        list.sort();
        Ok(list)
    }

    /// Attribute changes of a CI, oldest first.
    pub async fn history(
        &self,
        id: &str,
        q: HistoryQuery,
    ) -> Result<Vec<HistoryRecord>, ServiceError> {
        let from = parse_time("from", q.from)?;
        let to = parse_time("to", q.to)?;
        let limit = q.limit.unwrap_or(1000);
        if !(1..=10_000).contains(&limit) {
            return Err(ServiceError::Invalid(
                "limit: must be between 1 and 10000".into(),
            ));
        }
        self.load(id).await?;
        Ok(self
            .store
            .history(id, from.as_deref(), to.as_deref(), limit)
            .await?)
    }

    /// What changed on a CI between `from` and `to` (default now), relationships included.
    pub async fn diff(
        &self,
        id: &str,
        from: String,
        to: Option<String>,
    ) -> Result<CiDiff, ServiceError> {
        let from = parse_time("from", Some(from))?.unwrap_or_default();
        let to = parse_time("to", to)?.unwrap_or_else(now_str);
        if to < from {
            return Err(ServiceError::Invalid("to: must not be before from".into()));
        }
        self.load(id).await?;
        // Changes strictly after `from`, up to `to`.
        let records: Vec<HistoryRecord> = self
            .store
            .history(id, Some(&from), Some(&to), 100_000)
            .await?
            .into_iter()
            .filter(|r| r.at > from)
            .collect();
        Ok(CiDiff {
            id: id.to_string(),
            from,
            to,
            entries: fold_history(&records),
        })
    }

    /// Hosts with a package, optionally below a version.
    pub async fn software(&self, q: SoftwareQuery) -> Result<Vec<SoftwareHost>, ServiceError> {
        if q.name.is_empty() || q.name.len() > 256 {
            return Err(ServiceError::Invalid(
                "name: must be 1-256 characters".into(),
            ));
        }
        if let Some(v) = &q.version_lt
            && !version::is_valid(q.manager.as_deref().unwrap_or("dpkg"), v)
        {
            return Err(ServiceError::Invalid(format!(
                "version_lt: {v:?} is not a version"
            )));
        }
        let candidates: Vec<_> = self
            .store
            .packages_named(&q.name)
            .await?
            .into_iter()
            .filter(|pk| q.manager.as_ref().is_none_or(|m| *m == pk.manager))
            .filter(|pk| {
                q.version_lt
                    .as_ref()
                    .is_none_or(|lt| version::compare(&pk.manager, &pk.version, lt).is_lt())
            })
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = candidates.iter().map(|c| c.key.clone()).collect();
        let rows = self.store.hosts_with_packages(&keys).await?;
        Ok(rows
            .into_iter()
            .map(|r| SoftwareHost {
                ci_id: r.key,
                name: r.name,
                last_seen: r.last_seen,
                packages: candidates
                    .iter()
                    .filter(|c| r.matched.contains(&c.key))
                    .map(|c| Package {
                        manager: c.manager.clone(),
                        name: c.name.clone(),
                        version: c.version.clone(),
                        architecture: c.architecture.clone(),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Whether storage answers.
    pub async fn ping(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping().await?)
    }

    /// Record counts per kind (for the server's own metrics).
    pub async fn counts(&self) -> Result<BTreeMap<String, u64>, ServiceError> {
        Ok(self.store.counts().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(
        at: &str,
        attribute: &str,
        old: serde_json::Value,
        new: serde_json::Value,
    ) -> HistoryRecord {
        HistoryRecord {
            ci: "c".into(),
            at: at.into(),
            source: "t".into(),
            attribute: attribute.into(),
            old,
            new,
        }
    }

    #[test]
    fn a_diff_keeps_the_first_old_and_last_new_value_and_drops_round_trips() {
        let h = vec![
            rec("1", "os", json!("12"), json!("13")),
            rec("2", "os", json!("13"), json!("14")),
            rec("3", "owner", json!("a"), json!("b")),
            rec("4", "owner", json!("b"), json!("a")),
            rec(
                "5",
                "relationship",
                serde_json::Value::Null,
                json!({"rel": "r1", "kind": "depends_on"}),
            ),
            rec(
                "6",
                "relationship",
                json!({"rel": "r2"}),
                json!({"rel": "r2", "stale": true}),
            ),
        ];
        let d = fold_history(&h);
        let attrs: Vec<&str> = d.iter().map(|e| e.attribute.as_str()).collect();
        assert_eq!(attrs, vec!["os", "relationship:r1", "relationship:r2"]);
        assert_eq!(
            (d[0].before.clone(), d[0].after.clone(), d[0].changes),
            (json!("12"), json!("14"), 2)
        );
        assert_eq!(d[1].before, serde_json::Value::Null);
    }
}
