//! Section hashing and the volatile-field list.
//!
//! Agent and server must agree on what "unchanged" means, so both use these functions: the
//! agent to decide which sections a delta carries, the server to check a delta's baseline and
//! to keep volatile values out of history.

use std::collections::BTreeMap;

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

/// SHA-256 (hex) of the stable part of a section, over a canonical encoding (object keys
/// sorted explicitly), so agent and server agree whatever serde_json features either build
/// has.
pub fn section_hash<T: Serialize>(section: &str, value: &T) -> String {
    let mut json = serde_json::to_value(value).unwrap_or(Value::Null);
    strip_volatile(section, &mut json);
    let mut hasher = Sha256::new();
    canonical(&json, &mut hasher);
    hex::encode(hasher.finalize())
}

/// Feeds the canonical JSON encoding of `v` to `h`: keys sorted, no whitespace.
fn canonical(v: &Value, h: &mut Sha256) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            h.update(b"{");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                h.update(Value::String(k.clone()).to_string().as_bytes());
                h.update(b":");
                if let Some(x) = map.get(k) {
                    canonical(x, h);
                }
            }
            h.update(b"}");
        }
        Value::Array(items) => {
            h.update(b"[");
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                canonical(x, h);
            }
            h.update(b"]");
        }
        scalar => h.update(scalar.to_string().as_bytes()),
    }
}

/// Hashes of every present section of an inventory.
pub fn inventory_hashes(inv: &crate::Inventory) -> BTreeMap<String, String> {
    inv.section_values()
        .into_iter()
        .map(|(name, v)| (name.to_string(), section_hash(name, &v)))
        .collect()
}

/// The delta of `inv` against a baseline: keeps only the sections whose hash in `hashes`
/// differs from the one in `base`.
pub fn delta(
    mut inv: crate::Inventory,
    hashes: &BTreeMap<String, String>,
    base: &BTreeMap<String, String>,
) -> crate::Inventory {
    for s in crate::SECTIONS {
        if hashes.get(s) == base.get(s) {
            inv.remove(s);
        }
    }
    inv
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
    fn the_hash_does_not_depend_on_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).expect("json");
        let mut h1 = Sha256::new();
        canonical(&a, &mut h1);
        let mut h2 = Sha256::new();
        h2.update(br#"{"a":{"x":null,"y":[1,2]},"b":1}"#);
        assert_eq!(h1.finalize(), h2.finalize());
    }

    #[test]
    fn a_delta_keeps_only_changed_sections() {
        let inv = Inventory {
            memory: Some(crate::Memory {
                total_bytes: 1,
                swap_total_bytes: 0,
            }),
            os: Some(crate::Os::default()),
            ..Default::default()
        };
        let hashes = inventory_hashes(&inv);
        let mut base = hashes.clone();
        base.insert("memory".into(), "old".into());
        let d = delta(inv, &hashes, &base);
        assert!(d.memory.is_some());
        assert!(d.os.is_none());
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
