//! Availability records: the signals each CI's timeline is derived from, the server's own
//! running time, SLA targets and maintenance windows. Times are unix seconds.
//!
//! - `signal:[ci, source, name]`: merged spans of one signal (heartbeats of a host, one
//!   probe, SNMP reachability, reboots), `[start, end, state]` each; a new observation extends
//!   the last span or opens a new one, so a record grows with state changes, not samples.
//! - `server_run:⟨key⟩`: one per server start, with the last time it was known alive: while
//!   no server was running, time is unknown, not down.
//! - `sla:⟨ci⟩`: a CI's (or business service's) target and agreed service hours.
//! - `maintenance:⟨key⟩`: planned downtime of a CI.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{StorageError, Store, rid, valid_key};

/// One signal of one CI, with its spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRecord {
    pub ci: String,
    /// `heartbeat`, `probe`, `snmp` or `reboot`.
    pub source: String,
    /// The probe's name (with its agent) for probes; empty otherwise.
    #[serde(default)]
    pub name: String,
    /// Seconds between observations the signal promises.
    pub interval: i64,
    /// `[start, end, state]`, sorted; state 0 up, 1 degraded, 2 down.
    pub spans: Vec<(i64, i64, u8)>,
    /// The newest boot instant seen (heartbeats and device uptimes), for reboots.
    #[serde(default)]
    pub boot: Option<i64>,
}

/// A run of a server instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRun {
    pub start: i64,
    pub alive: i64,
}

/// An SLA target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaRecord {
    #[serde(default)]
    pub ci: String,
    /// Target availability, percent of agreed time.
    pub target_pct: f64,
    /// Agreed service hours: `24x7` or a weekly schedule with its time zone.
    pub schedule: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// A maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaintenanceRecord {
    #[serde(default)]
    pub key: String,
    pub ci: String,
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    pub reason: String,
    pub created_by: String,
}

/// A state entered by hand over a period: it replaces what the signals said there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ManualStateRecord {
    #[serde(default)]
    pub key: String,
    pub ci: String,
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    /// `up`, `degraded` or `down`.
    pub state: String,
    pub reason: String,
    pub created_by: String,
}

pub(super) fn signal_id(ci: &str, source: &str, name: &str) -> Result<String, StorageError> {
    if !valid_key(ci) || !valid_key(source) {
        return Err(StorageError::BadKey(format!("{ci}/{source}")));
    }
    Ok(format!(
        "signal:['{ci}', '{source}', '{}']",
        super::series::instance_key(name)
    ))
}

impl Store {
    /// The signals of `ci`.
    pub async fn signals_of(&self, ci: &str) -> Result<Vec<SignalRecord>, StorageError> {
        if !valid_key(ci) {
            return Err(StorageError::BadKey(ci.to_string()));
        }
        let sql = format!(
            "SELECT ci, source, name, interval, spans, boot FROM signal:['{ci}']..['{ci}', {{}}]"
        );
        self.query_rows(&sql, Value::Null).await
    }

    /// Every CI's signals.
    pub async fn all_signals(&self) -> Result<Vec<SignalRecord>, StorageError> {
        self.query_rows(
            "SELECT ci, source, name, interval, spans, boot FROM signal",
            Value::Null,
        )
        .await
    }

    /// Records that server run `key` (started at `start`) is alive at `alive`.
    pub async fn server_alive(
        &self,
        key: &str,
        start: i64,
        alive: i64,
    ) -> Result<(), StorageError> {
        let sql = format!(
            "UPSERT {} CONTENT {{ start: $start, alive: $alive }}",
            rid("server_run", key)?
        );
        self.run_write(&sql, json!({ "start": start, "alive": alive }))
            .await
    }

    /// Every server run overlapping [from, ∞).
    pub async fn server_runs(&self, from: i64) -> Result<Vec<ServerRun>, StorageError> {
        self.query_rows(
            "SELECT start, alive FROM server_run WHERE alive >= $from ORDER BY start",
            json!({ "from": from }),
        )
        .await
    }

    /// Sets the SLA of a CI.
    pub async fn put_sla(&self, s: &SlaRecord) -> Result<(), StorageError> {
        let sql = format!("UPSERT {} CONTENT $doc", rid("sla", &s.ci)?);
        let mut doc = serde_json::to_value(s)?;
        if let Value::Object(m) = &mut doc {
            m.remove("ci");
        }
        self.run_write(&sql, json!({ "doc": doc })).await
    }

    /// The SLA of a CI.
    pub async fn sla(&self, ci: &str) -> Result<Option<SlaRecord>, StorageError> {
        let sql = format!("SELECT *, record::id(id) AS ci FROM {}", rid("sla", ci)?);
        self.query_one(&sql, Value::Null).await
    }

    /// Every SLA.
    pub async fn slas(&self) -> Result<Vec<SlaRecord>, StorageError> {
        self.query_rows("SELECT *, record::id(id) AS ci FROM sla", Value::Null)
            .await
    }

    /// Removes the SLA of a CI; false when it had none.
    pub async fn delete_sla(&self, ci: &str) -> Result<bool, StorageError> {
        let sql = format!("DELETE {} RETURN BEFORE", rid("sla", ci)?);
        let rows: Vec<Value> = self.query_rows(&sql, Value::Null).await?;
        Ok(!rows.is_empty())
    }

    /// Stores a maintenance window.
    pub async fn insert_maintenance(&self, m: &MaintenanceRecord) -> Result<(), StorageError> {
        let sql = format!("CREATE {} CONTENT $doc", rid("maintenance", &m.key)?);
        self.run_write(&sql, json!({ "doc": super::to_doc(m)? }))
            .await
    }

    /// Maintenance windows overlapping [from, to), of `cis` (all CIs when `None`).
    pub async fn maintenance(
        &self,
        cis: Option<&[String]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<MaintenanceRecord>, StorageError> {
        match cis {
            None => {
                self.query_rows(
                    "SELECT *, record::id(id) AS key FROM maintenance WHERE start < $to AND end > $from ORDER BY start",
                    json!({ "from": from, "to": to }),
                )
                .await
            }
            Some(cis) => {
                self.query_rows(
                    "SELECT *, record::id(id) AS key FROM maintenance WHERE ci IN $cis AND start < $to AND end > $from ORDER BY start",
                    json!({ "cis": cis, "from": from, "to": to }),
                )
                .await
            }
        }
    }

    /// Stores a manual state.
    pub async fn insert_manual_state(&self, m: &ManualStateRecord) -> Result<(), StorageError> {
        let sql = format!("CREATE {} CONTENT $doc", rid("manual_state", &m.key)?);
        self.run_write(&sql, json!({ "doc": super::to_doc(m)? }))
            .await
    }

    /// Manual states overlapping [from, to) (of one CI when given).
    pub async fn manual_states(
        &self,
        ci: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ManualStateRecord>, StorageError> {
        let filter = if ci.is_some() { "ci = $ci AND " } else { "" };
        self.query_rows(
            &format!("SELECT *, record::id(id) AS key FROM manual_state WHERE {filter}start < $to AND end > $from ORDER BY start"),
            json!({ "ci": ci, "from": from, "to": to }),
        )
        .await
    }

    /// Removes a manual state; false when there was none.
    pub async fn delete_manual_state(&self, key: &str) -> Result<bool, StorageError> {
        let sql = format!("DELETE {} RETURN BEFORE", rid("manual_state", key)?);
        let rows: Vec<Value> = self.query_rows(&sql, Value::Null).await?;
        Ok(!rows.is_empty())
    }

    /// Removes a maintenance window; false when there was none.
    pub async fn delete_maintenance(&self, key: &str) -> Result<bool, StorageError> {
        let sql = format!("DELETE {} RETURN BEFORE", rid("maintenance", key)?);
        let rows: Vec<Value> = self.query_rows(&sql, Value::Null).await?;
        Ok(!rows.is_empty())
    }
}
