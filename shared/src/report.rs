//! The envelope an agent pushes, and what the server answers.
//!
//! A report is either `full` (every section the agent could collect) or `delta` (only the
//! sections whose stable content changed since the server last acknowledged). Both carry the
//! hash of *every* current section, so the server can tell when its copy and the agent's
//! baseline have drifted apart (restore from backup, lost acknowledgement) and ask for a full
//! inventory instead of storing a wrong picture.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use crate::inventory::Inventory;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Full or delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    Full,
    Delta,
}

/// One push from an agent to `POST /api/v1/reports`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Must equal [`SCHEMA_VERSION`]; anything else is answered 422.
    pub schema_version: u32,
    /// Unique per report (the agent's spool file name); a redelivery carries the same id.
    pub report_id: String,
    pub kind: ReportKind,
    /// The agent's version string.
    pub agent_version: String,
    pub collected_at: DateTime<Utc>,
    /// Hash of every section the agent has now (see [`crate::hash::section_hash`]).
    pub section_hashes: BTreeMap<String, String>,
    /// The sections carried by this report.
    pub inventory: Inventory,
    /// Collectors that failed this time; their sections are absent, not empty.
    #[serde(default)]
    pub errors: Vec<CollectorError>,
}

/// A collector that failed; its section is left out of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CollectorError {
    pub collector: String,
    pub error: String,
}

/// The server's answer to an accepted report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReportAck {
    pub report_id: String,
    /// The host CI the report was applied to.
    pub ci_id: String,
    /// Which identification rule matched ("hardware_uuid", …, "new").
    pub identified_by: String,
    /// Attribute changes recorded as history by this report. A redelivered report (lost
    /// acknowledgement) finds its content already held and records none.
    pub changes: u32,
}

/// Answer 409 to a delta the server cannot apply: the agent must send a full inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ResyncRequired {
    pub error: String,
    /// Always true; lets the agent recognise this 409 without parsing text.
    pub resync_required: bool,
}

/// `POST /api/v1/enroll`: exchange a fleet enrollment token for a per-agent credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The host name, for the operator's agent list; identity is decided by inventories.
    pub hostname: String,
    pub agent_version: String,
}

/// The per-agent credential; shown once. Its `Debug` form hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EnrollResponse {
    pub agent_id: String,
    /// Bearer token for `POST /api/v1/reports`; the server keeps only its hash.
    pub token: String,
}

impl std::fmt::Debug for EnrollResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollResponse")
            .field("agent_id", &self.agent_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Error body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// Precise reason (4xx) or a generic message (5xx).
    pub error: String,
}
