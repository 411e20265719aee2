//! `cmdb-bench`: ingestion throughput and latency of the real `cmdb-server` (embedded
//! SurrealKV, TLS on loopback) under many concurrent simulated agents.
//!
//! Each simulated agent enrolls like a real one and pushes zstd-compressed reports built with
//! the wire types: a host with ~800 packages drawn from a pool shared by the fleet (as on real
//! estates, most hosts carry the same packages at the same versions). Every report opens a
//! new TCP connection and TLS session, as a real agent reporting every few minutes does (its
//! client's idle connections are gone by then). Full inventories really differ from the
//! previous one: filesystem usage moves on every host, and each round a share of the hosts
//! (`--churn-pct`) upgrades `--upgrades` packages, as a fleet's daily updates do. Bodies are
//! prepared before each phase so the client spends its CPU on TLS and HTTP only; client and
//! server share this machine's cores, which the figures include. The load is closed-loop
//! (`--concurrency` requests in flight): throughput at saturation, latency under it.
//!
//! Exits non-zero when a target is missed (`--check-targets 1`, the default): full
//! inventories with real changes ≥ 300/s and unchanged deltas (heartbeats) ≥ 5,000/s, both
//! at p99 < 250 ms.
//!
//! Usage: cmdb-bench [--agents N] [--concurrency C] [--heartbeats N] [--rounds N]
//!                   [--churn-pct P] [--upgrades N] [--check-targets 0|1] [--tickets 0|1]
//!                   [--report-writes N]   (the server's limits.max_concurrent_report_writes;
//!                                          0, the default, leaves the server's own default)

use std::sync::Arc;
use std::time::Duration;

use cmdb_shared::ReportKind;
use cmdb_shared::hash::inventory_hashes;
use cmdb_tests::Server;
use cmdb_tests::fleet::{Churn, full_round, inventory, report, upgrade};
use cmdb_tests::load::ClientFor;

struct Args {
    agents: usize,
    concurrency: usize,
    heartbeats: usize,
    rounds: usize,
    churn_pct: usize,
    upgrades: usize,
    check_targets: usize,
    tickets: usize,
    report_writes: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        agents: 300,
        concurrency: 64,
        heartbeats: 30_000,
        rounds: 10,
        churn_pct: 10,
        upgrades: 30,
        check_targets: 1,
        tickets: 1,
        report_writes: 0,
    };
    cmdb_tests::load::numeric_args(&mut [
        ("--agents", &mut a.agents),
        ("--concurrency", &mut a.concurrency),
        ("--heartbeats", &mut a.heartbeats),
        ("--rounds", &mut a.rounds),
        ("--churn-pct", &mut a.churn_pct),
        ("--upgrades", &mut a.upgrades),
        ("--check-targets", &mut a.check_targets),
        ("--tickets", &mut a.tickets),
        ("--report-writes", &mut a.report_writes),
    ])?;
    anyhow::ensure!(
        a.agents > 0 && a.concurrency > 0,
        "--agents and --concurrency: at least 1"
    );
    anyhow::ensure!(a.churn_pct <= 100, "--churn-pct: at most 100");
    anyhow::ensure!(a.upgrades <= 800, "--upgrades: at most 800");
    Ok(a)
}

struct Phase {
    name: &'static str,
    count: usize,
    secs: f64,
    p50: Duration,
    p99: Duration,
    bytes: usize,
    /// (reports/s, p99) to reach, when the phase has a target.
    target: Option<(f64, Duration)>,
    /// CPU time the server process spent in the phase (user + system), seconds.
    server_cpu: f64,
}

async fn run_phase(
    server: &Server,
    name: &'static str,
    client_for: &ClientFor,
    url: &str,
    jobs: Vec<(String, Vec<u8>)>,
    concurrency: usize,
    target: Option<(f64, Duration)>,
) -> anyhow::Result<Phase> {
    eprintln!("phase: {name} ({} reports) …", jobs.len());
    let bytes = jobs.iter().map(|j| j.1.len()).sum::<usize>() / jobs.len().max(1);
    let cpu0 = server.cpu_seconds().unwrap_or(0.0);
    let t = cmdb_tests::load::post_all(client_for.clone(), url, jobs, concurrency).await?;
    let server_cpu = server.cpu_seconds().unwrap_or(0.0) - cpu0;
    Ok(Phase {
        name,
        count: t.count,
        secs: t.secs,
        p50: t.p50,
        p99: t.p99,
        bytes,
        target,
        server_cpu,
    })
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let churn = Churn {
        pct: a.churn_pct,
        upgrades: a.upgrades,
    };
    eprintln!("starting cmdb-server (SurrealKV, TLS) …");
    let mut server = Server::start()?;
    server.configure(cmdb_tests::seed::FLEET_ENROLLS)?;
    if a.report_writes > 0 {
        server.configure(&format!(
            "[limits]\nmax_concurrent_report_writes = {}\n",
            a.report_writes
        ))?;
    }
    if a.tickets == 0 {
        server.rewrite_config(|t| t.replacen("[tls]\n", "[tls]\nsession_tickets = false\n", 1))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // A new connection and TLS session for every report, as real agents open them.
    let fresh = server.client_builder()?;
    let client_for: ClientFor = Arc::new(fresh);
    let url = format!("{}/api/v1/reports", server.url());
    let phases = rt.block_on(async {
        eprintln!("enrolling {} simulated agents …", a.agents);
        let names: Vec<String> = (0..a.agents).map(|i| format!("bench-{i:05}")).collect();
        let tokens = cmdb_tests::seed::enroll(
            &server.client()?,
            &server.url(),
            &server.init.enroll_token,
            &names,
        )
        .await?;
        let mut phases = Vec::new();
        let full = |round: usize| full_round(&tokens, round, churn);
        phases.push(
            run_phase(
                &server,
                "full inventory, new host (CI created)",
                &client_for,
                &url,
                full(0),
                a.concurrency,
                None,
            )
            .await?,
        );
        let mut all = Vec::new();
        for round in 1..=a.rounds {
            all.extend(full(round));
        }
        phases.push(
            run_phase(
                &server,
                "full inventory, changed (usage; churn)",
                &client_for,
                &url,
                all,
                a.concurrency,
                Some((300.0, Duration::from_millis(250))),
            )
            .await?,
        );
        let last = a.rounds;
        let per_agent = a.heartbeats.div_ceil(a.agents);
        // Each host's inventory and hashes are made once: only the report id differs from
        // one heartbeat round to the next.
        let held: Vec<_> = (0..tokens.len())
            .map(|i| {
                let inv = inventory(i, last, churn);
                let base = inventory_hashes(&inv);
                (inv, base)
            })
            .collect();
        let mut hb = Vec::new();
        for round in 0..per_agent {
            for (i, token) in tokens.iter().enumerate() {
                let (inv, base) = &held[i];
                let id = format!("h{round}-{i}");
                hb.push((
                    token.clone(),
                    report(id, ReportKind::Delta, inv, Some(base)),
                ));
            }
        }
        phases.push(
            run_phase(
                &server,
                "delta, unchanged (heartbeat)",
                &client_for,
                &url,
                hb,
                a.concurrency,
                Some((5000.0, Duration::from_millis(250))),
            )
            .await?,
        );
        // Every host upgrades `--upgrades` packages at once (a fleet's patch day), and says
        // so in a delta.
        let d = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let before = inventory(i, last, churn);
                let mut after = before.clone();
                upgrade(&mut after, i, last + 1, a.upgrades.max(1));
                let id = format!("d-{i}");
                (
                    token.clone(),
                    report(
                        id,
                        ReportKind::Delta,
                        &after,
                        Some(&inventory_hashes(&before)),
                    ),
                )
            })
            .collect();
        phases.push(
            run_phase(
                &server,
                "delta, packages upgraded",
                &client_for,
                &url,
                d,
                a.concurrency,
                None,
            )
            .await?,
        );
        anyhow::Ok(phases)
    })?;
    println!(
        "cmdb-server ingestion, {} simulated agents, {} requests in flight, a new TLS connection per report, loopback, 2 cores shared with the client",
        a.agents, a.concurrency
    );
    println!(
        "full inventories: {} rounds, filesystem usage moving on every host, {} % of hosts upgrading {} packages each round",
        a.rounds, a.churn_pct, a.upgrades
    );
    println!(
        "TLS session tickets {} (each simulated agent resumes from its own session store, as an agent daemon does)",
        if a.tickets == 0 { "off" } else { "on" }
    );
    match a.report_writes {
        0 => println!("reports written at once: the server's default (twice its CPU cores)"),
        n => println!("reports written at once: {n} (limits.max_concurrent_report_writes)"),
    }
    println!(
        "{:<40} {:>8} {:>8} {:>10} {:>8} {:>8} {:>8} {:>10}  target",
        "phase", "reports", "secs", "reports/s", "p50 ms", "p99 ms", "body B", "srv CPU ms"
    );
    let mut pass = true;
    for p in &phases {
        let rate = p.count as f64 / p.secs;
        let verdict = match p.target {
            Some((min, p99)) => {
                let ok = rate >= min && p.p99 < p99;
                pass &= ok;
                format!(
                    ">= {min:.0}/s, p99 < {} ms: {}",
                    p99.as_millis(),
                    if ok { "PASS" } else { "FAIL" }
                )
            }
            None => String::new(),
        };
        println!(
            "{:<40} {:>8} {:>8.2} {:>10.0} {:>8.1} {:>8.1} {:>8} {:>10.3}  {verdict}",
            p.name,
            p.count,
            p.secs,
            rate,
            p.p50.as_secs_f64() * 1000.0,
            p.p99.as_secs_f64() * 1000.0,
            p.bytes,
            p.server_cpu * 1000.0 / p.count.max(1) as f64
        );
    }
    println!(
        "srv CPU ms: the server process's CPU time per report (user + system, from /proc), TLS handshake included; the load generator's own CPU is not in it"
    );
    if a.check_targets != 0 && !pass {
        anyhow::bail!("a target was missed");
    }
    Ok(())
}
