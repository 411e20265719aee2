use super::*;
use crate::storage::CiFilter;
use serde_json::Value;

#[tokio::test]
async fn a_fresh_database_gets_the_current_schema_and_reopening_is_a_no_op() {
    let store = Store::memory().await.expect("memory");
    assert_eq!(
        store.schema_version().await.expect("version"),
        current_version()
    );
    migrate(&store).await.expect("second migrate");
    assert_eq!(
        store.schema_version().await.expect("version"),
        current_version()
    );
}

/// A store at schema version 1 holding one host CI with its package keys inline.
async fn version_1_with_a_ci() -> Store {
    let store = Store::unmigrated().await.expect("memory");
    store
        .apply_migration(1, MIGRATIONS[0].sql)
        .await
        .expect("version 1");
    store
        .raw(
            "CREATE ci:⟨c1⟩ SET class = 'host', name = 'db01', identified_by = 'new', keys = {}, \
             first_seen = '2026-11-01T00:00:00.000Z', last_seen = '2026-11-01T00:00:00.000Z', \
             agent = NONE, suspected_duplicates = [], section_hashes = {}, package_count = 2, \
             packages = ['k1', 'k2'];",
        )
        .await
        .expect("a version-1 CI");
    store
}

#[tokio::test]
async fn version_2_moves_package_keys_out_of_existing_cis() {
    let store = version_1_with_a_ci().await;
    migrate(&store).await.expect("upgrade");
    let ci = store
        .ci_for_update("c1", &[], true)
        .await
        .expect("read")
        .expect("ci");
    assert_eq!(ci.packages, vec!["k1".to_string(), "k2".to_string()]);
    let hosts = store
        .hosts_with_packages(&["k2".to_string()])
        .await
        .expect("search");
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].name, "db01");
}

#[tokio::test]
async fn version_3_adds_device_lookups_and_keeps_existing_cis_readable() {
    let store = Store::unmigrated().await.expect("memory");
    for version in 1..=2 {
        apply(&store, version, BATCH)
            .await
            .expect("versions 1 and 2");
    }
    store
        .raw(
            "CREATE ci:⟨c1⟩ SET class = 'host', name = 'db01', identified_by = 'new', keys = {}, \
             first_seen = '2026-11-01T00:00:00.000Z', last_seen = '2026-11-01T00:00:00.000Z', \
             agent = NONE, suspected_duplicates = [], section_hashes = {}, package_count = 0, \
             addresses = ['10.0.0.5'];",
        )
        .await
        .expect("a version-2 CI");
    // Before the upgrade the device tables do not exist (SurrealDB 3 refuses to read them).
    assert!(
        store
            .device_candidates(&["serial:9|X".into()])
            .await
            .is_err()
    );
    migrate(&store).await.expect("upgrade");
    assert_eq!(
        store.schema_version().await.expect("version"),
        current_version()
    );
    assert!(
        store
            .device_candidates(&["serial:9|X".into()])
            .await
            .expect("lookup")
            .is_empty()
    );
    let ci = store.ci("c1").await.expect("read").expect("ci");
    assert_eq!((ci.device_keys, ci.vendor, ci.poller), (None, None, None));
    let (list, total) = store
        .list_cis(&CiFilter {
            q: Some("10.0.0.5".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!((list.len(), total), (1, 1));
    assert!(
        store
            .device_observations("c1")
            .await
            .expect("read")
            .state
            .is_none()
    );
}

#[tokio::test]
async fn a_data_directory_from_a_newer_server_is_refused() {
    let store = Store::memory().await.expect("memory");
    store
        .raw(&format!(
            "UPSERT meta:schema SET version = {};",
            current_version() + 5
        ))
        .await
        .expect("fake newer schema");
    let err = migrate(&store).await.expect_err("must refuse");
    assert!(matches!(err, StorageError::NewerSchema { .. }), "{err}");
    assert!(err.to_string().contains("upgrade cmdb-server"), "{err}");
}

#[tokio::test]
async fn two_servers_migrating_one_database_at_once_apply_each_migration_once() {
    let store = version_1_with_a_ci().await;
    let (a, b) = tokio::join!(migrate(&store), migrate(&store));
    a.expect("first server");
    b.expect("second server");
    assert_eq!(
        store.schema_version().await.expect("version"),
        current_version()
    );
    let ci = store
        .ci_for_update("c1", &[], true)
        .await
        .expect("read")
        .expect("ci");
    assert_eq!(ci.packages, vec!["k1".to_string(), "k2".to_string()]);
    // Applying a migration on top of the wrong version is refused and changes nothing.
    let err = store
        .apply_migration(2, MIGRATIONS[1].sql)
        .await
        .expect_err("version 2 again");
    assert!(
        err.to_string().contains("raced") || format!("{err:?}").contains("raced"),
        "{err:?}"
    );
}

/// A store at schema version 1 holding `n` host CIs with their package keys inline (`c000`,
/// `c001`, …: keys `p<i>` and `shared`) and one CI without packages (`bare`).
async fn version_1_with_cis(n: usize) -> Store {
    let store = Store::unmigrated().await.expect("memory");
    store
        .apply_migration(1, MIGRATIONS[0].sql)
        .await
        .expect("version 1");
    let mut sql = String::new();
    for i in 0..n {
        sql.push_str(&format!(
            "CREATE ci:⟨c{i:03}⟩ SET class = 'host', name = 'h{i}', identified_by = 'new', keys = {{}}, \
             first_seen = '2026-11-01T00:00:00.000Z', last_seen = '2026-11-01T00:00:00.000Z', \
             agent = NONE, suspected_duplicates = [], section_hashes = {{}}, package_count = 2, \
             packages = ['p{i}', 'shared'];\n"
        ));
    }
    sql.push_str(
        "CREATE ci:⟨bare⟩ SET class = 'host', name = 'bare', identified_by = 'new', keys = {}, \
         first_seen = '2026-11-01T00:00:00.000Z', last_seen = '2026-11-01T00:00:00.000Z', \
         agent = NONE, suspected_duplicates = [], section_hashes = {}, package_count = 0;",
    );
    store.raw(&sql).await.expect("version-1 CIs");
    store
}

/// Every CI and every package record, for comparing two migrated stores.
async fn dump(store: &Store) -> (Vec<Value>, Vec<Value>) {
    let cis = store
        .query_rows("SELECT * FROM ci ORDER BY id;", Value::Null)
        .await
        .expect("cis");
    let software = store
        .query_rows("SELECT * FROM ci_software ORDER BY id;", Value::Null)
        .await
        .expect("software");
    (cis, software)
}

/// What version 2 must leave: no CI with inline keys, every CI's keys in `ci_software`.
async fn assert_packages_moved(store: &Store, n: usize) {
    assert_eq!(
        store.schema_version().await.expect("version"),
        current_version()
    );
    let inline: Vec<Value> = store
        .query_rows(
            "SELECT VALUE id FROM ci WHERE packages != NONE;",
            Value::Null,
        )
        .await
        .expect("inline keys");
    assert!(inline.is_empty(), "{inline:?}");
    for i in 0..n {
        let ci = store
            .ci_for_update(&format!("c{i:03}"), &[], true)
            .await
            .expect("read")
            .expect("ci");
        assert_eq!(ci.packages, vec![format!("p{i}"), "shared".to_string()]);
    }
    let bare = store
        .ci_for_update("bare", &[], true)
        .await
        .expect("read")
        .expect("ci");
    assert!(bare.packages.is_empty());
    let (_, software) = dump(store).await;
    assert_eq!(software.len(), n, "one package record per CI that had keys");
    let hosts = store
        .hosts_with_packages(&["shared".to_string()])
        .await
        .expect("search");
    assert_eq!(hosts.len(), n);
}

#[tokio::test]
async fn version_2_moves_more_cis_than_one_batch_in_several_transactions() {
    let store = version_1_with_cis(23).await;
    migrate_in_batches(&store, 5).await.expect("upgrade");
    assert_packages_moved(&store, 23).await;
    // A batch size that divides the count exactly ends on an empty batch.
    let store = version_1_with_cis(20).await;
    migrate_in_batches(&store, 5).await.expect("upgrade");
    assert_packages_moved(&store, 20).await;
}

#[tokio::test]
async fn an_interrupted_data_migration_resumes_to_the_same_result() {
    let batch = MIGRATIONS[1].batch.expect("version 2 rewrites records");
    let uninterrupted = version_1_with_cis(17).await;
    migrate_in_batches(&uninterrupted, 4)
        .await
        .expect("upgrade");

    // Two batches, then the server stops: the version has not moved, four CIs per batch are
    // done and the others untouched.
    let interrupted = version_1_with_cis(17).await;
    for _ in 0..2 {
        let moved = interrupted
            .apply_migration_batch(2, batch, 4)
            .await
            .expect("one batch");
        assert_eq!(moved, 4);
    }
    assert_eq!(interrupted.schema_version().await.expect("version"), 1);
    let inline: Vec<Value> = interrupted
        .query_rows(
            "SELECT VALUE id FROM ci WHERE packages != NONE;",
            Value::Null,
        )
        .await
        .expect("inline keys");
    assert_eq!(inline.len(), 17 - 8);
    // The bump is refused while records are left.
    let err = interrupted
        .apply_migration(2, MIGRATIONS[1].sql)
        .await
        .expect_err("records left");
    assert!(format!("{err:?}").contains("incomplete"), "{err:?}");

    // The next start resumes (with another batch size) and ends where the first one did.
    migrate_in_batches(&interrupted, 3).await.expect("resume");
    assert_packages_moved(&interrupted, 17).await;
    assert_eq!(dump(&interrupted).await, dump(&uninterrupted).await);
}

#[tokio::test]
async fn two_servers_migrating_many_cis_in_batches_at_once_end_with_one_result() {
    let store = version_1_with_cis(30).await;
    let (a, b) = tokio::join!(migrate_in_batches(&store, 4), migrate_in_batches(&store, 4));
    a.expect("first server");
    b.expect("second server");
    assert_packages_moved(&store, 30).await;
}

#[tokio::test]
async fn version_7_moves_change_impacts_and_affected_cis_into_their_own_records() {
    let store = Store::unmigrated().await.expect("memory");
    for version in 1..=6 {
        apply(&store, version, BATCH)
            .await
            .unwrap_or_else(|e| panic!("version {version}: {e:?}"));
    }
    // Changes as version 6 stored them: the impact report inline.
    let mut sql = String::new();
    for i in 0..5 {
        sql.push_str(&format!(
            "CREATE change:⟨k{i}⟩ SET title = 't{i}', cis = ['c{i}'], \
             start = '2026-12-0{d}T00:00:00Z', end = '2026-12-0{d}T04:00:00Z', \
             created_at = '2026-11-01T00:00:00Z', created_by = 'admin', affected = ['c{i}', 'x'], \
             impact = {{ down: {i}, note: 'report {i}' }};\n",
            d = i + 1
        ));
    }
    store.raw(&sql).await.expect("version-6 changes");
    migrate_in_batches(&store, 2).await.expect("upgrade");
    assert_eq!(
        store.schema_version().await.expect("version"),
        current_version()
    );
    let inline: Vec<Value> = store
        .query_rows(
            "SELECT VALUE id FROM change WHERE impact != NONE;",
            Value::Null,
        )
        .await
        .expect("inline impacts");
    assert!(inline.is_empty(), "{inline:?}");
    for i in 0..5 {
        let c = store
            .change(&format!("k{i}"))
            .await
            .expect("read")
            .expect("change");
        assert_eq!(c.impact["down"], i, "k{i}");
        assert_eq!(c.impact["note"], format!("report {i}"));
        assert_eq!(c.affected, ["c".to_string() + &i.to_string(), "x".into()]);
    }
    let overlapping = store
        .changes_overlapping("2026-12-02T01:00:00Z", "2026-12-02T02:00:00Z")
        .await
        .expect("overlapping");
    assert_eq!(overlapping.len(), 1);
    assert_eq!(overlapping[0].affected, ["c1", "x"]);
    let listed = store.list_changes(10).await.expect("list");
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0].id, "k4", "latest window first");
    assert_eq!(listed[0].affected, 2);
}

#[tokio::test]
async fn version_9_counts_the_cis_that_were_there_before_it_and_those_written_after() {
    let store = version_1_with_cis(12).await;
    migrate(&store).await.expect("upgrade");
    // Version-1 records predate `addresses`, which every CI written since has.
    store
        .raw("UPDATE ci SET addresses = [];")
        .await
        .expect("addresses");
    let total = |store: Store| async move {
        let f = CiFilter {
            limit: 5,
            ..CiFilter::default()
        };
        store.list_cis(&f).await.expect("list").1
    };
    assert_eq!(total(store.clone()).await, 13);
    store
        .raw(
            "DELETE ci:⟨c000⟩; DELETE ci:⟨c001⟩; \
             CREATE ci:⟨n1⟩ CONTENT (SELECT * OMIT id FROM ONLY ci:⟨c002⟩);",
        )
        .await
        .expect("writes after the index");
    assert_eq!(total(store.clone()).await, 12);
    let info: Vec<Value> = store
        .query_rows("INFO FOR TABLE ci;", Value::Null)
        .await
        .expect("info");
    assert!(format!("{info:?}").contains("ci_count"), "{info:?}");
}
