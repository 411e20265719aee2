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

/// The volatile part of a section: only its volatile fields, in the section's own shape (an
/// object keeps the field, an array keeps one object per element). `None` when the section
/// has no volatile field. With [`overlay`] this lets the server keep the fast-changing values
/// in a small record of their own instead of rewriting the whole section each time they move.
pub fn volatile_part(section: &str, value: &Value) -> Option<Value> {
    let field = VOLATILE_FIELDS
        .iter()
        .find(|(s, _)| *s == section)
        .map(|(_, f)| *f)?;
    Some(project(value, field, 2))
}

fn project(value: &Value, field: &str, depth: u8) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                if k == field {
                    out.insert(k.clone(), v.clone());
                } else if depth > 0 && v.is_array() {
                    out.insert(k.clone(), project(v, field, depth - 1));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| project(i, field, depth)).collect())
        }
        _ => Value::Null,
    }
}

/// Writes a [`volatile_part`] back over a section with the same stable content (equal
/// [`section_hash`]), so lists line up element by element. Where the shapes differ (the
/// caller compared the wrong hashes) nothing is overwritten.
pub fn overlay(target: &mut Value, part: &Value) {
    match (target, part) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if v.is_array() || v.is_object() => overlay(existing, v),
                    Some(existing) => *existing = v.clone(),
                    None if !(v.is_array() || v.is_object()) => {
                        t.insert(k.clone(), v.clone());
                    }
                    None => {}
                }
            }
        }
        (Value::Array(t), Value::Array(p)) if t.len() == p.len() => {
            for (x, y) in t.iter_mut().zip(p) {
                overlay(x, y);
            }
        }
        _ => {}
    }
}

/// SHA-256 (hex) of the stable part of a section, over a canonical encoding (object keys
/// sorted explicitly), so agent and server agree whatever serde_json features either build
/// has.
pub fn section_hash<T: Serialize>(section: &str, value: &T) -> String {
    section_hash_of(section, serde_json::to_value(value).unwrap_or(Value::Null))
}

/// [`section_hash`] of a section already in JSON form (saves converting it again).
pub fn section_hash_of(section: &str, mut json: Value) -> String {
    strip_volatile(section, &mut json);
    let mut hasher = Sha256::new();
    canonical(&json, &mut hasher);
    hex::encode(hasher.finalize())
}

/// Lets serde_json write strings and numbers straight into the hasher, with the same
/// escaping as its `to_string`, without an allocation per value.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn scalar(v: &impl Serialize, h: &mut Sha256) {
    // Writing a string or number to an in-memory hasher cannot fail.
    let _ = serde_json::to_writer(HashWriter(h), v);
}

/// Feeds the canonical JSON encoding of `v` to `h`: keys sorted, no whitespace.
fn canonical(v: &Value, h: &mut Sha256) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            h.update(b"{");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                scalar(k, h);
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
        other => scalar(other, h),
    }
}

/// Hashes of every present section of an inventory.
pub fn inventory_hashes(inv: &crate::Inventory) -> BTreeMap<String, String> {
    inv.section_values()
        .into_iter()
        .map(|(name, v)| (name.to_string(), section_hash_of(name, v)))
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
    fn the_volatile_part_round_trips_onto_a_section_with_the_same_stable_content() {
        let new = serde_json::json!({
            "listening": [{"port": 22, "pid": 812}, {"port": 80, "pid": 901}],
            "connections": [{"remote": "10.0.0.1", "pid": 77}],
        });
        let part = volatile_part("sockets", &new).expect("sockets have pids");
        assert_eq!(
            part,
            serde_json::json!({"listening": [{"pid": 812}, {"pid": 901}], "connections": [{"pid": 77}]})
        );
        let mut old = serde_json::json!({
            "listening": [{"port": 22, "pid": 1}, {"port": 80, "pid": 2}],
            "connections": [{"remote": "10.0.0.1", "pid": 3}],
        });
        assert_eq!(section_hash("sockets", &old), section_hash("sockets", &new));
        overlay(&mut old, &part);
        assert_eq!(old, new);
        assert!(volatile_part("memory", &serde_json::json!({"total_bytes": 1})).is_none());
    }

    #[test]
    fn an_overlay_of_another_shape_changes_nothing() {
        let mut fs = serde_json::json!([{"mount_point": "/", "used_bytes": 1}]);
        let before = fs.clone();
        overlay(
            &mut fs,
            &serde_json::json!([{"used_bytes": 5}, {"used_bytes": 6}]),
        );
        assert_eq!(fs, before);
        let mut os = serde_json::json!({"boot_time": null, "kernel": "6.1"});
        overlay(
            &mut os,
            &serde_json::json!({"boot_time": "2026-11-21T08:00:00Z"}),
        );
        assert_eq!(os["boot_time"], "2026-11-21T08:00:00Z");
    }

    #[test]
    fn escaped_strings_and_numbers_hash_as_serde_json_writes_them() {
        let v = serde_json::json!({"name": "caf\u{e9} \"q\"\n", "n": -1.5, "t": true});
        let mut h1 = Sha256::new();
        canonical(&v, &mut h1);
        let mut h2 = Sha256::new();
        h2.update("{\"n\":-1.5,\"name\":\"caf\u{e9} \\\"q\\\"\\n\",\"t\":true}".as_bytes());
        assert_eq!(h1.finalize(), h2.finalize());
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
