//! Relationships (graph edges made with `RELATE` in the `rel` table), manual CIs and change
//! records.
//!
//! An edge's key is chosen by the server: a hash of what identifies it for discovered edges
//! (so a link seen from both ends, or a connection seen from both hosts, is one record), a
//! random one for manual edges. Edges are never deleted by discovery: an edge no longer
//! observed keeps its `last_seen` and is marked stale by the sweeper.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{HistoryRecord, StorageError, Store, rid, to_doc};

/// One stored relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RelationshipRecord {
    /// Record key of the edge.
    #[serde(default)]
    pub key: String,
    /// Source CI key (`in`).
    #[serde(default)]
    pub from: String,
    /// Target CI key (`out`).
    #[serde(default)]
    pub to: String,
    /// depends_on, runs_on, hosted_on, connected_to, powered_by, member_of.
    pub kind: String,
    /// "discovered" or "manual".
    pub source: String,
    /// Discovered edges: what saw it (lldp, cdp, fdb, listening, connection, virtualization).
    #[serde(default)]
    pub discovered_by: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    /// What the edge rests on: both port names of a link, the ports of a connection, …
    #[serde(default)]
    #[schema(value_type = Object)]
    pub evidence: Value,
    /// Not observed for longer than `relationships.stale_after_secs` (discovered edges only);
    /// stale edges stay in storage but carry no impact.
    #[serde(default)]
    pub stale: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_since: Option<String>,
    /// Free text (manual edges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Filters of the relationship list.
#[derive(Debug, Clone, Default)]
pub struct RelFilter {
    pub kind: Option<String>,
    pub source: Option<String>,
    pub stale: Option<bool>,
    pub limit: u32,
    pub offset: u32,
}

/// Everything one relationship operation writes, atomically.
#[derive(Debug, Clone, Default)]
pub struct RelWrite {
    /// Edges to create or replace (whole record).
    pub upserts: Vec<RelationshipRecord>,
    /// Edge keys to delete.
    pub deletes: Vec<String>,
    /// CIs to create or replace (service CIs found by discovery, manual CIs): key and document.
    pub cis: Vec<(String, Value)>,
    /// Top-level fields to set on existing CIs: key and an object of fields.
    pub ci_updates: Vec<(String, Value)>,
    /// CIs to delete (manual CIs), with their lookup rows.
    pub ci_deletes: Vec<String>,
    pub history: Vec<HistoryRecord>,
}

impl RelWrite {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty()
            && self.deletes.is_empty()
            && self.cis.is_empty()
            && self.ci_updates.is_empty()
            && self.ci_deletes.is_empty()
            && self.history.is_empty()
    }
}

/// What the graph index needs of a CI.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphNodeRow {
    pub key: String,
    pub class: String,
    #[serde(default)]
    pub min_up: Option<u32>,
    #[serde(default)]
    pub core: Option<bool>,
}

/// What relationship discovery's directory reads of a CI.
#[derive(Debug, Clone, Deserialize)]
pub struct DirectoryRow {
    pub key: String,
    pub class: String,
    pub name: String,
    #[serde(default)]
    pub fqdn: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub addresses: Option<Vec<String>>,
    #[serde(default)]
    pub chassis_ids: Option<Vec<String>>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub network: Option<Value>,
    #[serde(default)]
    pub virtualization: Option<Value>,
    #[serde(default)]
    pub interfaces: Option<Value>,
    /// Service CIs: `{host, process, ports}`.
    #[serde(default)]
    pub service: Option<Value>,
}

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

/// The `key` column of rows.
fn key_column(rows: Vec<Value>) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.get("key").and_then(Value::as_str).map(str::to_string))
        .collect()
}

const REL_FIELDS: &str = "record::id(id) AS key, record::id(in) AS from, record::id(out) AS to, kind, source, discovered_by, first_seen, last_seen, evidence, stale, stale_since, note";

impl Store {
    /// Edges with these keys (those that exist).
    pub async fn relationships_by_keys(
        &self,
        keys: &[String],
    ) -> Result<Vec<RelationshipRecord>, StorageError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let ids = chunk
                .iter()
                .map(|k| rid("rel", k))
                .collect::<Result<Vec<_>, _>>()?;
            let sql = format!("SELECT {REL_FIELDS} FROM {};", ids.join(", "));
            let mut res = self.run(&sql, Value::Null).await?;
            out.extend(Self::rows::<RelationshipRecord>(&mut res, 0)?);
        }
        Ok(out)
    }

    /// One edge.
    pub async fn relationship(
        &self,
        key: &str,
    ) -> Result<Option<RelationshipRecord>, StorageError> {
        Ok(self
            .relationships_by_keys(&[key.to_string()])
            .await?
            .into_iter()
            .next())
    }

    /// Every edge touching a CI (both directions), stale ones included, by kind then key.
    pub async fn relationships_of(
        &self,
        ci: &str,
    ) -> Result<Vec<RelationshipRecord>, StorageError> {
        let node = rid("ci", ci)?;
        // Two indexed lookups; an OR over both indexes would scan.
        let sql = format!(
            "SELECT {REL_FIELDS} FROM rel WHERE in = {node}; SELECT {REL_FIELDS} FROM rel WHERE out = {node};"
        );
        let mut res = self.run(&sql, Value::Null).await?;
        let mut out = Self::rows::<RelationshipRecord>(&mut res, 0)?;
        out.extend(Self::rows::<RelationshipRecord>(&mut res, 1)?);
        out.sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }

    /// A page of edges and the number matching.
    pub async fn list_relationships(
        &self,
        f: &RelFilter,
    ) -> Result<(Vec<RelationshipRecord>, u64), StorageError> {
        let mut cond = vec!["true"];
        if f.kind.is_some() {
            cond.push("kind = $kind");
        }
        if f.source.is_some() {
            cond.push("source = $source");
        }
        if f.stale.is_some() {
            cond.push("stale = $stale");
        }
        let wh = cond.join(" AND ");
        let sql = format!(
            "SELECT {REL_FIELDS} FROM rel WHERE {wh} ORDER BY key LIMIT $limit START $offset;
             SELECT count() AS n FROM rel WHERE {wh} GROUP ALL;"
        );
        let mut res = self
            .run(
                &sql,
                json!({"kind": f.kind, "source": f.source, "stale": f.stale, "limit": f.limit, "offset": f.offset}),
            )
            .await?;
        let rows = Self::rows(&mut res, 0)?;
        let counts: Vec<Value> = res.take(1)?;
        let total = counts
            .first()
            .and_then(|c| c.get("n"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Ok((rows, total))
    }

    /// Every edge, stale ones included (export).
    pub async fn all_relationships(&self) -> Result<Vec<RelationshipRecord>, StorageError> {
        let mut res = self
            .run(
                &format!("SELECT {REL_FIELDS} FROM rel ORDER BY key"),
                Value::Null,
            )
            .await?;
        Self::rows(&mut res, 0)
    }

    /// (from, to, kind) of every edge that carries impact (not stale): what the graph index
    /// is loaded from.
    pub async fn active_edges(&self) -> Result<Vec<(String, String, String)>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            f: String,
            t: String,
            kind: String,
        }
        let mut res = self
            .run(
                "SELECT record::id(in) AS f, record::id(out) AS t, kind FROM rel WHERE stale = false",
                Value::Null,
            )
            .await?;
        Ok(Self::rows::<Row>(&mut res, 0)?
            .into_iter()
            .map(|r| (r.f, r.t, r.kind))
            .collect())
    }

    /// Discovered edges not yet stale whose last observation is older than `cutoff`.
    pub async fn stale_candidates(
        &self,
        cutoff: &str,
    ) -> Result<Vec<RelationshipRecord>, StorageError> {
        let mut res = self
            .run(
                &format!(
                    "SELECT {REL_FIELDS} FROM rel WHERE last_seen < $cutoff AND stale = false AND source = 'discovered'"
                ),
                json!({ "cutoff": cutoff }),
            )
            .await?;
        Self::rows(&mut res, 0)
    }

    /// What the graph index needs of every CI.
    pub async fn graph_nodes(&self) -> Result<Vec<GraphNodeRow>, StorageError> {
        let mut res = self
            .run(
                "SELECT record::id(id) AS key, class, min_up, core FROM ci",
                Value::Null,
            )
            .await?;
        Self::rows(&mut res, 0)
    }

    /// Writes edges, CIs and their history in one transaction.
    pub async fn apply_relationships(&self, w: &RelWrite) -> Result<(), StorageError> {
        if w.is_empty() {
            return Ok(());
        }
        let mut sql = String::from("BEGIN TRANSACTION;\n");
        let mut vars = serde_json::Map::new();
        for (i, (key, doc)) in w.cis.iter().enumerate() {
            sql.push_str(&format!("UPSERT {} CONTENT $c{i};\n", rid("ci", key)?));
            vars.insert(format!("c{i}"), doc.clone());
        }
        for (i, (key, fields)) in w.ci_updates.iter().enumerate() {
            let mut sets = Vec::new();
            if let Value::Object(fields) = fields {
                for (j, (field, value)) in fields.iter().enumerate() {
                    if !field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                        return Err(StorageError::BadKey(field.clone()));
                    }
                    if value.is_null() {
                        sets.push(format!("{field} = NONE"));
                    } else {
                        sets.push(format!("{field} = $u{i}_{j}"));
                        vars.insert(format!("u{i}_{j}"), value.clone());
                    }
                }
            }
            if !sets.is_empty() {
                sql.push_str(&format!(
                    "UPDATE {} SET {};\n",
                    rid("ci", key)?,
                    sets.join(", ")
                ));
            }
        }
        for key in &w.deletes {
            sql.push_str(&format!("DELETE {};\n", rid("rel", key)?));
        }
        for (i, r) in w.upserts.iter().enumerate() {
            let mut doc = to_doc(r)?;
            if let Value::Object(m) = &mut doc {
                m.remove("from");
                m.remove("to");
            }
            sql.push_str(&format!(
                "RELATE {}->{}->{} CONTENT $r{i};\n",
                rid("ci", &r.from)?,
                rid("rel", &r.key)?,
                rid("ci", &r.to)?
            ));
            vars.insert(format!("r{i}"), doc);
        }
        for (i, key) in w.ci_deletes.iter().enumerate() {
            sql.push_str(&format!(
                "DELETE {}; DELETE host_mac WHERE ci = $d{i}; DELETE device_key WHERE ci = $d{i};\n",
                rid("ci", key)?
            ));
            vars.insert(format!("d{i}"), Value::String(key.clone()));
        }
        if !w.history.is_empty() {
            sql.push_str("INSERT INTO history $history;\n");
            vars.insert("history".into(), to_doc(&w.history)?);
        }
        sql.push_str("COMMIT TRANSACTION;");
        self.run_write(&sql, Value::Object(vars)).await
    }

    /// Whether these CIs exist: the keys among them that do.
    pub async fn existing_cis(&self, keys: &[String]) -> Result<Vec<String>, StorageError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let ids = chunk
                .iter()
                .map(|k| rid("ci", k))
                .collect::<Result<Vec<_>, _>>()?;
            let sql = format!("SELECT record::id(id) AS key FROM {};", ids.join(", "));
            let mut res = self.run(&sql, Value::Null).await?;
            out.extend(key_column(res.take(0)?));
        }
        Ok(out)
    }

    /// Keys of the CIs with this exact name: of `class` if given, manual ones only if asked,
    /// at most `limit` if given.
    pub async fn ci_keys_named(
        &self,
        name: &str,
        class: Option<&str>,
        manual_only: bool,
        limit: Option<u32>,
    ) -> Result<Vec<String>, StorageError> {
        let mut sql = String::from("SELECT record::id(id) AS key FROM ci WHERE name = $name");
        if class.is_some() {
            sql.push_str(" AND class = $class");
        }
        if manual_only {
            sql.push_str(" AND identified_by = 'manual'");
        }
        if limit.is_some() {
            sql.push_str(" LIMIT $limit");
        }
        let mut res = self
            .run(&sql, json!({"name": name, "class": class, "limit": limit}))
            .await?;
        Ok(key_column(res.take(0)?))
    }

    /// The manual edge (from, kind, to), if any.
    pub async fn manual_relationship(
        &self,
        from: &str,
        to: &str,
        kind: &str,
    ) -> Result<Option<RelationshipRecord>, StorageError> {
        let sql = format!(
            "SELECT {REL_FIELDS} FROM rel WHERE in = {} AND out = {} AND kind = $kind AND source = 'manual' LIMIT 1",
            rid("ci", from)?,
            rid("ci", to)?
        );
        let mut res = self.run(&sql, json!({ "kind": kind })).await?;
        Ok(Self::rows(&mut res, 0)?.into_iter().next())
    }

    /// Manual CIs (for export): whole documents with their keys.
    pub async fn manual_cis(&self) -> Result<Vec<Value>, StorageError> {
        let mut res = self
            .run(
                "SELECT record::id(id) AS key, class, name, description, owner, min_up, core, attributes, first_seen, last_seen FROM ci WHERE identified_by = 'manual' ORDER BY class, name",
                Value::Null,
            )
            .await?;
        Ok(res.take(0)?)
    }

    /// (key, name, class) of these CIs (those that exist).
    pub async fn names_of(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, String, String)>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            key: String,
            name: String,
            class: String,
        }
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(1000) {
            let ids = chunk
                .iter()
                .map(|k| rid("ci", k))
                .collect::<Result<Vec<_>, _>>()?;
            let sql = format!(
                "SELECT record::id(id) AS key, name, class FROM {};",
                ids.join(", ")
            );
            let mut res = self.run(&sql, Value::Null).await?;
            out.extend(
                Self::rows::<Row>(&mut res, 0)?
                    .into_iter()
                    .map(|r| (r.key, r.name, r.class)),
            );
        }
        Ok(out)
    }

    /// The fields manual edits touch, with class and how the CI was identified.
    pub async fn ci_manual_fields(&self, key: &str) -> Result<Option<Value>, StorageError> {
        let sql = format!(
            "SELECT class, name, identified_by, description, owner, min_up, core, attributes FROM {}",
            rid("ci", key)?
        );
        let mut res = self.run(&sql, Value::Null).await?;
        let rows: Vec<Value> = res.take(0)?;
        Ok(rows.into_iter().next())
    }

    /// Key and name of every CI.
    pub async fn ci_names(&self) -> Result<Vec<(String, String)>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            key: String,
            name: String,
        }
        let mut res = self
            .run("SELECT record::id(id) AS key, name FROM ci", Value::Null)
            .await?;
        Ok(Self::rows::<Row>(&mut res, 0)?
            .into_iter()
            .map(|r| (r.key, r.name))
            .collect())
    }

    /// What relationship discovery's directory needs of every CI.
    pub async fn directory_rows(&self) -> Result<Vec<DirectoryRow>, StorageError> {
        let mut res = self
            .run(
                "SELECT record::id(id) AS key, class, name, keys.fqdn AS fqdn, keys.hardware_uuid AS uuid, addresses, chassis_ids, serial, sections.network AS network, sections.virtualization AS virtualization, sections.device.interfaces AS interfaces, service FROM ci",
                Value::Null,
            )
            .await?;
        Self::rows(&mut res, 0)
    }

    // ---- changes -----------------------------------------------------------------------

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
        let mut res = self
            .run(
                "SELECT *, record::id(id) AS key FROM change WHERE start < $end AND end > $start ORDER BY start",
                json!({"start": start, "end": end}),
            )
            .await?;
        Self::rows(&mut res, 0)
    }

    /// One change.
    pub async fn change(&self, key: &str) -> Result<Option<ChangeRecord>, StorageError> {
        let sql = format!(
            "SELECT *, record::id(id) AS key FROM {}",
            rid("change", key)?
        );
        let mut res = self.run(&sql, Value::Null).await?;
        Ok(Self::rows(&mut res, 0)?.into_iter().next())
    }

    /// Changes, newest window first.
    pub async fn list_changes(&self, limit: u32) -> Result<Vec<ChangeRecord>, StorageError> {
        let mut res = self
            .run(
                "SELECT *, record::id(id) AS key FROM change ORDER BY start DESC LIMIT $limit",
                json!({ "limit": limit }),
            )
            .await?;
        Self::rows(&mut res, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(key: &str, from: &str, to: &str) -> RelationshipRecord {
        RelationshipRecord {
            key: key.into(),
            from: from.into(),
            to: to.into(),
            kind: "depends_on".into(),
            source: "manual".into(),
            discovered_by: vec![],
            first_seen: "2026-11-01T00:00:00.000Z".into(),
            last_seen: "2026-11-01T00:00:00.000Z".into(),
            evidence: json!({"port": 5432}),
            stale: false,
            stale_since: None,
            note: Some("n".into()),
        }
    }

    async fn with_cis(keys: &[&str]) -> Store {
        let store = Store::memory().await.expect("memory");
        let w = RelWrite {
            cis: keys
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        json!({"class": "application", "name": k, "identified_by": "manual", "keys": {}, "first_seen": "2026-11-01T00:00:00.000Z", "last_seen": "2026-11-01T00:00:00.000Z"}),
                    )
                })
                .collect(),
            ..Default::default()
        };
        store.apply_relationships(&w).await.expect("cis");
        store
    }

    #[tokio::test]
    async fn an_edge_is_written_read_replaced_and_deleted() {
        let store = with_cis(&["a", "b", "c"]).await;
        let mut e = edge("e1", "a", "b");
        store
            .apply_relationships(&RelWrite {
                upserts: vec![e.clone(), edge("e2", "c", "a")],
                ..Default::default()
            })
            .await
            .expect("write");
        assert_eq!(
            store.relationship("e1").await.expect("read"),
            Some(e.clone())
        );
        let of_a: Vec<String> = store
            .relationships_of("a")
            .await
            .expect("of a")
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(of_a, vec!["e1".to_string(), "e2".to_string()]);
        // RELATE over an existing edge key replaces it.
        e.stale = true;
        e.stale_since = Some("2026-11-02T00:00:00.000Z".into());
        store
            .apply_relationships(&RelWrite {
                upserts: vec![e.clone()],
                ..Default::default()
            })
            .await
            .expect("replace");
        assert_eq!(store.relationship("e1").await.expect("read"), Some(e));
        assert_eq!(
            store.active_edges().await.expect("active"),
            vec![("c".to_string(), "a".to_string(), "depends_on".to_string())]
        );
        let (page, total) = store
            .list_relationships(&RelFilter {
                stale: Some(true),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!((page.len(), total), (1, 1));
        store
            .apply_relationships(&RelWrite {
                deletes: vec!["e1".into()],
                ..Default::default()
            })
            .await
            .expect("delete");
        assert_eq!(store.relationship("e1").await.expect("read"), None);
    }

    #[tokio::test]
    async fn an_edge_to_a_missing_ci_is_refused_and_writes_nothing() {
        let store = with_cis(&["a"]).await;
        let err = store
            .apply_relationships(&RelWrite {
                upserts: vec![edge("e1", "a", "nope")],
                history: vec![HistoryRecord {
                    ci: "a".into(),
                    at: "2026-11-01T00:00:00.000Z".into(),
                    source: "test".into(),
                    attribute: "relationship".into(),
                    old: Value::Null,
                    new: json!({}),
                }],
                ..Default::default()
            })
            .await;
        assert!(err.is_err());
        assert!(store.relationships_of("a").await.expect("read").is_empty());
        assert!(
            store
                .history("a", None, None, 10)
                .await
                .expect("history")
                .is_empty()
        );
    }
}
