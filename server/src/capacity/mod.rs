//! The capacity service: per resource (CPU, memory, each filesystem, each interface, device
//! storage) the current value, the daily peak trend and the dates the warning and critical
//! thresholds will be crossed, ranked across the fleet.
//!
//! Daily values come from the daily rollups the metrics compaction keeps for ever: the day's
//! p95 for utilisations that swing (CPU, memory, interfaces), the day's max for levels that
//! only a clean-up brings down (filesystems, device storage). The fit is `domain::capacity`
//! (Theil–Sen over the window, restarted after a level shift, placed on the peaks).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use cmdb_shared::metrics::names;
use serde::Serialize;

use crate::config::Config;
use crate::domain::capacity::{self, Daily, Forecast, Settings, Thresholds};
use crate::error::ServiceError;
use crate::metrics::Metrics;
use crate::storage::Store;

/// The series capacity is planned on, and how each day is summarised.
pub const RESOURCES: &[(&str, Daily, &str)] = &[
    (names::CPU_UTIL, Daily::P95, "CPU"),
    (names::MEM_USED_PCT, Daily::P95, "memory"),
    (names::SWAP_USED_PCT, Daily::Max, "swap"),
    (names::FS_USED_PCT, Daily::Max, "filesystem"),
    (names::NET_UTIL, Daily::P95, "interface"),
    (names::IF_IN_UTIL, Daily::P95, "interface in"),
    (names::IF_OUT_UTIL, Daily::P95, "interface out"),
    (names::HR_CPU, Daily::P95, "CPU"),
    (names::HR_STORAGE_USED_PCT, Daily::Max, "storage"),
];

/// One resource's line in the capacity report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CapacityRow {
    pub ci: String,
    pub ci_name: String,
    pub class: String,
    /// What the resource is (`CPU`, `filesystem`, …).
    pub resource: String,
    /// The series (`fs.used_pct`) and its instance (`/var`).
    pub series: String,
    pub instance: String,
    /// `p95` or `max`: how each day was summarised.
    pub daily: String,
    pub warning_pct: f64,
    pub critical_pct: f64,
    #[schema(value_type = Object)]
    pub forecast: Forecast,
    /// The daily values the trend was fitted on (for the UI's sparklines; not in the API).
    #[serde(skip)]
    pub values: Vec<(i64, f64)>,
}

/// Which rows a capacity report holds.
#[derive(Debug, Clone, Default)]
pub struct CapacityQuery {
    pub ci: Option<Vec<String>>,
    pub class: Option<String>,
    /// Only the series named so (`fs.used_pct`).
    pub series: Option<String>,
}

/// How long a computed fleet-wide report is served from memory. Its inputs are daily rollups,
/// which change when the compaction writes new ones (that ends the cached report at once),
/// and the latest samples, which move a current value by a few points within a minute.
pub const REPORT_CACHE_SECS: i64 = 60;

/// The fleet-wide report as last computed.
#[derive(Debug)]
struct Cached {
    at: i64,
    /// [`Metrics::daily_generation`] when it was computed.
    generation: u64,
    rows: Arc<Vec<CapacityRow>>,
}

/// Refuses a series that is not a capacity resource.
fn check_series(series: Option<&str>) -> Result<(), ServiceError> {
    match series {
        Some(s) if !RESOURCES.iter().any(|r| r.0 == s) => Err(ServiceError::Invalid(format!(
            "series: {s:?} is not a capacity resource; one of {}",
            RESOURCES.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
        ))),
        _ => Ok(()),
    }
}

/// The capacity service.
#[derive(Debug)]
pub struct Capacity {
    store: Store,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    cached: Mutex<Option<Cached>>,
}

impl Capacity {
    pub fn new(store: Store, config: Arc<Config>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            config,
            metrics,
            cached: Mutex::new(None),
        }
    }

    fn settings(&self) -> Settings {
        let c = &self.config.capacity;
        Settings {
            window_days: c.window_days,
            min_days: c.min_days,
            horizon_days: c.horizon_days,
            ..Settings::default()
        }
    }

    /// The ranked report as of `now`. The fleet-wide report is computed at most once per
    /// [`REPORT_CACHE_SECS`] and after each compaction that wrote daily rollups; a class or
    /// resource filter selects from it. A report for given CIs is always computed.
    pub async fn report(
        &self,
        q: &CapacityQuery,
        now: i64,
    ) -> Result<Vec<CapacityRow>, ServiceError> {
        check_series(q.series.as_deref())?;
        if q.ci.is_some() {
            return self.compute(q, now).await;
        }
        let all = self.fleet(now).await?;
        Ok(all
            .iter()
            .filter(|r| q.class.as_deref().is_none_or(|c| c == r.class))
            .filter(|r| q.series.as_deref().is_none_or(|s| s == r.series))
            .cloned()
            .collect())
    }

    /// The unfiltered report, from memory while it is fresh.
    async fn fleet(&self, now: i64) -> Result<Arc<Vec<CapacityRow>>, ServiceError> {
        let generation = self.metrics.daily_generation();
        if let Some(c) = self
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && c.generation == generation
            && (0..REPORT_CACHE_SECS).contains(&(now - c.at))
        {
            return Ok(c.rows.clone());
        }
        let rows = Arc::new(self.compute(&CapacityQuery::default(), now).await?);
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            at: now,
            generation,
            rows: rows.clone(),
        });
        Ok(rows)
    }

    /// Computes the report from storage.
    async fn compute(&self, q: &CapacityQuery, now: i64) -> Result<Vec<CapacityRow>, ServiceError> {
        let wanted: Vec<&str> = RESOURCES
            .iter()
            .map(|r| r.0)
            .filter(|n| q.series.as_deref().is_none_or(|s| s == *n))
            .collect();
        let only: Option<std::collections::HashSet<&String>> =
            q.ci.as_ref().map(|v| v.iter().collect());
        let mut dailies: Vec<_> = self
            .metrics
            .dailies(&wanted)
            .await?
            .into_iter()
            .filter(|d| only.as_ref().is_none_or(|o| o.contains(&d.0)))
            .collect();
        // Resources with samples but no compacted day yet (a new host) are listed too, with
        // their current value: "not enough data" is their honest forecast.
        let known: std::collections::HashSet<(String, String, String)> = dailies
            .iter()
            .map(|d| (d.0.clone(), d.1.clone(), d.2.clone()))
            .collect();
        for (ci, name, instance) in self.metrics.latest_keys() {
            if wanted.contains(&name.as_str())
                && only.as_ref().is_none_or(|o| o.contains(&ci))
                && !known.contains(&(ci.clone(), name.clone(), instance.clone()))
            {
                dailies.push((ci, name, instance, Vec::new()));
            }
        }
        let keys: Vec<String> = {
            let mut k: Vec<String> = dailies.iter().map(|d| d.0.clone()).collect();
            k.sort();
            k.dedup();
            k
        };
        let retire =
            crate::availability::retire_cutoff(self.config.availability.retire_after_secs, now);
        let named: HashMap<String, (String, String)> = self
            .store
            .briefs_of(&keys)
            .await?
            .into_iter()
            // Retired hosts and devices are out of the report, unless asked for by id.
            .filter(|(_, _, c, seen)| {
                q.ci.is_some() || crate::inventory::lifecycle(c, seen, "", &retire) != "retired"
            })
            .map(|(k, n, c, _)| (k, (n, c)))
            .collect();
        let how: BTreeMap<&str, (Daily, &str)> =
            RESOURCES.iter().map(|r| (r.0, (r.1, r.2))).collect();
        let settings = self.settings();
        let window_start = now - i64::from(settings.window_days) * capacity::DAY;
        let mut rows = Vec::new();
        for (ci, name, instance, rollups) in dailies {
            // CIs that no longer exist (deleted) or are out of the class asked for are left out.
            let Some((ci_name, class)) = named.get(&ci) else {
                continue;
            };
            if q.class.as_deref().is_some_and(|c| c != class) {
                continue;
            }
            let Some((daily, resource)) = how.get(name.as_str()).copied() else {
                continue;
            };
            let values: Vec<(i64, f64)> = rollups
                .iter()
                .filter(|r| r.start >= window_start - capacity::DAY)
                .map(|r| {
                    let v = match daily {
                        Daily::Max => r.max,
                        Daily::P95 => r.p95,
                    };
                    (r.start, v)
                })
                .collect();
            let (warning, critical) = self.config.capacity.thresholds_for(&ci, class);
            let th = Thresholds { warning, critical };
            let current = self.metrics.latest(&ci, &name, &instance);
            let forecast = capacity::forecast(&values, current, now, &th, &settings);
            let values: Vec<(i64, f64)> =
                values.into_iter().filter(|v| v.0 >= window_start).collect();
            rows.push(CapacityRow {
                ci: ci.clone(),
                ci_name: ci_name.clone(),
                class: class.clone(),
                resource: resource.to_string(),
                series: name,
                instance,
                daily: match daily {
                    Daily::Max => "max",
                    Daily::P95 => "p95",
                }
                .to_string(),
                warning_pct: warning,
                critical_pct: critical,
                forecast,
                values,
            });
        }
        rows.sort_by(|a, b| {
            capacity::rank_order(&a.forecast, &b.forecast)
                .then_with(|| a.ci_name.cmp(&b.ci_name))
                .then_with(|| a.series.cmp(&b.series))
                .then_with(|| a.instance.cmp(&b.instance))
        });
        Ok(rows)
    }
}
