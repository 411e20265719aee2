//! IP-MIB: the device's addresses (ipAddrTable and ipAddressTable) and its ARP cache
//! (ipNetToPhysicalTable and ipNetToMediaTable).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use cmdb_shared::device::{ArpEntry, DeviceAddress, DeviceInventory};

use super::{Value, Walk, num, oid, u32_col};
use crate::snmp::decode;

pub const IP_ADDR_TABLE: &str = "1.3.6.1.2.1.4.20";
pub const IP_ADDRESS_TABLE: &str = "1.3.6.1.2.1.4.34";
pub const IP_NET_TO_MEDIA: &str = "1.3.6.1.2.1.4.22";
pub const IP_NET_TO_PHYSICAL: &str = "1.3.6.1.2.1.4.35";

/// An index made of `type.length.bytes…` (InetAddressType + InetAddress, not IMPLIED).
fn inet_from_index(idx: &[u32]) -> Option<(String, &[u32])> {
    let [kind, len, rest @ ..] = idx else {
        return None;
    };
    let len = usize::try_from(*len).ok()?;
    if rest.len() < len {
        return None;
    }
    let bytes: Vec<u8> = rest[..len]
        .iter()
        .map(|c| u8::try_from(*c).ok())
        .collect::<Option<_>>()?;
    Some((
        decode::inet_address(i64::from(*kind), &bytes)?,
        &rest[len..],
    ))
}

fn ipv4_from_index(idx: &[u32]) -> Option<String> {
    let [a, b, c, d] = idx else { return None };
    let o = |x: &u32| u8::try_from(*x).ok();
    Some(Ipv4Addr::new(o(a)?, o(b)?, o(c)?, o(d)?).to_string())
}

fn prefix_of_mask(mask: &Value) -> Option<u8> {
    match mask {
        Value::IpAddress(m) => {
            let bits = u32::from_be_bytes(*m);
            // Only contiguous masks are prefixes.
            (bits.leading_ones() + bits.trailing_zeros() == 32).then(|| bits.leading_ones() as u8)
        }
        _ => None,
    }
}

pub fn apply(walk: &Walk, inv: &mut DeviceInventory) {
    let mut seen = BTreeSet::new();
    // ipAddressTable (both families) first: it has IPv6; ipAddrTable fills in what it lacks.
    for (idx, row) in walk.table(&oid("1.3.6.1.2.1.4.34.1")) {
        let Some((address, _)) = inet_from_index(&idx) else {
            continue;
        };
        // Broadcast entries are not addresses of the device.
        if num(&row, 4) == Some(3) {
            continue;
        }
        let prefix_len = match row.get(&5) {
            Some(Value::ObjectId(p)) => {
                p.0.last()
                    .and_then(|l| u8::try_from(*l).ok())
                    .filter(|l| *l > 0)
            }
            _ => None,
        };
        if seen.insert(address.clone()) {
            inv.addresses.push(DeviceAddress {
                address,
                prefix_len,
                if_index: u32_col(&row, 3),
            });
        }
    }
    for (idx, row) in walk.table(&oid("1.3.6.1.2.1.4.20.1")) {
        let Some(address) = ipv4_from_index(&idx) else {
            continue;
        };
        if seen.insert(address.clone()) {
            inv.addresses.push(DeviceAddress {
                address,
                prefix_len: row.get(&3).and_then(|m| prefix_of_mask(m)),
                if_index: u32_col(&row, 2),
            });
        }
    }

    let (net_to_physical, net_to_media) = (oid("1.3.6.1.2.1.4.35.1"), oid("1.3.6.1.2.1.4.22.1"));
    // Devices often keep IPv4 neighbours only in the older table and IPv6 in the newer: both
    // are read, duplicates fall together. Each row: (ifIndex, IP, type, physical address).
    let physical = walk
        .table(&net_to_physical)
        .into_iter()
        .filter_map(|(idx, row)| {
            let [if_index, rest @ ..] = idx.as_slice() else {
                return None;
            };
            let (ip, _) = inet_from_index(rest)?;
            Some((*if_index, ip, num(&row, 6), row.get(&4).copied()))
        });
    let media = walk
        .table(&net_to_media)
        .into_iter()
        .filter_map(|(idx, row)| {
            let [if_index, ip @ ..] = idx.as_slice() else {
                return None;
            };
            Some((
                *if_index,
                ipv4_from_index(ip)?,
                num(&row, 4),
                row.get(&2).copied(),
            ))
        });
    let arp: BTreeSet<ArpEntry> = physical
        .chain(media)
        // type 2 = invalid.
        .filter(|(_, _, kind, _)| *kind != Some(2))
        .filter_map(|(if_index, ip, _, phys)| {
            let mac = phys.and_then(Value::as_bytes).and_then(decode::mac)?;
            Some(ArpEntry { if_index, ip, mac })
        })
        .collect();
    inv.arp = arp.into_iter().collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_indexes() {
        assert_eq!(
            prefix_of_mask(&Value::IpAddress([255, 255, 255, 0])),
            Some(24)
        );
        assert_eq!(prefix_of_mask(&Value::IpAddress([255, 0, 255, 0])), None);
        assert_eq!(
            inet_from_index(&[1, 4, 10, 0, 0, 1])
                .map(|(a, _)| a)
                .as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(inet_from_index(&[1, 4, 10, 0]), None, "truncated index");
        assert_eq!(inet_from_index(&[1, 4, 10, 0, 0, 300]), None, "not a byte");
    }
}
