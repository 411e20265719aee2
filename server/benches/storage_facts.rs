//! Measures the SurrealDB facts the server's design rests on (see `docs/architecture.md`,
//! "Measured storage facts"), against embedded SurrealKV in a temporary directory, with the
//! engine's default durability (an fsync per commit).
//!
//! It uses only the `surrealdb` crate, not the server's own code, so it keeps measuring the
//! engine while the server changes. Run it with `scripts/bench_storage.sh`; sizes come from
//! environment variables (`BENCH_DOCS`, `BENCH_BATCH_DOCS`, `BENCH_TREE_NODES`, `BENCH_FANOUT`,
//! `BENCH_SAMPLES`, `BENCH_WRITERS`; defaults below), so a quick run and a long one are the same
//! program. The default run takes about a minute on 2 cores.
//!
//! Every figure is one run: this machine kind moves by ±15 % from run to run.

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::Rng;
use serde_json::{Value, json};
use surrealdb::IndexedResults;
use surrealdb::Surreal;
use surrealdb::engine::any::{Any, connect};
use surrealdb::types::{ErrorDetails, QueryError};

/// Target size of one "document" (a host CI with its sections, roughly).
const DOC_BYTES: usize = 6 * 1024;

/// Sizes of one run.
#[derive(Debug, Clone)]
struct Sizes {
    /// 6 KB documents written one per transaction (one writer, then `writers` at once).
    docs: usize,
    /// 6 KB documents written in each batched phase (transactions of 10, 100 and 1,000).
    batch_docs: usize,
    /// Nodes of the synthetic dependency tree (its edges are the RELATE phase).
    tree_nodes: usize,
    /// Children per node of the tree.
    fanout: usize,
    /// Metric samples written one record each.
    samples: usize,
    /// Concurrent writers (the one-per-transaction phase and the UNIQUE index check).
    writers: usize,
}

impl Sizes {
    fn from_env() -> Result<Self> {
        Ok(Self {
            docs: env_usize("BENCH_DOCS", 2_000)?,
            batch_docs: env_usize("BENCH_BATCH_DOCS", 4_000)?,
            tree_nodes: env_usize("BENCH_TREE_NODES", 46_000)?,
            fanout: env_usize("BENCH_FANOUT", 5)?.max(1),
            samples: env_usize("BENCH_SAMPLES", 200_000)?,
            writers: env_usize("BENCH_WRITERS", 64)?.max(1),
        })
    }
}

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name} must be a whole number, got {v:?}")),
        Err(_) => Ok(default),
    }
}

/// One line of the final table.
struct Row {
    fact: String,
    measured: String,
    earlier: &'static str,
}

fn main() -> Result<()> {
    let sizes = Sizes::from_env()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(run(sizes))
}

async fn run(sizes: Sizes) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let profile = if cfg!(debug_assertions) {
        "dev (this crate at opt-level 0, dependencies at 1)"
    } else {
        "optimised"
    };
    eprintln!(
        "storage_facts: SurrealDB 3.3.5, embedded SurrealKV (sync=every), {cores} cores, build {profile}"
    );
    eprintln!("sizes: {sizes:?}");
    let started = Instant::now();
    let mut rows = Vec::new();

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let db = open(&dir.path().join("main")).await?;

    // 1. 6 KB documents, one per transaction, fsync'd: one writer, then many at once (group
    //    commit shares an fsync between concurrent commits).
    let docs = documents(sizes.docs);
    let rate = insert_batched(&db, "doc_single", &docs, 1).await?;
    rows.push(Row {
        fact: "6 KB documents, one per transaction, 1 writer".into(),
        measured: per_sec(rate),
        earlier: "about 1,500/s",
    });
    let (rate, retries) = insert_concurrent(&db, "doc_concurrent", &docs, sizes.writers).await?;
    rows.push(Row {
        fact: format!(
            "6 KB documents, one per transaction, {} writers ({retries} conflicts retried)",
            sizes.writers
        ),
        measured: per_sec(rate),
        earlier: "—",
    });

    // 2. The same documents in transactions of 10, 100 and 1,000.
    let docs = documents(sizes.batch_docs);
    for batch in [10, 100, 1_000] {
        let rate = insert_batched(&db, &format!("doc_batch_{batch}"), &docs, batch).await?;
        rows.push(Row {
            fact: format!("6 KB documents, {batch} per transaction"),
            measured: per_sec(rate),
            earlier: if batch == 1_000 {
                "no better than 100"
            } else {
                "—"
            },
        });
    }
    drop(docs);

    // 3. RELATE edges: the synthetic dependency tree, 100 edges per transaction.
    let (edges_per_sec, children) = build_tree(&db, sizes.tree_nodes, sizes.fanout).await?;
    rows.push(Row {
        fact: "RELATE edges, 100 per transaction".into(),
        measured: per_sec(edges_per_sec),
        earlier: "about 10,000/s",
    });

    // 4. Impact of the root: recursive traversal in the database vs BFS over arrays.
    let expected = sizes.tree_nodes.saturating_sub(1);
    let (db_time, found) = traverse_in_db(&db).await?;
    if found != expected {
        bail!(
            "the recursive traversal found {found} nodes, the tree has {expected} below its root"
        );
    }
    rows.push(Row {
        fact: format!("impact set of {found} nodes: `{{..+collect}}` traversal in SurrealDB"),
        measured: ms(db_time),
        earlier: "1,250 ms (46,634 nodes)",
    });
    let (bfs_time, reached) = bfs_median(&children);
    if reached != expected {
        bail!("the in-memory BFS reached {reached} nodes, expected {expected}");
    }
    rows.push(Row {
        fact: format!(
            "same impact set: BFS over in-memory `Vec` adjacency ({})",
            if cfg!(debug_assertions) {
                "opt-level 0"
            } else {
                "optimised"
            }
        ),
        measured: ms(bfs_time),
        earlier: "0.7 ms",
    });
    drop(children);

    // 5. Behaviour checks on the same database.
    rows.push(Row {
        fact: "`query()` with a failing statement".into(),
        measured: query_ok_check_err(&db).await?,
        earlier: "Ok; only `.check()` reports it",
    });
    let (cycle, depth) = recursion_limits(&db).await?;
    rows.push(Row {
        fact: "recursion over a 3-node cycle".into(),
        measured: cycle,
        earlier: "only `{..+collect}` is cycle-safe",
    });
    rows.push(Row {
        fact: "`{..+collect}` along a chain of 300 hops".into(),
        measured: depth,
        earlier: "stops at 256 hops",
    });
    rows.push(Row {
        fact: format!(
            "UNIQUE index, {} concurrent writers of one key (x10)",
            sizes.writers
        ),
        measured: unique_under_contention(&db, sizes.writers, 10).await?,
        earlier: "no duplicates; losers: conflict or \"already contains\"",
    });
    drop(db);

    // 6. One record per metric sample, in its own data directory so its size is its own.
    let samples_dir = dir.path().join("samples");
    let sdb = open(&samples_dir).await?;
    let (rate, bytes) = samples(&sdb, &samples_dir, sizes.samples).await?;
    rows.push(Row {
        fact: "metric samples, one record each, 1,000 per transaction".into(),
        measured: per_sec(rate),
        earlier: "37,000/s",
    });
    rows.push(Row {
        fact: "disk per sample (data directory / samples)".into(),
        measured: format!("{bytes:.0} B"),
        earlier: "146 B",
    });
    drop(sdb);

    println!();
    println!("| fact | measured | earlier figure |");
    println!("|---|---:|---|");
    for r in &rows {
        println!("| {} | {} | {} |", r.fact, r.measured, r.earlier);
    }
    println!();
    println!(
        "total {:.0} s; {}",
        started.elapsed().as_secs_f64(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    Ok(())
}

/// Opens embedded SurrealKV at `path` with the default durability (fsync every commit).
async fn open(path: &Path) -> Result<Surreal<Any>> {
    let db = connect(format!("surrealkv://{}", path.display()))
        .await
        .with_context(|| format!("opening SurrealKV at {}", path.display()))?;
    db.use_ns("bench").use_db("bench").await?;
    Ok(db)
}

/// Runs statements and fails on the first failed one (`query()` alone would return `Ok`).
async fn exec(db: &Surreal<Any>, sql: &str, vars: Value) -> Result<IndexedResults> {
    let q = db.query(sql);
    let q = if vars.is_null() { q } else { q.bind(vars) };
    Ok(q.await?.check()?)
}

/// `n` documents of about [`DOC_BYTES`] of JSON each: a host-like record with a package list.
fn documents(n: usize) -> Vec<Value> {
    let mut rng = rand::rng();
    (0..n)
        .map(|i| {
            let mut packages = Vec::new();
            let mut doc = json!({});
            loop {
                doc = json!({
                    "class": "host",
                    "name": format!("host-{i:06}"),
                    "keys": {
                        "hardware_uuid": format!("{:032x}", rng.random::<u128>()),
                        "machine_id": format!("{:032x}", rng.random::<u128>()),
                    },
                    "sections": { "packages": packages },
                });
                if doc.to_string().len() >= DOC_BYTES {
                    break doc;
                }
                packages.push(json!({
                    "manager": "dpkg",
                    "name": format!("lib{:x}", rng.random::<u32>()),
                    "version": format!("{}.{}.{}-{}", rng.random_range(0..9), rng.random_range(0..40), rng.random_range(0..200), rng.random_range(1..9)),
                    "architecture": "amd64",
                }));
            }
        })
        .collect()
}

/// Inserts `docs` into `table`, `batch` per transaction, one writer; documents per second.
async fn insert_batched(
    db: &Surreal<Any>,
    table: &str,
    docs: &[Value],
    batch: usize,
) -> Result<f64> {
    exec(
        db,
        &format!("DEFINE TABLE {table} SCHEMALESS;"),
        Value::Null,
    )
    .await?;
    let sql = format!("INSERT INTO {table} $rows RETURN NONE;");
    let start = Instant::now();
    for chunk in docs.chunks(batch) {
        exec(db, &sql, json!({ "rows": chunk })).await?;
    }
    Ok(docs.len() as f64 / start.elapsed().as_secs_f64())
}

/// Inserts `docs` one per transaction from `writers` tasks at once; documents per second and
/// conflicts retried.
async fn insert_concurrent(
    db: &Surreal<Any>,
    table: &str,
    docs: &[Value],
    writers: usize,
) -> Result<(f64, usize)> {
    // Defined up front: writers that all create the table implicitly would conflict on that.
    exec(
        db,
        &format!("DEFINE TABLE {table} SCHEMALESS;"),
        Value::Null,
    )
    .await?;
    let sql = format!("INSERT INTO {table} $rows RETURN NONE;");
    let per_writer = docs.len().div_ceil(writers).max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for chunk in docs.chunks(per_writer) {
        let (db, sql, chunk) = (db.clone(), sql.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut retries = 0;
            for doc in chunk {
                let vars = json!({ "rows": [doc] });
                // A lost write conflict is retried, as the server does.
                while let Err(e) = exec(&db, &sql, vars.clone()).await {
                    if !is_conflict(&e) || retries > 10_000 {
                        return Err(e);
                    }
                    retries += 1;
                }
            }
            anyhow::Ok(retries)
        }));
    }
    let mut retries = 0;
    for t in tasks {
        retries += t.await??;
    }
    Ok((docs.len() as f64 / start.elapsed().as_secs_f64(), retries))
}

/// Whether `e` is SurrealDB's retryable transaction conflict.
fn is_conflict(e: &anyhow::Error) -> bool {
    e.downcast_ref::<surrealdb::Error>().is_some_and(|e| {
        matches!(
            e.details(),
            ErrorDetails::Query(Some(QueryError::TransactionConflict))
        )
    })
}

/// Writes a tree of `n` nodes where node `i > 0` depends on node `(i - 1) / fanout`, as
/// `RELATE node:i->dep->node:parent` edges, 100 per transaction. Returns edges per second
/// and the reverse adjacency (dependents of each node) for the in-memory BFS.
async fn build_tree(db: &Surreal<Any>, n: usize, fanout: usize) -> Result<(f64, Vec<Vec<u32>>)> {
    exec(
        db,
        "DEFINE TABLE node SCHEMALESS; DEFINE TABLE dep TYPE RELATION IN node OUT node SCHEMALESS;",
        Value::Null,
    )
    .await?;
    for first in (0..n).step_by(1_000) {
        let rows: Vec<Value> = (first..n.min(first + 1_000))
            .map(|i| json!({ "id": i, "class": "service", "name": format!("svc-{i}") }))
            .collect();
        exec(
            db,
            "INSERT INTO node $rows RETURN NONE;",
            json!({ "rows": rows }),
        )
        .await?;
    }
    let mut children = vec![Vec::new(); n];
    let start = Instant::now();
    let mut sql = String::new();
    let mut in_batch = 0;
    for i in 1..n {
        let parent = (i - 1) / fanout;
        children[parent].push(u32::try_from(i)?);
        if in_batch == 0 {
            sql.push_str("BEGIN TRANSACTION;\n");
        }
        sql.push_str(&format!(
            "RELATE node:{i}->dep->node:{parent} SET source = 'discovered' RETURN NONE;\n"
        ));
        in_batch += 1;
        if in_batch == 100 || i == n - 1 {
            sql.push_str("COMMIT TRANSACTION;");
            exec(db, &sql, Value::Null).await?;
            sql.clear();
            in_batch = 0;
        }
    }
    let rate = n.saturating_sub(1) as f64 / start.elapsed().as_secs_f64();
    Ok((rate, children))
}

/// What fails with the root: every node that depends on it, directly or not. Median of 3.
async fn traverse_in_db(db: &Surreal<Any>) -> Result<(Duration, usize)> {
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let mut res = exec(
            db,
            "RETURN array::len(node:0.{..+collect}<-dep<-node);",
            Value::Null,
        )
        .await?;
        times.push(start.elapsed());
        let n: Option<i64> = res.take(0)?;
        found = usize::try_from(n.unwrap_or(0))?;
    }
    times.sort();
    Ok((times[times.len() / 2], found))
}

/// Breadth-first search from node 0 over `children`; median time of many runs, nodes reached.
fn bfs_median(children: &[Vec<u32>]) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut reached = 0;
    let mut seen = vec![false; children.len()];
    let mut queue = VecDeque::with_capacity(children.len());
    for _ in 0..51 {
        let start = Instant::now();
        seen.iter_mut().for_each(|s| *s = false);
        queue.clear();
        reached = 0;
        if let Some(first) = seen.first_mut() {
            *first = true;
            queue.push_back(0u32);
        }
        while let Some(node) = queue.pop_front() {
            for &next in &children[node as usize] {
                if !seen[next as usize] {
                    seen[next as usize] = true;
                    reached += 1;
                    queue.push_back(next);
                }
            }
        }
        times.push(start.elapsed());
    }
    times.sort();
    (times[times.len() / 2], reached)
}

/// A script whose second statement fails: `query()` is still `Ok`; `.check()` is not.
async fn query_ok_check_err(db: &Surreal<Any>) -> Result<String> {
    let sql = "CREATE probe:1 SET n = 1; CREATE probe:1 SET n = 2;";
    let res = db.query(sql).await;
    let Ok(res) = res else {
        return Ok("query() itself returned Err".into());
    };
    Ok(match res.check() {
        Ok(_) => "query() Ok and check() Ok: the failure was not reported".into(),
        Err(e) => format!("query() Ok; check() Err: {}", short(e.message())),
    })
}

/// Recursion over a cycle (which forms end?) and `{..+collect}` along a chain longer than 256
/// hops (how far does it go?).
async fn recursion_limits(db: &Surreal<Any>) -> Result<(String, String)> {
    let mut sql = String::from("DEFINE TABLE link TYPE RELATION SCHEMALESS; BEGIN TRANSACTION;\n");
    for i in 0..3 {
        sql.push_str(&format!(
            "RELATE cyc:{i}->link->cyc:{} RETURN NONE;\n",
            (i + 1) % 3
        ));
    }
    for i in 0..300 {
        sql.push_str(&format!(
            "RELATE chain:{i}->link->chain:{} RETURN NONE;\n",
            i + 1
        ));
    }
    sql.push_str("COMMIT TRANSACTION;");
    exec(db, &sql, Value::Null).await?;
    let mut res = exec(
        db,
        "RETURN array::len(cyc:0.{..+collect}->link->cyc);",
        Value::Null,
    )
    .await?;
    let cycle: Option<i64> = res.take(0)?;
    // From chain:i the chain is 300 - i hops long: find the longest one that is traversed.
    let mut longest = None;
    let mut failure = String::from("none");
    for hops in 240..=300 {
        let sql = format!(
            "RETURN array::len(chain:{}.{{..+collect}}->link->chain);",
            300 - hops
        );
        match exec(db, &sql, Value::Null).await {
            Ok(_) => longest = Some(hops),
            Err(e) => {
                failure = format!("{} hops: error \"{}\"", hops, short(&e.to_string()));
                break;
            }
        }
    }
    // The other recursion forms on the same cycle.
    let mut others = Vec::new();
    for form in ["{..}", "{..+path}"] {
        let sql = format!("RETURN cyc:0.{form}->link->cyc;");
        let outcome = match tokio::time::timeout(
            Duration::from_secs(20),
            exec(db, &sql, Value::Null),
        )
        .await
        {
            Err(_) => "no answer in 20 s".to_string(),
            Ok(Ok(_)) => "returns".to_string(),
            Ok(Err(e)) => format!("error \"{}\"", short(&e.to_string())),
        };
        others.push(format!("`{form}` on the cycle: {outcome}"));
    }
    Ok((
        format!(
            "`{{..+collect}}`: {} nodes, ends; {}",
            cycle.unwrap_or(0),
            others.join("; ")
        ),
        format!(
            "{} hops traversed; {failure}",
            longest.map_or("none".to_string(), |h| h.to_string())
        ),
    ))
}

/// `writers` tasks create a record with the same UNIQUE value at once, `rounds` times: how
/// many won, how the losers failed, and whether any duplicate got in.
async fn unique_under_contention(
    db: &Surreal<Any>,
    writers: usize,
    rounds: usize,
) -> Result<String> {
    exec(
        db,
        "DEFINE TABLE uq SCHEMALESS; DEFINE INDEX uq_k ON uq FIELDS k UNIQUE;",
        Value::Null,
    )
    .await?;
    let (mut won, mut conflicts, mut exists, mut other) = (0, 0, 0, 0);
    for round in 0..rounds {
        let mut tasks = Vec::new();
        for w in 0..writers {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                exec(
                    &db,
                    "CREATE uq SET k = $k, writer = $w RETURN NONE;",
                    json!({ "k": format!("key-{round}"), "w": w }),
                )
                .await
            }));
        }
        for t in tasks {
            match t.await? {
                Ok(_) => won += 1,
                Err(e) if is_conflict(&e) => conflicts += 1,
                Err(e) if e.to_string().contains("already contains") => exists += 1,
                Err(_) => other += 1,
            }
        }
    }
    let mut res = exec(db, "SELECT count() AS n FROM uq GROUP ALL;", Value::Null).await?;
    let stored: Option<i64> = res.take((0, "n"))?;
    let stored = stored.unwrap_or(0);
    let verdict = if usize::try_from(stored)? == rounds {
        "no duplicates"
    } else {
        "DUPLICATES"
    };
    Ok(format!(
        "{verdict}: {stored} stored of {rounds} keys; {won} won, {conflicts} conflict, {exists} \"already contains\", {other} other"
    ))
}

/// Writes `n` samples, one record each (series, time, value), 1,000 per transaction. Returns
/// samples per second and bytes of the data directory per sample.
async fn samples(db: &Surreal<Any>, dir: &Path, n: usize) -> Result<(f64, f64)> {
    let mut rng = rand::rng();
    let t0: i64 = 1_790_000_000_000;
    exec(db, "DEFINE TABLE sample SCHEMALESS;", Value::Null).await?;
    let start = Instant::now();
    for first in (0..n).step_by(1_000) {
        let rows: Vec<Value> = (first..n.min(first + 1_000))
            .map(|i| {
                json!({
                    "series": format!("host-{:04}/cpu.user", i % 1_000),
                    "t": t0 + (i / 1_000) as i64 * 60_000,
                    "v": rng.random_range(0.0..100.0_f64),
                })
            })
            .collect();
        exec(
            db,
            "INSERT INTO sample $rows RETURN NONE;",
            json!({ "rows": rows }),
        )
        .await?;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let bytes = dir_bytes(dir)?;
    Ok((rate, bytes as f64 / n.max(1) as f64))
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn per_sec(rate: f64) -> String {
    format!("{}/s", thousands(rate.round() as u64))
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{} ms", thousands(ms.round() as u64))
    } else {
        format!("{ms:.2} ms")
    }
}

fn thousands(n: u64) -> String {
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

/// The first line of an error message, at most 80 characters.
fn short(msg: &str) -> String {
    msg.lines().next().unwrap_or("").chars().take(80).collect()
}
