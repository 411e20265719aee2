//! Discovered edges: what one observation says of a relationship, the key that makes the same
//! link seen from both ends one edge, and the naming of ports on either end of a link.

use cmdb_graph::RelKind;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::device_report::canonical_mac;

/// A discovered edge, as derived from one observation.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredEdge {
    pub key: String,
    pub from: String,
    pub to: String,
    pub kind: RelKind,
    /// lldp, cdp, fdb, listening, connection, virtualization.
    pub discovered_by: &'static str,
    pub evidence: Value,
}

/// The key of a discovered edge: a hash of its kind and the parts that identify it.
pub fn edge_key(kind: RelKind, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_str().as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

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
) -> DiscoveredEdge {
    let (from, from_port, to, to_port) = if (a, a_port) <= (b, b_port) {
        (a, a_port, b, b_port)
    } else {
        (b, b_port, a, a_port)
    };
    let mut evidence = json!({ "from_port": from_port, "to_port": to_port });
    if let (Value::Object(e), Value::Object(x)) = (&mut evidence, extra) {
        e.extend(x);
    }
    DiscoveredEdge {
        key: edge_key(RelKind::ConnectedTo, &[from, from_port, to, to_port]),
        from: from.into(),
        to: to.into(),
        kind: RelKind::ConnectedTo,
        discovered_by: by,
        evidence,
    }
}
