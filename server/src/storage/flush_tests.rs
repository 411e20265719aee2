//! SurrealKV's background work stays off the async runtime's threads.
//!
//! SurrealKV 0.21.4 ran each memtable flush and each level compaction inside a `tokio::spawn`ed
//! task: seconds of synchronous I/O and CPU on one of the runtime's workers. The server has one
//! worker per core, so at every flush half of a two-core server's workers stopped, and the
//! tasks queued behind that worker (requests among them) waited for as long: the fleet
//! benchmark's p99 went from tens of milliseconds to 2–4 s in the 20 s after each flush. The
//! workspace builds a patched copy (`vendor/surrealkv`) that runs both on tokio's blocking
//! pool; this test fails without the patch.
//!
//! It runs SurrealDB on a current-thread runtime, where the test's own thread is the only
//! worker, and records the thread of SurrealKV's log lines from inside a flush and a compaction.

use std::sync::Mutex;
use std::thread::ThreadId;

use super::crash_tests::{run_alone, write_docs};
use super::open_surrealkv;

/// Set by the test for the child process it starts: the directory to write in.
const CHILD_DIR: &str = "CMDB_FLUSH_TEST_DIR";
const TEST: &str =
    "storage::flush_tests::memtable_flushes_and_compactions_run_off_the_runtime_threads";
/// Transactions, records each, bytes of text each: about 20 MB, twenty 1 MiB memtables, so
/// enough tables reach level 0 for a compaction.
const TXNS: usize = 100;
const RECORDS: usize = 40;
const BYTES: usize = 5_000;
/// Log lines SurrealKV writes from inside a memtable flush and a level compaction.
const FLUSH_LINE: &str = "Created SST table_id=";
const COMPACTION_LINE: &str = "Level compaction running";

/// Which thread logged each flush and compaction line.
struct Threads {
    lines: Mutex<Vec<(ThreadId, &'static str)>>,
}

impl log::Log for Threads {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target().starts_with("surrealkv")
    }
    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        for line in [FLUSH_LINE, COMPACTION_LINE] {
            if text.starts_with(line) {
                let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
                lines.push((std::thread::current().id(), line));
            }
        }
    }
    fn flush(&self) {}
}

static THREADS: Threads = Threads {
    lines: Mutex::new(Vec::new()),
};

#[tokio::test(flavor = "current_thread")]
async fn memtable_flushes_and_compactions_run_off_the_runtime_threads() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        // The child, alone in its process, owns the global logger.
        log::set_logger(&THREADS).expect("logger");
        log::set_max_level(log::LevelFilter::Debug);
        let runtime_thread = std::thread::current().id();
        let (db, ds) = open_surrealkv(&format!("surrealkv://{dir}"), 8, 1)
            .await
            .expect("open");
        write_docs(&db, TXNS, RECORDS, BYTES, |_| {}).await;
        // Background work runs while this thread waits (for at most a minute).
        for _ in 0..600 {
            let seen = THREADS.lines.lock().map(|l| l.clone()).unwrap_or_default();
            if [FLUSH_LINE, COMPACTION_LINE]
                .iter()
                .all(|line| seen.iter().any(|(_, l)| l == line))
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let seen = THREADS.lines.lock().map(|l| l.clone()).unwrap_or_default();
        for line in [FLUSH_LINE, COMPACTION_LINE] {
            let on_runtime = seen
                .iter()
                .filter(|(thread, l)| *l == line && *thread == runtime_thread)
                .count();
            let elsewhere = seen
                .iter()
                .filter(|(thread, l)| *l == line && *thread != runtime_thread)
                .count();
            println!("{line} on the runtime thread {on_runtime} elsewhere {elsewhere}");
        }
        ds.shutdown().await.expect("close");
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().expect("dir");
    let out = run_alone(TEST, CHILD_DIR, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let counts = |line: &str| -> Option<(usize, usize)> {
        let rest = stdout
            .split(&format!("{line} on the runtime thread "))
            .nth(1)?;
        let mut words = rest.split_whitespace();
        let on_runtime = words.next()?.parse().ok()?;
        let elsewhere = words.nth(1)?.parse().ok()?;
        Some((on_runtime, elsewhere))
    };
    for (what, line) in [("flush", FLUSH_LINE), ("compaction", COMPACTION_LINE)] {
        let (on_runtime, elsewhere) = counts(line).unwrap_or_else(|| {
            panic!(
                "the child reported its {what}s: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(
            on_runtime == 0 && elsewhere > 0,
            "every {what} ran off the runtime's thread ({on_runtime} on it, \
             {elsewhere} elsewhere)"
        );
    }
}
