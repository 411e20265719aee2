//! Section hashing and the volatile-field list.
//!
//! Agent and server must agree on what "unchanged" means, so both use these functions: the
//! agent to decide which sections a delta carries, the server to check a delta's baseline and
//! to keep volatile values out of history.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Fields whose values change without the configuration changing: they are metrics, never
/// history, and they do not make a section "changed". `(section, field)`; the field is looked
/// up in the section object or in each object of a section array (one level down for
/// `sockets`).
pub const VOLATILE_FIELDS: &[(&str, &str)] = &[
    ("os", "boot_time"),
    ("cpu", "mhz"),
    ("filesystems", "used_bytes"),
    ("sockets", "pid"),
];

/// Removes the volatile fields of `section` from its JSON form, in place.
pub fn strip_volatile(section: &str, value: &mut Value) {
    for (s, field) in VOLATILE_FIELDS {
        if *s == section {
            strip_field(value, field, 2);
        }
    }
}

fn strip_field(value: &mut Value, field: &str, depth: u8) {
    match value {
        Value::Object(map) => {
            map.remove(field);
            if depth > 0 {
                for v in map.values_mut() {
                    if v.is_array() {
                        strip_field(v, field, depth - 1);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                strip_field(item, field, depth);
            }
        }
        _ => {}
    }
}

/// SHA-256 (hex) of the stable part of a section. `serde_json` writes struct fields in
/// declaration order and our maps are `BTreeMap`s, so the encoding is canonical.
pub fn section_hash<T: Serialize>(section: &str, value: &T) -> String {
    let mut json = serde_json::to_value(value).unwrap_or(Value::Null);
    strip_volatile(section, &mut json);
    let bytes = serde_json::to_vec(&json).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// Hashes of every present section of an inventory.
pub fn inventory_hashes(inv: &crate::Inventory) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    macro_rules! put {
        ($($name:ident),*) => {$(
            if let Some(v) = &inv.$name {
                out.insert(stringify!($name).to_string(), section_hash(stringify!($name), v));
            }
        )*};
    }
    put!(
        identity,
        os,
        cpu,
        memory,
        disks,
        filesystems,
        network,
        packages,
        services,
        sockets,
        virtualization
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Filesystem, Inventory};

    #[test]
    fn used_bytes_does_not_change_the_filesystems_hash() {
        let a = vec![Filesystem {
            mount_point: "/".into(),
            device: "/dev/vda".into(),
            fs_type: "ext4".into(),
            size_bytes: 100,
            used_bytes: 10,
        }];
        let mut b = a.clone();
        b[0].used_bytes = 99;
        assert_eq!(
            section_hash("filesystems", &a),
            section_hash("filesystems", &b)
        );
        b[0].size_bytes = 200;
        assert_ne!(
            section_hash("filesystems", &a),
            section_hash("filesystems", &b)
        );
    }

    #[test]
    fn socket_pids_are_volatile_one_level_down() {
        let mut v = serde_json::json!({"listening": [{"port": 22, "pid": 5}], "connections": []});
        strip_volatile("sockets", &mut v);
        assert_eq!(
            v,
            serde_json::json!({"listening": [{"port": 22}], "connections": []})
        );
    }

    #[test]
    fn inventory_hashes_cover_present_sections_only() {
        let inv = Inventory {
            memory: Some(crate::Memory {
                total_bytes: 1,
                swap_total_bytes: 0,
            }),
            ..Default::default()
        };
        let h = inventory_hashes(&inv);
        assert_eq!(h.keys().collect::<Vec<_>>(), vec!["memory"]);
    }
}
