//! The changes service: a change is a set of CIs and a time window, stored with the impact
//! analysis made when it was recorded and the conflicts found then: other changes in
//! overlapping windows on the same or related CIs (either change's CIs, or a CI either one
//! affects). Conflicts are recomputed on every read, so changes recorded later count too.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ServiceError, check_id};
use crate::impact::{Impact, ImpactReport};
use crate::storage::{ChangeRecord, StorageError, Store, now_str, time_str};

/// A proposed change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChange {
    pub title: String,
    /// CIs the change works on (ids, or unambiguous names).
    pub cis: Vec<String>,
    /// Window start and end, RFC 3339.
    pub start: String,
    pub end: String,
}

/// Another change that overlaps.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Conflict {
    pub id: String,
    pub title: String,
    pub start: String,
    pub end: String,
    /// CIs both changes touch or affect.
    pub shared: Vec<String>,
}

/// A change as stored, with its conflicts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeReport {
    pub id: String,
    pub title: String,
    pub cis: Vec<String>,
    pub start: String,
    pub end: String,
    pub created_at: String,
    pub created_by: String,
    pub impact: ImpactReport,
    pub conflicts: Vec<Conflict>,
}

/// A change in a list (without its impact).
pub use crate::storage::ChangeSummary;

fn time(field: &str, v: &str) -> Result<chrono::DateTime<chrono::Utc>, ServiceError> {
    chrono::DateTime::parse_from_rfc3339(v.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| ServiceError::Invalid(format!("{field}: not an RFC 3339 time ({e})")))
}

/// Changes in `others` that share a CI (touched or affected) with `ours`.
pub fn conflicts(ours: &BTreeSet<String>, me: &str, others: &[ChangeRecord]) -> Vec<Conflict> {
    others
        .iter()
        .filter(|o| o.key != me)
        .filter_map(|o| {
            let theirs: BTreeSet<&String> = o.cis.iter().chain(o.affected.iter()).collect();
            let shared: Vec<String> = ours
                .iter()
                .filter(|c| theirs.contains(c))
                .cloned()
                .collect();
            (!shared.is_empty()).then(|| Conflict {
                id: o.key.clone(),
                title: o.title.clone(),
                start: o.start.clone(),
                end: o.end.clone(),
                shared,
            })
        })
        .collect()
}

fn report_of(rec: ChangeRecord, conflicts: Vec<Conflict>) -> Result<ChangeReport, ServiceError> {
    Ok(ChangeReport {
        id: rec.key,
        title: rec.title,
        cis: rec.cis,
        start: rec.start,
        end: rec.end,
        created_at: rec.created_at,
        created_by: rec.created_by,
        impact: serde_json::from_value(rec.impact).map_err(StorageError::from)?,
        conflicts,
    })
}

/// The changes service.
#[derive(Debug)]
pub struct Changes {
    store: Store,
    impact: Arc<Impact>,
}

impl Changes {
    pub fn new(store: Store, impact: Arc<Impact>) -> Self {
        Self { store, impact }
    }

    /// Records a change made by `created_by`: its impact is analysed now and stored with it;
    /// the conflicts with other changes in overlapping windows are listed.
    pub async fn create(
        &self,
        n: NewChange,
        created_by: &str,
    ) -> Result<ChangeReport, ServiceError> {
        let title = n.title.trim();
        if title.is_empty() || title.len() > 255 || title.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "title: 1 to 255 characters, no control characters".into(),
            ));
        }
        let start = time("start", &n.start)?;
        let end = time("end", &n.end)?;
        if end <= start {
            return Err(ServiceError::Invalid("end: must be after start".into()));
        }
        let cis = self.impact.resolve(&n.cis, "cis").await?;
        let impact = self.impact.analyse(&cis, None).await?;
        let (start, end) = (time_str(start), time_str(end));
        let key = uuid::Uuid::new_v4().simple().to_string();
        // Conflicts are found on every affected CI, not on the (possibly truncated) list
        // the answer shows.
        let affected: Vec<String> = self.impact.affected_keys(&cis);
        let ours: BTreeSet<String> = cis.iter().chain(affected.iter()).cloned().collect();
        let overlapping = self.store.changes_overlapping(&start, &end).await?;
        let found = conflicts(&ours, &key, &overlapping);
        let rec = ChangeRecord {
            key: key.clone(),
            title: title.to_string(),
            cis: cis.clone(),
            start: start.clone(),
            end: end.clone(),
            created_at: now_str(),
            created_by: created_by.to_string(),
            affected,
            impact: serde_json::to_value(&impact).map_err(StorageError::from)?,
        };
        self.store.insert_change(&rec).await?;
        Ok(ChangeReport {
            id: key,
            title: rec.title,
            cis,
            start,
            end,
            created_at: rec.created_at,
            created_by: rec.created_by,
            impact,
            conflicts: found,
        })
    }

    /// One change, with its stored impact and the conflicts as of now.
    pub async fn get(&self, id: &str) -> Result<ChangeReport, ServiceError> {
        check_id("id", id, "change")?;
        let rec = self
            .store
            .change(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no change with id {id}")))?;
        let ours: BTreeSet<String> = rec.cis.iter().chain(rec.affected.iter()).cloned().collect();
        let overlapping = self.store.changes_overlapping(&rec.start, &rec.end).await?;
        let found = conflicts(&ours, &rec.key, &overlapping);
        report_of(rec, found)
    }

    /// Changes, latest window first; `limit` 1–1000 (default 100).
    pub async fn list(&self, limit: Option<u32>) -> Result<Vec<ChangeSummary>, ServiceError> {
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ServiceError::Invalid(
                "limit: must be between 1 and 1000".into(),
            ));
        }
        Ok(self.store.list_changes(limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, cis: &[&str], affected: &[&str]) -> ChangeRecord {
        ChangeRecord {
            key: key.into(),
            title: key.into(),
            cis: cis.iter().map(|s| s.to_string()).collect(),
            start: "2026-11-21T10:00:00.000Z".into(),
            end: "2026-11-21T12:00:00.000Z".into(),
            created_at: String::new(),
            created_by: String::new(),
            affected: affected.iter().map(|s| s.to_string()).collect(),
            impact: serde_json::Value::Null,
        }
    }

    #[test]
    fn changes_conflict_when_they_touch_or_affect_a_common_ci() {
        let ours: BTreeSet<String> = ["sw1", "host1", "app"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let others = vec![
            change("same-ci", &["sw1"], &["sw1"]),
            change("hits-our-app", &["db"], &["db", "app"]),
            change("unrelated", &["sw9"], &["sw9", "host9"]),
            change("me", &["sw1"], &["sw1"]),
        ];
        let found = conflicts(&ours, "me", &others);
        let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, vec!["same-ci", "hits-our-app"]);
        assert_eq!(found[1].shared, vec!["app".to_string()]);
    }
}
