//! The on-disk spool: every report is written here (compressed, fsync'd, renamed into place)
//! before it is sent, and deleted only after the server acknowledges it. A server outage, a
//! crash or a reboot loses nothing; the spool is bounded so a long outage cannot fill the disk.
//!
//! File names are `<unix millis, 16 digits>-<seq>-<full|delta|device|metrics>.json.zst`: they
//! sort in creation order and the stem doubles as the report id (in the body, for logs and
//! the acknowledgement). A redelivery after a lost acknowledgement is harmless: the server
//! already holds the report's section hashes and records no change, and it keeps metric
//! batches by id.
//!
//! When the spool is full, metric batches go first (oldest first), then device polls, then
//! host reports; see [`Spool::push`].

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Spool errors.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool I/O on {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What a spooled report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The host's full inventory.
    Full,
    /// The host's changed sections.
    Delta,
    /// One poll of a network device (always complete).
    Device,
    /// One metrics tick: heartbeat, host series, probe results, device series.
    Metrics,
}

impl Kind {
    fn suffix(self) -> &'static str {
        match self {
            Kind::Full => "full",
            Kind::Delta => "delta",
            Kind::Device => "device",
            Kind::Metrics => "metrics",
        }
    }

    fn of_id(id: &str) -> Option<Kind> {
        [Kind::Full, Kind::Delta, Kind::Device, Kind::Metrics]
            .into_iter()
            .find(|k| id.rsplit('-').next() == Some(k.suffix()))
    }
}

/// A spooled report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    /// The report id (the file stem).
    pub id: String,
    pub kind: Kind,
    pub bytes: u64,
}

/// The report-id counter, beside the reports.
const SEQ_FILE: &str = "seq";
/// How many reports the spool has dropped to stay within its bounds, ever (told to the
/// server with every delivery).
const DROPPED_FILE: &str = "dropped";

/// A bounded directory of pending reports.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    max_reports: usize,
    seq: u64,
    dropped: u64,
}

impl Spool {
    /// Opens (creating) the spool directory.
    pub fn open(dir: &Path, max_bytes: u64, max_reports: usize) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        // Leftovers of a crash mid-write were never acknowledged nor complete: remove them.
        for e in fs::read_dir(dir).map_err(io(dir))?.flatten() {
            if e.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
        let mut spool = Self {
            dir: dir.to_path_buf(),
            max_bytes,
            max_reports,
            seq: 0,
            dropped: 0,
        };
        spool.dropped = fs::read_to_string(dir.join(DROPPED_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        // Ids come from a counter, not the clock, so a clock stepped back cannot order a new
        // report before an older pending one (or repeat a delivered id). It starts past what
        // the counter file says, past every pending id, and past the clock in milliseconds:
        // the file is written without an fsync, and the clock floor covers a counter file
        // lost or restored from an old backup.
        let from_file = fs::read_to_string(dir.join(SEQ_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let from_entries = spool
            .entries()?
            .iter()
            .filter_map(|e| e.id.split('-').next()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        spool.seq = from_file.max(from_entries).max(now);
        Ok(spool)
    }

    /// Reports dropped to stay within bounds, ever.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// A new report id, unique and ordered (see [`Self::open`]).
    pub fn next_id(&mut self, kind: Kind) -> String {
        self.seq += 1;
        // Best effort: a lost write is covered by the floors taken at open.
        let _ = fs::write(self.dir.join(SEQ_FILE), self.seq.to_string());
        format!(
            "{:016}-{:06}-{}",
            self.seq,
            self.seq % 1_000_000,
            kind.suffix()
        )
    }

    /// Writes a compressed report durably. Returns the ids dropped to stay within bounds:
    /// metric batches first (each tick is one file, so a long outage fills the spool with
    /// them, and old samples are worth least), then device polls (a newer poll of the device
    /// supersedes each), then host reports (deltas build on one another); oldest first
    /// within each kind, never the newest file.
    pub fn push(&mut self, id: &str, compressed: &[u8]) -> Result<Vec<String>, SpoolError> {
        let final_path = self.dir.join(format!("{id}.json.zst"));
        let tmp = self.dir.join(format!("{id}.tmp"));
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(compressed).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        fs::rename(&tmp, &final_path).map_err(io(&final_path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        let dropped = self.enforce_bounds()?;
        if !dropped.is_empty() {
            self.dropped += dropped.len() as u64;
            let p = self.dir.join(DROPPED_FILE);
            fs::write(&p, self.dropped.to_string()).map_err(io(&p))?;
        }
        Ok(dropped)
    }

    /// Pending reports, oldest first.
    pub fn entries(&self) -> Result<Vec<Entry>, SpoolError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(io(&self.dir))?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(id) = name.strip_suffix(".json.zst") else {
                continue;
            };
            let Some(kind) = Kind::of_id(id) else {
                continue;
            };
            let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(Entry {
                path: e.path(),
                id: id.to_string(),
                kind,
                bytes,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Reads a spooled report's compressed bytes.
    pub fn read(&self, e: &Entry) -> Result<Vec<u8>, SpoolError> {
        fs::read(&e.path).map_err(io(&e.path))
    }

    /// Removes an acknowledged (or abandoned) report.
    pub fn remove(&self, e: &Entry) -> Result<(), SpoolError> {
        match fs::remove_file(&e.path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io(&e.path)(err)),
        }
    }

    /// Moves a report the server rejected as invalid aside, for a person to look at; keeps
    /// the newest 20.
    pub fn reject(&self, e: &Entry) -> Result<(), SpoolError> {
        let dir = self.dir.join("rejected");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let target = dir.join(e.path.file_name().unwrap_or_default());
        fs::rename(&e.path, &target).map_err(io(&target))?;
        let mut old: Vec<_> = fs::read_dir(&dir)
            .map_err(io(&dir))?
            .flatten()
            .map(|e| e.path())
            .collect();
        old.sort();
        let excess = old.len().saturating_sub(20);
        for p in old.into_iter().take(excess) {
            let _ = fs::remove_file(p);
        }
        Ok(())
    }

    fn enforce_bounds(&self) -> Result<Vec<String>, SpoolError> {
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        let mut count = entries.len();
        let mut dropped = Vec::new();
        // Never drop the newest report: it describes the host (or device) as it is now.
        let droppable = &entries[..entries.len().saturating_sub(1)];
        let order = [Kind::Metrics, Kind::Device]
            .into_iter()
            .flat_map(|k| droppable.iter().filter(move |e| e.kind == k))
            .chain(
                droppable
                    .iter()
                    .filter(|e| !matches!(e.kind, Kind::Metrics | Kind::Device)),
            );
        for e in order {
            if total <= self.max_bytes && count <= self.max_reports {
                break;
            }
            self.remove(e)?;
            total -= e.bytes;
            count -= 1;
            dropped.push(e.id.clone());
        }
        Ok(dropped)
    }
}

/// Writes `bytes` to `path` atomically and durably, with `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_bounds_drop_is_counted_and_the_count_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path(), 1 << 20, 2).expect("open");
        for _ in 0..5 {
            let id = s.next_id(Kind::Metrics);
            s.push(&id, b"x").expect("push");
        }
        assert_eq!(s.dropped(), 3);
        let s = Spool::open(dir.path(), 1 << 20, 2).expect("reopen");
        assert_eq!(s.dropped(), 3);
    }

    #[test]
    fn ids_keep_their_order_when_the_clock_steps_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A counter far ahead of the clock, as after the clock was stepped back a long way.
        let ahead = u64::try_from(chrono::Utc::now().timestamp_millis()).expect("ms") * 2;
        std::fs::write(dir.path().join(SEQ_FILE), ahead.to_string()).expect("seq");
        let mut s = Spool::open(dir.path(), 1 << 20, 100).expect("open");
        let a = s.next_id(Kind::Full);
        s.push(&a, b"one").expect("push");
        // The counter file is lost: the pending report still orders what comes next.
        std::fs::remove_file(dir.path().join(SEQ_FILE)).expect("rm");
        let mut s = Spool::open(dir.path(), 1 << 20, 100).expect("reopen");
        let b = s.next_id(Kind::Delta);
        let c = s.next_id(Kind::Metrics);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(a.starts_with(&format!("{:016}", ahead + 1)), "{a}");
    }

    #[test]
    fn reports_come_back_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path(), 1 << 20, 100).expect("open");
        let a = s.next_id(Kind::Full);
        let b = s.next_id(Kind::Delta);
        s.push(&a, b"one").expect("push");
        s.push(&b, b"two").expect("push");
        let s = Spool::open(dir.path(), 1 << 20, 100).expect("reopen");
        let e = s.entries().expect("entries");
        assert_eq!(
            e.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            vec![a, b]
        );
        assert_eq!((e[0].kind, e[1].kind), (Kind::Full, Kind::Delta));
        assert_eq!(s.read(&e[1]).expect("read"), b"two");
    }

    #[test]
    fn bounds_drop_the_oldest_but_never_the_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path(), 1 << 20, 2).expect("open");
        let ids: Vec<String> = (0..4)
            .map(|i| s.next_id(if i == 0 { Kind::Full } else { Kind::Delta }))
            .collect();
        let mut dropped = Vec::new();
        for id in &ids {
            dropped.extend(s.push(id, b"x").expect("push"));
        }
        assert_eq!(dropped, vec![ids[0].clone(), ids[1].clone()]);
        assert_eq!(s.entries().expect("entries").len(), 2);
    }

    #[test]
    fn device_polls_are_dropped_before_host_reports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path(), 1 << 20, 3).expect("open");
        let full = s.next_id(Kind::Full);
        let dev1 = s.next_id(Kind::Device);
        let delta = s.next_id(Kind::Delta);
        let dev2 = s.next_id(Kind::Device);
        let mut dropped = Vec::new();
        for id in [&full, &dev1, &delta, &dev2] {
            dropped.extend(s.push(id, b"x").expect("push"));
        }
        assert_eq!(dropped, vec![dev1]);
        let kept: Vec<String> = s
            .entries()
            .expect("entries")
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(kept, vec![full, delta, dev2]);
    }

    #[test]
    fn metric_batches_are_dropped_before_device_polls_and_host_reports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path(), 1 << 20, 3).expect("open");
        let full = s.next_id(Kind::Full);
        let m1 = s.next_id(Kind::Metrics);
        let dev = s.next_id(Kind::Device);
        let m2 = s.next_id(Kind::Metrics);
        let m3 = s.next_id(Kind::Metrics);
        let m4 = s.next_id(Kind::Metrics);
        let mut dropped = Vec::new();
        for id in [&full, &m1, &dev, &m2, &m3, &m4] {
            dropped.extend(s.push(id, b"x").expect("push"));
        }
        assert_eq!(dropped, vec![m1, m2, m3]);
        let kept: Vec<(String, Kind)> = s
            .entries()
            .expect("entries")
            .into_iter()
            .map(|e| (e.id, e.kind))
            .collect();
        assert_eq!(
            kept,
            vec![
                (full, Kind::Full),
                (dev.clone(), Kind::Device),
                (m4.clone(), Kind::Metrics)
            ]
        );
        // The last metric batch goes before the device poll; then the device poll goes.
        let delta = s.next_id(Kind::Delta);
        assert_eq!(s.push(&delta, b"x").expect("push"), vec![m4]);
        let delta2 = s.next_id(Kind::Delta);
        assert_eq!(s.push(&delta2, b"x").expect("push"), vec![dev]);
    }

    #[test]
    fn half_written_files_are_discarded_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join("0000000000000001-000001-full.tmp"),
            b"partial",
        )
        .expect("write");
        let s = Spool::open(dir.path(), 1 << 20, 10).expect("open");
        assert!(s.entries().expect("entries").is_empty());
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
