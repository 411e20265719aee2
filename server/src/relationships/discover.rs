//! Discovery after a report was stored: updates the directory with what the report says of
//! its CI, derives the edges ([`crate::domain::discovery`]) and upserts them.
//!
//! It works from the report in hand: a full inventory carries every section discovery reads
//! (identity, network, sockets, virtualization), so nothing is read back; a delta reads from
//! storage only the sections it does not carry. A failure here is logged and counted, never
//! turned into an error for the agent: the next report (or the refresh interval) derives the
//! same edges again. An unchanged derivation is skipped until `relationships.refresh_secs` has
//! passed, so steady polling costs no writes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cmdb_shared::device::DeviceInventory;
use cmdb_shared::{Identity, Inventory, NetworkInterface};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Relationships;
use crate::domain::device_report::{chassis_ids, device_addresses, device_name};
use crate::domain::discovery::{
    Directory, DiscoveredEdge, Facts, HostView, Port, ServiceFacts, derive_device, derive_host,
    device_facts, host_addresses, host_facts, listening_services, named_foreign_cis,
};
use crate::domain::identify::HostKeys;
use crate::storage::{DirectoryRow, GraphWrite, NewCi, StorageError, now_str};

/// The sections of a host report discovery reads.
const HOST_SECTIONS: [&str; 4] = ["identity", "network", "sockets", "virtualization"];

/// When each CI's derivation last ran, and what it produced.
#[derive(Debug, Default)]
pub(super) struct Throttle(Mutex<HashMap<String, (String, Instant)>>);

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

    /// Makes `ci`'s next report re-derive, changed or not.
    fn forget(&self, ci: &str) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(ci);
    }

    fn done(&self, ci: &str, hash: String) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 1_000_000 {
            m.clear();
        }
        m.insert(ci.to_string(), (hash, Instant::now()));
    }
}

fn hash_of(desired: &[DiscoveredEdge], services: &[ServiceFacts]) -> String {
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

/// The directory being loaded from storage (at start), a row at a time.
#[derive(Default)]
pub(super) struct DirectoryLoad {
    dir: Directory,
    services: HashMap<String, Vec<ServiceFacts>>,
}

impl DirectoryLoad {
    pub(super) fn row(&mut self, row: DirectoryRow) {
        load_row(&mut self.dir, &mut self.services, row);
    }

    pub(super) fn finish(mut self) -> Directory {
        for (host, s) in self.services {
            self.dir.set_services(&host, s);
        }
        self.dir
    }
}

pub(super) fn load_row(
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
                agent: r.agent.clone(),
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

impl Relationships {
    /// Discovery after a host report: always when it changed something, otherwise once per
    /// refresh interval.
    pub async fn discover_host(
        &self,
        ci: &str,
        agent: Option<&str>,
        report: &Inventory,
        changed: bool,
    ) {
        let refresh = Duration::from_secs(self.config.refresh_secs);
        if !changed && !self.throttle.expired(ci, refresh) {
            return;
        }
        if let Err(e) = self.host(ci, agent, report).await {
            self.telemetry.discovery_failures.inc();
            tracing::warn!(ci, error = %e, source = ?std::error::Error::source(&e), "relationship discovery failed; the next report retries");
        }
    }

    /// What discovery needs of a host: the report's sections, and from storage only those it
    /// does not carry (a delta, a collector that failed this time).
    async fn host_view(
        &self,
        ci: &str,
        agent: Option<&str>,
        report: &Inventory,
    ) -> Result<Option<(HostView, Option<String>, Vec<String>)>, StorageError> {
        let missing: Vec<&str> = HOST_SECTIONS
            .into_iter()
            .filter(|s| !report.has(s))
            .collect();
        let stored = if missing.is_empty() {
            None
        } else {
            match self.store.ci_for_update(ci, &missing, false).await? {
                Some(rec) if rec.class == "host" => Some(rec),
                _ => return Ok(None),
            }
        };
        let section = |name: &str| -> Option<Value> {
            stored
                .as_ref()
                .and_then(|r| r.sections.get(name))
                .filter(|v| !v.is_null())
                .cloned()
        };
        let identity: Option<Identity> = match &report.identity {
            Some(i) => Some(i.clone()),
            None => section("identity").and_then(|v| serde_json::from_value(v).ok()),
        };
        let network: Vec<NetworkInterface> = match &report.network {
            Some(n) => n.clone(),
            None => section("network")
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
        };
        let sockets = match &report.sockets {
            Some(s) => Some(s.clone()),
            None => section("sockets").and_then(|v| serde_json::from_value(v).ok()),
        };
        let virtualization = match &report.virtualization {
            Some(v) => Some(v.clone()),
            None => section("virtualization").and_then(|v| serde_json::from_value(v).ok()),
        };
        let keys = match (&identity, &stored) {
            (Some(identity), _) => HostKeys::from_inventory(identity, Some(&network)),
            (None, Some(rec)) => rec.keys.clone(),
            (None, None) => HostKeys::default(),
        };
        let name = identity
            .as_ref()
            .map(|i| i.hostname.clone())
            .or_else(|| stored.as_ref().map(|r| r.name.clone()))
            .unwrap_or_default();
        let addresses = host_addresses(&network);
        let view = HostView {
            key: ci.to_string(),
            name,
            network,
            sockets,
            virtualization,
            hardware_uuid: keys.hardware_uuid.clone(),
            agent: agent.map(str::to_string),
        };
        Ok(Some((view, keys.fqdn, addresses)))
    }

    async fn host(
        &self,
        ci: &str,
        agent: Option<&str>,
        report: &Inventory,
    ) -> Result<(), StorageError> {
        let Some((view, fqdn, addresses)) = self.host_view(ci, agent, report).await? else {
            return Ok(());
        };
        let now = now_str();
        let services = view
            .sockets
            .as_ref()
            .map(|s| listening_services(ci, s, self.config.max_services_per_host))
            .unwrap_or_default();
        let (desired, previous) = off_workers(|| {
            let mut dir = self.directory_mut();
            dir.set(ci, host_facts(&view, fqdn.as_deref(), &addresses));
            let previous = dir.services_of(ci).to_vec();
            dir.set_services(ci, services.clone());
            // Hosts of other agents this report names: their own next report re-derives.
            for other in named_foreign_cis(&dir, &view) {
                self.throttle.forget(&other);
            }
            (derive_host(&dir, &view), previous)
        });
        let hash = hash_of(&desired, &services);
        let refresh = Duration::from_secs(self.config.refresh_secs);
        if !self.throttle.due(ci, &hash, refresh) {
            return Ok(());
        }
        let mut base = GraphWrite::default();
        // Services the directory does not list for this host may still be stored (a service that
        // came back): one lookup for all of them.
        let unlisted: Vec<String> = services
            .iter()
            .filter(|s| !previous.iter().any(|p| p.key == s.key))
            .map(|s| s.key.clone())
            .collect();
        let stored = self.store.existing_cis(&unlisted).await?;
        for s in &services {
            let service =
                json!({ "host": ci, "process": s.process, "ports": s.ports, "protocol": "tcp" });
            let known = previous.iter().any(|p| p.key == s.key) || stored.contains(&s.key);
            if !known {
                base.cis.push((
                    s.key.clone(),
                    NewCi::service(
                        format!("{} on {}", s.process, view.name),
                        &now,
                        addresses.clone(),
                        service,
                    ),
                ));
            } else {
                base.ci_updates.push((
                    s.key.clone(),
                    json!({ "last_seen": now, "service": service, "addresses": addresses }),
                ));
            }
        }
        self.upsert_discovered(base, &desired).await?;
        self.throttle.done(ci, hash);
        Ok(())
    }

    /// Discovery after a device poll.
    pub async fn discover_device(&self, ci: &str, inv: &DeviceInventory) {
        if let Err(e) = self.device(ci, inv).await {
            self.telemetry.discovery_failures.inc();
            tracing::warn!(ci, error = %e, source = ?std::error::Error::source(&e), "relationship discovery failed; the next poll retries");
        }
    }

    async fn device(&self, ci: &str, inv: &DeviceInventory) -> Result<(), StorageError> {
        let name = device_name(inv);
        let addresses = device_addresses(inv, std::slice::from_ref(&inv.target));
        let chassis = chassis_ids(inv);
        let max_macs = self.config.max_macs_per_access_port;
        let desired = off_workers(|| {
            let mut dir = self.directory_mut();
            dir.set(ci, device_facts(&name, inv, &addresses, &chassis));
            derive_device(&dir, ci, inv, max_macs)
        });
        let hash = hash_of(&desired, &[]);
        let refresh = Duration::from_secs(self.config.refresh_secs);
        if !self.throttle.due(ci, &hash, refresh) {
            return Ok(());
        }
        self.upsert_discovered(GraphWrite::default(), &desired)
            .await?;
        self.throttle.done(ci, hash);
        Ok(())
    }

    fn directory_mut(&self) -> std::sync::RwLockWriteGuard<'_, Directory> {
        self.directory.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs a derivation (CPU-bound: a core switch's forwarding table, a host's connections)
/// off the async workers: on the multi-threaded runtime this worker hands its other tasks
/// to another thread while it runs (`block_in_place`); elsewhere (a current-thread runtime,
/// as in unit tests) it runs inline.
fn off_workers<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
