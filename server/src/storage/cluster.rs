//! Several server instances on one database: what each instance must hear of the others'
//! writes, background work that must run once per cluster, and identification that must not
//! race across instances.
//!
//! - **Events.** Database events on `ci`, `rel`, `token`, `agent` and `package` record, inside
//!   the writing transaction, which CI, relationship triple, credential, agent or package
//!   changed in a way an instance keeps in memory (graph index, discovery directory, auth
//!   cache, ingest views, package catalogue). They upsert one small record per thing changed
//!   into `cluster_event`, whose change feed every instance reads from where it started
//!   ([`Store::cluster_events_since`]). Each event carries its writer's tag (`by`, the
//!   session parameter `$cmdb_writer`, random at every start): an instance skips its own
//!   writes, which it has applied in memory already, as on an embedded database. The events fire only on what matters: a last-seen
//!   flush, which rewrites thousands of CIs, fires none. The record is keyed by what changed,
//!   so the table stays as large as the estate, and the feed keeps an hour.
//! - **Leases** (`lease:<job>`): a job runs on the instance holding its lease; the holder
//!   renews it every run, another instance takes it over once it has expired.
//! - **Identification locks** (`ident_lock:<key>`): an instance identifying a new host or
//!   device holds its identification keys in storage, so two instances cannot both create a
//!   CI for one machine. They expire, so a crashed holder does not block the key for ever.
//!
//! All of it is set up only on a remote database ([`Store::is_remote`]): an embedded one is
//! opened by one process, which sees its own writes.

use serde::Deserialize;
use serde_json::{Value, json};

use super::directory::{DirectoryRow, GRAPH_NODE_FIELDS, GraphNodeRow};
use super::packages::PackageRecord;
use super::{StorageError, Store};

/// Events and the feed, (re)defined by every instance at start (idempotent). The CI event
/// fires on the fields the graph index, the directory, the CI catalogue and the ingest views
/// read.
const CLUSTER_DDL: &str = "
DEFINE TABLE IF NOT EXISTS cluster_event SCHEMALESS CHANGEFEED 1h;
DEFINE TABLE IF NOT EXISTS lease SCHEMALESS;
DEFINE TABLE IF NOT EXISTS ident_lock SCHEMALESS;
DEFINE EVENT OVERWRITE cluster_ci ON TABLE ci
    WHEN $event != 'UPDATE' OR $before.class != $after.class OR $before.name != $after.name
        OR $before.min_up != $after.min_up OR $before.core != $after.core
        OR $before.keys != $after.keys OR $before.addresses != $after.addresses
        OR $before.chassis_ids != $after.chassis_ids OR $before.serial != $after.serial
        OR $before.service != $after.service OR $before.agent != $after.agent
        OR $before.identified_by != $after.identified_by
        OR $before.suspected_duplicates != $after.suspected_duplicates
        OR $before.section_hashes != $after.section_hashes
        OR $before.sections.device.interfaces != $after.sections.device.interfaces
    THEN {
        LET $k = record::id(($after ?? $before).id);
        UPSERT type::record('cluster_event', ['ci', $k]) SET tb = 'ci', key = $k, at = time::now(), by = $cmdb_writer;
    };
DEFINE EVENT OVERWRITE cluster_rel ON TABLE rel
    WHEN $event != 'UPDATE' OR $before.stale != $after.stale
    THEN {
        LET $r = $after ?? $before;
        LET $f = record::id($r.in);
        LET $t = record::id($r.out);
        UPSERT type::record('cluster_event', ['rel', $f, $t, $r.kind])
            SET tb = 'rel', f = $f, t = $t, kind = $r.kind, at = time::now(), by = $cmdb_writer;
    };
DEFINE EVENT OVERWRITE cluster_token ON TABLE token THEN {
    LET $k = record::id(($after ?? $before).id);
    UPSERT type::record('cluster_event', ['token', $k]) SET tb = 'token', key = $k, at = time::now(), by = $cmdb_writer;
};
DEFINE EVENT OVERWRITE cluster_agent ON TABLE agent
    WHEN $event != 'UPDATE' OR $before.ci != $after.ci OR $before.last_report != $after.last_report
        OR $before.revoked != $after.revoked
    THEN {
        LET $k = record::id(($after ?? $before).id);
        UPSERT type::record('cluster_event', ['agent', $k]) SET tb = 'agent', key = $k, at = time::now(), by = $cmdb_writer;
    };
DEFINE EVENT OVERWRITE cluster_package ON TABLE package WHEN $event = 'CREATE' THEN {
    LET $k = record::id($after.id);
    UPSERT type::record('cluster_event', ['package', $k]) SET tb = 'package', key = $k, at = time::now(), by = $cmdb_writer;
};
";

/// Something another instance (or this one) changed, as the feed reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClusterEvent {
    /// A CI's class, name, keys, addresses, agent, identification or section hashes.
    Ci(String),
    /// The active relationships of this triple (from, to, kind).
    Rel(String, String, String),
    /// An API or agent credential.
    Token(String),
    /// An agent's CI binding or last report.
    Agent(String),
    /// A new package.
    Package(String),
}

/// A page of the feed.
#[derive(Debug, Default)]
pub struct FeedPage {
    pub events: Vec<ClusterEvent>,
    /// When the newest event of the page was written (database time, RFC 3339).
    pub newest_at: Option<String>,
    /// Where the next page starts (the last versionstamp read + 1); unchanged when empty.
    pub next: u64,
    /// True when the page was full: read again at once.
    pub more: bool,
}

/// Feed entries read per query.
const PAGE: usize = 2_000;

#[derive(Deserialize)]
struct ChangeSet {
    versionstamp: u64,
    #[serde(default)]
    changes: Vec<Value>,
}

/// The event of one feed entry and when it was written; `None` for another kind of record,
/// or one written by `own` (this process's writer tag).
fn event_of(v: &Value, own: Option<&str>) -> Option<(ClusterEvent, Option<String>)> {
    let rec = v.get("update")?;
    let s = |f: &str| rec.get(f).and_then(Value::as_str).map(str::to_string);
    if own.is_some() && rec.get("by").and_then(Value::as_str) == own {
        return None;
    }
    let at = s("at");
    let e = match s("tb")?.as_str() {
        "ci" => ClusterEvent::Ci(s("key")?),
        "rel" => ClusterEvent::Rel(s("f")?, s("t")?, s("kind")?),
        "token" => ClusterEvent::Token(s("key")?),
        "agent" => ClusterEvent::Agent(s("key")?),
        "package" => ClusterEvent::Package(s("key")?),
        _ => return None,
    };
    Some((e, at))
}

impl Store {
    /// True on a remote database (several instances may share it).
    pub fn is_remote(&self) -> bool {
        self.timeout.is_some()
    }

    /// Defines the events, the feed and the lease and lock tables (idempotent; every instance
    /// runs it at start, so a newer server brings newer events).
    /// Then tags this connection's writes with a new random writer tag, so the feed read
    /// through this store leaves them out.
    pub async fn enable_cluster_feed(&mut self) -> Result<(), StorageError> {
        self.run_write(CLUSTER_DDL, Value::Null).await?;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        self.db.set_param("cmdb_writer", tag.clone()).await?;
        self.writer = Some(tag.into());
        Ok(())
    }

    /// Where the feed is now: writes a marker for `instance`, then reads the feed to its end.
    /// Taken before the in-memory structures are loaded, so nothing written in between is
    /// missed (what is seen twice is applied twice, harmlessly: every event is applied by
    /// reading storage's state).
    pub async fn feed_position(&self, instance: &str) -> Result<u64, StorageError> {
        self.run_write(
            "UPSERT type::record('cluster_event', ['marker', $i]) SET tb = 'marker', key = $i, at = time::now();",
            json!({ "i": instance }),
        )
        .await?;
        let mut at = 0u64;
        loop {
            let rows: Vec<ChangeSet> = self
                .query_rows(
                    &format!("SHOW CHANGES FOR TABLE cluster_event SINCE {at} LIMIT {PAGE}"),
                    Value::Null,
                )
                .await?;
            let Some(last) = rows.last() else {
                return Ok(at);
            };
            at = last.versionstamp + 1;
            if rows.len() < PAGE {
                return Ok(at);
            }
        }
    }

    /// Events written since versionstamp `since`, one page.
    pub async fn cluster_events_since(&self, since: u64) -> Result<FeedPage, StorageError> {
        let rows: Vec<ChangeSet> = self
            .query_rows(
                &format!("SHOW CHANGES FOR TABLE cluster_event SINCE {since} LIMIT {PAGE}"),
                Value::Null,
            )
            .await?;
        let mut page = FeedPage {
            next: since,
            more: rows.len() >= PAGE,
            ..FeedPage::default()
        };
        for set in &rows {
            page.next = page.next.max(set.versionstamp + 1);
            for c in &set.changes {
                if let Some((e, at)) = event_of(c, self.writer.as_deref()) {
                    page.events.push(e);
                    if at > page.newest_at {
                        page.newest_at = at;
                    }
                }
            }
        }
        Ok(page)
    }

    /// Takes or renews lease `name` for `holder` for `ttl_secs`: true when `holder` holds it
    /// now. Two instances asking at once both read it free; one commit wins, the other fails
    /// with a conflict and does not hold it.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_secs: u64,
    ) -> Result<bool, StorageError> {
        let sql = "BEGIN TRANSACTION;
             LET $l = (SELECT holder, until FROM ONLY type::record('lease', $name));
             LET $free = $l == NONE OR $l.holder == $holder OR $l.until < time::now();
             IF $free {
                 UPSERT type::record('lease', $name)
                     SET holder = $holder, until = time::now() + <duration>$ttl;
             };
             RETURN $free;
             COMMIT TRANSACTION;";
        let vars = json!({ "name": name, "holder": holder, "ttl": format!("{ttl_secs}s") });
        match self.run(sql, vars).await {
            Ok(mut res) => {
                // The `RETURN`: the only statement whose result is a boolean.
                let mut found = false;
                for i in 0..res.num_statements() {
                    if let Ok(Some(Value::Bool(b))) = res.take::<Option<Value>>(i) {
                        found = b;
                    }
                }
                Ok(found)
            }
            Err(StorageError::Db(e)) if super::is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives up every lease `holder` has (an instance stopping), so other instances take the
    /// jobs over at their next run instead of when the leases lapse. Every one, including
    /// a lease taken by a request still in flight when the job was stopped.
    pub async fn release_leases(&self, holder: &str) -> Result<(), StorageError> {
        self.run_write(
            "UPDATE lease SET until = time::now() - 1s WHERE holder = $holder;",
            json!({ "holder": holder }),
        )
        .await
    }

    /// Whether the job of lease `name` last ran at least `period_secs` ago (or never), as its
    /// holders recorded with [`Store::mark_lease_run`]: a new holder carries on the
    /// schedule instead of running the job again at once.
    pub async fn lease_due(&self, name: &str, period_secs: u64) -> Result<bool, StorageError> {
        let rows: Vec<Option<bool>> = self
            .query_rows(
                "SELECT VALUE last_run == NONE OR last_run <= time::now() - <duration>$period
                 FROM ONLY type::record('lease', $name)",
                json!({ "name": name, "period": format!("{period_secs}s") }),
            )
            .await?;
        Ok(rows.into_iter().flatten().next().unwrap_or(true))
    }

    /// Records that `holder` ran the job of lease `name` now.
    pub async fn mark_lease_run(&self, name: &str, holder: &str) -> Result<(), StorageError> {
        self.run_write(
            "UPDATE type::record('lease', $name) SET last_run = time::now() WHERE holder = $holder;",
            json!({ "name": name, "holder": holder }),
        )
        .await
    }

    /// The holder of lease `name` while it is valid (tests look; instances know their own).
    #[cfg(test)]
    pub async fn lease_holder(&self, name: &str) -> Result<Option<String>, StorageError> {
        let rows: Vec<Option<String>> = self
            .query_rows(
                "SELECT VALUE holder FROM ONLY type::record('lease', $name) WHERE until >= time::now()",
                json!({ "name": name }),
            )
            .await?;
        Ok(rows.into_iter().flatten().next())
    }

    /// Takes identification locks on every key for `holder` (all or none), for `ttl_secs`;
    /// false when another holder has one of them. An expired lock is taken over.
    pub async fn lock_keys(
        &self,
        keys: &[String],
        holder: &str,
        ttl_secs: u64,
    ) -> Result<bool, StorageError> {
        let sql = "BEGIN TRANSACTION;
             FOR $k IN $keys {
                 LET $l = (SELECT holder, until FROM ONLY type::record('ident_lock', $k));
                 IF $l != NONE AND $l.holder != $holder AND $l.until >= time::now() {
                     THROW 'held';
                 };
                 UPSERT type::record('ident_lock', $k)
                     SET holder = $holder, until = time::now() + <duration>$ttl;
             };
             COMMIT TRANSACTION;";
        let vars = json!({ "keys": keys, "holder": holder, "ttl": format!("{ttl_secs}s") });
        match self.run(sql, vars).await {
            Ok(_) => Ok(true),
            Err(StorageError::Db(e))
                if super::is_conflict(&e) || e.to_string().contains("held") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Releases the identification locks `holder` has on `keys`.
    pub async fn unlock_keys(&self, keys: &[String], holder: &str) -> Result<(), StorageError> {
        self.run_write(
            "FOR $k IN $keys { DELETE type::record('ident_lock', $k) WHERE holder = $holder; };",
            json!({ "keys": keys, "holder": holder }),
        )
        .await
    }

    /// How many active relationships storage holds for each triple (from, to, kind) asked.
    pub async fn active_edge_counts(
        &self,
        triples: &[(String, String, String)],
    ) -> Result<Vec<(String, String, String, u32)>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            f: String,
            t: String,
            kind: String,
        }
        let mut from: Vec<&str> = triples.iter().map(|t| t.0.as_str()).collect();
        from.sort_unstable();
        from.dedup();
        let mut counts: std::collections::HashMap<(String, String, String), u32> =
            triples.iter().map(|t| (t.clone(), 0)).collect();
        for chunk in from.chunks(500) {
            let rows: Vec<Row> = self
                .query_rows(
                    "SELECT record::id(in) AS f, record::id(out) AS t, kind FROM rel
                     WHERE in IN $from.map(|$k| type::record('ci', $k)) AND stale = false",
                    json!({ "from": chunk }),
                )
                .await?;
            for r in rows {
                if let Some(n) = counts.get_mut(&(r.f, r.t, r.kind)) {
                    *n += 1;
                }
            }
        }
        Ok(counts
            .into_iter()
            .map(|((f, t, k), n)| (f, t, k, n))
            .collect())
    }

    /// What the graph index needs of these CIs (those that exist).
    pub async fn graph_nodes_of(&self, keys: &[String]) -> Result<Vec<GraphNodeRow>, StorageError> {
        self.query_rows(
            &format!("SELECT {GRAPH_NODE_FIELDS} FROM $ids.map(|$k| type::record('ci', $k))"),
            json!({ "ids": keys }),
        )
        .await
    }

    /// What discovery's directory needs of these CIs (those that exist).
    pub async fn directory_rows_of(
        &self,
        keys: &[String],
    ) -> Result<Vec<DirectoryRow>, StorageError> {
        self.query_rows(
            &format!(
                "{} FROM $ids.map(|$k| type::record('ci', $k))",
                super::directory::DIRECTORY_FIELDS
            ),
            json!({ "ids": keys }),
        )
        .await
    }

    /// The service CIs of these hosts, as the directory reads them.
    pub async fn service_rows_of(
        &self,
        hosts: &[String],
    ) -> Result<Vec<DirectoryRow>, StorageError> {
        self.query_rows(
            &format!(
                "{} FROM ci WHERE class = 'service' AND service.host IN $hosts",
                super::directory::DIRECTORY_FIELDS
            ),
            json!({ "hosts": hosts }),
        )
        .await
    }

    /// These package records (those that exist).
    pub async fn packages_by_keys(
        &self,
        keys: &[String],
    ) -> Result<Vec<PackageRecord>, StorageError> {
        self.query_rows(
            "SELECT *, record::id(id) AS key FROM $ids.map(|$k| type::record('package', $k))",
            json!({ "ids": keys }),
        )
        .await
    }
}

#[cfg(test)]
mod tests;
