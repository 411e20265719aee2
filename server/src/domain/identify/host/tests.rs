use super::*;

fn identity(uuid: &str, serial: &str, machine_id: &str) -> Identity {
    Identity {
        hostname: "web01".into(),
        fqdn: Some("web01.example.com".into()),
        machine_id: Some(machine_id.into()),
        hardware_uuid: Some(uuid.into()),
        vendor: Some("Dell Inc.".into()),
        model: Some("PowerEdge R640".into()),
        serial: Some(serial.into()),
        chassis_type: None,
    }
}

fn nic(mac: &str) -> NetworkInterface {
    NetworkInterface {
        name: "eno1".into(),
        mac: Some(mac.into()),
        physical: true,
        state: "up".into(),
        ..Default::default()
    }
}

fn candidate(id: &str, keys: HostKeys, first_seen: &str) -> HostCandidate {
    HostCandidate {
        ci_id: id.into(),
        keys,
        first_seen: first_seen.into(),
        owner: None,
    }
}

const UUID_A: &str = "4c4c4544-0044-3510-8052-b4c04f4e5331";
const UUID_B: &str = "4c4c4544-0055-3610-8052-c4c04f4e5332";
const MID_A: &str = "3d1219c7c4c5404aaa1f6d2a48adfda4";
const MID_B: &str = "9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4";

#[test]
fn reimaged_host_with_new_machine_id_and_same_dmi_uuid_is_the_same_ci() {
    let old = HostKeys::from_inventory(
        &identity(UUID_A, "CZ1234", MID_A),
        Some(&[nic("b4:96:91:00:00:01")]),
    );
    let new = HostKeys::from_inventory(
        &identity(UUID_A, "CZ1234", MID_B),
        Some(&[nic("b4:96:91:00:00:01")]),
    );
    let got = identify_host(&new, &[candidate("ci1", old, "2026-01-01T00:00:00Z")]);
    assert_eq!(
        got,
        HostIdentification::Existing {
            ci_id: "ci1".into(),
            rule: HostRule::HardwareUuid,
            duplicates: vec![]
        }
    );
}

#[test]
fn cloned_vm_with_same_machine_id_but_other_uuid_and_macs_is_a_new_ci() {
    let mut original = identity(UUID_A, "VMware-42 1a", MID_A);
    original.vendor = Some("VMware, Inc.".into());
    let mut clone = identity(UUID_B, "VMware-42 1b", MID_A);
    clone.vendor = Some("VMware, Inc.".into());
    let old = HostKeys::from_inventory(&original, Some(&[nic("00:50:56:00:00:01")]));
    let new = HostKeys::from_inventory(&clone, Some(&[nic("00:50:56:00:00:02")]));
    assert_eq!(
        identify_host(&new, &[candidate("ci1", old, "2026-01-01T00:00:00Z")]),
        HostIdentification::New
    );
}

#[test]
fn placeholder_serials_are_ignored() {
    let a = identity(
        "00000000-0000-0000-0000-000000000000",
        "To Be Filled By O.E.M.",
        MID_A,
    );
    let b = identity(
        "00000000-0000-0000-0000-000000000000",
        "To Be Filled By O.E.M.",
        MID_B,
    );
    let mut a_keys = HostKeys::from_inventory(&a, None);
    let mut b_keys = HostKeys::from_inventory(&b, None);
    assert_eq!(a_keys.vendor_serial, None);
    assert_eq!(a_keys.hardware_uuid, None);
    // Different hosts that share only placeholder values and a name are not merged on
    // those values; only the FQDN rule could apply, and here the FQDNs differ.
    a_keys.fqdn = Some("a.example.com".into());
    b_keys.fqdn = Some("b.example.com".into());
    assert_eq!(
        identify_host(&b_keys, &[candidate("ci1", a_keys, "2026-01-01T00:00:00Z")]),
        HostIdentification::New
    );
}

#[test]
fn byte_swapped_uuid_matches() {
    let old = HostKeys::from_inventory(&identity(UUID_A, "X", MID_A), None);
    let new = HostKeys::from_inventory(
        &identity("44454c4c-4400-1035-8052-b4c04f4e5331", "X", MID_B),
        None,
    );
    match identify_host(&new, &[candidate("ci1", old, "2026-01-01T00:00:00Z")]) {
        HostIdentification::Existing { rule, .. } => assert_eq!(rule, HostRule::HardwareUuid),
        other => panic!("expected a match, got {other:?}"),
    }
}

#[test]
fn vendor_serial_identifies_when_uuid_is_bogus() {
    let old = HostKeys::from_inventory(
        &identity("03000200-0400-0500-0006-000700080009", "CZ1234", MID_A),
        None,
    );
    let new = HostKeys::from_inventory(
        &identity("03000200-0400-0500-0006-000700080009", "CZ1234", MID_B),
        None,
    );
    match identify_host(&new, &[candidate("ci1", old, "2026-01-01T00:00:00Z")]) {
        HostIdentification::Existing { rule, .. } => assert_eq!(rule, HostRule::VendorSerial),
        other => panic!("expected a match, got {other:?}"),
    }
}

#[test]
fn several_candidates_attach_to_the_oldest_and_flag_the_rest() {
    let keys = HostKeys {
        machine_id: Some(MID_A.into()),
        ..Default::default()
    };
    let got = identify_host(
        &keys,
        &[
            candidate("newer", keys.clone(), "2026-05-01T00:00:00Z"),
            candidate("older", keys.clone(), "2026-01-01T00:00:00Z"),
        ],
    );
    assert_eq!(
        got,
        HostIdentification::Existing {
            ci_id: "older".into(),
            rule: HostRule::MachineId,
            duplicates: vec!["newer".into()]
        }
    );
}

#[test]
fn shared_permanent_mac_of_a_physical_nic_identifies_but_random_macs_do_not() {
    let mut a = Identity {
        hostname: "h".into(),
        ..Default::default()
    };
    a.machine_id = None;
    let docker = NetworkInterface {
        mac: Some("02:42:ac:11:00:02".into()),
        physical: false,
        ..nic("")
    };
    let old = HostKeys::from_inventory(&a, Some(&[nic("b4:96:91:00:00:01"), docker.clone()]));
    let new = HostKeys::from_inventory(&a, Some(&[nic("b4:96:91:00:00:01")]));
    assert_eq!(old.macs, vec!["b4:96:91:00:00:01".to_string()]);
    assert!(matches!(
        identify_host(&new, &[candidate("ci1", old, "2026-01-01T00:00:00Z")]),
        HostIdentification::Existing {
            rule: HostRule::Mac,
            ..
        }
    ));
    let only_docker = HostKeys::from_inventory(&a, Some(&[docker]));
    assert!(only_docker.is_empty());
}

fn owned(id: &str, keys: HostKeys, owner: &str) -> HostCandidate {
    HostCandidate {
        owner: Some(owner.into()),
        ..candidate(id, keys, "2026-01-01T00:00:00Z")
    }
}

/// What agent A sends when it names only one of B's weak keys (no DMI UUID, as on many VMs).
fn weak(fqdn: Option<&str>, machine_id: Option<&str>, mac: Option<&str>) -> HostKeys {
    HostKeys {
        fqdn: fqdn.map(str::to_string),
        machine_id: machine_id.map(str::to_string),
        macs: mac.map(|m| vec![m.to_string()]).unwrap_or_default(),
        ..HostKeys::default()
    }
}

fn victim() -> HostKeys {
    HostKeys {
        machine_id: Some(MID_B.into()),
        macs: vec!["52:54:00:00:00:0b".into()],
        fqdn: Some("db01.example.com".into()),
        ..HostKeys::default()
    }
}

#[test]
fn a_weak_key_never_moves_another_agents_ci_it_only_flags_it() {
    let b = owned("ci-b", victim(), "agent-b");
    for incoming in [
        weak(Some("db01.example.com"), None, None),
        weak(None, Some(MID_B), None),
        weak(None, None, Some("52:54:00:00:00:0b")),
        victim(),
    ] {
        let (got, suspects) = identify_host_for("agent-a", &incoming, std::slice::from_ref(&b));
        assert_eq!(got, HostIdentification::New, "{incoming:?}");
        assert_eq!(suspects, vec!["ci-b".to_string()], "{incoming:?}");
    }
    // The same keys from the CI's own agent, or on a CI no agent holds: matched as before.
    let (got, suspects) = identify_host_for("agent-b", &victim(), std::slice::from_ref(&b));
    assert!(matches!(got, HostIdentification::Existing { ref ci_id, .. } if ci_id == "ci-b"));
    assert!(suspects.is_empty());
    let unbound = candidate("ci-u", victim(), "2026-01-01T00:00:00Z");
    let (got, _) = identify_host_for("agent-a", &victim(), &[unbound]);
    assert!(matches!(got, HostIdentification::Existing { ref ci_id, .. } if ci_id == "ci-u"));
}

#[test]
fn a_strong_key_moves_another_agents_ci_and_an_own_ci_wins_over_a_foreign_one() {
    let hw = HostKeys {
        hardware_uuid: Some(UUID_A.into()),
        ..victim()
    };
    let b = owned("ci-b", hw.clone(), "agent-b");
    let (got, suspects) = identify_host_for("agent-a", &hw, std::slice::from_ref(&b));
    assert_eq!(
        got,
        HostIdentification::Existing {
            ci_id: "ci-b".into(),
            rule: HostRule::HardwareUuid,
            duplicates: vec![]
        }
    );
    assert!(suspects.is_empty());
    // A's own CI shares the FQDN with B's: A's is the one, B's a suspect.
    let a = owned(
        "ci-a",
        weak(Some("db01.example.com"), Some(MID_A), None),
        "agent-a",
    );
    let b = owned("ci-b", victim(), "agent-b");
    let (got, suspects) = identify_host_for(
        "agent-a",
        &weak(Some("db01.example.com"), Some(MID_A), None),
        &[a, b],
    );
    assert!(
        matches!(got, HostIdentification::Existing { ref ci_id, rule: HostRule::MachineId, .. } if ci_id == "ci-a")
    );
    assert_eq!(suspects, vec!["ci-b".to_string()]);
}

#[test]
fn a_foreign_ci_a_strong_key_contradicts_is_not_a_suspect() {
    // The FQDN was reused by other hardware: two hosts, nothing to flag.
    let b = owned(
        "ci-b",
        HostKeys {
            hardware_uuid: Some(UUID_B.into()),
            ..victim()
        },
        "agent-b",
    );
    let incoming = HostKeys {
        hardware_uuid: Some(UUID_A.into()),
        fqdn: Some("db01.example.com".into()),
        ..HostKeys::default()
    };
    let (got, suspects) = identify_host_for("agent-a", &incoming, &[b]);
    assert_eq!(got, HostIdentification::New);
    assert!(suspects.is_empty());
}
