//! LLDP-MIB (IEEE 802.1AB): the local chassis id and the remote neighbours, with their
//! management addresses.

use std::collections::BTreeMap;

use cmdb_shared::device::{DeviceInventory, LldpLocal, LldpNeighbor};

use super::{Value, Walk, num, oid, text};
use crate::snmp::decode::{self, LldpId};

pub const LLDP_LOCAL: &str = "1.0.8802.1.1.2.1.3";
pub const LLDP_REMOTE: &str = "1.0.8802.1.1.2.1.4.1";
pub const LLDP_REMOTE_MAN_ADDR: &str = "1.0.8802.1.1.2.1.4.2";

fn id(row: &BTreeMap<u32, &Value>, which: LldpId, sub_col: u32, id_col: u32) -> (String, String) {
    let subtype = num(row, sub_col).unwrap_or(0);
    let bytes = row.get(&id_col).and_then(|v| v.as_bytes()).unwrap_or(&[]);
    let (name, value) = decode::lldp_id(which, subtype, bytes);
    (name.to_string(), value)
}

pub fn apply(walk: &Walk, inv: &mut DeviceInventory) {
    let local = oid(LLDP_LOCAL);
    let scalar = |n: u32| walk.get(&local.child(&[n, 0]));
    if let Some(Value::OctetString(cid)) = scalar(2) {
        let subtype = scalar(1).and_then(Value::as_i64).unwrap_or(0);
        let (name, value) = decode::lldp_id(LldpId::Chassis, subtype, cid);
        inv.lldp_local = Some(LldpLocal {
            chassis_id_subtype: name.to_string(),
            chassis_id: value,
            system_name: scalar(3)
                .and_then(Value::as_bytes)
                .and_then(decode::opt_text),
        });
    }
    // lldpLocPortTable: local port number → its id or description.
    let mut local_ports: BTreeMap<u32, String> = BTreeMap::new();
    for (idx, row) in walk.table(&local.child(&[7, 1])) {
        if let [port] = idx.as_slice() {
            let id = text(&row, 3);
            let name = match num(&row, 2) {
                // interfaceAlias, interfaceName: the name itself.
                Some(1 | 5) => id,
                // local: usually the ifIndex (Junos, NX-OS); its interface's name if so.
                Some(7) => id
                    .as_deref()
                    .and_then(|i| i.parse::<u32>().ok())
                    .and_then(|i| inv.interfaces.iter().find(|f| f.index == i))
                    .map(|f| f.name.clone()),
                // macAddress: the one interface with that MAC (NX-OS gives each port its own).
                Some(3) => {
                    let mac = row.get(&3).and_then(|v| v.as_bytes()).and_then(decode::mac);
                    let mut with_mac = inv
                        .interfaces
                        .iter()
                        .filter(|f| mac.is_some() && f.mac == mac);
                    match (with_mac.next(), with_mac.next()) {
                        (Some(f), None) => Some(f.name.clone()),
                        _ => None,
                    }
                }
                _ => None,
            }
            .or_else(|| {
                // The port number is often the ifIndex: take that interface's name when the
                // port description is that interface's description or alias.
                let desc = text(&row, 4)?;
                inv.interfaces
                    .iter()
                    .find(|f| f.index == *port)
                    .filter(|f| {
                        f.alias.as_deref() == Some(desc.as_str())
                            || f.description.as_deref() == Some(desc.as_str())
                            || f.name == desc
                    })
                    .map(|f| f.name.clone())
            })
            .or_else(|| text(&row, 4));
            if let Some(n) = name {
                local_ports.insert(*port, n);
            }
        }
    }
    // Management addresses: index timeMark.localPort.remIndex.subtype.len.addr…
    let mut mgmt: BTreeMap<(u32, u32), String> = BTreeMap::new();
    let man = oid(LLDP_REMOTE_MAN_ADDR).child(&[1]);
    for (o, _) in walk.subtree(&man) {
        let Some([_col, _tm, port, rem, subtype, len, addr @ ..]) = o.suffix(&man) else {
            continue;
        };
        let Some(bytes) = usize::try_from(*len)
            .ok()
            .filter(|l| *l == addr.len())
            .and_then(|_| {
                addr.iter()
                    .map(|c| u8::try_from(*c).ok())
                    .collect::<Option<Vec<u8>>>()
            })
        else {
            continue;
        };
        let family_prefixed: Vec<u8> = std::iter::once(u8::try_from(*subtype).unwrap_or(0))
            .chain(bytes)
            .collect();
        if let Some(a) = decode::family_address(&family_prefixed) {
            mgmt.entry((*port, *rem)).or_insert(a);
        }
    }
    for (idx, row) in walk.table(&oid(LLDP_REMOTE).child(&[1])) {
        let [_time_mark, port, rem] = idx.as_slice() else {
            continue;
        };
        let (chassis_id_subtype, chassis_id) = id(&row, LldpId::Chassis, 4, 5);
        let (port_id_subtype, port_id) = id(&row, LldpId::Port, 6, 7);
        if chassis_id.is_empty() {
            continue;
        }
        inv.lldp_neighbors.push(LldpNeighbor {
            local_port_num: *port,
            local_port: local_ports.get(port).cloned(),
            chassis_id_subtype,
            chassis_id,
            port_id_subtype,
            port_id,
            port_description: text(&row, 8),
            system_name: text(&row, 9),
            system_description: text(&row, 10),
            management_address: mgmt.get(&(*port, *rem)).cloned(),
        });
    }
}
