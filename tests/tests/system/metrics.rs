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
