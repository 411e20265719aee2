//! What a host's report shows: its listening services (`runs_on`), the services it connects to
//! or that connect to it (`depends_on`), and its hypervisor or guests (`hosted_on`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use cmdb_graph::RelKind;
use cmdb_shared::{NetworkInterface, Sockets, Virtualization};
use serde_json::json;

use super::directory::{Directory, Facts, ServiceFacts};
use super::edge::{DiscoveredEdge, Port, edge_key};
use crate::domain::device_report::canonical_mac;

/// A service CI's key: stable for (host, process).
pub fn service_key(host: &str, process: &str) -> String {
    edge_key(RelKind::RunsOn, &["service", host, process])
}

/// The services a host's listening TCP sockets make: one per process (or per port when the
/// agent could not see the owner), with its ports; at most `max`, the first by process name.
pub fn listening_services(host: &str, sockets: &Sockets, max: usize) -> Vec<ServiceFacts> {
    let mut by: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for l in sockets.listening.iter().filter(|l| l.protocol == "tcp") {
        let process = match l.process.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => format!("tcp/{}", l.port),
        };
        by.entry(process).or_default().insert(l.port);
    }
    by.into_iter()
        .take(max)
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
    /// The agent whose report this is (or the CI is bound to).
    pub agent: Option<String>,
}

/// The edges a host's inventory shows: its services `runs_on` it, `depends_on` from its
/// outbound and inbound connections, `hosted_on` its hypervisor or from its guests.
///
/// A report speaks for its own CI, not for another agent's: an inbound connection from a
/// host bound to another agent, or a guest bound to another agent, gives no edge from that
/// CI (its own agent's report gives the edge: its outbound connection, its hypervisor by its
/// UUID). So one agent's credential cannot make other hosts depend on it.
pub fn derive_host(dir: &Directory, h: &HostView) -> Vec<DiscoveredEdge> {
    let foreign = |ci: &str| {
        dir.facts(ci)
            .and_then(|f| f.agent.as_deref())
            .is_some_and(|a| Some(a) != h.agent.as_deref())
    };
    let mut out = Vec::new();
    let services = dir.services_of(&h.key);
    for s in services {
        out.push(DiscoveredEdge {
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
                if client == h.key || foreign(client) {
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
        out.push(DiscoveredEdge {
            key: edge_key(RelKind::DependsOn, &[&src, &dst]),
            from: src,
            to: dst,
            kind: RelKind::DependsOn,
            discovered_by: "connection",
            evidence: json!({ "ports": ports }),
        });
    }
    // Virtualisation: we are a guest of a known hypervisor, or known hosts are our guests.
    let hosted = |vm: &str, hv: &str, uuid: &str| DiscoveredEdge {
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
                && !foreign(vm)
            {
                out.push(hosted(vm, &h.key, &g.uuid));
            }
        }
    }
    out
}

/// The CIs bound to other agents that a host's report names (inbound clients, guests): their
/// own reports must give those edges, so their next report re-derives even if unchanged.
pub fn named_foreign_cis(dir: &Directory, h: &HostView) -> Vec<String> {
    let foreign = |ci: &&str| {
        *ci != h.key
            && dir
                .facts(ci)
                .and_then(|f| f.agent.as_deref())
                .is_some_and(|a| Some(a) != h.agent.as_deref())
    };
    let mut out: Vec<String> = Vec::new();
    if let Some(s) = &h.sockets {
        out.extend(
            s.connections
                .iter()
                .filter(|c| c.inbound)
                .filter_map(|c| c.remote_address.parse::<IpAddr>().ok())
                .filter_map(|a| dir.by_address(&a))
                .filter(foreign)
                .map(str::to_string),
        );
    }
    if let Some(v) = &h.virtualization {
        out.extend(
            v.guests
                .iter()
                .filter_map(|g| dir.by_uuid(&g.uuid))
                .filter(foreign)
                .map(str::to_string),
        );
    }
    out.sort();
    out.dedup();
    out
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
        agent: h.agent.clone(),
    }
}

/// Addresses of a host's interfaces, loopback left out (as the CI stores them).
pub fn host_addresses(net: &[NetworkInterface]) -> Vec<String> {
    net.iter()
        .flat_map(|i| i.addresses.iter())
        .map(|a| a.address.clone())
        .filter(|a| a != "127.0.0.1" && a != "::1")
        .collect()
}
