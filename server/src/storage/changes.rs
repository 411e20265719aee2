//! Change records (`change`): planned work on CIs over a time window, with the impact the
//! analysis found when the change was recorded.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{StorageError, Store, rid, to_doc};

/// A stored change record.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeRecord {
    #[serde(default)]
    pub key: String,
    pub title: String,
    /// CIs the change works on.
    pub cis: Vec<String>,
    /// Window, RFC 3339 UTC.
    pub start: String,
    pub end: String,
    pub created_at: String,
    /// Token key of the creator.
    pub created_by: String,
    /// Every CI the impact analysis found affected (the CIs themselves included).
    #[serde(default)]
    pub affected: Vec<String>,
    /// The impact report as returned when the change was recorded (absent when a query
    /// left it out: it can run to megabytes for a core device).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub impact: Value,
}

/// A change in a list: the record without its impact report or affected CIs.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeSummary {
    pub id: String,
    pub title: String,
    pub cis: Vec<String>,
    pub start: String,
    pub end: String,
    pub created_at: String,
    /// How many CIs the impact analysis found affected.
    pub affected: usize,
}

impl Store {
    /// Stores a change record; its impact report and affected CIs go in `change_impact` and
    /// `change_affected` (same id), its count of affected CIs in the record.
    pub async fn insert_change(&self, c: &ChangeRecord) -> Result<(), StorageError> {
        let sql = format!(
            "BEGIN TRANSACTION; CREATE {} CONTENT $doc; CREATE {} CONTENT {{ impact: $impact }}; \
             CREATE {} CONTENT {{ affected: $affected }}; COMMIT TRANSACTION;",
            rid("change", &c.key)?,
            rid("change_impact", &c.key)?,
            rid("change_affected", &c.key)?
        );
        let mut doc = to_doc(c)?;
        let mut take = |field: &str| {
            doc.as_object_mut()
                .and_then(|d| d.remove(field))
                .unwrap_or(Value::Null)
        };
        let impact = take("impact");
        let affected = take("affected");
        if let Some(d) = doc.as_object_mut() {
            d.insert("affected_count".into(), json!(c.affected.len()));
        }
        self.run_write(
            &sql,
            json!({ "doc": doc, "impact": impact, "affected": affected }),
        )
        .await
    }

    /// Changes whose window overlaps [start, end), without their impact reports.
    pub async fn changes_overlapping(
        &self,
        start: &str,
        end: &str,
    ) -> Result<Vec<ChangeRecord>, StorageError> {
        self.query_rows(
            "SELECT record::id(id) AS key, title, cis, start, end, created_at, created_by, \
             type::record('change_affected', record::id(id)).affected AS affected \
             FROM change WHERE start < $end AND end > $start ORDER BY start",
            json!({"start": start, "end": end}),
        )
        .await
    }

    /// One change, with its impact report.
    pub async fn change(&self, key: &str) -> Result<Option<ChangeRecord>, StorageError> {
        let sql = format!(
            "SELECT record::id(id) AS key, title, cis, start, end, created_at, created_by, \
             {}.affected AS affected, {}.impact AS impact FROM {}",
            rid("change_affected", key)?,
            rid("change_impact", key)?,
            rid("change", key)?
        );
        self.query_one(&sql, Value::Null).await
    }

    /// Changes, newest window first.
    pub async fn list_changes(&self, limit: u32) -> Result<Vec<ChangeSummary>, StorageError> {
        self.query_rows(
            // Not through `change_start`: SurrealDB 3.3 walks an index backwards very slowly
            // (20 changes took 50 ms that way, 0.3 ms reading the table).
            "SELECT record::id(id) AS id, title, cis, start, end, created_at, \
             affected_count AS affected FROM change WITH NOINDEX ORDER BY start DESC LIMIT $limit",
            json!({ "limit": limit }),
        )
        .await
    }
}
