//! Space and inodes of each real filesystem: the mounts the `filesystems` collector lists
//! (its parsing and its notion of "real", [`crate::collect::filesystems`]), sized with
//! `statvfs` as `df` does:
//!
//! - used = (`f_blocks` − `f_bfree`) × `f_frsize`; free = `f_bavail` × `f_frsize` (what
//!   unprivileged users may still write);
//! - used % = used / (used + available) — the root-reserved blocks count in neither, as in
//!   `df`'s Use%;
//! - inodes used = `f_files` − `f_ffree`, free = `f_ffree` (`df -i`), left out where the
//!   filesystem has no inode count (`f_files` = 0: vfat, btrfs).
//!
//! `statvfs` on a network or FUSE filesystem whose server is gone can block for minutes (a
//! hard NFS mount, forever): there it runs on a helper thread and the tick waits at most
//! [`BLOCKING_TIMEOUT`]. A mount whose call is still stuck is skipped (no points) until that
//! call returns. Against a fixture root, `statvfs` runs on the mount point under the root
//! when it exists, like the collector.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use crate::collect::filesystems::{
    REAL_NODEV_TYPES, parse_mountinfo, parse_nodev_types, real_mounts,
};
use crate::collect::{CollectError, Context};

/// Longest wait for `statvfs` of a network or FUSE filesystem.
pub const BLOCKING_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether `statvfs` of this type may wait on a server or a user-space daemon: the network
/// and shared filesystems the inventory counts as real storage (local `overlay` and `zfs`
/// answer at once), and FUSE.
fn may_block(fs_type: &str) -> bool {
    (REAL_NODEV_TYPES.contains(&fs_type) && !matches!(fs_type, "overlay" | "zfs"))
        || fs_type.starts_with("fuse")
}

/// One filesystem's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub mount_point: String,
    pub used: u64,
    pub free: u64,
    /// Blocks in use and available, for the percentage.
    pub used_blocks: u64,
    pub avail_blocks: u64,
    /// `(used, free)` inodes, when the filesystem counts them.
    pub inodes: Option<(u64, u64)>,
}

impl Usage {
    /// Percent used as `df` computes it.
    pub fn used_pct(&self) -> Option<f64> {
        let denom = self.used_blocks.checked_add(self.avail_blocks)?;
        (denom > 0).then(|| self.used_blocks as f64 * 100.0 / denom as f64)
    }
}

/// What `statvfs` returned, in the fields used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub frsize: u64,
    pub files: u64,
    pub ffree: u64,
}

impl From<rustix::fs::StatVfs> for Stat {
    fn from(s: rustix::fs::StatVfs) -> Self {
        Stat {
            blocks: s.f_blocks,
            bfree: s.f_bfree,
            bavail: s.f_bavail,
            frsize: s.f_frsize,
            files: s.f_files,
            ffree: s.f_ffree,
        }
    }
}

/// The usage of a filesystem from its `statvfs`; `None` for an empty one (size 0).
pub fn usage(mount_point: &str, s: Stat) -> Option<Usage> {
    if s.blocks == 0 || s.frsize == 0 {
        return None;
    }
    let used_blocks = s.blocks.saturating_sub(s.bfree);
    Some(Usage {
        mount_point: mount_point.to_string(),
        used: used_blocks.saturating_mul(s.frsize),
        free: s.bavail.saturating_mul(s.frsize),
        used_blocks,
        avail_blocks: s.bavail,
        inodes: (s.files > 0).then(|| (s.files.saturating_sub(s.ffree), s.ffree)),
    })
}

/// `statvfs` calls that may block, run on helper threads.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls that outlasted [`BLOCKING_TIMEOUT`] and have not returned yet, by path.
    stuck: BTreeMap<PathBuf, mpsc::Receiver<rustix::io::Result<rustix::fs::StatVfs>>>,
}

impl Stats {
    fn statvfs(&mut self, path: PathBuf, may_block: bool) -> Option<Stat> {
        if !may_block {
            return rustix::fs::statvfs(&path).ok().map(Stat::from);
        }
        if let Some(rx) = self.stuck.get(&path) {
            match rx.try_recv() {
                Err(mpsc::TryRecvError::Empty) => return None,
                // It came back: measure afresh below.
                _ => {
                    self.stuck.remove(&path);
                }
            }
        }
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        std::thread::Builder::new()
            .name("statvfs".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ = tx.send(rustix::fs::statvfs(&p));
            })
            .ok()?;
        match rx.recv_timeout(BLOCKING_TIMEOUT) {
            Ok(r) => r.ok().map(Stat::from),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(path = %path.display(), "statvfs did not return within 2 s (server away?); no points for this filesystem until it does");
                self.stuck.insert(path, rx);
                None
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
        }
    }

    /// The usage of every real filesystem, in mount order.
    pub fn read(&mut self, ctx: &Context) -> Result<Vec<Usage>, CollectError> {
        let mountinfo = ctx
            .read("/proc/self/mountinfo")
            .map_err(|e| CollectError::io("/proc/self/mountinfo", e))?;
        let nodev = ctx
            .read("/proc/filesystems")
            .map(|s| parse_nodev_types(&s))
            .unwrap_or_default();
        let mounts = parse_mountinfo(&mountinfo);
        let mut out = Vec::new();
        for m in real_mounts(&mounts, &nodev) {
            let path = if ctx.is_live() {
                PathBuf::from(&m.mount_point)
            } else {
                let p = ctx.path(&m.mount_point);
                if !p.exists() {
                    continue;
                }
                p
            };
            let may_block = may_block(&m.fs_type);
            if let Some(u) = self
                .statvfs(path, may_block)
                .and_then(|s| usage(&m.mount_point, s))
            {
                out.push(u);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_follows_df() {
        // df on a 100-block filesystem with 10 reserved: 60 used, 30 available → 67 %.
        let s = Stat {
            blocks: 100,
            bfree: 40,
            bavail: 30,
            frsize: 4096,
            files: 1000,
            ffree: 900,
        };
        let u = usage("/srv", s).expect("usage");
        assert_eq!((u.used, u.free), (60 * 4096, 30 * 4096));
        assert_eq!(u.used_pct(), Some(60.0 * 100.0 / 90.0));
        assert_eq!(u.inodes, Some((100, 900)));
        let no_inodes = Stat {
            files: 0,
            ffree: 0,
            ..s
        };
        assert_eq!(usage("/boot/efi", no_inodes).expect("usage").inodes, None);
        assert_eq!(usage("/x", Stat { blocks: 0, ..s }), None);
    }

    #[test]
    fn a_statvfs_that_returns_is_not_left_stuck() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut stats = Stats::default();
        let s = stats
            .statvfs(dir.path().to_path_buf(), true)
            .expect("statvfs on a helper thread");
        assert!(s.blocks > 0);
        assert!(stats.stuck.is_empty());
    }
}
