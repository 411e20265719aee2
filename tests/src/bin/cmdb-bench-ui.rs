//! `cmdb-bench-ui`: the server's time per web UI page on an estate of the size the UI is
//! built for, measured as a signed-in user's browser asks for the pages: HTTPS on loopback
//! to the real `cmdb-server` (embedded SurrealKV), a session cookie, the whole HTML answer
//! read.
//!
//! The estate is pushed through the API as agents and users push it:
//! - a synthetic data centre (`cmdb_graph::synth`, about 5 relationships per CI: core and
//!   aggregation switches, racks of ToR pairs, PDUs in power groups, hypervisors, VMs, service
//!   instances in clusters, applications, business services) imported through
//!   `POST /api/v1/import` by class and name, in chunks;
//! - `--hosts` of its VMs are real agent hosts instead: enrolled, inventoried, with 90 days of
//!   capacity values (compacted into daily rollups by the server) and 30 days of heartbeats
//!   with outages;
//! - a few changes in the coming weeks.
//!
//! Each page is fetched once to warm up, then `--runs` times one after another; the figure is
//! the median wall time from sending the request to the last byte of the body. Targets: 100 ms
//! for every page, 300 ms for an impact page (analysis, names and the graph's layout) of a
//! core switch and of a top-of-rack switch; both core switches failing at once is timed for
//! scale, without a target. The command exits non-zero when a median misses its target.
//!
//! Usage: cmdb-bench-ui [--cis N] [--hosts N] [--runs N] [--check-targets 0|1]

use std::time::Duration;

use anyhow::{Context, bail};
use cmdb_graph::synth::{EstateParams, data_centre};
use cmdb_tests::estate::{
    call, ci_items, class_of, id_of, import_body, import_chunks, rel_items, time_runs,
};
use cmdb_tests::seed::{
    DAY, availability_batches, capacity_batches, day_start, enroll_hosts, server_for_history,
    wait_for_samples,
};
use serde_json::{Value, json};

struct Args {
    cis: usize,
    hosts: usize,
    runs: usize,
    /// Fail when a page misses its target (0: print only, for smoke runs of a debug build).
    check_targets: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        cis: 10_000,
        hosts: 1_000,
        runs: 20,
        check_targets: 1,
    };
    cmdb_tests::load::numeric_args(&mut [
        ("--cis", &mut a.cis),
        ("--hosts", &mut a.hosts),
        ("--runs", &mut a.runs),
        ("--check-targets", &mut a.check_targets),
    ])?;
    if a.runs == 0 || a.hosts == 0 {
        bail!("--runs and --hosts: at least 1");
    }
    Ok(a)
}

/// The value of cookie `name` in a response's `Set-Cookie` headers.
fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

/// Signs in through the UI's form with an API token, as the sign-in page does; the session
/// cookie's value.
async fn sign_in(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let form = client.get(format!("{base}/ui/sign-in")).send().await?;
    let login = cookie(&form, "cmdb_login").context("no login cookie")?;
    let html = form.text().await?;
    let marker = "name=\"csrf\" value=\"";
    let at = html.find(marker).context("no csrf field")? + marker.len();
    let csrf = &html[at..at + html[at..].find('"').context("csrf value")?];
    let body = format!("csrf={csrf}&method=token&token={token}");
    let r = client
        .post(format!("{base}/ui/sign-in"))
        .header("cookie", format!("cmdb_login={login}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("sign-in: {}: {}", r.status(), r.text().await?);
    }
    cookie(&r, "cmdb_session").context("no session cookie")
}

/// One page's figures.
struct PageTime {
    label: String,
    path: String,
    target_ms: Option<f64>,
    median: Duration,
    p95: Duration,
    bytes: usize,
}

async fn time_page(
    client: &reqwest::Client,
    base: &str,
    session: &str,
    runs: usize,
    label: &str,
    path: &str,
    target_ms: Option<f64>,
) -> anyhow::Result<PageTime> {
    let t = time_runs(path, runs, || {
        client
            .get(format!("{base}{path}"))
            .header("cookie", format!("cmdb_session={session}"))
    })
    .await?;
    Ok(PageTime {
        label: label.to_string(),
        path: path.to_string(),
        target_ms,
        median: t.p50,
        p95: t.p95,
        bytes: t.body.len(),
    })
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let estate = data_centre(&EstateParams::for_cis(a.cis));
    if a.hosts > estate.vms.len() {
        bail!(
            "--hosts {}: the estate has {} VMs",
            a.hosts,
            estate.vms.len()
        );
    }
    eprintln!("starting cmdb-server (SurrealKV, TLS) …");
    let mut server = server_for_history()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = server.client()?;
    let base = server.url();
    let admin = server.init.admin_token.clone();
    let now = chrono::Utc::now().timestamp();
    let today = day_start(now);

    rt.block_on(async {
        // Agent hosts: the first VMs of the estate.
        let host_names: Vec<String> = estate.vms[..a.hosts]
            .iter()
            .map(|&v| estate.key(v).to_string())
            .collect();
        eprintln!("enrolling {} agents and sending their inventories …", a.hosts);
        let tokens =
            enroll_hosts(&client, &base, &server.init.enroll_token, &host_names, 16).await?;
        let is_host: std::collections::HashSet<&str> =
            host_names.iter().map(String::as_str).collect();
        let class = |key: &str| {
            if is_host.contains(key) {
                "host"
            } else {
                class_of(key)
            }
        };

        let cis = ci_items(&estate, &class, &|k| is_host.contains(k));
        eprintln!(
            "importing {} CIs and {} relationships …",
            cis.len(),
            estate.links.len()
        );
        let bodies = cis.chunks(2_000).map(|c| Ok((c.len(), import_body("cis", c)?)));
        let imported_cis =
            import_chunks(&client, &base, &admin, "cis", cis.len(), bodies, 1).await?;
        let bodies = estate.links.chunks(2_000).map(|c| {
            let items = rel_items(&estate, c, &class);
            Ok((c.len(), import_body("relationships", &items)?))
        });
        let imported_rels = import_chunks(
            &client,
            &base,
            &admin,
            "relationships",
            estate.links.len(),
            bodies,
            1,
        )
        .await?;
        let (cis_secs, rels_secs) = (imported_cis.secs, imported_rels.secs);

        eprintln!("pushing 90 days of capacity values and 30 days of heartbeats per host …");
        let shared = client.clone();
        let keep: cmdb_tests::load::ClientFor = std::sync::Arc::new(move |_: &str| Ok(shared.clone()));
        let (jobs, samples) = capacity_batches(&tokens, today)?;
        cmdb_tests::load::post_all(keep.clone(), &format!("{base}/api/v1/metrics"), jobs, 4)
            .await?;
        wait_for_samples(&client, &base, &admin, samples, Duration::from_secs(1_800)).await?;
        let from = today - 30 * DAY;
        let jobs = availability_batches(&tokens, from)?;
        cmdb_tests::load::post_all(keep, &format!("{base}/api/v1/metrics"), jobs, 4).await?;

        // The CIs the pages are about.
        let core = id_of(&client, &base, &admin, "switch", "core-1").await?;
        let core2 = id_of(&client, &base, &admin, "switch", "core-2").await?;
        let tor = id_of(&client, &base, &admin, "switch", "tor-0-a").await?;
        let hv = id_of(&client, &base, &admin, "hypervisor", "hv-0-0").await?;
        let host = id_of(&client, &base, &admin, "host", &host_names[0]).await?;
        let biz = id_of(&client, &base, &admin, "business_service", "biz-0").await?;
        let mut change = String::new();
        for i in 0..20 {
            let at = today + (i + 1) * DAY;
            let day = |t: i64| {
                chrono::DateTime::from_timestamp(t, 0)
                    .unwrap_or_default()
                    .to_rfc3339()
            };
            let target = [&tor, &hv, &host][i as usize % 3];
            let c = call(
                &client,
                reqwest::Method::POST,
                &format!("{base}/api/v1/changes"),
                &admin,
                Some(&json!({"title": format!("maintenance {i}"), "cis": [target],
                             "start": day(at + 22 * 3_600), "end": day(at + 26 * 3_600)})),
            )
            .await?;
            change = c["id"].as_str().context("change id")?.to_string();
        }
        // As a browser: one kept-alive connection, redirects not followed (a page answering
        // with a redirect to the sign-in form is an error, not a fast page).
        let browser = reqwest::Client::builder()
            .use_preconfigured_tls(server.tls_config()?)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()?;
        let session = sign_in(&browser, &base, &admin).await?;
        let cap_row = {
            let rows = call(
                &client,
                reqwest::Method::GET,
                &format!("{base}/api/v1/reports/capacity"),
                &admin,
                None,
            )
            .await?;
            let first = rows.as_array().and_then(|r| r.first()).cloned().unwrap_or(Value::Null);
            // The top-ranked resource, linked as the report page links it.
            format!(
                "/ui/reports/capacity/{}/{}?instance={}",
                first["ci"].as_str().unwrap_or(&host),
                first["series"].as_str().unwrap_or("cpu.util"),
                first["instance"].as_str().unwrap_or("").replace('/', "%2F")
            )
        };
        let ms100 = Some(100.0);
        let pages: Vec<(&str, String, Option<f64>)> = vec![
            ("dashboard", "/ui/".into(), ms100),
            ("CI list, first page", "/ui/cis".into(), ms100),
            ("CI list, class filter, sorted by name", "/ui/cis?class=vm&sort=name".into(), ms100),
            ("CI search (\"vm-1\")", "/ui/cis?q=vm-1".into(), ms100),
            ("CI page: host with 90 days of metrics", format!("/ui/cis/{host}"), ms100),
            ("CI page: ToR switch (its rack cabled to it)", format!("/ui/cis/{tor}"), ms100),
            ("CI page: core switch", format!("/ui/cis/{core}"), ms100),
            ("CI page: business service", format!("/ui/cis/{biz}"), ms100),
            ("host metrics, 90 days", format!("/ui/cis/{host}/metrics?range=90d"), ms100),
            ("relationship map of a hypervisor, depth 2", format!("/ui/cis/{hv}/map?depth=2"), ms100),
            ("impact page: core switch", format!("/ui/impact?cis={core}"), Some(300.0)),
            ("impact page: ToR switch", format!("/ui/impact?cis={tor}"), Some(300.0)),
            (
                "impact page: both core switches (the whole estate cut off)",
                format!("/ui/impact?cis={core},{core2}"),
                None,
            ),
            ("impact suggestions as you type", "/ui/impact/suggest?cis=hv-1".into(), ms100),
            ("changes", "/ui/changes".into(), ms100),
            ("a change with its impact and conflicts", format!("/ui/changes/{change}"), ms100),
            ("capacity report", "/ui/reports/capacity".into(), ms100),
            ("capacity drill-down", cap_row, ms100),
            ("availability report, 30 days", "/ui/reports/availability".into(), ms100),
            ("agents", "/ui/agents".into(), ms100),
            ("admin: users and tokens", "/ui/admin".into(), ms100),
        ];
        let mut results = Vec::new();
        for (label, path, target) in &pages {
            eprintln!("timing {label} …");
            results.push(time_page(&browser, &base, &session, a.runs, label, path, *target).await?);
        }

        println!();
        println!(
            "Web UI pages, server time as a signed-in browser sees it (HTTPS on loopback, kept-alive \
             connection, whole body read), median of {} after one warm-up fetch:",
            a.runs
        );
        println!(
            "estate: {} CIs ({} agent hosts with 90 days of capacity rollups and 30 days of heartbeats), \
             {} relationships, 20 changes",
            estate.keys.len(),
            a.hosts,
            estate.links.len(),
        );
        println!(
            "import through the API: {} CIs in {cis_secs:.1} s, {} relationships in {rels_secs:.1} s ({:.0}/s)",
            cis.len(),
            estate.links.len(),
            imported_rels.rate()
        );
        println!();
        println!("| page | median | p95 | size | target |");
        println!("|---|---|---|---|---|");
        let mut missed = Vec::new();
        for r in &results {
            let median = r.median.as_secs_f64() * 1e3;
            let verdict = match r.target_ms {
                Some(t) if median <= t => format!("≤ {t:.0} ms — met"),
                Some(t) => {
                    missed.push(format!("{} ({}): {median:.1} ms > {t:.0} ms", r.label, r.path));
                    format!("≤ {t:.0} ms — **missed**")
                }
                None => "—".into(),
            };
            println!(
                "| {} | {median:.1} ms | {:.1} ms | {:.0} kB | {verdict} |",
                r.label,
                r.p95.as_secs_f64() * 1e3,
                r.bytes as f64 / 1e3
            );
        }
        if !missed.is_empty() && a.check_targets != 0 {
            bail!("targets missed:\n  {}", missed.join("\n  "));
        }
        anyhow::Ok(())
    })?;
    server.stop()?;
    Ok(())
}
