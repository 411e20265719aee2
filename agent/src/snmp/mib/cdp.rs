//! CISCO-CDP-MIB cdpCacheTable: Cisco neighbours (several per port on shared segments).

use std::net::Ipv4Addr;

use cmdb_shared::device::{CdpNeighbor, DeviceInventory};

use super::{Walk, num, oid, text};
use crate::snmp::decode;

pub const CDP_CACHE: &str = "1.3.6.1.4.1.9.9.23.1.2.1";

pub fn apply(walk: &Walk, inv: &mut DeviceInventory) {
    for (idx, row) in walk.table(&oid(CDP_CACHE).child(&[1])) {
        let [if_index, _device_index] = idx.as_slice() else {
            continue;
        };
        let id = |col: u32| {
            row.get(&col)
                .and_then(|v| v.as_bytes())
                .and_then(decode::identifier)
        };
        let Some(device_id) = id(6) else {
            continue;
        };
        // Address type 1 = IPv4 (4 raw bytes).
        let address = match (num(&row, 3), row.get(&4).and_then(|v| v.as_bytes())) {
            (Some(1), Some([a, b, c, d])) => Some(Ipv4Addr::new(*a, *b, *c, *d).to_string()),
            _ => None,
        };
        let local_port = inv
            .interfaces
            .iter()
            .find(|i| i.index == *if_index)
            .map(|i| i.name.clone());
        inv.cdp_neighbors.push(CdpNeighbor {
            local_if_index: *if_index,
            local_port,
            device_id,
            address,
            port: id(7),
            platform: text(&row, 8),
        });
    }
}
