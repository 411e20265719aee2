//! BRIDGE-MIB and Q-BRIDGE-MIB: the base bridge address and the forwarding database
//! (MAC → bridge port → ifIndex), per VLAN where the device has Q-BRIDGE.

use std::collections::{BTreeMap, BTreeSet};

use cmdb_shared::device::{DeviceInventory, ForwardingEntry};

use super::{Value, Walk, enum_name, num, oid, u32_col};
use crate::snmp::decode;

pub const BASE: &str = "1.3.6.1.2.1.17.1";
pub const TP_FDB: &str = "1.3.6.1.2.1.17.4.3";
pub const Q_TP_FDB: &str = "1.3.6.1.2.1.17.7.1.2.2";

const STATUS: &[&str] = &["other", "invalid", "learned", "self", "mgmt"];

fn mac_from_index(idx: &[u32]) -> Option<String> {
    let bytes: Vec<u8> = idx
        .iter()
        .map(|c| u8::try_from(*c).ok())
        .collect::<Option<_>>()?;
    decode::mac(&bytes)
}

pub fn apply(walk: &Walk, inv: &mut DeviceInventory) {
    let base = oid(BASE);
    inv.base_bridge_mac = walk
        .get(&base.child(&[1, 0]))
        .and_then(Value::as_bytes)
        .and_then(decode::mac);
    // dot1dBasePortTable: bridge port → ifIndex.
    let mut port_if: BTreeMap<u32, u32> = BTreeMap::new();
    for (idx, row) in walk.table(&base.child(&[4, 1])) {
        if let ([port], Some(ifi)) = (idx.as_slice(), u32_col(&row, 2)) {
            port_if.insert(*port, ifi);
        }
    }
    let status = |n: Option<i64>| enum_name(STATUS, n).map(String::from);
    let mut entries = BTreeSet::new();
    for (idx, row) in walk.table(&oid(Q_TP_FDB).child(&[1])) {
        let [fdb, mac @ ..] = idx.as_slice() else {
            continue;
        };
        let (Some(mac), Some(port)) = (mac_from_index(mac), u32_col(&row, 2)) else {
            continue;
        };
        if port == 0 || num(&row, 3) == Some(2) {
            continue;
        }
        entries.insert(ForwardingEntry {
            vlan: Some(*fdb),
            mac,
            bridge_port: port,
            if_index: port_if.get(&port).copied(),
            status: status(num(&row, 3)),
        });
    }
    if entries.is_empty() {
        for (idx, row) in walk.table(&oid(TP_FDB).child(&[1])) {
            let (Some(mac), Some(port)) = (mac_from_index(&idx), u32_col(&row, 2)) else {
                continue;
            };
            if port == 0 || num(&row, 3) == Some(2) {
                continue;
            }
            entries.insert(ForwardingEntry {
                vlan: None,
                mac,
                bridge_port: port,
                if_index: port_if.get(&port).copied(),
                status: status(num(&row, 3)),
            });
        }
    }
    inv.forwarding = entries.into_iter().collect();
}
