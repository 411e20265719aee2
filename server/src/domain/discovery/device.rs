//! What a network device's poll shows: links to other devices from its LLDP and CDP tables,
//! and links to hosts from its forwarding tables (access ports only).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cmdb_shared::device::DeviceInventory;
use serde_json::json;

use super::directory::{Directory, Facts};
use super::edge::{DiscoveredEdge, Port, link, port_name};
use crate::domain::device_report::canonical_mac;

/// The links a device's LLDP, CDP and forwarding tables show.
pub fn derive_device(
    dir: &Directory,
    key: &str,
    inv: &DeviceInventory,
    max_macs_per_access_port: usize,
) -> Vec<DiscoveredEdge> {
    let own: Vec<Port> = device_ports(inv);
    let ports_of = |ci: &str| dir.facts(ci).map(|f| f.ports.as_slice()).unwrap_or(&[]);
    // Indexed once: a core switch's forwarding table has 100,000 entries and its interface
    // table thousands, and each entry names its port by ifIndex.
    let names: HashMap<u32, &str> = own
        .iter()
        .rev()
        .filter_map(|p| Some((p.index?, p.name.as_str())))
        .collect();
    let by_index = |idx: u32| names.get(&idx).map(|n| n.to_string());
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
        agent: None,
    }
}
