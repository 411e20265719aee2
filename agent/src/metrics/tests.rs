//! The sampler on two consecutive ticks of `fixtures/metrics/debian12-firecracker` (`t1`,
//! then `t2`, taken as 10 s apart). Expected values are computed by hand from the fixture
//! files in the comments, not by the code under test.
use std::time::Duration;

use super::*;

const ROOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/metrics/debian12-firecracker"
);

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("timestamp")
}

fn value(s: &Sample, name: &str, instance: &str) -> Option<f64> {
    s.series
        .iter()
        .find(|x| x.name == name && x.instance == instance)
        .map(|x| {
            assert_eq!(x.points.len(), 1, "{name} {instance}");
            x.points[0].1
        })
}

fn two_ticks() -> (Sample, Sample) {
    let mut sampler = Sampler::new();
    let t0 = Instant::now();
    let first = sampler.sample_at(
        &Context::new(format!("{ROOT}/t1")),
        t0,
        at("2026-12-06T06:00:00Z"),
    );
    let second = sampler.sample_at(
        &Context::new(format!("{ROOT}/t2")),
        t0 + Duration::from_secs(10),
        at("2026-12-06T06:00:10Z"),
    );
    (first, second)
}

#[test]
fn the_first_tick_has_gauges_but_no_rates_and_no_cpu() {
    let (first, _) = two_ticks();
    assert_eq!(value(&first, names::CPU_UTIL, ""), None);
    assert_eq!(value(&first, names::LOAD_1, ""), Some(0.9));
    assert_eq!(value(&first, names::PROC_COUNT, ""), Some(3.0));
    assert_eq!(first.uptime_secs, Some(9078));
    assert!(
        !first
            .series
            .iter()
            .any(|s| s.name.starts_with("net.") || s.name.starts_with("disk.")),
        "{:?}",
        first.series
    );
}

#[test]
fn the_second_tick_has_cpu_gauges_and_rates() {
    let (_, s) = two_ticks();
    let p = |name, instance| value(&s, name, instance);
    // cpu: total 1810256 − 1808249 = 2007 jiffies; idle 1051 + iowait 7 → busy 949.
    assert_eq!(p(names::CPU_UTIL, ""), Some(47.28));
    assert_eq!(p(names::LOAD_1, ""), Some(0.92));
    assert_eq!(p(names::LOAD_5, ""), Some(0.91));
    assert_eq!(p(names::LOAD_15, ""), Some(0.99));
    // MemTotal 24683772 kB, MemAvailable 23685564 kB.
    assert_eq!(p(names::MEM_USED, ""), Some(998_208.0 * 1024.0));
    assert_eq!(p(names::MEM_AVAILABLE, ""), Some(23_685_564.0 * 1024.0));
    assert_eq!(p(names::MEM_USED_PCT, ""), Some(4.04));
    assert_eq!(p(names::SWAP_USED, ""), Some(0.0));
    assert_eq!(p(names::SWAP_USED_PCT, ""), None, "no swap configured");
    // vda: 5390 reads and 74696 sectors read, 109 writes and 205584 sectors written in 10 s.
    assert_eq!(p(names::DISK_READ_OPS, "vda"), Some(539.0));
    assert_eq!(p(names::DISK_READ_BYTES, "vda"), Some(3_824_435.0));
    assert_eq!(p(names::DISK_WRITE_OPS, "vda"), Some(10.9));
    assert_eq!(p(names::DISK_WRITE_BYTES, "vda"), Some(10_525_901.0));
    assert_eq!(
        p(names::DISK_READ_OPS, "loop0"),
        None,
        "unused loop devices are not disks"
    );
    assert_eq!(p(names::DISK_READ_OPS, "zram0"), None);
    // eth0 idle, link speed unknown (-1): rates of 0, no utilisation.
    assert_eq!(p(names::NET_RX_BYTES, "eth0"), Some(0.0));
    assert_eq!(p(names::NET_UTIL, "eth0"), None);
    assert_eq!(p(names::NET_RX_BYTES, "lo"), None, "loopback is left out");
    // eth1: rx_bytes wrapped at 2^32 (4294967000 → 1704: 2000 bytes), tx_bytes +12.5 MB,
    // 1000 Mbit/s link.
    assert_eq!(p(names::NET_RX_BYTES, "eth1"), Some(200.0));
    assert_eq!(p(names::NET_TX_BYTES, "eth1"), Some(1_250_000.0));
    assert_eq!(p(names::NET_RX_PACKETS, "eth1"), Some(1.0));
    assert_eq!(p(names::NET_TX_PACKETS, "eth1"), Some(1000.0));
    assert_eq!(p(names::NET_TX_ERRORS, "eth1"), Some(0.1));
    assert_eq!(p(names::NET_UTIL, "eth1"), Some(1.0));
    // ifb0: rx_bytes went from beyond 32 bits to 100: a reset, no point; the rest is there.
    assert_eq!(p(names::NET_RX_BYTES, "ifb0"), None);
    assert_eq!(p(names::NET_RX_PACKETS, "ifb0"), Some(0.0));
    // ifb1: rx_packets 3000000 → 100 would be a wrap of 4.29e9 packets: a reset.
    assert_eq!(p(names::NET_RX_PACKETS, "ifb1"), None);
    assert_eq!(p(names::NET_TX_PACKETS, "ifb1"), Some(0.0));
    assert_eq!(p(names::PROC_COUNT, ""), Some(4.0));
    assert_eq!(p(names::UPTIME, ""), Some(9088.0));
    assert_eq!(s.uptime_secs, Some(9088));
    // The root filesystem: statvfs of whatever holds the fixture, so only consistency.
    let used = p(names::FS_USED, "/").expect("fs.used /");
    let free = p(names::FS_FREE, "/").expect("fs.free /");
    let pct = p(names::FS_USED_PCT, "/").expect("fs.used_pct /");
    assert!(used > 0.0 && free >= 0.0 && (0.0..=100.0).contains(&pct));
    assert!(s.series.iter().all(|x| x.points[0].0 == 1_796_536_810));
}

#[test]
fn a_missing_source_drops_only_its_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("proc")).expect("mkdir");
    std::fs::write(dir.path().join("proc/loadavg"), "1.00 2.00 3.00 1/2 3\n").expect("write");
    let s = Sampler::new().sample_at(
        &Context::new(dir.path()),
        Instant::now(),
        at("2026-01-01T00:00:00Z"),
    );
    let names: Vec<&str> = s.series.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["load.1", "load.5", "load.15", "proc.count"]);
    assert_eq!(s.uptime_secs, None);
}

#[test]
fn counters_wrap_once_at_32_bits_or_were_reset() {
    assert_eq!(increase(10, 25, None), Some(15));
    // Near the top of 32 bits, then small: one wrap.
    assert_eq!(increase(u64::from(u32::MAX) - 9, 5, None), Some(15));
    // Beyond 32 bits there is no 32-bit wrap: a reset.
    assert_eq!(increase(1 << 33, 5, None), None);
    // A wrap implying more than half the range is a reset…
    assert_eq!(increase(1000, 5, None), None);
    // …unless the link could carry it.
    assert_eq!(
        increase(1000, 5, Some(u64::from(u32::MAX))),
        Some((1 << 32) - 995)
    );
    assert_eq!(increase(1000, 5, Some(1 << 20)), None);
}

#[test]
fn rounding_prints_short() {
    assert_eq!(round(47.284_504, 2), 47.28);
    assert_eq!(
        serde_json::to_string(&round(0.1 + 0.2, 2)).expect("json"),
        "0.3"
    );
    assert_eq!(round(3_824_435.2, 0), 3_824_435.0);
}

#[test]
fn merged_series_keep_one_entry_per_key() {
    let point = |name: &str, inst: &str, t: i64| Series {
        name: name.into(),
        instance: inst.into(),
        points: vec![Point(t, 1.0)],
    };
    let mut a = vec![point("cpu.util", "", 1), point("fs.used", "/", 1)];
    append_series(
        &mut a,
        vec![point("fs.used", "/", 2), point("fs.used", "/var", 2)],
    );
    assert_eq!(a.len(), 3);
    assert_eq!(a[1].points, vec![Point(1, 1.0), Point(2, 1.0)]);
    assert_eq!(a[2].instance, "/var");
}

#[test]
fn keys_the_server_would_refuse_are_left_out() {
    let mut s = SeriesSet::new(1);
    s.push(names::FS_USED, "/mnt/a\nb", 1.0);
    s.push(names::FS_USED, &"x".repeat(300), 1.0);
    s.push(names::CPU_UTIL, "", f64::NAN);
    s.push(names::CPU_UTIL, "", 1.0);
    assert_eq!(s.into_series().len(), 1);
}
