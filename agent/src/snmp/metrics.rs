//! Metrics of polled devices: a light poll every `snmp.metrics_interval_secs` between the
//! inventory polls, and the series both kinds of poll yield for the next metric batch.
//!
//! A metrics poll GETs sysUpTime and walks only the interface columns of counters and speeds
//! (ifHCInOctets/ifHCOutOctets, else ifInOctets/ifOutOctets; ifHighSpeed, else ifSpeed;
//! ifIn/OutErrors, ifIn/OutDiscards) and HOST-RESOURCES storage and processor load, where
//! the device has them. An inventory poll reads the same values with everything else, so
//! it is a sample too: a device is polled for metrics only when its last poll of either
//! kind is `metrics_interval_secs` old.
//!
//! From two consecutive samples of a device (wall-clock time between them):
//! - `if.in_util`/`if.out_util`: octets × 8 per second, percent of the interface speed
//!   (ifHighSpeed, Mbit/s); only where the speed is known;
//! - `if.in_errors`, `if.out_errors`, `if.in_discards`, `if.out_discards`: per second;
//!
//! and from each sample alone `hr.cpu` (average of hrProcessorLoad) and
//! `hr.storage_used_pct` (hrStorageUsed / hrStorageSize, by hrStorageDescr). The instance of
//! an interface series is its name (ifName, else ifDescr) from the device's last inventory,
//! else its ifIndex.
//!
//! Counters: 64-bit ones only grow, so a decrease is a reset and gives no point. A 32-bit
//! counter that decreased wrapped once ([`super::mib::interfaces::counter_delta`]) — unless
//! the device restarted: when sysUpTime advanced less than the wall clock (a 497-day wrap of
//! sysUpTime itself allowed for), the interval gives no rates. 32-bit octet counters give no
//! rate where the link could carry 2³² bytes within the interval (it may have wrapped more
//! than once unseen) nor where a wrap implies more than the link can carry; 32-bit error
//! and discard counters follow the host rule ([`crate::metrics::increase`]).
//!
//! Each poll is also a reachability signal, a [`PollResult`]: answered unless it timed out
//! or could not be sent (an authentication or protocol error is an answer). sysUpTime
//! readings go to the batch's device uptime, in seconds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cmdb_shared::device::{DeviceInventory, DeviceMetrics, InterfaceCounters};
use cmdb_shared::metrics::{DeviceSeries, Point, PollResult, Series, names};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::client::{Client, Options, SnmpError};
use super::mib::{host_resources, interfaces, system};
use super::oid::{Oid, Walk};
use super::poller::Target;
use crate::metrics::{SeriesSet, append_series, increase, round};

/// sysUpTime.0.
pub const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";

/// What a metrics poll walks, side by side per group: the interface columns, then the
/// HOST-RESOURCES ones.
pub fn walk_plan() -> Vec<Vec<Oid>> {
    let entry = |s: &str, cols: &[u32]| {
        let e: Oid = crate::oid!(s);
        cols.iter().map(|c| e.child(&[*c])).collect::<Vec<_>>()
    };
    let mut ifs = entry(interfaces::IF_ENTRY, &[5, 10, 13, 14, 16, 19, 20]);
    ifs.extend(entry(interfaces::IF_X_ENTRY, &[6, 10, 15]));
    let mut hr = entry(&format!("{}.1", host_resources::STORAGE), &[2, 3, 4, 5, 6]);
    hr.extend(entry(&format!("{}.1", host_resources::PROCESSOR), &[2]));
    vec![ifs, hr]
}

/// One metrics poll: sysUpTime and the columns of [`walk_plan`].
pub async fn poll(client: &mut Client) -> Result<Walk, SnmpError> {
    let mut walk = client.get(&[crate::oid!(SYS_UPTIME)]).await?;
    for roots in walk_plan() {
        client.walk_side_by_side(&roots, &mut walk).await?;
    }
    Ok(walk)
}

/// What one poll of a device measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSample {
    pub at: DateTime<Utc>,
    /// sysUpTime, hundredths of a second.
    pub uptime_ticks: Option<u32>,
    pub counters: Vec<InterfaceCounters>,
    /// Mbit/s by ifIndex.
    pub speeds: BTreeMap<u32, u64>,
    /// Average hrProcessorLoad, percent.
    pub cpu: Option<f64>,
    /// Percent used by hrStorageDescr.
    pub storage: Vec<(String, f64)>,
}

impl DeviceSample {
    /// The sample of a metrics poll.
    pub fn from_walk(walk: &Walk, at: DateTime<Utc>) -> Self {
        let mut hr = DeviceInventory::default();
        host_resources::apply(walk, &mut hr);
        let (cpu, storage) = host_resources_use(&hr);
        DeviceSample {
            at,
            uptime_ticks: system::uptime(walk),
            counters: interfaces::counters(walk),
            speeds: interfaces::speeds(walk),
            cpu,
            storage,
        }
    }

    /// The sample an inventory poll took with the inventory.
    pub fn from_inventory(inv: &DeviceInventory, m: &DeviceMetrics, at: DateTime<Utc>) -> Self {
        let (cpu, storage) = host_resources_use(inv);
        DeviceSample {
            at: m.at.unwrap_or(at),
            uptime_ticks: m.uptime_ticks,
            counters: m.interfaces.clone(),
            speeds: inv
                .interfaces
                .iter()
                .filter_map(|i| Some((i.index, i.speed_mbps.filter(|s| *s > 0)?)))
                .collect(),
            cpu,
            storage,
        }
    }
}

/// Average processor load and storage use per description (a repeated description gets its
/// index appended, so instances stay distinct).
fn host_resources_use(inv: &DeviceInventory) -> (Option<f64>, Vec<(String, f64)>) {
    let cpu = (!inv.processors.is_empty()).then(|| {
        inv.processors
            .iter()
            .map(|p| f64::from(p.load_percent))
            .sum::<f64>()
            / inv.processors.len() as f64
    });
    let mut storage: Vec<(String, f64)> = Vec::new();
    for s in inv.storage.iter().filter(|s| s.size_bytes > 0) {
        let mut name = if s.description.is_empty() {
            format!("hrStorage.{}", s.index)
        } else {
            s.description.clone()
        };
        if storage.iter().any(|(n, _)| *n == name) {
            name = format!("{name} #{}", s.index);
        }
        let pct = s.used_bytes.min(s.size_bytes) as f64 * 100.0 / s.size_bytes as f64;
        storage.push((name, pct));
    }
    (cpu, storage)
}

/// True when sysUpTime advanced less than the wall clock did: the device (or its SNMP agent)
/// restarted between the samples. A decrease that matches the elapsed time is sysUpTime's
/// own wrap at 2³² hundredths (497 days).
pub fn restarted(before: u32, after: u32, elapsed_secs: f64) -> bool {
    let advanced = if after >= before {
        f64::from(after - before)
    } else {
        (u64::from(after) + (1u64 << 32) - u64::from(before)) as f64
    };
    let expected = elapsed_secs * 100.0;
    // 10 % and 10 s of slack: the wall clock is read after a poll, which takes a while.
    let slack = expected * 0.1 + 1000.0;
    advanced < expected - slack || (after < before && advanced > expected + slack)
}

/// Octets per second from a pair of octet counters, or `None` where the rules in the module
/// documentation leave it unknown.
fn octet_rate(before: u64, after: u64, hc: bool, speed_mbps: u64, dt: f64) -> Option<f64> {
    let most = speed_mbps as f64 * 1e6 / 8.0 * dt;
    if !hc && most >= (1u64 << 32) as f64 {
        return None;
    }
    let d = interfaces::counter_delta(before, after, hc)?;
    if !hc && after < before && d as f64 > most {
        return None;
    }
    Some(d as f64 / dt)
}

/// The series of a sample, with rates against the previous sample of the device.
pub fn series_between(
    prev: Option<&DeviceSample>,
    cur: &DeviceSample,
    if_names: &BTreeMap<u32, String>,
) -> Vec<Series> {
    let mut out = SeriesSet::new(cur.at.timestamp());
    if let Some(c) = cur.cpu {
        out.push(names::HR_CPU, "", round(c, 2));
    }
    for (descr, pct) in &cur.storage {
        out.push(names::HR_STORAGE_USED_PCT, descr, round(*pct, 2));
    }
    let Some(prev) = prev else {
        return out.into_series();
    };
    let dt = (cur.at - prev.at).as_seconds_f64();
    if dt <= 0.0 {
        return out.into_series();
    }
    if let (Some(a), Some(b)) = (prev.uptime_ticks, cur.uptime_ticks)
        && restarted(a, b, dt)
    {
        return out.into_series();
    }
    let before: BTreeMap<u32, &InterfaceCounters> =
        prev.counters.iter().map(|c| (c.index, c)).collect();
    for c in &cur.counters {
        let Some(p) = before.get(&c.index) else {
            continue;
        };
        let name = if_names
            .get(&c.index)
            .cloned()
            .unwrap_or_else(|| c.index.to_string());
        if let Some(speed) = cur.speeds.get(&c.index).copied().filter(|s| *s > 0)
            && p.high_capacity == c.high_capacity
        {
            let util = |a: Option<u64>, b: Option<u64>| {
                octet_rate(a?, b?, c.high_capacity, speed, dt)
                    .map(|r| round(r * 8.0 * 100.0 / (speed as f64 * 1e6), 2))
            };
            if let Some(u) = util(p.in_octets, c.in_octets) {
                out.push(names::IF_IN_UTIL, &name, u);
            }
            if let Some(u) = util(p.out_octets, c.out_octets) {
                out.push(names::IF_OUT_UTIL, &name, u);
            }
        }
        for (series, a, b) in [
            (names::IF_IN_ERRORS, p.in_errors, c.in_errors),
            (names::IF_OUT_ERRORS, p.out_errors, c.out_errors),
            (names::IF_IN_DISCARDS, p.in_discards, c.in_discards),
            (names::IF_OUT_DISCARDS, p.out_discards, c.out_discards),
        ] {
            if let (Some(a), Some(b)) = (a, b)
                && let Some(d) = increase(a, b, None)
            {
                out.push(series, &name, round(d as f64 / dt, 3));
            }
        }
    }
    out.into_series()
}

/// Whether a failed poll still means the device answered.
fn answered(e: &SnmpError) -> bool {
    !matches!(e, SnmpError::Timeout { .. } | SnmpError::Io { .. })
}

#[derive(Debug, Default)]
struct Device {
    last: Option<DeviceSample>,
    /// Interface names by ifIndex, from the last inventory.
    names: BTreeMap<u32, String>,
    /// When it was last polled (either kind), answered or not.
    polled: Option<Instant>,
}

/// The devices' samples and the series waiting for the next metric batch, shared by the
/// inventory polls (which sample too) and the metrics polls.
#[derive(Debug)]
pub struct DeviceFeed {
    interval: Duration,
    targets: Vec<Target>,
    /// By [`Target::key`].
    devices: BTreeMap<String, Device>,
    /// By address, for the next batch.
    pending: BTreeMap<String, DeviceSeries>,
}

/// The feed as the daemon's concurrent loops share it.
pub type SharedFeed = Arc<Mutex<DeviceFeed>>;

/// Locks the feed; a panic elsewhere while it was held leaves data that is still usable.
pub fn lock(feed: &SharedFeed) -> MutexGuard<'_, DeviceFeed> {
    feed.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl DeviceFeed {
    /// A feed polling each device every `interval` (`snmp.metrics_interval_secs`).
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            targets: Vec::new(),
            devices: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// The devices to poll (the poller's current targets). A new one is first polled for
    /// metrics an interval from now: the poller inventories it first.
    pub fn set_targets(&mut self, targets: Vec<Target>, now: Instant) {
        self.devices
            .retain(|key, _| targets.iter().any(|t| &t.key() == key));
        for t in &targets {
            self.devices
                .entry(t.key())
                .or_default()
                .polled
                .get_or_insert(now);
        }
        self.targets = targets;
    }

    fn observe(
        &mut self,
        target: &Target,
        at: DateTime<Utc>,
        answered: bool,
        sample: Option<DeviceSample>,
        if_names: Option<BTreeMap<u32, String>>,
        now: Instant,
    ) {
        let dev = self.devices.entry(target.key()).or_default();
        dev.polled = Some(now);
        if let Some(n) = if_names {
            dev.names = n;
        }
        let pending = self
            .pending
            .entry(target.address.clone())
            .or_insert_with(|| DeviceSeries {
                address: target.address.clone(),
                polls: Vec::new(),
                uptime: Vec::new(),
                series: Vec::new(),
            });
        pending.polls.push(PollResult { at, answered });
        if let Some(s) = sample {
            if let Some(t) = s.uptime_ticks {
                pending
                    .uptime
                    .push(Point(s.at.timestamp(), round(f64::from(t) / 100.0, 2)));
            }
            append_series(
                &mut pending.series,
                series_between(dev.last.as_ref(), &s, &dev.names),
            );
            dev.last = Some(s);
        }
    }

    /// Sets the interface names of `target` (ifIndex → name), as an inventory would.
    pub fn set_names(&mut self, target: &Target, if_names: BTreeMap<u32, String>) {
        self.devices.entry(target.key()).or_default().names = if_names;
    }

    /// Records an inventory poll of `target`.
    pub fn record_inventory(
        &mut self,
        target: &Target,
        outcome: Result<(&DeviceInventory, &DeviceMetrics), &SnmpError>,
        now: Instant,
    ) {
        let at = Utc::now();
        match outcome {
            Ok((inv, m)) => {
                let sample = DeviceSample::from_inventory(inv, m, at);
                let if_names = inv
                    .interfaces
                    .iter()
                    .map(|i| (i.index, i.name.clone()))
                    .collect();
                self.observe(target, sample.at, true, Some(sample), Some(if_names), now);
            }
            Err(e) => self.observe(target, at, answered(e), None, None, now),
        }
    }

    /// Records a metrics poll of `target` that ended at `at`.
    pub fn record_poll(
        &mut self,
        target: &Target,
        at: DateTime<Utc>,
        outcome: Result<&Walk, &SnmpError>,
        now: Instant,
    ) {
        match outcome {
            Ok(walk) => {
                let sample = DeviceSample::from_walk(walk, at);
                self.observe(target, at, true, Some(sample), None, now);
            }
            Err(e) => {
                tracing::warn!(target = %target.address, error = %e, "device metrics poll failed");
                self.observe(target, at, answered(e), None, None, now);
            }
        }
    }

    /// The targets due for a metrics poll at `now`, marked as polled.
    pub fn take_due(&mut self, now: Instant) -> Vec<Target> {
        let interval = self.interval;
        let mut due = Vec::new();
        for t in &self.targets {
            let dev = self.devices.entry(t.key()).or_default();
            if dev.polled.is_none_or(|p| p + interval <= now) {
                dev.polled = Some(now);
                due.push(t.clone());
            }
        }
        due
    }

    /// When the next metrics poll is due, if there is any device.
    pub fn next_due(&self) -> Option<Instant> {
        self.targets
            .iter()
            .filter_map(|t| self.devices.get(&t.key())?.polled)
            .map(|p| p + self.interval)
            .min()
    }

    /// The series gathered since the last call, for a metric batch.
    pub fn take_pending(&mut self) -> Vec<DeviceSeries> {
        std::mem::take(&mut self.pending).into_values().collect()
    }
}

/// Polls the targets' metrics, `concurrency` at a time; outcomes in the targets' order,
/// each with the time it ended.
pub async fn poll_many(
    targets: &[Target],
    options: Options,
    concurrency: usize,
) -> Vec<(DateTime<Utc>, Result<Walk, SnmpError>)> {
    let mut out: Vec<(usize, DateTime<Utc>, Result<Walk, SnmpError>)> =
        futures_util::stream::iter(targets.iter().enumerate())
            .map(|(i, t)| async move {
                let mut client = Client::new(t.address.clone(), t.credentials.clone(), options);
                let r = poll(&mut client).await;
                (i, Utc::now(), r)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, at, r)| (at, r)).collect()
}

/// The metrics polls of the daemon: polls the devices that are due, forever.
pub async fn run(feed: SharedFeed, options: Options, concurrency: usize) {
    loop {
        let due = lock(&feed).take_due(Instant::now());
        if !due.is_empty() {
            let results = poll_many(&due, options, concurrency).await;
            let mut f = lock(&feed);
            let now = Instant::now();
            for (t, (at, r)) in due.iter().zip(results) {
                f.record_poll(t, at, r.as_ref(), now);
            }
        }
        let now = Instant::now();
        // New targets appear when the poller sweeps: look again at least every minute.
        let interval = lock(&feed).interval.min(Duration::from_secs(60));
        let next = lock(&feed)
            .next_due()
            .unwrap_or(now + interval)
            .min(now + interval);
        tokio::time::sleep_until(next).await;
    }
}

#[cfg(test)]
mod tests;
