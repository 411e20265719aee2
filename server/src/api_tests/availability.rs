//! Metrics, availability and capacity through the HTTP API, over the real in-memory engine,
//! with time injected: batches carry their own timestamps, and compaction and server runs are
//! driven with explicit `now`s.

use super::*;

const MIN: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rfc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .expect("time")
}

fn batch(id: &str, ticks: &[(i64, u64)], series: Value, probes: Value, devices: Value) -> String {
    json!({
        "schema_version": cmdb_shared::SCHEMA_VERSION,
        "batch_id": id,
        "agent_version": "test",
        "interval_secs": 60,
        "ticks": ticks.iter().map(|(t, up)| json!({"at": rfc(*t), "uptime_secs": up})).collect::<Vec<_>>(),
        "series": series,
        "devices": devices,
        "probes": probes,
    })
    .to_string()
}

impl App {
    /// Identifies the agent's host with a first inventory; returns its CI id.
    async fn host(&self) -> String {
        self.host_named("web01").await
    }

    /// [`Self::host`] with the host name given.
    pub(super) async fn host_named(&self, hostname: &str) -> String {
        let inv = cmdb_shared::Inventory {
            identity: Some(cmdb_shared::Identity {
                hostname: hostname.into(),
                machine_id: Some("0123456789abcdef0123456789abcdef".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let report = cmdb_shared::Report {
            schema_version: cmdb_shared::SCHEMA_VERSION,
            report_id: "r-1".into(),
            kind: cmdb_shared::ReportKind::Full,
            agent_version: "test".into(),
            collected_at: chrono::Utc::now(),
            section_hashes: cmdb_shared::hash::inventory_hashes(&inv),
            inventory: inv,
            errors: vec![],
        };
        let report = serde_json::to_value(&report).expect("report");
        let (status, ack) = self
            .send(
                "POST",
                "/api/v1/reports",
                &self.agent_token,
                Some(report.to_string()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{ack}");
        ack["ci_id"].as_str().expect("ci").to_string()
    }

    async fn push(&self, body: String) -> (StatusCode, Value) {
        self.send("POST", "/api/v1/metrics", &self.agent_token, Some(body))
            .await
    }

    async fn get(&self, uri: &str) -> Value {
        let (status, v) = self.send("GET", uri, &self.viewer_token, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {v}");
        v
    }

    pub(super) async fn admin(&self) -> String {
        self.stored_token("tadmin", Role::Admin, None).await
    }

    /// A server run covering [start, alive].
    async fn server_ran(&self, key: &str, start: i64, alive: i64) {
        self.state
            .availability
            .alive(key, start, alive)
            .await
            .expect("alive");
    }
}

/// Heartbeats every minute over [from, to).
fn beats(from: i64, to: i64, boot: i64) -> Vec<(i64, u64)> {
    (from..to)
        .step_by(MIN as usize)
        .map(|t| (t, (t - boot) as u64))
        .collect()
}

fn outages(v: &Value) -> Vec<(i64, i64, i64, String, bool)> {
    v["outages"]
        .as_array()
        .expect("outages")
        .iter()
        .map(|o| {
            (
                o["start"].as_i64().expect("start"),
                o["end"].as_i64().expect("end"),
                o["duration"].as_i64().expect("duration"),
                o["cause"].as_str().expect("cause").to_string(),
                o["planned"].as_bool().expect("planned"),
            )
        })
        .collect()
}

#[tokio::test]
async fn samples_are_stored_compacted_into_rollups_equal_to_brute_force_and_expire() {
    let app = app().await;
    // Before the host's inventory, metrics have nowhere to go: 409, retried by the agent.
    let early = batch("m-0", &[], json!([]), json!([]), json!([]));
    assert_eq!(app.push(early).await.0, StatusCode::CONFLICT);
    let ci = app.host().await;

    let day = cmdb_series::day_start(now()) - 2 * DAY;
    // A day of CPU samples with decimals, sent as 24 hourly batches.
    let value = |t: i64| ((t / MIN * 7919) % 10_000) as f64 / 100.0;
    let mut all = Vec::new();
    for h in 0..24 {
        let pts: Vec<Value> = (0..60)
            .map(|m| {
                let t = day + h * HOUR + m * MIN;
                all.push((t, value(t)));
                json!([t, value(t)])
            })
            .collect();
        let body = batch(
            &format!("m-{h}"),
            &[],
            json!([{"name": "cpu.util", "points": pts}, {"name": "fs.used_pct", "instance": "/var", "points": [[day + h * HOUR, 40.0 + h as f64]]}]),
            json!([]),
            json!([]),
        );
        let (status, ack) = app.push(body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{ack}");
        assert_eq!(ack["samples"], 61);
        if h == 3 {
            // A redelivery (lost acknowledgement) stores nothing twice.
            assert_eq!(app.push(body).await.0, StatusCode::OK);
        }
    }
    let uri = |step: &str| {
        format!(
            "/api/v1/cis/{ci}/metrics?name=cpu.util&from={}&to={}&step={step}",
            day,
            day + DAY
        )
    };
    let raw_before = app.get(&uri("raw")).await;
    assert_eq!(raw_before["points"].as_array().map(Vec::len), Some(1440));

    let stats = app.state.metrics.compact(now()).await.expect("compact");
    assert_eq!(stats.days, 1, "{stats:?}");
    assert_eq!(stats.series, 2);
    // Nothing left to compact, and the ingest records it consumed are gone.
    assert_eq!(
        app.state.metrics.compact(now()).await.expect("again").days,
        0
    );
    assert!(
        app.store
            .metric_records(&ci, day, day + DAY)
            .await
            .expect("records")
            .is_empty()
    );

    let raw = app.get(&uri("raw")).await;
    assert_eq!(
        raw["points"], raw_before["points"],
        "compaction is lossless"
    );
    let got: Vec<(i64, f64)> = raw["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| (p["t"].as_i64().expect("t"), p["value"].as_f64().expect("v")))
        .collect();
    assert_eq!(got, all);

    // 5-minute rollups against a brute-force computation over the raw samples.
    let five = app.get(&uri("5m")).await;
    let five = five["points"].as_array().expect("points");
    assert_eq!(five.len(), 288);
    for (w, r) in five.iter().enumerate() {
        let start = day + w as i64 * 300;
        let mut vals: Vec<f64> = all
            .iter()
            .filter(|p| p.0 >= start && p.0 < start + 300)
            .map(|p| p.1)
            .collect();
        vals.sort_by(f64::total_cmp);
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let p95 = vals[(0.95 * vals.len() as f64).ceil() as usize - 1];
        assert_eq!(r["t"].as_i64(), Some(start));
        assert_eq!(r["count"].as_u64(), Some(vals.len() as u64));
        assert_eq!(r["min"].as_f64(), Some(vals[0]));
        assert_eq!(r["max"].as_f64(), vals.last().copied());
        assert_eq!(r["p95"].as_f64(), Some(p95));
        assert!((r["value"].as_f64().expect("mean") - mean).abs() < 1e-9);
    }
    let daily = app.get(&uri("1d")).await;
    assert_eq!(daily["points"][0]["count"], 1440);
    let hourly = app.get(&uri("1h")).await;
    assert_eq!(hourly["points"].as_array().map(Vec::len), Some(24));

    // The store's figures count the compacted samples.
    let admin = app.admin().await;
    let (status, sizes) = app
        .send("GET", "/api/v1/metrics/storage", &admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{sizes}");
    assert_eq!(sizes["samples"], 1464, "{sizes}");
    assert!(sizes["raw_bytes"].as_u64().expect("raw") > 0, "{sizes}");
    assert!(
        sizes["bytes_per_sample"].as_f64().expect("bps") > 0.0,
        "{sizes}"
    );

    // A late batch for the compacted day is merged by the next compaction.
    let late = batch(
        "m-late",
        &[],
        json!([{"name": "cpu.util", "points": [[day + 30, 99.5]]}]),
        json!([]),
        json!([]),
    );
    assert_eq!(app.push(late).await.0, StatusCode::OK);
    assert_eq!(
        app.state.metrics.compact(now()).await.expect("late").days,
        1
    );
    let raw = app.get(&uri("raw")).await;
    assert_eq!(raw["points"].as_array().map(Vec::len), Some(1441));
    assert_eq!(app.get(&uri("1d")).await["points"][0]["count"], 1441);

    // The series list names both.
    let names = app.get(&format!("/api/v1/cis/{ci}/metrics")).await;
    assert!(
        names
            .as_array()
            .expect("list")
            .iter()
            .any(|n| n["name"] == "fs.used_pct" && n["instance"] == "/var"),
        "{names}"
    );

    // Retention: 40 days on, the raw block and the 5-minute rollups of a 31-day retention
    // are gone; the daily rollup stays.
    app.state
        .metrics
        .expire(now() + 40 * DAY)
        .await
        .expect("expire");
    assert_eq!(app.get(&uri("raw")).await["points"], json!([]));
    assert_eq!(app.get(&uri("1d")).await["points"][0]["count"], 1441);
    app.state
        .metrics
        .expire(now() + 400 * DAY)
        .await
        .expect("expire");
    assert_eq!(app.get(&uri("5m")).await["points"], json!([]));
    assert_eq!(app.get(&uri("1d")).await["points"][0]["count"], 1441);
}

#[tokio::test]
async fn bad_batches_are_refused_naming_the_field_and_store_nothing() {
    let app = app().await;
    let ci = app.host().await;
    let t = now() - HOUR;
    for (body, needle) in [
        (
            batch(
                "b1",
                &[],
                json!([{"name": "cpu.util", "points": [[t, "x"]]}]),
                json!([]),
                json!([]),
            ),
            "series[0].points[0]",
        ),
        (
            batch(
                "b2",
                &[],
                json!([{"name": "CPU util", "points": [[t, 1.0]]}]),
                json!([]),
                json!([]),
            ),
            "series[0]",
        ),
        (
            batch(
                "b3",
                &[],
                json!([{"name": "cpu.util", "points": [[t + 10 * DAY, 1.0]]}]),
                json!([]),
                json!([]),
            ),
            "outside the accepted range",
        ),
        (
            batch(
                "b4",
                &[],
                json!([{"name": "cpu.util", "points": [[t - 90 * DAY, 1.0]]}]),
                json!([]),
                json!([]),
            ),
            "outside the accepted range",
        ),
        (
            batch(
                "b5",
                &[],
                json!([]),
                json!([{"name": "p", "kind": "tcp", "target": "x:1", "ci": "", "at": rfc(t), "state": "up"}]),
                json!([]),
            ),
            "probes[0].ci",
        ),
    ] {
        let (status, err) = app.push(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(
            err["error"].as_str().expect("error").contains(needle),
            "{err}"
        );
    }
    let (status, err) = app.push("{\"schema_version\": 99}".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let names = app.get(&format!("/api/v1/cis/{ci}/metrics")).await;
    assert_eq!(names, json!([]));
    let (status, _) = app
        .send(
            "GET",
            &format!("/api/v1/cis/{ci}/metrics?name=cpu.util&step=7x"),
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Viewers cannot push.
    let (status, _) = app
        .send(
            "POST",
            "/api/v1/metrics",
            &app.viewer_token,
            Some(batch("v", &[], json!([]), json!([]), json!([]))),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_silent_agent_is_an_outage_from_its_last_heartbeat_and_a_server_outage_is_not() {
    let app = app().await;
    let ci = app.host().await;
    let t0 = cmdb_series::day_start(now()) - DAY;
    let boot = t0 - DAY;
    // The server was up all along, except 10 minutes at t0 + 3 h.
    app.server_ran("run1", t0 - 2 * DAY, t0 + 3 * HOUR).await;
    app.server_ran("run2", t0 + 3 * HOUR + 10 * MIN, now())
        .await;

    // Hour 0-1: heartbeats; then the agent stops for 30 minutes; back at 1:30 until 2:00.
    let mut ticks = beats(t0, t0 + HOUR, boot);
    ticks.extend(beats(t0 + HOUR + 30 * MIN, t0 + 2 * HOUR, boot));
    // 2:00-4:00 heartbeats continue right through the server's 10-minute absence (spooled,
    // delivered late: the order of arrival does not matter).
    let spooled = beats(t0 + 2 * HOUR, t0 + 4 * HOUR, boot);
    // 4:00-5:00: heartbeats, and a reboot at 5:00 (booted at 5:01, heartbeats from 5:02:
    // two missed ticks, within the three allowed).
    let before = beats(t0 + 4 * HOUR, t0 + 5 * HOUR, boot);
    let new_boot = t0 + 5 * HOUR + MIN;
    let after = beats(t0 + 5 * HOUR + 2 * MIN, t0 + 6 * HOUR, new_boot);
    for (i, chunk) in [ticks, before, after, spooled].iter().enumerate() {
        let (status, ack) = app
            .push(batch(
                &format!("h{i}"),
                chunk,
                json!([]),
                json!([]),
                json!([]),
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{ack}");
    }
    let v = app
        .get(&format!(
            "/api/v1/cis/{ci}/availability?from={}&to={}",
            t0,
            t0 + 6 * HOUR
        ))
        .await;
    let found = outages(&v);
    assert_eq!(
        found,
        vec![
            // Dated from the last heartbeat (0:59 + one interval), closed by the next.
            (
                t0 + HOUR,
                t0 + HOUR + 30 * MIN,
                30 * MIN,
                "heartbeat".into(),
                false
            ),
            // The reboot: from the last sign of life (4:59) to the boot instant (5:01).
            (
                t0 + 5 * HOUR - MIN,
                new_boot,
                2 * MIN,
                "reboot".into(),
                false
            ),
        ],
        "{v}"
    );
    let f = &v["figures"];
    assert_eq!(f["outages"], 2);
    assert_eq!(f["unplanned_down_secs"], 32 * MIN);
    assert_eq!(
        f["unknown_secs"], 0,
        "the server's absence was filled by spooled heartbeats"
    );

    // Without the spooled heartbeats, the server's absence would be unknown, not down.
    let app2 = self::app().await;
    let ci2 = app2.host().await;
    app2.server_ran("run1", t0 - 2 * DAY, t0 + 3 * HOUR).await;
    app2.server_ran("run2", t0 + 3 * HOUR + 10 * MIN, now())
        .await;
    let mut ticks = beats(t0, t0 + 3 * HOUR, boot);
    ticks.extend(beats(t0 + 3 * HOUR + 10 * MIN, t0 + 4 * HOUR, boot));
    assert_eq!(
        app2.push(batch("x", &ticks, json!([]), json!([]), json!([])))
            .await
            .0,
        StatusCode::OK
    );
    let v = app2
        .get(&format!(
            "/api/v1/cis/{ci2}/availability?from={}&to={}",
            t0,
            t0 + 4 * HOUR
        ))
        .await;
    assert_eq!(v["figures"]["outages"], 0, "{v}");
    assert_eq!(v["figures"]["unplanned_down_secs"], 0);
    assert_eq!(v["figures"]["unknown_secs"], 10 * MIN);
    assert_eq!(v["figures"]["sli_pct"], 100.0);
}

#[tokio::test]
async fn probes_and_device_polls_are_signals_and_maintenance_is_planned() {
    let app = app().await;
    let host = app.host().await;
    let ed = app.editor().await;
    let web = app.manual(&ed, "application", "shop-web", json!({})).await;
    let (status, dev) = app.post_device(&device_report()).await;
    assert_eq!(status, StatusCode::OK, "{dev}");
    let device = dev["ci_id"].as_str().expect("device").to_string();
    let t0 = cmdb_series::day_start(now()) - DAY;
    app.server_ran("run", t0 - DAY, now()).await;

    // The probe fails 1:00-1:20; the device reboots at 2:00 (sysUpTime goes back).
    let probes: Vec<Value> = (0..180)
        .map(|m| {
            let t = t0 + m * MIN;
            let down = (60..80).contains(&m);
            json!({"name": "shop", "kind": "http", "target": "https://shop.example/", "ci": "shop-web",
                   "at": rfc(t), "state": if down { "down" } else { "up" }, "latency_ms": 12.0})
        })
        .collect();
    let polls: Vec<Value> = (0..36)
        .map(|i| json!({"at": rfc(t0 + i * 5 * MIN), "answered": true}))
        .collect();
    let uptime: Vec<Value> = (0..36)
        .map(|i| {
            let t = t0 + i * 5 * MIN;
            let up = if t < t0 + 2 * HOUR {
                t - (t0 - DAY)
            } else {
                t - (t0 + 2 * HOUR - 60)
            };
            json!([t, up as f64])
        })
        .collect();
    let body = batch(
        "p1",
        &beats(t0, t0 + 3 * HOUR, t0 - DAY),
        json!([]),
        Value::Array(probes),
        json!([{"address": "10.0.0.1", "polls": polls, "uptime": uptime,
                "series": [{"name": "if.in_util", "instance": "Gi1/0/1", "points": [[t0, 12.5]]}]}]),
    );
    let (status, ack) = app.push(body).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["samples"], 1);

    let period = format!("from={}&to={}", t0, t0 + 3 * HOUR);
    let web_av = app
        .get(&format!("/api/v1/cis/{web}/availability?{period}"))
        .await;
    assert_eq!(
        outages(&web_av),
        vec![(
            t0 + HOUR,
            t0 + HOUR + 20 * MIN,
            20 * MIN,
            "probe".into(),
            false
        )],
        "{web_av}"
    );
    let dev_av = app
        .get(&format!("/api/v1/cis/{device}/availability?{period}"))
        .await;
    assert_eq!(
        outages(&dev_av),
        // From the last reading before the boot (1:55) to the boot (1:59).
        vec![(
            t0 + 2 * HOUR - 5 * MIN,
            t0 + 2 * HOUR - MIN,
            4 * MIN,
            "reboot".into(),
            false
        )],
        "{dev_av}"
    );
    // The device's interface series is stored under the device.
    let names = app.get(&format!("/api/v1/cis/{device}/metrics")).await;
    assert_eq!(
        names,
        json!([{"name": "if.in_util", "instance": "Gi1/0/1"}])
    );

    // A maintenance window over the probe's failure makes it planned: out of the SLA.
    let (status, m) = app
        .send(
            "POST",
            "/api/v1/maintenance",
            &ed,
            Some(json!({"ci": "shop-web", "start": rfc(t0 + 50 * MIN), "end": rfc(t0 + 90 * MIN), "reason": "upgrade"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let (status, sla) = app
        .send(
            "PUT",
            &format!("/api/v1/cis/{web}/sla"),
            &ed,
            Some(json!({"target_pct": 99.9}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sla}");
    let web_av = app
        .get(&format!("/api/v1/cis/{web}/availability?{period}"))
        .await;
    let f = &web_av["figures"];
    assert_eq!(f["outages"], 0, "{web_av}");
    assert_eq!(f["unplanned_down_secs"], 0);
    assert_eq!(f["planned_down_secs"], 20 * MIN);
    assert_eq!(f["planned_secs"], 40 * MIN);
    assert_eq!(f["sli_pct"], 100.0);
    assert_eq!(f["breached"], false);
    assert!(outages(&web_av)[0].4, "the outage is shown, as planned");

    // Bad SLA and maintenance requests name the field.
    for (method, uri, body, needle) in [
        (
            "PUT",
            format!("/api/v1/cis/{web}/sla"),
            json!({"target_pct": 120}),
            "target_pct",
        ),
        (
            "PUT",
            format!("/api/v1/cis/{web}/sla"),
            json!({"target_pct": 99, "schedule": "Mon-Fri 08:00-18:00"}),
            "schedule",
        ),
        (
            "POST",
            "/api/v1/maintenance".to_string(),
            json!({"ci": "shop-web", "start": rfc(t0), "end": rfc(t0 - 1)}),
            "end",
        ),
        (
            "POST",
            "/api/v1/maintenance".to_string(),
            json!({"ci": "nope", "start": rfc(t0), "end": rfc(t0 + 1)}),
            "ci",
        ),
    ] {
        let (status, err) = app.send(method, &uri, &ed, Some(body.to_string())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(
            err["error"].as_str().expect("error").starts_with(needle),
            "{err}"
        );
    }
    let (status, _) = app
        .send(
            "PUT",
            &format!("/api/v1/cis/{web}/sla"),
            &app.viewer_token,
            Some(json!({"target_pct": 99}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The report lists all three, worst first, as JSON and CSV.
    let report = app
        .get(&format!("/api/v1/reports/availability?{period}"))
        .await;
    let listed: Vec<&str> = report
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["ci"].as_str().expect("ci"))
        .collect();
    assert!(
        listed.contains(&host.as_str())
            && listed.contains(&device.as_str())
            && listed.contains(&web.as_str()),
        "{report}"
    );
    let (status, csv) = app
        .send(
            "GET",
            &format!("/api/v1/reports/availability?{period}&format=csv"),
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let csv = csv.as_str().expect("csv");
    assert!(
        csv.starts_with("ci,name,class,derived,schedule,target_pct,sli_pct"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
}

#[tokio::test]
async fn a_business_service_counts_only_overlapping_outages_of_a_redundant_pair() {
    let app = app().await;
    app.host().await;
    let ed = app.editor().await;
    let bs = app
        .manual(&ed, "business_service", "Payments", json!({}))
        .await;
    let group = app
        .manual(&ed, "redundancy_group", "pay-cluster", json!({"min_up": 1}))
        .await;
    let a = app.manual(&ed, "application", "pay-a", json!({})).await;
    let b = app.manual(&ed, "application", "pay-b", json!({})).await;
    assert_eq!(
        app.relate(&ed, &bs, "depends_on", &group).await.0,
        StatusCode::CREATED
    );
    for m in [&a, &b] {
        assert_eq!(
            app.relate(&ed, m, "member_of", &group).await.0,
            StatusCode::CREATED
        );
    }
    let t0 = cmdb_series::day_start(now()) - DAY;
    app.server_ran("run", t0 - DAY, now()).await;
    // pay-a down 0:10-0:40, pay-b down 0:30-0:50 (overlap 0:30-0:40), and pay-a again
    // 1:10-1:20 while pay-b is up (no overlap).
    let probe = |name: &str, ci: &str, down: &dyn Fn(i64) -> bool| -> Vec<Value> {
        (0..120)
            .map(|m| {
                json!({"name": name, "kind": "tcp", "target": "x:1", "ci": ci, "at": rfc(t0 + m * MIN),
                       "state": if down(m) { "down" } else { "up" }})
            })
            .collect()
    };
    let mut probes = probe("a", "pay-a", &|m| {
        (10..40).contains(&m) || (70..80).contains(&m)
    });
    probes.extend(probe("b", "pay-b", &|m| (30..50).contains(&m)));
    assert_eq!(
        app.push(batch("s", &[], json!([]), Value::Array(probes), json!([])))
            .await
            .0,
        StatusCode::OK
    );
    let v = app
        .get(&format!(
            "/api/v1/cis/{bs}/availability?from={}&to={}",
            t0,
            t0 + 2 * HOUR
        ))
        .await;
    assert_eq!(v["derived"], true, "{v}");
    assert_eq!(
        outages(&v).iter().map(|o| (o.0, o.1)).collect::<Vec<_>>(),
        vec![(t0 + 30 * MIN, t0 + 40 * MIN)],
        "{v}"
    );
    assert_eq!(v["figures"]["unplanned_down_secs"], 10 * MIN);
    // The service report brings the service and what it depends on.
    let rows = app
        .get(&format!(
            "/api/v1/reports/availability?from={}&to={}&service={bs}",
            t0,
            t0 + 2 * HOUR
        ))
        .await;
    assert_eq!(rows.as_array().map(Vec::len), Some(3), "{rows}");
}

#[tokio::test]
async fn the_capacity_report_forecasts_the_crossing_day_of_a_growing_filesystem() {
    let app = app().await;
    let ci = app.host().await;
    let today = cmdb_series::day_start(now());
    // 20 days of /var growing 2 points a day from 40 %, hourly samples; /home flat at 30 %.
    for d in 0..20 {
        let day = today - (20 - d) * DAY;
        let var: Vec<Value> = (0..24)
            .map(|h| json!([day + h * HOUR, 40.0 + 2.0 * d as f64]))
            .collect();
        let home: Vec<Value> = (0..24).map(|h| json!([day + h * HOUR, 30.0])).collect();
        let body = batch(
            &format!("d{d}"),
            &[],
            json!([{"name": "fs.used_pct", "instance": "/var", "points": var},
                   {"name": "fs.used_pct", "instance": "/home", "points": home}]),
            json!([]),
            json!([]),
        );
        assert_eq!(app.push(body).await.0, StatusCode::OK);
    }
    assert_eq!(
        app.state
            .metrics
            .compact(now())
            .await
            .expect("compact")
            .days,
        20
    );
    let rows = app.get("/api/v1/reports/capacity").await;
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    // Most urgent first: /var reached 78 % yesterday; its trend reaches 80 % at midnight
    // (so it is due now: past midnight, not crossed yet) and 90 % five days on.
    assert_eq!(rows[0]["instance"], "/var");
    assert_eq!(rows[0]["ci"], ci.as_str());
    let f = &rows[0]["forecast"];
    let last = today - DAY;
    assert_eq!(f["current"], 78.0, "{f}");
    assert_eq!(f["trend_per_day"], 2.0, "{f}");
    assert_eq!(f["warning"]["status"], "between", "{f}");
    assert_eq!(f["warning"]["expected"], f["as_of"], "{f}");
    assert_eq!(f["critical"]["expected"], last + 6 * DAY, "{f}");
    assert_eq!(rows[1]["instance"], "/home");
    assert_eq!(rows[1]["forecast"]["warning"]["status"], "will_not_cross");
    let (status, csv) = app
        .send(
            "GET",
            "/api/v1/reports/capacity?format=csv&series=fs.used_pct",
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(csv.as_str().expect("csv").lines().count(), 3);
    let (status, _) = app
        .send(
            "GET",
            "/api/v1/reports/capacity?series=nope",
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn the_openapi_document_has_the_metrics_availability_and_capacity_endpoints() {
    let doc = serde_json::to_value(crate::http::ops::openapi_doc()).expect("doc");
    for p in [
        "/api/v1/metrics",
        "/api/v1/cis/{id}/metrics",
        "/api/v1/metrics/storage",
        "/api/v1/cis/{id}/availability",
        "/api/v1/reports/availability",
        "/api/v1/reports/capacity",
        "/api/v1/cis/{id}/sla",
        "/api/v1/maintenance",
        "/api/v1/maintenance/{id}",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
}

#[tokio::test]
async fn a_host_unseen_for_long_is_retired_out_of_reports_and_impact_and_back_when_it_reports() {
    let app = app().await;
    let ci = app.host().await;
    let t0 = now() - 2 * HOUR;
    app.server_ran("run", t0 - DAY, now()).await;
    let ticks = beats(t0, t0 + HOUR, t0 - DAY);
    assert_eq!(
        app.push(batch("a", &ticks, json!([]), json!([]), json!([])))
            .await
            .0,
        StatusCode::OK
    );
    app.state.ingest.flush_last_seen().await;
    let lifecycle = |v: &Value| v["lifecycle"].as_str().expect("lifecycle").to_string();
    assert_eq!(
        lifecycle(&app.get(&format!("/api/v1/cis/{ci}")).await),
        "active"
    );
    let listed = |v: &Value| {
        v.as_array()
            .expect("rows")
            .iter()
            .any(|r| r["ci"] == ci.as_str())
    };
    assert!(listed(&app.get("/api/v1/reports/availability").await));
    // It hangs off a PDU, and a business service depends on it.
    let ed = app.editor().await;
    let pdu = app.manual(&ed, "pdu", "pdu-a", json!({})).await;
    let bs = app.manual(&ed, "business_service", "Shop", json!({})).await;
    assert_eq!(
        app.relate(&ed, &ci, "powered_by", &pdu).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.relate(&ed, &bs, "depends_on", &ci).await.0,
        StatusCode::CREATED
    );
    let impact = || async {
        let (status, v) = app
            .send(
                "POST",
                "/api/v1/impact",
                &app.viewer_token,
                Some(json!({"cis": [pdu]}).to_string()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let ids: Vec<String> = v["affected"]
            .as_array()
            .expect("affected")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect();
        (ids, v)
    };
    let (ids, v) = impact().await;
    assert!(ids.contains(&ci) && ids.contains(&bs), "{v}");
    assert_eq!(
        (v["down"].as_u64(), v["retired_left_out"].as_u64()),
        (Some(3), Some(0)),
        "{v}"
    );

    app.store
        .raw(&format!(
            "UPDATE ci:⟨{ci}⟩ SET last_seen = '2020-01-01T00:00:00.000Z'"
        ))
        .await
        .expect("age it");
    // A raw write passes the CI catalogue by, whose later time API reads would take.
    app.store.catalogue_touch([&ci]).await;
    // Out of impact answers (the service behind it is still shown) and of dependencies.
    let (ids, v) = impact().await;
    assert!(!ids.contains(&ci) && ids.contains(&bs), "{v}");
    assert_eq!(
        (v["down"].as_u64(), v["retired_left_out"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    let deps = app.get(&format!("/api/v1/cis/{bs}/dependencies")).await;
    let dep_ids: Vec<&Value> = deps["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .map(|d| &d["id"])
        .collect();
    assert!(
        !dep_ids.contains(&&json!(ci)) && dep_ids.contains(&&json!(pdu)),
        "{deps}"
    );
    assert_eq!(
        lifecycle(&app.get(&format!("/api/v1/cis/{ci}")).await),
        "retired"
    );
    let page = app.get("/api/v1/cis?class=host").await;
    assert_eq!(
        page["items"][0]["lifecycle"], "retired",
        "kept and listed: {page}"
    );
    assert!(!listed(&app.get("/api/v1/reports/availability").await));
    // Asked for by id, it is still reported.
    assert!(listed(
        &app.get(&format!("/api/v1/reports/availability?ci={ci}"))
            .await
    ));

    // It reports again: active.
    let ticks = beats(now() - 5 * MIN, now(), t0 - DAY);
    assert_eq!(
        app.push(batch("b", &ticks, json!([]), json!([]), json!([])))
            .await
            .0,
        StatusCode::OK
    );
    app.state.ingest.flush_last_seen().await;
    assert_eq!(
        lifecycle(&app.get(&format!("/api/v1/cis/{ci}")).await),
        "active"
    );
}

#[tokio::test]
async fn a_state_entered_by_hand_replaces_what_the_signals_said() {
    let app = app().await;
    let ci = app.host().await;
    let ed = app.editor().await;
    let t0 = cmdb_series::day_start(now()) - DAY;
    app.server_ran("run", t0 - DAY, now()).await;
    let ticks = beats(t0, t0 + HOUR, t0 - DAY);
    assert_eq!(
        app.push(batch("m", &ticks, json!([]), json!([]), json!([])))
            .await
            .0,
        StatusCode::OK
    );
    // A power cut the heartbeats did not show (the agent's clock ran on a UPS, say).
    let body = json!({"start": rfc(t0 + 10 * MIN), "end": rfc(t0 + 20 * MIN), "state": "down", "reason": "PDU A failed, confirmed by facilities"});
    let (status, entry) = app
        .send(
            "POST",
            &format!("/api/v1/cis/{ci}/availability/manual"),
            &ed,
            Some(body.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let period = format!("from={}&to={}", t0, t0 + HOUR);
    let v = app
        .get(&format!("/api/v1/cis/{ci}/availability?{period}"))
        .await;
    assert_eq!(
        outages(&v),
        vec![(
            t0 + 10 * MIN,
            t0 + 20 * MIN,
            10 * MIN,
            "manual".into(),
            false
        )],
        "{v}"
    );
    // Overlaps and bad states are refused; the entry can be removed.
    let (status, err) = app
        .send(
            "POST",
            &format!("/api/v1/cis/{ci}/availability/manual"),
            &ed,
            Some(body.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["error"].as_str().expect("error").contains("overlaps"),
        "{err}"
    );
    let bad = json!({"start": rfc(t0), "end": rfc(t0 + 1), "state": "broken", "reason": "x"});
    let (status, err) = app
        .send(
            "POST",
            &format!("/api/v1/cis/{ci}/availability/manual"),
            &ed,
            Some(bad.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["error"].as_str().expect("error").starts_with("state"),
        "{err}"
    );
    let id = entry["key"].as_str().expect("key");
    let (status, _) = app
        .send(
            "DELETE",
            &format!("/api/v1/availability/manual/{id}"),
            &ed,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let v = app
        .get(&format!("/api/v1/cis/{ci}/availability?{period}"))
        .await;
    assert_eq!(outages(&v), vec![], "{v}");
}
