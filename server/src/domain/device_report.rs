//! A network device's poll as the CMDB keeps it: its canonical form, its name and addresses,
//! and its split into what is configuration, what is state and what is observation.
//!
//! The stable inventory is a section of the CI (hashed, history per changed attribute); the
//! volatile state (interface oper_status, storage use, processor load) keeps its latest value
//! only; the topology observations (LLDP/CDP neighbours, forwarding and ARP entries) are
//! replaced whole when they change, with no history.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use cmdb_shared::device::DeviceInventory;

use serde_json::{Value, json};

/// The CI class of a network device.
pub const CLASS: &str = "network_device";

/// Name of the CI section that holds a device's stable inventory.
pub const SECTION: &str = "device";

/// A MAC address in canonical form (lowercase, colon-separated) if it is one syntactically:
/// twelve hex digits, optionally grouped by `:`, `-` or `.`. Unlike
/// [`cmdb_shared::ident::normalize_mac`] this accepts every address (zero, broadcast, multicast): it
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

pub(crate) fn system_name(inv: &DeviceInventory) -> Option<String> {
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
pub(crate) fn identifying_address(a: &str) -> bool {
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

/// The chassis identifiers a device reports, for search and for discovery to match LLDP
/// neighbours against: its base bridge MAC and its LLDP chassis ids, lowercase, sorted, once
/// each.
pub fn chassis_ids(inv: &DeviceInventory) -> Vec<String> {
    let mut ids: Vec<String> = inv
        .base_bridge_mac
        .iter()
        .cloned()
        .chain(
            inv.lldp_local
                .iter()
                .map(|l| l.chassis_id.trim().to_lowercase()),
        )
        .filter(|c| !c.is_empty())
        .collect();
    ids.sort();
    ids.dedup();
    ids
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
mod tests;
