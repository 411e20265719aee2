//! The availability service: observations in (heartbeats, probe results, device polls),
//! timelines, outages and SLA figures out.
//!
//! Observations are merged into stored spans per CI and signal (`domain::signals`), so a
//! record grows with state changes, not with samples. A CI's timeline is derived when asked:
//! each signal's spans become up/degraded/down where observed; a silence longer than the
//! missed intervals is down while a server was alive to hear (dated from the last
//! observation), and unknown while none was; reboots seen through uptime are down for the
//! boot's length; the worst known signal wins. A business service's timeline is derived
//! through the graph by interval algebra over its dependencies' timelines.

mod report;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::domain::signals;
use crate::error::ServiceError;
use crate::relationships::Relationships;
use crate::storage::{SignalRecord, Store};

/// Stored SLA targets and maintenance windows, as the API shows them.
pub use crate::storage::{MaintenanceRecord, ManualStateRecord, SlaRecord};
pub use report::*;

/// Which signal an observation feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The agent's own ticks: its host is up.
    Heartbeat,
    /// A probe run by an agent against a CI.
    Probe,
    /// A device's answer (or silence) to an SNMP poll.
    Snmp,
}

impl Source {
    pub fn key(self) -> &'static str {
        match self {
            Source::Heartbeat => "heartbeat",
            Source::Probe => "probe",
            Source::Snmp => "snmp",
        }
    }
}

/// Observations of one signal of one CI, from one batch.
#[derive(Debug, Clone)]
pub struct Observation {
    pub ci: String,
    pub source: Source,
    /// The probe's name (with its agent); empty for heartbeats and polls.
    pub name: String,
    /// Seconds between observations the signal promises.
    pub interval: i64,
    /// `(time, state code)`.
    pub states: Vec<(i64, u8)>,
    /// `(time, seconds since boot)`, for reboots.
    pub uptimes: Vec<(i64, u64)>,
}

/// Signals merged and ready to be written, with the locks of their CIs held.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The signal records to write.
    pub writes: Vec<SignalRecord>,
    /// Every signal of each CI after the merge (for the cache).
    after: Vec<(String, Vec<SignalRecord>)>,
    held: Vec<tokio::sync::OwnedMutexGuard<()>>,
}

/// Most CIs whose signals are cached (the cache is cleared when full; it is only a
/// read-through copy of storage).
const MAX_CACHED: usize = 200_000;

/// Reboot estimates may disagree by this much (clock jitter, rounding of uptime).
const BOOT_SLACK: i64 = 30;

/// The availability service.
#[derive(Debug)]
pub struct Availability {
    store: Store,
    config: Arc<Config>,
    relationships: Arc<Relationships>,
    impact: Arc<crate::impact::Impact>,
    /// One writer per CI's signals at a time (batches of one agent may overlap on retry).
    locks: crate::locks::KeyedLocks,
    /// The signals of recently written CIs, as stored: ingest merges into them without a
    /// read. Written through (only after a successful write), so it never holds what storage
    /// does not. Kept only on an embedded database: another server instance writing the same
    /// CI would make it stale.
    cache: Mutex<HashMap<String, Vec<SignalRecord>>>,
}

impl Availability {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        relationships: Arc<Relationships>,
        impact: Arc<crate::impact::Impact>,
    ) -> Self {
        Self {
            store,
            config,
            relationships,
            impact,
            locks: crate::locks::KeyedLocks::new(100_000),
            cache: Mutex::default(),
        }
    }

    fn lock_of(&self, ci: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.of(ci)
    }

    /// Merges observations into the signals they touch, holding those CIs' locks until the
    /// result is [`Self::committed`] (or dropped, when the write that carries it failed), so
    /// the caller can write the signals in the same transaction as the batch they came in.
    pub async fn prepare(&self, obs: Vec<Observation>) -> Result<Prepared, ServiceError> {
        let mut by_ci: BTreeMap<String, Vec<Observation>> = BTreeMap::new();
        for o in obs {
            by_ci.entry(o.ci.clone()).or_default().push(o);
        }
        let missed = i64::from(self.config.availability.missed_intervals);
        let mut prepared = Prepared::default();
        // Locks are taken in key order (a BTreeMap), so two batches touching the same CIs
        // cannot wait on each other.
        for (ci, obs) in by_ci {
            let held = self.lock_of(&ci).lock_owned().await;
            let cached = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&ci)
                .cloned();
            let current = match cached {
                Some(c) => c,
                None => self.store.signals_of(&ci).await?,
            };
            let mut stored: BTreeMap<(String, String), SignalRecord> = current
                .into_iter()
                .map(|s| ((s.source.clone(), s.name.clone()), s))
                .collect();
            let mut touched = std::collections::BTreeSet::new();
            for o in obs {
                let key = (o.source.key().to_string(), o.name.clone());
                let rec = stored.entry(key.clone()).or_insert_with(|| SignalRecord {
                    ci: ci.clone(),
                    source: o.source.key().to_string(),
                    name: o.name.clone(),
                    interval: o.interval,
                    spans: Vec::new(),
                    boot: None,
                });
                rec.interval = o.interval.max(1);
                let interval = rec.interval;
                // Reboots first: a reboot is dated from the last sign of life *before* these
                // observations.
                let (downs, boot) = if o.uptimes.is_empty() {
                    (Vec::new(), rec.boot)
                } else {
                    let seen = &rec.spans;
                    signals::reboots(
                        rec.boot,
                        |t| signals::last_seen_before(seen, interval, t),
                        &o.uptimes,
                        BOOT_SLACK,
                    )
                };
                rec.boot = boot;
                signals::merge(&mut rec.spans, &o.states, interval, interval * missed);
                touched.insert(key);
                if !downs.is_empty() {
                    let rkey = ("reboot".to_string(), o.name.clone());
                    let r = stored.entry(rkey.clone()).or_insert_with(|| SignalRecord {
                        ci: ci.clone(),
                        source: "reboot".into(),
                        name: o.name.clone(),
                        interval: 1,
                        spans: Vec::new(),
                        boot: None,
                    });
                    for (a, b) in downs {
                        if !r.spans.iter().any(|s| s.0 == a && s.1 == b) {
                            r.spans.push((a, b, signals::DOWN));
                        }
                    }
                    r.spans.sort_unstable();
                    touched.insert(rkey);
                }
            }
            prepared
                .writes
                .extend(touched.iter().filter_map(|k| stored.get(k).cloned()));
            prepared.after.push((ci, stored.into_values().collect()));
            prepared.held.push(held);
        }
        Ok(prepared)
    }

    /// The prepared signals were written: they become what the cache holds. On a remote
    /// database, which other instances write too, nothing is cached: each batch reads the
    /// signals it merges into.
    pub fn committed(&self, p: Prepared) {
        if self.store.is_remote() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > MAX_CACHED {
            cache.clear();
        }
        for (ci, all) in p.after {
            cache.insert(ci, all);
        }
    }

    /// Records that this server run is alive now (a background job calls it every
    /// `availability.alive_secs`).
    pub async fn alive(&self, run: &str, started: i64, now: i64) -> Result<(), ServiceError> {
        self.store.server_alive(run, started, now).await?;
        Ok(())
    }
}
