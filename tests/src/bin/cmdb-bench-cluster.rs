//! Several instances on one database: how long a write on one instance takes to be seen by
//! another, measured the way a user meets it.
//!
//! Starts upstream's `surreal` server (in memory) and three `cmdb-server` instances on it,
//! then, `--writes` times: writes a relationship on instance a and polls instance c's impact
//! answer (its in-memory index) until the relationship is there; deletes it on b and polls
//! a until it is gone; revokes a token on a that c has cached and polls c until it refuses
//! it. Prints p50, p99 and max of each, and exits non-zero when a p99 passes the bound
//! (2 s). Polling every 10 ms adds up to 10 ms (and a request) to each figure.
//!
//! Usage: cmdb-bench-cluster [--writes N] (default 100)

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cmdb_tests::{SURREAL_PASSWORD, Server, Surreal};
use serde_json::{Value, json};

const BOUND: Duration = Duration::from_secs(2);

fn post(server: &Server, path: &str, body: Value) -> anyhow::Result<Value> {
    server.post_ok(path, body)
}

fn affected(server: &Server, failed: &str) -> anyhow::Result<Vec<String>> {
    let r = post(server, "/api/v1/impact", json!({"cis": [failed]}))?;
    Ok(r["affected"]
        .as_array()
        .context("affected")?
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect())
}

/// Time until `f` holds, polling every 10 ms; an error past 10 s.
fn until(mut f: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<Duration> {
    let t = Instant::now();
    loop {
        if f()? {
            return Ok(t.elapsed());
        }
        if t.elapsed() > Duration::from_secs(10) {
            bail!("not seen within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let mut writes = 100usize;
    cmdb_tests::load::numeric_args(&mut [("--writes", &mut writes)])?;
    anyhow::ensure!(writes > 0, "--writes: at least 1");
    eprintln!("starting surreal and three cmdb-server instances on it …");
    let surreal = Surreal::start()?;
    let mut a = Server::start_with(
        &["--engine", &surreal.ws_url(), "--storage-user", "root"],
        &[("CMDB_SURREAL_PASSWORD", SURREAL_PASSWORD)],
    )?;
    a.configure("[cluster]\ninstance = \"a\"\n")?;
    let b = a.replica("b")?;
    let c = a.replica("c")?;
    let host = post(
        &a,
        "/api/v1/cis",
        json!({"class": "server", "name": "host"}),
    )?;
    let host = host["id"].as_str().context("id")?.to_string();
    let (mut added, mut removed, mut revoked) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..writes {
        let app = post(
            &a,
            "/api/v1/cis",
            json!({"class": "application", "name": format!("app-{i}")}),
        )?;
        let app = app["id"].as_str().context("id")?.to_string();
        let t = Instant::now();
        let rel = post(
            &a,
            "/api/v1/relationships",
            json!({"from": app, "kind": "runs_on", "to": host}),
        )?;
        let written = t.elapsed();
        added.push(written + until(|| Ok(affected(&c, &host)?.contains(&app)))?);
        let key = rel["key"].as_str().context("key")?;
        let t = Instant::now();
        let (status, v) = b.request(
            "DELETE",
            &format!("/api/v1/relationships/{key}"),
            &b.init.admin_token,
            None,
            &[],
        )?;
        anyhow::ensure!(status == 204, "delete: {status} {v}");
        let written = t.elapsed();
        removed.push(written + until(|| Ok(!affected(&a, &host)?.contains(&app)))?);
        if i < writes.min(30) {
            let (id, token) = a.create_token("viewer", "bench")?;
            let (status, _) = c.request("GET", "/healthz", &token, None, &[])?;
            anyhow::ensure!(status == 200);
            let (status, _) = c.request("GET", "/api/v1/graph", &token, None, &[])?;
            anyhow::ensure!(status == 200, "the token works on c");
            let t = Instant::now();
            let (status, v) = a.request(
                "DELETE",
                &format!("/api/v1/tokens/{id}"),
                &a.init.admin_token,
                None,
                &[],
            )?;
            anyhow::ensure!(status == 204, "revoke: {status} {v}");
            let written = t.elapsed();
            revoked.push(
                written
                    + until(|| Ok(c.request("GET", "/api/v1/graph", &token, None, &[])?.0 == 401))?,
            );
        }
    }
    println!();
    println!(
        "propagation between instances (cluster.follow_ms 500), from the write's request to the other instance's answer:"
    );
    println!(
        "{:<44} {:>5} {:>9} {:>9} {:>9}  result",
        "write", "n", "p50", "p99", "max"
    );
    let mut pass = true;
    for (label, v) in [
        ("relationship on a, in c's impact answer", &mut added),
        ("relationship deleted on b, gone from a", &mut removed),
        ("token revoked on a, refused by c", &mut revoked),
    ] {
        let (p50, p99, max) = (pct(v, 0.5), pct(v, 0.99), pct(v, 1.0));
        let ok = p99 < BOUND;
        pass &= ok;
        println!(
            "{label:<44} {:>5} {:>7.0}ms {:>7.0}ms {:>7.0}ms  p99<2s {}",
            v.len(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            if ok { "PASS" } else { "FAIL" }
        );
    }
    drop((a, b, c, surreal));
    if !pass {
        bail!("a propagation p99 missed its bound");
    }
    Ok(())
}
