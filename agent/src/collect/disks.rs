//! `disks` collector: whole block devices from `/sys/block` (partitions live below their disk
//! there and are not listed).
//!
//! Kind from the kernel name: `loop`, `ram` (brd), `zram`, `nbd`, `md`, `dm` (device mapper:
//! LVM, LUKS, multipath), `rom` (`sr*` optical drives), else `disk`. Loop, ram, zram and nbd
//! devices exist in numbers whether used or not, so they are listed only when their size is
//! non-zero (a loop device with a backing file, a zram device with a disksize, a connected
//! nbd). Size is `size` × 512: sysfs counts 512-byte sectors whatever the logical block size.
//!
//! Model: `device/model` (SCSI/ATA, NVMe controller). Serial: `device/serial` (NVMe), the
//! block-level `serial` (virtio-blk), else the unit serial VPD page 0x80 (SCSI/SATA). Fixed
//! width fields are space or NUL padded; the padding is trimmed.

use super::{CollectError, Collector, Context};
use cmdb_shared::{Disk, Inventory};

/// Collects the `disks` section.
pub struct DisksCollector;

impl Collector for DisksCollector {
    fn name(&self) -> &'static str {
        "disks"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        let dir = ctx.path("/sys/block");
        let entries = std::fs::read_dir(&dir).map_err(|e| CollectError::io("/sys/block", e))?;
        let mut disks: Vec<Disk> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter_map(|name| read_disk(ctx, name))
            .collect();
        disks.sort_by(|a, b| a.name.cmp(&b.name));
        inv.disks = Some(disks);
        Ok(())
    }
}

/// One `/sys/block/<name>`, or `None` for an unused loop/ram/zram/nbd device.
fn read_disk(ctx: &Context, name: String) -> Option<Disk> {
    let attr = |rel: &str| ctx.read_trimmed(&format!("/sys/block/{name}/{rel}"));
    let kind = disk_kind(&name);
    let size_bytes = attr("size").and_then(|s| parse_size(&s)).unwrap_or(0);
    if !is_listed(kind, size_bytes) {
        return None;
    }
    let serial = attr("device/serial")
        .or_else(|| attr("serial"))
        .or_else(|| {
            std::fs::read(ctx.path(&format!("/sys/block/{name}/device/vpd_pg80")))
                .ok()
                .and_then(|page| parse_vpd_pg80(&page))
        });
    Some(Disk {
        model: attr("device/model"),
        serial,
        rotational: attr("queue/rotational").and_then(|r| parse_rotational(&r)),
        kind: kind.to_string(),
        size_bytes,
        name,
    })
}

/// Whether a `/sys/block` device of `kind` and size is listed: all but the loop, ram, zram
/// and nbd devices that are unused (size 0). The disk metrics use the same rule.
pub fn is_listed(kind: &str, size_bytes: u64) -> bool {
    size_bytes > 0 || !matches!(kind, "loop" | "ram" | "zram" | "nbd")
}

/// The device kind from its kernel name.
pub fn disk_kind(name: &str) -> &'static str {
    // zram before ram: both start alike only if checked in the wrong order.
    const PREFIXES: [(&str, &str); 7] = [
        ("loop", "loop"),
        ("zram", "zram"),
        ("ram", "ram"),
        ("nbd", "nbd"),
        ("md", "md"),
        ("dm-", "dm"),
        ("sr", "rom"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| {
            // The prefix must be followed by the device number ("md0", "sr0"), so names that
            // merely start alike ("mdisk", "srv…") stay disks.
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map_or("disk", |(_, kind)| *kind)
}

/// `size` (512-byte sectors) in bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok()?.checked_mul(512)
}

/// `queue/rotational`: "1" spinning, "0" not.
pub fn parse_rotational(text: &str) -> Option<bool> {
    match text.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// The unit serial number from a SCSI VPD page 0x80 (SPC-4 §7.8.15): a 4-byte header whose
/// bytes 2..4 give the length, then the ASCII serial, padded with spaces or NULs.
pub fn parse_vpd_pg80(page: &[u8]) -> Option<String> {
    if page.len() < 4 || page[1] != 0x80 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([page[2], page[3]]));
    let serial = page.get(4..4 + len).unwrap_or(&page[4..]);
    let serial = String::from_utf8_lossy(serial);
    let serial = serial.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!serial.is_empty()).then(|| serial.to_string())
}

#[cfg(test)]
mod tests;
