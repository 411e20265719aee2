use super::*;

fn collect(machine: &str) -> Identity {
    let root = format!("{}/fixtures/identity/{machine}", env!("CARGO_MANIFEST_DIR"));
    let mut inv = Inventory::default();
    IdentityCollector
        .collect(&Context::new(root), &mut inv)
        .expect("collects");
    inv.identity.expect("section")
}

#[test]
fn the_firecracker_vm_has_a_machine_id_but_no_dmi_at_all() {
    assert_eq!(
        collect("debian12-firecracker"),
        Identity {
            hostname: "vm".into(),
            fqdn: None,
            machine_id: Some("3d1219c7c4c5404aaa1f6d2a48adfda4".into()),
            ..Identity::default()
        }
    );
}

#[test]
fn a_dell_server_reports_its_service_tag_and_rack_chassis() {
    assert_eq!(
        collect("dell-poweredge-r640"),
        Identity {
            hostname: "db01".into(),
            fqdn: None,
            machine_id: Some("b7c1e3a9f2d84c0e9a6b5d4c3e2f1a09".into()),
            hardware_uuid: Some("4c4c4544-0058-4b10-8032-b7c04f4d3533".into()),
            vendor: Some("Dell Inc.".into()),
            model: Some("PowerEdge R640".into()),
            serial: Some("7XK2M53".into()),
            chassis_type: Some("rack mount chassis".into()),
        }
    );
}

#[test]
fn a_supermicro_without_etc_machine_id_falls_back_to_the_dbus_copy() {
    let id = collect("supermicro-x11");
    assert_eq!(
        id.machine_id.as_deref(),
        Some("0f4e2d7c9b8a41f3a5c6d7e8f9012345")
    );
    // The board's placeholder serial is kept as read: the server knows to ignore it.
    assert_eq!(id.serial.as_deref(), Some("0123456789"));
    assert_eq!(id.chassis_type.as_deref(), Some("main server chassis"));
    assert_eq!(
        id.hardware_uuid.as_deref(),
        Some("00000000-0000-0000-0000-ac1f6b4c2d1e")
    );
}

#[test]
fn a_vmware_vm_reports_the_vmware_serial_and_uuid() {
    let id = collect("vmware-vm");
    assert_eq!(id.vendor.as_deref(), Some("VMware, Inc."));
    assert_eq!(id.model.as_deref(), Some("VMware7,1"));
    assert_eq!(
        id.serial.as_deref(),
        Some("VMware-42 1c 9f 8e 3a 5b 6c 7d-1e 2f 3a 4b 5c 6d 7e 8f")
    );
    assert_eq!(
        id.hardware_uuid.as_deref(),
        Some("8e9f1c42-5b3a-7d6c-1e2f-3a4b5c6d7e8f")
    );
    assert_eq!(id.chassis_type.as_deref(), Some("other"));
}

#[test]
fn a_hyperv_vm_with_an_uninitialized_machine_id_has_none() {
    let id = collect("hyperv-vm");
    // A golden image on first boot: /etc/machine-id says "uninitialized".
    assert_eq!(id.machine_id, None);
    assert_eq!(id.vendor.as_deref(), Some("Microsoft Corporation"));
    assert_eq!(id.model.as_deref(), Some("Virtual Machine"));
    assert_eq!(
        id.serial.as_deref(),
        Some("2241-6693-0542-4571-8120-3709-71")
    );
    assert_eq!(id.chassis_type.as_deref(), Some("desktop"));
}

#[test]
fn blank_dmi_values_are_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dmi = dir.path().join("sys/class/dmi/id");
    std::fs::create_dir_all(&dmi).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("proc/sys/kernel")).expect("mkdir");
    std::fs::write(dir.path().join("proc/sys/kernel/hostname"), "box\n").expect("write");
    std::fs::write(dmi.join("product_serial"), "        \n").expect("write");
    std::fs::write(dmi.join("sys_vendor"), "\n").expect("write");
    std::fs::write(dmi.join("product_name"), "  Z790 AORUS  \n").expect("write");
    let mut inv = Inventory::default();
    IdentityCollector
        .collect(&Context::new(dir.path()), &mut inv)
        .expect("collects");
    let id = inv.identity.expect("section");
    assert_eq!((id.serial, id.vendor), (None, None));
    assert_eq!(id.model.as_deref(), Some("Z790 AORUS"));
}

#[test]
fn chassis_numbers_map_to_smbios_names() {
    assert_eq!(parse_chassis_type("1").as_deref(), Some("other"));
    assert_eq!(parse_chassis_type("3\n").as_deref(), Some("desktop"));
    assert_eq!(parse_chassis_type("9").as_deref(), Some("laptop"));
    assert_eq!(parse_chassis_type("10").as_deref(), Some("notebook"));
    assert_eq!(
        parse_chassis_type("17").as_deref(),
        Some("main server chassis")
    );
    assert_eq!(
        parse_chassis_type("23").as_deref(),
        Some("rack mount chassis")
    );
    assert_eq!(parse_chassis_type("36").as_deref(), Some("stick pc"));
}

#[test]
fn unknown_or_out_of_range_chassis_numbers_are_none() {
    assert_eq!(parse_chassis_type("2"), None);
    assert_eq!(parse_chassis_type("0"), None);
    assert_eq!(parse_chassis_type("37"), None);
    assert_eq!(parse_chassis_type("rack"), None);
}

#[test]
fn machine_ids_must_be_32_hex_digits() {
    assert_eq!(
        parse_machine_id("3D1219C7C4C5404AAA1F6D2A48ADFDA4\n").as_deref(),
        Some("3d1219c7c4c5404aaa1f6d2a48adfda4")
    );
    assert_eq!(parse_machine_id("uninitialized"), None);
    assert_eq!(parse_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda"), None);
    assert_eq!(
        parse_machine_id("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"),
        None
    );
}

#[test]
fn fqdns_need_a_domain_and_must_not_be_loopback_names_or_addresses() {
    assert_eq!(
        accept_fqdn("db01.corp.example.com.").as_deref(),
        Some("db01.corp.example.com")
    );
    assert_eq!(
        accept_fqdn("DB01.Corp.Example.com").as_deref(),
        Some("db01.corp.example.com")
    );
    assert_eq!(accept_fqdn("db01"), None);
    assert_eq!(accept_fqdn("localhost"), None);
    assert_eq!(accept_fqdn("localhost.localdomain"), None);
    assert_eq!(accept_fqdn("localhost6.localdomain6"), None);
    assert_eq!(accept_fqdn("ip6-localhost.example"), None);
    assert_eq!(accept_fqdn("10.0.0.5"), None);
    assert_eq!(accept_fqdn("fe80::1"), None);
}
