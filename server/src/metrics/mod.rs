//! The metrics service: metric batches from agents in, time series out.
//!
//! Ingest takes a batch whole or not at all: it is validated, split by CI (the agent's host,
//! the devices it polls) and by UTC day, and written as one compressed ingest record per CI
//! and day before the answer is sent, so an acknowledged sample survives a crash. Heartbeats,
//! probe results and device polls go to the availability service as observations.
//!
//! A background compaction turns each closed day's ingest records into one block per series
//! (`cmdb-series`: delta-of-delta timestamps, values with pco) and 5-minute, hourly and daily
//! rollups (count, min, max, mean, p95), then deletes the records. Reads combine the blocks
//! of compacted days with the records of days not compacted yet, so a chart of the last hour
//! shows what arrived a second ago.

pub mod validate;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use cmdb_series::{Level, Point, Rollup, day_start};
use cmdb_shared::metrics::{MetricAck, MetricBatch, ProbeState};
use serde::{Deserialize, Serialize};

use crate::availability::{Availability, Observation, Source};
use crate::config::Config;
use crate::error::ServiceError;
use crate::ingest::{IngestError, Ingestor};
use crate::relationships::Relationships;
use crate::storage::{
    Compacted, IngestRecord, RollBlock, SeriesBlock, StorageError, Store, valid_key,
};
use crate::telemetry::Telemetry;

const DAY: i64 = 86_400;

/// Samples of one CI in an ingest record: `(name, instance, points)`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Body {
    s: Vec<(String, String, Vec<Point>)>,
}

fn encode_body(b: &Body) -> Result<Vec<u8>, ServiceError> {
    let json = serde_json::to_vec(b).map_err(StorageError::from)?;
    zstd::bulk::compress(&json, 1)
        .map_err(|e| ServiceError::Storage(StorageError::Decode(serde_json::Error::io(e))))
}

fn decode_body(bytes: &[u8]) -> Result<Body, StorageError> {
    let json = zstd::stream::decode_all(bytes).map_err(serde_json::Error::io)?;
    Ok(serde_json::from_slice(&json)?)
}

fn ingest_err(e: IngestError) -> ServiceError {
    match e {
        IngestError::Storage(s) => ServiceError::Storage(s),
        IngestError::Unavailable(m) => ServiceError::Unavailable(m),
        IngestError::UnknownAgent => {
            ServiceError::Unauthenticated("the agent of this credential no longer exists".into())
        }
        other => ServiceError::Invalid(other.to_string()),
    }
}

/// One point of a series as read: raw (value only) or a rollup window.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SeriesPoint {
    /// Unix seconds: the sample's time, or the window's start.
    pub t: i64,
    /// The sample, or the window's mean.
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

impl From<Rollup> for SeriesPoint {
    fn from(r: Rollup) -> Self {
        Self {
            t: r.start,
            value: r.mean,
            min: Some(r.min),
            max: Some(r.max),
            p95: Some(r.p95),
            count: Some(r.count),
        }
    }
}

/// A series read over a range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SeriesAnswer {
    pub ci: String,
    pub name: String,
    pub instance: String,
    /// `raw`, `5m`, `1h` or `1d`: what the points are.
    pub level: String,
    pub from: i64,
    pub to: i64,
    pub points: Vec<SeriesPoint>,
}

/// A series a CI has.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub struct SeriesName {
    pub name: String,
    pub instance: String,
}

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactStats {
    pub days: usize,
    pub series: usize,
    pub samples: usize,
}

/// The metrics service.
#[derive(Debug)]
pub struct Metrics {
    store: Store,
    config: Arc<Config>,
    ingest: Arc<Ingestor>,
    relationships: Arc<Relationships>,
    availability: Arc<Availability>,
    telemetry: Arc<Telemetry>,
    /// Probe CI references already resolved (bounded: cleared when full).
    probe_cis: Mutex<HashMap<String, String>>,
    /// The newest sample of each capacity series, for the report's "current" (bounded; after
    /// a restart the report falls back to the last daily value until samples arrive).
    latest: Mutex<HashMap<SeriesKey, (i64, f64)>>,
    /// (CI, day) pairs whose pending marker this server has written and not compacted since.
    marked: Mutex<std::collections::HashSet<(String, i64)>>,
    /// Bumped each time this server's compaction writes daily rollups (what capacity reads).
    daily_generation: std::sync::atomic::AtomicU64,
}

const MAX_MARKED: usize = 2_000_000;

/// (CI, name, instance).
type SeriesKey = (String, String, String);

const MAX_LATEST: usize = 1_000_000;

const MAX_PROBE_REFS: usize = 10_000;

impl Metrics {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        ingest: Arc<Ingestor>,
        relationships: Arc<Relationships>,
        availability: Arc<Availability>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        Self {
            store,
            config,
            ingest,
            relationships,
            availability,
            telemetry,
            probe_cis: Mutex::default(),
            latest: Mutex::default(),
            marked: Mutex::default(),
            daily_generation: Default::default(),
        }
    }

    /// Stores one batch from `agent`; answers once it is durable.
    pub async fn ingest(&self, agent: &str, b: &MetricBatch) -> Result<MetricAck, ServiceError> {
        let now = Utc::now().timestamp();
        let oldest = day_start(now) - i64::from(self.config.metrics.raw_retention_days) * DAY;
        // An hour of clock skew is tolerated; more is a broken clock, named in the error.
        validate::validate(b, oldest, now + 3_600)?;
        let host = self
            .ingest
            .host_ci(agent)
            .await
            .map_err(ingest_err)?
            .ok_or_else(|| {
                ServiceError::NotYet(
                    "this agent's host is not identified yet: its inventory must be delivered before its metrics".into(),
                )
            })?;

        let mut per_ci: BTreeMap<String, Vec<(String, String, Vec<Point>)>> = BTreeMap::new();
        let mut observations: Vec<Observation> = Vec::new();
        let interval = i64::from(b.interval_secs);

        per_ci.entry(host.clone()).or_default().extend(
            b.series
                .iter()
                .map(|s| (s.name.clone(), s.instance.clone(), points(&s.points))),
        );
        if !b.ticks.is_empty() {
            observations.push(Observation {
                ci: host.clone(),
                source: Source::Heartbeat,
                name: String::new(),
                interval,
                states: b
                    .ticks
                    .iter()
                    .map(|t| (t.at.timestamp(), crate::domain::signals::UP))
                    .collect(),
                uptimes: b
                    .ticks
                    .iter()
                    .filter_map(|t| Some((t.at.timestamp(), t.uptime_secs?)))
                    .collect(),
            });
        }
        for dev in &b.devices {
            let Some(ci) = self
                .ingest
                .device_ci(agent, &dev.address)
                .await
                .map_err(ingest_err)?
            else {
                // Its inventory poll has not identified it yet: nothing to attach the
                // samples to. Counted, and said in the log.
                tracing::warn!(agent, device = %dev.address, "metrics of a device not identified yet were skipped");
                self.telemetry.metric_samples_skipped.inc_by(
                    dev.series
                        .iter()
                        .map(|s| s.points.len() as u64)
                        .sum::<u64>(),
                );
                continue;
            };
            per_ci.entry(ci.clone()).or_default().extend(
                dev.series
                    .iter()
                    .map(|s| (s.name.clone(), s.instance.clone(), points(&s.points))),
            );
            if !dev.polls.is_empty() || !dev.uptime.is_empty() {
                let mut polls: Vec<i64> = dev.polls.iter().map(|p| p.at.timestamp()).collect();
                polls.sort_unstable();
                let gap = polls
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .filter(|g| *g > 0)
                    .min()
                    .unwrap_or(300);
                observations.push(Observation {
                    ci,
                    source: Source::Snmp,
                    name: String::new(),
                    interval: gap,
                    states: dev
                        .polls
                        .iter()
                        .map(|p| {
                            let s = if p.answered {
                                crate::domain::signals::UP
                            } else {
                                crate::domain::signals::DOWN
                            };
                            (p.at.timestamp(), s)
                        })
                        .collect(),
                    uptimes: dev
                        .uptime
                        .iter()
                        .map(|p| (p.0, p.1.max(0.0) as u64))
                        .collect(),
                });
            }
        }
        let answered: Vec<String> = observations
            .iter()
            .filter(|o| {
                o.source == Source::Snmp
                    && o.states.iter().any(|s| s.1 == crate::domain::signals::UP)
            })
            .map(|o| o.ci.clone())
            .collect();
        self.ingest.heard(agent, &host, &b.agent_version, &answered);
        let mut probes: BTreeMap<(String, String), Vec<(i64, u8)>> = BTreeMap::new();
        for p in &b.probes {
            let Some(ci) = self.probe_ci(&p.ci).await? else {
                tracing::warn!(agent, probe = %p.name, ci = %p.ci, "probe result for an unknown CI skipped");
                continue;
            };
            let state = match p.state {
                ProbeState::Up => crate::domain::signals::UP,
                ProbeState::Degraded => crate::domain::signals::DEGRADED,
                ProbeState::Down => crate::domain::signals::DOWN,
            };
            probes
                .entry((ci, format!("{agent}/{}", p.name)))
                .or_default()
                .push((p.at.timestamp(), state));
        }
        for ((ci, name), states) in probes {
            observations.push(Observation {
                ci,
                source: Source::Probe,
                name,
                interval,
                states,
                uptimes: Vec::new(),
            });
        }

        {
            let mut latest = lock(&self.latest);
            if latest.len() > MAX_LATEST {
                latest.clear();
            }
            for (ci, series) in &per_ci {
                for (name, instance, pts) in series {
                    if !crate::capacity::RESOURCES.iter().any(|r| r.0 == name) {
                        continue;
                    }
                    if let Some(&(t, v)) = pts.iter().max_by_key(|p| p.0) {
                        let e = latest
                            .entry((ci.clone(), name.clone(), instance.clone()))
                            .or_insert((t, v));
                        if t >= e.0 {
                            *e = (t, v);
                        }
                    }
                }
            }
        }
        // One record per CI and UTC day, keyed by the batch: a redelivery rewrites the same
        // records with the same samples.
        let mut records = Vec::new();
        let mut samples = 0u64;
        for (ci, series) in per_ci {
            let mut by_day: BTreeMap<i64, Body> = BTreeMap::new();
            for (name, instance, pts) in series {
                let mut split: BTreeMap<i64, Vec<Point>> = BTreeMap::new();
                for p in pts {
                    split.entry(day_start(p.0)).or_default().push(p);
                }
                for (day, pts) in split {
                    samples += pts.len() as u64;
                    by_day
                        .entry(day)
                        .or_default()
                        .s
                        .push((name.clone(), instance.clone(), pts));
                }
            }
            for (day, body) in by_day {
                let at = body
                    .s
                    .iter()
                    .flat_map(|s| s.2.iter().map(|p| p.0))
                    .min()
                    .unwrap_or(day);
                // The pending marker is written once per (CI, day) and server run; the
                // compaction forgets it before it reads, so a batch arriving meanwhile
                // writes it again.
                let mark = {
                    let mut marked = lock(&self.marked);
                    if marked.len() > MAX_MARKED {
                        marked.clear();
                    }
                    marked.insert((ci.clone(), day))
                };
                records.push(IngestRecord {
                    key: record_key(agent, &b.batch_id, &ci, day),
                    ci: ci.clone(),
                    at,
                    day,
                    body: encode_body(&body)?,
                    mark,
                });
            }
        }
        // The samples and the signals they update in one transaction: one commit per batch.
        let prepared = self.availability.prepare(observations).await?;
        let mut chunks = records.chunks(50);
        let first = chunks.next().unwrap_or_default();
        let written = async {
            self.store
                .put_metric_records(first, &prepared.writes)
                .await?;
            for chunk in chunks {
                self.store.put_metric_records(chunk, &[]).await?;
            }
            Ok::<_, StorageError>(())
        }
        .await;
        if let Err(e) = written {
            // Not acknowledged: the markers this batch claimed must be written by its retry.
            let mut marked = lock(&self.marked);
            for r in records.iter().filter(|r| r.mark) {
                marked.remove(&(r.ci.clone(), r.day));
            }
            return Err(e.into());
        }
        self.availability.committed(prepared);
        self.telemetry.metric_samples.inc_by(samples);
        Ok(MetricAck {
            batch_id: b.batch_id.clone(),
            samples,
        })
    }

    /// The CI a probe is a signal for: an id, an address, or a unique name.
    async fn probe_ci(&self, r: &str) -> Result<Option<String>, ServiceError> {
        if let Some(ci) = lock(&self.probe_cis).get(r) {
            return Ok(Some(ci.clone()));
        }
        let mut found = None;
        if valid_key(r) && !self.store.existing_cis(&[r.to_string()]).await?.is_empty() {
            found = Some(r.to_string());
        }
        if found.is_none()
            && let Ok(ip) = r.parse::<IpAddr>()
        {
            found = self.relationships.ci_by_address(&ip);
        }
        if found.is_none() {
            let named = self.store.ci_keys_named(r, None, false, Some(2)).await?;
            if let [one] = named.as_slice() {
                found = Some(one.clone());
            }
        }
        if let Some(ci) = &found {
            let mut cache = lock(&self.probe_cis);
            if cache.len() >= MAX_PROBE_REFS {
                cache.clear();
            }
            cache.insert(r.to_string(), ci.clone());
        }
        Ok(found)
    }

    /// Compacts every (CI, day) whose day ended more than the grace period before `now`.
    pub async fn compact(&self, now: i64) -> Result<CompactStats, ServiceError> {
        let before = day_start(now - self.config.metrics.compact_grace_secs as i64);
        let mut stats = CompactStats::default();
        loop {
            let pending = self.store.pending_days(before, 500).await?;
            if pending.is_empty() {
                break;
            }
            let mut by_ci: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
            for p in pending {
                by_ci.entry(p.ci).or_default().push((p.day, p.writes));
            }
            for (ci, days) in by_ci {
                // A month per transaction at most: a long backlog stays in bounded writes.
                for chunk in days.chunks(31) {
                    let s = self.compact_ci(&ci, chunk).await?;
                    stats.days += s.days;
                    stats.series += s.series;
                    stats.samples += s.samples;
                }
            }
        }
        Ok(stats)
    }

    /// Compacts days of one CI in one transaction: the daily rollups are read and written
    /// once however many days there are (a backlog after an outage, a backfill).
    async fn compact_ci(
        &self,
        ci: &str,
        days: &[(i64, i64)],
    ) -> Result<CompactStats, ServiceError> {
        let mut stats = CompactStats::default();
        let mut dailies: Option<BTreeMap<(String, String), Vec<Rollup>>> = None;
        let mut touched: std::collections::BTreeSet<(String, String)> = Default::default();
        let mut out = Vec::with_capacity(days.len());
        for &(day, writes) in days {
            // Forgotten before the read: a batch for this day arriving from now on writes
            // the marker again (and bumps its counter, so it is not deleted under it).
            lock(&self.marked).remove(&(ci.to_string(), day));
            let rows = self.store.metric_records(ci, day, day + DAY).await?;
            let mut series: BTreeMap<(String, String), Vec<Point>> = BTreeMap::new();
            let mut consumed = Vec::with_capacity(rows.len());
            // Blocks compacted before (late batches merge into them), then the records in
            // the order they were keyed: a newer sample for a timestamp wins.
            if !rows.is_empty() {
                for b in self.store.raw_day(ci, day).await? {
                    let pts = cmdb_series::decode_points(&b.data).map_err(corrupt)?;
                    series.insert((b.name, b.instance), pts);
                }
            }
            for row in rows {
                let body = decode_body(&row.body)?;
                for (name, instance, pts) in body.s {
                    stats.samples += pts.len();
                    let e = series.entry((name, instance)).or_default();
                    *e = cmdb_series::merge(e, &pts);
                }
                consumed.push(row.id);
            }
            let mut c = Compacted {
                ci: ci.to_string(),
                day,
                raw: Vec::new(),
                roll: Vec::new(),
                consumed,
                writes,
            };
            if !c.consumed.is_empty() {
                if dailies.is_none() {
                    let mut m = BTreeMap::new();
                    for b in self.store.daily_of_ci(ci).await? {
                        let r = cmdb_series::decode_rollups(&b.data).map_err(corrupt)?;
                        m.insert((b.name, b.instance), r);
                    }
                    dailies = Some(m);
                }
                let dailies = dailies.get_or_insert_with(BTreeMap::new);
                for ((name, instance), pts) in &series {
                    let key = (name.clone(), instance.clone());
                    let daily = dailies.entry(key.clone()).or_default();
                    daily.retain(|r| r.start != day);
                    daily.extend(cmdb_series::rollup(pts, Level::Day));
                    daily.sort_by_key(|r| r.start);
                    touched.insert(key);
                    c.raw.push(SeriesBlock {
                        name: name.clone(),
                        instance: instance.clone(),
                        data: cmdb_series::encode_points(pts),
                    });
                    c.roll.push(RollBlock {
                        name: name.clone(),
                        instance: instance.clone(),
                        five_min: cmdb_series::encode_rollups(&cmdb_series::rollup(
                            pts,
                            Level::FiveMin,
                        )),
                        hour: cmdb_series::encode_rollups(&cmdb_series::rollup(pts, Level::Hour)),
                    });
                }
                stats.series += c.raw.len();
            }
            stats.days += 1;
            out.push(c);
        }
        let daily: Vec<SeriesBlock> = match &dailies {
            Some(m) => touched
                .iter()
                .filter_map(|k| {
                    m.get(k).map(|r| SeriesBlock {
                        name: k.0.clone(),
                        instance: k.1.clone(),
                        data: cmdb_series::encode_rollups(r),
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        self.store.write_compacted(ci, &out, &daily).await?;
        if !daily.is_empty() {
            self.daily_generation
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        Ok(stats)
    }

    /// Drops raw blocks and 5-minute/hourly rollups past their retention.
    pub async fn expire(&self, now: i64) -> Result<(), ServiceError> {
        let m = &self.config.metrics;
        let today = day_start(now);
        self.store
            .expire_series(
                today - i64::from(m.raw_retention_days) * DAY,
                today - i64::from(m.rollup_retention_days) * DAY,
            )
            .await?;
        Ok(())
    }

    /// The series `ci` has had over the last `days` days.
    pub async fn names(&self, ci: &str, now: i64) -> Result<Vec<SeriesName>, ServiceError> {
        let mut out = std::collections::BTreeSet::new();
        for row in self
            .store
            .metric_records(ci, day_start(now) - DAY, now + DAY)
            .await?
        {
            for (name, instance, _) in decode_body(&row.body)?.s {
                out.insert(SeriesName { name, instance });
            }
        }
        for b in self.store.daily_of_ci(ci).await? {
            out.insert(SeriesName {
                name: b.name,
                instance: b.instance,
            });
        }
        Ok(out.into_iter().collect())
    }

    /// Points of one series over [from, to): raw samples, or the rollups of `level`.
    pub async fn read(
        &self,
        ci: &str,
        name: &str,
        instance: &str,
        from: i64,
        to: i64,
        level: Option<Level>,
    ) -> Result<SeriesAnswer, ServiceError> {
        let (d0, d1) = (day_start(from), day_start(to - 1));
        // Samples not compacted yet, by day.
        let mut pending: BTreeMap<i64, Vec<Point>> = BTreeMap::new();
        for row in self.store.metric_records(ci, d0, to).await? {
            for (n, i, pts) in decode_body(&row.body)?.s {
                if n == name && i == instance {
                    for p in pts {
                        let e = pending.entry(day_start(p.0)).or_default();
                        e.push(p);
                    }
                }
            }
        }
        let in_range = |t: i64| t >= from && t < to;
        let points: Vec<SeriesPoint> = match level {
            None => {
                let mut all: Vec<Point> = Vec::new();
                for (_, data) in self.store.raw_series(ci, name, instance, d0, d1).await? {
                    all.extend(cmdb_series::decode_points(&data).map_err(corrupt)?);
                }
                for pts in pending.values() {
                    all = cmdb_series::merge(&all, pts);
                }
                let all = cmdb_series::merge(&all, &[]);
                all.into_iter()
                    .filter(|p| in_range(p.0))
                    .map(|(t, v)| SeriesPoint {
                        t,
                        value: v,
                        min: None,
                        max: None,
                        p95: None,
                        count: None,
                    })
                    .collect()
            }
            Some(level) => {
                let mut rollups: BTreeMap<i64, Rollup> = BTreeMap::new();
                match level {
                    Level::Day => {
                        if let Some(bytes) = self.store.daily_series(ci, name, instance).await? {
                            for r in cmdb_series::decode_rollups(&bytes).map_err(corrupt)? {
                                rollups.insert(r.start, r);
                            }
                        }
                    }
                    Level::FiveMin | Level::Hour => {
                        for (_, b) in self.store.roll_series(ci, name, instance, d0, d1).await? {
                            let bytes = if level == Level::Hour {
                                &b.hour
                            } else {
                                &b.five_min
                            };
                            for r in cmdb_series::decode_rollups(bytes).map_err(corrupt)? {
                                rollups.insert(r.start, r);
                            }
                        }
                    }
                }
                // Days with samples not compacted yet: their windows from the day's raw
                // samples (blocks and pending records together).
                for (day, pts) in &pending {
                    let mut all = Vec::new();
                    for (_, data) in self
                        .store
                        .raw_series(ci, name, instance, *day, *day)
                        .await?
                    {
                        all.extend(cmdb_series::decode_points(&data).map_err(corrupt)?);
                    }
                    let all = cmdb_series::merge(&all, pts);
                    rollups.retain(|start, _| day_start(*start) != *day);
                    for r in cmdb_series::rollup(&all, level) {
                        rollups.insert(r.start, r);
                    }
                }
                rollups
                    .into_values()
                    .filter(|r| r.start + level.seconds() > from && r.start < to)
                    .map(SeriesPoint::from)
                    .collect()
            }
        };
        Ok(SeriesAnswer {
            ci: ci.to_string(),
            name: name.to_string(),
            instance: instance.to_string(),
            level: level.map_or("raw", Level::name).to_string(),
            from,
            to,
            points,
        })
    }

    /// Daily values of every series named one of `names` (capacity), by CI, with the days
    /// not compacted yet left out (today is incomplete anyway).
    pub async fn dailies(
        &self,
        names: &[&str],
    ) -> Result<Vec<(String, String, String, Vec<Rollup>)>, ServiceError> {
        let mut out = Vec::new();
        for (ci, b) in self.store.daily_by_names(names).await? {
            let r = cmdb_series::decode_rollups(&b.data).map_err(corrupt)?;
            out.push((ci, b.name, b.instance, r));
        }
        Ok(out)
    }
}

impl Metrics {
    /// Changes whenever this server's compaction has written daily rollups: a report computed
    /// from them at another generation is out of date.
    pub fn daily_generation(&self) -> u64 {
        self.daily_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Capacity series with a sample since this server started: `(ci, name, instance)`.
    pub fn latest_keys(&self) -> Vec<(String, String, String)> {
        lock(&self.latest).keys().cloned().collect()
    }

    /// The newest sample of a capacity series received since this server started.
    pub fn latest(&self, ci: &str, name: &str, instance: &str) -> Option<f64> {
        lock(&self.latest)
            .get(&(ci.to_string(), name.to_string(), instance.to_string()))
            .map(|p| p.1)
    }
}

/// What compacted series take in storage.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StorageFigures {
    /// Samples in compacted days (counted from the daily rollups).
    pub samples: u64,
    pub raw_bytes: u64,
    /// 5-minute and hourly rollups.
    pub rollup_bytes: u64,
    pub daily_bytes: u64,
    /// All levels, per compacted sample; `None` before any compaction.
    pub bytes_per_sample: Option<f64>,
}

impl Metrics {
    /// Sizes of the compacted series (block bytes as stored in records; SurrealDB's own
    /// per-record overhead is not in them).
    pub async fn storage(&self) -> Result<StorageFigures, ServiceError> {
        let (raw, roll, dailies) = self.store.series_sizes().await?;
        let mut samples = 0u64;
        let mut daily_bytes = 0u64;
        for d in dailies {
            daily_bytes += d.len() as u64;
            samples += cmdb_series::decode_rollups(&d)
                .map_err(corrupt)?
                .iter()
                .map(|r| u64::from(r.count))
                .sum::<u64>();
        }
        let total = raw + roll + daily_bytes;
        Ok(StorageFigures {
            samples,
            raw_bytes: raw,
            rollup_bytes: roll,
            daily_bytes,
            bytes_per_sample: (samples > 0).then(|| total as f64 / samples as f64),
        })
    }
}

fn points(p: &[cmdb_shared::metrics::Point]) -> Vec<Point> {
    p.iter().map(|p| (p.0, p.1)).collect()
}

fn record_key(agent: &str, batch: &str, ci: &str, day: i64) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{agent}\u{1f}{batch}\u{1f}{ci}\u{1f}{day}").as_bytes());
    hex::encode(&h[..12])
}

fn corrupt(e: cmdb_series::SeriesError) -> ServiceError {
    ServiceError::Storage(StorageError::Decode(serde_json::Error::io(
        std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    )))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
