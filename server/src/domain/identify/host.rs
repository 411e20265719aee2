//! Host identification: which existing CI, if any, an incoming inventory describes.
//!
//! Ordered, explainable rules (docs/architecture.md): hardware UUID (canonical, so byte-swapped forms
//! match; bogus values ignored), then vendor + serial (placeholders ignored), then machine-id,
//! then a shared permanent MAC of a physical NIC, then FQDN. The first rule with a candidate
//! wins and its name is stored with the CI.
//!
//! A weaker rule never overrides a stronger contradiction: a candidate found by machine-id is
//! rejected when both sides have a usable hardware UUID and the UUIDs differ (a cloned VM keeps
//! its machine-id but gets a new UUID and MACs). A stronger rule is not vetoed by weaker keys:
//! a reimaged host keeps its DMI UUID and gets a new machine-id, and stays the same CI.

use std::collections::BTreeSet;

use cmdb_shared::{Identity, NetworkInterface, ident};
use serde::{Deserialize, Serialize};

use super::candidate::{self, oldest_of};

/// HostIdentification keys of one host, normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HostKeys {
    pub hardware_uuid: Option<String>,
    /// `VENDOR|SERIAL`, both trimmed and uppercased.
    pub vendor_serial: Option<String>,
    pub machine_id: Option<String>,
    /// Permanent (globally administered) MACs of physical NICs.
    #[serde(default)]
    pub macs: Vec<String>,
    pub fqdn: Option<String>,
}

impl HostKeys {
    /// Derives the keys from an inventory's identity and network sections.
    pub fn from_inventory(identity: &Identity, network: Option<&[NetworkInterface]>) -> Self {
        let vendor_serial = match (&identity.vendor, &identity.serial) {
            (Some(v), Some(s)) => {
                ident::usable_serial(s).map(|s| format!("{}|{}", v.trim().to_uppercase(), s))
            }
            _ => None,
        };
        let macs: BTreeSet<String> = network
            .unwrap_or_default()
            .iter()
            .filter(|i| i.physical)
            .filter_map(|i| i.permanent_mac.as_deref().or(i.mac.as_deref()))
            .filter_map(ident::permanent_mac)
            .collect();
        Self {
            hardware_uuid: identity
                .hardware_uuid
                .as_deref()
                .and_then(ident::canonical_hardware_uuid),
            vendor_serial,
            machine_id: identity
                .machine_id
                .as_deref()
                .and_then(ident::usable_machine_id),
            macs: macs.into_iter().collect(),
            fqdn: identity.fqdn.as_deref().and_then(ident::usable_fqdn),
        }
    }

    /// True when no rule can identify this host (a new CI is always created).
    pub fn is_empty(&self) -> bool {
        self.hardware_uuid.is_none()
            && self.vendor_serial.is_none()
            && self.machine_id.is_none()
            && self.macs.is_empty()
            && self.fqdn.is_none()
    }
}

/// The identification rules, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostRule {
    HardwareUuid,
    VendorSerial,
    MachineId,
    Mac,
    Fqdn,
}

impl HostRule {
    /// All rules in order.
    pub const ORDER: [HostRule; 5] = [
        HostRule::HardwareUuid,
        HostRule::VendorSerial,
        HostRule::MachineId,
        HostRule::Mac,
        HostRule::Fqdn,
    ];

    /// Wire name, stored with the CI.
    pub fn as_str(self) -> &'static str {
        match self {
            HostRule::HardwareUuid => "hardware_uuid",
            HostRule::VendorSerial => "vendor_serial",
            HostRule::MachineId => "machine_id",
            HostRule::Mac => "mac",
            HostRule::Fqdn => "fqdn",
        }
    }

    /// Whether both key sets have this key and it is the same.
    fn matches(self, a: &HostKeys, b: &HostKeys) -> bool {
        match self {
            HostRule::HardwareUuid => both_eq(&a.hardware_uuid, &b.hardware_uuid),
            HostRule::VendorSerial => both_eq(&a.vendor_serial, &b.vendor_serial),
            HostRule::MachineId => both_eq(&a.machine_id, &b.machine_id),
            HostRule::Mac => a.macs.iter().any(|m| b.macs.contains(m)),
            HostRule::Fqdn => both_eq(&a.fqdn, &b.fqdn),
        }
    }

    /// Whether both key sets have this key and it differs: evidence of two machines.
    fn contradicts(self, a: &HostKeys, b: &HostKeys) -> bool {
        match self {
            HostRule::HardwareUuid => both_ne(&a.hardware_uuid, &b.hardware_uuid),
            HostRule::VendorSerial => both_ne(&a.vendor_serial, &b.vendor_serial),
            // A machine-id changes on reinstall, MACs on NIC swaps, FQDNs on renames: none of
            // them proves two machines.
            HostRule::MachineId | HostRule::Mac | HostRule::Fqdn => false,
        }
    }
}

fn both_eq(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x == y)
}

fn both_ne(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

/// An existing host CI that shares at least one lookup key with the incoming report.
pub type HostCandidate = candidate::Candidate<HostKeys>;

/// The outcome of host identification.
pub type HostIdentification = candidate::Identification<HostRule>;

/// Whether two key sets prove two different machines (a strong key present on both sides
/// and different).
pub fn host_contradicts(a: &HostKeys, b: &HostKeys) -> bool {
    HostRule::ORDER.iter().any(|r| r.contradicts(a, b))
}

/// Applies the ordered rules to `candidates` (CIs sharing any key with `incoming`).
pub fn identify_host(incoming: &HostKeys, candidates: &[HostCandidate]) -> HostIdentification {
    for (strength, rule) in HostRule::ORDER.iter().enumerate() {
        let matched: Vec<&HostCandidate> = candidates
            .iter()
            .filter(|c| rule.matches(incoming, &c.keys))
            .filter(|c| {
                !HostRule::ORDER[..strength]
                    .iter()
                    .any(|stronger| stronger.contradicts(incoming, &c.keys))
            })
            .collect();
        if let Some(found) = oldest_of(*rule, matched) {
            return found;
        }
    }
    HostIdentification::New
}

#[cfg(test)]
mod tests {
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
}
