//! Durability across a crash: every committed transaction is back after a start that replays
//! the write-ahead log, however many times the memtable was rotated meanwhile.
//!
//! SurrealKV 0.21.4 (SurrealDB 3.3's) logged a transaction in the segment of the memtable it
//! overflowed, then put it in the next memtable: once the full one was flushed, a start after a
//! crash skipped that segment and the transaction was gone (one import request of 10,000
//! relationships in the estate benchmark, at each rotation). The workspace builds a patched
//! copy (`vendor/surrealkv`); this test fails without the patch.

use std::path::Path;
use std::process::{Command, Output};

use surrealdb::Surreal;
use surrealdb::engine::local::Db;

use super::open_surrealkv;

/// Set by the test for the child process it starts: the directory to write and "crash" in.
const CHILD_DIR: &str = "CMDB_CRASH_TEST_DIR";
const TEST: &str =
    "storage::crash_tests::a_crash_loses_no_committed_transaction_across_memtable_rotations";
/// Transactions, records each, bytes of text each: about 13 MB, thirteen 1 MiB memtables.
const TXNS: usize = 64;
const RECORDS: usize = 40;
const BYTES: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loses_no_committed_transaction_across_memtable_rotations() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        // The child: commit every transaction, then exit with no close (a crash).
        let (db, _ds) = open_surrealkv(&format!("surrealkv://{dir}"), 8, 1)
            .await
            .expect("open");
        write_docs(&db, TXNS, RECORDS, BYTES, |t| println!("committed {t}")).await;
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().expect("dir");
    let out = run_alone(TEST, CHILD_DIR, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The first may follow the harness's "test … … " on its line.
    let committed = stdout.matches("committed ").count();
    assert_eq!(
        committed,
        TXNS,
        "the child committed every transaction: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (db, ds) = open_surrealkv(&format!("surrealkv://{}", dir.path().display()), 8, 1)
        .await
        .expect("reopen");
    db.use_ns("t").use_db("t").await.expect("ns");
    let mut res = db
        .query("SELECT t, count() AS n FROM doc GROUP BY t")
        .await
        .expect("count");
    let rows: Vec<serde_json::Value> = res.take(0).expect("rows");
    let whole = rows
        .iter()
        .filter(|r| r["n"].as_u64() == Some(RECORDS as u64))
        .count();
    let lost: Vec<u64> = (0..TXNS as u64)
        .filter(|t| !rows.iter().any(|r| r["t"].as_u64() == Some(*t)))
        .collect();
    ds.shutdown().await.expect("close");
    assert_eq!(
        (whole, lost),
        (TXNS, vec![]),
        "every committed transaction back after the crash, whole (transactions lost: the second list)"
    );
}

/// Commits `txns` transactions of `records` documents with `bytes` of text each into `doc`
/// (namespace and database `t`), calling `committed` with each one's number.
pub(super) async fn write_docs(
    db: &Surreal<Db>,
    txns: usize,
    records: usize,
    bytes: usize,
    mut committed: impl FnMut(usize),
) {
    db.use_ns("t").use_db("t").await.expect("ns");
    let text = "x".repeat(bytes);
    for t in 0..txns {
        let docs: Vec<serde_json::Value> = (0..records)
            .map(|i| serde_json::json!({ "t": t, "i": i, "text": text }))
            .collect();
        db.query("INSERT INTO doc $docs RETURN NONE")
            .bind(("docs", docs))
            .await
            .and_then(|r| r.check())
            .expect("commit");
        committed(t);
    }
}

/// Runs the test named `test` of this binary alone in a child process, with `var` set to
/// `dir` (the child's cue that it is the child), and returns what it printed.
pub(super) fn run_alone(test: &str, var: &str, dir: &Path) -> Output {
    Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, dir)
        .output()
        .expect("child")
}
