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
    if size_bytes == 0 && matches!(kind, "loop" | "ram" | "zram" | "nbd") {
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
mod tests {
    use super::*;

    fn collect(machine: &str) -> Vec<Disk> {
        let root = format!("{}/fixtures/disks/{machine}", env!("CARGO_MANIFEST_DIR"));
        let mut inv = Inventory::default();
        DisksCollector
            .collect(&Context::new(root), &mut inv)
            .expect("collects");
        inv.disks.expect("section")
    }

    #[test]
    fn kinds_follow_the_kernel_name() {
        let kinds: Vec<&str> = [
            "sda", "nvme0n1", "vda", "xvda", "mmcblk0", "loop7", "ram0", "zram0", "nbd3", "md127",
            "dm-0", "sr0",
        ]
        .iter()
        .map(|n| disk_kind(n))
        .collect();
        assert_eq!(
            kinds,
            [
                "disk", "disk", "disk", "disk", "disk", "loop", "ram", "zram", "nbd", "md", "dm",
                "rom"
            ]
        );
    }

    #[test]
    fn the_firecracker_vm_lists_vda_and_leaves_out_unused_loop_and_zram_devices() {
        assert_eq!(
            collect("debian12-firecracker"),
            vec![Disk {
                name: "vda".into(),
                size_bytes: 536_870_912 * 512,
                model: None,
                serial: Some("overlayblk".into()),
                rotational: Some(true),
                kind: "disk".into(),
            }]
        );
    }

    /// Name, kind, model, serial, rotational.
    type Summary<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<bool>,
    );

    #[test]
    fn a_dell_server_lists_raid_ssd_nvme_and_lvm_devices() {
        let disks = collect("dell-poweredge-r640");
        let summary: Vec<Summary> = disks
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.kind.as_str(),
                    d.model.as_deref(),
                    d.serial.as_deref(),
                    d.rotational,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("dm-0", "dm", None, None, Some(true)),
                ("dm-1", "dm", None, None, Some(true)),
                (
                    "nvme0n1",
                    "disk",
                    Some("Dell Express Flash PM1725b 1.6TB SFF"),
                    Some("S4ESNE0M700123"),
                    Some(false)
                ),
                ("sda", "disk", Some("PERC H730P Mini"), None, Some(true)),
                (
                    "sdb",
                    "disk",
                    Some("SAMSUNG MZ7LH960"),
                    Some("S45NNE0M123456"),
                    Some(false)
                ),
                ("sr0", "rom", Some("Virtual CD"), None, Some(true)),
            ]
        );
        let size = |name: &str| disks.iter().find(|d| d.name == name).map(|d| d.size_bytes);
        assert_eq!(size("nvme0n1"), Some(1_600_321_314_816));
        assert_eq!(size("sdb"), Some(960_197_124_096));
        assert_eq!(size("sr0"), Some(1_073_741_824));
    }

    #[test]
    fn a_fedora_laptop_lists_its_zram_swap_and_the_iso_on_a_loop_device() {
        let disks = collect("fedora40-laptop");
        let names: Vec<(&str, &str, u64)> = disks
            .iter()
            .map(|d| (d.name.as_str(), d.kind.as_str(), d.size_bytes))
            .collect();
        assert_eq!(
            names,
            vec![
                ("loop0", "loop", 4_484_088 * 512),
                ("nvme0n1", "disk", 1_000_215_216 * 512),
                ("zram0", "zram", 16_777_216 * 512),
            ]
        );
    }

    #[test]
    fn vpd_page_80_yields_the_padded_ata_serial_trimmed() {
        let page = b"\x00\x80\x00\x14S45NNE0M123456      ";
        assert_eq!(parse_vpd_pg80(page).as_deref(), Some("S45NNE0M123456"));
        assert_eq!(parse_vpd_pg80(b"\x00\x80\x00\x00"), None);
        assert_eq!(parse_vpd_pg80(b"\x00\x83\x00\x04abcd"), None);
        // A length beyond the data takes what is there rather than nothing.
        assert_eq!(
            parse_vpd_pg80(b"\x00\x80\x00\x20ABC").as_deref(),
            Some("ABC")
        );
    }

    #[test]
    fn rotational_and_size_parse_sysfs_values() {
        assert_eq!(parse_rotational("1\n"), Some(true));
        assert_eq!(parse_rotational("0"), Some(false));
        assert_eq!(parse_rotational(""), None);
        assert_eq!(parse_size("536870912\n"), Some(274_877_906_944));
        assert_eq!(parse_size("x"), None);
    }
}
