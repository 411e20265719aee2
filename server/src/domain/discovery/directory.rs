//! The directory: an in-memory lookup of every CI's names, addresses, MACs, chassis ids,
//! serials, UUIDs, ports and services, which discovery matches what one report says of its
//! neighbours against. It is a cache of storage, rebuilt at start and updated on each ingest.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use super::edge::Port;
use crate::domain::device_report::canonical_mac;

/// A listening service of a host.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFacts {
    pub key: String,
    pub process: String,
    pub ports: Vec<u16>,
}

/// What the directory knows of one CI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub class: String,
    pub names: Vec<String>,
    pub addresses: Vec<IpAddr>,
    pub macs: Vec<String>,
    pub chassis: Vec<String>,
    pub serial: Option<String>,
    pub uuid: Option<String>,
    /// Hypervisors: hardware UUIDs of their guests.
    pub guests: Vec<String>,
    pub ports: Vec<Port>,
    /// Hosts: the agent the CI is bound to; only that agent's reports speak for it.
    pub agent: Option<String>,
}

/// Lookup of CIs by what other reports say of them.
#[derive(Debug, Default)]
pub struct Directory {
    facts: HashMap<String, Facts>,
    lookups: Lookups,
    /// host → its services.
    services: HashMap<String, Vec<ServiceFacts>>,
}

/// The indexes over [`Facts`], by value → the CIs claiming it.
#[derive(Debug, Default)]
struct Lookups {
    by_name: HashMap<String, BTreeSet<String>>,
    by_addr: HashMap<IpAddr, BTreeSet<String>>,
    by_mac: HashMap<String, BTreeSet<String>>,
    by_chassis: HashMap<String, BTreeSet<String>>,
    by_serial: HashMap<String, BTreeSet<String>>,
    by_uuid: HashMap<String, BTreeSet<String>>,
    by_guest: HashMap<String, BTreeSet<String>>,
}

fn index_of<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, BTreeSet<String>>,
    k: K,
    ci: &str,
    add: bool,
) {
    if add {
        map.entry(k).or_default().insert(ci.to_string());
    } else if let std::collections::hash_map::Entry::Occupied(mut e) = map.entry(k) {
        e.get_mut().remove(ci);
        if e.get().is_empty() {
            e.remove();
        }
    }
}

/// The one CI of a lookup; none when several claim it (a shared address such as docker0's).
fn only(set: Option<&BTreeSet<String>>) -> Option<&str> {
    set.filter(|s| s.len() == 1)
        .and_then(|s| s.iter().next())
        .map(String::as_str)
}

/// Addresses that identify nothing: loopback, unspecified, link-local, multicast.
fn meaningful(ip: &IpAddr) -> bool {
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_broadcast(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
    }
}

fn names_of(name: &str) -> Vec<String> {
    let n = name.trim().to_lowercase();
    if n.is_empty() {
        return Vec::new();
    }
    let mut out = vec![n.clone()];
    if let Some((short, _)) = n.split_once('.')
        && !short.is_empty()
        && short.parse::<u8>().is_err()
    {
        out.push(short.to_string());
    }
    out
}

impl Lookups {
    fn index(&mut self, ci: &str, f: &Facts, add: bool) {
        for n in f.names.iter().flat_map(|n| names_of(n)) {
            index_of(&mut self.by_name, n, ci, add);
        }
        for a in f.addresses.iter().filter(|a| meaningful(a)) {
            index_of(&mut self.by_addr, *a, ci, add);
        }
        for m in &f.macs {
            index_of(&mut self.by_mac, m.clone(), ci, add);
        }
        for c in &f.chassis {
            index_of(&mut self.by_chassis, c.to_lowercase(), ci, add);
        }
        if let Some(s) = &f.serial {
            index_of(&mut self.by_serial, s.to_lowercase(), ci, add);
        }
        if let Some(u) = &f.uuid {
            index_of(&mut self.by_uuid, u.to_lowercase(), ci, add);
        }
        for g in &f.guests {
            index_of(&mut self.by_guest, g.to_lowercase(), ci, add);
        }
    }
}

impl Directory {
    /// Replaces what is known of `ci`.
    pub fn set(&mut self, ci: &str, facts: Facts) {
        if let Some(old) = self.facts.remove(ci) {
            self.lookups.index(ci, &old, false);
        }
        self.lookups.index(ci, &facts, true);
        self.facts.insert(ci.to_string(), facts);
    }

    /// Forgets a CI.
    pub fn remove(&mut self, ci: &str) {
        if let Some(old) = self.facts.remove(ci) {
            self.lookups.index(ci, &old, false);
        }
        self.services.remove(ci);
    }

    /// Replaces the services of a host.
    pub fn set_services(&mut self, host: &str, services: Vec<ServiceFacts>) {
        if services.is_empty() {
            self.services.remove(host);
        } else {
            self.services.insert(host.to_string(), services);
        }
    }

    /// The hosts whose services include the service CI `key` (one, unless the directory is
    /// out of date).
    pub fn hosts_of_service(&self, key: &str) -> Vec<String> {
        self.services
            .iter()
            .filter(|(_, list)| list.iter().any(|s| s.key == key))
            .map(|(host, _)| host.clone())
            .collect()
    }

    pub fn services_of(&self, host: &str) -> &[ServiceFacts] {
        self.services.get(host).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn facts(&self, ci: &str) -> Option<&Facts> {
        self.facts.get(ci)
    }

    pub fn by_address(&self, ip: &IpAddr) -> Option<&str> {
        meaningful(ip)
            .then(|| only(self.lookups.by_addr.get(ip)))
            .flatten()
    }

    pub fn by_mac(&self, mac: &str) -> Option<&str> {
        canonical_mac(mac).and_then(|m| only(self.lookups.by_mac.get(&m)))
    }

    pub fn by_name(&self, name: &str) -> Option<&str> {
        only(self.lookups.by_name.get(&name.trim().to_lowercase()))
    }

    pub fn by_chassis(&self, id: &str) -> Option<&str> {
        let id = id.trim().to_lowercase();
        only(self.lookups.by_chassis.get(&id))
            .or_else(|| canonical_mac(&id).and_then(|m| only(self.lookups.by_chassis.get(&m))))
    }

    pub fn by_uuid(&self, uuid: &str) -> Option<&str> {
        only(self.lookups.by_uuid.get(&uuid.trim().to_lowercase()))
    }

    pub fn hypervisor_of(&self, uuid: &str) -> Option<&str> {
        only(self.lookups.by_guest.get(&uuid.trim().to_lowercase()))
    }

    /// The CI a neighbour advertisement points at: by chassis id (a device's, or a host's NIC
    /// MAC), then system name (as sent, without a "(serial)" suffix, then the short name),
    /// then a serial in parentheses, then the management address, then a MAC port id.
    pub fn neighbour(
        &self,
        chassis_id: Option<&str>,
        system_name: Option<&str>,
        address: Option<&str>,
        port_mac: Option<&str>,
    ) -> Option<&str> {
        if let Some(c) = chassis_id.map(str::trim).filter(|c| !c.is_empty())
            && let Some(ci) = self.by_chassis(c).or_else(|| self.by_mac(c))
        {
            return Some(ci);
        }
        for name in [system_name, chassis_id].into_iter().flatten() {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let (bare, serial) = match name.split_once('(') {
                Some((b, rest)) => (b.trim(), rest.strip_suffix(')').map(str::trim)),
                None => (name, None),
            };
            for candidate in names_of(bare) {
                if let Some(ci) = self.by_name(&candidate) {
                    return Some(ci);
                }
            }
            if let Some(ci) =
                serial.and_then(|s| only(self.lookups.by_serial.get(&s.to_lowercase())))
            {
                return Some(ci);
            }
        }
        if let Some(ci) = address
            .and_then(|a| a.trim().parse::<IpAddr>().ok())
            .and_then(|ip| self.by_address(&ip))
        {
            return Some(ci);
        }
        port_mac.and_then(|m| self.by_mac(m))
    }
}
