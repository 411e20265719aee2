//! Relationship discovery: what hosts and network devices report becomes edges.
//!
//! - `connected_to` between network devices from LLDP and CDP (the neighbour matched to a
//!   known CI by chassis id, system name, management address or interface MAC), with both
//!   port names, one edge per link whichever end saw it;
//! - `connected_to` host NIC → switch port from forwarding tables (a host's NIC MAC learned on
//!   an access port) and from LLDP/CDP where hosts appear;
//! - service CIs for listening TCP applications (one per host and process) `runs_on` their host;
//! - `depends_on` client → service from established connections, seen from either end;
//! - `hosted_on` VM → hypervisor, when a hypervisor's agent lists its libvirt guests and a
//!   host's hardware UUID is one of them.
//!
//! Matching goes through a [`Directory`]: an in-memory lookup of every CI's names, addresses,
//! MACs, chassis ids, ports and services, loaded from storage at start and updated on each
//! ingest. It is a cache, rebuilt from storage on restart; the derivation itself
//! ([`derive_host`], [`derive_device`]) is pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::RwLock;

use cmdb_graph::RelKind;
use cmdb_shared::device::DeviceInventory;
use cmdb_shared::{NetworkInterface, Sockets, Virtualization};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::device::canonical_mac;
use crate::relations::{Desired, edge_key};

/// A port of a CI, for naming both ends of a link.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Port {
    #[serde(default)]
    pub index: Option<u32>,
    pub name: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub mac: Option<String>,
}

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

/// The name of `ci`'s port that a neighbour (or the CI itself) calls `id`: by interface name,
/// index (LLDP "local" port ids are often the ifIndex), MAC, alias, then description; else
/// `id` as given.
pub fn port_name(ports: &[Port], id: &str, description: Option<&str>) -> String {
    let id = id.trim();
    let found = ports
        .iter()
        .find(|p| p.name == id)
        .or_else(|| {
            id.parse::<u32>()
                .ok()
                .and_then(|n| ports.iter().find(|p| p.index == Some(n)))
        })
        .or_else(|| {
            canonical_mac(id).and_then(|m| {
                let mut same = ports
                    .iter()
                    .filter(|p| p.mac.as_deref().and_then(canonical_mac).as_deref() == Some(&m));
                // A MAC shared by every port of a switch names none of them.
                match (same.next(), same.next()) {
                    (Some(p), None) => Some(p),
                    _ => None,
                }
            })
        })
        .or_else(|| ports.iter().find(|p| p.alias.as_deref() == Some(id)))
        .or_else(|| ports.iter().find(|p| p.description.as_deref() == Some(id)))
        .or_else(|| ports.iter().find(|p| p.name.eq_ignore_ascii_case(id)))
        .or_else(|| {
            description.and_then(|d| {
                ports
                    .iter()
                    .find(|p| p.name == d || p.description.as_deref() == Some(d))
            })
        });
    found
        .map(|p| p.name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// One `connected_to` link: the key does not depend on which end saw it.
pub fn link(
    a: &str,
    a_port: &str,
    b: &str,
    b_port: &str,
    by: &'static str,
    extra: Value,
) -> Desired {
    let (from, from_port, to, to_port) = if (a, a_port) <= (b, b_port) {
        (a, a_port, b, b_port)
    } else {
        (b, b_port, a, a_port)
    };
    let mut evidence = json!({ "from_port": from_port, "to_port": to_port });
    if let (Value::Object(e), Value::Object(x)) = (&mut evidence, extra) {
        e.extend(x);
    }
    Desired {
        key: edge_key(RelKind::ConnectedTo, &[from, from_port, to, to_port]),
        from: from.into(),
        to: to.into(),
        kind: RelKind::ConnectedTo,
        discovered_by: by,
        evidence,
    }
}

/// A service CI's key: stable for (host, process).
pub fn service_key(host: &str, process: &str) -> String {
    edge_key(RelKind::RunsOn, &["service", host, process])
}

/// The services a host's listening TCP sockets make: one per process (or per port when the
/// agent could not see the owner), with its ports.
pub fn services_of(host: &str, sockets: &Sockets) -> Vec<ServiceFacts> {
    let mut by: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for l in sockets.listening.iter().filter(|l| l.protocol == "tcp") {
        let process = match l.process.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => format!("tcp/{}", l.port),
        };
        by.entry(process).or_default().insert(l.port);
    }
    by.into_iter()
        .map(|(process, ports)| ServiceFacts {
            key: service_key(host, &process),
            ports: ports.into_iter().collect(),
            process,
        })
        .collect()
}

/// What a host's stored sections give discovery.
#[derive(Debug, Default, Clone)]
pub struct HostView {
    pub key: String,
    pub name: String,
    pub network: Vec<NetworkInterface>,
    pub sockets: Option<Sockets>,
    pub virtualization: Option<Virtualization>,
    pub hardware_uuid: Option<String>,
}

/// The edges a host's inventory shows: its services `runs_on` it, `depends_on` from its
/// outbound and inbound connections, `hosted_on` its hypervisor or from its guests.
pub fn derive_host(dir: &Directory, h: &HostView) -> Vec<Desired> {
    let mut out = Vec::new();
    let services = dir.services_of(&h.key);
    for s in services {
        out.push(Desired {
            key: edge_key(RelKind::RunsOn, &[&s.key, &h.key]),
            from: s.key.clone(),
            to: h.key.clone(),
            kind: RelKind::RunsOn,
            discovered_by: "listening",
            evidence: json!({ "process": s.process, "ports": s.ports }),
        });
    }
    let service_on = |host: &str, port: u16| {
        dir.services_of(host)
            .iter()
            .find(|s| s.ports.contains(&port))
            .map(|s| s.key.clone())
    };
    let mut deps: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    if let Some(sockets) = &h.sockets {
        for c in &sockets.connections {
            let Ok(remote) = c.remote_address.parse::<IpAddr>() else {
                continue;
            };
            if c.inbound {
                // Someone uses one of our services: client host → our service.
                let (Some(port), Some(client)) = (c.local_port, dir.by_address(&remote)) else {
                    continue;
                };
                if client == h.key {
                    continue;
                }
                if let Some(svc) = service_on(&h.key, port) {
                    deps.entry((client.to_string(), svc))
                        .or_default()
                        .insert(port);
                }
            } else {
                // We use someone's service: our process's service (or this host) → theirs.
                let local_client = c.process.as_deref().and_then(|p| {
                    services
                        .iter()
                        .find(|s| s.process == p)
                        .map(|s| s.key.clone())
                });
                let target = if remote.is_loopback() {
                    Some(h.key.as_str())
                } else {
                    dir.by_address(&remote)
                };
                let Some(target) = target else { continue };
                let dst = service_on(target, c.remote_port).or_else(|| {
                    (target != h.key && dir.facts(target).is_some_and(|f| f.class != "host"))
                        .then(|| target.to_string())
                });
                let Some(dst) = dst else { continue };
                let src = match (&local_client, target == h.key) {
                    (Some(s), _) => s.clone(),
                    // A local client that is no service: the host depending on its own
                    // service is a loop with runs_on, not a fact worth recording.
                    (None, true) => continue,
                    (None, false) => h.key.clone(),
                };
                if src != dst {
                    deps.entry((src, dst)).or_default().insert(c.remote_port);
                }
            }
        }
    }
    for ((src, dst), ports) in deps {
        out.push(Desired {
            key: edge_key(RelKind::DependsOn, &[&src, &dst]),
            from: src,
            to: dst,
            kind: RelKind::DependsOn,
            discovered_by: "connection",
            evidence: json!({ "ports": ports }),
        });
    }
    // Virtualisation: we are a guest of a known hypervisor, or known hosts are our guests.
    let hosted = |vm: &str, hv: &str, uuid: &str| Desired {
        key: edge_key(RelKind::HostedOn, &[vm, hv]),
        from: vm.into(),
        to: hv.into(),
        kind: RelKind::HostedOn,
        discovered_by: "virtualization",
        // Lowercase: both ends must give the same evidence, or the edge would flap.
        evidence: json!({ "uuid": uuid.to_lowercase() }),
    };
    if let Some(uuid) = &h.hardware_uuid
        && let Some(hv) = dir.hypervisor_of(uuid)
        && hv != h.key
    {
        out.push(hosted(&h.key, hv, uuid));
    }
    if let Some(v) = &h.virtualization {
        for g in &v.guests {
            if let Some(vm) = dir.by_uuid(&g.uuid)
                && vm != h.key
            {
                out.push(hosted(vm, &h.key, &g.uuid));
            }
        }
    }
    out
}

/// The links a device's LLDP, CDP and forwarding tables show.
pub fn derive_device(
    dir: &Directory,
    key: &str,
    inv: &DeviceInventory,
    max_macs_per_access_port: usize,
) -> Vec<Desired> {
    let own: Vec<Port> = device_ports(inv);
    let ports_of = |ci: &str| dir.facts(ci).map(|f| f.ports.as_slice()).unwrap_or(&[]);
    let by_index = |idx: u32| {
        own.iter()
            .find(|p| p.index == Some(idx))
            .map(|p| p.name.clone())
    };
    let mut out = Vec::new();
    // Ports that lead to another network device (or to something unknown that speaks
    // LLDP/CDP): their forwarding entries are learned through it, not attached to them.
    let mut uplinks: BTreeSet<String> = BTreeSet::new();
    for n in &inv.lldp_neighbors {
        let local = n
            .local_port
            .as_deref()
            .map(|p| port_name(&own, p, None))
            .or_else(|| by_index(n.local_port_num))
            .unwrap_or_else(|| n.local_port_num.to_string());
        let port_mac = (n.port_id_subtype == "macAddress").then_some(n.port_id.as_str());
        let peer = dir.neighbour(
            Some(&n.chassis_id),
            n.system_name.as_deref(),
            n.management_address.as_deref(),
            port_mac,
        );
        let Some(peer) = peer.filter(|p| *p != key) else {
            uplinks.insert(local);
            continue;
        };
        if dir.facts(peer).is_none_or(|f| f.class != "host") {
            uplinks.insert(local.clone());
        }
        let remote = port_name(ports_of(peer), &n.port_id, n.port_description.as_deref());
        out.push(link(key, &local, peer, &remote, "lldp", json!({})));
    }
    for n in &inv.cdp_neighbors {
        let local = n
            .local_port
            .clone()
            .or_else(|| by_index(n.local_if_index))
            .unwrap_or_else(|| n.local_if_index.to_string());
        let peer = dir.neighbour(Some(&n.device_id), None, n.address.as_deref(), None);
        let Some(peer) = peer.filter(|p| *p != key) else {
            uplinks.insert(local);
            continue;
        };
        if dir.facts(peer).is_none_or(|f| f.class != "host") {
            uplinks.insert(local.clone());
        }
        let Some(port) = n.port.as_deref() else {
            continue;
        };
        let remote = port_name(ports_of(peer), port, None);
        out.push(link(key, &local, peer, &remote, "cdp", json!({})));
    }
    // Forwarding: a host NIC's MAC learned on an access port.
    let mut per_port: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &inv.forwarding {
        if f.status
            .as_deref()
            .is_some_and(|s| s != "learned" && s != "other")
        {
            continue;
        }
        let Some(port) = f.if_index.and_then(by_index) else {
            continue;
        };
        if let Some(mac) = canonical_mac(&f.mac) {
            per_port.entry(port).or_default().insert(mac);
        }
    }
    for (port, macs) in per_port {
        if uplinks.contains(&port) || macs.len() > max_macs_per_access_port {
            continue;
        }
        for mac in macs {
            let Some(host) = dir.by_mac(&mac).filter(|h| *h != key) else {
                continue;
            };
            let Some(facts) = dir.facts(host).filter(|f| f.class == "host") else {
                continue;
            };
            let nic = facts
                .ports
                .iter()
                .find(|p| p.mac.as_deref() == Some(mac.as_str()))
                .map(|p| p.name.clone())
                .unwrap_or_else(|| mac.clone());
            out.push(link(host, &nic, key, &port, "fdb", json!({ "mac": mac })));
        }
    }
    out
}

/// A device's own ports.
pub fn device_ports(inv: &DeviceInventory) -> Vec<Port> {
    inv.interfaces
        .iter()
        .map(|i| Port {
            index: Some(i.index),
            name: i.name.clone(),
            alias: i.alias.clone(),
            description: i.description.clone(),
            mac: i.mac.as_deref().and_then(canonical_mac),
        })
        .collect()
}

/// A host's ports: its interfaces, with their MACs.
pub fn host_ports(net: &[NetworkInterface]) -> Vec<Port> {
    net.iter()
        .filter(|n| n.name != "lo")
        .map(|n| Port {
            index: None,
            name: n.name.clone(),
            alias: None,
            description: None,
            mac: n
                .permanent_mac
                .as_deref()
                .or(n.mac.as_deref())
                .and_then(canonical_mac)
                .filter(|m| m != "00:00:00:00:00:00"),
        })
        .collect()
}

/// Directory facts of a host.
pub fn host_facts(h: &HostView, fqdn: Option<&str>, addresses: &[String]) -> Facts {
    let ports = host_ports(&h.network);
    let mut macs: Vec<String> = Vec::new();
    for n in &h.network {
        for m in [n.mac.as_deref(), n.permanent_mac.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(canonical_mac)
        {
            if m != "00:00:00:00:00:00" && !macs.contains(&m) {
                macs.push(m);
            }
        }
    }
    let mut names = vec![h.name.clone()];
    names.extend(fqdn.map(str::to_string));
    Facts {
        class: "host".into(),
        names,
        addresses: addresses.iter().filter_map(|a| a.parse().ok()).collect(),
        macs,
        chassis: Vec::new(),
        serial: None,
        uuid: h.hardware_uuid.clone(),
        guests: h
            .virtualization
            .as_ref()
            .map(|v| v.guests.iter().map(|g| g.uuid.clone()).collect())
            .unwrap_or_default(),
        ports,
    }
}

/// Directory facts of a network device.
pub fn device_facts(
    name: &str,
    inv: &DeviceInventory,
    addresses: &[String],
    chassis: &[String],
) -> Facts {
    Facts {
        class: "network_device".into(),
        names: vec![name.to_string()],
        addresses: addresses.iter().filter_map(|a| a.parse().ok()).collect(),
        macs: Vec::new(),
        chassis: chassis.to_vec(),
        serial: inv.serial.clone().filter(|s| !s.trim().is_empty()),
        uuid: None,
        guests: Vec::new(),
        ports: device_ports(inv),
    }
}

/// The directory, shared.
#[derive(Debug, Default)]
pub struct SharedDirectory(RwLock<Directory>);

impl SharedDirectory {
    pub fn new(d: Directory) -> Self {
        Self(RwLock::new(d))
    }
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Directory> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Directory> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cmdb_shared::device::{DeviceInterface, ForwardingEntry, LldpNeighbor};
    use cmdb_shared::{Connection, Guest, IpAddress, ListeningSocket};

    fn iface(index: u32, name: &str) -> DeviceInterface {
        DeviceInterface {
            index,
            name: name.into(),
            ..Default::default()
        }
    }

    fn switch(name: &str, chassis: &str, ports: &[(u32, &str)]) -> DeviceInventory {
        DeviceInventory {
            target: "192.0.2.1".into(),
            system: cmdb_shared::device::SystemGroup {
                name: Some(name.into()),
                ..Default::default()
            },
            base_bridge_mac: Some(chassis.into()),
            interfaces: ports.iter().map(|(i, n)| iface(*i, n)).collect(),
            ..Default::default()
        }
    }

    fn lldp(local: &str, chassis: &str, port_subtype: &str, port: &str) -> LldpNeighbor {
        LldpNeighbor {
            local_port_num: 1,
            local_port: Some(local.into()),
            chassis_id_subtype: "macAddress".into(),
            chassis_id: chassis.into(),
            port_id_subtype: port_subtype.into(),
            port_id: port.into(),
            ..Default::default()
        }
    }

    fn with_switches() -> (Directory, DeviceInventory, DeviceInventory) {
        let mut a = switch(
            "sw-a",
            "00:00:00:00:0a:00",
            &[(10, "xe-0/0/1"), (11, "ge-0/0/2")],
        );
        let mut b = switch(
            "sw-b",
            "00:00:00:00:0b:00",
            &[(628, "xe-1/2/0"), (5, "ge-0/0/9")],
        );
        // a sees b's ifIndex 628 (a Juniper "local" port id); b sees a's port by name.
        a.lldp_neighbors = vec![lldp("xe-0/0/1", "00:00:00:00:0b:00", "local", "628")];
        b.lldp_neighbors = vec![lldp(
            "xe-1/2/0",
            "00:00:00:00:0a:00",
            "interfaceName",
            "xe-0/0/1",
        )];
        let mut dir = Directory::default();
        for (k, inv) in [("a", &a), ("b", &b)] {
            let chassis = vec![inv.base_bridge_mac.clone().unwrap_or_default()];
            dir.set(
                k,
                device_facts(
                    &inv.system.name.clone().unwrap_or_default(),
                    inv,
                    &[],
                    &chassis,
                ),
            );
        }
        (dir, a, b)
    }

    #[test]
    fn a_link_seen_from_both_ends_is_one_edge_with_both_canonical_port_names() {
        let (dir, a, b) = with_switches();
        let from_a = derive_device(&dir, "a", &a, 64);
        let from_b = derive_device(&dir, "b", &b, 64);
        assert_eq!(from_a.len(), 1);
        assert_eq!(from_a, from_b);
        assert_eq!((from_a[0].from.as_str(), from_a[0].to.as_str()), ("a", "b"));
        assert_eq!(
            from_a[0].evidence,
            json!({"from_port": "xe-0/0/1", "to_port": "xe-1/2/0"})
        );
    }

    #[test]
    fn an_unknown_neighbour_makes_no_edge_and_its_port_is_an_uplink() {
        let (mut dir, mut a, _) = with_switches();
        a.lldp_neighbors = vec![lldp("ge-0/0/2", "00:00:00:00:ee:ee", "local", "1")];
        // A host whose NIC is learned on that port: not attached, the port leads elsewhere.
        dir.set(
            "h",
            Facts {
                class: "host".into(),
                macs: vec!["52:54:00:00:00:01".into()],
                ..Default::default()
            },
        );
        a.forwarding = vec![ForwardingEntry {
            mac: "52:54:00:00:00:01".into(),
            bridge_port: 2,
            if_index: Some(11),
            status: Some("learned".into()),
            vlan: None,
        }];
        assert!(derive_device(&dir, "a", &a, 64).is_empty());
    }

    #[test]
    fn a_host_nic_learned_on_an_access_port_is_linked_but_not_on_a_trunk() {
        let (mut dir, mut a, _) = with_switches();
        a.lldp_neighbors.clear();
        let host = HostView {
            key: "h".into(),
            name: "web01".into(),
            network: vec![NetworkInterface {
                name: "eno1".into(),
                mac: Some("52:54:00:00:00:01".into()),
                physical: true,
                ..Default::default()
            }],
            ..Default::default()
        };
        dir.set("h", host_facts(&host, None, &[]));
        a.forwarding = vec![ForwardingEntry {
            mac: "52-54-00-00-00-01".into(),
            bridge_port: 2,
            if_index: Some(11),
            status: Some("learned".into()),
            vlan: Some(10),
        }];
        let edges = derive_device(&dir, "a", &a, 64);
        assert_eq!(edges.len(), 1);
        assert_eq!(edges[0].discovered_by, "fdb");
        // Sorted ends: "a" (the switch) before "h".
        assert_eq!(
            edges[0].evidence,
            json!({"from_port": "ge-0/0/2", "to_port": "eno1", "mac": "52:54:00:00:00:01"})
        );
        // The same port with more MACs than an access port has: a trunk, no link.
        for i in 2..=3 {
            a.forwarding.push(ForwardingEntry {
                mac: format!("52:54:00:00:01:0{i}"),
                bridge_port: 2,
                if_index: Some(11),
                status: None,
                vlan: None,
            });
        }
        assert!(derive_device(&dir, "a", &a, 2).is_empty());
    }

    fn sockets(listening: &[(&str, u16)], connections: Vec<Connection>) -> Sockets {
        Sockets {
            listening: listening
                .iter()
                .map(|(p, port)| ListeningSocket {
                    protocol: "tcp".into(),
                    address: "0.0.0.0".into(),
                    port: *port,
                    process: Some(p.to_string()),
                    pid: None,
                })
                .collect(),
            connections,
        }
    }

    fn host(key: &str, addr: &str, s: Sockets) -> HostView {
        HostView {
            key: key.into(),
            name: key.into(),
            network: vec![NetworkInterface {
                name: "eth0".into(),
                addresses: vec![IpAddress {
                    address: addr.into(),
                    prefix_len: 24,
                    family: "inet".into(),
                }],
                ..Default::default()
            }],
            sockets: Some(s),
            ..Default::default()
        }
    }

    fn register(dir: &mut Directory, h: &HostView, addr: &str) {
        dir.set(&h.key, host_facts(h, None, &[addr.to_string()]));
        let s = services_of(&h.key, h.sockets.as_ref().expect("sockets"));
        dir.set_services(&h.key, s);
    }

    #[test]
    fn connections_become_depends_on_from_either_end_with_the_port() {
        let out = |remote: &str, port: u16, process: &str| Connection {
            protocol: "tcp".into(),
            local_address: "10.0.0.1".into(),
            remote_address: remote.into(),
            remote_port: port,
            inbound: false,
            local_port: None,
            process: Some(process.into()),
        };
        let app = host(
            "app",
            "10.0.0.1",
            sockets(
                &[("java", 8080)],
                vec![
                    out("10.0.0.2", 5432, "java"),
                    out("127.0.0.1", 6379, "curl"),
                ],
            ),
        );
        let db = host(
            "db",
            "10.0.0.2",
            sockets(
                &[("postgres", 5432)],
                vec![Connection {
                    protocol: "tcp".into(),
                    local_address: "10.0.0.2".into(),
                    remote_address: "10.0.0.1".into(),
                    remote_port: 0,
                    inbound: true,
                    local_port: Some(5432),
                    process: Some("postgres".into()),
                }],
            ),
        );
        let mut dir = Directory::default();
        register(&mut dir, &app, "10.0.0.1");
        register(&mut dir, &db, "10.0.0.2");
        let java = service_key("app", "java");
        let pg = service_key("db", "postgres");
        let from_app = derive_host(&dir, &app);
        let dep: Vec<&Desired> = from_app
            .iter()
            .filter(|d| d.kind == RelKind::DependsOn)
            .collect();
        // The client process is a service itself: java → postgres. The loopback connection
        // to an unknown local port makes nothing.
        assert_eq!(dep.len(), 1);
        assert_eq!(
            (dep[0].from.as_str(), dep[0].to.as_str()),
            (java.as_str(), pg.as_str())
        );
        assert_eq!(dep[0].evidence, json!({"ports": [5432]}));
        // The server sees the inbound connection: the client host (its process is unknown
        // there) → postgres.
        let from_db = derive_host(&dir, &db);
        let dep: Vec<&Desired> = from_db
            .iter()
            .filter(|d| d.kind == RelKind::DependsOn)
            .collect();
        assert_eq!(
            (dep[0].from.as_str(), dep[0].to.as_str()),
            ("app", pg.as_str())
        );
        let runs: Vec<&Desired> = from_db
            .iter()
            .filter(|d| d.kind == RelKind::RunsOn)
            .collect();
        assert_eq!(
            (runs[0].from.as_str(), runs[0].to.as_str()),
            (pg.as_str(), "db")
        );
    }

    #[test]
    fn a_guest_uuid_relates_vm_and_hypervisor_whichever_reports_first() {
        let mut dir = Directory::default();
        let vm = HostView {
            key: "vm".into(),
            name: "vm".into(),
            hardware_uuid: Some("6F1C2A4E-52B6-4C0B-9E1D-1B0F6C3D2A11".into()),
            ..Default::default()
        };
        let hv = HostView {
            key: "hv".into(),
            name: "hv".into(),
            virtualization: Some(Virtualization {
                guests: vec![Guest {
                    name: "vm".into(),
                    uuid: "6f1c2a4e-52b6-4c0b-9e1d-1b0f6c3d2a11".into(),
                    hypervisor: "kvm".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        dir.set("vm", host_facts(&vm, None, &[]));
        dir.set("hv", host_facts(&hv, None, &[]));
        let a = derive_host(&dir, &vm);
        let b = derive_host(&dir, &hv);
        assert_eq!(a.len(), 1);
        assert_eq!(a, b);
        assert_eq!(
            (a[0].from.as_str(), a[0].to.as_str(), a[0].kind),
            ("vm", "hv", RelKind::HostedOn)
        );
    }

    #[test]
    fn an_address_two_cis_claim_identifies_neither() {
        let mut dir = Directory::default();
        for k in ["x", "y"] {
            dir.set(
                k,
                Facts {
                    class: "host".into(),
                    addresses: vec!["172.17.0.1".parse().expect("ip")],
                    ..Default::default()
                },
            );
        }
        assert_eq!(dir.by_address(&"172.17.0.1".parse().expect("ip")), None);
        dir.remove("y");
        assert_eq!(
            dir.by_address(&"172.17.0.1".parse().expect("ip")),
            Some("x")
        );
        assert_eq!(dir.by_address(&"127.0.0.1".parse().expect("ip")), None);
    }

    #[test]
    fn a_neighbour_named_with_a_serial_suffix_is_found_by_name_or_serial() {
        let mut dir = Directory::default();
        dir.set(
            "nx",
            Facts {
                class: "network_device".into(),
                names: vec!["NWPU-CA-5548-01.example.net".into()],
                serial: Some("SSI183706KP".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            dir.neighbour(Some("NWPU-CA-5548-01(SSI183706KP)"), None, None, None),
            Some("nx")
        );
        assert_eq!(
            dir.neighbour(Some("other(SSI183706KP)"), None, None, None),
            Some("nx")
        );
        assert_eq!(dir.neighbour(Some("nope"), None, None, None), None);
    }
}
