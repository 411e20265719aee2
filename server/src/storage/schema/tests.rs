use super::*;
use crate::storage::CiFilter;

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
        .apply_migration(1, MIGRATIONS[0])
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
    for (i, sql) in MIGRATIONS[..2].iter().enumerate() {
        store
            .apply_migration(i as u32 + 1, sql)
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
        .apply_migration(2, MIGRATIONS[1])
        .await
        .expect_err("version 2 again");
    assert!(
        err.to_string().contains("raced") || format!("{err:?}").contains("raced"),
        "{err:?}"
    );
}
