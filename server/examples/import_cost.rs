//! What one imported relationship costs SurrealDB 3.3 on embedded SurrealKV, by what the
//! import's transaction writes: the floor under `POST /api/v1/import`'s rate.
//!
//! `cargo run --release -p cmdb-server --example import_cost [-- CIS RELS CHUNK]` (defaults
//! 20,000 CIs, 100,000 relationships, 10,000 a transaction, as the estate benchmark's
//! requests). Each variant starts from an empty SurrealKV directory (256 MiB memtables, the
//! server's default), inserts the CIs, then the relationships a transaction at a time, and
//! prints relationships a second and this process's CPU time per relationship. The first
//! variant writes what `Store::apply_relationships` writes for an import (the `rel` table as
//! the schema defines it, `ENFORCED` with its three indexes, rows with their record ids
//! bound as values, and two history rows per relationship, one for each end, under the
//! `history` index); each next one leaves one more thing out. Nothing of the server runs: no
//! HTTP, TLS, JSON body, planning or index update.

use std::time::Instant;

use surrealdb::types::{Object, RecordId, Value};

const NOW: &str = "2026-12-07T06:00:00.000000Z";

struct Variant {
    label: &'static str,
    history: bool,
    /// Indexes on `rel` among `in`, `out`, `last_seen`.
    rel_indexes: &'static [&'static str],
    enforced: bool,
    /// Rows built in SurrealQL with `.map()` from keys, as the server did before.
    map_in_sql: bool,
}

const VARIANTS: [Variant; 6] = [
    Variant {
        label: "as the server writes an import",
        history: true,
        rel_indexes: &["in", "out", "last_seen"],
        enforced: true,
        map_in_sql: false,
    },
    Variant {
        label: "without the in and out indexes",
        history: true,
        rel_indexes: &["last_seen"],
        enforced: true,
        map_in_sql: false,
    },
    Variant {
        label: "without the two history rows",
        history: false,
        rel_indexes: &["in", "out", "last_seen"],
        enforced: true,
        map_in_sql: false,
    },
    Variant {
        label: "without history and rel indexes",
        history: false,
        rel_indexes: &[],
        enforced: true,
        map_in_sql: false,
    },
    Variant {
        label: "bare INSERT RELATION (not ENFORCED)",
        history: false,
        rel_indexes: &[],
        enforced: false,
        map_in_sql: false,
    },
    Variant {
        label: "bare, rows built by .map() in SurrealQL",
        history: false,
        rel_indexes: &[],
        enforced: false,
        map_in_sql: true,
    },
];

fn obj(fields: Vec<(&str, Value)>) -> Value {
    let mut o = Object::new();
    for (k, v) in fields {
        o.insert(k, v);
    }
    Value::Object(o)
}

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

/// This process's CPU time (user + system) in seconds.
fn cpu_secs() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(f.get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/self/stat"))?
            .parse::<f64>()?)
    };
    // utime and stime, fields 14 and 15 of the line (11 and 12 after the command name).
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

async fn run(v: &Variant, cis: usize, rels: usize, chunk: usize) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let config = surrealdb_cnf::ConfigMap::empty()
        .with_key_value("surrealkv_max_memtable_size", (256u64 << 20).to_string());
    let ds = surrealdb_core::kvs::Datastore::builder()
        .with_config(config)
        .build_with_path(&format!("surrealkv://{}", dir.path().join("db").display()))
        .await?;
    let db = surrealdb::Surreal::<surrealdb::engine::local::Db>::unstable_from_datastore(
        ds.clone(),
        None,
    )
    .await?;
    db.use_ns("cost").use_db("cost").await?;
    // The parts of the server's schema these tables have (storage/schema.rs).
    let mut ddl = String::from(
        "DEFINE TABLE ci SCHEMALESS; DEFINE INDEX ci_class ON ci FIELDS class;
         DEFINE INDEX ci_name ON ci FIELDS name; DEFINE INDEX ci_class_name ON ci FIELDS class, name;
         DEFINE INDEX ci_count ON ci COUNT;
         DEFINE TABLE history SCHEMALESS; DEFINE INDEX history_ci_at ON history FIELDS ci, at;",
    );
    ddl.push_str(if v.enforced {
        "DEFINE TABLE rel TYPE RELATION IN ci OUT ci ENFORCED SCHEMALESS;"
    } else {
        "DEFINE TABLE rel TYPE RELATION IN ci OUT ci SCHEMALESS;"
    });
    for field in v.rel_indexes {
        ddl.push_str(&format!("DEFINE INDEX rel_{field} ON rel FIELDS {field};"));
    }
    db.query(ddl).await?.check()?;
    let keys: Vec<String> = (0..cis)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    for part in keys.chunks(10_000) {
        let rows: Vec<Value> = part
            .iter()
            .map(|k| {
                obj(vec![
                    ("id", Value::RecordId(RecordId::new("ci", k.as_str()))),
                    ("class", text("vm")),
                    ("name", text(&format!("vm-{k}"))),
                    ("identified_by", text("manual")),
                    ("first_seen", text(NOW)),
                    ("last_seen", text(NOW)),
                ])
            })
            .collect();
        db.query("INSERT INTO ci $rows RETURN NONE")
            .bind(("rows", rows))
            .await?
            .check()?;
    }
    let (mut wall, cpu0) = (0.0, cpu_secs()?);
    for b in 0..rels.div_ceil(chunk) {
        let n = chunk.min(rels - b * chunk);
        let (mut rows, mut history) = (Vec::with_capacity(n), Vec::new());
        for i in 0..n {
            let from = &keys[(b * chunk + i) % cis];
            let to = &keys[(b * 7_919 + i * 13 + 1) % cis];
            let key = uuid::Uuid::new_v4().simple().to_string();
            let fields = vec![
                ("kind", text("depends_on")),
                ("source", text("manual")),
                ("note", Value::Null),
                ("discovered_by", Value::Array(Default::default())),
                ("first_seen", text(NOW)),
                ("last_seen", text(NOW)),
                ("stale", Value::Bool(false)),
            ];
            if v.map_in_sql {
                rows.push(obj(vec![
                    ("k", text(&key)),
                    ("f", text(from)),
                    ("t", text(to)),
                    ("doc", obj(fields)),
                ]));
            } else {
                let mut fields = fields;
                fields.push(("id", Value::RecordId(RecordId::new("rel", key.as_str()))));
                fields.push(("in", Value::RecordId(RecordId::new("ci", from.as_str()))));
                fields.push(("out", Value::RecordId(RecordId::new("ci", to.as_str()))));
                rows.push(obj(fields));
            }
            if v.history {
                for ci in [from, to] {
                    let summary = obj(vec![
                        ("from", text(from)),
                        ("to", text(to)),
                        ("kind", text("depends_on")),
                        ("source", text("manual")),
                    ]);
                    history.push(obj(vec![
                        ("ci", text(ci)),
                        ("at", text(NOW)),
                        ("source", text("admin")),
                        ("attribute", text("relationship")),
                        ("old", Value::Null),
                        ("new", summary),
                    ]));
                }
            }
        }
        let mut sql = String::from("BEGIN TRANSACTION;\n");
        sql.push_str(if v.map_in_sql {
            "INSERT RELATION INTO rel $rows.map(|$r| $r.doc + { id: type::record('rel', $r.k), in: type::record('ci', $r.f), out: type::record('ci', $r.t) }) RETURN NONE;\n"
        } else {
            "INSERT RELATION INTO rel $rows RETURN NONE;\n"
        });
        if v.history {
            sql.push_str("INSERT INTO history $history RETURN NONE;\n");
        }
        sql.push_str("COMMIT TRANSACTION;");
        let started = Instant::now();
        db.query(sql)
            .bind(("rows", rows))
            .bind(("history", history))
            .await?
            .check()?;
        wall += started.elapsed().as_secs_f64();
    }
    let cpu = cpu_secs()? - cpu0;
    ds.shutdown().await?;
    Ok((rels as f64 / wall, cpu * 1e6 / rels as f64))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |i: usize, default: usize| -> anyhow::Result<usize> {
        match std::env::args().nth(i) {
            None => Ok(default),
            Some(a) => {
                let n: usize = a.replace(',', "").parse().map_err(|_| {
                    anyhow::anyhow!("argument {i}: {a:?} is not a whole number (CIS RELS CHUNK)")
                })?;
                anyhow::ensure!(n > 0, "argument {i}: must be at least 1");
                Ok(n)
            }
        }
    };
    let (cis, rels, chunk) = (arg(1, 20_000)?, arg(2, 100_000)?, arg(3, 10_000)?);
    println!(
        "{rels} relationships among {cis} CIs, {chunk} a transaction, embedded SurrealKV \
         (SurrealDB 3.3), this process alone\n"
    );
    println!("| what the transaction writes | relationships/s | CPU µs a relationship |");
    println!("|---|---|---|");
    for v in &VARIANTS {
        let (rate, cpu) = run(v, cis, rels, chunk).await?;
        println!("| {} | {rate:.0} | {cpu:.0} |", v.label);
    }
    Ok(())
}
