//! Network devices polled over SNMP: identification, and the split of one poll into what
//! is configuration, what is state and what is observation.
//!
//! Identification (DESIGN.md): chassis serial (enterprise or vendor + serial, placeholders
//! ignored), then chassis id (the base bridge MAC and a MAC-subtype LLDP chassis id are the
//! same kind of key; other LLDP chassis ids count as `subtype:value`), then sysName + the
//! address the device was polled at. The first rule with a candidate wins; a candidate found
//! by a weaker rule is rejected when both sides have usable serials that differ (a replaced
//! unit that kept the old one's name and address is another CI).
//!
//! A poll is split three ways: the stable inventory (a section of the CI, hashed, history
//! per changed attribute), the volatile state (interface oper_status, storage use, processor
//! load: latest value only) and the topology observations (LLDP/CDP neighbours, forwarding
//! and ARP entries: replaced whole when they change, no history).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use cmdb_shared::device::DeviceInventory;
use cmdb_shared::ident;

use super::identify;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The CI class of a network device.
pub const CLASS: &str = "network_device";

/// Name of the CI section that holds a device's stable inventory.
pub const SECTION: &str = "device";

/// A MAC address in canonical form (lowercase, colon-separated) if it is one syntactically:
/// twelve hex digits, optionally grouped by `:`, `-` or `.`. Unlike
/// [`ident::normalize_mac`] this accepts every address (zero, broadcast, multicast): it
/// checks syntax, not fitness as a key.
pub fn canonical_mac(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if !raw
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'-' | b'.'))
    {
        return None;
    }
    let hex: Vec<u8> = raw
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    if hex.len() != 12 || raw.len() > 17 {
        return None;
    }
    let parts: Vec<&str> = hex
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap_or("00"))
        .collect();
    Some(parts.join(":"))
}

/// The host and port of a poll target (`host`, `host:port`, `[v6]:port` or a bare IPv6
/// address), host lowercase; the port is `None` when absent.
fn target_parts(target: &str) -> (String, Option<&str>) {
    let t = target.trim();
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => (rest, None),
        }
    } else if t.parse::<IpAddr>().is_ok() {
        (t, None)
    } else {
        match t.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (t, None),
        }
    };
    (host.trim_end_matches('.').to_ascii_lowercase(), port)
}

/// The host part of a poll target, lowercase: what address search finds the device by.
pub fn target_host(target: &str) -> String {
    target_parts(target).0
}

/// The management address of a poll target: its host, with the port unless it is SNMP's 161
/// (two agents behind one address, such as port forwards or simulators, are two devices).
pub fn target_address(target: &str) -> String {
    match target_parts(target) {
        (host, Some(port)) if port != "161" && host.contains(':') => format!("[{host}]:{port}"),
        (host, Some(port)) if port != "161" => format!("{host}:{port}"),
        (host, _) => host,
    }
}

/// The CI name: sysName, else the LLDP local system name, else the target.
pub fn device_name(inv: &DeviceInventory) -> String {
    system_name(inv).unwrap_or_else(|| target_address(&inv.target))
}

fn system_name(inv: &DeviceInventory) -> Option<String> {
    inv.system
        .name
        .as_deref()
        .or(inv
            .lldp_local
            .as_ref()
            .and_then(|l| l.system_name.as_deref()))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// Whether an address a device reports identifies it: loopback, link-local and unspecified
/// addresses are on every device. (The address a poller used always does: it was configured
/// or discovered as this device's.)
fn identifying_address(a: &str) -> bool {
    match a.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        Ok(IpAddr::V6(v6)) => {
            !(v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
        Err(_) => false,
    }
}

/// The device's addresses for lists and search: every address it reports but loopbacks,
/// then the hosts of the targets it was polled at (see [`target_address`]); no repeats.
pub fn device_addresses(inv: &DeviceInventory, targets: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    inv.addresses
        .iter()
        .map(|a| a.address.to_ascii_lowercase())
        .filter(|a| {
            a.parse::<IpAddr>()
                .map(|ip| !ip.is_loopback())
                .unwrap_or(false)
        })
        .chain(targets.iter().map(|t| target_host(t)))
        .filter(|a| seen.insert(a.clone()))
        .collect()
}

/// Identification keys of one device, normalised.
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
pub enum Rule {
    ChassisSerial,
    ChassisId,
    SysnameAddress,
}

impl Rule {
    /// All rules in order.
    pub const ORDER: [Rule; 3] = [Rule::ChassisSerial, Rule::ChassisId, Rule::SysnameAddress];

    /// Wire name, stored with the CI.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ChassisSerial => "chassis_serial",
            Rule::ChassisId => "chassis_id",
            Rule::SysnameAddress => "sysname_address",
        }
    }

    fn matches(self, a: &DeviceKeys, b: &DeviceKeys) -> bool {
        match self {
            Rule::ChassisSerial => matches!((&a.serial, &b.serial), (Some(x), Some(y)) if x == y),
            Rule::ChassisId => a.chassis.iter().any(|c| b.chassis.contains(c)),
            Rule::SysnameAddress => {
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
pub fn contradicts(rule: Rule, a: &DeviceKeys, b: &DeviceKeys) -> bool {
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
    if rule == Rule::SysnameAddress {
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
pub type Candidate = identify::Candidate<DeviceKeys>;

/// The outcome of device identification.
pub type Identification = identify::Identification<Rule>;

/// Applies the ordered rules to `candidates`.
pub fn identify(incoming: &DeviceKeys, candidates: &[Candidate]) -> Identification {
    for rule in Rule::ORDER {
        let matched: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| rule.matches(incoming, &c.keys))
            .filter(|c| rule == Rule::ChassisSerial || !contradicts(rule, incoming, &c.keys))
            .collect();
        if let Some(found) = identify::oldest_of(rule, matched) {
            return found;
        }
    }
    Identification::New
}

/// Puts an inventory in canonical form, so equal devices hash equal: MACs lowercase and
/// colon-separated, lists in index (or natural) order. Assumes it passed validation.
pub fn canonicalise(inv: &mut DeviceInventory) {
    let canon = |m: &mut String| {
        if let Some(c) = canonical_mac(m) {
            *m = c;
        }
    };
    if let Some(m) = &mut inv.base_bridge_mac {
        canon(m);
    }
    for i in &mut inv.interfaces {
        if let Some(m) = &mut i.mac {
            canon(m);
        }
    }
    for f in &mut inv.forwarding {
        canon(&mut f.mac);
    }
    for a in &mut inv.arp {
        canon(&mut a.mac);
    }
    inv.interfaces.sort_by_key(|i| i.index);
    inv.components.sort_by_key(|c| c.index);
    inv.addresses
        .sort_by(|a, b| (&a.address, a.if_index).cmp(&(&b.address, b.if_index)));
    inv.storage.sort_by_key(|s| s.index);
    inv.processors.sort_by_key(|p| p.index);
    inv.forwarding.sort();
    inv.arp.sort();
}

/// One poll, split.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The stable inventory: the CI's section (no target, no volatile values, no topology).
    pub stable: Value,
    /// `{"interfaces": [{index, oper_status}], "storage": [{index, used_bytes}],
    /// "processors": [{index, load_percent}]}`.
    pub volatile: Value,
    /// `{"lldp_neighbors", "cdp_neighbors", "forwarding", "arp"}`.
    pub topology: Value,
}

/// Volatile fields: `(list, field)`.
const VOLATILE: [(&str, &str); 3] = [
    ("interfaces", "oper_status"),
    ("storage", "used_bytes"),
    ("processors", "load_percent"),
];

/// Topology observations, stored apart from the CI.
const TOPOLOGY: [&str; 4] = ["lldp_neighbors", "cdp_neighbors", "forwarding", "arp"];

/// Splits a (canonicalised) inventory.
pub fn split(inv: &DeviceInventory) -> Split {
    let Ok(Value::Object(mut map)) = serde_json::to_value(inv) else {
        return Split {
            stable: Value::Null,
            volatile: Value::Null,
            topology: Value::Null,
        };
    };
    map.remove("target");
    let mut topology = serde_json::Map::new();
    for t in TOPOLOGY {
        topology.insert(t.to_string(), map.remove(t).unwrap_or(json!([])));
    }
    let mut volatile = serde_json::Map::new();
    for (list, field) in VOLATILE {
        let mut values = Vec::new();
        if let Some(Value::Array(items)) = map.get_mut(list) {
            for item in items.iter_mut() {
                if let Value::Object(o) = item {
                    let v = o.remove(field).unwrap_or(Value::Null);
                    values.push(
                        json!({"index": o.get("index").cloned().unwrap_or(Value::Null), field: v}),
                    );
                }
            }
        }
        volatile.insert(list.to_string(), Value::Array(values));
    }
    Split {
        stable: Value::Object(map),
        volatile: Value::Object(volatile),
        topology: Value::Object(topology),
    }
}

/// Writes volatile values (as [`split`] makes them) back into a stable section, matching
/// list elements by index; elements without a value get `null`, so every element has the
/// field.
pub fn overlay_volatile(stable: &mut Value, volatile: &Value) {
    for (list, field) in VOLATILE {
        let by_index: BTreeMap<u64, &Value> = volatile
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| Some((v.get("index")?.as_u64()?, v.get(field)?)))
            .collect();
        if let Some(Value::Array(items)) = stable.get_mut(list) {
            for item in items {
                let value = item
                    .get("index")
                    .and_then(Value::as_u64)
                    .and_then(|i| by_index.get(&i))
                    .map(|v| (*v).clone())
                    .unwrap_or(Value::Null);
                if let Value::Object(o) = item {
                    o.insert(field.to_string(), value);
                }
            }
        }
    }
}

/// sysUpTime wraps after 2³² hundredths of a second (497 days).
const UPTIME_WRAP: u64 = 1 << 32;

/// Whether sysUpTime going from `prev_ticks` (sampled at `prev_at`) to `ticks` (at `at`)
/// means the device, or its SNMP agent, restarted. A sample not later than the previous one
/// proves nothing (a redelivery, or two pollers' samples crossing); a smaller value the
/// counter's wrap explains is no restart.
pub fn uptime_reset(
    prev_ticks: u32,
    prev_at: DateTime<Utc>,
    ticks: u32,
    at: DateTime<Utc>,
) -> bool {
    if at <= prev_at || ticks >= prev_ticks {
        return false;
    }
    let elapsed = u64::try_from((at - prev_at).num_milliseconds() / 10).unwrap_or(0);
    let expected = u64::from(prev_ticks) + elapsed;
    if expected >= UPTIME_WRAP {
        // Clocks of poller and device drift: allow a tenth of the interval and a minute.
        let slack = elapsed / 10 + 6_000;
        if u64::from(ticks).abs_diff(expected - UPTIME_WRAP) <= slack {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn candidate(id: &str, keys: DeviceKeys, first_seen: &str) -> Candidate {
        Candidate {
            ci_id: id.into(),
            keys,
            first_seen: first_seen.into(),
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
            identify(&new, &[candidate("ci1", old, T0)]),
            Identification::Existing {
                ci_id: "ci1".into(),
                rule: Rule::ChassisSerial,
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
            identify(&kb, &[candidate("ci1", ka, T0)]),
            Identification::Existing {
                rule: Rule::ChassisId,
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
        assert!(!contradicts(Rule::ChassisId, &keys(&a), &old));
        a.serial = Some("FOC2222B".into());
        assert!(contradicts(Rule::ChassisId, &keys(&a), &old));
        // A serial-less replacement with the old unit's name and address but its own base
        // MAC is a new CI.
        let old = keys(&device("10.0.0.1", None, Some("00:1a:2b:3c:4d:5e")));
        let new = keys(&device("10.0.0.1", None, Some("00:1a:2b:3c:4d:99")));
        assert_eq!(
            identify(&new, &[candidate("ci1", old.clone(), T0)]),
            Identification::New
        );
        // Without a base MAC on one side the name and address still find it.
        let bare = keys(&device("10.0.0.1", None, None));
        assert!(matches!(
            identify(&bare, &[candidate("ci1", old, T0)]),
            Identification::Existing {
                rule: Rule::SysnameAddress,
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
            identify(&same, &[candidate("ci1", old.clone(), T0)]),
            Identification::Existing {
                rule: Rule::SysnameAddress,
                ..
            }
        ));
        // Another device of the same name elsewhere: new.
        let mut other = device("10.5.0.1", None, None);
        other.addresses[0].address = "10.5.0.1".into();
        assert_eq!(
            identify(&keys(&other), &[candidate("ci1", old, T0)]),
            Identification::New
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
            identify(&new, &[candidate("ci1", old, T0)]),
            Identification::New
        );
        // Without a serial on one side there is no contradiction.
        let old = keys(&device("10.0.0.1", None, None));
        let new = keys(&device("10.0.0.1", Some("FOC2222B"), None));
        assert!(matches!(
            identify(&new, &[candidate("ci1", old, T0)]),
            Identification::Existing { .. }
        ));
    }

    #[test]
    fn several_candidates_attach_to_the_oldest_and_flag_the_rest() {
        let k = keys(&device("10.0.0.1", Some("FOC1234X"), None));
        assert_eq!(
            identify(
                &k,
                &[
                    candidate("newer", k.clone(), "2026-05-01T00:00:00Z"),
                    candidate("older", k.clone(), T0),
                ]
            ),
            Identification::Existing {
                ci_id: "older".into(),
                rule: Rule::ChassisSerial,
                duplicates: vec!["newer".into()]
            }
        );
    }

    #[test]
    fn the_strongest_rule_with_a_candidate_wins() {
        let by_name = keys(&device("10.0.0.1", None, None));
        let by_serial = keys(&device("10.7.7.7", Some("FOC1234X"), None));
        let incoming = keys(&device("10.0.0.1", Some("FOC1234X"), None));
        match identify(
            &incoming,
            &[
                candidate("a", by_name, T0),
                candidate("b", by_serial, "2026-02-01T00:00:00Z"),
            ],
        ) {
            Identification::Existing { ci_id, rule, .. } => {
                assert_eq!((ci_id.as_str(), rule), ("b", Rule::ChassisSerial));
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
}
