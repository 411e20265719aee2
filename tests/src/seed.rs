//! Estates the load generators push through the API, as agents and users push them: hosts
//! enrolled and inventoried by simulated agents, their metric history (90 days of capacity
//! values, 30 days of heartbeats with outages), and the bodies those requests carry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use cmdb_shared::hash::inventory_hashes;
use cmdb_shared::metrics::{MetricBatch, Point, Series, Tick};
use cmdb_shared::*;

use crate::Server;
use crate::load::{ClientFor, post_all};

/// Request bodies with the agent token each is sent with.
pub type Bodies = Vec<(String, Vec<u8>)>;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// A metric batch as the agent builds one.
pub fn batch(id: String, interval: u32, ticks: Vec<Tick>, series: Vec<Series>) -> MetricBatch {
    MetricBatch {
        schema_version: SCHEMA_VERSION,
        batch_id: id,
        agent_version: "bench".into(),
        interval_secs: interval,
        ticks,
        series,
        devices: vec![],
        probes: vec![],
    }
}

/// A body as agents send it: JSON, zstd-compressed.
pub fn zstd_json(v: &impl serde::Serialize) -> anyhow::Result<Vec<u8>> {
    Ok(zstd::bulk::compress(&serde_json::to_vec(v)?, 3)?)
}

/// A heartbeat tick at `t` of a host booted at `boot`.
pub fn tick(t: i64, boot: i64) -> Tick {
    Tick {
        at: chrono::DateTime::from_timestamp(t, 0).unwrap_or_default(),
        uptime_secs: Some((t - boot).max(0) as u64),
    }
}

/// Configuration for a simulated fleet that enrolls all at once, past the enrollment rate
/// limit (60 a minute) a real fleet's first contacts stay under.
pub const FLEET_ENROLLS: &str = "[auth]\nenroll_per_minute = 100000\n";

/// The real server, set up to take months of metric history pushed at once: raw retention
/// covers the 90 days pushed now, and compaction runs every second with no grace, so daily
/// rollups exist without waiting for midnight; and [`FLEET_ENROLLS`].
pub fn server_for_history() -> anyhow::Result<Server> {
    let mut server = Server::start()?;
    server.configure(&format!(
        "[metrics]\ncompact_secs = 1\ncompact_grace_secs = 0\nraw_retention_days = 120\n\
         {FLEET_ENROLLS}"
    ))?;
    Ok(server)
}

/// The start of the UTC day of `now` (seconds).
pub fn day_start(now: i64) -> i64 {
    now - now.rem_euclid(DAY)
}

/// Enrolls one simulated agent per hostname with the fleet token; their agent tokens, in
/// order.
pub async fn enroll(
    client: &reqwest::Client,
    base: &str,
    enroll_token: &str,
    hostnames: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut tokens = Vec::with_capacity(hostnames.len());
    for hostname in hostnames {
        let body = serde_json::to_vec(&EnrollRequest {
            hostname: hostname.clone(),
            agent_version: "bench".into(),
        })?;
        // A 503 (enrollments of the same token conflicting) is retried, as its Retry-After
        // asks.
        let mut attempt = 0;
        let resp = loop {
            let r = client
                .post(format!("{base}/api/v1/enroll"))
                .bearer_auth(enroll_token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await?;
            if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE && attempt < 10 {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                continue;
            }
            break r.error_for_status()?.bytes().await?;
        };
        let resp: EnrollResponse = serde_json::from_slice(&resp)?;
        tokens.push(resp.token);
    }
    Ok(tokens)
}

/// [`enroll`], then each agent delivers its first full inventory (a host CI is created for
/// each); their agent tokens, in order.
pub async fn enroll_hosts(
    client: &reqwest::Client,
    base: &str,
    enroll_token: &str,
    hostnames: &[String],
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let tokens = enroll(client, base, enroll_token, hostnames).await?;
    let reports: Vec<(String, Vec<u8>)> = hostnames
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, (hostname, token))| {
            let inv = Inventory {
                identity: Some(Identity {
                    hostname: hostname.clone(),
                    machine_id: Some(format!("{:032x}", i + 1)),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let r = Report {
                schema_version: SCHEMA_VERSION,
                report_id: format!("inv-{i}"),
                kind: ReportKind::Full,
                agent_version: "bench".into(),
                collected_at: chrono::Utc::now(),
                section_hashes: inventory_hashes(&inv),
                inventory: inv,
                errors: vec![],
            };
            Ok((token.clone(), zstd_json(&r)?))
        })
        .collect::<anyhow::Result<_>>()?;
    let shared = client.clone();
    let keep: ClientFor = Arc::new(move |_: &str| Ok(shared.clone()));
    post_all(
        keep,
        &format!("{base}/api/v1/reports"),
        reports,
        concurrency,
    )
    .await?;
    Ok(tokens)
}

/// For each agent, one batch of 90 days up to `today` of four resources (CPU, memory and two
/// filesystems), a value every 6 hours, growing at a host-dependent rate; and the number of
/// samples in all of them.
pub fn capacity_batches(tokens: &[String], today: i64) -> anyhow::Result<(Bodies, usize)> {
    let mut jobs = Vec::new();
    let mut samples = 0usize;
    for (h, token) in tokens.iter().enumerate() {
        let growth = (h % 7) as f64 * 0.2;
        let mut series = Vec::new();
        for (name, instance, start) in [
            ("cpu.util", "", 20.0),
            ("mem.used_pct", "", 50.0),
            ("fs.used_pct", "/", 30.0),
            ("fs.used_pct", "/var", 40.0),
        ] {
            let points: Vec<Point> = (0..90 * 4)
                .map(|q| {
                    let t = today - 90 * DAY + q * 6 * 3_600;
                    let d = q as f64 / 4.0;
                    let wobble = ((q * 37 + h as i64) % 11) as f64 / 10.0;
                    Point(t, ((start + growth * d + wobble) * 100.0).round() / 100.0)
                })
                .collect();
            samples += points.len();
            series.push(Series {
                name: name.into(),
                instance: instance.into(),
                points,
            });
        }
        jobs.push((
            token.clone(),
            zstd_json(&batch(format!("c-{h}"), 21_600, vec![], series))?,
        ));
    }
    Ok((jobs, samples))
}

/// For each agent, 30 days from `from` of 5-minute heartbeats with one to three outages.
pub fn availability_batches(tokens: &[String], from: i64) -> anyhow::Result<Bodies> {
    let mut jobs = Vec::new();
    for (h, token) in tokens.iter().enumerate() {
        let gaps: Vec<(i64, i64)> = (0..1 + h % 3)
            .map(|g| {
                let s = from + ((h * 7919 + g * 104_729) % (29 * 86_400)) as i64;
                (s, s + 600 + (h as i64 % 5) * 900)
            })
            .collect();
        let ticks: Vec<Tick> = (0..30 * 288)
            .map(|k| from + k * 300)
            .filter(|t| !gaps.iter().any(|g| *t >= g.0 && *t < g.1))
            .map(|t| tick(t, from - DAY))
            .collect();
        jobs.push((
            token.clone(),
            zstd_json(&batch(format!("a-{h}"), 300, ticks, vec![]))?,
        ));
    }
    Ok(jobs)
}

/// Waits until the server's compaction has stored at least `samples` samples
/// (`GET /api/v1/metrics/storage`), for at most `timeout`.
pub async fn wait_for_samples(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    samples: usize,
    timeout: Duration,
) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let v: serde_json::Value = serde_json::from_slice(
            &client
                .get(format!("{base}/api/v1/metrics/storage"))
                .bearer_auth(admin)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?,
        )?;
        if v["samples"].as_u64().unwrap_or(0) >= samples as u64 {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("compaction did not store {samples} samples within {timeout:?}: {v}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
