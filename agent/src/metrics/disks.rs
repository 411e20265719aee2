//! Disk throughput from `/proc/diskstats`, for the whole disks the `disks` collector lists
//! (devices in `/sys/block` but unused loop, ram, zram and nbd ones; partitions are not in
//! `/sys/block`). Sectors there are 512 bytes whatever the device's block size.
//!
//! Columns after `major minor name` (Documentation/admin-guide/iostats.rst): 1 reads
//! completed, 3 sectors read, 5 writes completed, 7 sectors written.

use std::collections::BTreeMap;

use crate::collect::disks::{disk_kind, is_listed, parse_size};
use crate::collect::{CollectError, Context};

/// Cumulative counters of one disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub reads: u64,
    pub read_sectors: u64,
    pub writes: u64,
    pub write_sectors: u64,
}

/// `/proc/diskstats` by device name.
pub fn parse(text: &str) -> BTreeMap<String, Counters> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let n = |i: usize| f.get(i)?.parse::<u64>().ok();
            Some((
                f.get(2)?.to_string(),
                Counters {
                    reads: n(3)?,
                    read_sectors: n(5)?,
                    writes: n(7)?,
                    write_sectors: n(9)?,
                },
            ))
        })
        .collect()
}

/// The counters of the listed whole disks.
pub fn read(ctx: &Context) -> Result<BTreeMap<String, Counters>, CollectError> {
    let text = ctx
        .read("/proc/diskstats")
        .map_err(|e| CollectError::io("/proc/diskstats", e))?;
    let mut all = parse(&text);
    let listed: Vec<String> = std::fs::read_dir(ctx.path("/sys/block"))
        .map_err(|e| CollectError::io("/sys/block", e))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| {
            let size = ctx
                .read_trimmed(&format!("/sys/block/{name}/size"))
                .and_then(|s| parse_size(&s))
                .unwrap_or(0);
            is_listed(disk_kind(name), size)
        })
        .collect();
    Ok(listed
        .into_iter()
        .filter_map(|sys_name| {
            // sysfs spells a '/' in a device name ("cciss/c0d0") as '!'.
            let name = sys_name.replace('!', "/");
            all.remove(&name).map(|c| (name, c))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskstats_columns_are_read_by_position() {
        let d = parse(
            " 254       0 vda 2374816 30854 85166194 3143403 481821 253488 171000696 776280 0 141060 3947388 141212 55 123499544 23433 126005 4270\n   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0\n",
        );
        assert_eq!(
            d["vda"],
            Counters {
                reads: 2374816,
                read_sectors: 85166194,
                writes: 481821,
                write_sectors: 171000696
            }
        );
        assert_eq!(d.len(), 2);
    }
}
