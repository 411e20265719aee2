use super::*;
use crate::domain::identify::device::*;
use cmdb_shared::device::{
    DeviceAddress, DeviceInterface, LldpLocal, Processor, StorageArea, SystemGroup,
};

fn device(target: &str, serial: Option<&str>, base_mac: Option<&str>) -> DeviceInventory {
    DeviceInventory {
        target: target.into(),
        system: SystemGroup {
            name: Some("core-sw1".into()),
            ..Default::default()
        },
        enterprise: Some(9),
        vendor: Some("Cisco".into()),
        serial: serial.map(str::to_string),
        base_bridge_mac: base_mac.map(str::to_string),
        addresses: vec![DeviceAddress {
            address: "10.0.0.1".into(),
            prefix_len: Some(24),
            if_index: Some(1),
        }],
        ..Default::default()
    }
}

fn candidate(id: &str, keys: DeviceKeys, first_seen: &str) -> DeviceCandidate {
    DeviceCandidate {
        ci_id: id.into(),
        keys,
        first_seen: first_seen.into(),
        owner: None,
    }
}

fn keys(inv: &DeviceInventory) -> DeviceKeys {
    DeviceKeys::from_inventory(inv, &[])
}

const T0: &str = "2026-01-01T00:00:00Z";

#[test]
fn the_same_serial_through_another_address_is_the_same_device() {
    let old = keys(&device("10.0.0.1", Some("FOC1234X"), None));
    let new = keys(&device("192.0.2.9:1161", Some(" foc1234x "), None));
    assert_eq!(new.serial.as_deref(), Some("9|FOC1234X"));
    assert_eq!(
        identify_device(&new, &[candidate("ci1", old, T0)]),
        DeviceIdentification::Existing {
            ci_id: "ci1".into(),
            rule: DeviceRule::ChassisSerial,
            duplicates: vec![]
        }
    );
}

#[test]
fn placeholder_serials_and_bogus_macs_are_not_keys() {
    let mut inv = device("10.0.0.1", Some("N/A"), Some("00:00:00:00:00:00"));
    inv.lldp_local = Some(LldpLocal {
        chassis_id_subtype: "macAddress".into(),
        chassis_id: "ff:ff:ff:ff:ff:ff".into(),
        system_name: None,
    });
    let k = keys(&inv);
    assert_eq!(k.serial, None);
    assert!(k.chassis.is_empty(), "{k:?}");
}

#[test]
fn an_lldp_mac_chassis_id_equal_to_a_base_bridge_mac_is_the_same_unit() {
    let mut a = device("10.0.0.1", None, Some("00:1A:2B:3C:4D:5E"));
    a.system.name = Some("sw-a".into());
    let mut b = device("10.9.9.9", None, None);
    b.system.name = Some("renamed".into());
    b.lldp_local = Some(LldpLocal {
        chassis_id_subtype: "macAddress".into(),
        chassis_id: "00:1a:2b:3c:4d:5e".into(),
        system_name: None,
    });
    let (ka, kb) = (keys(&a), keys(&b));
    assert_eq!(ka.chassis, vec!["mac:00:1a:2b:3c:4d:5e".to_string()]);
    assert_eq!(ka.chassis, kb.chassis);
    assert!(matches!(
        identify_device(&kb, &[candidate("ci1", ka, T0)]),
        DeviceIdentification::Existing {
            rule: DeviceRule::ChassisId,
            ..
        }
    ));
}

#[test]
fn non_mac_lldp_chassis_ids_are_subtype_and_value() {
    let mut inv = device("10.0.0.1", None, None);
    inv.lldp_local = Some(LldpLocal {
        chassis_id_subtype: "local".into(),
        chassis_id: "FOX1234".into(),
        system_name: None,
    });
    assert_eq!(keys(&inv).chassis, vec!["local:FOX1234".to_string()]);
    // Ids that repeat across sites are not keys.
    for (subtype, id) in [
        ("networkAddress", "192.168.1.1"),
        ("interfaceName", "eth0"),
        ("local", "1"),
    ] {
        inv.lldp_local = Some(LldpLocal {
            chassis_id_subtype: subtype.into(),
            chassis_id: id.into(),
            system_name: None,
        });
        assert!(keys(&inv).chassis.is_empty(), "{subtype} {id}");
    }
}

#[test]
fn a_serial_under_another_maker_still_contradicts_and_a_new_base_mac_vetoes_the_name() {
    // The same serial after a network OS swap (another enterprise number) is no
    // contradiction; a different serial is, whatever the maker.
    let mut a = device("10.0.0.1", Some("FOC1111A"), Some("00:1a:2b:3c:4d:5e"));
    let old = keys(&a);
    a.enterprise = Some(674);
    assert!(!device_contradicts(DeviceRule::ChassisId, &keys(&a), &old));
    a.serial = Some("FOC2222B".into());
    assert!(device_contradicts(DeviceRule::ChassisId, &keys(&a), &old));
    // A serial-less replacement with the old unit's name and address but its own base
    // MAC is a new CI.
    let old = keys(&device("10.0.0.1", None, Some("00:1a:2b:3c:4d:5e")));
    let new = keys(&device("10.0.0.1", None, Some("00:1a:2b:3c:4d:99")));
    assert_eq!(
        identify_device(&new, &[candidate("ci1", old.clone(), T0)]),
        DeviceIdentification::New
    );
    // Without a base MAC on one side the name and address still find it.
    let bare = keys(&device("10.0.0.1", None, None));
    assert!(matches!(
        identify_device(&bare, &[candidate("ci1", old, T0)]),
        DeviceIdentification::Existing {
            rule: DeviceRule::SysnameAddress,
            ..
        }
    ));
}

#[test]
fn sysname_and_polled_address_identify_a_device_without_hardware_keys() {
    let old = keys(&device("10.0.0.1", None, None));
    // Polled at the same address: found.
    let same = keys(&device("10.0.0.1:161", None, None));
    assert_eq!(same.management.as_deref(), Some("core-sw1|10.0.0.1"));
    assert!(matches!(
        identify_device(&same, &[candidate("ci1", old.clone(), T0)]),
        DeviceIdentification::Existing {
            rule: DeviceRule::SysnameAddress,
            ..
        }
    ));
    // Another device of the same name elsewhere: new.
    let mut other = device("10.5.0.1", None, None);
    other.addresses[0].address = "10.5.0.1".into();
    assert_eq!(
        identify_device(&keys(&other), &[candidate("ci1", old, T0)]),
        DeviceIdentification::New
    );
}

#[test]
fn a_weaker_rule_is_vetoed_by_different_serials() {
    let old = keys(&device(
        "10.0.0.1",
        Some("FOC1111A"),
        Some("00:1a:2b:3c:4d:5e"),
    ));
    // An RMA replacement configured with the old unit's name, address and (cloned)
    // base MAC, but its own serial.
    let new = keys(&device(
        "10.0.0.1",
        Some("FOC2222B"),
        Some("00:1a:2b:3c:4d:5e"),
    ));
    assert_eq!(
        identify_device(&new, &[candidate("ci1", old, T0)]),
        DeviceIdentification::New
    );
    // Without a serial on one side there is no contradiction.
    let old = keys(&device("10.0.0.1", None, None));
    let new = keys(&device("10.0.0.1", Some("FOC2222B"), None));
    assert!(matches!(
        identify_device(&new, &[candidate("ci1", old, T0)]),
        DeviceIdentification::Existing { .. }
    ));
}

#[test]
fn several_candidates_attach_to_the_oldest_and_flag_the_rest() {
    let k = keys(&device("10.0.0.1", Some("FOC1234X"), None));
    assert_eq!(
        identify_device(
            &k,
            &[
                candidate("newer", k.clone(), "2026-05-01T00:00:00Z"),
                candidate("older", k.clone(), T0),
            ]
        ),
        DeviceIdentification::Existing {
            ci_id: "older".into(),
            rule: DeviceRule::ChassisSerial,
            duplicates: vec!["newer".into()]
        }
    );
}

#[test]
fn the_strongest_rule_with_a_candidate_wins() {
    let by_name = keys(&device("10.0.0.1", None, None));
    let by_serial = keys(&device("10.7.7.7", Some("FOC1234X"), None));
    let incoming = keys(&device("10.0.0.1", Some("FOC1234X"), None));
    match identify_device(
        &incoming,
        &[
            candidate("a", by_name, T0),
            candidate("b", by_serial, "2026-02-01T00:00:00Z"),
        ],
    ) {
        DeviceIdentification::Existing { ci_id, rule, .. } => {
            assert_eq!((ci_id.as_str(), rule), ("b", DeviceRule::ChassisSerial));
        }
        other => panic!("expected a match, got {other:?}"),
    }
}

#[test]
fn loopback_and_link_local_addresses_are_not_keys() {
    let mut inv = device("sw1.example.com", None, None);
    inv.addresses.push(DeviceAddress {
        address: "127.0.0.1".into(),
        ..Default::default()
    });
    inv.addresses.push(DeviceAddress {
        address: "fe80::1".into(),
        ..Default::default()
    });
    let k = keys(&inv);
    assert_eq!(
        k.name_addresses,
        vec![
            "core-sw1|10.0.0.1".to_string(),
            "core-sw1|sw1.example.com".to_string()
        ]
    );
    assert_eq!(
        device_addresses(&inv, &["sw1.example.com".into()]),
        vec!["10.0.0.1", "fe80::1", "sw1.example.com"]
    );
    // The address a poller used counts even on loopback (a simulator, a local agent).
    let local = keys(&device("127.0.0.1:1161", None, None));
    assert_eq!(local.management.as_deref(), Some("core-sw1|127.0.0.1:1161"));
}

#[test]
fn targets_give_their_host_and_management_address() {
    for (target, host, address) in [
        ("10.0.0.1", "10.0.0.1", "10.0.0.1"),
        ("10.0.0.1:161", "10.0.0.1", "10.0.0.1"),
        ("10.0.0.1:1161", "10.0.0.1", "10.0.0.1:1161"),
        ("[2001:db8::1]:161", "2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:1161", "2001:db8::1", "[2001:db8::1]:1161"),
        ("2001:db8::1", "2001:db8::1", "2001:db8::1"),
        ("SW1.Example.com.", "sw1.example.com", "sw1.example.com"),
    ] {
        assert_eq!(target_host(target), host, "{target}");
        assert_eq!(target_address(target), address, "{target}");
    }
}

#[test]
fn mac_syntax_is_checked_and_canonicalised() {
    assert_eq!(
        canonical_mac("00-1A-2B-3C-4D-5E").as_deref(),
        Some("00:1a:2b:3c:4d:5e")
    );
    assert_eq!(
        canonical_mac("001a.2b3c.4d5e").as_deref(),
        Some("00:1a:2b:3c:4d:5e")
    );
    assert_eq!(
        canonical_mac("00:00:00:00:00:00").as_deref(),
        Some("00:00:00:00:00:00")
    );
    for bad in [
        "",
        "00:1a:2b:3c:4d",
        "00:1a:2b:3c:4d:5e:6f",
        "zz:1a:2b:3c:4d:5e",
        "0:1:2:3:4:5",
    ] {
        assert_eq!(canonical_mac(bad), None, "{bad}");
    }
}

#[test]
fn volatile_values_leave_the_stable_section_and_come_back_by_index() {
    let mut inv = device("10.0.0.1", None, None);
    inv.interfaces = vec![
        DeviceInterface {
            index: 2,
            name: "Gi0/2".into(),
            oper_status: Some("down".into()),
            ..Default::default()
        },
        DeviceInterface {
            index: 1,
            name: "Gi0/1".into(),
            oper_status: Some("up".into()),
            ..Default::default()
        },
    ];
    inv.storage = vec![StorageArea {
        index: 1,
        description: "flash".into(),
        kind: "flashMemory".into(),
        size_bytes: 100,
        used_bytes: 40,
    }];
    inv.processors = vec![Processor {
        index: 1,
        load_percent: 12,
    }];
    canonicalise(&mut inv);
    let s = split(&inv);
    assert!(s.stable.get("target").is_none());
    assert!(s.stable.get("forwarding").is_none());
    assert!(s.stable["interfaces"][0].get("oper_status").is_none());
    assert!(s.stable["storage"][0].get("used_bytes").is_none());
    let mut changed = inv.clone();
    changed.interfaces[0].oper_status = Some("down".into());
    changed.storage[0].used_bytes = 90;
    changed.processors[0].load_percent = 99;
    changed.forwarding.push(Default::default());
    assert_eq!(
        split(&changed).stable,
        s.stable,
        "volatile and topology only"
    );
    let mut shown = s.stable.clone();
    overlay_volatile(&mut shown, &s.volatile);
    assert_eq!(shown["interfaces"][0]["name"], "Gi0/1");
    assert_eq!(shown["interfaces"][0]["oper_status"], "up");
    assert_eq!(shown["interfaces"][1]["oper_status"], "down");
    assert_eq!(shown["storage"][0]["used_bytes"], 40);
    assert_eq!(shown["processors"][0]["load_percent"], 12);
}

#[test]
fn uptime_going_backwards_is_a_restart_unless_the_counter_wrapped() {
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
    let t1 = t0 + chrono::Duration::seconds(300);
    assert!(uptime_reset(90_000_000, t0, 12_000, t1));
    assert!(!uptime_reset(90_000_000, t0, 90_030_000, t1));
    // A redelivered or crossing sample is not later: proves nothing.
    assert!(!uptime_reset(90_000_000, t1, 12_000, t0));
    // Near 2^32: 300 s later the counter reads about 30,000 - 1,000 past the wrap.
    let near = u32::MAX - 1_000;
    assert!(!uptime_reset(near, t0, 29_000, t1));
    // …but a value far from where the wrap would put it is a restart.
    assert!(uptime_reset(near, t0, 2_000_000, t1));
}
