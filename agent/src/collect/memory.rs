//! `memory` collector: installed RAM and configured swap from `/proc/meminfo`.
//!
//! `MemTotal` is what the kernel manages (installed memory minus firmware and kernel
//! reservations), the number `free` prints; `/proc/meminfo`'s "kB" are KiB.

use super::{CollectError, Collector, Context};
use cmdb_shared::{Inventory, Memory};

/// Collects the `memory` section.
pub struct MemoryCollector;

impl Collector for MemoryCollector {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        let text = ctx
            .read("/proc/meminfo")
            .map_err(|e| CollectError::io("/proc/meminfo", e))?;
        inv.memory = Some(parse_meminfo(&text)?);
        Ok(())
    }
}

/// Parses `/proc/meminfo`. `MemTotal` is required; a missing `SwapTotal` (kernels built
/// without swap) means no swap.
pub fn parse_meminfo(text: &str) -> Result<Memory, CollectError> {
    let bytes = |key: &str| {
        text.lines().find_map(|line| {
            let (k, rest) = line.split_once(':')?;
            if k != key {
                return None;
            }
            let mut words = rest.split_whitespace();
            let n: u64 = words.next()?.parse().ok()?;
            match words.next() {
                Some("kB") => n.checked_mul(1024),
                None => Some(n),
                Some(_) => None,
            }
        })
    };
    let total_bytes = bytes("MemTotal").ok_or_else(|| CollectError::Parse {
        what: "/proc/meminfo".into(),
        reason: "no MemTotal".into(),
    })?;
    Ok(Memory {
        total_bytes,
        swap_total_bytes: bytes("SwapTotal").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRECRACKER: &str =
        include_str!("../../fixtures/memory/debian12-firecracker/proc/meminfo");
    const DELL: &str = include_str!("../../fixtures/memory/dell-poweredge-r640/proc/meminfo");

    #[test]
    fn the_firecracker_vm_has_24_gib_and_no_swap() {
        assert_eq!(
            parse_meminfo(FIRECRACKER).expect("parses"),
            Memory {
                total_bytes: 24_684_092 * 1024,
                swap_total_bytes: 0
            }
        );
    }

    #[test]
    fn a_dell_server_reports_its_swap_partition() {
        assert_eq!(
            parse_meminfo(DELL).expect("parses"),
            Memory {
                total_bytes: 395_882_648 * 1024,
                swap_total_bytes: 4_194_300 * 1024
            }
        );
    }

    #[test]
    fn meminfo_without_memtotal_is_an_error() {
        assert!(parse_meminfo("SwapTotal:       0 kB\n").is_err());
    }

    #[test]
    fn collect_fills_the_memory_section_from_the_fixture_root() {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/memory/dell-poweredge-r640"
        );
        let mut inv = Inventory::default();
        MemoryCollector
            .collect(&Context::new(root), &mut inv)
            .expect("collects");
        assert_eq!(
            inv.memory.map(|m| m.swap_total_bytes),
            Some(4_194_300 * 1024)
        );
    }
}
