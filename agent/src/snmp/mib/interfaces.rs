//! IF-MIB: ifTable and ifXTable (names, aliases, speeds), and the interface counters.

use std::collections::BTreeMap;

use cmdb_shared::device::{DeviceInterface, DeviceInventory, InterfaceCounters};

use super::{Value, Walk, enum_name, num, oid, single, text, u32_col};
use crate::snmp::decode;

pub const IF_TABLE: &str = "1.3.6.1.2.1.2.2";
pub const IF_X_TABLE: &str = "1.3.6.1.2.1.31.1.1";
pub const IF_ENTRY: &str = "1.3.6.1.2.1.2.2.1";
pub const IF_X_ENTRY: &str = "1.3.6.1.2.1.31.1.1.1";

/// ifIndex → (ifTable row, ifXTable row).
type Rows<'a> = BTreeMap<u32, (BTreeMap<u32, &'a Value>, BTreeMap<u32, &'a Value>)>;

fn rows<'a>(
    walk: &'a Walk,
    if_entry: &'a crate::snmp::oid::Oid,
    x_entry: &'a crate::snmp::oid::Oid,
) -> Rows<'a> {
    let mut out: Rows<'a> = BTreeMap::new();
    for (idx, row) in walk.table(if_entry) {
        if let Some(i) = single(&idx) {
            out.entry(i).or_default().0 = row;
        }
    }
    for (idx, row) in walk.table(x_entry) {
        if let Some(i) = single(&idx) {
            out.entry(i).or_default().1 = row;
        }
    }
    out
}

pub fn apply(walk: &Walk, inv: &mut DeviceInventory) {
    let (e, x) = (oid(IF_ENTRY), oid(IF_X_ENTRY));
    for (index, (row, xrow)) in rows(walk, &e, &x) {
        let descr = text(&row, 2);
        let Some(name) = text(&xrow, 1).or_else(|| descr.clone()) else {
            continue;
        };
        let speed_mbps = speed_mbps(&row, &xrow);
        inv.interfaces.push(DeviceInterface {
            index,
            name,
            alias: text(&xrow, 18),
            description: descr,
            if_type: u32_col(&row, 3),
            mac: row.get(&6).and_then(|v| v.as_bytes()).and_then(decode::mac),
            admin_status: enum_name(&["up", "down", "testing"], num(&row, 7)).map(String::from),
            oper_status: enum_name(
                &[
                    "up",
                    "down",
                    "testing",
                    "unknown",
                    "dormant",
                    "notPresent",
                    "lowerLayerDown",
                ],
                num(&row, 8),
            )
            .map(String::from),
            speed_mbps,
            mtu: u32_col(&row, 4).filter(|m| *m > 0),
        });
    }
}

/// ifHighSpeed, else ifSpeed / 10⁶, in Mbit/s; `None` when unknown or 0.
fn speed_mbps(row: &BTreeMap<u32, &Value>, xrow: &BTreeMap<u32, &Value>) -> Option<u64> {
    num(xrow, 15)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| *n > 0)
        .or_else(|| {
            num(row, 5)
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| *n > 0)
                .map(|bps| bps / 1_000_000)
        })
}

/// Each interface's speed in Mbit/s (as [`DeviceInterface::speed_mbps`]), by ifIndex; for
/// metrics polls, which do not walk the names.
pub fn speeds(walk: &Walk) -> BTreeMap<u32, u64> {
    let (e, x) = (oid(IF_ENTRY), oid(IF_X_ENTRY));
    rows(walk, &e, &x)
        .into_iter()
        .filter_map(|(index, (row, xrow))| Some((index, speed_mbps(&row, &xrow)?)))
        .collect()
}

/// The interface counters: 64-bit ifHC octets where present, else the 32-bit ones.
pub fn counters(walk: &Walk) -> Vec<InterfaceCounters> {
    let (e, x) = (oid(IF_ENTRY), oid(IF_X_ENTRY));
    // Some devices answer 2^64 - 1 for a counter they do not keep: past i64::MAX no counter
    // is real (it would take centuries at 400 Gb/s), and the server stores signed integers.
    let n = |r: &BTreeMap<u32, &Value>, c: u32| {
        r.get(&c)
            .and_then(|v| v.as_u64())
            .filter(|v| i64::try_from(*v).is_ok())
    };
    rows(walk, &e, &x)
        .into_iter()
        .map(|(index, (row, xrow))| {
            let hc = n(&xrow, 6).is_some() && n(&xrow, 10).is_some();
            InterfaceCounters {
                index,
                in_octets: if hc { n(&xrow, 6) } else { n(&row, 10) },
                out_octets: if hc { n(&xrow, 10) } else { n(&row, 16) },
                in_discards: n(&row, 13),
                in_errors: n(&row, 14),
                out_discards: n(&row, 19),
                out_errors: n(&row, 20),
                high_capacity: hc,
            }
        })
        .collect()
}

/// The increase of a counter between two samples, allowing one wrap of a 32-bit counter
/// (`None` when it went backwards otherwise: the device restarted or the counter was reset).
pub fn counter_delta(before: u64, after: u64, high_capacity: bool) -> Option<u64> {
    if after >= before {
        Some(after - before)
    } else if !high_capacity && before <= u64::from(u32::MAX) {
        Some(u64::from(u32::MAX) - before + after + 1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_32_bit_counter_wrap_is_an_increase_and_a_reset_is_unknown() {
        assert_eq!(counter_delta(100, 250, false), Some(150));
        assert_eq!(counter_delta(u64::from(u32::MAX) - 9, 5, false), Some(15));
        assert_eq!(counter_delta(1_000, 5, true), None);
    }
}
