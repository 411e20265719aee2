//! Device ingestion against the real SurrealDB engine (in-memory).
use super::*;
use crate::config::Limits;
use crate::ingest::IngestError;
use crate::ingest::tests::{MID, UUID, cold, full, host, setup, setup_with};
use crate::storage::CiFilter;
use crate::storage::Store;
use cmdb_shared::device::DeviceInventory;
use cmdb_shared::device::{
    ArpEntry, DeviceAddress, DeviceInterface, DeviceMetrics, ForwardingEntry, LldpLocal,
    SystemGroup, TargetSource,
};

const SERIAL: &str = "FOC1234X0AB";
const BASE_MAC: &str = "00:1a:2b:3c:4d:5e";

/// A Cisco switch at `target` (one address, 10.0.0.1), with an FDB and ARP entry.
fn switch(target: &str, serial: Option<&str>, base_mac: Option<&str>) -> DeviceInventory {
    DeviceInventory {
        target: target.into(),
        system: SystemGroup {
            descr: Some("Cisco IOS Software, C2960X".into()),
            object_id: Some("1.3.6.1.4.1.9.1.1208".into()),
            name: Some("core-sw1".into()),
            location: Some("DC1 R12".into()),
            ..Default::default()
        },
        enterprise: Some(9),
        vendor: Some("Cisco".into()),
        model: Some("WS-C2960X-48TS-L".into()),
        firmware: Some("15.2(4)E".into()),
        serial: serial.map(str::to_string),
        base_bridge_mac: base_mac.map(str::to_string),
        interfaces: vec![
            DeviceInterface {
                index: 10101,
                name: "Gi1/0/1".into(),
                mac: Some("00:1a:2b:3c:4d:01".into()),
                admin_status: Some("up".into()),
                oper_status: Some("up".into()),
                speed_mbps: Some(1000),
                mtu: Some(1500),
                ..Default::default()
            },
            DeviceInterface {
                index: 10102,
                name: "Gi1/0/2".into(),
                mac: Some("00:1a:2b:3c:4d:02".into()),
                admin_status: Some("up".into()),
                oper_status: Some("down".into()),
                ..Default::default()
            },
        ],
        addresses: vec![DeviceAddress {
            address: "10.0.0.1".into(),
            prefix_len: Some(24),
            if_index: Some(10101),
        }],
        forwarding: vec![ForwardingEntry {
            vlan: Some(10),
            mac: "b4:96:91:00:00:01".into(),
            bridge_port: 1,
            if_index: Some(10101),
            status: Some("learned".into()),
        }],
        arp: vec![ArpEntry {
            if_index: 10101,
            ip: "10.0.0.20".into(),
            mac: "b4:96:91:00:00:01".into(),
        }],
        ..Default::default()
    }
}

fn poll_at(id: &str, inv: &DeviceInventory, at: DateTime<Utc>, uptime: u32) -> DeviceReport {
    DeviceReport {
        schema_version: cmdb_shared::SCHEMA_VERSION,
        report_id: id.into(),
        agent_version: "test".into(),
        collected_at: at,
        source: TargetSource::Config,
        inventory: inv.clone(),
        metrics: DeviceMetrics {
            at: Some(at),
            uptime_ticks: Some(uptime),
            interfaces: vec![],
        },
    }
}

fn poll(id: &str, inv: &DeviceInventory) -> DeviceReport {
    poll_at(id, inv, Utc::now(), 8_640_000)
}

async fn cis(store: &Store) -> u64 {
    store.counts().await.expect("counts")["cis"]
}

async fn history(store: &Store, ci: &str) -> Vec<crate::storage::HistoryRecord> {
    store.history(ci, None, None, 1000).await.expect("history")
}

#[tokio::test]
async fn two_captures_of_one_unit_by_two_pollers_at_two_addresses_are_one_ci() {
    let (store, ing) = setup(&["a1", "a2"]).await;
    let a = ing
        .ingest_device("a1", &poll("r1", &switch("10.0.0.1", Some(SERIAL), None)))
        .await
        .expect("first");
    assert_eq!(a.identified_by, "new");
    let other = switch("192.0.2.7:1161", Some(SERIAL), None);
    // The device is a1's to poll: a2's poll is refused and changes nothing.
    let refused = ing.ingest_device("a2", &poll("r1", &other)).await;
    assert!(
        matches!(&refused, Err(IngestError::Forbidden(m)) if m.contains("a1")),
        "{refused:?}"
    );
    let before = store.ci(&a.ci_id).await.expect("read").expect("ci");
    assert_eq!(before.targets, vec!["10.0.0.1"]);
    assert_eq!(before.pollers, vec!["a1"]);
    // An admin assigns a2 beside a1.
    let bound = ing
        .bind(&a.ci_id, "a2", true, "user:admin")
        .await
        .expect("assign");
    assert_eq!(bound.pollers, vec!["a1", "a2"]);
    let b = ing
        .ingest_device("a2", &poll("r1", &other))
        .await
        .expect("second");
    assert_eq!(
        (b.ci_id.as_str(), b.identified_by.as_str()),
        (a.ci_id.as_str(), "chassis_serial")
    );
    assert_eq!(cis(&store).await, 1);
    let ci = store.ci(&a.ci_id).await.expect("read").expect("ci");
    assert_eq!(ci.class, "network_device");
    assert_eq!(ci.name, "core-sw1");
    assert_eq!(ci.agent, None, "a device is not bound to its poller");
    assert_eq!(
        ci.poller.as_deref(),
        Some("a2"),
        "its new target was recorded"
    );
    assert_eq!(ci.targets, vec!["10.0.0.1", "192.0.2.7:1161"]);
    assert!(
        ci.addresses.contains(&"192.0.2.7".to_string()),
        "{:?}",
        ci.addresses
    );
    for agent in ["a1", "a2"] {
        let rec = store.agent(agent).await.expect("agent").expect("exists");
        assert_eq!(rec.ci, None, "{agent}'s own CI is its host");
    }
    // Both pollers go on polling through their own targets: nothing changes, nothing is
    // rewritten.
    for (agent, inv) in [
        ("a1", switch("10.0.0.1", Some(SERIAL), None)),
        ("a2", other),
    ] {
        let again = ing
            .ingest_device(agent, &poll("r2", &inv))
            .await
            .expect("again");
        assert_eq!(again.changes, 0);
    }
    let after = store.ci(&a.ci_id).await.expect("read").expect("ci");
    assert_eq!(
        after.last_seen, ci.last_seen,
        "the CI document was not rewritten"
    );
    assert_eq!(
        history(&store, &a.ci_id).await.len(),
        2,
        "the creation and the assignment"
    );
}

#[tokio::test]
async fn a_poller_keeps_its_own_host_ci_apart_from_the_devices_it_polls() {
    let (store, ing) = setup(&["a1"]).await;
    let own = ing
        .ingest(
            "a1",
            &full("h1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
        )
        .await
        .expect("host");
    let dev = ing
        .ingest_device("a1", &poll("d1", &switch("10.0.0.1", Some(SERIAL), None)))
        .await
        .expect("device");
    assert_ne!(own.ci_id, dev.ci_id);
    let rec = store.agent("a1").await.expect("agent").expect("exists");
    assert_eq!(rec.ci.as_deref(), Some(own.ci_id.as_str()));
    let again = ing
        .ingest(
            "a1",
            &full("h2", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
        )
        .await
        .expect("host again");
    assert_eq!((again.ci_id, again.changes), (own.ci_id, 0));
}

#[tokio::test]
async fn a_serial_less_device_is_found_by_base_mac_and_by_an_lldp_chassis_id_equal_to_it() {
    let (store, ing) = setup(&["a1", "a2", "a3"]).await;
    let a = ing
        .ingest_device("a1", &poll("r1", &switch("10.0.0.1", None, Some(BASE_MAC))))
        .await
        .expect("a");
    for agent in ["a2", "a3"] {
        ing.bind(&a.ci_id, agent, true, "user:admin")
            .await
            .expect("assign");
    }
    // Another address and name, the same base bridge MAC (upper case, dashes).
    let mut b = switch("10.0.9.1", None, Some("00-1A-2B-3C-4D-5E"));
    b.system.name = Some("renamed".into());
    b.addresses[0].address = "10.0.9.1".into();
    let b = ing.ingest_device("a2", &poll("r1", &b)).await.expect("b");
    assert_eq!(
        (b.ci_id.as_str(), b.identified_by.as_str()),
        (a.ci_id.as_str(), "chassis_id")
    );
    // No base MAC at all, but LLDP announces the same MAC as chassis id.
    let mut c = switch("10.0.8.1", None, None);
    c.system.name = Some("other-name".into());
    c.addresses[0].address = "10.0.8.1".into();
    c.lldp_local = Some(LldpLocal {
        chassis_id_subtype: "macAddress".into(),
        chassis_id: BASE_MAC.into(),
        system_name: None,
    });
    let c = ing.ingest_device("a3", &poll("r1", &c)).await.expect("c");
    assert_eq!(
        (c.ci_id.as_str(), c.identified_by.as_str()),
        (a.ci_id.as_str(), "chassis_id")
    );
    assert_eq!(cis(&store).await, 1);
}

#[tokio::test]
async fn sysname_and_polled_address_identify_a_device_without_hardware_keys() {
    let (store, ing) = setup(&["a1", "a2"]).await;
    let a = ing
        .ingest_device("a1", &poll("r1", &switch("10.0.0.1", None, None)))
        .await
        .expect("a");
    ing.bind(&a.ci_id, "a2", true, "user:admin")
        .await
        .expect("assign");
    // Another poller, the same address (the device's own 10.0.0.1) on the default port.
    let b = ing
        .ingest_device("a2", &poll("r1", &switch("10.0.0.1:161", None, None)))
        .await
        .expect("b");
    assert_eq!(
        (b.ci_id.as_str(), b.identified_by.as_str()),
        (a.ci_id.as_str(), "sysname_address")
    );
    // The same name at another address that is not the device's: another device.
    let mut elsewhere = switch("10.5.0.1", None, None);
    elsewhere.addresses[0].address = "10.5.0.1".into();
    let c = ing
        .ingest_device("a2", &poll("r2", &elsewhere))
        .await
        .expect("c");
    assert_ne!(c.ci_id, a.ci_id);
    assert_eq!(cis(&store).await, 2);
}

#[tokio::test]
async fn a_firmware_change_is_one_history_record_and_an_unchanged_poll_writes_none() {
    let (store, ing) = setup(&["a1"]).await;
    let mut inv = switch("10.0.0.1", Some(SERIAL), Some(BASE_MAC));
    let first = ing
        .ingest_device("a1", &poll("r1", &inv))
        .await
        .expect("first");
    assert_eq!(first.changes, 1, "created");
    let written = store.ci(&first.ci_id).await.expect("read").expect("ci");

    // Unchanged but for volatile state, metrics and topology: no history, CI untouched.
    inv.interfaces[1].oper_status = Some("up".into());
    inv.forwarding[0].bridge_port = 2;
    let same = ing
        .ingest_device("a1", &poll("r2", &inv))
        .await
        .expect("same");
    assert_eq!(
        (same.ci_id.as_str(), same.changes),
        (first.ci_id.as_str(), 0)
    );
    assert_eq!(history(&store, &first.ci_id).await.len(), 1);
    let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
    assert_eq!(
        ci.last_seen, written.last_seen,
        "the CI document was not rewritten"
    );
    assert_eq!(ci.section_hashes, written.section_hashes);
    assert_eq!(
        ing.presence.take_devices().len(),
        1,
        "last seen goes through heartbeats"
    );
    let seen = store.device_observations(&first.ci_id).await.expect("read");
    let state = seen.state.expect("state");
    assert_eq!(state.volatile["interfaces"][1]["oper_status"], "up");
    assert_eq!(
        seen.topology.expect("topology").forwarding[0].bridge_port,
        2
    );

    inv.firmware = Some("15.2(7)E3".into());
    let upgraded = ing
        .ingest_device("a1", &poll("r3", &inv))
        .await
        .expect("upgrade");
    assert_eq!(
        (upgraded.ci_id.as_str(), upgraded.changes),
        (first.ci_id.as_str(), 1)
    );
    let h = history(&store, &first.ci_id).await;
    let last = h.last().expect("a record");
    assert_eq!(last.attribute, "device.firmware");
    assert_eq!(last.old, json!("15.2(4)E"));
    assert_eq!(last.new, json!("15.2(7)E3"));
    assert_eq!(last.source, "agent:a1");
    let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
    assert_eq!(ci.sections["device"]["firmware"], "15.2(7)E3");
}

#[tokio::test]
async fn forwarding_and_arp_entries_are_stored_with_the_device_and_replaced_when_changed() {
    let (store, ing) = setup(&["a1"]).await;
    let mut inv = switch("10.0.0.1", Some(SERIAL), None);
    let ack = ing
        .ingest_device("a1", &poll("r1", &inv))
        .await
        .expect("first");
    let t = store
        .device_observations(&ack.ci_id)
        .await
        .expect("read")
        .topology
        .expect("topology");
    assert_eq!(t.forwarding, inv.forwarding);
    assert_eq!(t.arp, inv.arp);
    inv.arp.push(ArpEntry {
        if_index: 10101,
        ip: "10.0.0.21".into(),
        mac: "B4:96:91:00:00:02".into(),
    });
    ing.ingest_device("a1", &poll("r2", &inv))
        .await
        .expect("second");
    let t = store
        .device_observations(&ack.ci_id)
        .await
        .expect("read")
        .topology
        .expect("topology");
    assert_eq!(t.arp.len(), 2);
    assert_eq!(
        t.arp[1].mac, "b4:96:91:00:00:02",
        "MACs are stored canonical"
    );
    assert_eq!(
        history(&store, &ack.ci_id).await.len(),
        1,
        "no history for topology"
    );
}

#[tokio::test]
async fn bad_input_is_rejected_naming_the_field_and_nothing_is_stored() {
    let (store, ing) = setup(&["a1"]).await;
    let reason = |r: Result<ReportAck, IngestError>| match r {
        Err(IngestError::Invalid(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    };
    let mut bad_mac = switch("10.0.0.1", Some(SERIAL), None);
    bad_mac.interfaces[1].mac = Some("00:1a:2b:3c:4d".into());
    let m = reason(ing.ingest_device("a1", &poll("r1", &bad_mac)).await);
    assert!(m.starts_with("inventory.interfaces[1].mac: "), "{m}");

    let mut bad_ip = switch("10.0.0.1", Some(SERIAL), None);
    bad_ip.arp[0].ip = "10.0.0.300".into();
    let m = reason(ing.ingest_device("a1", &poll("r1", &bad_ip)).await);
    assert!(m.starts_with("inventory.arp[0].ip: "), "{m}");

    let mut long = switch("10.0.0.1", Some(SERIAL), None);
    long.system.location = Some("x".repeat(5000));
    let m = reason(ing.ingest_device("a1", &poll("r1", &long)).await);
    assert!(m.starts_with("inventory.system.location: "), "{m}");

    let (_, small) = setup_with(
        &["a1"],
        Limits {
            max_device_table_items: 1,
            ..Default::default()
        },
    )
    .await;
    let mut big = switch("10.0.0.1", Some(SERIAL), None);
    big.forwarding.push(big.forwarding[0].clone());
    let m = reason(small.ingest_device("a1", &poll("r1", &big)).await);
    assert!(m.starts_with("inventory.forwarding: 2 items"), "{m}");

    let mut bad_id = poll("r1", &switch("10.0.0.1", Some(SERIAL), None));
    bad_id.report_id = "../etc".into();
    let m = reason(ing.ingest_device("a1", &bad_id).await);
    assert!(m.starts_with("report_id: "), "{m}");

    // A counter SurrealDB cannot store as an integer (2^64 - 1, sent by some devices
    // for counters they do not keep).
    let mut huge = poll("r1", &switch("10.0.0.1", Some(SERIAL), None));
    huge.metrics.interfaces = vec![cmdb_shared::device::InterfaceCounters {
        index: 10101,
        in_octets: Some(u64::MAX),
        ..Default::default()
    }];
    let m = reason(ing.ingest_device("a1", &huge).await);
    assert!(m.starts_with("metrics.interfaces[0].in_octets: "), "{m}");

    let mut twice = switch("10.0.0.1", Some(SERIAL), None);
    twice.interfaces[1].index = twice.interfaces[0].index;
    let m = reason(ing.ingest_device("a1", &poll("r1", &twice)).await);
    assert!(m.starts_with("inventory.interfaces[1].index: "), "{m}");

    // A clock that was never set (and a date chrono can hold but not subtract from).
    let mut ancient = poll("r1", &switch("10.0.0.1", Some(SERIAL), None));
    ancient.collected_at = "-262143-01-02T00:00:00Z".parse().expect("time");
    ancient.metrics.at = Some(ancient.collected_at);
    let m = reason(ing.ingest_device("a1", &ancient).await);
    assert!(m.starts_with("collected_at: "), "{m}");

    let mut newer = poll("r1", &switch("10.0.0.1", Some(SERIAL), None));
    newer.schema_version += 1;
    assert!(matches!(
        ing.ingest_device("a1", &newer).await,
        Err(IngestError::Unprocessable(_))
    ));
    assert_eq!(cis(&store).await, 0);
    assert_eq!(store.counts().await.expect("counts")["history_records"], 0);
}

#[tokio::test]
async fn a_redelivered_poll_is_harmless_and_an_older_one_is_not_applied() {
    let (store, ing) = setup(&["a1"]).await;
    let t0 = Utc::now() - chrono::Duration::minutes(10);
    let mut inv = switch("10.0.0.1", Some(SERIAL), None);
    let r1 = poll_at("r1", &inv, t0, 1_000_000);
    let first = ing.ingest_device("a1", &r1).await.expect("first");
    // The acknowledgement was lost; the agent sends r1 again, to a restarted server.
    let cold = cold(&store).await;
    let again = cold.ingest_device("a1", &r1).await.expect("again");
    assert_eq!(
        (again.ci_id.as_str(), again.changes),
        (first.ci_id.as_str(), 0)
    );
    assert_eq!(again.identified_by, "chassis_serial");

    inv.firmware = Some("15.2(7)E3".into());
    let r2 = poll_at("r2", &inv, t0 + chrono::Duration::minutes(5), 1_030_000);
    assert_eq!(ing.ingest_device("a1", &r2).await.expect("r2").changes, 1);
    // r1 arrives late, after r2: it neither reverts the firmware nor looks like a reboot.
    let late = ing.ingest_device("a1", &r1).await.expect("late");
    assert_eq!(late.changes, 0);
    let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
    assert_eq!(ci.sections["device"]["firmware"], "15.2(7)E3");
    assert_eq!(
        history(&store, &first.ci_id).await.len(),
        2,
        "created + firmware"
    );
    assert_eq!(cis(&store).await, 1);
}

#[tokio::test]
async fn uptime_going_backwards_is_recorded_as_a_restart() {
    let (store, ing) = setup(&["a1"]).await;
    let t0 = Utc::now() - chrono::Duration::minutes(10);
    let inv = switch("10.0.0.1", Some(SERIAL), None);
    let first = ing
        .ingest_device("a1", &poll_at("r1", &inv, t0, 90_000_000))
        .await
        .expect("first");
    let t1 = t0 + chrono::Duration::minutes(5);
    let after = ing
        .ingest_device("a1", &poll_at("r2", &inv, t1, 12_000))
        .await
        .expect("after the reboot");
    assert_eq!(after.changes, 1);
    let h = history(&store, &first.ci_id).await;
    let last = h.last().expect("a record");
    assert_eq!(last.attribute, "uptime_reset");
    assert_eq!(last.old["uptime_ticks"], 90_000_000);
    assert_eq!(last.new["uptime_ticks"], 12_000);
    assert_eq!(
        last.new["booted_at"],
        json!(time_str(t1 - chrono::Duration::seconds(120)))
    );
}

#[tokio::test]
async fn two_pollers_reporting_a_new_device_at_once_make_one_ci_polled_by_the_first() {
    let (store, ing) = setup(&["a1", "a2", "a3"]).await;
    // One device reached at two of its addresses, and another device.
    let mut second_address = switch("10.0.0.2", None, None);
    second_address.addresses.push(DeviceAddress {
        address: "10.0.0.2".into(),
        prefix_len: Some(24),
        if_index: Some(10102),
    });
    let mut first_address = second_address.clone();
    first_address.target = "10.0.0.1".into();
    let mut other = switch("10.7.0.1", Some("FOC9999ZZZ"), None);
    other.addresses[0].address = "10.7.0.1".into();
    let (ra, rb, rc) = (
        poll("r1", &first_address),
        poll("r1", &second_address),
        poll("r1", &other),
    );
    let (a, b, c) = tokio::join!(
        ing.ingest_device("a1", &ra),
        ing.ingest_device("a2", &rb),
        ing.ingest_device("a3", &rc),
    );
    // One of the two pollers of the same device creates it and is its poller; the other is
    // refused (not assigned), never a second CI.
    let c = c.expect("a3");
    let (won, refused) = match (a, b) {
        (Ok(w), Err(e)) | (Err(e), Ok(w)) => (w, e),
        other => panic!("exactly one poller should win: {other:?}"),
    };
    assert!(matches!(refused, IngestError::Forbidden(_)), "{refused:?}");
    assert_ne!(won.ci_id, c.ci_id);
    assert_eq!(cis(&store).await, 2);
}

#[tokio::test]
async fn devices_are_listed_by_class_and_found_by_serial_chassis_mac_and_address() {
    let (store, ing) = setup(&["a1"]).await;
    ing.ingest(
        "a1",
        &full("h1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
    )
    .await
    .expect("host");
    let dev = ing
        .ingest_device(
            "a1",
            &poll(
                "d1",
                &switch("sw1.example.com", Some(SERIAL), Some(BASE_MAC)),
            ),
        )
        .await
        .expect("device");
    let find = |class: Option<&str>, q: Option<&str>| CiFilter {
        class: class.map(str::to_string),
        q: q.map(str::to_string),
        limit: 10,
        ..Default::default()
    };
    let (all, total) = store
        .list_cis(&find(Some("network_device"), None))
        .await
        .expect("list");
    assert_eq!(total, 1);
    assert_eq!(all[0].vendor.as_deref(), Some("Cisco"));
    assert_eq!(all[0].model.as_deref(), Some("WS-C2960X-48TS-L"));
    for q in [
        "foc1234x",
        "00-1A-2B-3C-4D-5E",
        "001a.2b3c.4d5e",
        "10.0.0.1",
        "sw1.example.com",
    ] {
        let (found, _) = store.list_cis(&find(None, Some(q))).await.expect("search");
        let keys: Vec<&str> = found.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, vec![dev.ci_id.as_str()], "{q}");
    }
}

#[tokio::test]
async fn an_agent_creates_at_most_its_quota_of_device_cis_and_polls_its_own_on() {
    let (store, ing) = setup_with(
        &["a1"],
        Limits {
            max_devices_per_agent: 1,
            ..Limits::default()
        },
    )
    .await;
    let first = ing
        .ingest_device("a1", &poll("r1", &switch("10.0.0.1", Some(SERIAL), None)))
        .await
        .expect("within the quota");
    let mut other = switch("10.0.0.2", Some("FOC9999ZZZ"), None);
    other.addresses[0].address = "10.0.0.2".into();
    let refused = ing.ingest_device("a1", &poll("r2", &other)).await;
    assert!(
        matches!(&refused, Err(IngestError::Forbidden(m)) if m.contains("max_devices_per_agent")),
        "{refused:?}"
    );
    assert_eq!(cis(&store).await, 1);
    let again = ing
        .ingest_device("a1", &poll("r3", &switch("10.0.0.1", Some(SERIAL), None)))
        .await
        .expect("its own device");
    assert_eq!(again.ci_id, first.ci_id);
}
