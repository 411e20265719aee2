//! Network devices: their identification lookup (`device_key`), the per-poll state
//! (`device_state`) and topology (`device_topology`) records, and the device report's write.

use serde::Deserialize;
use serde_json::{Value, json};

use super::ci_doc::{CiDoc, create_ci_sql, set_fields};
use super::{HistoryRecord, StorageError, Store, rid, to_doc, valid_key};
use crate::domain::device_report;
use crate::domain::identify::{DeviceCandidate, DeviceKeys};

/// What device ingestion reads of a known device CI before deciding what to write: no
/// inventory, only hashes, keys and the previous sample.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceForUpdate {
    pub key: String,
    pub class: String,
    #[serde(default)]
    pub device_keys: DeviceKeys,
    #[serde(default)]
    pub targets: Vec<String>,
    /// Hash of the stable section.
    #[serde(default)]
    pub stable_hash: Option<String>,
    /// Time of the previous sample (`device_state.sample_at`).
    #[serde(default)]
    pub sample_at: Option<String>,
    #[serde(default)]
    pub uptime_ticks: Option<u32>,
    /// Hash of the stored topology observations.
    #[serde(default)]
    pub topology_hash: Option<String>,
    /// The agents assigned to poll it (none: written before assignment existed; the next
    /// poller is bound).
    #[serde(default)]
    pub pollers: Vec<String>,
}

/// Everything one device report writes, in one transaction.
#[derive(Debug, Clone)]
pub struct DeviceWrite {
    pub ci_key: String,
    /// The whole new CI document, or the top-level fields to set (none: the CI document is
    /// not rewritten).
    pub doc: CiDoc,
    /// The rows of the `device_key` lookup table, when they may have changed.
    pub keys: Option<Vec<String>>,
    pub history: Vec<HistoryRecord>,
    /// Other CIs the identification rule also matched.
    pub duplicates: Vec<String>,
    /// The `device_state` record: latest volatile values and metrics sample, written each poll.
    pub state: Value,
    /// The `device_topology` record, when its hash changed.
    pub topology: Option<Value>,
    /// The poller (a new device counts against its quota).
    pub agent: String,
}

/// The per-poll records of a device: `device_state` and `device_topology`.
#[derive(Debug, Clone, Default)]
pub struct DeviceObservations {
    pub state: Option<DeviceStateRecord>,
    pub topology: Option<DeviceTopologyRecord>,
}

/// `device_state`: the latest poll's volatile values and metrics sample (one per device,
/// rewritten every poll).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceStateRecord {
    /// When the server received the poll.
    pub at: String,
    /// When the sample was taken (never later than `at`).
    pub sample_at: String,
    pub collected_at: String,
    pub poller: String,
    pub target: String,
    pub source: cmdb_shared::device::TargetSource,
    /// Interface oper_status, storage used_bytes, processor load_percent by index (see
    /// `domain::device_report::split`).
    #[serde(default)]
    pub volatile: Value,
    pub metrics: cmdb_shared::device::DeviceMetrics,
}

/// `device_topology`: neighbours, forwarding and ARP entries of the latest poll that changed
/// them (one per device, replaced whole).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceTopologyRecord {
    /// When these entries were stored (they were unchanged in every poll since).
    pub at: String,
    #[serde(default)]
    pub lldp_neighbors: Vec<cmdb_shared::device::LldpNeighbor>,
    #[serde(default)]
    pub cdp_neighbors: Vec<cmdb_shared::device::CdpNeighbor>,
    #[serde(default)]
    pub forwarding: Vec<cmdb_shared::device::ForwardingEntry>,
    #[serde(default)]
    pub arp: Vec<cmdb_shared::device::ArpEntry>,
}

impl Store {
    /// The device CI `poller` last polled at `target`, if any.
    pub async fn device_ci_for_target(
        &self,
        poller: &str,
        target: &str,
    ) -> Result<Option<String>, StorageError> {
        let rows: Vec<Value> = self
            .query_rows(
                "SELECT VALUE record::id(id) FROM device_state WHERE poller = $p AND target = $t LIMIT 1",
                serde_json::json!({ "p": poller, "t": target }),
            )
            .await?;
        Ok(rows.first().and_then(Value::as_str).map(str::to_string))
    }

    /// Device CIs having any of these `device_key` values, with their keys.
    pub async fn device_candidates(
        &self,
        lookup: &[String],
    ) -> Result<Vec<DeviceCandidate>, StorageError> {
        if lookup.is_empty() {
            return Ok(Vec::new());
        }
        // One indexed lookup per key, then the CIs by record id (direct reads, no scan).
        let mut sql = String::new();
        let mut vars = serde_json::Map::new();
        for (i, k) in lookup.iter().enumerate() {
            sql.push_str(&format!(
                "SELECT VALUE ci FROM device_key WHERE key = $k{i};"
            ));
            vars.insert(format!("k{i}"), Value::String(k.clone()));
        }
        let mut res = self.run(&sql, Value::Object(vars)).await?;
        let mut keys: Vec<String> = Vec::new();
        for i in 0..lookup.len() {
            let found: Vec<String> = Self::rows(&mut res, i)?;
            keys.extend(found.into_iter().filter(|k| valid_key(k)));
        }
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let targets: Vec<String> = keys
            .iter()
            .map(|k| rid("ci", k))
            .collect::<Result<_, _>>()?;
        let sql = format!(
            "SELECT record::id(id) AS key, device_keys, first_seen FROM {}",
            targets.join(", ")
        );
        #[derive(Deserialize)]
        struct Row {
            key: String,
            #[serde(default)]
            device_keys: DeviceKeys,
            first_seen: String,
        }
        let rows: Vec<Row> = self.query_rows(&sql, Value::Null).await?;
        Ok(rows
            .into_iter()
            .map(|r| DeviceCandidate {
                ci_id: r.key,
                keys: r.device_keys,
                first_seen: r.first_seen,
                owner: None,
            })
            .collect())
    }

    /// What device ingestion needs of a device CI: hashes, keys, targets and the previous
    /// sample; not the inventory. `None` unless the CI exists and is a network device.
    pub async fn device_for_update(
        &self,
        key: &str,
    ) -> Result<Option<DeviceForUpdate>, StorageError> {
        let sql = format!(
            "SELECT record::id(id) AS key, class, device_keys, targets, pollers ?? [] AS pollers, section_hashes.{section} AS stable_hash FROM {ci};
             SELECT sample_at, metrics.uptime_ticks AS uptime_ticks FROM {state};
             SELECT hash FROM {topology};",
            section = device_report::SECTION,
            ci = rid("ci", key)?,
            state = rid("device_state", key)?,
            topology = rid("device_topology", key)?,
        );
        let mut res = self.run(&sql, Value::Null).await?;
        let Some(mut rec) = Self::rows::<DeviceForUpdate>(&mut res, 0)?
            .into_iter()
            .next()
            .filter(|r| r.class == device_report::CLASS)
        else {
            return Ok(None);
        };
        let state: Vec<Value> = res.take(1)?;
        if let Some(st) = state.first() {
            rec.sample_at = st
                .get("sample_at")
                .and_then(Value::as_str)
                .map(str::to_string);
            rec.uptime_ticks = st
                .get("uptime_ticks")
                .and_then(Value::as_u64)
                .and_then(|t| u32::try_from(t).ok());
        }
        let topology: Vec<Value> = res.take(2)?;
        rec.topology_hash = topology
            .first()
            .and_then(|t| t.get("hash"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Some(rec))
    }

    /// The stable section of a device CI (read only when a poll changed it, for the diff).
    pub async fn device_stable(&self, key: &str) -> Result<Option<Value>, StorageError> {
        let sql = format!(
            "SELECT VALUE sections.{} FROM {}",
            device_report::SECTION,
            rid("ci", key)?
        );
        let stable: Option<Value> = self.query_one(&sql, Value::Null).await?;
        Ok(stable.filter(|v| !v.is_null()))
    }

    /// The state and topology records of a device (either may be absent).
    pub async fn device_observations(&self, key: &str) -> Result<DeviceObservations, StorageError> {
        let sql = format!(
            "SELECT * OMIT id FROM {}; SELECT * OMIT id FROM {};",
            rid("device_state", key)?,
            rid("device_topology", key)?
        );
        let mut res = self.run(&sql, Value::Null).await?;
        Ok(DeviceObservations {
            state: Self::rows(&mut res, 0)?.into_iter().next(),
            topology: Self::rows(&mut res, 1)?.into_iter().next(),
        })
    }

    /// Writes one device report atomically: the CI (if it changed), its lookup keys, history,
    /// duplicate flags, the state record and (if changed) the topology record.
    pub async fn apply_device(&self, w: &DeviceWrite) -> Result<(), StorageError> {
        let mut sql = String::from("BEGIN TRANSACTION;\n");
        let mut vars = serde_json::Map::new();
        let ci = rid("ci", &w.ci_key)?;
        match &w.doc {
            CiDoc::New(doc) => {
                create_ci_sql(&w.ci_key, doc, "ci", false, &mut sql, &mut vars)?;
                sql.push_str(&format!(
                    "UPDATE {} SET devices_created = (devices_created ?? 0) + 1;\n",
                    rid("agent", &w.agent)?
                ));
            }
            CiDoc::Update(fields) if !fields.is_empty() => {
                let mut sets = Vec::new();
                set_fields(fields, "f", false, &mut sets, &mut vars)?;
                sql.push_str(&format!("UPDATE {ci} SET {};\n", sets.join(", ")));
            }
            CiDoc::Update(_) => {}
        }
        if let Some(keys) = &w.keys {
            sql.push_str("DELETE device_key WHERE ci = $ci_key;\n");
            if !keys.is_empty() {
                sql.push_str("INSERT INTO device_key $keys;\n");
                let rows: Vec<Value> = keys
                    .iter()
                    .map(|k| json!({"key": k, "ci": w.ci_key}))
                    .collect();
                vars.insert("keys".into(), Value::Array(rows));
            }
        }
        if !w.history.is_empty() {
            sql.push_str("INSERT INTO history $history;\n");
            vars.insert("history".into(), to_doc(&w.history)?);
        }
        for dup in &w.duplicates {
            sql.push_str(&format!(
                "UPDATE {} SET suspected_duplicates = array::union(suspected_duplicates ?? [], [$ci_key]);\n",
                rid("ci", dup)?
            ));
        }
        sql.push_str(&format!(
            "UPSERT {} CONTENT $state;\n",
            rid("device_state", &w.ci_key)?
        ));
        vars.insert("state".into(), w.state.clone());
        if let Some(t) = &w.topology {
            sql.push_str(&format!(
                "UPSERT {} CONTENT $topology;\n",
                rid("device_topology", &w.ci_key)?
            ));
            vars.insert("topology".into(), t.clone());
        }
        vars.insert("ci_key".into(), Value::String(w.ci_key.clone()));
        sql.push_str("COMMIT TRANSACTION;");
        self.run_write(&sql, Value::Object(vars)).await?;
        let catalogued = super::catalogue::touches_catalogue(&w.doc);
        let this = std::iter::once(&w.ci_key).filter(|_| catalogued);
        self.catalogue_touch(this.chain(&w.duplicates)).await;
        if let Some(t) = super::catalogue::seen_only(&w.doc) {
            self.catalogue_seen([(w.ci_key.as_str(), t)]).await;
        }
        Ok(())
    }
}
