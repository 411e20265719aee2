//! Relationships: graph edges made with `RELATE` in the `rel` table, and the one write that
//! changes edges together with the CIs they need (service CIs, manual CIs) and their history.
//!
//! An edge's key is chosen by the server: a hash of what identifies it for discovered edges
//! (so a link seen from both ends, or a connection seen from both hosts, is one record), a
//! random one for manual edges. Edges are never deleted by discovery: an edge no longer
//! observed keeps its `last_seen` and is marked stale by the sweeper.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use surrealdb::types::{RecordId, SurrealValue, Value as SValue, Variables};

use super::ci_doc::{NewCi, create_ci_sql, set_fields};
use super::{HistoryRecord, StorageError, Store, add_json_vars, rid, rid_list, to_doc};

/// A new record's row for `INSERT`: `doc` with record-id fields (field, table, key) added,
/// each key checked as [`rid`] checks it.
fn record_row<const N: usize>(
    doc: Value,
    ids: [(&str, &str, &String); N],
) -> Result<SValue, StorageError> {
    let SValue::Object(mut row) = doc.into_value() else {
        return Err(StorageError::Decode(serde::de::Error::custom(
            "a record document is an object",
        )));
    };
    for (field, table, key) in ids {
        rid(table, key)?;
        row.insert(field, RecordId::new(table, key.as_str()));
    }
    Ok(SValue::Object(row))
}

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

/// Everything one write to the CMDB graph makes, atomically: edges, and the CIs they need or
/// that people manage (service CIs discovery finds, manual CIs). Only the relationships
/// service builds one.
#[derive(Debug, Clone, Default)]
pub struct GraphWrite {
    /// Edges to create or replace (whole record).
    pub upserts: Vec<RelationshipRecord>,
    /// New edges under fresh keys (an import's): inserted in one statement, which is several
    /// times faster than one `RELATE` each.
    pub new_rels: Vec<RelationshipRecord>,
    /// Edge keys to delete.
    pub deletes: Vec<String>,
    /// CIs to create or replace (service CIs found by discovery, manual CIs): key and document.
    pub cis: Vec<(String, NewCi)>,
    /// New CIs under fresh keys (an import's), inserted in one statement.
    pub new_cis: Vec<(String, NewCi)>,
    /// Top-level fields to set on existing CIs: key and an object of fields.
    pub ci_updates: Vec<(String, Value)>,
    /// CIs to delete (manual CIs), with their lookup rows.
    pub ci_deletes: Vec<String>,
    pub history: Vec<HistoryRecord>,
}

impl GraphWrite {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty()
            && self.new_rels.is_empty()
            && self.new_cis.is_empty()
            && self.deletes.is_empty()
            && self.cis.is_empty()
            && self.ci_updates.is_empty()
            && self.ci_deletes.is_empty()
            && self.history.is_empty()
    }
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
            let edges: Vec<RelationshipRecord> = self.query_rows(&sql, Value::Null).await?;
            out.extend(edges);
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
        self.query_rows(
            &format!("SELECT {REL_FIELDS} FROM rel ORDER BY key"),
            Value::Null,
        )
        .await
    }

    /// (from, to, kind) of every edge that carries impact (not stale), by pages: what the
    /// graph index is loaded from.
    pub async fn active_edges(
        &self,
        mut f: impl FnMut(Vec<(String, String, String)>),
    ) -> Result<(), StorageError> {
        #[derive(Deserialize)]
        struct Row {
            f: String,
            t: String,
            kind: String,
            #[serde(default)]
            stale: bool,
        }
        self.scan_pages(
            "rel",
            "record::id(in) AS f, record::id(out) AS t, kind, stale",
            |rows: Vec<Row>| {
                f(rows
                    .into_iter()
                    .filter(|r| !r.stale)
                    .map(|r| (r.f, r.t, r.kind))
                    .collect())
            },
        )
        .await
    }

    /// Discovered edges not yet stale whose last observation is older than `cutoff`.
    pub async fn stale_candidates(
        &self,
        cutoff: &str,
    ) -> Result<Vec<RelationshipRecord>, StorageError> {
        self.query_rows(
            &format!(
                "SELECT {REL_FIELDS} FROM rel WHERE last_seen < $cutoff AND stale = false AND source = 'discovered'"
            ),
            json!({ "cutoff": cutoff }),
        )
        .await
    }

    /// Writes edges, CIs and their history in one transaction.
    pub async fn apply_relationships(&self, w: &GraphWrite) -> Result<(), StorageError> {
        if w.is_empty() {
            return Ok(());
        }
        let mut sql = String::from("BEGIN TRANSACTION;\n");
        let mut vars = serde_json::Map::new();
        for (i, (key, doc)) in w.cis.iter().enumerate() {
            create_ci_sql(key, doc, &format!("c{i}"), true, &mut sql, &mut vars)?;
        }
        // Rows of new records carry their record ids as values: a `.map()` building them in
        // SurrealQL cost a fifth of an import's time.
        let mut typed = Variables::new();
        if !w.new_cis.is_empty() {
            let rows = w
                .new_cis
                .iter()
                .map(|(key, doc)| record_row(to_doc(doc)?, [("id", "ci", key)]))
                .collect::<Result<Vec<SValue>, StorageError>>()?;
            sql.push_str("INSERT INTO ci $new_cis RETURN NONE;\n");
            typed.insert("new_cis", rows);
        }
        for (i, (key, fields)) in w.ci_updates.iter().enumerate() {
            let mut sets = Vec::new();
            if let Value::Object(fields) = fields {
                set_fields(fields, &format!("u{i}_"), true, &mut sets, &mut vars)?;
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
        if !w.new_rels.is_empty() {
            let rows = w
                .new_rels
                .iter()
                .map(|r| {
                    let mut doc = to_doc(r)?;
                    if let Value::Object(m) = &mut doc {
                        m.remove("from");
                        m.remove("to");
                    }
                    record_row(
                        doc,
                        [
                            ("id", "rel", &r.key),
                            ("in", "ci", &r.from),
                            ("out", "ci", &r.to),
                        ],
                    )
                })
                .collect::<Result<Vec<SValue>, StorageError>>()?;
            // `ENFORCED` refuses an edge to a missing CI here as with `RELATE`.
            sql.push_str("INSERT RELATION INTO rel $new_rels RETURN NONE;\n");
            typed.insert("new_rels", rows);
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
        add_json_vars(&mut typed, vars);
        self.run_write_vars(&sql, typed).await?;
        let cis = w.cis.iter().chain(&w.new_cis).map(|(k, _)| k);
        let updated = w.ci_updates.iter().map(|(k, _)| k);
        self.catalogue_touch(cis.chain(updated).chain(&w.ci_deletes))
            .await;
        Ok(())
    }

    /// The manual edges leaving any of `froms` (one `in`-index-served query per 500 CIs).
    pub async fn manual_relationships_from(
        &self,
        froms: &[String],
    ) -> Result<Vec<RelationshipRecord>, StorageError> {
        let mut out = Vec::new();
        for chunk in froms.chunks(500) {
            out.extend(
                self.query_rows::<RelationshipRecord>(
                    &format!(
                        "SELECT {REL_FIELDS} FROM rel WHERE in IN [{}] AND source = 'manual'",
                        rid_list("ci", chunk)?
                    ),
                    Value::Null,
                )
                .await?,
            );
        }
        Ok(out)
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
        self.query_one(&sql, json!({ "kind": kind })).await
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
        let w = GraphWrite {
            cis: keys
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        NewCi::manual(
                            "application".into(),
                            k.to_string(),
                            "2026-11-01T00:00:00.000Z",
                            None,
                            None,
                            None,
                            false,
                            json!({}),
                        ),
                    )
                })
                .collect(),
            ..Default::default()
        };
        store.apply_relationships(&w).await.expect("cis");
        store
    }

    #[tokio::test]
    async fn whole_table_reads_by_key_range_miss_no_key() {
        // Keys at and between the range bounds, below the first and past the last.
        let keys = vec![
            "-a", "0", "00", "00ab", "0g", "1", "7f", "7fff", "9z", "_b", "a", "a0", "ff", "ffff",
            "g", "k1", "zz",
        ];
        let store = with_cis(&keys).await;
        let mut seen = Vec::new();
        store
            .graph_nodes(|page| seen.extend(page.into_iter().map(|n| n.key)))
            .await
            .expect("nodes");
        seen.sort();
        let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(seen, want);
        let mut dir = Vec::new();
        store
            .directory_rows(|page| dir.extend(page.into_iter().map(|r| r.key)))
            .await
            .expect("directory");
        dir.sort();
        assert_eq!(dir, want);
    }

    #[tokio::test]
    async fn an_edge_is_written_read_replaced_and_deleted() {
        let store = with_cis(&["a", "b", "c"]).await;
        let mut e = edge("e1", "a", "b");
        store
            .apply_relationships(&GraphWrite {
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
            .apply_relationships(&GraphWrite {
                upserts: vec![e.clone()],
                ..Default::default()
            })
            .await
            .expect("replace");
        assert_eq!(store.relationship("e1").await.expect("read"), Some(e));
        let mut active = Vec::new();
        store
            .active_edges(|page| active.extend(page))
            .await
            .expect("active");
        assert_eq!(
            active,
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
            .apply_relationships(&GraphWrite {
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
            .apply_relationships(&GraphWrite {
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
