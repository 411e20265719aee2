//! HOST-RESOURCES-MIB: storage areas and processor load, on devices that have it (Linux
//! hosts, appliances, some switches).

use cmdb_shared::device::{DeviceInventory, Processor, StorageArea};

use super::{Value, Walk, enum_name, num, oid, single, text};

pub const STORAGE: &str = "1.3.6.1.2.1.25.2.3";
pub const PROCESSOR: &str = "1.3.6.1.2.1.25.3.3";

const STORAGE_TYPES: &str = "1.3.6.1.2.1.25.2.1";
const KINDS: &[&str] = &[
    "other",
    "ram",
    "virtualMemory",
    "fixedDisk",
    "removableDisk",
    "floppyDisk",
    "compactDisc",
    "ramDisk",
    "flashMemory",
    "networkDisk",
];

pub fn apply(walk: &Walk, inv: &mut DeviceInventory) {
    let types = oid(STORAGE_TYPES);
    for (idx, row) in walk.table(&oid(STORAGE).child(&[1])) {
        let Some(index) = single(&idx) else { continue };
        let kind = match row.get(&2) {
            Some(Value::ObjectId(t)) => t
                .suffix(&types)
                .and_then(|s| enum_name(KINDS, s.first().map(|n| i64::from(*n))))
                .unwrap_or("other"),
            _ => "other",
        };
        let unit = num(&row, 4)
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let blocks = |c: u32| {
            num(&row, c)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0)
        };
        inv.storage.push(StorageArea {
            index,
            description: text(&row, 3).unwrap_or_default(),
            kind: kind.to_string(),
            // Capped at i64::MAX, the largest integer the server stores.
            size_bytes: blocks(5).saturating_mul(unit).min(i64::MAX as u64),
            used_bytes: blocks(6).saturating_mul(unit).min(i64::MAX as u64),
        });
    }
    for (idx, row) in walk.table(&oid(PROCESSOR).child(&[1])) {
        let (Some(index), Some(load)) = (single(&idx), num(&row, 2)) else {
            continue;
        };
        if let Ok(load_percent) = u8::try_from(load.clamp(0, 100)) {
            inv.processors.push(Processor {
                index,
                load_percent,
            });
        }
    }
}
