//! `cmdb-bench-fleet`: does the server hold a fleet of N agents? Open loop, at the fleet's own
//! pace, the way N real agents load it.
//!
//! N simulated agents enroll and deliver a first full inventory (a host of ~800 packages, as
//! in `cmdb-bench`). Once the server has finished the work those leave (idle for 3 s: the
//! time it took is printed), for `--secs` (300: every agent's heartbeat comes due once, and at
//! 20,000 agents a SurrealKV memtable fills and is flushed) each agent does what a real one
//! does, at its own phase: an unchanged delta (heartbeat) every `--heartbeat-secs` (300), a
//! metric batch of one tick and 44 series every `--metrics-secs` (60), a full inventory every
//! `--full-secs` (21,600) that really differs (usage moves; `--churn-pct` of them upgrade 30
//! packages).
//! Every request opens a new TCP connection and TLS session. Requests are sent when they are
//! due, whatever the server's state (open loop), and a request's latency is counted from when
//! it was due, so a server that falls behind shows it as latency (a growing backlog), not as
//! a lower rate.
//!
//! Prints, per kind, the count, p50, p99 and max; the server's CPU; a timeline of 10 s
//! windows (latency of the requests due in each, server CPU and RSS); what the server logged
//! meanwhile (slow background jobs, SurrealKV's memtable flushes); and PASS when the p99 of
//! every request is under 250 ms and the last tenth of the run is no slower than the first
//! (no growing backlog). Exits non-zero otherwise (`--check-targets 0` to only print).
//!
//! Usage: cmdb-bench-fleet [--agents N] [--secs S] [--heartbeat-secs S] [--metrics-secs S]
//!                         [--full-secs S] [--churn-pct P] [--max-in-flight N]
//!                         [--check-targets 0|1] [--memtable-mib N] [--cache-mib N]
//!   (the last two set the server's storage.memtable_mib and storage.cache_mib; 0, the
//!   default, leaves the server's own)

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cmdb_shared::ReportKind;
use cmdb_shared::hash::inventory_hashes;
use cmdb_shared::metrics::{Point, Series};
use cmdb_tests::Server;
use cmdb_tests::fleet::{Churn, inventory, report};
use cmdb_tests::load::{ClientFor, post_all};
use cmdb_tests::seed::{batch, tick, zstd_json};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Heartbeat,
    Metrics,
    Full,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Heartbeat => "delta, unchanged (heartbeat)",
            Kind::Metrics => "metric batch (44 series)",
            Kind::Full => "full inventory, changed",
        }
    }
}

struct Args {
    agents: usize,
    secs: usize,
    heartbeat_secs: usize,
    metrics_secs: usize,
    full_secs: usize,
    churn_pct: usize,
    max_in_flight: usize,
    check_targets: usize,
    memtable_mib: usize,
    cache_mib: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        agents: 20_000,
        secs: 300,
        heartbeat_secs: 300,
        metrics_secs: 60,
        full_secs: 21_600,
        churn_pct: 10,
        max_in_flight: 2_000,
        check_targets: 1,
        memtable_mib: 0,
        cache_mib: 0,
    };
    cmdb_tests::load::numeric_args(&mut [
        ("--agents", &mut a.agents),
        ("--secs", &mut a.secs),
        ("--heartbeat-secs", &mut a.heartbeat_secs),
        ("--metrics-secs", &mut a.metrics_secs),
        ("--full-secs", &mut a.full_secs),
        ("--churn-pct", &mut a.churn_pct),
        ("--max-in-flight", &mut a.max_in_flight),
        ("--check-targets", &mut a.check_targets),
        ("--memtable-mib", &mut a.memtable_mib),
        ("--cache-mib", &mut a.cache_mib),
    ])?;
    anyhow::ensure!(
        a.agents > 0 && a.secs > 0,
        "--agents and --secs: at least 1"
    );
    anyhow::ensure!(
        a.heartbeat_secs > 0 && a.metrics_secs > 0 && a.full_secs > 0,
        "intervals: at least 1 s"
    );
    anyhow::ensure!(a.churn_pct <= 100, "--churn-pct: at most 100");
    anyhow::ensure!(a.max_in_flight > 0, "--max-in-flight: at least 1");
    Ok(a)
}

/// A request due at `at` (seconds from the start) for agent `agent`.
#[derive(Clone, Copy)]
struct Due {
    at: f64,
    agent: usize,
    kind: Kind,
    n: usize,
    /// Heartbeats: the inventory round they are a delta of (one more per full inventory
    /// due before them: a real agent's heartbeat follows its latest full inventory).
    base: usize,
}

/// Every request of the run, by due time: each agent at its own phase of each interval.
fn schedule(a: &Args) -> Vec<Due> {
    let mut all = Vec::new();
    let phase = |agent: usize, salt: usize, period: usize| -> f64 {
        ((agent
            .wrapping_mul(2_654_435_761)
            .wrapping_add(salt * 40_503))
            % (period * 1000)) as f64
            / 1000.0
    };
    for agent in 0..a.agents {
        for (kind, period, salt) in [
            (Kind::Heartbeat, a.heartbeat_secs, 1),
            (Kind::Metrics, a.metrics_secs, 2),
            (Kind::Full, a.full_secs, 3),
        ] {
            let mut at = phase(agent, salt, period);
            let mut n = 0;
            let full_at = phase(agent, 3, a.full_secs);
            while at < a.secs as f64 {
                let base = if kind == Kind::Heartbeat && at > full_at {
                    ((at - full_at) / a.full_secs as f64).ceil() as usize
                } else {
                    0
                };
                all.push(Due {
                    at,
                    agent,
                    kind,
                    n,
                    base,
                });
                at += period as f64;
                n += 1;
            }
        }
    }
    all.sort_by(|x, y| x.at.total_cmp(&y.at));
    all
}

/// One tick of a host's 44 series at `t`.
fn metric_body(agent: usize, n: usize, t: i64) -> anyhow::Result<Vec<u8>> {
    let mut series = vec![
        Series {
            name: "cpu.util".into(),
            instance: String::new(),
            points: vec![Point(t, 20.0 + (agent % 50) as f64)],
        },
        Series {
            name: "mem.used_pct".into(),
            instance: String::new(),
            points: vec![Point(t, 40.0 + (n % 10) as f64)],
        },
    ];
    for i in 0..42 {
        series.push(Series {
            name: "net.rx_bytes".into(),
            instance: format!("eth{i}"),
            points: vec![Point(t, (n * 1_000 + i) as f64)],
        });
    }
    let b = batch(
        format!("m{agent}-{n}"),
        60,
        vec![tick(t, t - 86_400)],
        series,
    );
    zstd_json(&b)
}

/// Seconds in one line of the timeline.
const WINDOW_SECS: u64 = 10;

/// Latency by when requests were due, server CPU and RSS, one line per window: stalls show
/// as a window whose maximum jumps while its median does not.
fn print_timeline(results: &[(Due, Duration, u16)], samples: &[(f64, f64, u64)], secs: u64) {
    println!(
        "{:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "window s", "count", "failed", "p50 ms", "p99 ms", "max ms", "CPU %", "RSS MiB"
    );
    let mut prev_cpu = samples.first().map_or(0.0, |s| s.1);
    let mut prev_t = samples.first().map_or(0.0, |s| s.0);
    for w in 0..secs.div_ceil(WINDOW_SECS) {
        let (from, to) = ((w * WINDOW_SECS) as f64, ((w + 1) * WINDOW_SECS) as f64);
        let in_window = results.iter().filter(|r| r.0.at >= from && r.0.at < to);
        let failed = in_window
            .clone()
            .filter(|r| !(200..300).contains(&r.2))
            .count();
        let mut v: Vec<Duration> = in_window.map(|r| r.1).collect();
        // The sample taken at the end of this window (the first is taken at the start).
        let (cpu, rss) = match samples.get(w as usize + 1) {
            Some(&(t, c, rss)) => {
                let pct = (c - prev_cpu) / (t - prev_t).max(1e-9) * 100.0;
                (prev_cpu, prev_t) = (c, t);
                (format!("{pct:.0}"), format!("{}", rss / 1024))
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:>4}-{:<4} {:>8} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>8}",
            from,
            to,
            v.len(),
            failed,
            pct(&mut v, 0.5).as_secs_f64() * 1e3,
            pct(&mut v, 0.99).as_secs_f64() * 1e3,
            pct(&mut v, 1.0).as_secs_f64() * 1e3,
            cpu,
            rss
        );
    }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let churn = Churn {
        pct: a.churn_pct,
        upgrades: 30,
    };
    eprintln!("starting cmdb-server (SurrealKV, TLS) …");
    // SurrealKV's memtable flushes and compactions in the server's log, so the log section
    // below can name them beside a stall (CMDB_SERVER_LOG replaces the filter).
    let filter = std::env::var("CMDB_SERVER_LOG")
        .unwrap_or_else(|_| "info,surrealdb=warn,surrealdb_core=warn,surrealkv=info".into());
    let mut server = Server::start_with(&[], &[("CMDB_LOG", &filter)])?;
    server.configure(cmdb_tests::seed::FLEET_ENROLLS)?;
    // The embedded engine's sizes, when set (0: the server's defaults).
    let mut storage = String::new();
    for (key, v) in [("memtable_mib", a.memtable_mib), ("cache_mib", a.cache_mib)] {
        if v > 0 {
            storage.push_str(&format!("{key} = {v}\n"));
        }
    }
    if !storage.is_empty() {
        server
            .rewrite_config(|t| t.replacen("[storage]\n", &format!("[storage]\n{storage}"), 1))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fresh: ClientFor = Arc::new(server.client_builder()?);
    let base = server.url();
    let reports_url = format!("{base}/api/v1/reports");
    let metrics_url = format!("{base}/api/v1/metrics");
    let plan = schedule(&a);
    let (results, cpu, wall, samples, loop_start) = rt.block_on(async {
        eprintln!("enrolling {} simulated agents …", a.agents);
        let names: Vec<String> = (0..a.agents).map(|i| format!("fleet-{i:06}")).collect();
        let client = server.client()?;
        let mut tokens = Vec::with_capacity(a.agents);
        for chunk in names.chunks(500) {
            let mut set = tokio::task::JoinSet::new();
            for (j, part) in chunk.chunks(50).enumerate() {
                let (client, base, token) = (
                    client.clone(),
                    base.clone(),
                    server.init.enroll_token.clone(),
                );
                let part = part.to_vec();
                set.spawn(async move {
                    cmdb_tests::seed::enroll(&client, &base, &token, &part)
                        .await
                        .map(|t| (j, t))
                });
            }
            let mut parts: Vec<(usize, Vec<String>)> = set
                .join_all()
                .await
                .into_iter()
                .collect::<anyhow::Result<_>>()?;
            parts.sort_by_key(|p| p.0);
            tokens.extend(parts.into_iter().flat_map(|p| p.1));
        }
        eprintln!("first full inventories …");
        let first: Vec<(String, Vec<u8>)> = (0..a.agents)
            .map(|i| {
                let inv = inventory(i, 0, churn);
                (
                    tokens[i].clone(),
                    report(format!("f0-{i}"), ReportKind::Full, &inv, None),
                )
            })
            .collect();
        post_all(fresh.clone(), &reports_url, first, 64).await?;
        // The first inventories leave the engine work to finish (memtable flushes and
        // compactions of 20,000 hosts written in minutes): the run starts once the server
        // has been idle (under a tenth of a core) for 3 s, so it measures the fleet's own
        // load rather than that backlog. Said in the output, with how long it took.
        let settle = Instant::now();
        let mut idle = 0;
        let mut last = server.cpu_seconds().unwrap_or(0.0);
        while idle < 3 && settle.elapsed() < Duration::from_secs(300) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = server.cpu_seconds().unwrap_or(0.0);
            idle = if now - last < 0.1 { idle + 1 } else { 0 };
            last = now;
        }
        eprintln!(
            "the server settled {:.0} s after the first inventories",
            settle.elapsed().as_secs_f64()
        );
        eprintln!(
            "open loop: {} requests due over {} s ({:.0}/s) …",
            plan.len(),
            a.secs,
            plan.len() as f64 / a.secs as f64
        );
        let tokens = Arc::new(tokens);
        let sem = Arc::new(tokio::sync::Semaphore::new(a.max_in_flight));
        let cpu0 = server.cpu_seconds().unwrap_or(0.0);
        let start = Instant::now();
        // Server CPU and RSS at the end of every window, for the timeline.
        let pid = server.pid();
        let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sampler = {
            let samples = samples.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(WINDOW_SECS));
                loop {
                    tick.tick().await;
                    let cpu = pid.and_then(cmdb_tests::proc_cpu_seconds).unwrap_or(0.0);
                    let rss = pid
                        .and_then(|p| cmdb_tests::proc_memory_kib(&format!("/proc/{p}/status")))
                        .map_or(0, |m| m.0);
                    if let Ok(mut v) = samples.lock() {
                        v.push((start.elapsed().as_secs_f64(), cpu, rss));
                    }
                }
            })
        };
        let loop_start = chrono::Utc::now();
        let now0 = loop_start.timestamp();
        let mut set = tokio::task::JoinSet::new();
        for d in plan.iter().copied() {
            let due = start + Duration::from_secs_f64(d.at);
            tokio::time::sleep_until(due.into()).await;
            let permit = sem.clone().acquire_owned().await?;
            let client = fresh(&tokens[d.agent])?;
            let tokens = tokens.clone();
            let (reports_url, metrics_url) = (reports_url.clone(), metrics_url.clone());
            set.spawn(async move {
                let token = &tokens[d.agent];
                let (url, body) = match d.kind {
                    Kind::Heartbeat => {
                        // As of its latest inventory: a heartbeat says nothing changed since.
                        let inv = inventory(d.agent, d.base, churn);
                        let base = inventory_hashes(&inv);
                        let id = format!("h{}-{}", d.agent, d.n);
                        (
                            reports_url,
                            report(id, ReportKind::Delta, &inv, Some(&base)),
                        )
                    }
                    Kind::Metrics => {
                        let t = now0 + d.at as i64;
                        (metrics_url, metric_body(d.agent, d.n, t)?)
                    }
                    Kind::Full => {
                        let inv = inventory(d.agent, d.n + 1, churn);
                        let id = format!("f{}-{}", d.n + 1, d.agent);
                        (reports_url, report(id, ReportKind::Full, &inv, None))
                    }
                };
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("content-encoding", "zstd")
                    .bearer_auth(token)
                    .body(body)
                    .send()
                    .await;
                drop(permit);
                let status = resp.map(|r| r.status().as_u16()).unwrap_or(0);
                anyhow::Ok((d, due.elapsed(), status))
            });
        }
        let mut results = Vec::with_capacity(plan.len());
        while let Some(r) = set.join_next().await {
            results.push(r.context("request task")??);
        }
        let wall = start.elapsed();
        let cpu = server.cpu_seconds().unwrap_or(0.0) - cpu0;
        sampler.abort();
        let samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
        anyhow::Ok((results, cpu, wall, samples, loop_start))
    })?;
    let failed = results
        .iter()
        .filter(|r| !(200..300).contains(&r.2))
        .count();
    let mut statuses: std::collections::BTreeMap<u16, usize> = std::collections::BTreeMap::new();
    for r in results.iter().filter(|r| !(200..300).contains(&r.2)) {
        *statuses.entry(r.2).or_default() += 1;
    }
    println!(
        "fleet of {} agents, open loop for {} s: a heartbeat every {} s, a metric batch every {} s, a full inventory every {} s ({} % upgrading 30 packages); a new TLS connection per request; server and load generator share 2 cores",
        a.agents, a.secs, a.heartbeat_secs, a.metrics_secs, a.full_secs, a.churn_pct
    );
    println!(
        "{:<32} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "request", "count", "per s", "p50 ms", "p99 ms", "max ms"
    );
    let mut all: Vec<Duration> = results.iter().map(|r| r.1).collect();
    for kind in [Kind::Heartbeat, Kind::Metrics, Kind::Full] {
        let mut v: Vec<Duration> = results
            .iter()
            .filter(|r| r.0.kind == kind)
            .map(|r| r.1)
            .collect();
        let n = v.len();
        println!(
            "{:<32} {:>8} {:>8.1} {:>9.1} {:>9.1} {:>9.1}",
            kind.label(),
            n,
            n as f64 / a.secs as f64,
            pct(&mut v, 0.5).as_secs_f64() * 1e3,
            pct(&mut v, 0.99).as_secs_f64() * 1e3,
            pct(&mut v, 1.0).as_secs_f64() * 1e3
        );
    }
    let p99 = pct(&mut all, 0.99);
    // Backlog: the latency of the last tenth of the run against the first tenth.
    let tenth = a.secs as f64 / 10.0;
    let mut early: Vec<Duration> = results
        .iter()
        .filter(|r| r.0.at < tenth)
        .map(|r| r.1)
        .collect();
    let mut late: Vec<Duration> = results
        .iter()
        .filter(|r| r.0.at >= a.secs as f64 - tenth)
        .map(|r| r.1)
        .collect();
    let (early50, late50) = (pct(&mut early, 0.5), pct(&mut late, 0.5));
    let growing = late50 > early50 * 2 + Duration::from_millis(20);
    println!(
        "all requests: {}, p99 {:.1} ms; failed {failed} {statuses:?} (status 0: no answer); median latency first tenth {:.1} ms, last tenth {:.1} ms; run took {:.1} s for {} s of schedule",
        results.len(),
        p99.as_secs_f64() * 1e3,
        early50.as_secs_f64() * 1e3,
        late50.as_secs_f64() * 1e3,
        wall.as_secs_f64(),
        a.secs
    );
    println!(
        "server CPU: {:.1} s over the run, {:.0} % of one core",
        cpu,
        cpu / wall.as_secs_f64() * 100.0
    );
    print_timeline(&results, &samples, a.secs as u64);
    // What the server logged during the open loop, by second of the run, to match against
    // the timeline: slow background jobs, warnings, and whatever CMDB_SERVER_LOG adds
    // (`surrealkv=info` shows SurrealKV's memtable flushes and compactions).
    let logged: Vec<(f64, String)> = server
        .logs()
        .lines()
        .filter_map(|l| {
            let (ts, rest) = l.split_once(' ')?;
            let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
            let secs = (t.with_timezone(&chrono::Utc) - loop_start).as_seconds_f64();
            (secs >= 0.0 && secs <= wall.as_secs_f64()).then(|| (secs, rest.trim().to_owned()))
        })
        .collect();
    println!("server log during the open loop: {} lines", logged.len());
    for (t, l) in logged.iter().take(40) {
        println!("  {t:>6.1} s  {l}");
    }
    let pass = failed == 0 && p99 < Duration::from_millis(250) && !growing;
    println!(
        "holds {} agents (p99 < 250 ms, no failures, no growing backlog): {}",
        a.agents,
        if pass { "PASS" } else { "FAIL" }
    );
    drop(server);
    if a.check_targets != 0 && !pass {
        anyhow::bail!("the fleet was not held");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_is_a_delta_of_the_latest_full_inventory_due_before_it() {
        let a = Args {
            agents: 50,
            secs: 1_000,
            heartbeat_secs: 30,
            metrics_secs: 1_000,
            full_secs: 200,
            churn_pct: 10,
            max_in_flight: 1,
            check_targets: 0,
            memtable_mib: 0,
            cache_mib: 0,
        };
        let plan = schedule(&a);
        let mut checked = 0;
        for hb in plan.iter().filter(|d| d.kind == Kind::Heartbeat) {
            let fulls = plan
                .iter()
                .filter(|d| d.kind == Kind::Full && d.agent == hb.agent && d.at < hb.at)
                .count();
            assert_eq!(hb.base, fulls, "agent {} at {}", hb.agent, hb.at);
            checked += usize::from(fulls > 0);
        }
        assert!(checked > 100, "{checked}");
    }
}
