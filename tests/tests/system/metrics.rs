//! Metrics with real processes: acknowledged samples survive `kill -9` of the server.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cmdb_tests::{Agent, Server, rt};
use serde_json::json;

const WRITERS: usize = 4;
const POINTS: i64 = 100;

#[test]
fn kill_9_of_the_server_during_ingest_loses_no_acknowledged_sample() {
    let mut server = Server::start().expect("server");
    let agent = Agent::new(Path::new("/"), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("first inventory");
    let host = server.only_host().expect("host");
    let token = agent.token().expect("token");
    let client = server.client().expect("client");
    let url = format!("{}/api/v1/metrics", server.url());
    let base = chrono::Utc::now().timestamp() - 10 * 3600;

    // Writers post batches (100 samples each, one series per writer) as fast as they are
    // acknowledged; each records what was acknowledged.
    let acked: Arc<Mutex<Vec<(usize, i64)>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_secs(3);
    let runtime = rt();
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (client, url, token, acked) =
                (client.clone(), url.clone(), token.clone(), acked.clone());
            runtime.spawn(async move {
                let mut sent = 0;
                for i in 0..300i64 {
                    let points: Vec<_> = (0..POINTS)
                        .map(|k| json!([base + i * POINTS + k, (i * POINTS + k) as f64]))
                        .collect();
                    let body = json!({
                        "schema_version": cmdb_shared::SCHEMA_VERSION,
                        "batch_id": format!("kill-{w}-{i}"),
                        "agent_version": "test",
                        "interval_secs": 60,
                        "series": [{"name": "test.kill", "instance": format!("w{w}"), "points": points}],
                    });
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            acked.lock().expect("acked").push((w, i));
                            sent += 1;
                        }
                        // The server is gone: what was not acknowledged may be lost.
                        _ => break,
                    }
                    if Instant::now() > stop_at + Duration::from_secs(30) {
                        break;
                    }
                }
                sent
            })
        })
        .collect();
    // Kill while the writers are busy (the runtime runs them while it is blocked on).
    let (before_kill, sent) = runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before_kill = acked.lock().expect("acked").len();
        server.kill9().expect("kill -9");
        let mut sent = 0;
        for h in handles {
            sent += h.await.expect("writer");
        }
        (before_kill, sent)
    });
    let acked = acked.lock().expect("acked").clone();
    assert_eq!(sent, acked.len());
    assert!(
        before_kill >= 10,
        "too few batches acknowledged before the kill ({before_kill}) for the test to mean anything"
    );

    server.resume().expect("restart after kill -9");
    for w in 0..WRITERS {
        let (status, v) = server
            .get(&format!(
                "/api/v1/cis/{host}/metrics?name=test.kill&instance=w{w}&from={}&to={}&step=raw",
                base,
                base + 300 * POINTS
            ))
            .expect("read back");
        assert_eq!(status, 200, "{v}");
        let have: std::collections::BTreeSet<i64> = v["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| p["t"].as_i64().expect("t"))
            .collect();
        for &(_, i) in acked.iter().filter(|(ww, _)| *ww == w) {
            for k in 0..POINTS {
                assert!(
                    have.contains(&(base + i * POINTS + k)),
                    "writer {w}: acknowledged batch {i} lost sample {k} after kill -9"
                );
            }
        }
    }
    eprintln!(
        "kill -9: {} batches ({} samples) acknowledged, all present after restart",
        acked.len(),
        acked.len() as i64 * POINTS
    );
}

/// A TCP service the probe watches, that the test stops and starts.
struct Service {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    fn start(port: u16) -> Self {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

fn outages(v: &serde_json::Value) -> Vec<(i64, i64, i64)> {
    v["outages"]
        .as_array()
        .expect("outages")
        .iter()
        .filter(|o| o["planned"] == false)
        .map(|o| {
            (
                o["start"].as_i64().expect("start"),
                o["end"].as_i64().expect("end"),
                o["duration"].as_i64().expect("duration"),
            )
        })
        .collect()
}

#[test]
fn the_real_agent_feeds_metrics_a_probe_outage_and_survives_a_server_outage_without_one() {
    let mut server = Server::start().expect("server");
    let (editor_id, editor) = server.create_token("editor", "test").expect("editor");
    let _ = editor_id;
    let (status, shop) = server
        .request(
            "POST",
            "/api/v1/cis",
            &editor,
            Some(
                json!({"class": "application", "name": "shop"})
                    .to_string()
                    .into_bytes(),
            ),
            &[],
        )
        .expect("shop");
    assert_eq!(status, 201, "{shop}");
    let shop = shop["id"].as_str().expect("id").to_string();

    let port = cmdb_tests::free_port();
    let mut service = Service::start(port);
    let mut agent = Agent::new(Path::new("/"), 300).expect("agent");
    let mut cfg = std::fs::read_to_string(&agent.config).expect("config");
    cfg.push_str(&format!(
        "[metrics]\ninterval_secs = 1\n[[probes]]\nname = \"shop\"\nkind = \"tcp\"\ntarget = \"127.0.0.1:{port}\"\nci = \"shop\"\ntimeout_ms = 500\n"
    ));
    std::fs::write(&agent.config, cfg).expect("write config");
    agent.enroll(&server).expect("enroll");
    agent.start_daemon().expect("daemon");
    let host = cmdb_tests::wait_for(Duration::from_secs(60), || server.only_host().ok())
        .expect("host identified");

    // Metrics arrive: the host's series, raw and as 5-minute rollups.
    let names = cmdb_tests::wait_for(Duration::from_secs(60), || {
        let (_, v) = server.get(&format!("/api/v1/cis/{host}/metrics")).ok()?;
        let has = |n: &str| v.as_array()?.iter().any(|s| s["name"] == n).then_some(());
        has("cpu.util")?;
        has("mem.used_pct")?;
        has("probe.latency_ms")?;
        Some(v)
    })
    .expect("series");
    assert!(names.as_array().expect("names").len() > 5, "{names}");
    let (status, five) = server
        .get(&format!(
            "/api/v1/cis/{host}/metrics?name=mem.used_pct&step=5m"
        ))
        .expect("rollups");
    assert_eq!(status, 200, "{five}");
    assert!(
        five["points"][0]["count"].as_u64().expect("count") >= 1,
        "{five}"
    );
    // The capacity report lists the host's resources with their current values; a few
    // seconds of history is not enough for a forecast, and it says so.
    let (status, cap) = server
        .get(&format!("/api/v1/reports/capacity?ci={host}"))
        .expect("capacity");
    assert_eq!(status, 200, "{cap}");
    let mem = cap
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["series"] == "mem.used_pct")
        .unwrap_or_else(|| panic!("no memory row: {cap}"));
    assert!(
        mem["forecast"]["current"].as_f64().expect("current") > 0.0,
        "{mem}"
    );
    assert_eq!(
        mem["forecast"]["warning"]["status"], "not_enough_data",
        "{mem}"
    );

    // The probed service stops for about 8 s, then comes back: one outage of that length.
    std::thread::sleep(Duration::from_secs(3));
    service.stop();
    let down_at = chrono::Utc::now().timestamp();
    std::thread::sleep(Duration::from_secs(8));
    let mut service = Service::start(service.port);
    let up_at = chrono::Utc::now().timestamp();
    std::thread::sleep(Duration::from_secs(4));

    // The server stops for 10 s while the agent keeps running; its spool drains after.
    server.stop().expect("stop server");
    std::thread::sleep(Duration::from_secs(10));
    server.resume().expect("resume");
    cmdb_tests::wait_for(Duration::from_secs(60), || {
        (agent.spooled() == 0).then_some(())
    })
    .expect("spool drained");
    std::thread::sleep(Duration::from_secs(3));
    let end = chrono::Utc::now().timestamp() - 2;

    let (_, shop_av) = server
        .get(&format!(
            "/api/v1/cis/{shop}/availability?from={}&to={end}",
            down_at - 30
        ))
        .expect("shop availability");
    let found = outages(&shop_av);
    assert_eq!(found.len(), 1, "{shop_av}");
    let (start, stop, duration) = found[0];
    assert!(
        (start - down_at).abs() <= 2,
        "outage starts {start}, service stopped {down_at}: {shop_av}"
    );
    assert!(
        (stop - up_at).abs() <= 2,
        "outage ends {stop}, service back {up_at}: {shop_av}"
    );
    assert!((duration - (up_at - down_at)).abs() <= 3, "{shop_av}");

    let (_, host_av) = server
        .get(&format!(
            "/api/v1/cis/{host}/availability?from={}&to={end}",
            down_at - 30
        ))
        .expect("host availability");
    assert_eq!(
        outages(&host_av),
        vec![],
        "the server's absence is not the host's: {host_av}"
    );
    assert_eq!(host_av["figures"]["unplanned_down_secs"], 0, "{host_av}");
    assert_eq!(host_av["figures"]["sli_pct"], 100.0, "{host_av}");
    service.stop();
}
