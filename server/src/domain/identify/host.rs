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
    identify(incoming, candidates, |_, _| true)
}

/// The rules in order; `eligible` says whether a rule may take a candidate.
fn identify(
    incoming: &HostKeys,
    candidates: &[HostCandidate],
    eligible: impl Fn(HostRule, &HostCandidate) -> bool,
) -> HostIdentification {
    for (strength, rule) in HostRule::ORDER.iter().enumerate() {
        let matched: Vec<&HostCandidate> = candidates
            .iter()
            .filter(|c| rule.matches(incoming, &c.keys) && eligible(*rule, c))
            .filter(|c| !contradicted_by_stronger(strength, incoming, c))
            .collect();
        if let Some(found) = oldest_of(*rule, matched) {
            return found;
        }
    }
    HostIdentification::New
}

fn contradicted_by_stronger(strength: usize, incoming: &HostKeys, c: &HostCandidate) -> bool {
    HostRule::ORDER[..strength]
        .iter()
        .any(|stronger| stronger.contradicts(incoming, &c.keys))
}

impl HostRule {
    /// A key the host's hardware carries (DMI UUID, vendor and serial), as opposed to one any
    /// report can name (machine-id, MAC, FQDN).
    pub fn is_strong(self) -> bool {
        matches!(self, HostRule::HardwareUuid | HostRule::VendorSerial)
    }
}

/// Identification on behalf of `agent`, which may write only what is its own: a CI bound to
/// another agent is taken only on a strong key (hardware UUID, vendor and serial). A weak key
/// alone (machine-id, MAC, FQDN) that points at another agent's CI does not move it: such
/// CIs come back as suspects, to be flagged as suspected duplicates of whatever CI the report
/// ends up describing (an admin decides). Unbound CIs (imported, or whose agent was unbound)
/// are matched by every rule, as before.
pub fn identify_host_for(
    agent: &str,
    incoming: &HostKeys,
    candidates: &[HostCandidate],
) -> (HostIdentification, Vec<String>) {
    let foreign = |c: &HostCandidate| c.owner.as_deref().is_some_and(|o| o != agent);
    let found = identify(incoming, candidates, |rule, c| {
        rule.is_strong() || !foreign(c)
    });
    let chosen = match &found {
        HostIdentification::Existing { ci_id, .. } => Some(ci_id.as_str()),
        HostIdentification::New => None,
    };
    let mut suspects: Vec<String> = candidates
        .iter()
        .filter(|c| foreign(c) && Some(c.ci_id.as_str()) != chosen)
        .filter(|c| {
            HostRule::ORDER.iter().enumerate().any(|(strength, rule)| {
                !rule.is_strong()
                    && rule.matches(incoming, &c.keys)
                    && !contradicted_by_stronger(strength, incoming, c)
            })
        })
        .map(|c| c.ci_id.clone())
        .collect();
    suspects.sort();
    suspects.dedup();
    (found, suspects)
}

#[cfg(test)]
mod tests;
