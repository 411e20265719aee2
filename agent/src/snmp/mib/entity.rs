//! ENTITY-MIB entPhysicalTable: the chassis (model, serial, firmware) and its components.

use cmdb_shared::device::{Component, DeviceInventory};

use super::{Walk, enum_name, num, oid, single, text, u32_col};

pub const ENT_PHYSICAL_TABLE: &str = "1.3.6.1.2.1.47.1.1.1";
const ENTRY: &str = "1.3.6.1.2.1.47.1.1.1.1";

const CLASSES: &[&str] = &[
    "other",
    "unknown",
    "chassis",
    "backplane",
    "container",
    "powerSupply",
    "fan",
    "sensor",
    "module",
    "port",
    "stack",
    "cpu",
];

/// Component classes worth keeping (containers, sensors and plain ports are structure).
const KEPT: &[&str] = &["module", "powerSupply", "fan", "stack", "cpu"];

fn is_transceiver(c: &Component) -> bool {
    let hay = format!(
        "{} {} {}",
        c.name.as_deref().unwrap_or(""),
        c.description.as_deref().unwrap_or(""),
        c.model.as_deref().unwrap_or("")
    )
    .to_ascii_uppercase();
    ["SFP", "XFP", "QSFP", "GBIC", "TRANSCEIVER", "CFP"]
        .iter()
        .any(|k| hay.contains(k))
}

pub fn apply(walk: &Walk, inv: &mut DeviceInventory) {
    let entry = oid(ENTRY);
    let mut chassis: Option<Component> = None;
    for (idx, row) in walk.table(&entry) {
        let Some(index) = single(&idx) else { continue };
        let class = enum_name(CLASSES, num(&row, 5)).unwrap_or("unknown");
        let mut c = Component {
            index,
            class: class.to_string(),
            name: text(&row, 7),
            description: text(&row, 2),
            model: text(&row, 13),
            serial: text(&row, 11).and_then(|s| cmdb_shared::ident::usable_serial(&s)),
            hardware_rev: text(&row, 8),
            firmware_rev: text(&row, 9),
            software_rev: text(&row, 10),
            contained_in: u32_col(&row, 4).filter(|n| *n > 0),
            transceiver: false,
        };
        c.transceiver = matches!(class, "port" | "module") && is_transceiver(&c);
        if class == "chassis" && chassis.is_none() {
            chassis = Some(c);
        } else if KEPT.contains(&class) || c.transceiver {
            inv.components.push(c);
        }
    }
    if let Some(ch) = chassis {
        if let Some(m) = ch.model.clone().or_else(|| ch.description.clone()) {
            inv.model = Some(m);
        }
        if let Some(f) = ch.software_rev.clone().or_else(|| ch.firmware_rev.clone()) {
            inv.firmware = Some(f);
        }
        inv.serial = ch.serial;
    }
}
