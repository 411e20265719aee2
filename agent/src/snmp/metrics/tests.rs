//! Metrics polls against recordings of real devices (`fixtures/snmp/`): the first sample is
//! the recording, the second the recording with the counters moved on as noted in each
//! test. Expected values are computed by hand from the recording lines quoted.
use std::str::FromStr;

use super::*;
use crate::snmp::mib::{self, fixture};
use crate::snmp::oid::Value;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("timestamp")
}

fn set(walk: &mut Walk, oid: &str, v: Value) {
    walk.insert(Oid::from_str(oid).expect("oid"), v);
}

fn value(series: &[Series], name: &str, instance: &str) -> Option<f64> {
    series
        .iter()
        .find(|s| s.name == name && s.instance == instance)
        .map(|s| s.points[0].1)
}

fn if_names(walk: &Walk) -> BTreeMap<u32, String> {
    mib::inventory("t", walk)
        .interfaces
        .into_iter()
        .map(|i| (i.index, i.name))
        .collect()
}

#[test]
fn the_metrics_walk_reads_all_a_sample_needs() {
    for name in [
        "cisco-c3560.snmprec",
        "juniper-mx960-12-3r6-6.snmprec",
        "hpe-procurve-516733-b21.snmprec",
        "h3c-e528-2.snmprec",
    ] {
        let all = fixture(name);
        let mut roots: Vec<Oid> = walk_plan().into_iter().flatten().collect();
        roots.push(crate::oid!(SYS_UPTIME));
        let mut kept = Walk::default();
        for (o, v) in &all.0 {
            if roots.iter().any(|r| o.starts_with(r)) {
                kept.insert(o.clone(), v.clone());
            }
        }
        assert!(
            kept.len() * 2 < all.len(),
            "{name}: a metrics poll is light"
        );
        let t = at("2026-03-01T00:00:00Z");
        assert_eq!(
            DeviceSample::from_walk(&kept, t),
            DeviceSample::from_walk(&all, t),
            "{name}"
        );
    }
}

/// The Cisco C3560 recording, with Gi0/1 (ifIndex 10101, 10 Mbit/s) made a 32-bit-only
/// interface about to wrap: its ifHC columns removed, ifInOctets = 2^32 − 100,000,000.
fn c3560_with_32_bit_gi0_1() -> Walk {
    let mut w = fixture("cisco-c3560.snmprec");
    w.0.remove(&crate::oid!("1.3.6.1.2.1.31.1.1.1.6.10101"));
    w.0.remove(&crate::oid!("1.3.6.1.2.1.31.1.1.1.10.10101"));
    set(
        &mut w,
        "1.3.6.1.2.1.2.2.1.10.10101",
        Value::Counter32(u32::MAX - 99_999_999),
    );
    w
}

#[test]
fn rates_from_two_polls_of_the_c3560_with_a_32_bit_wrap() {
    let first = c3560_with_32_bit_gi0_1();
    let names = if_names(&first);
    assert_eq!(names[&10101], "Gi0/1");
    assert_eq!(names[&10150], "Gi0/50");
    let mut second = first.clone();
    // 300 s later: sysUpTime 492446481 + 30000.
    set(
        &mut second,
        SYS_UPTIME,
        Value::TimeTicks(492_446_481 + 30_000),
    );
    // Gi0/50 (1000 Mbit/s, HC): ifHCInOctets 18783802582465 + 3,750,000,000 (100 Mbit/s
    // over 300 s = 10 %), ifHCOutOctets 2599249566949 + 375,000,000 (1 %).
    set(
        &mut second,
        "1.3.6.1.2.1.31.1.1.1.6.10150",
        Value::Counter64(18_783_802_582_465 + 3_750_000_000),
    );
    set(
        &mut second,
        "1.3.6.1.2.1.31.1.1.1.10.10150",
        Value::Counter64(2_599_249_566_949 + 375_000_000),
    );
    // ifInErrors 0 → 600 (2/s), ifOutDiscards 0 → 3 (0.01/s).
    set(
        &mut second,
        "1.3.6.1.2.1.2.2.1.14.10150",
        Value::Counter32(600),
    );
    set(
        &mut second,
        "1.3.6.1.2.1.2.2.1.19.10150",
        Value::Counter32(3),
    );
    // Gi0/1: 2^32 − 100,000,000 → 12,500,000: wrapped, 112,500,000 octets = 3 Mbit/s of 10.
    set(
        &mut second,
        "1.3.6.1.2.1.2.2.1.10.10101",
        Value::Counter32(12_500_000),
    );
    let a = DeviceSample::from_walk(&first, at("2026-03-01T00:00:00Z"));
    let b = DeviceSample::from_walk(&second, at("2026-03-01T00:05:00Z"));
    assert_eq!(a.cpu, None, "no HOST-RESOURCES on this switch");
    let s = series_between(Some(&a), &b, &names);
    assert_eq!(value(&s, names::IF_IN_UTIL, "Gi0/50"), Some(10.0));
    assert_eq!(value(&s, names::IF_OUT_UTIL, "Gi0/50"), Some(1.0));
    assert_eq!(value(&s, names::IF_IN_ERRORS, "Gi0/50"), Some(2.0));
    assert_eq!(value(&s, names::IF_OUT_DISCARDS, "Gi0/50"), Some(0.01));
    assert_eq!(value(&s, names::IF_OUT_ERRORS, "Gi0/50"), Some(0.0));
    assert_eq!(value(&s, names::IF_IN_UTIL, "Gi0/1"), Some(30.0));
    assert_eq!(value(&s, names::IF_OUT_UTIL, "Gi0/1"), Some(0.0));
    // Vlan2 (1000 Mbit/s) kept its counters: 0 %.
    assert_eq!(value(&s, names::IF_IN_UTIL, "Vl2"), Some(0.0));
    // Without an inventory's names, the ifIndex.
    let s = series_between(Some(&a), &b, &BTreeMap::new());
    assert_eq!(value(&s, names::IF_IN_UTIL, "10150"), Some(10.0));
}

#[test]
fn a_32_bit_counter_on_a_fast_link_gives_no_rate() {
    // Vlan2 at 1000 Mbit/s: 2^32 octets pass in 34 s, so in 300 s its 32-bit ifInOctets may
    // have wrapped several times unseen.
    let mut first = fixture("cisco-c3560.snmprec");
    first.0.remove(&crate::oid!("1.3.6.1.2.1.31.1.1.1.6.2"));
    first.0.remove(&crate::oid!("1.3.6.1.2.1.31.1.1.1.10.2"));
    let mut second = first.clone();
    set(
        &mut second,
        SYS_UPTIME,
        Value::TimeTicks(492_446_481 + 30_000),
    );
    set(
        &mut second,
        "1.3.6.1.2.1.2.2.1.10.2",
        Value::Counter32(1_238_622_295 + 1000),
    );
    let a = DeviceSample::from_walk(&first, at("2026-03-01T00:00:00Z"));
    let b = DeviceSample::from_walk(&second, at("2026-03-01T00:05:00Z"));
    let s = series_between(Some(&a), &b, &if_names(&first));
    assert_eq!(value(&s, names::IF_IN_UTIL, "Vl2"), None);
    assert_eq!(
        value(&s, names::IF_IN_DISCARDS, "Vl2"),
        Some(0.0),
        "error and discard rates stay"
    );
}

#[test]
fn a_sys_uptime_reset_gives_no_rates_for_that_interval() {
    let first = fixture("cisco-c3560.snmprec");
    let mut second = first.clone();
    // Rebooted 2 minutes ago: counters restarted from 0.
    set(&mut second, SYS_UPTIME, Value::TimeTicks(12_000));
    set(
        &mut second,
        "1.3.6.1.2.1.31.1.1.1.6.10150",
        Value::Counter64(5_000),
    );
    set(
        &mut second,
        "1.3.6.1.2.1.2.2.1.14.10150",
        Value::Counter32(1),
    );
    let a = DeviceSample::from_walk(&first, at("2026-03-01T00:00:00Z"));
    let b = DeviceSample::from_walk(&second, at("2026-03-01T00:05:00Z"));
    assert!(series_between(Some(&a), &b, &BTreeMap::new()).is_empty());
}

#[test]
fn restarts_are_told_from_sys_uptime_wraps() {
    // 300 s: 30000 ticks expected.
    assert!(!restarted(1_000_000, 1_030_000, 300.0));
    assert!(!restarted(1_000_000, 1_028_000, 300.0), "within the slack");
    assert!(restarted(1_000_000, 12_000, 300.0), "went back");
    assert!(
        restarted(5_000, 17_000, 300.0),
        "restarted 120 s ago, after the previous poll"
    );
    // sysUpTime wraps after 497 days: 2^32 − 10000 → 20000 is 30000 ticks.
    assert!(!restarted(u32::MAX - 9_999, 20_000, 300.0));
}

#[test]
fn host_resources_give_cpu_and_storage_use() {
    let mut walk = fixture("juniper-mx960-12-3r6-6.snmprec");
    // The recording has no hrProcessorLoad: two processors at 10 % and 25 %.
    set(&mut walk, "1.3.6.1.2.1.25.3.3.1.2.1", Value::Integer(10));
    set(&mut walk, "1.3.6.1.2.1.25.3.3.1.2.2", Value::Integer(25));
    let s = DeviceSample::from_walk(&walk, at("2026-03-01T00:00:00Z"));
    assert_eq!(s.cpu, Some(17.5));
    let series = series_between(None, &s, &BTreeMap::new());
    assert_eq!(value(&series, names::HR_CPU, ""), Some(17.5));
    // hrStorageUsed.1 161297 of hrStorageSize.1 1737342 (allocation units cancel out).
    assert_eq!(
        value(
            &series,
            names::HR_STORAGE_USED_PCT,
            "/dev/ad0s1a: root file system, mounted on: /"
        ),
        Some(9.28)
    );
    // procfs: 1 of 1.
    assert_eq!(
        value(
            &series,
            names::HR_STORAGE_USED_PCT,
            "procfs: process file system, mounted on: /proc"
        ),
        Some(100.0)
    );
    assert!(
        !series.iter().any(|x| x.name.starts_with("if.")),
        "a first sample has no rates"
    );
}

fn target(address: &str) -> Target {
    Target {
        address: address.into(),
        credential: "ro".into(),
        credentials: crate::snmp::client::Credentials::V2c {
            community: "public".into(),
        },
        source: cmdb_shared::device::TargetSource::Config,
        interval: Duration::from_secs(900),
    }
}

#[test]
fn the_feed_schedules_metrics_polls_between_inventories_and_gathers_series() {
    let t = target("192.0.2.10:161");
    let mut feed = DeviceFeed::new(Duration::from_secs(300));
    let t0 = Instant::now();
    feed.set_targets(vec![t.clone()], t0);
    assert!(
        feed.take_due(t0).is_empty(),
        "the inventory poll comes first"
    );
    assert_eq!(feed.next_due(), Some(t0 + Duration::from_secs(300)));

    // An inventory poll is a sample, with the interface names.
    let walk = c3560_with_32_bit_gi0_1();
    let inv = mib::inventory(&t.address, &walk);
    let m = DeviceMetrics {
        at: Some(at("2026-03-01T00:00:00Z")),
        uptime_ticks: mib::system::uptime(&walk),
        interfaces: mib::interfaces::counters(&walk),
    };
    let t1 = t0 + Duration::from_secs(100);
    feed.record_inventory(&t, Ok((&inv, &m)), t1);
    assert!(feed.take_due(t0 + Duration::from_secs(399)).is_empty());
    let due = feed.take_due(t0 + Duration::from_secs(400));
    assert_eq!(due.len(), 1);
    assert!(
        feed.take_due(t0 + Duration::from_secs(400)).is_empty(),
        "taken once"
    );

    // The metrics poll 300 s after the inventory.
    let mut second = walk.clone();
    set(
        &mut second,
        SYS_UPTIME,
        Value::TimeTicks(492_446_481 + 30_000),
    );
    set(
        &mut second,
        "1.3.6.1.2.1.2.2.1.10.10101",
        Value::Counter32(12_500_000),
    );
    feed.record_poll(&t, at("2026-03-01T00:05:00Z"), Ok(&second), t1);
    // And one that timed out.
    let timeout = SnmpError::Timeout {
        target: t.address.clone(),
        attempts: 3,
        timeout: Duration::from_secs(2),
    };
    feed.record_poll(&t, at("2026-03-01T00:10:00Z"), Err(&timeout), t1);

    let pending = feed.take_pending();
    assert_eq!(pending.len(), 1);
    let d = &pending[0];
    assert_eq!(d.address, "192.0.2.10:161");
    assert_eq!(
        d.polls.iter().map(|p| p.answered).collect::<Vec<_>>(),
        [true, true, false]
    );
    // sysUpTime 492446481 hundredths = 4924464.81 s, then 300 s more.
    assert_eq!(
        d.uptime,
        vec![
            Point(at("2026-03-01T00:00:00Z").timestamp(), 4_924_464.81),
            Point(at("2026-03-01T00:05:00Z").timestamp(), 4_924_764.81),
        ]
    );
    assert_eq!(value(&d.series, names::IF_IN_UTIL, "Gi0/1"), Some(30.0));
    assert!(feed.take_pending().is_empty(), "taken once");

    // A target the poller no longer has is forgotten.
    feed.set_targets(vec![], t1);
    assert!(feed.take_due(t0 + Duration::from_secs(10_000)).is_empty());
    assert_eq!(feed.next_due(), None);
}
