//! `cmdb-bench-series`: metric ingestion, stored size, and the availability and capacity
//! reports of the real `cmdb-server` (embedded SurrealKV with an fsync per commit, TLS on
//! loopback), driven through its API as agents and users drive it.
//!
//! Phases:
//! 1. **ingest**: simulated agents each push one tick's batch (46 series: the agent's series
//!    for a host with 3 mounts, 2 interfaces and 1 disk), every request on a *new* TLS
//!    connection, as a real agent makes one per delivery; then the same batches over kept-alive
//!    connections, and `GET /healthz` on new connections (the floor: what a connection and a
//!    trivial answer cost on this machine).
//! 2. **size**: a day of realistic 60 s series for a few hosts (the generators of the
//!    `cmdb-series` size test), pushed as hourly batches, compacted by the server; bytes per
//!    sample as the server's `/api/v1/metrics/storage` counts them, all levels, and the data
//!    directory's growth for the same samples.
//! 3. **capacity report** over every host × 90 days of daily values (four resources each);
//! 4. **availability report** over every host × 30 days of heartbeats with outages;
//! 5. **business service** over 500 hosts in 250 redundant pairs, its timeline derived
//!    through the graph.
//!
//! Client and server share this machine's cores; the figures include the client's work.
//!
//! Usage: cmdb-bench-series [--agents N] [--batches N] [--concurrency C] [--size-hosts N]

#[path = "../../../series/src/sample.rs"]
#[allow(dead_code)]
mod sample;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cmdb_shared::metrics::{Point, Series};
use cmdb_tests::load::{ClientFor, post_all, send_all};
use cmdb_tests::seed::{
    DAY, availability_batches, batch, capacity_batches, day_start, enroll_hosts,
    server_for_history, tick, wait_for_samples, zstd_json,
};
use serde_json::json;

struct Args {
    agents: usize,
    batches: usize,
    concurrency: usize,
    size_hosts: usize,
    /// Stop after the ingest phase (non-zero).
    only_ingest: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        agents: 1000,
        batches: 20_000,
        concurrency: 32,
        size_hosts: 20,
        only_ingest: 0,
    };
    cmdb_tests::load::numeric_args(&mut [
        ("--agents", &mut a.agents),
        ("--batches", &mut a.batches),
        ("--concurrency", &mut a.concurrency),
        ("--size-hosts", &mut a.size_hosts),
        ("--only-ingest", &mut a.only_ingest),
    ])?;
    if a.agents < 2 || a.size_hosts > a.agents {
        bail!("--agents: at least 2, and at least --size-hosts");
    }
    Ok(a)
}

/// The 46 series of one host, named as the agent names them, for one day starting at `day`
/// (the generators' values, shifted to that day).
fn host_day(h: usize, day: i64) -> Vec<Series> {
    let mut out = Vec::new();
    let shift = day - sample::DAY;
    let mut add = |name: &str, instance: String, kind: usize, j: usize| {
        let k = &sample::KINDS[kind];
        let mut rng = sample::Rng::new((h as u64) << 20 | (kind as u64) << 8 | j as u64);
        let points = (k.generate)(&mut rng)
            .into_iter()
            .map(|(t, v)| Point(t + shift, v))
            .collect();
        out.push(Series {
            name: name.into(),
            instance,
            points,
        });
    };
    // Kinds by index in sample::KINDS.
    let kind = |name: &str| {
        sample::KINDS
            .iter()
            .position(|k| k.name.starts_with(name))
            .unwrap_or(0)
    };
    let cpu = if h.is_multiple_of(4) {
        kind("cpu.util (busy)")
    } else {
        kind("cpu.util (idle)")
    };
    add("cpu.util", String::new(), cpu, 0);
    add("load.1", String::new(), kind("load.1"), 0);
    add("load.5", String::new(), kind("load.1"), 1);
    add("load.15", String::new(), kind("load.15"), 0);
    add("mem.used", String::new(), kind("mem.used"), 0);
    add("mem.available", String::new(), kind("mem.used"), 1);
    add("mem.used_pct", String::new(), kind("mem.used_pct"), 0);
    for (j, m) in ["/", "/var", "/srv"].iter().enumerate() {
        add("fs.used", (*m).into(), kind("fs.used"), j);
        add("fs.free", (*m).into(), kind("fs.used"), 10 + j);
        add("fs.used_pct", (*m).into(), kind("fs.used_pct"), j);
        add("fs.inodes_used", (*m).into(), kind("fs.used_pct"), 10 + j);
        add("fs.inodes_free", (*m).into(), kind("fs.used_pct"), 20 + j);
    }
    for (j, i) in ["eno1", "eno2"].iter().enumerate() {
        for (n, name) in [
            "net.rx_bytes",
            "net.tx_bytes",
            "net.rx_packets",
            "net.tx_packets",
        ]
        .iter()
        .enumerate()
        {
            add(name, (*i).into(), kind("net.rx_bytes"), j * 10 + n);
        }
        for (n, name) in [
            "net.rx_errors",
            "net.tx_errors",
            "net.rx_drops",
            "net.tx_drops",
        ]
        .iter()
        .enumerate()
        {
            add(name, (*i).into(), kind("zero"), j * 10 + n);
        }
    }
    for (n, name) in [
        "disk.read_bytes",
        "disk.write_bytes",
        "disk.read_ops",
        "disk.write_ops",
    ]
    .iter()
    .enumerate()
    {
        add(name, "nvme0n1".into(), kind("net.rx_bytes"), 40 + n);
    }
    add("swap.used", String::new(), kind("zero"), 50);
    add("swap.used_pct", String::new(), kind("zero"), 51);
    out
}

fn du(path: &std::path::Path) -> u64 {
    fn walk(p: &std::path::Path) -> u64 {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(path)
}

/// Median wall time of `runs` GETs of `path`, and the last answer.
async fn time_get(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    runs: usize,
) -> anyhow::Result<(Duration, serde_json::Value)> {
    let mut times = Vec::new();
    let mut last = serde_json::Value::Null;
    for _ in 0..runs {
        let t = Instant::now();
        let r = client.get(url).bearer_auth(token).send().await?;
        let status = r.status();
        let body = r.bytes().await?;
        times.push(t.elapsed());
        if !status.is_success() {
            bail!("{url}: {status}: {}", String::from_utf8_lossy(&body));
        }
        last = serde_json::from_slice(&body)?;
    }
    times.sort();
    Ok((times[times.len() / 2], last))
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    eprintln!("starting cmdb-server (SurrealKV, TLS) …");
    let mut server = server_for_history()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = server.client()?;
    let base = server.url();
    let admin = server.init.admin_token.clone();
    let now = chrono::Utc::now().timestamp();
    let today = day_start(now);

    rt.block_on(async {
        eprintln!("enrolling {} simulated agents and sending their first inventories …", a.agents);
        let names: Vec<String> = (0..a.agents).map(|i| format!("bench-{i:05}")).collect();
        let tokens = enroll_hosts(&client, &base, &server.init.enroll_token, &names, a.concurrency).await?;
        let shared = client.clone();
        let keep: ClientFor =
            Arc::new(move |_: &str| Ok(shared.clone()));

        // 1. Ingest: one tick per batch, a new TLS connection per request.
        eprintln!("phase: ingest, {} batches on new TLS connections …", a.batches);
        let days: Vec<Vec<Series>> = (0..a.agents).map(|h| host_day(h, today)).collect();
        let series_per_batch = days[0].len();
        let jobs: Vec<(String, Vec<u8>)> = (0..a.batches)
            .map(|n| {
                let h = n % a.agents;
                let minute = (n / a.agents) as i64;
                let t = now - 3_600 + minute * 60;
                let series = days[h]
                    .iter()
                    .map(|s| Series {
                        name: s.name.clone(),
                        instance: s.instance.clone(),
                        points: vec![Point(t, s.points[(minute as usize) % s.points.len()].1)],
                    })
                    .collect();
                let b = batch(format!("i-{n}"), 60, vec![tick(t, now - 30 * DAY)], series);
                Ok((tokens[h].clone(), zstd_json(&b)?))
            })
            .collect::<anyhow::Result<_>>()?;
        drop(days);
        eprintln!("posting …");
        let fresh_server = server.client_builder()?;
        let fresh: ClientFor =
            Arc::new(fresh_server);
        let cpu0 = server.cpu_seconds().unwrap_or(0.0);
        let keep_jobs: Vec<(String, Vec<u8>)> = jobs.iter().take(a.batches / 2).cloned().collect();
        // The floor under any API call on a new connection: TCP, a full TLS handshake and an
        // HTTP exchange with a trivial answer (`/healthz`), both ends on this machine.
        let floor = send_all(
            fresh.clone(),
            &format!("{base}/healthz"),
            vec![(String::new(), None); a.batches / 2],
            a.concurrency,
        )
        .await?;
        let ingest = post_all(fresh, &format!("{base}/api/v1/metrics"), jobs, a.concurrency).await?;
        let ingest_cpu = server.cpu_seconds().unwrap_or(0.0) - cpu0;
        let samples = (ingest.count * series_per_batch) as f64;
        // The same batches again over kept-alive connections (redeliveries: the same
        // records rewritten), to show what the per-request TLS handshake costs.
        let cpu1 = server.cpu_seconds().unwrap_or(0.0);
        let kept = post_all(keep.clone(), &format!("{base}/api/v1/metrics"), keep_jobs, a.concurrency).await?;
        let kept_cpu = server.cpu_seconds().unwrap_or(0.0) - cpu1;
        println!();
        println!("Metrics ingest through the API ({} batches of {series_per_batch} series, one tick each, a new TLS connection per request, {} concurrent):", ingest.count, a.concurrency);
        println!(
            "  {:.0} samples/s ({:.0} batches/s), p50 {:.1} ms, p99 {:.1} ms",
            samples / ingest.secs,
            ingest.count as f64 / ingest.secs,
            ingest.p50.as_secs_f64() * 1e3,
            ingest.p99.as_secs_f64() * 1e3
        );
        println!(
            "  server CPU {:.0} % of one core, {:.2} ms per batch; the client (TLS handshakes, bodies) takes the rest of the 2 cores",
            ingest_cpu / ingest.secs * 100.0,
            ingest_cpu / ingest.count as f64 * 1e3
        );
        println!(
            "  for comparison, kept-alive connections: {:.0} samples/s ({:.0} batches/s), p99 {:.1} ms, server CPU {:.2} ms per batch",
            (kept.count * series_per_batch) as f64 / kept.secs,
            kept.count as f64 / kept.secs,
            kept.p99.as_secs_f64() * 1e3,
            kept_cpu / kept.count as f64 * 1e3
        );
        println!(
            "  for scale, the floor on new connections (TCP, TLS handshake, GET /healthz): {:.0} requests/s",
            floor.count as f64 / floor.secs
        );
        if a.only_ingest != 0 {
            return Ok(());
        }


        // 2. Size: a closed day of 60 s series for a few hosts, hourly batches.
        eprintln!("phase: size, one day × {} hosts …", a.size_hosts);
        let size_day = today - 2 * DAY;
        let db_dir = server.dir.path().join("data/db");
        let before_du = du(&db_dir);
        let mut jobs = Vec::new();
        let mut expected = 0usize;
        for (h, token) in tokens.iter().enumerate().take(a.size_hosts) {
            let day = host_day(h, size_day);
            for hour in 0..24 {
                let (from, to) = (size_day + hour * 3_600, size_day + (hour + 1) * 3_600);
                let series: Vec<Series> = day
                    .iter()
                    .map(|s| Series {
                        name: s.name.clone(),
                        instance: s.instance.clone(),
                        points: s.points.iter().filter(|p| p.0 >= from && p.0 < to).copied().collect(),
                    })
                    .collect();
                expected += series.iter().map(|s| s.points.len()).sum::<usize>();
                let b = batch(format!("s-{h}-{hour}"), 60, vec![], series);
                jobs.push((token.clone(), zstd_json(&b)?));
            }
        }
        post_all(keep.clone(), &format!("{base}/api/v1/metrics"), jobs, a.concurrency).await?;
        let sizes = wait_for_samples(&client, &base, &admin, expected, Duration::from_secs(600)).await?;
        let after_du = du(&db_dir);

        // 3. Capacity: 90 days × every host, four resources, a value every 6 hours.
        eprintln!("phase: capacity, {} hosts × 90 days …", a.agents);
        let (jobs, cap_samples) = capacity_batches(&tokens, today)?;
        post_all(keep.clone(), &format!("{base}/api/v1/metrics"), jobs, 4).await?;
        wait_for_samples(&client, &base, &admin, expected + cap_samples, Duration::from_secs(1_800)).await?;
        let (cap_time, cap) =
            time_get(&client, &format!("{base}/api/v1/reports/capacity"), &admin, 5).await?;
        let cap_rows = cap.as_array().map_or(0, Vec::len);

        // 4. Availability: 30 days of 5-minute heartbeats per host, one to three outages each.
        eprintln!("phase: availability, {} hosts × 30 days …", a.agents);
        let from = today - 30 * DAY;
        let jobs = availability_batches(&tokens, from)?;
        post_all(keep.clone(), &format!("{base}/api/v1/metrics"), jobs, 4).await?;
        let (av_time, av) = time_get(
            &client,
            &format!("{base}/api/v1/reports/availability?from={from}&to={today}"),
            &admin,
            5,
        )
        .await?;
        let av_rows = av.as_array().map_or(0, Vec::len);

        // 5. A business service over 500 hosts in 250 redundant pairs.
        eprintln!("phase: business service over 500 hosts …");
        let (_, page) = time_get(&client, &format!("{base}/api/v1/cis?class=host&limit=1000"), &admin, 1).await?;
        let hosts: Vec<String> = page["items"]
            .as_array()
            .context("items")?
            .iter()
            .filter_map(|c| c["key"].as_str().map(str::to_string))
            .take(500)
            .collect();
        let post = |path: &str, body: serde_json::Value| {
            let (client, url, admin) = (client.clone(), format!("{base}{path}"), admin.clone());
            async move {
                let r = client.post(url).bearer_auth(admin).json_body(&body).send().await?;
                let s = r.status();
                let v: serde_json::Value = serde_json::from_slice(&r.bytes().await?)?;
                if !s.is_success() {
                    bail!("{s}: {v}");
                }
                anyhow::Ok(v)
            }
        };
        let svc = post("/api/v1/cis", json!({"class": "business_service", "name": "bench-service"})).await?;
        let svc = svc["id"].as_str().context("id")?.to_string();
        for (g, pair) in hosts.chunks(2).enumerate() {
            let grp = post("/api/v1/cis", json!({"class": "redundancy_group", "name": format!("pair-{g}"), "min_up": 1})).await?;
            let grp = grp["id"].as_str().context("id")?.to_string();
            post("/api/v1/relationships", json!({"from": svc, "kind": "depends_on", "to": grp})).await?;
            for m in pair {
                post("/api/v1/relationships", json!({"from": m, "kind": "member_of", "to": grp})).await?;
            }
        }
        let (svc_time, svc_av) = time_get(
            &client,
            &format!("{base}/api/v1/cis/{svc}/availability?from={from}&to={today}"),
            &admin,
            5,
        )
        .await?;

        println!();
        println!("Stored size, {} hosts × one day of 60 s series after compaction ({} samples):", a.size_hosts, sizes["samples"]);
        println!(
            "  {:.3} B/sample all levels (raw {} B, 5m+1h {} B, 1d {} B, as stored in records)",
            sizes["bytes_per_sample"].as_f64().unwrap_or(f64::NAN),
            sizes["raw_bytes"],
            sizes["rollup_bytes"],
            sizes["daily_bytes"]
        );
        println!(
            "  data directory grew {:.1} MB for these samples ({:.1} B/sample: SurrealKV's log, before its own compaction)",
            after_du.saturating_sub(before_du) as f64 / 1e6,
            after_du.saturating_sub(before_du) as f64 / expected as f64
        );
        println!(
            "Capacity report, {} hosts × 90 days, {cap_rows} resources: {:.0} ms (median of 5)",
            a.agents,
            cap_time.as_secs_f64() * 1e3
        );
        println!(
            "Availability report, {} hosts × 30 days, {av_rows} rows: {:.0} ms (median of 5)",
            a.agents,
            av_time.as_secs_f64() * 1e3
        );
        println!(
            "Business service over {} hosts in redundant pairs, 30 days: {:.0} ms (median of 5), SLI {}",
            hosts.len(),
            svc_time.as_secs_f64() * 1e3,
            svc_av["figures"]["sli_pct"]
        );
        anyhow::Ok(())
    })?;
    server.stop()?;
    Ok(())
}

/// `RequestBuilder::json` needs reqwest's `json` feature; this crate keeps reqwest minimal.
trait JsonBody {
    fn json_body(self, v: &serde_json::Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &serde_json::Value) -> Self {
        self.header("content-type", "application/json")
            .body(v.to_string())
    }
}
