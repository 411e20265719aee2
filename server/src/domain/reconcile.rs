//! Reconciliation: what changed between the stored picture of a host and a new report.
//!
//! History keeps changes, not snapshots: each section is flattened into named attributes
//! (`os.version_id`, `network.eth0.mtu`, `packages.dpkg:openssl:amd64`, …) with volatile values
//! left out, and one change is produced per attribute whose value differs. Keys of list
//! sections are natural keys (interface name, mount point, package name and architecture), so
//! a reordered list is not a change.

use std::collections::BTreeMap;

use cmdb_shared::hash::strip_volatile;
use serde_json::Value;

/// One changed attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeChange {
    pub attribute: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl AttributeChange {
    /// The change that records a CI's creation: attribute `ci`, from nothing to "created".
    pub fn created() -> Self {
        Self {
            attribute: "ci".into(),
            old: None,
            new: Some(Value::String("created".into())),
        }
    }
}

/// Flattens one section (in JSON form) into attributes. Packages are handled by
/// [`package_attributes`] because the server stores them normalised.
pub fn section_attributes(section: &str, value: &Value) -> BTreeMap<String, Value> {
    let mut value = value.clone();
    strip_volatile(section, &mut value);
    let mut out = BTreeMap::new();
    match (section, &value) {
        ("sockets", Value::Object(map)) => {
            if let Some(Value::Array(items)) = map.get("listening") {
                for item in items {
                    let key = format!(
                        "sockets.listening.{}/{}:{}",
                        str_field(item, "protocol"),
                        str_field(item, "address"),
                        item.get("port").cloned().unwrap_or(Value::Null)
                    );
                    out.insert(key, item.get("process").cloned().unwrap_or(Value::Null));
                }
            }
            // Established connections are observations for dependency discovery, not
            // configuration: they are stored with the CI but never produce history.
        }
        (_, Value::Array(items)) => {
            for item in items {
                let key = list_key(section, item);
                flatten(&format!("{section}.{key}"), item, &mut out);
            }
        }
        _ => flatten(section, &value, &mut out),
    }
    out
}

/// The natural key of an element of a list section.
fn list_key(section: &str, item: &Value) -> String {
    match section {
        "filesystems" => str_field(item, "mount_point"),
        "services" | "disks" | "network" => str_field(item, "name"),
        _ => serde_json::to_string(item).unwrap_or_default(),
    }
}

fn str_field(item: &Value, field: &str) -> String {
    match item.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        // Lists inside an element (an interface's addresses) are compared as a whole.
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// A network device's stable section (see [`super::device_report::split`]) as attributes:
/// `device.firmware`, `device.system.location`, `device.interfaces.Gi1/0/1.speed_mbps`,
/// `device.components.PSU 1.serial`, `device.addresses.10.0.0.1.prefix_len`, …
/// Interfaces, components and storage are keyed by name (their index when the name is empty
/// or taken), addresses by address, processors by index, so reordering is not a change.
pub fn device_attributes(stable: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Value::Object(map) = stable else {
        return out;
    };
    for (field, value) in map {
        let Value::Array(items) = value else {
            flatten(&format!("device.{field}"), value, &mut out);
            continue;
        };
        let natural = match field.as_str() {
            "interfaces" | "components" => "name",
            "storage" => "description",
            "addresses" => "address",
            _ => "index",
        };
        let mut taken = std::collections::BTreeSet::new();
        for item in items {
            let mut key = match item.get(natural) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            if key.is_empty() || !taken.insert(key.clone()) {
                key = format!("#{}", str_field(item, "index"));
                taken.insert(key.clone());
            }
            flatten(&format!("device.{field}.{key}"), item, &mut out);
        }
    }
    out
}

/// Packages as attributes: `packages.<manager>:<name>:<arch>` → version. Several versions of
/// one name and architecture (kernels on rpm) are joined in version order.
pub fn package_attributes<'a>(
    packages: impl IntoIterator<Item = &'a cmdb_shared::Package>,
) -> BTreeMap<String, Value> {
    let mut grouped: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for p in packages {
        let key = format!(
            "packages.{}:{}:{}",
            p.manager,
            p.name,
            p.architecture.as_deref().unwrap_or("")
        );
        grouped.entry(key).or_default().push(&p.version);
    }
    grouped
        .into_iter()
        .map(|(k, mut versions)| {
            versions.sort_unstable();
            versions.dedup();
            (k, Value::String(versions.join(", ")))
        })
        .collect()
}

/// The changes between two attribute maps.
pub fn diff(old: &BTreeMap<String, Value>, new: &BTreeMap<String, Value>) -> Vec<AttributeChange> {
    let mut changes = Vec::new();
    for (k, v) in new {
        match old.get(k) {
            Some(o) if o == v => {}
            o => changes.push(AttributeChange {
                attribute: k.clone(),
                old: o.cloned(),
                new: Some(v.clone()),
            }),
        }
    }
    for (k, o) in old {
        if !new.contains_key(k) {
            changes.push(AttributeChange {
                attribute: k.clone(),
                old: Some(o.clone()),
                new: None,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changing_one_value_is_one_change_with_old_and_new() {
        let old = section_attributes(
            "os",
            &json!({"id": "debian", "version_id": "12", "boot_time": "a"}),
        );
        let new = section_attributes(
            "os",
            &json!({"id": "debian", "version_id": "13", "boot_time": "b"}),
        );
        assert_eq!(
            diff(&old, &new),
            vec![AttributeChange {
                attribute: "os.version_id".into(),
                old: Some(json!("12")),
                new: Some(json!("13"))
            }]
        );
    }

    #[test]
    fn reordered_lists_and_volatile_values_are_not_changes() {
        let a = json!([
            {"mount_point": "/", "device": "/dev/vda", "fs_type": "ext4", "size_bytes": 10, "used_bytes": 1},
            {"mount_point": "/boot", "device": "/dev/vda1", "fs_type": "ext4", "size_bytes": 5, "used_bytes": 1}
        ]);
        let b = json!([
            {"mount_point": "/boot", "device": "/dev/vda1", "fs_type": "ext4", "size_bytes": 5, "used_bytes": 2},
            {"mount_point": "/", "device": "/dev/vda", "fs_type": "ext4", "size_bytes": 10, "used_bytes": 7}
        ]);
        assert!(
            diff(
                &section_attributes("filesystems", &a),
                &section_attributes("filesystems", &b)
            )
            .is_empty()
        );
    }

    #[test]
    fn package_upgrade_add_and_removal_are_one_change_each() {
        let p = |n: &str, v: &str| cmdb_shared::Package {
            manager: "dpkg".into(),
            name: n.into(),
            version: v.into(),
            architecture: Some("amd64".into()),
        };
        let old = package_attributes(&[p("openssl", "3.0.11-1"), p("vim", "2:9.0")]);
        let new = package_attributes(&[p("openssl", "3.0.13-1"), p("curl", "7.88")]);
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 3);
        assert!(changes.contains(&AttributeChange {
            attribute: "packages.dpkg:openssl:amd64".into(),
            old: Some(json!("3.0.11-1")),
            new: Some(json!("3.0.13-1"))
        }));
    }

    #[test]
    fn a_device_firmware_change_is_one_change_and_reordered_interfaces_none() {
        let a = json!({"firmware": "15.2(4)E", "system": {"name": "sw1", "location": "R1"},
            "interfaces": [{"index": 1, "name": "Gi0/1", "mtu": 1500}, {"index": 2, "name": "Gi0/2", "mtu": 1500}],
            "components": [{"index": 5, "name": null, "serial": "A"}, {"index": 6, "name": null, "serial": "B"}]});
        let b = json!({"firmware": "15.2(7)E", "system": {"name": "sw1", "location": "R1"},
            "interfaces": [{"index": 2, "name": "Gi0/2", "mtu": 1500}, {"index": 1, "name": "Gi0/1", "mtu": 1500}],
            "components": [{"index": 6, "name": null, "serial": "B"}, {"index": 5, "name": null, "serial": "A"}]});
        let attrs = device_attributes(&a);
        assert_eq!(attrs["device.interfaces.Gi0/2.mtu"], json!(1500));
        assert_eq!(attrs["device.components.#6.serial"], json!("B"));
        assert_eq!(
            diff(&attrs, &device_attributes(&b)),
            vec![AttributeChange {
                attribute: "device.firmware".into(),
                old: Some(json!("15.2(4)E")),
                new: Some(json!("15.2(7)E"))
            }]
        );
    }

    #[test]
    fn listening_sockets_are_history_but_connections_and_pids_are_not() {
        let a = json!({"listening": [{"protocol": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd", "pid": 10}],
                       "connections": [{"remote_address": "10.0.0.1"}]});
        let b = json!({"listening": [{"protocol": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd", "pid": 99}],
                       "connections": []});
        let attrs = section_attributes("sockets", &a);
        assert_eq!(attrs.len(), 1);
        assert!(diff(&attrs, &section_attributes("sockets", &b)).is_empty());
    }
}
