//! Configuration items (`ci`) and what is written with them: history, volatile values
//! (`ci_volatile`), the host MAC lookup (`host_mac`) and coalesced last-seen times.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ci_doc::{CiDoc, create_ci_sql, set_fields};
use super::packages::package_keys;
use super::{StorageError, Store, rid, rid_list, to_doc, valid_key};
use crate::domain::device_report;
use crate::domain::identify::{DeviceKeys, HostCandidate, HostKeys};

/// What [`Store::ci_manual_fields`] reads.
const MANUAL_FIELDS: &str =
    "class, name, identified_by, description, owner, min_up, core, attributes";

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
    pub section_hashes: BTreeMap<String, String>,
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
    /// Network devices: the agent whose poll last changed the CI (`agent` stays empty: an
    /// agent's own CI is its host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poller: Option<String>,
    /// Network devices: the agents assigned to poll it (the first poller, then whom an admin
    /// assigns); polls from any other agent are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pollers: Vec<String>,
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

/// The fields of a [`CiSummary`], as a list reads them.
const SUMMARY_FIELDS: &str = "record::id(id) AS key, class, name, identified_by, first_seen, last_seen, agent, os, package_count, addresses, suspected_duplicates, vendor, model";

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
    /// Only CIs flagged as suspected duplicates of others.
    pub duplicates: bool,
    /// CIs last seen before this time are stale.
    pub stale_cutoff: String,
    pub sort: CiSort,
    pub limit: u32,
    pub offset: u32,
}

/// The order of a CI list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CiSort {
    #[default]
    Name,
    Class,
    /// Most recently seen first.
    LastSeen,
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

/// Everything one report writes.
#[derive(Debug, Clone)]
pub struct CiWrite {
    pub ci_key: String,
    /// The whole new document, or the top-level fields to set.
    pub doc: CiDoc,
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
    /// CIs this one is flagged as a suspected duplicate of (they are left untouched).
    pub suspects: Vec<String>,
    /// The report this write applies, remembered on the agent (a redelivery is not applied
    /// twice).
    pub report_id: String,
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
    /// Whether the agent's and the CI's records take the time (else only the catalogue: see
    /// `lifecycle.last_seen_write_secs`).
    pub write: bool,
}

#[derive(Deserialize)]
struct CandidateRow {
    key: String,
    keys: HostKeys,
    first_seen: String,
    #[serde(default)]
    agent: Option<String>,
}

/// Who writes a CI (see [`Store::ci_owner`]).
#[derive(Debug, Clone, Deserialize)]
pub struct CiOwner {
    pub class: String,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub pollers: Vec<String>,
}

/// An admin's decision that host CI `ci` belongs to `agent`: the CI's previous agent and the
/// agent's previous CI lose their binding, with a history record of the move.
#[derive(Debug, Clone)]
pub struct Rebind {
    pub ci: String,
    pub agent: String,
    pub previous_agent: Option<String>,
    pub previous_ci: Option<String>,
    pub history: Vec<HistoryRecord>,
}

/// Appends the statement that records `w` (its variables start with `v`).
fn volatile_sql(
    w: &VolatileWrite,
    sql: &mut String,
    vars: &mut serde_json::Map<String, Value>,
) -> Result<(), StorageError> {
    let mut sets = vec!["at = $va".to_string()];
    vars.insert("va".to_string(), Value::String(w.at.clone()));
    for (j, (section, hash, values)) in w.sections.iter().enumerate() {
        if !cmdb_shared::SECTIONS.contains(&section.as_str()) {
            return Err(StorageError::BadKey(section.clone()));
        }
        sets.push(format!("sections.{section} = $vs{j}"));
        vars.insert(format!("vs{j}"), json!({"hash": hash, "values": values}));
    }
    sql.push_str(&format!(
        "UPSERT {} SET {};\n",
        rid("ci_volatile", &w.ci_key)?,
        sets.join(", ")
    ));
    Ok(())
}

/// The `key` column of rows.
fn key_column(rows: Vec<Value>) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.get("key").and_then(Value::as_str).map(str::to_string))
        .collect()
}

impl Store {
    /// CIs sharing at least one identification key with `keys`.
    pub async fn host_candidates(
        &self,
        keys: &HostKeys,
    ) -> Result<Vec<HostCandidate>, StorageError> {
        // One indexed lookup per key; an OR over several indexes would scan.
        let mut sql = String::new();
        let mut vars = serde_json::Map::new();
        let fields = [
            ("hardware_uuid", keys.hardware_uuid.clone()),
            ("vendor_serial", keys.vendor_serial.clone()),
            ("machine_id", keys.machine_id.clone()),
            ("fqdn", keys.fqdn.clone()),
        ];
        for (field, value) in fields {
            if let Some(v) = value {
                sql.push_str(&format!(
                    "SELECT record::id(id) AS key, keys, first_seen, agent FROM ci WHERE keys.{field} = ${field};"
                ));
                vars.insert(field.to_string(), Value::String(v));
            }
        }
        // MACs through their own indexed table: a CONTAINS over the CIs' MAC arrays is not
        // served by an index and scanned every (large) host document.
        let first_mac = sql.matches(';').count();
        for (i, mac) in keys.macs.iter().enumerate() {
            sql.push_str(&format!(
                "SELECT VALUE ci FROM host_mac WHERE mac = $mac{i};"
            ));
            vars.insert(format!("mac{i}"), Value::String(mac.clone()));
        }
        if sql.is_empty() {
            return Ok(Vec::new());
        }
        let statements = sql.matches(';').count();
        let mut res = self.run(&sql, Value::Object(vars)).await?;
        let mut seen = BTreeMap::new();
        for i in 0..first_mac {
            for row in Self::rows::<CandidateRow>(&mut res, i)? {
                seen.entry(row.key.clone()).or_insert(row);
            }
        }
        // CIs found by MAC are then read by record id (direct lookups, no scan).
        let mut by_mac: Vec<String> = Vec::new();
        for i in first_mac..statements {
            let keys: Vec<String> = Self::rows(&mut res, i)?;
            by_mac.extend(
                keys.into_iter()
                    .filter(|k| !seen.contains_key(k) && valid_key(k)),
            );
        }
        by_mac.sort();
        by_mac.dedup();
        if !by_mac.is_empty() {
            let targets: Vec<String> = by_mac
                .iter()
                .map(|k| rid("ci", k))
                .collect::<Result<_, _>>()?;
            let sql = format!(
                "SELECT record::id(id) AS key, keys, first_seen, agent FROM {}",
                targets.join(", ")
            );
            for row in self.query_rows::<CandidateRow>(&sql, Value::Null).await? {
                seen.entry(row.key.clone()).or_insert(row);
            }
        }
        Ok(seen
            .into_values()
            .map(|r| HostCandidate {
                ci_id: r.key,
                keys: r.keys,
                first_seen: r.first_seen,
                owner: r.agent,
            })
            .collect())
    }

    /// Who writes a CI: its class, the agent a host is bound to, the pollers a device is
    /// assigned to; `None` if there is no CI with this key.
    pub async fn ci_owner(&self, key: &str) -> Result<Option<CiOwner>, StorageError> {
        let sql = format!(
            "SELECT class, agent, pollers ?? [] AS pollers FROM {}",
            rid("ci", key)?
        );
        let rows: Vec<CiOwner> = self.query_rows(&sql, Value::Null).await?;
        Ok(rows.into_iter().next())
    }

    /// The id of the last host report applied for `agent`.
    pub async fn last_report(&self, agent: &str) -> Result<Option<String>, StorageError> {
        let sql = format!("SELECT VALUE last_report FROM {}", rid("agent", agent)?);
        let rows: Vec<Option<String>> = self.query_rows(&sql, Value::Null).await?;
        Ok(rows.into_iter().next().flatten())
    }

    /// How many host and device CIs `agent` has created (its quotas).
    pub async fn created_by(&self, agent: &str) -> Result<(u64, u64), StorageError> {
        let sql = format!(
            "SELECT VALUE [hosts_created ?? 0, devices_created ?? 0] FROM {}",
            rid("agent", agent)?
        );
        let rows: Vec<(u64, u64)> = self.query_rows(&sql, Value::Null).await?;
        Ok(rows.into_iter().next().unwrap_or((0, 0)))
    }

    /// Sets the pollers a device is assigned to, with a history record.
    pub async fn assign_pollers(
        &self,
        key: &str,
        pollers: &[String],
        history: &[HistoryRecord],
    ) -> Result<(), StorageError> {
        let sql = format!(
            "BEGIN TRANSACTION; UPDATE {} SET pollers = $pollers; INSERT INTO history $history; COMMIT TRANSACTION;",
            rid("ci", key)?
        );
        self.run_write(
            &sql,
            json!({"pollers": pollers, "history": to_doc(&history)?}),
        )
        .await?;
        Ok(())
    }

    /// Moves a host CI to another agent in one transaction (see [`Rebind`]).
    pub async fn rebind(&self, r: &Rebind) -> Result<(), StorageError> {
        let mut sql = String::from("BEGIN TRANSACTION;\n");
        if let Some(p) = &r.previous_agent {
            sql.push_str(&format!("UPDATE {} SET ci = NONE;\n", rid("agent", p)?));
        }
        if let Some(c) = &r.previous_ci {
            sql.push_str(&format!("UPDATE {} SET agent = NONE;\n", rid("ci", c)?));
        }
        sql.push_str(&format!(
            "UPDATE {} SET agent = $agent, identified_by = 'admin';\nUPDATE {} SET ci = $ci;\nINSERT INTO history $history;\nCOMMIT TRANSACTION;",
            rid("ci", &r.ci)?,
            rid("agent", &r.agent)?
        ));
        self.run_write(
            &sql,
            json!({"agent": r.agent, "ci": r.ci, "history": to_doc(&r.history)?}),
        )
        .await?;
        Ok(())
    }

    /// Clears the suspected-duplicate flag between two CIs, both ways, with a history record
    /// on each CI that had it; false if neither had it.
    pub async fn dismiss_duplicate(
        &self,
        a: &str,
        b: &str,
        source: &str,
    ) -> Result<bool, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            key: String,
            #[serde(default)]
            suspected_duplicates: Vec<String>,
        }
        let sql = format!(
            "SELECT record::id(id) AS key, suspected_duplicates FROM {}, {}",
            rid("ci", a)?,
            rid("ci", b)?
        );
        let rows: Vec<Row> = self.query_rows(&sql, Value::Null).await?;
        let mut sql = String::from("BEGIN TRANSACTION;\n");
        let mut history = Vec::new();
        for r in &rows {
            let other = if r.key == a { b } else { a };
            if r.suspected_duplicates.iter().any(|d| d == other) {
                sql.push_str(&format!(
                    "UPDATE {} SET suspected_duplicates = array::complement(suspected_duplicates, [{}]);\n",
                    rid("ci", &r.key)?,
                    serde_json::to_string(other)?
                ));
                history.push(HistoryRecord {
                    ci: r.key.clone(),
                    at: super::now_str(),
                    source: source.to_string(),
                    attribute: "suspected_duplicates".into(),
                    old: json!(other),
                    new: Value::Null,
                });
            }
        }
        if history.is_empty() {
            return Ok(false);
        }
        sql.push_str("INSERT INTO history $history;\nCOMMIT TRANSACTION;");
        self.run_write(&sql, json!({"history": to_doc(&history)?}))
            .await?;
        self.catalogue_touch(&[a.to_string(), b.to_string()]).await;
        Ok(true)
    }

    /// One CI, complete, with its latest volatile values.
    pub async fn ci(&self, key: &str) -> Result<Option<CiRecord>, StorageError> {
        let sql = format!(
            "SELECT *, record::id(id) AS key FROM {}; SELECT at, sections FROM {};",
            rid("ci", key)?,
            rid("ci_volatile", key)?
        );
        let mut res = self.run(&sql, Value::Null).await?;
        let Some(mut ci) = Self::rows::<CiRecord>(&mut res, 0)?.into_iter().next() else {
            return Ok(None);
        };
        let live: Vec<Value> = res.take(1)?;
        if let Some(live) = live.into_iter().next() {
            if let Some(Value::Object(sections)) = live.get("sections") {
                for (name, entry) in sections {
                    // Only over the stable content they were measured with.
                    let hash = entry.get("hash").and_then(Value::as_str);
                    if hash.is_some()
                        && ci.section_hashes.get(name).map(String::as_str) == hash
                        && let (Some(target), Some(values)) =
                            (ci.sections.get_mut(name), entry.get("values"))
                    {
                        cmdb_shared::hash::overlay(target, values);
                    }
                }
            }
            ci.measured_at = live.get("at").and_then(Value::as_str).map(str::to_string);
        }
        self.freshen_seen(key, &mut ci.last_seen);
        Ok(Some(ci))
    }

    /// The parts of a CI that ingestion needs: everything but the sections, plus the named
    /// sections and, if asked, the package keys. Reading only these keeps a report's write
    /// from re-reading a whole host (hundreds of package keys, every section) each time.
    pub async fn ci_for_update(
        &self,
        key: &str,
        sections: &[&str],
        with_packages: bool,
    ) -> Result<Option<CiRecord>, StorageError> {
        let mut fields = String::from(
            "record::id(id) AS key, class, name, identified_by, keys, first_seen, last_seen, agent, suspected_duplicates, section_hashes, package_count",
        );
        for s in sections {
            if !cmdb_shared::SECTIONS.contains(s) {
                return Err(StorageError::BadKey((*s).to_string()));
            }
            fields.push_str(&format!(", sections.{s}"));
        }
        let mut sql = format!("SELECT {fields} FROM {};", rid("ci", key)?);
        if with_packages {
            sql.push_str(&format!(
                " SELECT packages FROM {};",
                rid("ci_software", key)?
            ));
        }
        let mut res = self.run(&sql, Value::Null).await?;
        let Some(mut ci) = Self::rows::<CiRecord>(&mut res, 0)?.into_iter().next() else {
            return Ok(None);
        };
        if with_packages {
            ci.packages = package_keys(res.take(1)?)?;
        }
        Ok(Some(ci))
    }

    /// A page of CI summaries matching `f`, and the total number of matches.
    pub async fn list_cis(&self, f: &CiFilter) -> Result<(Vec<CiSummary>, u64), StorageError> {
        let mut cond = vec!["true".to_string()];
        if f.class.is_some() {
            cond.push("class = $class".into());
        }
        if f.q.is_some() {
            cond.push(
                // As the catalogue matches: any of these fields contains the fragment.
                "array::flatten([[name, keys.fqdn, keys.hardware_uuid, keys.machine_id, keys.vendor_serial, serial], addresses ?? [], chassis_ids ?? []]).any(|$t| string::contains(string::lowercase($t ?? ''), $q) OR string::contains(string::lowercase($t ?? ''), $mac))".into(),
            );
        }
        if f.duplicates {
            cond.push("array::len(suspected_duplicates ?? []) > 0".into());
        }
        match f.stale {
            Some(true) => cond.push("last_seen < $cutoff".into()),
            Some(false) => cond.push("last_seen >= $cutoff".into()),
            None => {}
        }
        let wh = cond.join(" AND ");
        // Name and class orders are read from an index (`ci_name`, `ci_class_name`: the page
        // alone, however large the table), whose entries of one value are in id order: ties
        // need no `id` in the ORDER BY, which would make SurrealDB sort the whole table.
        let order = match f.sort {
            CiSort::Name => "name",
            CiSort::Class => "class, name",
            CiSort::LastSeen => "last_seen DESC, id",
        };
        let vars = json!({
            "class": f.class,
            "q": f.q.as_ref().map(|q| q.to_lowercase()),
            // A MAC in any usual notation finds a device by its chassis MAC.
            "mac": f.q.as_deref().map(|q| device_report::canonical_mac(q).unwrap_or_else(|| q.to_lowercase())),
            "cutoff": f.stale_cutoff,
            "limit": f.limit,
            "offset": f.offset,
        });
        // A text search, the suspected duplicates, the stale or fresh CIs and the last-seen
        // order are answered by the catalogue, when it is loaded. Not the last-seen parts on a
        // remote database: other instances' last-seen flushes do not reach it.
        let by_seen = f.stale.is_some() || f.sort == CiSort::LastSeen;
        if (f.q.is_some() || f.duplicates || by_seen)
            && !(by_seen && self.is_remote())
            && let Some((keys, total)) = self.list_from_catalogue(f)
        {
            return Ok((self.summaries_in_order(&keys).await?, total));
        }
        // Else no index serves the filter: one scan finds the matches' keys, and the page is
        // read by id.
        if f.q.is_some() || f.duplicates || f.stale.is_some() {
            return self.list_by_scan(f, &wh, vars).await;
        }
        // A class's size is the catalogue's counter (counting it in storage reads every CI of
        // the class: 1.6 s for 184,000 VMs).
        let counted = match (&f.class, self.catalogue()) {
            (Some(class), Some(cat)) => Some(cat.class_count(class)),
            (None, Some(cat)) => Some(cat.len() as u64),
            _ => None,
        };
        // Without the catalogue: SurrealDB 3.3 walks an index backwards very slowly (48 ms for
        // the 10 stale CIs of a 2,600-CI table through `ci_last_seen`, 2 ms scanning the
        // table), so a descending sort reads the table.
        let with = match f.sort {
            CiSort::LastSeen => " WITH NOINDEX",
            _ => "",
        };
        // No WHERE at all when nothing filters: a bare count is answered by the `ci_count`
        // index (schema migration 9), where `WHERE true` makes SurrealDB decode every record.
        let count_where = if cond.len() > 1 {
            format!(" WHERE {wh}")
        } else {
            String::new()
        };
        let count_sql = if counted.is_some() {
            String::new()
        } else {
            format!("SELECT count() AS n FROM ci{count_where} GROUP ALL;")
        };
        let sql = format!(
            "SELECT {SUMMARY_FIELDS} FROM ci{with} WHERE {wh} ORDER BY {order} LIMIT $limit START $offset;
             {count_sql}"
        );
        let mut res = self.run(&sql, vars).await?;
        let rows = Self::rows(&mut res, 0)?;
        if let Some(total) = counted {
            return Ok((rows, total));
        }
        let counts: Vec<Value> = res.take(1)?;
        let total = counts
            .first()
            .and_then(|c| c.get("n"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Ok((rows, total))
    }

    /// [`Self::list_cis`] for filters no index serves: one scan finds the matches' keys and
    /// sort fields (the page and the total come from them), then the page's records are read
    /// by id. A page query and a count would scan the table twice, and a page in name order
    /// would walk the name index fetching every CI to test the filter (16 ms for the
    /// suspected duplicates of 2,600 CIs, against 2 ms for a scan).
    async fn list_by_scan(
        &self,
        f: &CiFilter,
        wh: &str,
        vars: Value,
    ) -> Result<(Vec<CiSummary>, u64), StorageError> {
        #[derive(Deserialize)]
        struct Hit {
            key: String,
            class: String,
            name: String,
            #[serde(default)]
            last_seen: String,
        }
        let mut hits: Vec<Hit> = self
            .query_rows(
                &format!("SELECT record::id(id) AS key, class, name, last_seen FROM ci WHERE {wh}"),
                vars,
            )
            .await?;
        match f.sort {
            CiSort::Name => hits.sort_by(|a, b| (&a.name, &a.key).cmp(&(&b.name, &b.key))),
            CiSort::Class => {
                hits.sort_by(|a, b| (&a.class, &a.name, &a.key).cmp(&(&b.class, &b.name, &b.key)))
            }
            CiSort::LastSeen => hits.sort_by(|a, b| {
                b.last_seen
                    .cmp(&a.last_seen)
                    .then_with(|| a.key.cmp(&b.key))
            }),
        }
        let total = hits.len() as u64;
        let page: Vec<String> = hits
            .into_iter()
            .skip(f.offset as usize)
            .take(f.limit as usize)
            .map(|h| h.key)
            .collect();
        Ok((self.summaries_in_order(&page).await?, total))
    }

    /// [`Self::list_cis`] from the catalogue: the page's keys and the number of matches, or
    /// None when the catalogue is not loaded or does not keep the order asked for.
    fn list_from_catalogue(&self, f: &CiFilter) -> Option<(Vec<String>, u64)> {
        use crate::domain::catalogue::{Order, Query, Seen, seen_micros};
        let order = match f.sort {
            CiSort::Name => Order::Name,
            CiSort::Class => Order::Class,
            CiSort::LastSeen => Order::LastSeen,
        };
        let cutoff = || seen_micros(&f.stale_cutoff);
        let seen = f.stale.map(|stale| {
            if stale {
                Seen::Before(cutoff())
            } else {
                Seen::Since(cutoff())
            }
        });
        let cat = self.catalogue()?;
        // What the scan matches: the fragment in lowercase, and a MAC in any usual notation
        // as the chassis ids hold it.
        let q = f.q.as_ref().map(|q| q.to_lowercase());
        let mac = f.q.as_deref().and_then(device_report::canonical_mac);
        let text: Vec<&str> = q.iter().chain(mac.iter()).map(String::as_str).collect();
        let (keys, total) = cat.search(&Query {
            class: f.class.as_deref(),
            text: &text,
            duplicates_only: f.duplicates,
            seen,
            order,
            offset: f.offset as usize,
            limit: f.limit as usize,
        });
        Some((keys, total as u64))
    }

    /// The summaries of these CIs, in this order; a CI deleted meanwhile is left out.
    async fn summaries_in_order(&self, keys: &[String]) -> Result<Vec<CiSummary>, StorageError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ids = keys
            .iter()
            .map(|k| rid("ci", k))
            .collect::<Result<Vec<_>, _>>()?
            .join(", ");
        let rows: Vec<CiSummary> = self
            .query_rows(&format!("SELECT {SUMMARY_FIELDS} FROM {ids}"), Value::Null)
            .await?;
        let mut by_key: std::collections::HashMap<String, CiSummary> = rows
            .into_iter()
            .map(|mut r| {
                self.freshen_seen(&r.key, &mut r.last_seen);
                (r.key.clone(), r)
            })
            .collect();
        Ok(keys.iter().filter_map(|k| by_key.remove(k)).collect())
    }

    /// History of one CI between two RFC 3339 times, oldest first.
    pub async fn history(
        &self,
        ci: &str,
        from: Option<&str>,
        to: Option<&str>,
        limit: u32,
    ) -> Result<Vec<HistoryRecord>, StorageError> {
        self.query_rows(
            "SELECT ci, at, source, attribute, old, new FROM history WHERE ci = $ci AND at >= $from AND at <= $to ORDER BY at, attribute LIMIT $limit",
            json!({
                "ci": ci,
                "from": from.unwrap_or(""),
                "to": to.unwrap_or("9999"),
                "limit": limit,
            }),
        )
        .await
    }

    /// Writes one ingested report atomically: the CI, its package keys, its volatile values,
    /// its history, the agent's binding and the MAC lookup rows.
    pub async fn apply(&self, w: &CiWrite) -> Result<(), StorageError> {
        let mut sql = String::from("BEGIN TRANSACTION;\n");
        let mut vars = serde_json::Map::new();
        let ci = rid("ci", &w.ci_key)?;
        match &w.doc {
            CiDoc::New(doc) => create_ci_sql(&w.ci_key, doc, "ci", false, &mut sql, &mut vars)?,
            CiDoc::Update(fields) => {
                // One UPDATE: every statement on this document rewrites it whole and re-diffs its
                // indexes (hundreds of package keys), so fields and sections are set together.
                let mut sets = Vec::new();
                set_fields(fields, "f", false, &mut sets, &mut vars)?;
                for (i, (section, value)) in w.sections.iter().enumerate() {
                    if !cmdb_shared::SECTIONS.contains(&section.as_str()) {
                        return Err(StorageError::BadKey(section.clone()));
                    }
                    // Replace, not merge: a removed field or list element must disappear.
                    sets.push(format!("sections.{section} = $s{i}"));
                    vars.insert(format!("s{i}"), value.clone());
                }
                if !sets.is_empty() {
                    sql.push_str(&format!("UPDATE {ci} SET {};\n", sets.join(", ")));
                }
            }
        }
        if let Some(macs) = &w.macs {
            sql.push_str("DELETE host_mac WHERE ci = $ci_key;\n");
            if !macs.is_empty() {
                sql.push_str("INSERT INTO host_mac $macs;\n");
                let rows: Vec<Value> = macs
                    .iter()
                    .map(|m| json!({"mac": m, "ci": w.ci_key}))
                    .collect();
                vars.insert("macs".into(), Value::Array(rows));
            }
        }
        if !w.history.is_empty() {
            sql.push_str("INSERT INTO history $history;\n");
            vars.insert("history".into(), to_doc(&w.history)?);
        }
        if let Some(previous) = &w.unbind_agent {
            sql.push_str(&format!(
                "UPDATE {} SET ci = NONE;\n",
                rid("agent", previous)?
            ));
        }
        if w.bind_agent {
            sql.push_str(&format!(
                "UPDATE {} SET ci = $ci_key, last_seen = $now, agent_version = $agent_version;\n",
                rid("agent", &w.agent_key)?
            ));
        }
        sql.push_str(&format!(
            "UPDATE {} SET last_report = $report_id;\n",
            rid("agent", &w.agent_key)?
        ));
        vars.insert("report_id".into(), Value::String(w.report_id.clone()));
        if matches!(w.doc, CiDoc::New(_)) {
            // Counted against the agent's quota in the same transaction.
            sql.push_str(&format!(
                "UPDATE {} SET hosts_created = (hosts_created ?? 0) + 1;\n",
                rid("agent", &w.agent_key)?
            ));
        }
        vars.insert("ci_key".into(), Value::String(w.ci_key.clone()));
        vars.insert("now".into(), Value::String(w.now.clone()));
        vars.insert(
            "agent_version".into(),
            Value::String(w.agent_version.clone()),
        );
        for dup in &w.duplicates {
            sql.push_str(&format!(
                "UPDATE {} SET suspected_duplicates = array::union(suspected_duplicates ?? [], [$ci_key]);\n",
                rid("ci", dup)?
            ));
        }
        if !w.suspects.is_empty() {
            for s in &w.suspects {
                rid("ci", s)?;
            }
            sql.push_str(&format!(
                "UPDATE {ci} SET suspected_duplicates = array::union(suspected_duplicates ?? [], $suspects);\n"
            ));
            vars.insert("suspects".into(), json!(w.suspects));
        }
        if let Some(v) = &w.volatile {
            volatile_sql(v, &mut sql, &mut vars)?;
        }
        if let Some(keys) = &w.packages {
            sql.push_str(&format!(
                "UPSERT {} SET ci = {ci}, packages = $package_keys;\n",
                rid("ci_software", &w.ci_key)?
            ));
            vars.insert("package_keys".into(), json!(keys));
        }
        sql.push_str("COMMIT TRANSACTION;");
        self.run_write(&sql, Value::Object(vars)).await?;
        let catalogued = super::catalogue::touches_catalogue(&w.doc) || !w.suspects.is_empty();
        let this = std::iter::once(&w.ci_key).filter(|_| catalogued);
        self.catalogue_touch(this.chain(&w.duplicates)).await;
        if let Some(t) = super::catalogue::seen_only(&w.doc).filter(|_| !catalogued) {
            self.catalogue_seen([(w.ci_key.as_str(), t)]).await;
        }
        Ok(())
    }

    /// Writes the volatile values of one CI.
    pub async fn write_volatile(&self, item: &VolatileWrite) -> Result<(), StorageError> {
        let mut sql = String::new();
        let mut vars = serde_json::Map::new();
        volatile_sql(item, &mut sql, &mut vars)?;
        self.run_write(&sql, Value::Object(vars)).await
    }

    /// Writes coalesced "last seen" times.
    /// How many reports each agent's spool has dropped, ever: `(agent key, count)`.
    pub async fn set_spool_dropped(&self, items: &[(String, u64)]) -> Result<(), StorageError> {
        for chunk in items.chunks(100) {
            let mut sql = String::from("BEGIN TRANSACTION;\n");
            for (agent, n) in chunk {
                sql.push_str(&format!(
                    "UPDATE {} SET spool_dropped = {n};\n",
                    rid("agent", agent)?
                ));
            }
            sql.push_str("COMMIT TRANSACTION;");
            self.run_write(&sql, Value::Null).await?;
        }
        Ok(())
    }

    /// Writes coalesced heartbeats: the agent's and its CI's records for those with
    /// `write`, 100 agents a transaction; then the catalogue takes every one.
    pub async fn flush_last_seen(&self, items: &[LastSeen]) -> Result<(), StorageError> {
        let writes: Vec<&LastSeen> = items.iter().filter(|it| it.write).collect();
        for chunk in writes.chunks(100) {
            let mut sql = String::from("BEGIN TRANSACTION;\n");
            let mut vars = serde_json::Map::new();
            for (i, it) in chunk.iter().enumerate() {
                sql.push_str(&format!(
                    "UPDATE {} SET last_seen = $t{i}, agent_version = $v{i};\n",
                    rid("agent", &it.agent_key)?
                ));
                if let Some(ci) = &it.ci_key {
                    sql.push_str(&format!(
                        "UPDATE {} SET last_seen = $t{i};\n",
                        rid("ci", ci)?
                    ));
                }
                vars.insert(format!("t{i}"), Value::String(it.at.clone()));
                vars.insert(format!("v{i}"), Value::String(it.agent_version.clone()));
            }
            sql.push_str("COMMIT TRANSACTION;");
            self.run_write(&sql, Value::Object(vars)).await?;
        }
        let seen = items
            .iter()
            .filter_map(|it| Some((it.ci_key.as_deref()?, it.at.as_str())));
        self.catalogue_seen(seen).await;
        Ok(())
    }

    /// Writes coalesced "last seen" times of CIs seen without an agent of their own (polled
    /// network devices): `(ci key, time)`.
    pub async fn flush_ci_seen(&self, items: &[(String, String)]) -> Result<(), StorageError> {
        for chunk in items.chunks(100) {
            let mut sql = String::from("BEGIN TRANSACTION;\n");
            let mut vars = serde_json::Map::new();
            for (i, (ci, at)) in chunk.iter().enumerate() {
                // Never backwards: a write of the CI may have set a later time meanwhile.
                sql.push_str(&format!(
                    "UPDATE {} SET last_seen = $t{i} WHERE last_seen < $t{i};\n",
                    rid("ci", ci)?
                ));
                vars.insert(format!("t{i}"), Value::String(at.clone()));
            }
            sql.push_str("COMMIT TRANSACTION;");
            self.run_write(&sql, Value::Object(vars)).await?;
            self.catalogue_seen(chunk.iter().map(|(k, t)| (k.as_str(), t.as_str())))
                .await;
        }
        Ok(())
    }

    /// Whether these CIs exist: the keys among them that do.
    pub async fn existing_cis(&self, keys: &[String]) -> Result<Vec<String>, StorageError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT record::id(id) AS key FROM {};",
                rid_list("ci", chunk)?
            );
            out.extend(key_column(self.query_rows(&sql, Value::Null).await?));
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
        // The name index by name: with a class filter too, SurrealDB 3.3 picks the class
        // index and reads every CI of the class (19 ms against 30,000 VMs, 0.14 ms this way),
        // which made imports by class and name quadratic.
        let mut sql = String::from(
            "SELECT record::id(id) AS key FROM ci WITH INDEX ci_name WHERE name = $name",
        );
        if class.is_some() {
            sql.push_str(" AND class = $class");
        }
        if manual_only {
            sql.push_str(" AND identified_by = 'manual'");
        }
        if limit.is_some() {
            sql.push_str(" LIMIT $limit");
        }
        let rows = self
            .query_rows(&sql, json!({"name": name, "class": class, "limit": limit}))
            .await?;
        Ok(key_column(rows))
    }

    /// (key, name, class, last_seen) of these CIs (those that exist).
    pub async fn briefs_of(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, String, String, String)>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            key: String,
            name: String,
            class: String,
            #[serde(default)]
            last_seen: String,
        }
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(1000) {
            let ids = chunk
                .iter()
                .map(|k| rid("ci", k))
                .collect::<Result<Vec<_>, _>>()?;
            let sql = format!(
                "SELECT record::id(id) AS key, name, class, last_seen FROM {};",
                ids.join(", ")
            );
            let rows: Vec<Row> = self.query_rows(&sql, Value::Null).await?;
            out.extend(
                rows.into_iter()
                    .map(|r| (r.key, r.name, r.class, r.last_seen)),
            );
        }
        Ok(out)
    }

    /// (key, name, class) of these CIs (those that exist).
    pub async fn names_of(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, String, String)>, StorageError> {
        Ok(self
            .briefs_of(keys)
            .await?
            .into_iter()
            .map(|(k, n, c, _)| (k, n, c))
            .collect())
    }

    /// CIs with any of these exact names: (key, class, name, manual). One query per 1,000
    /// names, each name looked up in the name index.
    pub async fn cis_named(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String, String, bool)>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            key: String,
            class: String,
            name: String,
            #[serde(default)]
            identified_by: Option<String>,
        }
        let mut out = Vec::new();
        for chunk in names.chunks(1_000) {
            let rows: Vec<Row> = self
                .query_rows(
                    "SELECT record::id(id) AS key, class, name, identified_by FROM ci WITH INDEX ci_name WHERE name IN $names",
                    json!({ "names": chunk }),
                )
                .await?;
            out.extend(rows.into_iter().map(|r| {
                let manual = r.identified_by.as_deref() == Some("manual");
                (r.key, r.class, r.name, manual)
            }));
        }
        Ok(out)
    }

    /// [`Self::ci_manual_fields`] of several CIs (those that exist), one query per 500.
    pub async fn cis_manual_fields(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, Value)>, StorageError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let rows: Vec<Value> = self
                .query_rows(
                    &format!(
                        "SELECT record::id(id) AS key, {MANUAL_FIELDS} FROM {}",
                        rid_list("ci", chunk)?
                    ),
                    Value::Null,
                )
                .await?;
            for mut r in rows {
                let key = r
                    .as_object_mut()
                    .and_then(|m| m.remove("key"))
                    .and_then(|k| k.as_str().map(str::to_string));
                if let Some(key) = key {
                    out.push((key, r));
                }
            }
        }
        Ok(out)
    }

    /// The fields manual edits touch, with class and how the CI was identified.
    pub async fn ci_manual_fields(&self, key: &str) -> Result<Option<Value>, StorageError> {
        let sql = format!("SELECT {MANUAL_FIELDS} FROM {}", rid("ci", key)?);
        self.query_one(&sql, Value::Null).await
    }

    /// Manual CIs (for export): whole documents with their keys.
    pub async fn manual_cis(&self) -> Result<Vec<Value>, StorageError> {
        self.query_rows(
            "SELECT record::id(id) AS key, class, name, description, owner, min_up, core, attributes, first_seen, last_seen FROM ci WHERE identified_by = 'manual' ORDER BY class, name",
            Value::Null,
        )
        .await
    }

    /// How many CIs of each class.
    pub async fn class_counts(&self) -> Result<Vec<(String, u64)>, StorageError> {
        if let Some(cat) = self.catalogue() {
            return Ok(cat.class_counts());
        }
        #[derive(Deserialize)]
        struct Row {
            class: String,
            n: u64,
        }
        let rows: Vec<Row> = self
            .query_rows(
                "SELECT class, count() AS n FROM ci GROUP BY class",
                Value::Null,
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.class, r.n)).collect())
    }

    /// Counts for `/metrics`.
    pub async fn counts(&self) -> Result<BTreeMap<String, u64>, StorageError> {
        let mut res = self
            .run(
                "SELECT count() AS n FROM ci GROUP ALL; SELECT count() AS n FROM agent GROUP ALL; SELECT count() AS n FROM history GROUP ALL; SELECT count() AS n FROM package GROUP ALL;",
                Value::Null,
            )
            .await?;
        let mut out = BTreeMap::new();
        for (i, name) in ["cis", "agents", "history_records", "packages"]
            .iter()
            .enumerate()
        {
            let rows: Vec<Value> = res.take(i)?;
            let n = rows
                .first()
                .and_then(|r| r.get("n"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            out.insert((*name).to_string(), n);
        }
        Ok(out)
    }
}
