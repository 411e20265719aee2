//! Impact analysis benchmark on a synthetic data centre (see `cmdb_graph::synth`).
//!
//! Generates an estate of about 1,000,000 CIs and 5,000,000 relationships, loads it, then times
//! `impact()` on failure sets whose results are about 10, 1,000 and 50,000 CIs and the whole
//! estate, next to `plain_bfs()` (the floor: a bare reverse breadth-first search over the same
//! arrays) on the same failed set, interleaved in the same run. Prints a table and PASS/FAIL
//! against the targets. Scale with environment variables:
//! - `CMDB_BENCH_CIS` (default 1000000): estate size;
//! - `CMDB_BENCH_RUNS_SMALL` (default 200), `CMDB_BENCH_RUNS_BIG` (default 20): runs per query
//!   (big = results over 100,000 CIs);
//! - `CMDB_BENCH_SHUFFLE` (default 1): hand the rows to `build` in random order, as storage
//!   returns them (0: generation order);
//! - `CMDB_BENCH_DECLARE_CORE` (default 1): declare the core switches (0: let the default-core
//!   heuristic find them).
//!
//! Run with `cargo bench -p cmdb-graph --bench impact --features testing` (the bench needs the
//! `testing` feature for `synth`) or `scripts/bench_impact.sh`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cmdb_graph::synth::{self, Estate, EstateParams, Tier};
use cmdb_graph::{GraphIndex, ImpactOptions, NodeId, State};

/// Impact must stay within this factor of the plain search.
const MAX_RATIO: f64 = 10.0;
/// p99 bound of the ~1,000-CI query.
const THOUSAND_P99: Duration = Duration::from_millis(50);
/// Bound of the whole-estate query (its p99).
const WHOLE_P99: Duration = Duration::from_millis(200);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Resident set size from /proc/self/statm (pages of 4 KiB, the page size of the machines this
/// runs on).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A latency with a unit that keeps three significant digits readable.
fn lat(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}

/// Thousands separators.
fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[i - 1]
}

/// What a row is held to.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// Only the ratio to the plain search.
    Ratio,
    /// The ratio and p99 < 50 ms.
    Thousand,
    /// The ratio and p99 < 200 ms.
    Whole,
}

struct Query {
    label: String,
    failed: Vec<NodeId>,
    target: Target,
}

fn ids(g: &GraphIndex, e: &Estate, keys: &[u32]) -> Vec<NodeId> {
    keys.iter().filter_map(|&k| g.node_id(e.key(k))).collect()
}

/// Among `candidates`, the failed set whose result size is closest to `want` (log scale).
fn closest(g: &GraphIndex, candidates: Vec<Vec<NodeId>>, want: usize) -> (Vec<NodeId>, usize) {
    let mut best = (Vec::new(), 0usize, f64::MAX);
    for c in candidates {
        let n = g.impact(&c, &ImpactOptions::default()).affected().len();
        let off = ((n.max(1) as f64) / want as f64).ln().abs();
        if off < best.2 {
            best = (c, n, off);
        }
    }
    (best.0, best.1)
}

fn main() {
    let cis = env_usize("CMDB_BENCH_CIS", 1_000_000);
    let runs_small = env_usize("CMDB_BENCH_RUNS_SMALL", 200).max(1);
    let runs_big = env_usize("CMDB_BENCH_RUNS_BIG", 20).max(1);

    let shuffle = env_usize("CMDB_BENCH_SHUFFLE", 1) != 0;
    let declare_core = env_usize("CMDB_BENCH_DECLARE_CORE", 1) != 0;

    let t = Instant::now();
    let estate = synth::data_centre(&EstateParams {
        declare_core,
        ..EstateParams::for_cis(cis)
    });
    let mut nodes = estate.nodes();
    let mut edges = estate.edges();
    if shuffle {
        let mut rng = synth::Rng::new(42);
        rng.shuffle(&mut nodes);
        rng.shuffle(&mut edges);
    }
    println!(
        "estate: {} CIs, {} relationships ({} hypervisors, {} VMs, {} service instances in {} clusters, {} applications, {} business services), generated in {:.1} s",
        count(nodes.len()),
        count(edges.len()),
        count(estate.hypervisors.len()),
        count(estate.vms.len()),
        count(estate.clusters.iter().map(|c| c.instances.len()).sum()),
        count(estate.clusters.len()),
        count(estate.applications.len()),
        count(estate.business_services.len()),
        t.elapsed().as_secs_f64()
    );
    println!(
        "rows {}; core switches {}",
        if shuffle {
            "shuffled (storage order)"
        } else {
            "in generation order"
        },
        if declare_core {
            "declared"
        } else {
            "not declared (default core)"
        }
    );

    // Resident memory of an index, measured on a build from cloned rows while the source rows
    // stay alive, so the allocator cannot hand the index memory the rows just gave back.
    let rss0 = rss_bytes();
    let probe = GraphIndex::build(nodes.iter().cloned(), edges.iter().cloned());
    let rss_index = rss_bytes().saturating_sub(rss0);
    drop(probe);

    // Load time: the rows are moved in, as the server does with rows read from storage.
    let t = Instant::now();
    let g = GraphIndex::build(nodes, edges);
    let build = t.elapsed();
    let index_bytes = g.memory_bytes();
    let t = Instant::now();
    let cores = g.core_nodes();
    let meta = t.elapsed();
    println!(
        "build: {:.2} s from the edge list; network metadata (lazy, first query): {:.0} ms; {} core CIs",
        build.as_secs_f64(),
        ms(meta),
        cores.len()
    );
    println!(
        "memory: memory_bytes {:.0} MiB (index, before queries); RSS increase of a build {:.0} MiB",
        mib(index_bytes),
        mib(rss_index)
    );

    // Failure sets.
    let tier = |t: Tier| estate.clusters.iter().filter(move |c| c.tier == t);
    let mut queries = Vec::new();
    let singles: Vec<Vec<NodeId>> = tier(Tier::Front)
        .chain(tier(Tier::Middle))
        .take(300)
        .filter_map(|c| c.instances.first())
        .map(|&i| ids(&g, &estate, &[i]))
        .collect();
    let (f, _) = closest(&g, singles, 10);
    queries.push(Query {
        label: "~10: one service instance".into(),
        failed: f,
        target: Target::Ratio,
    });
    let regional: Vec<Vec<NodeId>> = tier(Tier::RegionalPlatform)
        .take(100)
        .map(|c| ids(&g, &estate, &c.instances))
        .collect();
    let (f, _) = closest(&g, regional, 1_000);
    queries.push(Query {
        label: "~1,000: a regional platform cluster".into(),
        failed: f,
        target: Target::Thousand,
    });
    let global: Vec<Vec<NodeId>> = tier(Tier::GlobalPlatform)
        .take(60)
        .map(|c| ids(&g, &estate, &c.instances))
        .collect();
    let (f, _) = closest(&g, global, 50_000);
    queries.push(Query {
        label: "~50,000: a global platform cluster".into(),
        failed: f,
        target: Target::Ratio,
    });
    queries.push(Query {
        label: "whole estate: both core switches".into(),
        failed: ids(&g, &estate, &estate.cores),
        target: Target::Whole,
    });
    // Network failures: the plain search floods the whole network from any switch or host, so
    // these rows compare impact with a search over the entire estate.
    queries.push(Query {
        label: "network: one hypervisor".into(),
        failed: ids(&g, &estate, &estate.hypervisors[..1]),
        target: Target::Ratio,
    });
    // The at-risk case: the rack's hypervisors lose one uplink each, and every business
    // service above them is counted.
    queries.push(Query {
        label: "network: one top-of-rack switch".into(),
        failed: ids(&g, &estate, &estate.racks[0][..1]),
        target: Target::Ratio,
    });
    queries.push(Query {
        label: "network: one aggregation pair".into(),
        failed: ids(&g, &estate, &estate.pods[0]),
        target: Target::Ratio,
    });
    queries.push(Query {
        label: "network: one core switch".into(),
        failed: ids(&g, &estate, &estate.cores[..1]),
        target: Target::Ratio,
    });

    println!();
    println!(
        "{:<36} {:>6} {:>9} {:>9} {:>9} {:>9} {:>11} {:>4} {:>9} {:>9} {:>9} {:>9} {:>5}  result",
        "query",
        "failed",
        "affected",
        "down",
        "degraded",
        "at risk",
        "plain reach",
        "runs",
        "p50",
        "p99",
        "max",
        "plain p50",
        "ratio"
    );
    let mut all_pass = true;
    for q in &queries {
        let opts = ImpactOptions::default();
        let first = g.impact(&q.failed, &opts);
        let size = first.affected().len();
        let down = first.count(State::Down);
        let degraded = first.count(State::Degraded);
        let at_risk = first.count(State::AtRisk);
        drop(first);
        let reach = g.plain_bfs(&q.failed);
        let runs = if size.max(reach) > 100_000 {
            runs_big
        } else {
            runs_small
        };
        // Interleaved so both see the same machine state; each timing includes dropping the
        // result, which a caller pays too.
        let mut imp = Vec::with_capacity(runs);
        let mut plain = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let r = g.impact(black_box(&q.failed), &opts);
            black_box(r.affected().len());
            drop(r);
            imp.push(t.elapsed());
            let t = Instant::now();
            black_box(g.plain_bfs(black_box(&q.failed)));
            plain.push(t.elapsed());
        }
        imp.sort_unstable();
        plain.sort_unstable();
        let (p50, p99, max) = (pct(&imp, 0.5), pct(&imp, 0.99), pct(&imp, 1.0));
        let plain50 = pct(&plain, 0.5);
        let ratio = p50.as_secs_f64() / plain50.as_secs_f64().max(1e-9);
        let mut verdict = vec![format!(
            "ratio<={MAX_RATIO:.0} {}",
            if ratio <= MAX_RATIO { "PASS" } else { "FAIL" }
        )];
        let mut pass = ratio <= MAX_RATIO;
        match q.target {
            Target::Ratio => {}
            Target::Thousand => {
                let ok = p99 < THOUSAND_P99;
                pass &= ok;
                verdict.push(format!(
                    "p99<{}ms {}",
                    THOUSAND_P99.as_millis(),
                    if ok { "PASS" } else { "FAIL" }
                ));
            }
            Target::Whole => {
                let ok = p99 < WHOLE_P99;
                pass &= ok;
                verdict.push(format!(
                    "p99<{}ms {}",
                    WHOLE_P99.as_millis(),
                    if ok { "PASS" } else { "FAIL" }
                ));
            }
        }
        all_pass &= pass;
        println!(
            "{:<36} {:>6} {:>9} {:>9} {:>9} {:>9} {:>11} {:>4} {:>9} {:>9} {:>9} {:>9} {:>5.2}  {}",
            q.label,
            q.failed.len(),
            count(size),
            count(down),
            count(degraded),
            count(at_risk),
            count(reach),
            runs,
            lat(p50),
            lat(p99),
            lat(max),
            lat(plain50),
            ratio,
            verdict.join(", ")
        );
    }
    println!();
    println!(
        "memory: memory_bytes {:.0} MiB after queries (index plus pooled query buffers); process RSS {:.0} MiB",
        mib(g.memory_bytes()),
        mib(rss_bytes())
    );
    println!("overall: {}", if all_pass { "PASS" } else { "FAIL" });
    if !all_pass {
        std::process::exit(1);
    }
}
