//! `cmdb-bench-estate`: a large estate through the server — by default a million CIs and
//! five million relationships — on the real `cmdb-server` (embedded SurrealKV, HTTPS on
//! loopback), as an admin and a user reach it through the API.
//!
//! 1. Bulk import: the synthetic data centre of `cmdb_graph::synth` (about 5 relationships
//!    per CI) through `POST /api/v1/import` by class and name, CIs first, then relationships,
//!    `--chunk` items a request, one importer after another (`--parallel N` at once).
//!    Target: relationships ≥ 20,000/s.
//! 2. Restart: SIGTERM, wait for the exit, start again on the same data directory; seconds
//!    until `/healthz` answers 200 (the listener serves once storage is open and the
//!    relationship index loaded) and the process's peak RSS then. Target: ≤ 60 s.
//! 3. Impact, with `limit` 500 (the first page of affected CIs with exact counts and every
//!    business service; in the query of the GET, in the body of the POST; left out, and
//!    said so, when the server refuses it): a core switch (`GET /api/v1/cis/{id}/impact`),
//!    a top-of-rack switch, and both core switches at once (`POST /api/v1/impact`). Target:
//!    core switch p50 ≤ 500 ms.
//! 4. CI list and search: the first page, the first page of one class, a name search
//!    matching a few CIs. Target: p50 ≤ 50 ms each.
//! 5. Memory: the server's VmRSS and VmHWM after the import, after the restart and at the
//!    end. Target: VmHWM after the restart ≤ 2 GiB.
//!
//! Each query is sent once to warm up (its time is printed too: the first such question
//! since the start), then `--runs` times one after another. Prints a table of figures
//! against targets, with the server's CPU time per imported item and the machine's load
//! average; exits non-zero when a checked target is missed.
//!
//! The server's configuration is the default but for what a chunk needs:
//! `limits.max_list_items` (and the body size limits) large enough for `--chunk` items, and
//! a request timeout of an hour. Rate limits stay: an answer 429 (or 503) is sent again
//! after its `Retry-After`, and counted.
//!
//! `--smoke`: 20,000 CIs and 5 runs, for a debug build in minutes; checks only the targets
//! that hold at any size on any build (start time, memory, the data surviving the restart).
//!
//! `--crash`: the restart is by SIGKILL instead of SIGTERM, as after a crash: the start then
//! replays what SurrealKV's write-ahead log holds beyond its SSTables, and the data must all
//! be back.
//!
//! `--keep-in DIR`: the server's directory (data, configuration, certificates, tokens) is
//! made in DIR and kept at the end; its path is printed. `--reuse PATH` starts the server
//! kept there instead of importing (same `--cis`): steps 2 to 5 on an estate imported by
//! an earlier run, as after an upgrade of the server (its start is then the first on that
//! data, whose files may no longer be in the page cache).
//!
//! Usage: cmdb-bench-estate [--smoke] [--cis N] [--chunk N] [--parallel N] [--runs N]
//!                          [--check-targets 0|1] [--crash] [--keep-in DIR | --reuse PATH]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cmdb_graph::synth::{EstateParams, data_centre};
use cmdb_tests::estate::{
    Imported, Timing, call, ci_items, class_of, id_of, import_body, import_chunks, rel_items,
    time_runs,
};
use cmdb_tests::{Server, proc_memory_kib};
use serde_json::{Value, json};

struct Args {
    cis: usize,
    chunk: usize,
    parallel: usize,
    runs: usize,
    check_targets: usize,
    smoke: bool,
    crash: bool,
    keep_in: Option<std::path::PathBuf>,
    reuse: Option<std::path::PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut raw: Vec<String> = std::env::args().skip(1).collect();
    let smoke = raw.iter().any(|a| a == "--smoke");
    let crash = raw.iter().any(|a| a == "--crash");
    raw.retain(|a| a != "--crash");
    let mut path_arg = |name: &str| -> anyhow::Result<Option<std::path::PathBuf>> {
        let Some(i) = raw.iter().position(|a| a == name) else {
            return Ok(None);
        };
        anyhow::ensure!(i + 1 < raw.len(), "{name}: a directory expected");
        let v = raw.remove(i + 1);
        raw.remove(i);
        Ok(Some(v.into()))
    };
    let keep_in = path_arg("--keep-in")?;
    let reuse = path_arg("--reuse")?;
    anyhow::ensure!(
        keep_in.is_none() || reuse.is_none(),
        "--keep-in and --reuse: one or the other"
    );
    let mut a = Args {
        cis: if smoke { 20_000 } else { 1_000_000 },
        chunk: 10_000,
        parallel: 1,
        runs: if smoke { 5 } else { 20 },
        check_targets: 1,
        smoke,
        crash,
        keep_in,
        reuse,
    };
    cmdb_tests::load::numeric_args_from(
        raw.into_iter().filter(|a| a != "--smoke"),
        &mut [
            ("--cis", &mut a.cis),
            ("--chunk", &mut a.chunk),
            ("--parallel", &mut a.parallel),
            ("--runs", &mut a.runs),
            ("--check-targets", &mut a.check_targets),
        ],
    )?;
    anyhow::ensure!(
        a.cis > 0 && a.chunk > 0 && a.parallel > 0 && a.runs > 0,
        "--cis, --chunk, --parallel and --runs: at least 1"
    );
    Ok(a)
}

/// The longest the bench waits for the restarted server (the target is far below: a slow
/// start is reported as a missed target, not as an error).
const START_DEADLINE: Duration = Duration::from_secs(900);
/// The longest the bench waits for the server to stop (SIGTERM) before it kills it and
/// fails.
const STOP_DEADLINE: Duration = Duration::from_secs(600);
/// Impact answers: this many affected CIs listed (the counts and business services stay
/// whole).
const IMPACT_LIMIT: usize = 500;

/// A line of the result table.
struct Row {
    figure: String,
    value: String,
    /// The target, and whether it was met.
    target: Option<(String, bool)>,
    /// The target is checked in this mode (else only printed).
    checked: bool,
}

impl Row {
    fn info(figure: impl Into<String>, value: impl Into<String>) -> Self {
        Row {
            figure: figure.into(),
            value: value.into(),
            target: None,
            checked: false,
        }
    }

    fn target(
        figure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        met: bool,
        checked: bool,
    ) -> Self {
        Row {
            figure: figure.into(),
            value: value.into(),
            target: Some((target.into(), met)),
            checked,
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `n` with thousands separators.
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

/// VmRSS / VmHWM of the server as a table value.
fn memory(m: Option<(u64, u64)>) -> String {
    match m {
        Some((rss, hwm)) => format!("{:.0} MiB RSS, {:.0} MiB peak", mib(rss), mib(hwm)),
        None => "unknown".into(),
    }
}

/// What an impact answer says: its counts, how much of `affected` it lists, its business
/// services.
fn impact_summary(body: &[u8]) -> anyhow::Result<(String, usize)> {
    let v: Value = serde_json::from_slice(body).context("impact answer")?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
    let listed = v["affected"].as_array().map_or(0, Vec::len);
    let services = v["business_services"].as_array().map_or(0, Vec::len);
    let total = ["total", "affected_total", "total_affected"]
        .iter()
        .find_map(|k| v[*k].as_u64())
        .map(|t| format!(", total {}", count(t as usize)))
        .unwrap_or_default();
    Ok((
        format!(
            "{} down, {} degraded, {} at risk{total}; {} listed{}; {} business services hit, \
             {} at risk; index time {:.1} ms",
            count(n("down")),
            count(n("degraded")),
            count(n("at_risk")),
            count(listed),
            if v["truncated"] == true {
                " (truncated)"
            } else {
                ""
            },
            count(services),
            v["services_at_risk"].as_array().map_or(0, Vec::len),
            v["elapsed_ms"].as_f64().unwrap_or(0.0),
        ),
        listed,
    ))
}

/// Sends an impact request with `limit`: whether the server refuses the parameter (400
/// naming it); fails on another error.
async fn refuses_limit(request: reqwest::RequestBuilder) -> anyhow::Result<bool> {
    let r = request.send().await?;
    let status = r.status();
    let text = r.text().await?;
    if status == reqwest::StatusCode::BAD_REQUEST && text.contains("limit") {
        return Ok(true);
    }
    if !status.is_success() {
        bail!("impact: {status}: {text}");
    }
    Ok(false)
}

/// The CIs and relationships the server holds: the CI list's total and the graph index's
/// nodes and edges.
async fn holdings(client: &reqwest::Client, base: &str, admin: &str) -> anyhow::Result<[u64; 3]> {
    let get = reqwest::Method::GET;
    let page = call(
        client,
        get.clone(),
        &format!("{base}/api/v1/cis?limit=1"),
        admin,
        None,
    )
    .await?;
    let graph = call(client, get, &format!("{base}/api/v1/graph"), admin, None).await?;
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    Ok([n(&page["total"]), n(&graph["nodes"]), n(&graph["edges"])])
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let full = !a.smoke;
    let t = Instant::now();
    let estate = data_centre(&EstateParams::for_cis(a.cis));
    let (n_cis, n_rels) = (estate.keys.len(), estate.links.len());
    eprintln!(
        "estate: {} CIs, {} relationships (generated in {:.1} s)",
        count(n_cis),
        count(n_rels),
        t.elapsed().as_secs_f64()
    );
    let mut server = match &a.reuse {
        Some(path) => {
            eprintln!("the server kept in {} …", path.display());
            Server::reopen(path)?
        }
        None => {
            eprintln!("starting cmdb-server (SurrealKV, TLS) …");
            let mut server = Server::start_in(a.keep_in.as_deref(), &[], &[])?;
            if a.keep_in.is_some() {
                eprintln!(
                    "the server's directory (kept): {}",
                    server.dir.path().display()
                );
            }
            // An import of `--chunk` items must fit the per-request limits; a slow import of
            // one chunk must not meet the request timeout.
            let body_bytes = (a.chunk * 256).max(16 << 20);
            server.configure(&format!(
                "[limits]\nmax_list_items = {}\nmax_body_bytes = {body_bytes}\n\
                 max_raw_body_bytes = {body_bytes}\n\n[http]\nrequest_timeout_secs = 3600\n",
                a.chunk.max(20_000)
            ))?;
            server
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // One kept-alive connection, as a script's HTTP client keeps; long timeouts, since a
    // chunk of a slow import takes a while.
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(server.tls_config()?)
        .timeout(Duration::from_secs(3_600))
        .no_proxy()
        .build()?;
    let base = server.url();
    let admin = server.init.admin_token.clone();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    // 1. Bulk import (none when reusing a kept server: `imported` is then unknown).
    let imported: Option<[u64; 3]> = if a.reuse.is_some() {
        None
    } else {
        let ((cis, cis_cpu), (rels, rels_cpu), imported) = rt.block_on(async {
            let items = ci_items(&estate, &class_of, &|_| false);
            eprintln!(
                "importing {} CIs, {} a request, {} at a time …",
                count(n_cis),
                count(a.chunk),
                a.parallel
            );
            let bodies = items
                .chunks(a.chunk)
                .map(|c| Ok((c.len(), import_body("cis", c)?)));
            let cpu0 = server.cpu_seconds().unwrap_or(0.0);
            let cis =
                import_chunks(&client, &base, &admin, "cis", n_cis, bodies, a.parallel).await?;
            let cpu1 = server.cpu_seconds().unwrap_or(0.0);
            eprintln!(
                "importing {} relationships, {} a request, {} at a time …",
                count(n_rels),
                count(a.chunk),
                a.parallel
            );
            let bodies = estate.links.chunks(a.chunk).map(|c| {
                let items = rel_items(&estate, c, &class_of);
                Ok((c.len(), import_body("relationships", &items)?))
            });
            let rels = import_chunks(
                &client,
                &base,
                &admin,
                "relationships",
                n_rels,
                bodies,
                a.parallel,
            )
            .await?;
            let cpu2 = server.cpu_seconds().unwrap_or(0.0);
            let cpu = [cpu1 - cpu0, cpu2 - cpu1];
            anyhow::Ok((
                (cis, cpu[0]),
                (rels, cpu[1]),
                holdings(&client, &base, &admin).await?,
            ))
        })?;
        let mem_imported = server.memory_kib();
        // The server's CPU time: what an import costs it, whatever else the machine runs.
        let import_row = |i: &Imported, cpu: f64| {
            let retried = if i.retries > 0 {
                format!(", {} sent again after 429/503", i.retries)
            } else {
                String::new()
            };
            format!(
                "{} in {:.1} s: {:.0}/s ({} requests, slowest {:.1} s{retried}); server CPU {cpu:.1} s \
                 ({:.0} % of one core, {:.0} µs an item)",
                count(i.items),
                i.secs,
                i.rate(),
                i.requests,
                i.slowest.as_secs_f64(),
                cpu / i.secs.max(1e-9) * 100.0,
                cpu / i.items.max(1) as f64 * 1e6,
            )
        };
        rows.push(Row::info("import: CIs", import_row(&cis, cis_cpu)));
        rows.push(Row::target(
            "import: relationships",
            import_row(&rels, rels_cpu),
            "≥ 20,000/s",
            rels.rate() >= 20_000.0,
            full,
        ));
        rows.push(Row::info(
            "server memory after the import",
            memory(mem_imported),
        ));
        Some(imported)
    };

    // 2. Restart on the same data.
    eprintln!("restarting the server …");
    let t = Instant::now();
    if a.crash {
        server.kill9()?;
    } else {
        // Closing writes the memtables out: seconds, more with large ones on a loaded disk.
        server.stop_within(STOP_DEADLINE)?;
    }
    let stop_secs = t.elapsed().as_secs_f64();
    let stop_secs = imported.map(|_| stop_secs);
    let logged = server.logs().len();
    let t = Instant::now();
    server.resume_within(START_DEADLINE)?;
    let start_secs = t.elapsed().as_secs_f64();
    let mem_started = server.memory_kib();
    let hwm_started = mem_started.map_or(u64::MAX, |m| m.1);
    // What the server says of its start (its own timings), for where the seconds go.
    let start_log = server.logs().get(logged..).unwrap_or_default().to_string();
    eprintln!("the server's log of its start:");
    for line in start_log.lines().take(20) {
        eprintln!("  {line}");
    }
    let index_secs = start_log
        .lines()
        .find(|l| l.contains("relationship index loaded"))
        .and_then(|l| {
            l.split_once("secs=")?
                .1
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        });
    if let Some(stop_secs) = stop_secs {
        rows.push(Row::info(
            if a.crash {
                "stop: SIGKILL (a crash) until the process exits"
            } else {
                "stop: SIGTERM until the process exits"
            },
            format!("{stop_secs:.1} s"),
        ));
    }
    rows.push(Row::target(
        "start: until /healthz answers 200",
        match index_secs {
            Some(i) => format!(
                "{start_secs:.1} s, of which {i:.1} s loading the relationship index (its log)"
            ),
            None => format!("{start_secs:.1} s"),
        },
        "≤ 60 s",
        start_secs <= 60.0,
        true,
    ));
    rows.push(Row::target(
        "server memory when ready after the restart",
        memory(mem_started),
        "peak ≤ 2048 MiB",
        mib(hwm_started) <= 2048.0,
        true,
    ));

    rt.block_on(async {
        let after = holdings(&client, &base, &admin).await?;
        rows.push(Row::target(
            "held after the import / after the restart: CIs listed, index nodes, index edges",
            match imported {
                Some(imported) => format!("{imported:?} / {after:?}"),
                None => format!("not imported by this run / {after:?}"),
            },
            format!("{n_cis} CIs, {n_rels} edges, the same after"),
            after[0] == n_cis as u64
                && after[2] == n_rels as u64
                && imported.is_none_or(|i| i == after),
            true,
        ));

        // 3. Impact.
        let core = id_of(&client, &base, &admin, "switch", "core-1").await?;
        let core2 = id_of(&client, &base, &admin, "switch", "core-2").await?;
        let tor = id_of(&client, &base, &admin, "switch", "tor-0-a").await?;
        // Whether the server takes `limit` (in the query of the GET, in the body of the
        // POST; without it, an answer lists up to `relationships.max_impact_items` affected
        // CIs), asked about a business service, so the first question about each switch stays
        // the first since the start.
        let biz = id_of(&client, &base, &admin, "business_service", "biz-0").await?;
        let get = |path: String| {
            let (client, admin) = (&client, &admin);
            move || client.get(&path).bearer_auth(admin)
        };
        let post = |body: &Value| {
            client
                .post(format!("{base}/api/v1/impact"))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body(body.to_string())
        };
        let mut limit = format!("?limit={IMPACT_LIMIT}");
        if refuses_limit(get(format!("{base}/api/v1/cis/{biz}/impact{limit}"))()).await? {
            notes.push(
                "the server refuses `limit` on GET /api/v1/cis/{id}/impact (400): timed without it"
                    .to_string(),
            );
            limit.clear();
        }
        let mut both = json!({"cis": [core, core2], "limit": IMPACT_LIMIT});
        if refuses_limit(post(&json!({"cis": [biz], "limit": IMPACT_LIMIT}))).await? {
            notes.push(
                "the server refuses `limit` in the body of POST /api/v1/impact (400): timed \
                 without it"
                    .to_string(),
            );
            both = json!({"cis": [core, core2]});
        }
        let paged = [
            !limit.is_empty(),
            !limit.is_empty(),
            both.get("limit").is_some(),
        ];
        let queries: Vec<(&str, Option<f64>, Timing)> = vec![
            (
                "impact: core switch (GET /api/v1/cis/{id}/impact)",
                Some(500.0),
                time_runs(
                    "impact of core-1",
                    a.runs,
                    get(format!("{base}/api/v1/cis/{core}/impact{limit}")),
                )
                .await?,
            ),
            (
                "impact: top-of-rack switch",
                None,
                time_runs(
                    "impact of tor-0-a",
                    a.runs,
                    get(format!("{base}/api/v1/cis/{tor}/impact{limit}")),
                )
                .await?,
            ),
            (
                "impact: both core switches (POST /api/v1/impact)",
                None,
                time_runs("impact of both cores", a.runs, || post(&both)).await?,
            ),
        ];
        for ((label, target, t), paged) in queries.iter().zip(paged) {
            let (summary, listed) = impact_summary(&t.body)?;
            if paged && listed > IMPACT_LIMIT {
                notes.push(format!(
                    "{label}: {} affected CIs listed, more than the {IMPACT_LIMIT} asked for",
                    count(listed)
                ));
            }
            let value = format!(
                "p50 {}, p95 {}, first {}, {:.1} kB — {summary}",
                ms(t.p50),
                ms(t.p95),
                ms(t.first),
                t.body.len() as f64 / 1e3
            );
            rows.push(match target {
                Some(ms_max) => Row::target(
                    *label,
                    value,
                    format!("p50 ≤ {ms_max:.0} ms"),
                    t.p50.as_secs_f64() * 1e3 <= *ms_max,
                    full,
                ),
                None => Row::info(*label, value),
            });
        }

        // 4. CI list and search.
        // A VM's name without its last digit: it, and the ten VMs numbered on from it.
        let mut vm = estate.key(estate.vms[estate.vms.len() / 2]).to_string();
        if vm.len() > "vm-1".len() {
            vm.pop();
        }
        for (label, path) in [
            ("CI list: first page", "/api/v1/cis?limit=100".to_string()),
            (
                "CI list: first page of a class (vm)",
                "/api/v1/cis?limit=100&class=vm".to_string(),
            ),
            (
                "CI search by name fragment",
                format!("/api/v1/cis?limit=100&q={vm}"),
            ),
            (
                "CI list: most recently seen first",
                "/api/v1/cis?limit=100&sort=last_seen".to_string(),
            ),
            (
                "CI list: stale CIs (none in a fresh estate, so the whole pass)",
                "/api/v1/cis?limit=100&stale=true".to_string(),
            ),
        ] {
            let t = time_runs(label, a.runs, get(format!("{base}{path}"))).await?;
            let page: Value = serde_json::from_slice(&t.body).context("CI page")?;
            rows.push(Row::target(
                format!("{label} ({path})"),
                format!(
                    "p50 {}, p95 {}, first {}, {:.1} kB, {} of {} CIs",
                    ms(t.p50),
                    ms(t.p95),
                    ms(t.first),
                    t.body.len() as f64 / 1e3,
                    page["items"].as_array().map_or(0, Vec::len),
                    count(page["total"].as_u64().unwrap_or(0) as usize),
                ),
                "p50 ≤ 50 ms",
                t.p50 <= Duration::from_millis(50),
                full,
            ));
        }
        anyhow::Ok(())
    })?;

    // 5. Memory at the end.
    rows.push(Row::info(
        "server memory at the end",
        memory(server.memory_kib()),
    ));
    let me = proc_memory_kib("/proc/self/status");
    rows.push(Row::info(
        "this load generator's memory (same machine)",
        memory(me),
    ));
    server.stop_within(STOP_DEADLINE)?;
    let kept = match a.keep_in {
        Some(_) => Some(server.keep()?),
        None => None,
    };

    println!();
    println!(
        "{} CIs and {} relationships through the API of one cmdb-server (embedded SurrealKV, \
         HTTPS on loopback, one kept-alive connection){}",
        count(n_cis),
        count(n_rels),
        if a.smoke { "; smoke run" } else { "" }
    );
    println!(
        "import: {} items a request, {} request(s) at a time; queries: median and p95 of {} \
         after one warm-up (\"first\": the warm-up, the first such question since the start), \
         the whole answer read",
        count(a.chunk),
        a.parallel,
        a.runs
    );
    println!();
    println!("| figure | value | target | |");
    println!("|---|---|---|---|");
    let mut missed = Vec::new();
    for r in &rows {
        let (target, verdict) = match &r.target {
            None => ("—".to_string(), String::new()),
            Some((t, met)) => {
                if !met && r.checked {
                    missed.push(format!("{}: {} (target {t})", r.figure, r.value));
                }
                let v = match (met, r.checked) {
                    (true, true) => "met",
                    (false, true) => "**missed**",
                    (true, false) => "met (not checked in a smoke run)",
                    (false, false) => "missed (not checked in a smoke run)",
                };
                (t.clone(), v.to_string())
            }
        };
        println!("| {} | {} | {target} | {verdict} |", r.figure, r.value);
    }
    println!();
    println!(
        "What the figures leave out: the load generator runs on the same {} cores as the server \
         (building request bodies, parsing answers, TLS); times are from sending a request to its \
         last byte on loopback, with no network between; the import is one admin's script with \
         no other load on the server (no agents reporting meanwhile); the start time counts from \
         spawning the process to the first 200 of /healthz (polled every 100 ms) on a data \
         directory just written, whose files are still in the page cache; memory is the server \
         process's own (VmRSS / VmHWM from /proc), not the page cache it uses.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if a.smoke {
        println!(
            "Smoke run: only the start time, the memory peak and the data surviving the restart \
             are checked; the throughput and latency targets are for a release build at full size."
        );
    }
    for n in &notes {
        println!("Note: {n}");
    }
    if let Some(path) = kept.as_ref().or(a.reuse.as_ref()) {
        println!(
            "The server's directory is kept: {} (again with --reuse {0})",
            path.display()
        );
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "Load average at the end (1, 5, 15 min): {} (anything above what this bench runs \
             shares the cores with it)",
            load.join(", ")
        );
    }
    if !missed.is_empty() && a.check_targets != 0 {
        bail!("targets missed:\n  {}", missed.join("\n  "));
    }
    Ok(())
}
