//! SNMPv2-MIB system group, and what sysObjectID and sysDescr tell about the device.

use cmdb_shared::device::DeviceInventory;

use super::{Oid, Value, Walk, oid};
use crate::snmp::{decode, enterprise};

pub const SYSTEM: &str = "1.3.6.1.2.1.1";

fn scalar(walk: &Walk, n: u32) -> Option<&Value> {
    walk.get(&oid(SYSTEM).child(&[n, 0]))
}

fn scalar_text(walk: &Walk, n: u32) -> Option<String> {
    scalar(walk, n)
        .and_then(Value::as_bytes)
        .and_then(decode::opt_text)
}

/// sysUpTime, hundredths of a second.
pub fn uptime(walk: &Walk) -> Option<u32> {
    match scalar(walk, 3) {
        Some(Value::TimeTicks(t)) => Some(*t),
        other => other
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
    }
}

/// The sysObjectID.
pub fn object_id(walk: &Walk) -> Option<Oid> {
    match scalar(walk, 2) {
        Some(Value::ObjectId(o)) => Some(o.clone()),
        _ => None,
    }
}

pub fn apply(walk: &Walk, inv: &mut DeviceInventory) {
    let s = &mut inv.system;
    s.descr = scalar_text(walk, 1);
    s.object_id = object_id(walk).map(|o| o.to_string());
    s.contact = scalar_text(walk, 4);
    s.name = scalar_text(walk, 5);
    s.location = scalar_text(walk, 6);
    s.services = scalar(walk, 7)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok());
    inv.enterprise = object_id(walk).as_ref().and_then(enterprise::number);
    inv.vendor = inv
        .enterprise
        .and_then(enterprise::vendor)
        .map(str::to_string);
    if let Some(d) = &inv.system.descr {
        inv.firmware = firmware_from_descr(d);
        inv.model = model_from_descr(d);
    }
}

/// The software version in a sysDescr, for the vendors whose format is known: Cisco
/// (`…, Version 12.2(25)SEE2, RELEASE SOFTWARE…`), Juniper (`… JUNOS 10.4R1.9 …`), HP/Aruba
/// ProCurve (`… revision R.11.07, ROM …`).
pub fn firmware_from_descr(descr: &str) -> Option<String> {
    let word_after = |marker: &str| -> Option<String> {
        let at = descr.find(marker)? + marker.len();
        descr[at..]
            .split(|c: char| c.is_whitespace() || c == ',')
            .find(|w| !w.is_empty())
            .map(str::to_string)
    };
    word_after("Version ")
        .or_else(|| word_after("JUNOS "))
        .or_else(|| word_after("revision "))
}

/// The model in a sysDescr, for formats that name it: Juniper (`Juniper Networks, Inc. mx960
/// internet router, …`) and HP ProCurve (`ProCurve J4900B Switch 2626, …`).
pub fn model_from_descr(descr: &str) -> Option<String> {
    if let Some(rest) = descr.strip_prefix("Juniper Networks, Inc. ") {
        return rest.split_whitespace().next().map(str::to_string);
    }
    if let Some(at) = descr.find("ProCurve ") {
        return descr[at + 9..]
            .split(',')
            .next()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_models_from_sys_descr() {
        let cisco = "Cisco IOS Software, C3560 Software (C3560-IPSERVICESK9-M), Version 12.2(25)SEE2, RELEASE SOFTWARE (fc1)";
        assert_eq!(firmware_from_descr(cisco).as_deref(), Some("12.2(25)SEE2"));
        assert_eq!(model_from_descr(cisco), None);
        let junos = "Juniper Networks, Inc. mx960 internet router, kernel JUNOS 10.4R1.9 #0";
        assert_eq!(firmware_from_descr(junos).as_deref(), Some("10.4R1.9"));
        assert_eq!(model_from_descr(junos).as_deref(), Some("mx960"));
        let procurve = "ProCurve J4900B Switch 2626, revision H.10.50, ROM H.08.02 (/sw/code/build/fish(mkfs))";
        assert_eq!(firmware_from_descr(procurve).as_deref(), Some("H.10.50"));
        assert_eq!(
            model_from_descr(procurve).as_deref(),
            Some("J4900B Switch 2626")
        );
        assert_eq!(firmware_from_descr("Linux gw 6.1.0 #1 SMP x86_64"), None);
    }
}
