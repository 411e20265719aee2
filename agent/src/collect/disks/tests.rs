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
            "disk", "disk", "disk", "disk", "disk", "loop", "ram", "zram", "nbd", "md", "dm", "rom"
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
