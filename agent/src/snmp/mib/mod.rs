//! MIB sections: each turns a [`Walk`] of its subtrees into part of a [`DeviceInventory`].
//! Pure functions, tested on excerpts of recordings of real devices (`agent/fixtures/snmp/`).

pub mod bridge;
pub mod cdp;
pub mod entity;
pub mod host_resources;
pub mod interfaces;
pub mod ip;
pub mod lldp;
pub mod system;

use cmdb_shared::device::DeviceInventory;

use super::oid::{Oid, Value, Walk};

/// The subtrees a device inventory walks, in walk order.
pub const SUBTREES: &[&str] = &[
    system::SYSTEM,
    interfaces::IF_TABLE,
    interfaces::IF_X_TABLE,
    ip::IP_ADDR_TABLE,
    ip::IP_ADDRESS_TABLE,
    ip::IP_NET_TO_MEDIA,
    ip::IP_NET_TO_PHYSICAL,
    entity::ENT_PHYSICAL_TABLE,
    lldp::LLDP_LOCAL,
    lldp::LLDP_REMOTE,
    lldp::LLDP_REMOTE_MAN_ADDR,
    cdp::CDP_CACHE,
    bridge::BASE,
    bridge::TP_FDB,
    bridge::Q_TP_FDB,
    host_resources::STORAGE,
    host_resources::PROCESSOR,
];

/// The wide tables walked by column, with the columns the parsers read: ifTable and
/// ifXTable carry many counters no parser uses, and a big chassis has thousands of rows. The
/// other subtrees of [`SUBTREES`] are walked whole.
pub const COLUMNS: &[(&str, &[u32])] = &[
    // ifIndex, ifDescr, ifType, ifMtu, ifSpeed, ifPhysAddress, ifAdminStatus, ifOperStatus,
    // ifInOctets, ifInDiscards, ifInErrors, ifOutOctets, ifOutDiscards, ifOutErrors.
    (
        "1.3.6.1.2.1.2.2.1",
        &[1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 16, 19, 20],
    ),
    // ifName, ifHCInOctets, ifHCOutOctets, ifHighSpeed, ifAlias.
    ("1.3.6.1.2.1.31.1.1.1", &[1, 6, 10, 15, 18]),
];

/// What an inventory walks: per subtree of [`SUBTREES`], either the subtree or (for the
/// tables of [`COLUMNS`]) the listed columns side by side.
pub fn walk_plan() -> Vec<Vec<Oid>> {
    SUBTREES
        .iter()
        .map(|s| {
            let root = oid(s);
            match COLUMNS
                .iter()
                .find(|(entry, _)| oid(entry).starts_with(&root))
            {
                Some((entry, columns)) => {
                    let entry = oid(entry);
                    columns.iter().map(|c| entry.child(&[*c])).collect()
                }
                None => vec![root],
            }
        })
        .collect()
}

/// Builds a device inventory from everything walked.
pub fn inventory(target: &str, walk: &Walk) -> DeviceInventory {
    let mut inv = DeviceInventory {
        target: target.to_string(),
        ..Default::default()
    };
    system::apply(walk, &mut inv);
    interfaces::apply(walk, &mut inv);
    ip::apply(walk, &mut inv);
    entity::apply(walk, &mut inv);
    lldp::apply(walk, &mut inv);
    cdp::apply(walk, &mut inv);
    bridge::apply(walk, &mut inv);
    host_resources::apply(walk, &mut inv);
    inv
}

fn oid(s: &str) -> Oid {
    crate::oid!(s)
}

/// Column `col` of a table row, as text.
fn text(row: &std::collections::BTreeMap<u32, &Value>, col: u32) -> Option<String> {
    row.get(&col)
        .and_then(|v| v.as_bytes())
        .and_then(super::decode::opt_text)
}

/// Column `col` of a table row, as a number.
fn num(row: &std::collections::BTreeMap<u32, &Value>, col: u32) -> Option<i64> {
    row.get(&col).and_then(|v| v.as_i64())
}

/// Column `col` of a table row, as a `u32` (negative or oversized values are dropped).
fn u32_col(row: &std::collections::BTreeMap<u32, &Value>, col: u32) -> Option<u32> {
    num(row, col).and_then(|n| u32::try_from(n).ok())
}

/// The name of an SMI enumeration value (numbered from 1, as MIBs number them). Any
/// INTEGER a device sends is safe, i64::MIN included (it overflowed `n - 1`).
fn enum_name(names: &[&'static str], n: Option<i64>) -> Option<&'static str> {
    names
        .get(usize::try_from(n?.checked_sub(1)?).ok()?)
        .copied()
}

/// A row index of exactly one component.
fn single(idx: &[u32]) -> Option<u32> {
    match idx {
        [i] => Some(*i),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Walk {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/snmp")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    super::snmprec::parse(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
