//! Record shapes as stored. Times are RFC 3339 UTC strings with millisecond precision
//! (`2026-11-21T08:15:00.000Z`), which sort correctly as text.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// pids) were last measured; they are kept apart from the CI and overlaid when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_at: Option<String>,
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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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

/// A coalesced heartbeat.
#[derive(Debug, Clone)]
pub struct LastSeen {
    pub agent_key: String,
    pub ci_key: Option<String>,
    pub at: String,
    pub agent_version: String,
}
