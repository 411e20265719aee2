//! The database schema, defined in code and versioned.
//!
//! Each migration runs once, and a newer server upgrades an older data directory in place.
//! Tables stay schemaless (inventory sections evolve with the wire schema); what
//! identification and search rely on is indexed.
//!
//! A migration is its DDL ([`Migration::sql`]), run in one transaction with the version bump,
//! and, when it rewrites records, a data step ([`Migration::batch`]) run before it in batches
//! of [`BATCH`] records, one transaction each: a million CIs are a thousand small
//! transactions, not one that holds the whole table. A batch selects only records not yet
//! rewritten and rewrites them completely, so it is idempotent: a server stopped half-way
//! resumes where it stopped, with the same result. The version moves only after the last
//! batch, in the transaction of the DDL, which also checks that nothing is left.
//!
//! Every transaction (batch or DDL) is a compare-and-set on `meta:schema`: it applies only on
//! top of the version before it. Two servers starting on one database at once both run
//! batches (they rewrite the same records the same way; a write conflict is retried), and
//! only one of them bumps the version; the other sees it moved and goes on from there.

use super::{StorageError, Store};

/// Records rewritten per transaction by a data migration.
pub const BATCH: usize = 1_000;

/// One schema migration.
pub struct Migration {
    /// A data rewrite in batches, run before [`Self::sql`] until a batch finds fewer than
    /// `$n` records: statements that rewrite at most `$n` records not yet rewritten and end
    /// with `RETURN` of how many they rewrote. Idempotent DDL they need goes first.
    pub batch: Option<&'static str>,
    /// Statements run once, in the transaction that bumps the version (DDL).
    pub sql: &'static str,
}

/// A migration of DDL only.
const fn ddl(sql: &'static str) -> Migration {
    Migration { batch: None, sql }
}

/// Migrations, in order; index + 1 is the schema version they produce.
pub const MIGRATIONS: &[Migration] = &[
    // 1: the foundation.
    ddl("DEFINE TABLE IF NOT EXISTS meta SCHEMALESS;
     DEFINE TABLE IF NOT EXISTS token SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS token_hash ON token FIELDS hash UNIQUE;
     DEFINE TABLE IF NOT EXISTS agent SCHEMALESS;
     DEFINE TABLE IF NOT EXISTS ci SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS ci_class ON ci FIELDS class;
     DEFINE INDEX IF NOT EXISTS ci_name ON ci FIELDS name;
     DEFINE INDEX IF NOT EXISTS ci_hardware_uuid ON ci FIELDS keys.hardware_uuid;
     DEFINE INDEX IF NOT EXISTS ci_vendor_serial ON ci FIELDS keys.vendor_serial;
     DEFINE INDEX IF NOT EXISTS ci_machine_id ON ci FIELDS keys.machine_id;
     DEFINE INDEX IF NOT EXISTS ci_fqdn ON ci FIELDS keys.fqdn;
     DEFINE TABLE IF NOT EXISTS host_mac SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS host_mac_mac ON host_mac FIELDS mac;
     DEFINE INDEX IF NOT EXISTS host_mac_ci ON host_mac FIELDS ci;
     DEFINE INDEX IF NOT EXISTS ci_packages ON ci FIELDS packages;
     DEFINE INDEX IF NOT EXISTS ci_last_seen ON ci FIELDS last_seen;
     DEFINE TABLE IF NOT EXISTS package SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS package_name ON package FIELDS name;
     DEFINE TABLE IF NOT EXISTS history SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS history_ci_at ON history FIELDS ci, at;"),
    // 2: volatile values (boot time, CPU clock, filesystem usage, socket pids) and the package
    // keys move out of the CI document into records of their own, so the frequent writes
    // (new usage figures, a changed section) no longer rewrite hundreds of package keys.
    // `CONTAINSANY` on an array is not index-served in SurrealDB 3.3, so the package index
    // only slowed writes: it goes.
    // Each batch moves the keys of CIs that still have them inline and unsets them there, in
    // one transaction, so a CI is either untouched or done. The index goes first: it would
    // serve `packages != NONE` with one row per key (a CI several times) and slow each unset.
    Migration {
        batch: Some(
            "DEFINE TABLE IF NOT EXISTS ci_volatile SCHEMALESS;
             DEFINE TABLE IF NOT EXISTS ci_software SCHEMALESS;
             REMOVE INDEX IF EXISTS ci_packages ON ci;
             LET $batch = (SELECT id, packages FROM ci WHERE packages != NONE LIMIT $n);
             FOR $c IN $batch {
                 UPSERT type::record('ci_software', record::id($c.id)) SET ci = $c.id, packages = $c.packages;
                 UPDATE $c.id UNSET packages;
             };
             RETURN array::len($batch);",
        ),
        sql: "IF array::len((SELECT VALUE id FROM ci WHERE packages != NONE LIMIT 1)) > 0 {
                  THROW \"schema migration 2 incomplete: CIs still hold package keys\"
              };
              REMOVE INDEX IF EXISTS ci_packages ON ci;",
    },
    // 3: network devices. Their identification keys (chassis serial, chassis ids, sysName +
    // address) are looked up through their own indexed table, one row per key, as host MACs
    // are: a `CONTAINSANY`/`IN` over arrays in the CI is not index-served. Each device has a
    // small state record written every poll (volatile values, the latest metrics sample) and a
    // topology record (neighbours, forwarding and ARP entries) replaced when it changes.
    ddl("DEFINE TABLE IF NOT EXISTS device_key SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS device_key_key ON device_key FIELDS key;
     DEFINE INDEX IF NOT EXISTS device_key_ci ON device_key FIELDS ci;
     DEFINE TABLE IF NOT EXISTS device_state SCHEMALESS;
     DEFINE TABLE IF NOT EXISTS device_topology SCHEMALESS;"),
    // 4: relationships, as graph edges between CIs (`RELATE ci:a->rel:k->ci:b`); `ENFORCED`
    // refuses an edge to a CI that does not exist. Edges of a CI are found through the `in`
    // and `out` indexes, stale candidates through `last_seen`; change records by window.
    ddl("DEFINE TABLE IF NOT EXISTS rel TYPE RELATION IN ci OUT ci ENFORCED SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS rel_in ON rel FIELDS in;
     DEFINE INDEX IF NOT EXISTS rel_out ON rel FIELDS out;
     DEFINE INDEX IF NOT EXISTS rel_last_seen ON rel FIELDS last_seen;
     DEFINE TABLE IF NOT EXISTS change SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS change_start ON change FIELDS start;"),
    // 5: availability and capacity. Metric samples arrive as one record per batch and CI
    // (`metric_batch`), marked pending per CI and day; the compaction turns a closed day into
    // one raw record and one rollup record per CI, and one daily-rollup record per series
    // (read by name for capacity). Availability signals are merged spans per CI and signal;
    // server runs say when anyone was listening; SLA targets, maintenance windows, and states
    // entered by hand (an outage no monitor saw).
    ddl("DEFINE TABLE IF NOT EXISTS metric_batch SCHEMALESS;
     DEFINE TABLE IF NOT EXISTS series_pending SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS series_pending_day ON series_pending FIELDS day;
     DEFINE TABLE IF NOT EXISTS series_raw SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS series_raw_day ON series_raw FIELDS day;
     DEFINE TABLE IF NOT EXISTS series_roll SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS series_roll_day ON series_roll FIELDS day;
     DEFINE TABLE IF NOT EXISTS series_daily SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS series_daily_n ON series_daily FIELDS n;
     DEFINE TABLE IF NOT EXISTS signal SCHEMALESS;
     DEFINE TABLE IF NOT EXISTS server_run SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS server_run_alive ON server_run FIELDS alive;
     DEFINE TABLE IF NOT EXISTS sla SCHEMALESS;
     DEFINE TABLE IF NOT EXISTS maintenance SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS maintenance_ci ON maintenance FIELDS ci;
     DEFINE INDEX IF NOT EXISTS maintenance_start ON maintenance FIELDS start;
     DEFINE TABLE IF NOT EXISTS manual_state SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS manual_state_ci ON manual_state FIELDS ci;"),
    // 6: the web UI's accounts and sessions. A session record is keyed by the SHA-256 of its
    // cookie and links to its user or API token.
    ddl("DEFINE TABLE IF NOT EXISTS web_user SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS web_user_name ON web_user FIELDS name UNIQUE;
     DEFINE TABLE IF NOT EXISTS web_session SCHEMALESS;
     DEFINE INDEX IF NOT EXISTS web_session_user ON web_session FIELDS user;
     DEFINE INDEX IF NOT EXISTS web_session_expires ON web_session FIELDS expires_at;"),
    // 7: a change's impact report and affected CIs in records of their own (`change_impact`,
    // `change_affected`, same id), the count in the change. Both run to megabytes for a core
    // device, and every list of changes read them (20 changes on switches: a second to list).
    Migration {
        batch: Some(
            "DEFINE TABLE IF NOT EXISTS change_impact SCHEMALESS;
             DEFINE TABLE IF NOT EXISTS change_affected SCHEMALESS;
             LET $batch = (SELECT id, impact, affected FROM change WHERE affected != NONE LIMIT $n);
             FOR $c IN $batch {
                 UPSERT type::record('change_impact', record::id($c.id)) SET impact = $c.impact;
                 UPSERT type::record('change_affected', record::id($c.id)) SET affected = $c.affected;
                 UPDATE $c.id SET affected_count = array::len($c.affected);
                 UPDATE $c.id UNSET impact, affected;
             };
             RETURN array::len($batch);",
        ),
        sql: "IF array::len((SELECT VALUE id FROM change WHERE affected != NONE LIMIT 1)) > 0 {
                  THROW \"schema migration 7 incomplete: changes still hold their impact\"
              };",
    },
    // 8: CI lists by class in name order, and the class-sorted list, from an index: the class
    // index alone made SurrealDB sort every CI of the class for one page.
    ddl("DEFINE INDEX IF NOT EXISTS ci_class_name ON ci FIELDS class, name;"),
    // 9: the CI list's total from a count index (sums of per-write deltas, which SurrealDB
    // compacts) instead of counting every record key: 315,000 keys took most of a 55 ms page.
    ddl("DEFINE INDEX IF NOT EXISTS ci_count ON ci COUNT;"),
];

/// The schema version this build writes.
pub fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Brings the schema up to date, or refuses a newer one.
pub async fn migrate(store: &Store) -> Result<(), StorageError> {
    migrate_in_batches(store, BATCH).await
}

/// [`migrate`] with data migrations in batches of `batch` records (tests use small ones).
pub(crate) async fn migrate_in_batches(store: &Store, batch: usize) -> Result<(), StorageError> {
    let found = store.schema_version().await?;
    if found > current_version() {
        return Err(StorageError::NewerSchema {
            found,
            supported: current_version(),
        });
    }
    let mut found = found;
    let mut raced = 0;
    while (found as usize) < MIGRATIONS.len() {
        let version = found + 1;
        tracing::info!(version, "applying schema migration");
        match apply(store, version, batch).await {
            Ok(()) => found = version,
            // Another server is migrating the same database: see where it got to.
            Err(e) if raced < 20 => {
                raced += 1;
                tracing::info!(version, error = %e, "schema migration not applied; reading the version again");
                tokio::time::sleep(std::time::Duration::from_millis(50 * raced)).await;
                let now = store.schema_version().await?;
                if now == found {
                    // Nobody moved it: the failure was the migration's own.
                    return Err(e);
                }
                found = now;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Applies migration `version` on top of `version - 1`: its data batches until one finds
/// less than a full batch left, then its DDL with the version bump.
pub(crate) async fn apply(store: &Store, version: u32, batch: usize) -> Result<(), StorageError> {
    let migration = &MIGRATIONS[version as usize - 1];
    let batch = batch.max(1);
    if let Some(sql) = migration.batch {
        let mut done = 0;
        loop {
            let n = store.apply_migration_batch(version, sql, batch).await?;
            done += n;
            if n < batch {
                break;
            }
            if done % (100 * batch) == 0 {
                tracing::info!(version, records = done, "schema migration in progress");
            }
        }
        tracing::info!(
            version,
            records = done,
            "schema migration rewrote its records"
        );
    }
    store.apply_migration(version, migration.sql).await
}

#[cfg(test)]
mod tests;
