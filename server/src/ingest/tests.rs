//! Ingestion against the real SurrealDB engine (in-memory), identification table included.
use super::*;
use crate::storage::{AgentRecord, TokenRecord};
use crate::storage::{CiRecord, now_str};
use cmdb_shared::ReportKind;
use cmdb_shared::hash::inventory_hashes;
use cmdb_shared::{Identity, Inventory, Memory, NetworkInterface};

pub(super) const UUID: &str = "4c4c4544-0044-3510-8052-b4c04f4e5331";
pub(super) const MID: &str = "3d1219c7c4c5404aaa1f6d2a48adfda4";

pub(super) fn host(uuid: &str, serial: &str, machine_id: &str, mac: &str) -> Inventory {
    Inventory {
        identity: Some(Identity {
            hostname: "db01".into(),
            fqdn: None,
            machine_id: Some(machine_id.into()),
            hardware_uuid: Some(uuid.into()),
            vendor: Some("Dell Inc.".into()),
            model: Some("PowerEdge R640".into()),
            serial: Some(serial.into()),
            chassis_type: None,
        }),
        network: Some(vec![NetworkInterface {
            name: "eno1".into(),
            mac: Some(mac.into()),
            state: "up".into(),
            physical: true,
            ..Default::default()
        }]),
        memory: Some(Memory {
            total_bytes: 1 << 30,
            swap_total_bytes: 0,
        }),
        packages: Some(vec![Package {
            manager: "dpkg".into(),
            name: "openssl".into(),
            version: "3.0.11-1~deb12u2".into(),
            architecture: Some("amd64".into()),
        }]),
        ..Default::default()
    }
}

fn report(id: &str, kind: ReportKind, inv: &Inventory, sent: Inventory) -> Report {
    Report {
        schema_version: cmdb_shared::SCHEMA_VERSION,
        report_id: id.into(),
        kind,
        agent_version: "test".into(),
        collected_at: chrono::Utc::now(),
        section_hashes: inventory_hashes(inv),
        inventory: sent,
        errors: vec![],
    }
}

pub(super) fn full(id: &str, inv: &Inventory) -> Report {
    report(id, ReportKind::Full, inv, inv.clone())
}

pub(super) async fn agent(store: &Store, key: &str) {
    store
        .insert_agent(
            &AgentRecord {
                key: key.into(),
                hostname: "h".into(),
                agent_version: "test".into(),
                enrolled_at: now_str(),
                last_seen: None,
                ci: None,
                spool_dropped: 0,
            },
            &TokenRecord {
                key: format!("t{key}"),
                hash: format!("hash-{key}"),
                role: "agent".into(),
                description: String::new(),
                created_at: now_str(),
                revoked: false,
                agent: Some(key.into()),
                ..Default::default()
            },
        )
        .await
        .expect("insert agent");
}

pub(super) async fn setup(agents: &[&str]) -> (Store, Ingestor) {
    setup_with(agents, Limits::default()).await
}

/// A new ingest service over `store`, with nothing cached (a restarted server).
pub(super) async fn cold(store: &Store) -> Ingestor {
    let telemetry = Arc::new(Telemetry::default());
    let relationships = Arc::new(
        Relationships::load(store.clone(), Default::default(), telemetry.clone())
            .await
            .expect("relationships"),
    );
    Ingestor::new(store.clone(), Limits::default(), relationships, telemetry)
        .await
        .expect("ingestor")
}

/// A store with these agents enrolled, and an ingest service with `limits` over it.
pub(super) async fn setup_with(agents: &[&str], limits: Limits) -> (Store, Ingestor) {
    let store = Store::memory().await.expect("memory store");
    for a in agents {
        agent(&store, a).await;
    }
    let telemetry = Arc::new(Telemetry::default());
    let relationships = Arc::new(
        Relationships::load(store.clone(), Default::default(), telemetry.clone())
            .await
            .expect("relationships"),
    );
    let ing = Ingestor::new(store.clone(), limits, relationships, telemetry)
        .await
        .expect("ingestor");
    (store, ing)
}

async fn host_count(store: &Store) -> u64 {
    store.counts().await.expect("counts")["cis"]
}

#[tokio::test]
async fn reimaged_host_with_a_new_machine_id_and_agent_is_the_same_ci() {
    let (store, ing) = setup(&["a1", "a2"]).await;
    let first = ing
        .ingest(
            "a1",
            &full("r1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
        )
        .await
        .expect("first");
    let reimaged = host(
        UUID,
        "CZ1",
        "9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4",
        "b4:96:91:00:00:01",
    );
    let second = ing
        .ingest("a2", &full("r1", &reimaged))
        .await
        .expect("second");
    assert_eq!(second.ci_id, first.ci_id);
    assert_eq!(second.identified_by, "hardware_uuid");
    assert_eq!(host_count(&store).await, 1);
    let history = store
        .history(&first.ci_id, None, None, 100)
        .await
        .expect("history");
    let attrs: Vec<_> = history.iter().map(|h| h.attribute.as_str()).collect();
    assert!(attrs.contains(&"identity.machine_id"), "{attrs:?}");
    assert!(
        attrs.contains(&"agent"),
        "the CI moved to the new agent: {attrs:?}"
    );
}

#[tokio::test]
async fn cloned_vm_with_the_same_machine_id_but_another_uuid_and_macs_is_a_new_ci() {
    let (store, ing) = setup(&["a1", "a2"]).await;
    let a = ing
        .ingest(
            "a1",
            &full("r1", &host(UUID, "VM-1", MID, "00:50:56:00:00:01")),
        )
        .await
        .expect("a");
    let clone = host(
        "4c4c4544-0055-3610-8052-c4c04f4e5332",
        "VM-2",
        MID,
        "00:50:56:00:00:02",
    );
    let b = ing.ingest("a2", &full("r1", &clone)).await.expect("b");
    assert_ne!(a.ci_id, b.ci_id);
    assert_eq!(b.identified_by, "new");
    assert_eq!(host_count(&store).await, 2);
}

#[tokio::test]
async fn placeholder_serials_and_bogus_uuids_do_not_merge_hosts() {
    let (_store, ing) = setup(&["a1", "a2"]).await;
    let bogus = "03000200-0400-0500-0006-000700080009";
    let a = ing
        .ingest(
            "a1",
            &full(
                "r1",
                &host(bogus, "To Be Filled By O.E.M.", MID, "b4:96:91:00:00:01"),
            ),
        )
        .await
        .expect("a");
    let other = host(
        bogus,
        "To Be Filled By O.E.M.",
        "9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4",
        "b4:96:91:00:00:02",
    );
    let b = ing.ingest("a2", &full("r1", &other)).await.expect("b");
    assert_ne!(a.ci_id, b.ci_id);
}

#[tokio::test]
async fn a_byte_swapped_uuid_matches_the_same_ci() {
    let (_store, ing) = setup(&["a1", "a2"]).await;
    let a = ing
        .ingest(
            "a1",
            &full("r1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
        )
        .await
        .expect("a");
    let swapped = host(
        "44454c4c-4400-1035-8052-b4c04f4e5331",
        "CZ1",
        MID,
        "b4:96:91:00:00:01",
    );
    let b = ing.ingest("a2", &full("r1", &swapped)).await.expect("b");
    assert_eq!(a.ci_id, b.ci_id);
    assert_eq!(b.identified_by, "hardware_uuid");
}

#[tokio::test]
async fn a_shared_permanent_mac_identifies_an_unbound_host_and_only_flags_another_agents() {
    let (store, ing) = setup(&["a1", "a2", "a3"]).await;
    let bare = |mac: &str| {
        let mut inv = host(UUID, "x", MID, mac);
        let id = inv.identity.as_mut().expect("identity");
        id.hardware_uuid = None;
        id.serial = None;
        id.machine_id = None;
        inv
    };
    let a = ing
        .ingest("a1", &full("r1", &bare("b4:96:91:00:00:01")))
        .await
        .expect("a");
    // The same MAC from another agent: a MAC alone is a weak key, and the CI is a1's, so
    // a2 gets a CI of its own, flagged as a suspected duplicate of a1's; a1's stays a1's.
    let b = ing
        .ingest("a2", &full("r1", &bare("b4:96:91:00:00:01")))
        .await
        .expect("b");
    assert_eq!(b.identified_by, "new");
    assert_ne!(b.ci_id, a.ci_id);
    let b_ci = store.ci(&b.ci_id).await.expect("read").expect("b's CI");
    assert_eq!(b_ci.suspected_duplicates, vec![a.ci_id.clone()]);
    let a_ci = store.ci(&a.ci_id).await.expect("read").expect("a's CI");
    assert_eq!(a_ci.agent.as_deref(), Some("a1"));
    assert!(a_ci.suspected_duplicates.is_empty());
    let c = ing
        .ingest("a3", &full("r1", &bare("b4:96:91:00:00:02")))
        .await
        .expect("c");
    assert_ne!(c.ci_id, a.ci_id, "another NIC is another host");
    let diff = store.catalogue_differences().await.expect("catalogue");
    assert!(diff.is_empty(), "catalogue: {diff:#?}");
    assert_eq!(host_count(&store).await, 3);
    // A CI no agent holds (its agent was unbound) is matched by the MAC alone.
    store
        .raw(&format!("UPDATE ci:⟨{}⟩ SET agent = NONE", a.ci_id))
        .await
        .expect("unbind");
    ing.forget("a1");
    let d = ing
        .ingest("a3", &full("r2", &bare("b4:96:91:00:00:01")))
        .await
        .expect("d");
    assert_eq!(
        (d.ci_id.as_str(), d.identified_by.as_str()),
        (a.ci_id.as_str(), "mac")
    );
}

#[tokio::test]
async fn volatile_values_are_current_in_the_ci_but_never_history() {
    let (store, ing) = setup(&["a1"]).await;
    let mut inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    let fs = |used: u64| {
        Some(vec![cmdb_shared::Filesystem {
            mount_point: "/".into(),
            device: "/dev/vda1".into(),
            fs_type: "ext4".into(),
            size_bytes: 100 << 30,
            used_bytes: used,
        }])
    };
    inv.filesystems = fs(10 << 30);
    let first = ing.ingest("a1", &full("r1", &inv)).await.expect("first");
    inv.filesystems = fs(12 << 30);
    let again = ing.ingest("a1", &full("r2", &inv)).await.expect("again");
    assert_eq!(again.changes, 0);
    let used = |ci: &CiRecord| ci.sections["filesystems"][0]["used_bytes"].as_u64();
    let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
    assert_eq!(used(&ci), Some(12 << 30));
    assert!(ci.measured_at.is_some());
    // A stable change rewrites the section; the values stay the newest ones.
    inv.filesystems = fs(13 << 30);
    inv.filesystems.as_mut().expect("fs")[0].size_bytes = 200 << 30;
    let grown = ing.ingest("a1", &full("r3", &inv)).await.expect("grown");
    assert_eq!(grown.changes, 1);
    let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
    assert_eq!(used(&ci), Some(13 << 30));
    let history = store
        .history(&first.ci_id, None, None, 100)
        .await
        .expect("history");
    let attrs: Vec<_> = history.iter().map(|h| h.attribute.as_str()).collect();
    assert_eq!(attrs.len(), 2, "created + the size change: {attrs:?}");
}

#[tokio::test]
async fn two_agents_reporting_the_same_new_machine_at_once_make_one_ci() {
    let (store, ing) = setup(&["a1", "a2", "a3"]).await;
    let same = full("r1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01"));
    let other = full(
        "r1",
        &host(
            "4c4c4544-0055-3610-8052-c4c04f4e5332",
            "CZ2",
            "9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4",
            "b4:96:91:00:00:02",
        ),
    );
    let (a, b, c) = tokio::join!(
        ing.ingest("a1", &same),
        ing.ingest("a2", &same),
        ing.ingest("a3", &other),
    );
    let (a, b, c) = (a.expect("a1"), b.expect("a2"), c.expect("a3"));
    assert_eq!(a.ci_id, b.ci_id);
    assert_ne!(a.ci_id, c.ci_id);
    assert_eq!(host_count(&store).await, 2);
}

#[tokio::test]
async fn a_redelivered_report_is_recognised_and_not_applied_twice() {
    let (store, ing) = setup(&["a1"]).await;
    let inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    let first = ing.ingest("a1", &full("r1", &inv)).await.expect("first");
    let mut changed = inv.clone();
    changed.memory = Some(Memory {
        total_bytes: 2 << 30,
        swap_total_bytes: 0,
    });
    let delta = report(
        "r2",
        ReportKind::Delta,
        &changed,
        Inventory {
            memory: changed.memory.clone(),
            ..Default::default()
        },
    );
    let applied = ing.ingest("a1", &delta).await.expect("delta");
    assert_eq!(applied.changes, 1);
    // The acknowledgement was lost; the agent sends r2 again after restarting (cold cache).
    let cold = cold(&store).await;
    let again = cold.ingest("a1", &delta).await.expect("redelivery");
    assert_eq!(again.changes, 0);
    // Recognised by its id (remembered with the agent, so across restarts): whatever it
    // carries, a report already applied is not applied again.
    let mut other = changed.clone();
    other.memory = Some(Memory {
        total_bytes: 4 << 30,
        swap_total_bytes: 0,
    });
    let same_id = report(
        "r2",
        ReportKind::Delta,
        &other,
        Inventory {
            memory: other.memory.clone(),
            ..Default::default()
        },
    );
    let again = cold.ingest("a1", &same_id).await.expect("same id");
    assert_eq!(
        (again.ci_id.as_str(), again.changes),
        (first.ci_id.as_str(), 0)
    );
    let history = store
        .history(&first.ci_id, None, None, 100)
        .await
        .expect("history");
    assert_eq!(history.len(), 2, "created + one change: {history:?}");
}

#[tokio::test]
async fn a_delta_on_a_baseline_the_server_does_not_hold_asks_for_a_full_inventory() {
    let (_store, ing) = setup(&["a1"]).await;
    let inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    let delta = report("r1", ReportKind::Delta, &inv, Inventory::default());
    assert!(matches!(
        ing.ingest("a1", &delta).await,
        Err(IngestError::Resync(_))
    ));
    ing.ingest("a1", &full("r2", &inv)).await.expect("full");
    let mut drifted = inv.clone();
    drifted.packages = Some(vec![]);
    let delta = report("r3", ReportKind::Delta, &drifted, Inventory::default());
    assert!(matches!(
        ing.ingest("a1", &delta).await,
        Err(IngestError::Resync(_))
    ));
}

#[tokio::test]
async fn a_delta_after_another_instance_took_the_full_inventory_is_applied_not_refused() {
    // Two instances on one database: b holds a view of the agent's first inventory; a takes
    // the second; the delta on it reaches b before b has followed a's write.
    let (store, a) = setup(&["a1"]).await;
    let b = cold(&store).await;
    let inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    let first = a.ingest("a1", &full("r1", &inv)).await.expect("r1 on a");
    let unchanged = report("r2", ReportKind::Delta, &inv, Inventory::default());
    b.ingest("a1", &unchanged).await.expect("b loads its view");
    let mut upgraded = inv.clone();
    upgraded.packages = Some(vec![]);
    a.ingest("a1", &full("r3", &upgraded))
        .await
        .expect("r3 on a");
    let heartbeat = report("r4", ReportKind::Delta, &upgraded, Inventory::default());
    let ack = b
        .ingest("a1", &heartbeat)
        .await
        .expect("b reads its view again instead of asking for a resync");
    assert_eq!((ack.ci_id.as_str(), ack.changes), (first.ci_id.as_str(), 0));
    // A baseline storage does not hold either is still refused.
    let mut drifted = upgraded.clone();
    drifted.memory = None;
    drifted.packages = Some(vec![Package {
        manager: "dpkg".into(),
        name: "never-sent".into(),
        version: "1".into(),
        architecture: None,
    }]);
    let delta = report("r5", ReportKind::Delta, &drifted, Inventory::default());
    assert!(matches!(
        b.ingest("a1", &delta).await,
        Err(IngestError::Resync(_))
    ));
}

#[tokio::test]
async fn a_section_whose_hash_does_not_match_its_content_is_rejected_and_nothing_written() {
    let (store, ing) = setup(&["a1"]).await;
    let inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    let mut r = full("r1", &inv);
    r.section_hashes.insert("memory".into(), "0".repeat(64));
    assert!(matches!(
        ing.ingest("a1", &r).await,
        Err(IngestError::Invalid(_))
    ));
    assert_eq!(host_count(&store).await, 0);

    // On a known host too: a changed section must match its hash.
    let ci = ing
        .ingest("a1", &full("r2", &inv))
        .await
        .expect("valid")
        .ci_id;
    let mut changed = inv.clone();
    changed.packages = Some(vec![]);
    let mut r = full("r3", &changed);
    r.section_hashes
        .insert("packages".into(), r.section_hashes["memory"].clone());
    assert!(matches!(
        ing.ingest("a1", &r).await,
        Err(IngestError::Invalid(_))
    ));
    let history = store.history(&ci, None, None, 100).await.expect("history");
    assert_eq!(history.len(), 1, "only the creation: {history:?}");
}

#[tokio::test]
async fn reports_that_write_wait_their_turn_and_heartbeats_do_not() {
    let limits = Limits {
        max_concurrent_report_writes: 1,
        ..Limits::default()
    };
    let (store, ing) = setup_with(&["a1"], limits).await;
    let inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    let first = ing.ingest("a1", &full("r1", &inv)).await.expect("r1");
    let wait = std::time::Duration::from_millis(300);
    let mut upgraded = inv.clone();
    upgraded.packages = Some(vec![]);

    // The only turn is taken: a report that writes waits (and, given up, wrote nothing) …
    let held = ing.turn().await;
    let waiting = tokio::time::timeout(wait, ing.ingest("a1", &full("r2", &upgraded))).await;
    assert!(waiting.is_err(), "a full inventory must wait for a turn");
    let keys = store.ci_package_keys(&first.ci_id).await.expect("read");
    assert_eq!(keys.len(), 1, "nothing written while waiting");
    // … while a heartbeat is answered.
    let heartbeat = report("r3", ReportKind::Delta, &inv, Inventory::default());
    let ack = tokio::time::timeout(wait, ing.ingest("a1", &heartbeat))
        .await
        .expect("a heartbeat does not wait")
        .expect("heartbeat");
    assert_eq!(ack.changes, 0);

    drop(held);
    let ack = tokio::time::timeout(wait, ing.ingest("a1", &full("r4", &upgraded)))
        .await
        .expect("the turn is free again")
        .expect("r4");
    assert_eq!(ack.changes, 1);
}

#[tokio::test]
async fn packages_are_stored_once_and_upgrades_are_one_history_record() {
    let (store, ing) = setup(&["a1", "a2"]).await;
    let a = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    let b = host(
        "4c4c4544-0055-3610-8052-c4c04f4e5332",
        "CZ2",
        "9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4",
        "b4:96:91:00:00:02",
    );
    let ra = ing.ingest("a1", &full("r1", &a)).await.expect("a");
    ing.ingest("a2", &full("r1", &b)).await.expect("b");
    assert_eq!(
        store.counts().await.expect("counts")["packages"],
        1,
        "one record for a shared package"
    );
    let mut upgraded = a.clone();
    upgraded.packages = Some(vec![Package {
        manager: "dpkg".into(),
        name: "openssl".into(),
        version: "3.0.13-1~deb12u1".into(),
        architecture: Some("amd64".into()),
    }]);
    let d = report(
        "r2",
        ReportKind::Delta,
        &upgraded,
        Inventory {
            packages: upgraded.packages.clone(),
            ..Default::default()
        },
    );
    assert_eq!(ing.ingest("a1", &d).await.expect("upgrade").changes, 1);
    let h = store
        .history(&ra.ci_id, None, None, 100)
        .await
        .expect("history");
    let last = h.last().expect("a record");
    assert_eq!(last.attribute, "packages.dpkg:openssl:amd64");
    assert_eq!(last.old, serde_json::json!("3.0.11-1~deb12u2"));
    assert_eq!(last.new, serde_json::json!("3.0.13-1~deb12u1"));
    let hosts = store
        .hosts_with_packages(&[package_key(&a.packages.as_ref().expect("p")[0])])
        .await
        .expect("search");
    assert_eq!(
        hosts.len(),
        1,
        "only the host that still has the old version"
    );
}

#[tokio::test]
async fn an_agent_creates_at_most_its_quota_of_host_cis() {
    let (store, ing) = setup_with(
        &["a1"],
        Limits {
            max_hosts_per_agent: 2,
            ..Limits::default()
        },
    )
    .await;
    // Each report's hardware UUID contradicts the agent's CI: a new CI each time.
    let uuids = [
        "4c4c4544-0044-3510-8052-b4c04f4e5331",
        "4c4c4544-0055-3610-8052-c4c04f4e5332",
        "4c4c4544-0066-3710-8052-d4c04f4e5333",
    ];
    for (i, u) in uuids[..2].iter().enumerate() {
        let ack = ing
            .ingest(
                "a1",
                &full(&format!("r{i}"), &host(u, "x", MID, "b4:96:91:00:00:01")),
            )
            .await
            .expect("within the quota");
        assert_eq!(ack.identified_by, "new");
    }
    let refused = ing
        .ingest(
            "a1",
            &full("r3", &host(uuids[2], "x", MID, "b4:96:91:00:00:01")),
        )
        .await;
    assert!(
        matches!(&refused, Err(IngestError::Forbidden(m)) if m.contains("max_hosts_per_agent")),
        "{refused:?}"
    );
    assert_eq!(
        host_count(&store).await,
        2,
        "the refused report created nothing"
    );
}

#[tokio::test]
async fn control_characters_in_names_are_refused_naming_the_field_and_change_nothing() {
    let (store, ing) = setup(&["a1"]).await;
    let mut escape = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    escape.identity.as_mut().expect("identity").hostname = "web01\u{1b}[2J".into();
    let mut newline = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    newline.packages.as_mut().expect("packages")[0].name = "openssl\nfake,row".into();
    for (inv, field) in [
        (escape, "inventory.identity.hostname"),
        (newline, "inventory.packages[0]"),
    ] {
        let err = ing.ingest("a1", &full("r1", &inv)).await;
        assert!(
            matches!(&err, Err(IngestError::Invalid(m)) if m.starts_with(field) && m.contains("control")),
            "{err:?}"
        );
    }
    assert_eq!(host_count(&store).await, 0);
}

#[tokio::test]
async fn last_seen_records_take_a_time_only_when_it_moved_far_enough() {
    let (store, ing) = setup(&["a1"]).await;
    let ing = ing.with_last_seen_write_secs(300);
    let inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
    let ci = ing.ingest("a1", &full("r1", &inv)).await.expect("r1").ci_id;
    let stored = |store: Store, ci: String| async move {
        let c = store.ci_for_update(&ci, &[], false).await.expect("ci");
        let a = store.agent("a1").await.expect("agent");
        (
            c.expect("exists").last_seen,
            a.expect("exists").last_seen.expect("seen"),
        )
    };
    // The inventory wrote both records' time; heartbeats within 300 s are held in memory
    // (and shown), not written.
    let (t0, agent_t0) = stored(store.clone(), ci.clone()).await;
    assert_eq!(agent_t0, t0);
    let heartbeat = |id: &str| report(id, ReportKind::Delta, &inv, Inventory::default());
    let mut shown = Vec::new();
    for id in ["r2", "r3"] {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        ing.ingest("a1", &heartbeat(id)).await.expect(id);
        ing.flush_last_seen().await;
        assert_eq!(
            stored(store.clone(), ci.clone()).await,
            (t0.clone(), t0.clone())
        );
        shown.push(ing.pending_last_seen("a1").expect("held"));
    }
    assert!(shown[0] > t0 && shown[1] > shown[0], "{shown:?} after {t0}");
    // A stopping server writes what it held back.
    ing.flush_all_last_seen().await;
    assert_eq!(
        stored(store.clone(), ci.clone()).await,
        (shown[1].clone(), shown[1].clone())
    );
    assert_eq!(ing.pending_last_seen("a1"), None);
}
