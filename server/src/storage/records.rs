//! Record shapes as stored. Times are RFC 3339 UTC strings with millisecond precision
//! (`2026-11-21T08:15:00.000Z`), which sort correctly as text.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::device::DeviceKeys;
use crate::domain::identify::HostKeys;

/// A credential: human API token, fleet enrollment token or agent token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    #[serde(default)]
    pub key: String,
    /// SHA-256 of the token.
    pub hash: String,
    pub role: String,
    pub description: String,
    pub created_at: String,
    #[serde(default)]
    pub revoked: bool,
    /// For agent tokens: the agent key.
    #[serde(default)]
    pub agent: Option<String>,
}

/// An enrolled agent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentRecord {
    #[serde(default)]
    pub key: String,
    pub hostname: String,
    pub agent_version: String,
    pub enrolled_at: String,
    #[serde(default)]
    pub last_seen: Option<String>,
    /// The host CI this agent reports for, once identified.
    #[serde(default)]
    pub ci: Option<String>,
}

/// A stored configuration item, complete.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CiRecord {
    #[serde(default)]
    pub key: String,
    pub class: String,
    pub name: String,
    pub identified_by: String,
    pub keys: HostKeys,
    pub first_seen: String,
    pub last_seen: String,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub suspected_duplicates: Vec<String>,
    /// Inventory sections (all but packages), as reported.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub sections: serde_json::Map<String, Value>,
    /// Hash of each section the server holds (see `cmdb_shared::hash`).
    #[serde(default)]
    pub section_hashes: std::collections::BTreeMap<String, String>,
    /// Keys of `package` records installed on this host (stored apart, in `ci_software`;
    /// filled only when asked for).
    #[serde(default, skip_serializing)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub package_count: u64,
    /// Denormalised for lists and search.
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    /// When the volatile values in `sections` (boot time, CPU clock, filesystem usage, socket
    /// pids; a device's interface status, storage use and processor load) were last
    /// measured; they are kept apart from the CI and overlaid when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_at: Option<String>,
    /// Network devices: identification keys (hosts use `keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_keys: Option<DeviceKeys>,
    /// Network devices: the agent whose poll last changed the CI. The device is not bound to
    /// it (`agent` stays empty): any poller may report any device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poller: Option<String>,
    /// Network devices: the hosts (addresses or DNS names) pollers reached the device at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Denormalised for lists and search (network devices).
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Network devices, for search: base bridge MAC and LLDP chassis id, lowercase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chassis_ids: Vec<String>,
}

/// What CI lists show.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CiSummary {
    pub key: String,
    pub class: String,
    pub name: String,
    pub identified_by: String,
    pub first_seen: String,
    pub last_seen: String,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub package_count: u64,
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub suspected_duplicates: Vec<String>,
    /// Network devices: vendor and model.
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// Filters of the CI list.
#[derive(Debug, Clone, Default)]
pub struct CiFilter {
    pub class: Option<String>,
    pub q: Option<String>,
    pub stale: Option<bool>,
    /// CIs last seen before this time are stale.
    pub stale_cutoff: String,
    pub limit: u32,
    pub offset: u32,
}

/// One changed attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryRecord {
    pub ci: String,
    pub at: String,
    /// Who changed it: `agent:<key>`.
    pub source: String,
    pub attribute: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub old: Value,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub new: Value,
}

/// A distinct package (manager, name, version, architecture), shared by every host that has it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PackageRecord {
    #[serde(default)]
    pub key: String,
    pub manager: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub architecture: Option<String>,
}

/// A package to insert (the key travels as `id`).
#[derive(Debug, Clone, Serialize)]
pub struct NewPackage {
    pub id: String,
    pub manager: String,
    pub name: String,
    pub version: String,
    pub architecture: Option<String>,
}

/// A host matched by a software search.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SoftwareHostRow {
    pub key: String,
    pub name: String,
    pub last_seen: String,
    #[serde(default)]
    pub matched: Vec<String>,
}

/// Everything one report writes.
#[derive(Debug, Clone)]
pub struct CiWrite {
    pub ci_key: String,
    pub create: bool,
    /// For `create`, the whole document; otherwise the top-level fields to merge.
    pub ci_doc: Value,
    /// Sections to replace (updates only).
    pub sections: Vec<(String, Value)>,
    pub history: Vec<HistoryRecord>,
    pub agent_key: String,
    pub agent_version: String,
    /// Write the agent's binding to this CI (new CI, or the CI changed agents); otherwise the
    /// agent record is left alone and its last-seen time goes through the coalesced heartbeats.
    pub bind_agent: bool,
    /// Another agent that was bound to this CI and loses it (reimaged host, new agent).
    pub unbind_agent: Option<String>,
    /// Other CIs the identification rule also matched.
    pub duplicates: Vec<String>,
    /// The CI's permanent MACs, when they may have changed (maintains the MAC lookup table).
    pub macs: Option<Vec<String>>,
    /// The CI's package keys, when its package list changed.
    pub packages: Option<Vec<String>>,
    /// The report's volatile values, written with the rest.
    pub volatile: Option<VolatileWrite>,
    pub now: String,
}

/// The latest volatile values of a CI's sections: `(section, stable hash, volatile part)`
/// (see `cmdb_shared::hash::volatile_part`). Small and written often, so they live in a
/// record of their own (`ci_volatile`) instead of rewriting the CI document.
#[derive(Debug, Clone)]
pub struct VolatileWrite {
    pub ci_key: String,
    pub at: String,
    pub sections: Vec<(String, String, Value)>,
}

/// What device ingestion reads of a known device CI before deciding what to write: no
/// inventory, only hashes, keys and the previous sample.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceForUpdate {
    pub key: String,
    pub class: String,
    #[serde(default)]
    pub device_keys: DeviceKeys,
    #[serde(default)]
    pub targets: Vec<String>,
    /// Hash of the stable section.
    #[serde(default)]
    pub stable_hash: Option<String>,
    /// Time of the previous sample (`device_state.sample_at`).
    #[serde(default)]
    pub sample_at: Option<String>,
    #[serde(default)]
    pub uptime_ticks: Option<u32>,
    /// Hash of the stored topology observations.
    #[serde(default)]
    pub topology_hash: Option<String>,
}

/// Everything one device report writes, in one transaction.
#[derive(Debug, Clone)]
pub struct DeviceWrite {
    pub ci_key: String,
    pub create: bool,
    /// For `create`, the whole CI document; otherwise the top-level fields to set (none: the
    /// CI document is not rewritten).
    pub ci_doc: serde_json::Map<String, Value>,
    /// The rows of the `device_key` lookup table, when they may have changed.
    pub keys: Option<Vec<String>>,
    pub history: Vec<HistoryRecord>,
    /// Other CIs the identification rule also matched.
    pub duplicates: Vec<String>,
    /// The `device_state` record: latest volatile values and metrics sample, written each poll.
    pub state: Value,
    /// The `device_topology` record, when its hash changed.
    pub topology: Option<Value>,
}

/// The per-poll records of a device: `device_state` and `device_topology`.
#[derive(Debug, Clone, Default)]
pub struct DeviceObservations {
    pub state: Option<DeviceStateRecord>,
    pub topology: Option<DeviceTopologyRecord>,
}

/// `device_state`: the latest poll's volatile values and metrics sample (one per device,
/// rewritten every poll).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceStateRecord {
    /// When the server received the poll.
    pub at: String,
    /// When the sample was taken (never later than `at`).
    pub sample_at: String,
    pub collected_at: String,
    pub poller: String,
    pub target: String,
    pub source: cmdb_shared::device::TargetSource,
    /// Interface oper_status, storage used_bytes, processor load_percent by index (see
    /// `domain::device::split`).
    #[serde(default)]
    pub volatile: Value,
    pub metrics: cmdb_shared::device::DeviceMetrics,
}

/// `device_topology`: neighbours, forwarding and ARP entries of the latest poll that changed
/// them (one per device, replaced whole).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceTopologyRecord {
    /// When these entries were stored (they were unchanged in every poll since).
    pub at: String,
    #[serde(default)]
    pub lldp_neighbors: Vec<cmdb_shared::device::LldpNeighbor>,
    #[serde(default)]
    pub cdp_neighbors: Vec<cmdb_shared::device::CdpNeighbor>,
    #[serde(default)]
    pub forwarding: Vec<cmdb_shared::device::ForwardingEntry>,
    #[serde(default)]
    pub arp: Vec<cmdb_shared::device::ArpEntry>,
}

/// A coalesced heartbeat.
#[derive(Debug, Clone)]
pub struct LastSeen {
    pub agent_key: String,
    pub ci_key: Option<String>,
    pub at: String,
    pub agent_version: String,
}
