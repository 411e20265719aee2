//! Network device identification: chassis serial (enterprise or vendor + serial, placeholders
//! ignored), then chassis id (the base bridge MAC and a MAC-subtype LLDP chassis id are the
//! same kind of key; other LLDP chassis ids count as `subtype:value`), then sysName + the
//! address the device was polled at. The first rule with a candidate wins; a candidate found
//! by a weaker rule is rejected when both sides have usable serials that differ (a replaced
//! unit that kept the old one's name and address is another CI).

use std::collections::BTreeSet;

use cmdb_shared::device::DeviceInventory;
use cmdb_shared::ident;
use serde::{Deserialize, Serialize};

use super::candidate::{self, oldest_of};
use crate::domain::device_report::{identifying_address, system_name, target_address};

/// DeviceIdentification keys of one device, normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceKeys {
    /// `ENTERPRISE|SERIAL` (IANA enterprise number from sysObjectID), else `VENDOR|SERIAL`,
    /// serial trimmed and uppercased; placeholders give none.
    #[serde(default)]
    pub serial: Option<String>,
    /// Chassis identifiers: `mac:<mac>` for the base bridge MAC and a MAC-subtype LLDP
    /// chassis id (usable unicast MACs only), `<subtype>:<value>` for other LLDP chassis ids.
    #[serde(default)]
    pub chassis: Vec<String>,
    /// `sysname|address` for every identifying address of the device and every target
    /// address it was polled at (sysName lowercase, empty when the device has none; see
    /// [`target_address`]).
    #[serde(default)]
    pub name_addresses: Vec<String>,
    /// `sysname|address` of the target this poll used: the sysName + management address key.
    #[serde(default)]
    pub management: Option<String>,
}

impl DeviceKeys {
    /// Derives the keys of a (canonicalised) inventory; `targets` are further target
    /// addresses the device is known to have been polled at.
    pub fn from_inventory(inv: &DeviceInventory, targets: &[String]) -> Self {
        let serial = inv
            .serial
            .as_deref()
            .and_then(ident::usable_serial)
            .map(|s| {
                let maker = match (inv.enterprise, inv.vendor.as_deref()) {
                    (Some(e), _) => e.to_string(),
                    (None, Some(v)) => v.trim().to_uppercase(),
                    (None, None) => String::new(),
                };
                format!("{maker}|{s}")
            });
        let mut chassis = BTreeSet::new();
        if let Some(m) = inv
            .base_bridge_mac
            .as_deref()
            .and_then(ident::normalize_mac)
        {
            chassis.insert(format!("mac:{m}"));
        }
        if let Some(l) = &inv.lldp_local {
            let value = l.chassis_id.trim();
            let mac = (l.chassis_id_subtype == "macAddress")
                .then(|| ident::normalize_mac(value))
                .flatten();
            match mac {
                Some(m) => {
                    chassis.insert(format!("mac:{m}"));
                }
                // A MAC-subtype id that is zero, broadcast or multicast identifies nothing.
                None if l.chassis_id_subtype == "macAddress" => {}
                // A chassis component (often the serial) or a locally assigned id is a key
                // when it is long enough to be unique. Network addresses, interface names and
                // aliases, and port components repeat across sites (192.168.1.1, eth0).
                None if matches!(l.chassis_id_subtype.trim(), "chassisComponent" | "local")
                    && value.chars().count() >= 6 =>
                {
                    chassis.insert(format!("{}:{value}", l.chassis_id_subtype.trim()));
                }
                None => {}
            }
        }
        let name = system_name(inv).unwrap_or_default().to_lowercase();
        let address = target_address(&inv.target);
        let name_addresses: BTreeSet<String> = inv
            .addresses
            .iter()
            .map(|a| a.address.to_ascii_lowercase())
            .filter(|a| identifying_address(a))
            .chain(targets.iter().cloned())
            .chain(std::iter::once(address.clone()))
            .filter(|a| !a.is_empty())
            .map(|a| format!("{name}|{a}"))
            .collect();
        let management = (!address.is_empty()).then(|| format!("{name}|{address}"));
        Self {
            serial,
            chassis: chassis.into_iter().collect(),
            name_addresses: name_addresses.into_iter().collect(),
            management,
        }
    }

    /// The keys as stored with a CI: without the management key of the poll that wrote them
    /// (it is among `name_addresses`), so polls through different targets store the same keys.
    pub fn stored(mut self) -> Self {
        self.management = None;
        self
    }

    /// The rows of the `device_key` lookup table for a device with these keys.
    pub fn index_keys(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .serial
            .iter()
            .map(|s| format!("serial:{s}"))
            .chain(self.chassis.iter().map(|c| format!("chassis:{c}")))
            .chain(self.name_addresses.iter().map(|n| format!("name:{n}")))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The `device_key` values to look up to identify a device with these keys (its serial,
    /// chassis ids and the address it was polled at, not every address it has).
    pub fn lookup_keys(&self) -> Vec<String> {
        self.serial
            .iter()
            .map(|s| format!("serial:{s}"))
            .chain(self.chassis.iter().map(|c| format!("chassis:{c}")))
            .chain(self.management.iter().map(|n| format!("name:{n}")))
            .collect()
    }
}

/// The device identification rules, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceRule {
    ChassisSerial,
    ChassisId,
    SysnameAddress,
}

impl DeviceRule {
    /// All rules in order.
    pub const ORDER: [DeviceRule; 3] = [
        DeviceRule::ChassisSerial,
        DeviceRule::ChassisId,
        DeviceRule::SysnameAddress,
    ];

    /// Wire name, stored with the CI.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceRule::ChassisSerial => "chassis_serial",
            DeviceRule::ChassisId => "chassis_id",
            DeviceRule::SysnameAddress => "sysname_address",
        }
    }

    fn matches(self, a: &DeviceKeys, b: &DeviceKeys) -> bool {
        match self {
            DeviceRule::ChassisSerial => {
                matches!((&a.serial, &b.serial), (Some(x), Some(y)) if x == y)
            }
            DeviceRule::ChassisId => a.chassis.iter().any(|c| b.chassis.contains(c)),
            DeviceRule::SysnameAddress => {
                a.management
                    .as_ref()
                    .is_some_and(|m| b.name_addresses.contains(m))
                    || b.management
                        .as_ref()
                        .is_some_and(|m| a.name_addresses.contains(m))
            }
        }
    }
}

/// Whether two key sets prove two different units for `rule`: both have a usable serial and
/// the serials differ (the maker part is left out: a network OS swap on the same hardware
/// changes the sysObjectID's enterprise, not the unit); for the sysName + address rule also
/// when both have MAC chassis ids and share none (a replacement unit given the old one's name
/// and address).
pub fn device_contradicts(rule: DeviceRule, a: &DeviceKeys, b: &DeviceKeys) -> bool {
    let serial = |k: &DeviceKeys| {
        k.serial.as_deref().map(|s| {
            s.rsplit_once('|')
                .map_or(s, |(_, serial)| serial)
                .to_string()
        })
    };
    if matches!((serial(a), serial(b)), (Some(x), Some(y)) if x != y) {
        return true;
    }
    if rule == DeviceRule::SysnameAddress {
        let macs = |k: &DeviceKeys| -> Vec<String> {
            k.chassis
                .iter()
                .filter(|c| c.starts_with("mac:"))
                .cloned()
                .collect()
        };
        let (ma, mb) = (macs(a), macs(b));
        return !ma.is_empty() && !mb.is_empty() && !ma.iter().any(|m| mb.contains(m));
    }
    false
}

/// An existing device CI that shares at least one lookup key with the incoming device.
pub type DeviceCandidate = candidate::Candidate<DeviceKeys>;

/// The outcome of device identification.
pub type DeviceIdentification = candidate::Identification<DeviceRule>;

/// Applies the ordered rules to `candidates`.
pub fn identify_device(
    incoming: &DeviceKeys,
    candidates: &[DeviceCandidate],
) -> DeviceIdentification {
    for rule in DeviceRule::ORDER {
        let matched: Vec<&DeviceCandidate> = candidates
            .iter()
            .filter(|c| rule.matches(incoming, &c.keys))
            .filter(|c| {
                rule == DeviceRule::ChassisSerial || !device_contradicts(rule, incoming, &c.keys)
            })
            .collect();
        if let Some(found) = oldest_of(rule, matched) {
            return found;
        }
    }
    DeviceIdentification::New
}
