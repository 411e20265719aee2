//! The stored CI document, typed: what every CI has, and its class's own fields. Every
//! creator — host and device ingest, discovery of services, people through the API and
//! imports — builds a [`NewCi`], and [`Store`](super::Store) writes it through one function
//! ([`create_ci_sql`]).

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::{StorageError, rid};
use crate::domain::identify::{DeviceKeys, HostKeys};

/// A new CI's document.
#[derive(Debug, Clone, Serialize)]
pub struct NewCi {
    pub class: String,
    pub name: String,
    /// The identification rule that created it: `new` (a report), `listening` (a service
    /// discovery found), `manual` (people).
    pub identified_by: String,
    /// Host identification keys; other classes have none (stored as `{}`).
    #[serde(serialize_with = "keys_or_empty")]
    pub keys: Option<HostKeys>,
    pub first_seen: String,
    pub last_seen: String,
    pub suspected_duplicates: Vec<String>,
    /// Hash of each stored section (see `cmdb_shared::hash`).
    pub section_hashes: BTreeMap<String, String>,
    pub package_count: usize,
    /// Denormalised for lists and search.
    pub addresses: Vec<String>,
    #[serde(flatten)]
    pub class_fields: ClassFields,
}

/// The fields of one class of CI.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ClassFields {
    /// A host, bound to the agent that reports it.
    Host {
        agent: String,
        /// Inventory sections (all but packages), as reported.
        sections: Map<String, Value>,
        os: Option<String>,
    },
    /// A network device polled over SNMP; `fields` are the denormalised ones (vendor, model,
    /// serial, chassis ids, targets).
    NetworkDevice {
        device_keys: DeviceKeys,
        poller: String,
        /// The agents that may poll it: the first poller, then whom an admin assigns.
        pollers: Vec<String>,
        sections: Map<String, Value>,
        #[serde(flatten)]
        fields: Map<String, Value>,
    },
    /// A listening service discovery found on a host.
    Service { service: Value },
    /// A CI people manage.
    Manual {
        description: Option<String>,
        owner: Option<String>,
        min_up: Option<u32>,
        core: bool,
        attributes: Value,
    },
}

fn keys_or_empty<S: Serializer>(keys: &Option<HostKeys>, s: S) -> Result<S::Ok, S::Error> {
    match keys {
        Some(k) => k.serialize(s),
        None => Map::new().serialize(s),
    }
}

impl NewCi {
    /// The fields every CI starts with, seen first and last at `now`.
    fn base(
        class: &str,
        name: String,
        identified_by: &str,
        now: &str,
        addresses: Vec<String>,
        class_fields: ClassFields,
    ) -> Self {
        Self {
            class: class.to_string(),
            name,
            identified_by: identified_by.to_string(),
            keys: None,
            first_seen: now.to_string(),
            last_seen: now.to_string(),
            suspected_duplicates: Vec::new(),
            section_hashes: BTreeMap::new(),
            package_count: 0,
            addresses,
            class_fields,
        }
    }

    /// A host first reported by `agent`.
    #[allow(clippy::too_many_arguments)]
    pub fn host(
        name: String,
        keys: HostKeys,
        agent: &str,
        now: &str,
        sections: Map<String, Value>,
        section_hashes: BTreeMap<String, String>,
        package_count: usize,
        os: Option<String>,
        addresses: Vec<String>,
    ) -> Self {
        let mut ci = Self::base(
            "host",
            name,
            "new",
            now,
            addresses,
            ClassFields::Host {
                agent: agent.to_string(),
                sections,
                os,
            },
        );
        ci.keys = Some(keys);
        ci.section_hashes = section_hashes;
        ci.package_count = package_count;
        ci
    }

    /// A network device first polled by `poller`; `fields` are its denormalised fields
    /// (`name` and `addresses` among them are taken out into the common ones).
    pub fn network_device(
        device_keys: DeviceKeys,
        poller: &str,
        now: &str,
        sections: Map<String, Value>,
        section_hashes: BTreeMap<String, String>,
        mut fields: Map<String, Value>,
    ) -> Self {
        let name = fields
            .remove("name")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let addresses = fields
            .remove("addresses")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let mut ci = Self::base(
            crate::domain::device_report::CLASS,
            name,
            "new",
            now,
            addresses,
            ClassFields::NetworkDevice {
                device_keys,
                poller: poller.to_string(),
                pollers: vec![poller.to_string()],
                sections,
                fields,
            },
        );
        ci.section_hashes = section_hashes;
        ci
    }

    /// A service listening on a host, found by discovery.
    pub fn service(name: String, now: &str, addresses: Vec<String>, service: Value) -> Self {
        Self::base(
            "service",
            name,
            "listening",
            now,
            addresses,
            ClassFields::Service { service },
        )
    }

    /// A CI people manage (validated by the caller).
    #[allow(clippy::too_many_arguments)]
    pub fn manual(
        class: String,
        name: String,
        now: &str,
        description: Option<String>,
        owner: Option<String>,
        min_up: Option<u32>,
        core: bool,
        attributes: Value,
    ) -> Self {
        Self::base(
            &class,
            name,
            "manual",
            now,
            Vec::new(),
            ClassFields::Manual {
                description,
                owner,
                min_up,
                core,
                attributes,
            },
        )
    }
}

/// A CI document to write: a whole new one, or the top-level fields of an existing one to
/// set.
#[derive(Debug, Clone)]
pub enum CiDoc {
    New(Box<NewCi>),
    Update(Map<String, Value>),
}

/// Appends the statement that writes the new CI `key` from `doc` (bound as `$var`): CREATE,
/// or UPSERT where the caller replaces a CI that may exist (a service discovery found again).
pub(super) fn create_ci_sql(
    key: &str,
    doc: &NewCi,
    var: &str,
    upsert: bool,
    sql: &mut String,
    vars: &mut Map<String, Value>,
) -> Result<(), StorageError> {
    let verb = if upsert { "UPSERT" } else { "CREATE" };
    sql.push_str(&format!("{verb} {} CONTENT ${var};\n", rid("ci", key)?));
    vars.insert(var.to_string(), serde_json::to_value(doc)?);
    Ok(())
}

/// SET clauses for top-level CI fields (names checked: lowercase letters and `_`), their
/// values bound as `$<prefix><i>`. With `null_removes`, a null value removes the field
/// (`= NONE`) instead of storing null.
pub(super) fn set_fields(
    fields: &Map<String, Value>,
    prefix: &str,
    null_removes: bool,
    sets: &mut Vec<String>,
    vars: &mut Map<String, Value>,
) -> Result<(), StorageError> {
    for (i, (field, value)) in fields.iter().enumerate() {
        if !field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(StorageError::BadKey(field.clone()));
        }
        if null_removes && value.is_null() {
            sets.push(format!("{field} = NONE"));
        } else {
            sets.push(format!("{field} = ${prefix}{i}"));
            vars.insert(format!("{prefix}{i}"), value.clone());
        }
    }
    Ok(())
}
