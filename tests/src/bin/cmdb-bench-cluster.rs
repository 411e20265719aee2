//! Several instances on one database: how long a write on one instance takes to be seen by
//! another, measured the way a user meets it.
//!
//! Starts upstream's `surreal` server (in memory) and three `cmdb-server` instances on it,
//! then, `--writes` times: writes a relationship on instance a and polls instance c's impact
//! answer (its in-memory index) until the relationship is there; deletes it on b and polls
//! a until it is gone; revokes a token on a that c has cached and polls c until it refuses
//! it. Prints p50, p99 and max of each, and exits non-zero when a p99 passes the bound
//! (2 s). Polling every 10 ms adds up to 10 ms (and a request) to each figure.
//!
//! Then the throughput of three instances against one on the same database: `--agents`
//! simulated agents (enrolled once) deliver full inventories that really changed and
//! heartbeats (unchanged deltas), each report on a new TCP connection and TLS session,
//! `--concurrency` at a time, either all to instance a or spread over a, b and c as a load
//! balancer spreads them. The two set-ups alternate `--rounds` times, so the data growing
//! weighs on both alike. Prints reports/s, p50, p99 and the CPU each process spent per
//! report; no target (the issue asks for the figure, and on two shared cores it shows the
//! coordination's cost, not scale-out).
//!
//! The defaults keep a real fleet's mix: 72 heartbeats (one every 300 s) per full inventory
//! (one every 6 h) of each agent.
//!
//! Usage: cmdb-bench-cluster [--writes N] (100) [--agents N] (50) [--rounds N] (2)
//!                           [--heartbeats N] (3600 per set-up and round) [--concurrency N] (32)

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cmdb_shared::ReportKind;
use cmdb_shared::hash::inventory_hashes;
use cmdb_tests::fleet::{Churn, full_round, inventory, report};
use cmdb_tests::load::{ClientFor, Timed};
use cmdb_tests::{SURREAL_PASSWORD, Server, Surreal};
use serde_json::{Value, json};

const BOUND: Duration = Duration::from_secs(2);

fn post(server: &Server, path: &str, body: Value) -> anyhow::Result<Value> {
    server.post_ok(path, body)
}

fn affected(server: &Server, failed: &str) -> anyhow::Result<Vec<String>> {
    let r = post(server, "/api/v1/impact", json!({"cis": [failed]}))?;
    Ok(r["affected"]
        .as_array()
        .context("affected")?
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect())
}

/// Time until `f` holds, polling every 10 ms; an error past 10 s.
fn until(mut f: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<Duration> {
    let t = Instant::now();
    loop {
        if f()? {
            return Ok(t.elapsed());
        }
        if t.elapsed() > Duration::from_secs(10) {
            bail!("not seen within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Totals of one set-up (one instance, or three) over its phases of one kind.
#[derive(Default)]
struct Sum {
    reports: usize,
    secs: f64,
    /// Latencies' p50 and p99 of each phase (the worst is printed).
    p50: Duration,
    p99: Duration,
    /// CPU seconds of the cmdb-server instances together, and of surreal.
    server_cpu: f64,
    surreal_cpu: f64,
}

impl Sum {
    fn add(&mut self, t: Timed, server_cpu: f64, surreal_cpu: f64) {
        self.reports += t.count;
        self.secs += t.secs;
        self.p50 = self.p50.max(t.p50);
        self.p99 = self.p99.max(t.p99);
        self.server_cpu += server_cpu;
        self.surreal_cpu += surreal_cpu;
    }

    fn rate(&self) -> f64 {
        self.reports as f64 / self.secs.max(1e-9)
    }
}

struct Load {
    agents: usize,
    rounds: usize,
    heartbeats: usize,
    concurrency: usize,
}

/// Full inventories and heartbeats, all to `a` and spread over `a`, `b`, `c` in turn;
/// the totals of each set-up: (one instance, three) × (full, heartbeat).
fn throughput(surreal: &Surreal, servers: [&Server; 3], load: &Load) -> anyhow::Result<[Sum; 4]> {
    let [a, ..] = servers;
    let rt = cmdb_tests::rt();
    let client_for: ClientFor = Arc::new(a.client_builder()?);
    let churn = Churn {
        pct: 10,
        upgrades: 30,
    };
    let tokens = rt.block_on(async {
        let names: Vec<String> = (0..load.agents)
            .map(|i| format!("cluster-bench-{i:05}"))
            .collect();
        let tokens =
            cmdb_tests::seed::enroll(&a.client()?, &a.url(), &a.init.enroll_token, &names).await?;
        // Each host's first inventory creates its CI; not measured.
        let first = full_round(&tokens, 0, churn);
        cmdb_tests::load::post_all(
            client_for.clone(),
            &format!("{}/api/v1/reports", a.url()),
            first,
            load.concurrency,
        )
        .await?;
        anyhow::Ok(tokens)
    })?;
    let cpu = || -> anyhow::Result<(f64, f64)> {
        let mut s = 0.0;
        for x in servers {
            s += x.cpu_seconds().context("server CPU")?;
        }
        Ok((s, surreal.cpu_seconds().context("surreal CPU")?))
    };
    let mut sums: [Sum; 4] = Default::default();
    let mut round = 0;
    for _ in 0..load.rounds {
        for (spread, n) in [(false, 1usize), (true, 3)] {
            let urls: Vec<String> = servers[..n]
                .iter()
                .map(|s| format!("{}/api/v1/reports", s.url()))
                .collect();
            round += 1;
            let full = full_round(&tokens, round, churn);
            let per_agent = load.heartbeats.div_ceil(load.agents);
            let mut hb = Vec::new();
            for h in 0..per_agent {
                for (i, token) in tokens.iter().enumerate() {
                    let inv = inventory(i, round, churn);
                    let base = inventory_hashes(&inv);
                    hb.push((
                        token.clone(),
                        report(
                            format!("h{round}-{h}-{i}"),
                            ReportKind::Delta,
                            &inv,
                            Some(&base),
                        ),
                    ));
                }
            }
            eprintln!(
                "round {round}: {} full inventories and {} heartbeats to {n} instance(s) …",
                load.agents,
                hb.len()
            );
            for (kind, jobs) in [(0, full), (1, hb)] {
                let (s0, d0) = cpu()?;
                let t = rt.block_on(cmdb_tests::load::post_spread(
                    client_for.clone(),
                    &urls,
                    jobs,
                    load.concurrency,
                ))?;
                let (s1, d1) = cpu()?;
                sums[usize::from(spread) * 2 + kind].add(t, s1 - s0, d1 - d0);
            }
        }
    }
    Ok(sums)
}

fn main() -> anyhow::Result<()> {
    let mut writes = 100usize;
    let mut load = Load {
        agents: 50,
        rounds: 2,
        heartbeats: 3600,
        concurrency: 32,
    };
    cmdb_tests::load::numeric_args(&mut [
        ("--writes", &mut writes),
        ("--agents", &mut load.agents),
        ("--rounds", &mut load.rounds),
        ("--heartbeats", &mut load.heartbeats),
        ("--concurrency", &mut load.concurrency),
    ])?;
    anyhow::ensure!(writes > 0, "--writes: at least 1");
    anyhow::ensure!(
        load.agents > 0 && load.rounds > 0 && load.concurrency > 0,
        "--agents, --rounds and --concurrency: at least 1"
    );
    eprintln!("starting surreal and three cmdb-server instances on it …");
    let surreal = Surreal::start()?;
    let mut a = Server::start_with(
        &["--engine", &surreal.ws_url(), "--storage-user", "root"],
        &[("CMDB_SURREAL_PASSWORD", SURREAL_PASSWORD)],
    )?;
    a.configure(&format!(
        "[cluster]\ninstance = \"a\"\n{}",
        cmdb_tests::seed::FLEET_ENROLLS
    ))?;
    let b = a.replica("b")?;
    let c = a.replica("c")?;
    let host = post(
        &a,
        "/api/v1/cis",
        json!({"class": "server", "name": "host"}),
    )?;
    let host = host["id"].as_str().context("id")?.to_string();
    let (mut added, mut removed, mut revoked) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..writes {
        let app = post(
            &a,
            "/api/v1/cis",
            json!({"class": "application", "name": format!("app-{i}")}),
        )?;
        let app = app["id"].as_str().context("id")?.to_string();
        let t = Instant::now();
        let rel = post(
            &a,
            "/api/v1/relationships",
            json!({"from": app, "kind": "runs_on", "to": host}),
        )?;
        let written = t.elapsed();
        added.push(written + until(|| Ok(affected(&c, &host)?.contains(&app)))?);
        let key = rel["key"].as_str().context("key")?;
        let t = Instant::now();
        let (status, v) = b.request(
            "DELETE",
            &format!("/api/v1/relationships/{key}"),
            &b.init.admin_token,
            None,
            &[],
        )?;
        anyhow::ensure!(status == 204, "delete: {status} {v}");
        let written = t.elapsed();
        removed.push(written + until(|| Ok(!affected(&a, &host)?.contains(&app)))?);
        if i < writes.min(30) {
            let (id, token) = a.create_token("viewer", "bench")?;
            let (status, _) = c.request("GET", "/healthz", &token, None, &[])?;
            anyhow::ensure!(status == 200);
            let (status, _) = c.request("GET", "/api/v1/graph", &token, None, &[])?;
            anyhow::ensure!(status == 200, "the token works on c");
            let t = Instant::now();
            let (status, v) = a.request(
                "DELETE",
                &format!("/api/v1/tokens/{id}"),
                &a.init.admin_token,
                None,
                &[],
            )?;
            anyhow::ensure!(status == 204, "revoke: {status} {v}");
            let written = t.elapsed();
            revoked.push(
                written
                    + until(|| Ok(c.request("GET", "/api/v1/graph", &token, None, &[])?.0 == 401))?,
            );
        }
    }
    println!();
    println!(
        "propagation between instances (cluster.follow_ms 500), from the write's request to the other instance's answer:"
    );
    println!(
        "{:<44} {:>5} {:>9} {:>9} {:>9}  result",
        "write", "n", "p50", "p99", "max"
    );
    let mut pass = true;
    for (label, v) in [
        ("relationship on a, in c's impact answer", &mut added),
        ("relationship deleted on b, gone from a", &mut removed),
        ("token revoked on a, refused by c", &mut revoked),
    ] {
        let (p50, p99, max) = (pct(v, 0.5), pct(v, 0.99), pct(v, 1.0));
        let ok = p99 < BOUND;
        pass &= ok;
        println!(
            "{label:<44} {:>5} {:>7.0}ms {:>7.0}ms {:>7.0}ms  p99<2s {}",
            v.len(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            if ok { "PASS" } else { "FAIL" }
        );
    }
    eprintln!("throughput: one instance against three …");
    let sums = throughput(&surreal, [&a, &b, &c], &load)?;
    println!();
    println!(
        "throughput on one surreal (in memory), {} agents, {} in flight, a new TLS connection per report, all processes on this machine's cores:",
        load.agents, load.concurrency
    );
    println!(
        "{:<36} {:>8} {:>10} {:>8} {:>8} {:>14} {:>14}",
        "reports", "n", "reports/s", "p50 ms", "p99 ms", "cmdb CPU ms/r", "surreal ms/r"
    );
    for (i, label) in [
        "full inventory, changed; 1 instance",
        "heartbeat; 1 instance",
        "full inventory, changed; 3 instances",
        "heartbeat; 3 instances",
    ]
    .iter()
    .enumerate()
    {
        let s = &sums[i];
        let per = |cpu: f64| cpu * 1e3 / s.reports.max(1) as f64;
        println!(
            "{label:<36} {:>8} {:>10.0} {:>8.1} {:>8.1} {:>14.2} {:>14.2}",
            s.reports,
            s.rate(),
            s.p50.as_secs_f64() * 1e3,
            s.p99.as_secs_f64() * 1e3,
            per(s.server_cpu),
            per(s.surreal_cpu)
        );
    }
    println!(
        "3 instances / 1: full inventories {:.2}x, heartbeats {:.2}x (p50, p99: the worst round's)",
        sums[2].rate() / sums[0].rate().max(1e-9),
        sums[3].rate() / sums[1].rate().max(1e-9)
    );
    drop((a, b, c, surreal));
    if !pass {
        bail!("a propagation p99 missed its bound");
    }
    Ok(())
}
