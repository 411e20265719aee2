//! Expected values are read off the recordings (hex values decoded by hand), not
//! produced by this code.
use super::*;

#[test]
fn the_columns_a_walk_leaves_out_change_no_inventory() {
    for name in [
        "cisco-c3560.snmprec",
        "juniper-mx960-12-3r6-6.snmprec",
        "hpe-procurve-516733-b21.snmprec",
        "h3c-e528-2.snmprec",
    ] {
        let all = fixture(name);
        let roots: Vec<Oid> = walk_plan().into_iter().flatten().collect();
        let mut kept = Walk::default();
        for (o, v) in &all.0 {
            if roots.iter().any(|r| o.starts_with(r)) {
                kept.insert(o.clone(), v.clone());
            }
        }
        assert!(kept.len() < all.len(), "{name}: nothing left out");
        assert_eq!(inventory("t", &kept), inventory("t", &all), "{name}");
        assert_eq!(
            interfaces::counters(&kept),
            interfaces::counters(&all),
            "{name}"
        );
    }
}

#[test]
fn cisco_c3560_with_entity_mib_cdp_and_arp() {
    let inv = inventory("192.0.2.10", &fixture("cisco-c3560.snmprec"));
    assert_eq!(inv.system.name.as_deref(), Some("DUMSYS-04"));
    assert_eq!(inv.system.object_id.as_deref(), Some("1.3.6.1.4.1.9.1.617"));
    assert_eq!(inv.vendor.as_deref(), Some("Cisco"));
    assert_eq!(inv.model.as_deref(), Some("WS-C3560G-48TS-E"));
    assert_eq!(inv.serial.as_deref(), Some("FOC1408Z61U"));
    assert_eq!(inv.firmware.as_deref(), Some("12.2(55)SE3"));
    assert_eq!(inv.base_bridge_mac.as_deref(), Some("e8:04:62:78:f2:00"));
    assert_eq!(inv.interfaces.len(), 57);
    let gi50 = inv
        .interfaces
        .iter()
        .find(|i| i.index == 10150)
        .expect("ifIndex 10150");
    assert_eq!(gi50.name, "Gi0/50");
    assert_eq!((gi50.mtu, gi50.speed_mbps), (Some(1500), Some(1000)));
    assert_eq!(inv.cdp_neighbors.len(), 9);
    let n = inv
        .cdp_neighbors
        .iter()
        .find(|n| n.device_id == "kexuehuitang")
        .expect("neighbour");
    assert_eq!(n.local_port.as_deref(), Some("Gi0/50"));
    assert_eq!(n.address.as_deref(), Some("10.1.100.141"));
    assert_eq!(n.port.as_deref(), Some("GigabitEthernet0/1"));
    assert_eq!(n.platform.as_deref(), Some("cisco WS-C3560-48TS"));
    assert!(
        inv.cdp_neighbors
            .iter()
            .filter(|n| n.local_if_index == 10150)
            .count()
            > 1,
        "several neighbours on one port"
    );
    let a = inv
        .addresses
        .iter()
        .find(|a| a.address == "10.1.100.148")
        .expect("address");
    assert_eq!((a.prefix_len, a.if_index), (Some(24), Some(2)));
    // 15 IPv4 neighbours in ipNetToMediaTable, 21 IPv6 ones in ipNetToPhysicalTable.
    assert_eq!(inv.arp.len(), 36);
}

#[test]
fn juniper_mx960_lldp_neighbours_with_management_addresses() {
    let inv = inventory("192.0.2.17", &fixture("juniper-mx960-12-3r6-6.snmprec"));
    assert_eq!(inv.system.name.as_deref(), Some("DUMSYS-17"));
    assert_eq!(inv.vendor.as_deref(), Some("Juniper Networks"));
    assert_eq!(
        inv.model.as_deref(),
        Some("mx960"),
        "from sysDescr: no ENTITY-MIB here"
    );
    assert_eq!(inv.firmware.as_deref(), Some("12.3R6.6"));
    let local = inv.lldp_local.as_ref().expect("LLDP local");
    assert_eq!(
        (local.chassis_id_subtype.as_str(), local.chassis_id.as_str()),
        ("macAddress", "a8:d0:e5:f6:17:c0")
    );
    assert_eq!(local.system_name.as_deref(), Some("re0-SNNU-YT-CORE-1"));
    assert_eq!(inv.lldp_neighbors.len(), 13);
    let ring = inv
        .lldp_neighbors
        .iter()
        .find(|n| n.local_port_num == 611)
        .expect("the neighbour on port 611");
    assert_eq!(
        ring.chassis_id, "a8:d0:e5:f5:af:c0",
        "mx960-13's own chassis id"
    );
    assert_eq!(ring.system_name.as_deref(), Some("re0-SNNU-CA-CORE-1"));
    assert_eq!(
        (ring.port_id_subtype.as_str(), ring.port_id.as_str()),
        ("local", "628")
    );
    assert_eq!(ring.local_port.as_deref(), Some("xe-1/2/0"));
    assert_eq!(ring.management_address.as_deref(), Some("192.168.2.1"));
}

#[test]
fn hpe_procurve_sees_the_nexus_over_lldp() {
    let inv = inventory("192.0.2.64", &fixture("hpe-procurve-516733-b21.snmprec"));
    assert_eq!(inv.system.name.as_deref(), Some("DUMSYS-64"));
    assert_eq!(inv.vendor.as_deref(), Some("HP"));
    assert_eq!(
        inv.model.as_deref(),
        Some("516733-B21"),
        "ENTITY-MIB wins over sysDescr"
    );
    assert_eq!(inv.serial.as_deref(), Some("3C421900TX"));
    assert_eq!(inv.firmware.as_deref(), Some("Z.14.31"));
    assert_eq!(
        inv.lldp_local.as_ref().map(|l| l.chassis_id.as_str()),
        Some("ac:16:2d:92:7d:21")
    );
    assert_eq!(inv.lldp_neighbors.len(), 5);
    let nexus = inv
        .lldp_neighbors
        .iter()
        .find(|n| n.chassis_id_subtype == "local")
        .expect("the Nexus 5548");
    assert_eq!(nexus.chassis_id, "NWPU-CA-5548-01(SSI183706KP)");
    assert_eq!(nexus.port_id, "Ethernet1/19");
    assert_eq!(nexus.local_port_num, 17);
    assert_eq!(
        nexus.system_name, None,
        "empty strings are absent, not \"\""
    );
}

#[test]
fn h3c_forwarding_table_per_vlan_and_arp() {
    let inv = inventory("192.0.2.1", &fixture("h3c-e528-2.snmprec"));
    assert_eq!(inv.vendor.as_deref(), Some("H3C"));
    assert_eq!(inv.model.as_deref(), Some("H3C Switch E528"));
    assert_eq!(inv.serial.as_deref(), Some("210235A0GKC158000929"));
    assert_eq!(inv.firmware.as_deref(), Some("5.20 Release 1513P62"));
    assert_eq!(inv.base_bridge_mac.as_deref(), Some("38:91:d5:30:75:77"));
    let fdb: Vec<_> = inv
        .forwarding
        .iter()
        .map(|f| (f.vlan, f.mac.as_str(), f.bridge_port, f.status.as_deref()))
        .collect();
    assert_eq!(
        fdb,
        vec![
            (Some(1), "38:91:d5:fb:74:75", 24, Some("learned")),
            (Some(2), "0c:da:41:49:86:d8", 24, Some("learned")),
        ]
    );
    assert_eq!(inv.arp.len(), 10);
}
