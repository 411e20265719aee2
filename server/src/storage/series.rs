//! Metric time series: ingest records, compacted day blocks and rollups.
//!
//! - `metric_batch:[ci, at, key]`: one record per received batch and CI, written when the
//!   batch is acknowledged (its samples, compressed, as bytes). Cheap to write; read back only
//!   for the current day and by the compaction.
//! - `series_pending:[ci, day]`: which (CI, UTC day) pairs have ingest records left, with a
//!   counter bumped by every write, so the compaction finds its work without a scan and never
//!   drops a marker a later batch renewed.
//! - `series_raw:[ci, day]`: every series of a CI for one day, one encoded block each.
//! - `series_roll:[ci, day]`: the 5-minute and hourly rollups of that day, per series.
//! - `series_daily:[ci, name, hash]`: the daily rollups of one series, kept for ever.
//!
//! Blocks are opaque bytes here; `cmdb-series` encodes them.

use surrealdb::types::{Bytes, SurrealValue, Value as SValue, Variables};

use super::{StorageError, Store, valid_key};

/// One batch's samples for one CI, as written at ingest.
#[derive(Debug, Clone)]
pub struct IngestRecord {
    pub ci: String,
    /// Time of its oldest sample, unix seconds.
    pub at: i64,
    /// UTC day start of `at`.
    pub day: i64,
    /// Hex key derived from the agent and batch id: a redelivery writes the same record.
    pub key: String,
    /// The samples, encoded and compressed by the metrics service.
    pub body: Vec<u8>,
    /// Whether to (re)write the (CI, day) pending marker: the first record of a (CI, day)
    /// a server writes since it started or since that day was last compacted.
    pub mark: bool,
}

/// A stored ingest record.
#[derive(Debug, Clone)]
pub struct IngestRow {
    /// The record id, to delete exactly what was compacted.
    pub id: surrealdb::types::RecordId,
    pub at: i64,
    pub body: Vec<u8>,
}

/// One series' block in a day record.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesBlock {
    pub name: String,
    pub instance: String,
    pub data: Vec<u8>,
}

/// One series' rollups of a day.
#[derive(Debug, Clone, PartialEq)]
pub struct RollBlock {
    pub name: String,
    pub instance: String,
    pub five_min: Vec<u8>,
    pub hour: Vec<u8>,
}

/// A pending (CI, day) and its write counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDay {
    pub ci: String,
    pub day: i64,
    pub writes: i64,
}

/// What the compaction of one (CI, day) writes.
#[derive(Debug, Clone)]
pub struct Compacted {
    pub ci: String,
    pub day: i64,
    pub raw: Vec<SeriesBlock>,
    pub roll: Vec<RollBlock>,
    /// The ingest records now in the blocks.
    pub consumed: Vec<surrealdb::types::RecordId>,
    /// The pending marker's counter when the records were read.
    pub writes: i64,
}

#[derive(SurrealValue)]
#[surreal(crate = "surrealdb::types")]
struct IngestRowDb {
    id: surrealdb::types::RecordId,
    at: i64,
    body: Bytes,
}

#[derive(SurrealValue)]
#[surreal(crate = "surrealdb::types")]
struct BlockDb {
    n: String,
    i: String,
    d: Bytes,
}

#[derive(SurrealValue)]
#[surreal(crate = "surrealdb::types")]
struct DayDb {
    day: i64,
    s: Vec<BlockDb>,
}

#[derive(SurrealValue)]
#[surreal(crate = "surrealdb::types")]
struct RollDb {
    n: String,
    i: String,
    m5: Bytes,
    h1: Bytes,
}

#[derive(SurrealValue)]
#[surreal(crate = "surrealdb::types")]
struct RollDayDb {
    day: i64,
    s: Vec<RollDb>,
}

#[derive(SurrealValue)]
#[surreal(crate = "surrealdb::types")]
struct DailyDb {
    ci: String,
    n: String,
    i: String,
    d: Bytes,
}

#[derive(SurrealValue)]
#[surreal(crate = "surrealdb::types")]
struct PendingDb {
    ci: String,
    day: i64,
    n: i64,
}

fn bytes(v: &[u8]) -> SValue {
    SValue::Bytes(Bytes::from(v.to_vec()))
}

/// `$n` and `$i`: the series a day-record read picks out.
fn series_vars(name: &str, instance: &str) -> Variables {
    let mut vars = Variables::new();
    vars.insert("n".to_string(), SValue::String(name.to_string()));
    vars.insert("i".to_string(), SValue::String(instance.to_string()));
    vars
}

fn key_ok(ci: &str) -> Result<(), StorageError> {
    if valid_key(ci) {
        Ok(())
    } else {
        Err(StorageError::BadKey(ci.to_string()))
    }
}

/// A short stable hex key for a series instance (instances are free text).
pub fn instance_key(instance: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(instance.as_bytes())[..8])
}

/// Series names are checked by the caller (`check_series_key`: `[a-z0-9._]`), so they can be
/// written into a record id; refuse anything else here too.
fn name_ok(name: &str) -> Result<(), StorageError> {
    if !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
    {
        Ok(())
    } else {
        Err(StorageError::BadKey(name.to_string()))
    }
}

impl Store {
    /// Writes ingest records (renewing the pending markers of those that ask for it) and the
    /// availability signals that came with them, in one transaction.
    pub async fn put_metric_records(
        &self,
        recs: &[IngestRecord],
        signals: &[super::SignalRecord],
    ) -> Result<(), StorageError> {
        if recs.is_empty() && signals.is_empty() {
            return Ok(());
        }
        let mut sql = String::from("BEGIN TRANSACTION;");
        let mut vars = Variables::new();
        for (n, r) in recs.iter().enumerate() {
            key_ok(&r.ci)?;
            key_ok(&r.key)?;
            sql.push_str(&format!(
                "UPSERT metric_batch:['{ci}', {at}, '{key}'] CONTENT {{ ci: '{ci}', day: {day}, at: {at}, body: $b{n} }};",
                ci = r.ci,
                at = r.at,
                key = r.key,
                day = r.day,
            ));
            if r.mark {
                sql.push_str(&format!(
                    "UPSERT series_pending:['{ci}', {day}] SET ci = '{ci}', day = {day}, n = (n OR 0) + 1;",
                    ci = r.ci,
                    day = r.day,
                ));
            }
            vars.insert(format!("b{n}"), bytes(&r.body));
        }
        for (n, sig) in signals.iter().enumerate() {
            sql.push_str(&format!(
                "UPSERT {} CONTENT $s{n};",
                super::signals::signal_id(&sig.ci, &sig.source, &sig.name)?
            ));
            vars.insert(
                format!("s{n}"),
                surrealdb::types::SurrealValue::into_value(serde_json::to_value(sig)?),
            );
        }
        sql.push_str("COMMIT TRANSACTION;");
        self.run_write_vars(&sql, vars).await
    }

    /// Ingest records of `ci` with `at` in [from, to), oldest first.
    pub async fn metric_records(
        &self,
        ci: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<IngestRow>, StorageError> {
        key_ok(ci)?;
        let sql = format!("SELECT id, at, body FROM metric_batch:['{ci}', {from}]..['{ci}', {to}]");
        let mut res = self.run_vars(&sql, Variables::new()).await?;
        let rows: Vec<IngestRowDb> = res.take(0)?;
        Ok(rows
            .into_iter()
            .map(|r| IngestRow {
                id: r.id,
                at: r.at,
                body: r.body.to_vec(),
            })
            .collect())
    }

    /// Pending (CI, day) pairs for days before `before_day`, oldest first.
    pub async fn pending_days(
        &self,
        before_day: i64,
        limit: u32,
    ) -> Result<Vec<PendingDay>, StorageError> {
        let sql = format!(
            "SELECT ci, day, n FROM series_pending WHERE day < {before_day} ORDER BY day LIMIT {limit}"
        );
        let mut res = self.run_vars(&sql, Variables::new()).await?;
        let rows: Vec<PendingDb> = res.take(0)?;
        Ok(rows
            .into_iter()
            .map(|r| PendingDay {
                ci: r.ci,
                day: r.day,
                writes: r.n,
            })
            .collect())
    }

    /// The compacted raw blocks of `ci` for one day.
    pub async fn raw_day(&self, ci: &str, day: i64) -> Result<Vec<SeriesBlock>, StorageError> {
        key_ok(ci)?;
        let sql = format!("SELECT day, s FROM series_raw:['{ci}', {day}]");
        let mut res = self.run_vars(&sql, Variables::new()).await?;
        let rows: Vec<DayDb> = res.take(0)?;
        Ok(rows.into_iter().flat_map(|d| d.s).map(block).collect())
    }

    /// One series' compacted raw blocks of `ci` for days in [d0, d1], by day.
    pub async fn raw_series(
        &self,
        ci: &str,
        name: &str,
        instance: &str,
        d0: i64,
        d1: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StorageError> {
        key_ok(ci)?;
        let sql = format!(
            "SELECT day, s[WHERE n = $n AND i = $i] AS s FROM series_raw:['{ci}', {d0}]..=['{ci}', {d1}]"
        );
        let mut res = self.run_vars(&sql, series_vars(name, instance)).await?;
        let rows: Vec<DayDb> = res.take(0)?;
        Ok(rows
            .into_iter()
            .flat_map(|d| {
                let day = d.day;
                d.s.into_iter().map(move |b| (day, b.d.to_vec()))
            })
            .collect())
    }

    /// One series' rollup blocks (5 min, hour) of `ci` for days in [d0, d1], by day.
    pub async fn roll_series(
        &self,
        ci: &str,
        name: &str,
        instance: &str,
        d0: i64,
        d1: i64,
    ) -> Result<Vec<(i64, RollBlock)>, StorageError> {
        key_ok(ci)?;
        let sql = format!(
            "SELECT day, s[WHERE n = $n AND i = $i] AS s FROM series_roll:['{ci}', {d0}]..=['{ci}', {d1}]"
        );
        let mut res = self.run_vars(&sql, series_vars(name, instance)).await?;
        let rows: Vec<RollDayDb> = res.take(0)?;
        Ok(rows
            .into_iter()
            .flat_map(|d| {
                let day = d.day;
                d.s.into_iter().map(move |r| (day, roll(r)))
            })
            .collect())
    }

    /// The daily-rollup block of one series.
    pub async fn daily_series(
        &self,
        ci: &str,
        name: &str,
        instance: &str,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        key_ok(ci)?;
        name_ok(name)?;
        let sql = format!(
            "SELECT ci, n, i, d FROM series_daily:['{ci}', '{name}', '{}']",
            instance_key(instance)
        );
        let mut res = self.run_vars(&sql, Variables::new()).await?;
        let rows: Vec<DailyDb> = res.take(0)?;
        Ok(rows.into_iter().next().map(|r| r.d.to_vec()))
    }

    /// Every daily-rollup block of `ci`.
    pub async fn daily_of_ci(&self, ci: &str) -> Result<Vec<SeriesBlock>, StorageError> {
        key_ok(ci)?;
        let sql = format!("SELECT ci, n, i, d FROM series_daily:['{ci}']..['{ci}', {{}}]");
        let mut res = self.run_vars(&sql, Variables::new()).await?;
        let rows: Vec<DailyDb> = res.take(0)?;
        Ok(rows
            .into_iter()
            .map(|r| SeriesBlock {
                name: r.n,
                instance: r.i,
                data: r.d.to_vec(),
            })
            .collect())
    }

    /// Daily-rollup blocks of every series named one of `names`, for every CI (capacity).
    pub async fn daily_by_names(
        &self,
        names: &[&str],
    ) -> Result<Vec<(String, SeriesBlock)>, StorageError> {
        let mut vars = Variables::new();
        vars.insert(
            "names".to_string(),
            SValue::Array(
                names
                    .iter()
                    .map(|n| SValue::String((*n).to_string()))
                    .collect::<Vec<_>>()
                    .into(),
            ),
        );
        let mut res = self
            .run_vars(
                "SELECT ci, n, i, d FROM series_daily WHERE n IN $names",
                vars,
            )
            .await?;
        let rows: Vec<DailyDb> = res.take(0)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.ci,
                    SeriesBlock {
                        name: r.n,
                        instance: r.i,
                        data: r.d.to_vec(),
                    },
                )
            })
            .collect())
    }

    /// Writes compactions of one CI (several days) and its updated daily-rollup blocks, and
    /// removes the ingest records they consumed, in one transaction; each day's pending
    /// marker goes only if no batch renewed it meanwhile.
    pub async fn write_compacted(
        &self,
        ci: &str,
        days: &[Compacted],
        daily: &[SeriesBlock],
    ) -> Result<(), StorageError> {
        key_ok(ci)?;
        let mut vars = Variables::new();
        let mut sql = String::from("BEGIN TRANSACTION;");
        let obj = |pairs: Vec<(&str, SValue)>| {
            SValue::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<std::collections::BTreeMap<_, _>>()
                    .into(),
            )
        };
        for (n, c) in days.iter().enumerate() {
            if c.ci != ci {
                return Err(StorageError::BadKey(c.ci.clone()));
            }
            let day = c.day;
            if !c.consumed.is_empty() {
                let raw: Vec<SValue> = c
                    .raw
                    .iter()
                    .map(|b| {
                        obj(vec![
                            ("n", SValue::String(b.name.clone())),
                            ("i", SValue::String(b.instance.clone())),
                            ("d", bytes(&b.data)),
                        ])
                    })
                    .collect();
                let roll: Vec<SValue> = c
                    .roll
                    .iter()
                    .map(|b| {
                        obj(vec![
                            ("n", SValue::String(b.name.clone())),
                            ("i", SValue::String(b.instance.clone())),
                            ("m5", bytes(&b.five_min)),
                            ("h1", bytes(&b.hour)),
                        ])
                    })
                    .collect();
                vars.insert(format!("raw{n}"), SValue::Array(raw.into()));
                vars.insert(format!("roll{n}"), SValue::Array(roll.into()));
                vars.insert(
                    format!("consumed{n}"),
                    SValue::Array(
                        c.consumed
                            .iter()
                            .cloned()
                            .map(SValue::RecordId)
                            .collect::<Vec<_>>()
                            .into(),
                    ),
                );
                sql.push_str(&format!(
                    "UPSERT series_raw:['{ci}', {day}] CONTENT {{ ci: '{ci}', day: {day}, s: $raw{n} }};
                     UPSERT series_roll:['{ci}', {day}] CONTENT {{ ci: '{ci}', day: {day}, s: $roll{n} }};
                     DELETE $consumed{n};"
                ));
            }
            sql.push_str(&format!(
                "DELETE series_pending:['{ci}', {day}] WHERE n = {};",
                c.writes
            ));
        }
        for (k, b) in daily.iter().enumerate() {
            name_ok(&b.name)?;
            sql.push_str(&format!(
                "UPSERT series_daily:['{ci}', '{name}', '{ik}'] CONTENT {{ ci: '{ci}', n: '{name}', i: $di{k}, d: $dd{k} }};",
                name = b.name,
                ik = instance_key(&b.instance),
            ));
            vars.insert(format!("di{k}"), SValue::String(b.instance.clone()));
            vars.insert(format!("dd{k}"), bytes(&b.data));
        }
        sql.push_str("COMMIT TRANSACTION;");
        self.run_write_vars(&sql, vars).await
    }

    /// Drops raw day blocks older than `raw_before` and rollup days older than `roll_before`
    /// (day starts, unix seconds). Daily rollups are kept.
    pub async fn expire_series(
        &self,
        raw_before: i64,
        roll_before: i64,
    ) -> Result<(), StorageError> {
        let sql = format!(
            "DELETE series_raw WHERE day < {raw_before}; DELETE series_roll WHERE day < {roll_before};"
        );
        self.run_vars(&sql, Variables::new()).await.map(|_| ())
    }

    /// Bytes held in compacted raw blocks, in 5-minute and hourly rollups, and in daily
    /// rollups (the size benchmark reads them; the daily blocks come back whole, to count
    /// their samples).
    pub async fn series_sizes(&self) -> Result<(u64, u64, Vec<Vec<u8>>), StorageError> {
        let sql = "RETURN math::sum((SELECT VALUE math::sum(s.map(|$b| bytes::len($b.d))) FROM series_raw));
                   RETURN math::sum((SELECT VALUE math::sum(s.map(|$b| bytes::len($b.m5) + bytes::len($b.h1))) FROM series_roll));
                   SELECT ci, n, i, d FROM series_daily;";
        let mut res = self.run_vars(sql, Variables::new()).await?;
        let raw: Option<i64> = res.take(0)?;
        let roll: Option<i64> = res.take(1)?;
        let daily: Vec<DailyDb> = res.take(2)?;
        Ok((
            raw.unwrap_or(0).max(0) as u64,
            roll.unwrap_or(0).max(0) as u64,
            daily.into_iter().map(|d| d.d.to_vec()).collect(),
        ))
    }
}

fn block(b: BlockDb) -> SeriesBlock {
    SeriesBlock {
        name: b.n,
        instance: b.i,
        data: b.d.to_vec(),
    }
}

fn roll(r: RollDb) -> RollBlock {
    RollBlock {
        name: r.n,
        instance: r.i,
        five_min: r.m5.to_vec(),
        hour: r.h1.to_vec(),
    }
}
