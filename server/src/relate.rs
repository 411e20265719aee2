//! Runs relationship discovery after a report was stored: updates the directory with what the
//! report says of its CI, derives the edges ([`crate::discovery`]) and upserts them through
//! [`crate::relations::Relations`].
//!
//! It runs after the report was acknowledged-worthy (stored); a failure here is logged and
//! counted, never turned into an error for the agent: the next report (or the refresh
//! interval) derives the same edges again. An unchanged derivation is skipped until
//! `relationships.refresh_secs` has passed, so steady polling costs no reads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cmdb_shared::device::DeviceInventory;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::discovery::{
    Directory, Facts, HostView, Port, ServiceFacts, derive_device, derive_host, device_facts,
    host_facts, services_of,
};
use crate::ingest::now_str;
use crate::relations::Desired;
use crate::storage::{CiRecord, DirectoryRow, RelWrite, StorageError, Store};

/// When each CI's derivation last ran, and what it produced.
#[derive(Debug, Default)]
pub struct Throttle(Mutex<HashMap<String, (String, Instant)>>);

impl Throttle {
    /// True when `ci`'s derivation (hashed to `hash`) must be written: it changed, or the last
    /// write is older than `refresh`.
    fn due(&self, ci: &str, hash: &str, refresh: Duration) -> bool {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        !m.get(ci)
            .is_some_and(|(h, at)| h == hash && at.elapsed() < refresh)
    }

    /// True when `ci` was not derived within `refresh`.
    fn expired(&self, ci: &str, refresh: Duration) -> bool {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(ci).is_none_or(|(_, at)| at.elapsed() >= refresh)
    }

    fn done(&self, ci: &str, hash: String) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 1_000_000 {
            m.clear();
        }
        m.insert(ci.to_string(), (hash, Instant::now()));
    }
}

fn hash_of(desired: &[Desired], services: &[ServiceFacts]) -> String {
    let mut h = Sha256::new();
    for d in desired {
        h.update(d.key.as_bytes());
        h.update(d.discovered_by.as_bytes());
        h.update(d.evidence.to_string().as_bytes());
    }
    for s in services {
        h.update(s.key.as_bytes());
        h.update(format!("{:?}", s.ports).as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

fn section<T: serde::de::DeserializeOwned>(v: Option<&Value>) -> Option<T> {
    v.filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn host_view(rec: &CiRecord) -> HostView {
    HostView {
        key: rec.key.clone(),
        name: rec.name.clone(),
        network: section(rec.sections.get("network")).unwrap_or_default(),
        sockets: section(rec.sections.get("sockets")),
        virtualization: section(rec.sections.get("virtualization")),
        hardware_uuid: rec.keys.hardware_uuid.clone(),
    }
}

/// Loads the directory from storage (at start).
pub async fn load_directory(store: &Store) -> Result<Directory, StorageError> {
    let mut dir = Directory::default();
    let mut services: HashMap<String, Vec<ServiceFacts>> = HashMap::new();
    for row in store.directory_rows().await? {
        load_row(&mut dir, &mut services, row);
    }
    for (host, s) in services {
        dir.set_services(&host, s);
    }
    Ok(dir)
}

fn load_row(
    dir: &mut Directory,
    services: &mut HashMap<String, Vec<ServiceFacts>>,
    r: DirectoryRow,
) {
    let addresses = r.addresses.clone().unwrap_or_default();
    match r.class.as_str() {
        "host" => {
            let view = HostView {
                key: r.key.clone(),
                name: r.name.clone(),
                network: section(r.network.as_ref()).unwrap_or_default(),
                sockets: None,
                virtualization: section(r.virtualization.as_ref()),
                hardware_uuid: r.uuid.clone(),
            };
            dir.set(&r.key, host_facts(&view, r.fqdn.as_deref(), &addresses));
        }
        "network_device" => {
            let ports: Vec<Port> = section(r.interfaces.as_ref()).unwrap_or_default();
            dir.set(
                &r.key,
                Facts {
                    class: r.class.clone(),
                    names: vec![r.name.clone()],
                    addresses: addresses.iter().filter_map(|a| a.parse().ok()).collect(),
                    chassis: r.chassis_ids.clone().unwrap_or_default(),
                    serial: r.serial.clone(),
                    ports,
                    ..Default::default()
                },
            );
        }
        "service" => {
            let s = r.service.unwrap_or(Value::Null);
            if let (Some(host), Some(process)) = (
                s.get("host").and_then(Value::as_str),
                s.get("process").and_then(Value::as_str),
            ) {
                let ports = s
                    .get("ports")
                    .and_then(|p| serde_json::from_value(p.clone()).ok())
                    .unwrap_or_default();
                services
                    .entry(host.to_string())
                    .or_default()
                    .push(ServiceFacts {
                        key: r.key.clone(),
                        process: process.to_string(),
                        ports,
                    });
            }
        }
        _ => {}
    }
}

/// Discovery after a host report: always when it changed something, otherwise once per
/// refresh interval.
pub async fn after_host(state: &AppState, ci: &str, changed: bool) {
    let refresh = Duration::from_secs(state.relations.config().refresh_secs);
    if !changed && !state.throttle.expired(ci, refresh) {
        return;
    }
    if let Err(e) = host(state, ci).await {
        state.metrics.discovery_failures.inc();
        tracing::warn!(ci, error = %e, source = ?std::error::Error::source(&e), "relationship discovery failed; the next report retries");
    }
}

async fn host(state: &AppState, ci: &str) -> Result<(), StorageError> {
    let Some(rec) = state.store.ci(ci).await? else {
        return Ok(());
    };
    if rec.class != "host" {
        return Ok(());
    }
    let view = host_view(&rec);
    let now = now_str();
    let services = view
        .sockets
        .as_ref()
        .map(|s| services_of(ci, s))
        .unwrap_or_default();
    let (desired, previous) = {
        let mut dir = state.directory.write();
        dir.set(
            ci,
            host_facts(&view, rec.keys.fqdn.as_deref(), &rec.addresses),
        );
        let previous = dir.services_of(ci).to_vec();
        dir.set_services(ci, services.clone());
        (derive_host(&dir, &view), previous)
    };
    let hash = hash_of(&desired, &services);
    let refresh = Duration::from_secs(state.relations.config().refresh_secs);
    if !state.throttle.due(ci, &hash, refresh) {
        return Ok(());
    }
    let mut base = RelWrite::default();
    // Services the directory does not list for this host may still be stored (a service that
    // came back): one lookup for all of them.
    let unlisted: Vec<String> = services
        .iter()
        .filter(|s| !previous.iter().any(|p| p.key == s.key))
        .map(|s| s.key.clone())
        .collect();
    let stored = state.store.existing_cis(&unlisted).await?;
    for s in &services {
        let service =
            json!({ "host": ci, "process": s.process, "ports": s.ports, "protocol": "tcp" });
        let known = previous.iter().any(|p| p.key == s.key) || stored.contains(&s.key);
        if !known {
            base.cis.push((
                s.key.clone(),
                json!({
                    "class": "service",
                    "name": format!("{} on {}", s.process, rec.name),
                    "identified_by": "listening",
                    "keys": {},
                    "first_seen": now,
                    "last_seen": now,
                    "suspected_duplicates": [],
                    "section_hashes": {},
                    "package_count": 0,
                    "addresses": rec.addresses,
                    "service": service,
                }),
            ));
        } else {
            base.ci_updates.push((
                s.key.clone(),
                json!({ "last_seen": now, "service": service, "addresses": rec.addresses }),
            ));
        }
    }
    state
        .relations
        .upsert_discovered(&state.store, base, &desired)
        .await?;
    state.throttle.done(ci, hash);
    Ok(())
}

/// Discovery after a device poll.
pub async fn after_device(state: &AppState, ci: &str, inv: &DeviceInventory) {
    if let Err(e) = device(state, ci, inv).await {
        state.metrics.discovery_failures.inc();
        tracing::warn!(ci, error = %e, source = ?std::error::Error::source(&e), "relationship discovery failed; the next poll retries");
    }
}

async fn device(state: &AppState, ci: &str, inv: &DeviceInventory) -> Result<(), StorageError> {
    // From the report itself, as ingestion stored it: no read per poll.
    let name = crate::domain::device::device_name(inv);
    let addresses = crate::domain::device::device_addresses(inv, std::slice::from_ref(&inv.target));
    let chassis: Vec<String> = inv
        .base_bridge_mac
        .iter()
        .cloned()
        .chain(
            inv.lldp_local
                .iter()
                .map(|l| l.chassis_id.trim().to_lowercase()),
        )
        .filter(|c| !c.is_empty())
        .collect();
    let max_macs = state.relations.config().max_macs_per_access_port;
    let desired = {
        let mut dir = state.directory.write();
        dir.set(ci, device_facts(&name, inv, &addresses, &chassis));
        derive_device(&dir, ci, inv, max_macs)
    };
    let hash = hash_of(&desired, &[]);
    let refresh = Duration::from_secs(state.relations.config().refresh_secs);
    if !state.throttle.due(ci, &hash, refresh) {
        return Ok(());
    }
    state
        .relations
        .upsert_discovered(&state.store, RelWrite::default(), &desired)
        .await?;
    state.throttle.done(ci, hash);
    Ok(())
}
