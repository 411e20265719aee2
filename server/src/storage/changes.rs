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
    pub affected: Vec<String>,
    /// The impact report as returned when the change was recorded.
    #[schema(value_type = Object)]
    pub impact: Value,
}

impl Store {
    /// Stores a change record.
    pub async fn insert_change(&self, c: &ChangeRecord) -> Result<(), StorageError> {
        let sql = format!("CREATE {} CONTENT $doc", rid("change", &c.key)?);
        self.run_write(&sql, json!({ "doc": to_doc(c)? })).await
    }

    /// Changes whose window overlaps [start, end).
    pub async fn changes_overlapping(
        &self,
        start: &str,
        end: &str,
    ) -> Result<Vec<ChangeRecord>, StorageError> {
        self.query_rows(
            "SELECT *, record::id(id) AS key FROM change WHERE start < $end AND end > $start ORDER BY start",
            json!({"start": start, "end": end}),
        )
        .await
    }

    /// One change.
    pub async fn change(&self, key: &str) -> Result<Option<ChangeRecord>, StorageError> {
        let sql = format!(
            "SELECT *, record::id(id) AS key FROM {}",
            rid("change", key)?
        );
        self.query_one(&sql, Value::Null).await
    }

    /// Changes, newest window first.
    pub async fn list_changes(&self, limit: u32) -> Result<Vec<ChangeRecord>, StorageError> {
        self.query_rows(
            "SELECT *, record::id(id) AS key FROM change ORDER BY start DESC LIMIT $limit",
            json!({ "limit": limit }),
        )
        .await
    }
}
