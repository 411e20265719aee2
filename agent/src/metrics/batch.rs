//! Metric batches: one per tick in the spool (kind `metrics`), POSTed to
//! [`METRICS_PATH`] like reports are to theirs, with the same answers (2xx acknowledged,
//! 400/413/422 rejected and moved aside, 401/403 stop, anything else retried). A resync
//! answer makes no sense for metrics and is treated as a rejection.
//!
//! When several batches are pending (the server was away), runs of up to
//! [`MAX_MERGED_TICKS`] of them (and at most [`MAX_MERGED_JSON`] bytes of JSON, all of one
//! interval and agent version) go as one merged batch, so a long backlog drains in few
//! requests. Its id is the first batch's id and the count (`<first id>+<n>`), and after a
//! failed attempt the next attempt groups the same batches, so a redelivery after a lost
//! acknowledgement carries the same id. (After a restart of the agent in between, a group
//! may come out larger than the lost one: the server must take a tick or point it already
//! holds as a duplicate.) The merged batches leave the spool only once the server
//! acknowledged them. A merged batch the server rejects is sent again batch by batch, so
//! only the bad ones are moved aside.

use std::time::Instant;

use cmdb_shared::metrics::{
    DeviceSeries, METRICS_PATH, MetricBatch, ProbeResult, Series, Tick, names,
};

use super::{SeriesSet, append_series, round};
use crate::client::{self, Delivery};
use crate::daemon::{AgentError, DeliveryOutcome};
use crate::spool::{Entry, Kind, Spool};
use crate::state::Credential;

/// Most ticks merged into one POST.
pub const MAX_MERGED_TICKS: usize = 60;
/// Most bytes of JSON (before compression) merged into one POST.
pub const MAX_MERGED_JSON: usize = 1 << 20;

/// The series of probe results: latency and, over HTTPS, days until the certificate
/// expires; instance = the probe's name.
pub fn probe_series(results: &[ProbeResult]) -> Vec<Series> {
    let mut out = Vec::new();
    for r in results {
        let mut s = SeriesSet::new(r.at.timestamp());
        if let Some(ms) = r.latency_ms {
            s.push(names::PROBE_LATENCY_MS, &r.name, ms);
        }
        if let Some(not_after) = r.cert_not_after {
            let days = (not_after - r.at).as_seconds_f64() / 86_400.0;
            s.push(names::PROBE_CERT_DAYS, &r.name, round(days, 2));
        }
        append_series(&mut out, s.into_series());
    }
    out
}

/// The batch of one tick.
pub fn tick_batch(
    batch_id: String,
    interval_secs: u64,
    sample: super::Sample,
    probes: Vec<ProbeResult>,
    devices: Vec<DeviceSeries>,
) -> MetricBatch {
    let mut series = sample.series;
    append_series(&mut series, probe_series(&probes));
    MetricBatch {
        schema_version: cmdb_shared::SCHEMA_VERSION,
        batch_id,
        agent_version: crate::daemon::AGENT_VERSION.to_string(),
        interval_secs: u32::try_from(interval_secs).unwrap_or(u32::MAX),
        // An unreadable uptime (never on a live kernel) reads as 0 rather than dropping the
        // heartbeat.
        ticks: vec![Tick {
            at: sample.at,
            uptime_secs: sample.uptime_secs,
        }],
        series,
        devices,
        probes,
    }
}

/// The id of `count` merged batches starting with `first`.
pub fn merged_id(first: &str, count: usize) -> String {
    format!("{first}+{count}")
}

/// One batch holding consecutive batches (oldest first): their ticks and probe results in
/// order, one series per name and instance with the points of all, one device entry per
/// address.
pub fn merge(batches: Vec<MetricBatch>, batch_id: String) -> Option<MetricBatch> {
    let mut it = batches.into_iter();
    let mut out = it.next()?;
    out.batch_id = batch_id;
    for b in it {
        out.ticks.extend(b.ticks);
        append_series(&mut out.series, b.series);
        out.probes.extend(b.probes);
        for d in b.devices {
            match out.devices.iter_mut().find(|o| o.address == d.address) {
                Some(o) => {
                    o.polls.extend(d.polls);
                    o.uptime.extend(d.uptime);
                    append_series(&mut o.series, d.series);
                }
                None => out.devices.push(d),
            }
        }
    }
    Some(out)
}

/// A spooled batch and the size of its JSON; `None` when it does not decode (it is then
/// sent as it is, alone, and the server says what is wrong with it).
fn decode(compressed: &[u8]) -> Option<(MetricBatch, usize)> {
    let json = zstd::stream::decode_all(compressed).ok()?;
    let batch = serde_json::from_slice(&json).ok()?;
    Some((batch, json.len()))
}

/// What one POST carries: how many spooled batches, and the compressed body.
fn prepare(
    spool: &Spool,
    entries: &[Entry],
    merge_allowed: bool,
    last: Option<&(String, usize)>,
) -> Result<(usize, Vec<u8>), AgentError> {
    let first_bytes = spool.read(&entries[0])?;
    let want = match last {
        Some((id, n)) if *id == entries[0].id => (*n).min(entries.len()),
        _ => MAX_MERGED_TICKS.min(entries.len()),
    };
    if !merge_allowed || want < 2 {
        return Ok((1, first_bytes));
    }
    let Some((first, mut size)) = decode(&first_bytes) else {
        return Ok((1, first_bytes));
    };
    let mut batches = vec![first];
    for e in &entries[1..want] {
        let Some((b, len)) = spool.read(e).ok().and_then(|bytes| decode(&bytes)) else {
            break;
        };
        if b.interval_secs != batches[0].interval_secs
            || b.agent_version != batches[0].agent_version
            || size + len > MAX_MERGED_JSON
        {
            break;
        }
        size += len;
        batches.push(b);
    }
    let n = batches.len();
    if n < 2 {
        return Ok((1, first_bytes));
    }
    let Some(merged) = merge(batches, merged_id(&entries[0].id, n)) else {
        return Ok((1, first_bytes));
    };
    let json = serde_json::to_vec(&merged).map_err(|e| AgentError::Encode(e.into()))?;
    let body = zstd::bulk::compress(&json, 3).map_err(AgentError::Encode)?;
    Ok((n, body))
}

/// Where a delivery of metric batches got to between calls: the group of an attempt that
/// was not answered (failed, or abandoned when the next tick came), so the next attempt
/// sends the same one.
#[derive(Debug, Default)]
pub struct Resume {
    last: Option<(String, usize)>,
}

/// Sends the pending metric batches, oldest first and merged, until one cannot be
/// delivered or `deadline` (the next tick) comes.
pub async fn deliver(
    spool: &Spool,
    http: &reqwest::Client,
    cred: &Credential,
    deadline: Option<Instant>,
    resume: &mut Resume,
) -> Result<DeliveryOutcome, AgentError> {
    let entries: Vec<Entry> = spool
        .entries()?
        .into_iter()
        .filter(|e| e.kind == Kind::Metrics)
        .collect();
    let mut out = DeliveryOutcome::default();
    let mut merge_allowed = true;
    let mut i = 0;
    while i < entries.len() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            out.pending = entries.len() - i;
            return Ok(out);
        }
        let rest = &entries[i..];
        let (count, body) = prepare(spool, rest, merge_allowed, resume.last.as_ref())?;
        let group = &rest[..count];
        // Remembered before sending: if this attempt is lost or abandoned mid-way, the next
        // one sends the same group under the same id.
        resume.last = Some((rest[0].id.clone(), count));
        let answer = client::deliver(
            http,
            &cred.server,
            METRICS_PATH,
            &cred.token,
            body,
            spool.dropped(),
        )
        .await;
        match answer {
            Delivery::Acked => {
                for e in group {
                    spool.remove(e)?;
                }
                resume.last = None;
                out.delivered += count;
                i += count;
            }
            Delivery::Rejected(_) | Delivery::Resync if count > 1 => {
                tracing::warn!(batch = %merged_id(&rest[0].id, count), "server refused a merged metric batch; sending its batches one by one");
                resume.last = None;
                merge_allowed = false;
            }
            Delivery::Rejected(why) => {
                tracing::error!(batch = %rest[0].id, reason = %why, "server rejected a metric batch; moved to spool/rejected");
                spool.reject(&rest[0])?;
                resume.last = None;
                i += 1;
            }
            Delivery::Resync => {
                tracing::error!(batch = %rest[0].id, "server asked a metric batch for a resync, which does not apply to metrics; moved to spool/rejected");
                spool.reject(&rest[0])?;
                resume.last = None;
                i += 1;
            }
            Delivery::Unauthorized(why) => {
                tracing::error!(reason = %why, "server refused the agent credential; re-enroll the agent");
                out.pending = entries.len() - i;
                out.stopped = Some(why);
                return Ok(out);
            }
            Delivery::Retry(why) => {
                tracing::warn!(batch = %rest[0].id, count, reason = %why, pending = entries.len() - i, "metrics delivery failed; will retry");
                out.pending = entries.len() - i;
                out.stopped = Some(why);
                return Ok(out);
            }
            Delivery::Later(why, after) => {
                tracing::warn!(batch = %rest[0].id, count, reason = %why, retry_after_secs = after.as_secs(), "server busy; metrics wait as it said");
                out.pending = entries.len() - i;
                out.stopped = Some(why);
                out.retry_after = Some(after);
                return Ok(out);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
