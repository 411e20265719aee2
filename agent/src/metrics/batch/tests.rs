//! Batches: building, merging, and delivery to a stand-in server that answers from a
//! script and keeps every request ([`crate::testing::server`]).
use chrono::{DateTime, Utc};
use cmdb_shared::metrics::{Point, PollResult, ProbeKind, ProbeState};

use super::*;
use crate::metrics::Sample;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("timestamp")
}

fn series(name: &str, instance: &str, t: i64, v: f64) -> Series {
    Series {
        name: name.into(),
        instance: instance.into(),
        points: vec![Point(t, v)],
    }
}

fn batch(id: &str, t: i64) -> MetricBatch {
    let when = DateTime::from_timestamp(t, 0).expect("time");
    MetricBatch {
        schema_version: cmdb_shared::SCHEMA_VERSION,
        batch_id: id.into(),
        agent_version: "0.1.0".into(),
        interval_secs: 60,
        ticks: vec![Tick {
            at: when,
            uptime_secs: Some(1000 + t as u64),
        }],
        series: vec![
            series("cpu.util", "", t, 1.0),
            series("fs.used", "/", t, 2.0),
        ],
        devices: vec![DeviceSeries {
            address: "10.0.0.1:161".into(),
            polls: vec![PollResult {
                at: when,
                answered: true,
            }],
            uptime: vec![Point(t, 50.0)],
            series: vec![series("if.in_util", "Gi0/1", t, 3.0)],
        }],
        probes: vec![],
    }
}

fn probe_result(name: &str) -> ProbeResult {
    ProbeResult {
        name: name.into(),
        kind: ProbeKind::Http,
        target: "https://shop.example.com/".into(),
        ci: "shop".into(),
        at: at("2026-03-01T00:00:00Z"),
        state: ProbeState::Up,
        latency_ms: Some(12.5),
        status: Some(200),
        cert_not_after: Some(at("2026-03-11T12:00:00Z")),
        error: None,
    }
}

#[test]
fn probe_results_become_latency_and_certificate_series() {
    let s = probe_series(&[probe_result("shop")]);
    let t = at("2026-03-01T00:00:00Z").timestamp();
    assert_eq!(
        s,
        vec![
            series(names::PROBE_LATENCY_MS, "shop", t, 12.5),
            series(names::PROBE_CERT_DAYS, "shop", t, 10.5),
        ]
    );
}

#[test]
fn a_tick_batch_holds_its_heartbeat_series_and_probes() {
    let sample = Sample {
        at: at("2026-03-01T00:00:00Z"),
        uptime_secs: Some(4242),
        series: vec![series("cpu.util", "", 1, 5.0)],
    };
    let b = tick_batch(
        "0000001-000001-metrics".into(),
        60,
        sample,
        vec![probe_result("shop")],
        vec![],
    );
    assert_eq!(b.ticks.len(), 1);
    assert_eq!(b.ticks[0].uptime_secs, Some(4242));
    assert_eq!(b.interval_secs, 60);
    assert_eq!(b.series.len(), 3, "host series, then the probe's two");
    assert_eq!(b.probes.len(), 1);
    let json = serde_json::to_string(&b).expect("json");
    assert_eq!(
        serde_json::from_str::<MetricBatch>(&json).expect("decode"),
        b
    );
}

#[test]
fn merging_concatenates_ticks_and_points_per_series_and_device() {
    let m = merge(
        vec![batch("a", 60), batch("b", 120), batch("c", 180)],
        merged_id("a", 3),
    )
    .expect("merged");
    assert_eq!(m.batch_id, "a+3");
    assert_eq!(
        m.ticks.iter().map(|t| t.at.timestamp()).collect::<Vec<_>>(),
        [60, 120, 180]
    );
    assert_eq!(m.series.len(), 2);
    assert_eq!(
        m.series[1].points,
        vec![Point(60, 2.0), Point(120, 2.0), Point(180, 2.0)]
    );
    assert_eq!(m.devices.len(), 1);
    assert_eq!(m.devices[0].polls.len(), 3);
    assert_eq!(m.devices[0].uptime.len(), 3);
    assert_eq!(m.devices[0].series[0].points.len(), 3);
    assert_eq!(merge(vec![], "x".into()), None);
}

use crate::testing::{Seen, server};

/// The requests the stand-in server received, decoded as metric batches.
fn batches(seen: &Seen) -> Vec<(String, MetricBatch)> {
    seen.lock()
        .expect("lock")
        .iter()
        .map(|(path, body)| (path.clone(), serde_json::from_slice(body).expect("batch")))
        .collect()
}

fn spool_batches(spool: &mut Spool, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let id = spool.next_id(Kind::Metrics);
            let mut b = batch(&id, 60 * (i as i64 + 1));
            b.batch_id = id.clone();
            let json = serde_json::to_vec(&b).expect("json");
            spool
                .push(&id, &zstd::bulk::compress(&json, 3).expect("zstd"))
                .expect("push");
            id
        })
        .collect()
}

fn setup(url: &str) -> (tempfile::TempDir, Spool, reqwest::Client, Credential) {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path(), 1 << 30, 10_000).expect("spool");
    let http = crate::client::build(None, std::time::Duration::from_secs(5)).expect("client");
    let cred = Credential {
        server: url.to_string(),
        agent_id: "a1".into(),
        token: "t".into(),
    };
    (dir, spool, http, cred)
}

fn ids_left(spool: &Spool) -> Vec<String> {
    spool
        .entries()
        .expect("entries")
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[tokio::test]
async fn a_single_pending_batch_goes_as_it_is() {
    let (url, seen) = server(vec![]).await;
    let (_dir, mut spool, http, cred) = setup(&url);
    let ids = spool_batches(&mut spool, 1);
    let out = deliver(&spool, &http, &cred, None, &mut Resume::default())
        .await
        .expect("deliver");
    assert_eq!((out.delivered, out.pending), (1, 0));
    let seen = batches(&seen);
    assert_eq!(seen[0].0, METRICS_PATH);
    assert_eq!(seen[0].1.batch_id, ids[0]);
    assert!(ids_left(&spool).is_empty());
}

#[tokio::test]
async fn a_backlog_is_merged_and_a_redelivery_carries_the_same_id() {
    // The first attempt fails after the server may have taken it (503): the retry must send
    // the same group under the same id, even with a newer batch spooled in between.
    let (url, seen) = server(vec![503]).await;
    let (_dir, mut spool, http, cred) = setup(&url);
    let ids = spool_batches(&mut spool, 3);
    let report = spool.next_id(Kind::Full);
    spool.push(&report, b"not a metric batch").expect("push");
    let mut resume = Resume::default();
    let out = deliver(&spool, &http, &cred, None, &mut resume)
        .await
        .expect("deliver");
    assert_eq!((out.delivered, out.pending), (0, 3));
    assert!(out.stopped.is_some());
    let later = spool_batches(&mut spool, 1);
    let out = deliver(&spool, &http, &cred, None, &mut resume)
        .await
        .expect("deliver");
    assert_eq!((out.delivered, out.pending), (4, 0));
    let seen = batches(&seen);
    let sent: Vec<(&str, usize)> = seen
        .iter()
        .map(|(_, b)| (b.batch_id.as_str(), b.ticks.len()))
        .collect();
    let merged = format!("{}+3", ids[0]);
    assert_eq!(
        sent,
        [
            (merged.as_str(), 3),
            (merged.as_str(), 3),
            (later[0].as_str(), 1)
        ]
    );
    assert_eq!(seen[0].1, seen[1].1, "the very same batch");
    assert_eq!(seen[0].1.series[0].points.len(), 3);
    assert_eq!(
        ids_left(&spool),
        [report],
        "reports are not metrics' to send"
    );
}

#[tokio::test]
async fn a_refused_merge_is_sent_batch_by_batch_and_only_the_bad_one_is_set_aside() {
    // 413 for the merged batch, then 200, 422 (the bad one), 200.
    let (url, seen) = server(vec![413, 200, 422, 200]).await;
    let (dir, mut spool, http, cred) = setup(&url);
    let ids = spool_batches(&mut spool, 3);
    let out = deliver(&spool, &http, &cred, None, &mut Resume::default())
        .await
        .expect("deliver");
    assert_eq!((out.delivered, out.pending), (2, 0));
    let sent: Vec<String> = batches(&seen)
        .iter()
        .map(|(_, b)| b.batch_id.clone())
        .collect();
    assert_eq!(
        sent,
        [
            format!("{}+3", ids[0]),
            ids[0].clone(),
            ids[1].clone(),
            ids[2].clone()
        ]
    );
    assert!(ids_left(&spool).is_empty());
    let rejected: Vec<String> = std::fs::read_dir(dir.path().join("rejected"))
        .expect("rejected dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(rejected, [format!("{}.json.zst", ids[1])]);
}

#[tokio::test]
async fn merging_stops_at_a_change_of_interval_and_at_sixty_ticks() {
    let (url, seen) = server(vec![]).await;
    let (_dir, mut spool, http, cred) = setup(&url);
    spool_batches(&mut spool, 62);
    // A batch from before a change of the metrics interval.
    let id = spool.next_id(Kind::Metrics);
    let mut b = batch(&id, 99_999);
    b.interval_secs = 30;
    spool
        .push(
            &id,
            &zstd::bulk::compress(&serde_json::to_vec(&b).expect("json"), 3).expect("zstd"),
        )
        .expect("push");
    let out = deliver(&spool, &http, &cred, None, &mut Resume::default())
        .await
        .expect("deliver");
    assert_eq!(out.delivered, 63);
    let ticks: Vec<usize> = batches(&seen).iter().map(|(_, b)| b.ticks.len()).collect();
    assert_eq!(ticks, [60, 2, 1]);
}

#[tokio::test]
async fn delivery_stops_at_the_deadline() {
    let (url, seen) = server(vec![]).await;
    let (_dir, mut spool, http, cred) = setup(&url);
    spool_batches(&mut spool, 2);
    let out = deliver(
        &spool,
        &http,
        &cred,
        Some(Instant::now()),
        &mut Resume::default(),
    )
    .await
    .expect("deliver");
    assert_eq!((out.delivered, out.pending, out.stopped), (0, 2, None));
    assert!(batches(&seen).is_empty());
}
