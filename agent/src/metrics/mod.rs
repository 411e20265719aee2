//! Host metrics: what a metrics tick samples on this host, turned into gauge series.
//!
//! One file per source, each reading under the collectors' root ([`Context`], so tests run
//! on fixture trees): [`cpu`] (`/proc/stat`), [`system`] (load, uptime, process count),
//! [`memory`] (`/proc/meminfo`), [`filesystems`] (the real filesystems, `statvfs`),
//! [`disks`] (`/proc/diskstats`), [`net`] (`/proc/net/dev`, link speed). [`Sampler`] keeps
//! the previous tick's counters and turns them into rates; [`batch`] builds, merges and
//! delivers metric batches; [`role`] is the daemon's metrics loop.
//!
//! Counters become per-second rates over the time between two ticks (monotonic clock), so
//! the first tick has no rate and no CPU point. A counter that went down was reset or
//! wrapped; see [`increase`] for the rule. Values are rounded — percent to 0.01, bytes and
//! bytes per second to whole numbers, other rates to 0.001, load to 0.01 — which makes the
//! server's compression of series much better and drops only noise.
//!
//! A source that cannot be read (a container without `/proc/diskstats`) drops its own
//! series, with one warning; the tick goes on.

pub mod batch;
pub mod cpu;
pub mod disks;
pub mod filesystems;
pub mod memory;
pub mod net;
pub mod role;
pub mod system;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use cmdb_shared::metrics::{Point, Series, check_series_key, names};

use crate::collect::{CollectError, Context};

/// `v` rounded to `decimals` places. Dividing by the power of ten (rather than multiplying
/// by its inverse) gives the double closest to the decimal, which JSON prints short.
pub fn round(v: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

const WRAP_32: u64 = 1 << 32;

/// The increase of a kernel counter from `prev` to `cur`, or `None` when it was reset.
///
/// A counter that went down either wrapped or was reset (a driver reload, an interface
/// re-created). It is taken as one wrap of a 32-bit counter (some drivers, and 32-bit
/// kernels, keep 32-bit counters in `/proc/net/dev` and `/proc/diskstats`) when `prev` fits
/// in 32 bits and the wrapped increase `cur + 2³² − prev` is plausible: at most
/// `max_plausible` when a bound is known (what the link can carry in the interval), else
/// under half the 32-bit range (2³¹) — a counter near its top that restarted near zero.
/// Otherwise it is a reset, and that interval has no point rather than a negative or huge
/// rate.
pub fn increase(prev: u64, cur: u64, max_plausible: Option<u64>) -> Option<u64> {
    if cur >= prev {
        return Some(cur - prev);
    }
    if prev >= WRAP_32 {
        return None;
    }
    let wrapped = WRAP_32 - prev + cur;
    (wrapped <= max_plausible.unwrap_or(WRAP_32 / 2)).then_some(wrapped)
}

/// The one-point series of a sample, in the order they are pushed.
#[derive(Debug)]
pub struct SeriesSet {
    at: i64,
    series: Vec<Series>,
}

impl SeriesSet {
    /// Series sampled at `at` (unix seconds).
    pub fn new(at: i64) -> Self {
        Self {
            at,
            series: Vec::new(),
        }
    }

    /// Adds a point; a value that is not finite, or a key the server would refuse (an
    /// instance with control characters or too long), is left out so it cannot get the
    /// whole batch rejected.
    pub fn push(&mut self, name: &str, instance: &str, value: f64) {
        if !value.is_finite() {
            return;
        }
        if let Err(e) = check_series_key(name, instance) {
            tracing::debug!(error = %e, "series left out");
            return;
        }
        self.series.push(Series {
            name: name.to_string(),
            instance: instance.to_string(),
            points: vec![Point(self.at, value)],
        });
    }

    pub fn into_series(self) -> Vec<Series> {
        self.series
    }
}

/// Appends `more` to `into`, the points of a series already there to that series (so a
/// merged batch has one entry per name and instance).
pub fn append_series(into: &mut Vec<Series>, more: Vec<Series>) {
    let mut index: HashMap<(String, String), usize> = into
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.name.clone(), s.instance.clone()), i))
        .collect();
    for s in more {
        match index.get(&(s.name.clone(), s.instance.clone())) {
            Some(&i) => into[i].points.extend(s.points),
            None => {
                index.insert((s.name.clone(), s.instance.clone()), into.len());
                into.push(s);
            }
        }
    }
}

/// One tick's sample of the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    /// Seconds since boot, when known.
    pub uptime_secs: Option<u64>,
    pub series: Vec<Series>,
}

/// Counters of the previous tick.
#[derive(Debug)]
struct Previous {
    mono: Instant,
    cpu: Option<cpu::Times>,
    disks: BTreeMap<String, disks::Counters>,
    net: BTreeMap<String, net::Counters>,
}

/// Samples the host tick after tick, keeping what rates need.
#[derive(Debug, Default)]
pub struct Sampler {
    prev: Option<Previous>,
    fs: filesystems::Stats,
    /// Sources that failed and were logged (once each).
    warned: BTreeSet<&'static str>,
}

impl Sampler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Samples the host now.
    pub fn sample(&mut self, ctx: &Context) -> Sample {
        self.sample_at(ctx, Instant::now(), Utc::now())
    }

    fn ok<T>(&mut self, source: &'static str, r: Result<T, CollectError>) -> Option<T> {
        match r {
            Ok(v) => {
                self.warned.remove(source);
                Some(v)
            }
            Err(e) => {
                let msg = crate::client::error_chain(&e);
                if self.warned.insert(source) {
                    tracing::warn!(source, error = %msg, "metrics source failed; its series are left out");
                } else {
                    tracing::debug!(source, error = %msg, "metrics source failed");
                }
                None
            }
        }
    }

    /// Samples the host as of `mono` (for rates) and `at` (the points' time).
    pub fn sample_at(&mut self, ctx: &Context, mono: Instant, at: DateTime<Utc>) -> Sample {
        let mut s = SeriesSet::new(at.timestamp());
        let prev = self.prev.take();
        let dt = prev
            .as_ref()
            .map(|p| mono.saturating_duration_since(p.mono).as_secs_f64())
            .filter(|d| *d > 0.0);

        let cpu = self.ok("cpu", cpu::read(ctx));
        if let (Some(a), Some(b)) = (prev.as_ref().and_then(|p| p.cpu), cpu)
            && let Some(u) = cpu::utilisation(a, b)
        {
            s.push(names::CPU_UTIL, "", round(u, 2));
        }

        if let Some([l1, l5, l15]) = self.ok("load", system::load(ctx)) {
            s.push(names::LOAD_1, "", round(l1, 2));
            s.push(names::LOAD_5, "", round(l5, 2));
            s.push(names::LOAD_15, "", round(l15, 2));
        }

        if let Some(m) = self.ok("memory", memory::read(ctx)) {
            let used = m.total - m.available;
            s.push(names::MEM_USED, "", used as f64);
            s.push(names::MEM_AVAILABLE, "", m.available as f64);
            if m.total > 0 {
                s.push(
                    names::MEM_USED_PCT,
                    "",
                    round(used as f64 * 100.0 / m.total as f64, 2),
                );
            }
            let swap_used = m.swap_total.saturating_sub(m.swap_free);
            s.push(names::SWAP_USED, "", swap_used as f64);
            if m.swap_total > 0 {
                s.push(
                    names::SWAP_USED_PCT,
                    "",
                    round(swap_used as f64 * 100.0 / m.swap_total as f64, 2),
                );
            }
        }

        let fs = self.fs.read(ctx);
        for u in self.ok("filesystems", fs).unwrap_or_default() {
            let mp = u.mount_point.as_str();
            s.push(names::FS_USED, mp, u.used as f64);
            s.push(names::FS_FREE, mp, u.free as f64);
            if let Some(p) = u.used_pct() {
                s.push(names::FS_USED_PCT, mp, round(p, 2));
            }
            if let Some((used, free)) = u.inodes {
                s.push(names::FS_INODES_USED, mp, used as f64);
                s.push(names::FS_INODES_FREE, mp, free as f64);
            }
        }

        let disks = self.ok("disks", disks::read(ctx)).unwrap_or_default();
        if let (Some(dt), Some(p)) = (dt, prev.as_ref()) {
            for (name, c) in &disks {
                let Some(b) = p.disks.get(name) else { continue };
                let rate = |a: u64, b: u64, scale: u64| {
                    increase(a, b, None).map(|d| d.saturating_mul(scale) as f64 / dt)
                };
                let series = [
                    (
                        names::DISK_READ_BYTES,
                        rate(b.read_sectors, c.read_sectors, 512),
                        0,
                    ),
                    (
                        names::DISK_WRITE_BYTES,
                        rate(b.write_sectors, c.write_sectors, 512),
                        0,
                    ),
                    (names::DISK_READ_OPS, rate(b.reads, c.reads, 1), 3),
                    (names::DISK_WRITE_OPS, rate(b.writes, c.writes, 1), 3),
                ];
                for (n, v, decimals) in series {
                    if let Some(v) = v {
                        s.push(n, name, round(v, decimals));
                    }
                }
            }
        }

        let net = self.ok("net", net::read(ctx)).unwrap_or_default();
        if let (Some(dt), Some(p)) = (dt, prev.as_ref()) {
            for (name, c) in &net {
                let Some(b) = p.net.get(name) else { continue };
                let speed = net::speed_mbps(ctx, name);
                // What the link can carry in the interval bounds a plausible byte wrap.
                let link_bytes = speed.map(|m| (m as f64 * 1e6 / 8.0 * dt) as u64);
                let rate = |a: u64, b: u64, bound: Option<u64>| {
                    increase(a, b, bound).map(|d| d as f64 / dt)
                };
                let rx = rate(b.rx_bytes, c.rx_bytes, link_bytes);
                let tx = rate(b.tx_bytes, c.tx_bytes, link_bytes);
                let series = [
                    (names::NET_RX_BYTES, rx, 0),
                    (names::NET_TX_BYTES, tx, 0),
                    (
                        names::NET_RX_PACKETS,
                        rate(b.rx_packets, c.rx_packets, None),
                        3,
                    ),
                    (
                        names::NET_TX_PACKETS,
                        rate(b.tx_packets, c.tx_packets, None),
                        3,
                    ),
                    (
                        names::NET_RX_ERRORS,
                        rate(b.rx_errors, c.rx_errors, None),
                        3,
                    ),
                    (
                        names::NET_TX_ERRORS,
                        rate(b.tx_errors, c.tx_errors, None),
                        3,
                    ),
                    (names::NET_RX_DROPS, rate(b.rx_drops, c.rx_drops, None), 3),
                    (names::NET_TX_DROPS, rate(b.tx_drops, c.tx_drops, None), 3),
                ];
                for (n, v, decimals) in series {
                    if let Some(v) = v {
                        s.push(n, name, round(v, decimals));
                    }
                }
                if let (Some(speed), Some(rx), Some(tx)) = (speed, rx, tx) {
                    let util = rx.max(tx) * 8.0 * 100.0 / (speed as f64 * 1e6);
                    s.push(names::NET_UTIL, name, round(util, 2));
                }
            }
        }

        if let Some(n) = self.ok("processes", system::processes(ctx)) {
            s.push(names::PROC_COUNT, "", n as f64);
        }

        let mut uptime = self
            .ok("uptime", system::uptime(ctx))
            .map(|u| u.floor() as u64);
        if uptime.is_none() && ctx.is_live() {
            uptime = u64::try_from(rustix::system::sysinfo().uptime).ok();
        }
        if let Some(u) = uptime {
            s.push(names::UPTIME, "", u as f64);
        }

        self.prev = Some(Previous {
            mono,
            cpu,
            disks,
            net,
        });
        Sample {
            at,
            uptime_secs: uptime,
            series: s.into_series(),
        }
    }
}

#[cfg(test)]
mod tests;
