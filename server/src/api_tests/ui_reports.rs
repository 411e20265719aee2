//! The report pages over the in-process router: capacity with its forecast and drill-down
//! chart, availability against an SLA, a CI's metric charts per range, the dashboard cards,
//! hostile names escaped in HTML and SVG, sign-in redirects and bad parameters.

use super::ui::{Page, send_page, sign_in};
use super::*;

const MIN: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// A CI name that would open an element if it were not escaped.
const HOSTILE: &str = "\"><svg onload=alert(1)>";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rfc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .expect("time")
}

/// A page fetched with the session cookie (none when `session` is empty).
async fn page(app: &App, session: &str, uri: &str) -> Page {
    let mut req = Request::builder().method("GET").uri(uri);
    if !session.is_empty() {
        req = req.header("cookie", format!("cmdb_session={session}"));
    }
    send_page(app, req.body(Body::empty()).expect("request")).await
}

/// A page that must answer 200.
async fn ok(app: &App, session: &str, uri: &str) -> String {
    let p = page(app, session, uri).await;
    assert_eq!(p.status, StatusCode::OK, "{uri}: {}", p.body);
    p.body
}

/// Nothing hostile got through as markup, and the name is there, escaped.
fn escaped(body: &str) {
    assert!(!body.contains("<svg onload"), "{body}");
    assert!(!body.contains(HOSTILE), "{body}");
}

fn batch(id: &str, ticks: &[(i64, u64)], series: Value) -> String {
    json!({
        "schema_version": cmdb_shared::SCHEMA_VERSION,
        "batch_id": id,
        "agent_version": "test",
        "interval_secs": 60,
        "ticks": ticks.iter().map(|(t, up)| json!({"at": rfc(*t), "uptime_secs": up})).collect::<Vec<_>>(),
        "series": series,
        "devices": [],
        "probes": [],
    })
    .to_string()
}

/// The agent's host, named [`HOSTILE`]; its CI id.
async fn hostile_host(app: &App) -> String {
    app.host_named(HOSTILE).await
}

async fn push(app: &App, body: String) {
    let (status, ack) = app
        .send("POST", "/api/v1/metrics", &app.agent_token, Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
}

/// 20 days of /var growing 2 points a day from 40 %, compacted into daily rollups.
async fn growing_filesystem(app: &App) {
    let today = cmdb_series::day_start(now());
    for d in 0..20 {
        let day = today - (20 - d) * DAY;
        let var: Vec<Value> = (0..24)
            .map(|h| json!([day + h * HOUR, 40.0 + 2.0 * d as f64]))
            .collect();
        push(
            app,
            batch(
                &format!("d{d}"),
                &[],
                json!([{"name": "fs.used_pct", "instance": "/var", "points": var}]),
            ),
        )
        .await;
    }
    app.state.metrics.compact(now()).await.expect("compact");
}

#[tokio::test]
async fn the_capacity_pages_rank_the_forecast_and_draw_thresholds_and_the_fit() {
    let app = app().await;
    let ci = hostile_host(&app).await;
    growing_filesystem(&app).await;
    let s = sign_in(&app, &app.viewer_token).await;

    let body = ok(&app, &s, "/ui/reports/capacity").await;
    escaped(&body);
    assert!(body.contains("filesystem /var"), "{body}");
    assert!(body.contains(&format!("href=\"/ui/cis/{ci}\"")), "{body}");
    // Trend reaches 80 % now, 90 % five days after the last day: a date and a range.
    assert!(body.contains("due now"), "{body}");
    assert!(body.contains("in 5 days"), "{body}");
    assert!(body.contains("range "), "{body}");
    assert!(
        body.contains("78.0 %") && body.contains("80 % / 90 %"),
        "{body}"
    );
    // A sparkline per row, its title (the CI's name) escaped inside the SVG.
    assert!(body.contains(r#"class="spark""#), "{body}");
    assert!(
        body.contains("on &quot;&gt;&lt;svg onload=alert(1)&gt;: daily max"),
        "{body}"
    );
    assert!(body.contains("/ui/reports/capacity.csv?"), "{body}");

    // Filters.
    let body = ok(
        &app,
        &s,
        "/ui/reports/capacity?class=host&resource=fs.used_pct",
    )
    .await;
    assert!(body.contains("filesystem /var"), "{body}");
    let body = ok(&app, &s, "/ui/reports/capacity?resource=cpu.util").await;
    assert!(!body.contains("filesystem /var"), "{body}");
    let body = ok(&app, &s, "/ui/reports/capacity?class=network_device").await;
    assert!(!body.contains("filesystem /var"), "{body}");
    // Pages: one here; a page past the last is refused, naming the range.
    let body = ok(&app, &s, "/ui/reports/capacity?page=1").await;
    assert!(
        body.contains("filesystem /var") && !body.contains("rel=\"next\""),
        "{body}"
    );
    for bad in ["0", "2", "x"] {
        let p = page(&app, &s, &format!("/ui/reports/capacity?page={bad}")).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "page={bad}");
        assert!(
            p.body.contains("page: expected a whole number from 1 to 1"),
            "{}",
            p.body
        );
    }

    // CSV, from the session (the API's CSV needs a bearer token).
    let csv = page(&app, &s, "/ui/reports/capacity.csv?resource=fs.used_pct").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(
        csv.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(csv.body.lines().count(), 2, "{}", csv.body);
    assert!(csv.body.contains("/var") && csv.body.contains("between"));

    // The drill-down: the chart with both thresholds labelled, the trend and the forecast.
    let uri = format!("/ui/reports/capacity/{ci}/fs.used_pct?instance=/var");
    let body = ok(&app, &s, &uri).await;
    escaped(&body);
    assert_eq!(body.matches(r#"class="threshold""#).count(), 2, "{body}");
    assert!(body.contains(">warning 80 %</text>") && body.contains(">critical 90 %</text>"));
    assert!(body.contains(r#"class="trend""#) && body.contains(r#"class="forecast""#));
    assert!(
        body.contains(r#"role="img""#)
            && body.contains("<title>filesystem /var on &quot;&gt;&lt;svg")
    );
    assert!(body.contains("+2.00 points a day"), "{body}");
    assert!(!body.contains("NaN"));

    // The dashboard's top risks.
    let body = ok(&app, &s, "/ui/").await;
    escaped(&body);
    assert!(
        body.contains("Top capacity risks") && body.contains("filesystem /var"),
        "{body}"
    );

    // Bad parameters: a 4xx page naming the problem.
    for (uri, status, words) in [
        (
            "/ui/reports/capacity?resource=nope",
            StatusCode::BAD_REQUEST,
            "resource",
        ),
        (
            "/ui/reports/capacity?class=Not%20a%20class",
            StatusCode::BAD_REQUEST,
            "class",
        ),
        (
            "/ui/reports/capacity.csv?resource=nope",
            StatusCode::BAD_REQUEST,
            "resource",
        ),
        (
            &format!("/ui/reports/capacity/{ci}/nope?instance=/var"),
            StatusCode::BAD_REQUEST,
            "resource",
        ),
        (
            &format!("/ui/reports/capacity/{ci}/fs.used_pct?instance=/nowhere"),
            StatusCode::NOT_FOUND,
            "no capacity figures",
        ),
        (
            "/ui/reports/capacity/bad%20id/fs.used_pct",
            StatusCode::BAD_REQUEST,
            "ci",
        ),
    ] {
        let p = page(&app, &s, uri).await;
        assert_eq!(p.status, status, "{uri}: {}", p.body);
        assert!(
            p.body.contains("<html") && p.body.contains(words),
            "{uri}: {}",
            p.body
        );
    }
}

#[tokio::test]
async fn the_availability_page_shows_a_business_service_against_its_sla() {
    let app = app().await;
    let host = hostile_host(&app).await;
    let ed = app.editor().await;
    let bs = app
        .manual(&ed, "business_service", "Payments", json!({}))
        .await;
    assert_eq!(
        app.relate(&ed, &bs, "depends_on", &host).await.0,
        StatusCode::CREATED
    );
    let (status, sla) = app
        .send(
            "PUT",
            &format!("/api/v1/cis/{bs}/sla"),
            &ed,
            Some(json!({"target_pct": 99.9}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sla}");
    let t0 = cmdb_series::day_start(now()) - DAY;
    let boot = t0 - DAY;
    app.state
        .availability
        .alive("run", t0 - DAY, now())
        .await
        .expect("alive");
    // Heartbeats for two hours, with the agent silent for 30 minutes after the first.
    let beats = |from: i64, to: i64| -> Vec<(i64, u64)> {
        (from..to)
            .step_by(MIN as usize)
            .map(|t| (t, (t - boot) as u64))
            .collect()
    };
    let mut ticks = beats(t0, t0 + HOUR);
    ticks.extend(beats(t0 + HOUR + 30 * MIN, t0 + 2 * HOUR));
    push(&app, batch("h", &ticks, json!([]))).await;
    let (status, m) = app
        .send(
            "POST",
            "/api/v1/maintenance",
            &ed,
            Some(json!({"ci": host, "start": rfc(t0 + 100 * MIN), "end": rfc(t0 + 110 * MIN), "reason": "patching"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let s = sign_in(&app, &app.viewer_token).await;

    let uri = format!("/ui/reports/availability?from={t0}&to={}", t0 + 2 * HOUR);
    let body = ok(&app, &s, &uri).await;
    escaped(&body);
    assert!(body.contains("Payments"), "{body}");
    assert!(body.contains("99.9 %"), "{body}");
    assert!(body.contains(">missed</span>"), "{body}");
    assert!(body.contains("MTBF") && body.contains("MTRS"), "{body}");
    // The timeline: an outage bar, maintenance hatched and labelled, names escaped in SVG.
    assert!(body.contains("<title>outage: "), "{body}");
    assert!(body.contains("maintenance (not counted)") && body.contains("url(#cmdb-hatch)"));
    assert!(
        body.contains("&quot;&gt;&lt;svg onload=alert(1)&gt; (host)"),
        "{body}"
    );
    assert!(body.contains("Maintenance (apart from the SLA)"), "{body}");
    // The default window (the last 30 days, like the API) and a date window.
    let body = ok(&app, &s, "/ui/reports/availability").await;
    assert!(body.contains("Payments"), "{body}");
    let d = chrono::DateTime::from_timestamp(t0, 0)
        .expect("day")
        .format("%Y-%m-%d");
    ok(
        &app,
        &s,
        &format!("/ui/reports/availability?from={d}&to={d}"),
    )
    .await;

    // The dashboard lists the service below its SLA.
    let body = ok(&app, &s, "/ui/").await;
    let card = &body[body.find("Services below SLA").expect("card")..];
    assert!(card.contains("Payments"), "{card}");

    for (uri, words) in [
        ("/ui/reports/availability?from=yesterday", "from"),
        (
            "/ui/reports/availability?from=2026-02-02&to=2026-01-01",
            "before",
        ),
        (
            "/ui/reports/availability?from=2020-01-01&to=2026-01-01",
            "at most",
        ),
    ] {
        let p = page(&app, &s, uri).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{uri}: {}", p.body);
        assert!(p.body.contains(words), "{uri}: {}", p.body);
    }
}

#[tokio::test]
async fn a_cis_metrics_page_renders_each_range_and_needs_a_session() {
    let app = app().await;
    let ci = hostile_host(&app).await;
    let t = now() - 2 * HOUR;
    let cpu: Vec<Value> = (0..60)
        .map(|m| json!([t + m * MIN, 10.0 + m as f64]))
        .collect();
    let load: Vec<Value> = (0..60).map(|m| json!([t + m * MIN, 1.5])).collect();
    push(
        &app,
        batch(
            "m",
            &[],
            json!([{"name": "cpu.util", "instance": "", "points": cpu},
                   {"name": "load.1m", "instance": "", "points": load}]),
        ),
    )
    .await;
    // Unauthenticated: every report page sends to the sign-in page and back.
    for uri in [
        "/ui/reports/capacity",
        "/ui/reports/capacity.csv",
        "/ui/reports/availability",
        &format!("/ui/reports/capacity/{ci}/cpu.util"),
        &format!("/ui/cis/{ci}/metrics?range=7d"),
    ] {
        let p = page(&app, "", uri).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{uri}");
        assert!(p.location().starts_with("/ui/sign-in?next=/ui/"), "{uri}");
    }
    let s = sign_in(&app, &app.viewer_token).await;
    for range in ["1d", "7d", "30d", "90d"] {
        let uri = format!("/ui/cis/{ci}/metrics?range={range}");
        let body = ok(&app, &s, &uri).await;
        escaped(&body);
        assert!(body.contains("<code>cpu.util</code>"), "{range}: {body}");
        assert!(body.contains("<code>load.1m</code>"), "{range}");
        // cpu.util is a capacity resource: its chart has the thresholds.
        assert!(body.contains(">warning 80 %</text>"), "{range}");
        assert!(body.contains(&format!("over {range} (")), "{range}");
        assert!(body.contains("Availability over the last"), "{range}");
        assert!(!body.contains("NaN"), "{range}");
        assert!(
            body.contains(&format!(r#"range={range}" aria-current="page""#)),
            "{range}"
        );
    }
    // The default range.
    ok(&app, &s, &format!("/ui/cis/{ci}/metrics")).await;
    for (uri, status, words) in [
        (
            format!("/ui/cis/{ci}/metrics?range=2y"),
            StatusCode::BAD_REQUEST,
            "range",
        ),
        (
            "/ui/cis/nosuchci/metrics".to_string(),
            StatusCode::NOT_FOUND,
            "nosuchci",
        ),
    ] {
        let p = page(&app, &s, &uri).await;
        assert_eq!(p.status, status, "{uri}: {}", p.body);
        assert!(p.body.contains(words), "{uri}: {}", p.body);
    }
}
