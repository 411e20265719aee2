//! Three `cmdb-server` instances on one SurrealDB (upstream's `surreal` server), as behind a
//! load balancer: agents report to different instances, and every instance's answers (the CI
//! list, impact from its in-memory index, a revoked credential) agree within 2 s; one new
//! host reported through two instances at once is one CI; the stale sweep runs on one
//! instance and moves when it dies; killing an instance loses nothing acknowledged.

use std::path::Path;
use std::time::{Duration, Instant};

use cmdb_shared::hash::inventory_hashes;
use cmdb_shared::{Identity, Inventory, Report, ReportKind, SCHEMA_VERSION};
use cmdb_tests::seed::zstd_json;
use cmdb_tests::{Agent, SURREAL_PASSWORD, Server, Surreal, wait_for};
use serde_json::{Value, json};

/// The bound the issue sets for a write on one instance to be seen by the others.
const BOUND: Duration = Duration::from_secs(2);

fn post(server: &Server, path: &str, body: Value) -> Value {
    server.post_ok(path, body).expect("post")
}

/// How long until `f` holds, polling every 20 ms; fails past 10 s.
fn time_until(what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

/// Ids of the CIs an impact answer of `server` lists for `failed`.
fn affected(server: &Server, failed: &str) -> Vec<String> {
    let (status, r) = server
        .request(
            "POST",
            "/api/v1/impact",
            &server.init.admin_token,
            Some(json!({"cis": [failed]}).to_string().into_bytes()),
            &[],
        )
        .expect("impact");
    assert_eq!(status, 200, "{r}");
    r["affected"]
        .as_array()
        .expect("affected")
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect()
}

fn counter(server: &Server, name: &str) -> f64 {
    let (_, text) = server.get("/metrics").expect("metrics");
    let text = text.as_str().unwrap_or_default().to_string();
    text.lines()
        .find(|l| l.starts_with(&format!("{name}_total ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn leases(server: &Server) -> Vec<String> {
    let (status, h) = server.get("/healthz").expect("healthz");
    assert_eq!(status, 200, "{h}");
    h["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect()
}

#[test]
fn three_instances_on_one_database_agree_within_the_bound_and_survive_losing_one() {
    let surreal = Surreal::start().expect("surreal");
    let mut a = Server::start_with(
        &["--engine", &surreal.ws_url(), "--storage-user", "root"],
        &[("CMDB_SURREAL_PASSWORD", SURREAL_PASSWORD)],
    )
    .expect("instance a");
    // Discovered relationships go stale 2 s after their last report, and the sweep looks
    // every second: on one instance only. A dead holder's lease lapses after 5 s.
    a.configure(
        "[relationships]\nrefresh_secs = 1\nstale_after_secs = 2\nsweep_secs = 1\n\n[cluster]\ninstance = \"a\"\nlease_secs = 5\n",
    )
    .expect("configure");
    let b = a.replica("b").expect("instance b");
    let c = a.replica("c").expect("instance c");
    for (s, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        let (_, h) = s.get("/healthz").expect("healthz");
        assert_eq!(h["instance"], name, "{h}");
    }

    // New hosts, each reported through all three instances at once (a delivery retried
    // through another instance while the first is still being applied): one CI each.
    const RACES: usize = 6;
    let bodies: Vec<(String, Vec<u8>)> = (0..RACES)
        .map(|i| {
            let token = a.enroll_via_api(&format!("race-{i}")).expect("enroll");
            let inv = Inventory {
                identity: Some(Identity {
                    hostname: format!("race-{i}"),
                    machine_id: Some(format!("{:032x}", 0xace + i)),
                    hardware_uuid: Some(format!("4c4c4544-0000-0000-0000-{:012x}", i)),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let r = Report {
                schema_version: SCHEMA_VERSION,
                report_id: format!("race-{i}"),
                kind: ReportKind::Full,
                agent_version: "test".into(),
                collected_at: chrono::Utc::now(),
                section_hashes: inventory_hashes(&inv),
                inventory: inv,
                errors: vec![],
            };
            (token, zstd_json(&r).expect("body"))
        })
        .collect();
    let servers = [&a, &b, &c];
    let statuses: Vec<u16> = cmdb_tests::rt().block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (token, body) in &bodies {
            for s in servers {
                let client = s.client().expect("client");
                let url = format!("{}/api/v1/reports", s.url());
                let (token, body) = (token.clone(), body.clone());
                set.spawn(async move {
                    client
                        .post(url)
                        .header("content-type", "application/json")
                        .header("content-encoding", "zstd")
                        .bearer_auth(token)
                        .body(body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                });
            }
        }
        set.join_all().await
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // The class's total (c's catalogue, following a's and b's writes) comes to count what
    // the page (read from storage) lists.
    time_until("c's total of hosts", || {
        let (_, hosts) = c.get("/api/v1/cis?class=host&limit=100").expect("hosts");
        hosts["total"].as_u64() == hosts["items"].as_array().map(|i| i.len() as u64)
    });
    let (_, hosts) = c.get("/api/v1/cis?class=host&limit=100").expect("hosts");
    let names: Vec<&str> = hosts["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|h| h["name"].as_str())
        .collect();
    for i in 0..RACES {
        let want = format!("race-{i}");
        assert_eq!(
            names.iter().filter(|n| **n == want).count(),
            1,
            "{want}: one CI, through three instances at once: {names:?}"
        );
    }

    // A real agent reports through b; every instance lists its host.
    let agent = Agent::new(Path::new("/"), 300).expect("agent");
    agent.enroll(&b).expect("enroll via b");
    agent.run_once().expect("deliver via b");
    let host = {
        let (_, hosts) = a.get("/api/v1/cis?class=host&limit=100").expect("hosts");
        hosts["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|h| !h["name"].as_str().unwrap_or("").starts_with("race-"))
            .and_then(|h| h["key"].as_str())
            .expect("the agent's host")
            .to_string()
    };

    // A relationship written on a is in c's index (impact answers) within the bound; its
    // removal too.
    let app = post(
        &a,
        "/api/v1/cis",
        json!({"class": "application", "name": "shop"}),
    );
    let app = app["id"].as_str().expect("id").to_string();
    // A search on c (its CI catalogue, in memory) finds the CI created on a.
    let searched = time_until("c's search finds the CI created on a", || {
        c.get("/api/v1/cis?q=SHOP")
            .map(|(_, v)| v["items"][0]["key"] == json!(app) && v["total"] == json!(1))
            .unwrap_or(false)
    });
    let rel = post(
        &a,
        "/api/v1/relationships",
        json!({"from": app, "kind": "runs_on", "to": host}),
    );
    let added = time_until("c sees the new relationship", || {
        affected(&c, &host).contains(&app)
    });
    let rel_key = rel["key"].as_str().expect("key").to_string();
    let (status, v) = b
        .request(
            "DELETE",
            &format!("/api/v1/relationships/{rel_key}"),
            &b.init.admin_token,
            None,
            &[],
        )
        .expect("delete");
    assert_eq!(status, 204, "{v}");
    let removed = time_until("a and c see the removal", || {
        !affected(&a, &host).contains(&app) && !affected(&c, &host).contains(&app)
    });

    // A token used on c (so c caches it) and revoked on a is refused by c within the bound.
    let (id, token) = a.create_token("viewer", "cluster test").expect("token");
    let (status, _) = c
        .request("GET", "/api/v1/cis", &token, None, &[])
        .expect("get");
    assert_eq!(status, 200);
    let (status, v) = a
        .request(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            &a.init.admin_token,
            None,
            &[],
        )
        .expect("revoke");
    assert_eq!(status, 204, "{v}");
    let revoked = time_until("c refuses the revoked token", || {
        c.request("GET", "/api/v1/cis", &token, None, &[])
            .expect("get")
            .0
            == 401
    });
    eprintln!(
        "propagation: relationship {added:?}, removal {removed:?}, revocation {revoked:?}, \
         search {searched:?}"
    );
    for (what, d) in [
        ("search", searched),
        ("relationship", added),
        ("removal", removed),
        ("revocation", revoked),
    ] {
        assert!(d < BOUND, "{what} took {d:?}");
    }

    // The sweep ran on exactly one instance: the discovered relationships of the host (its
    // listening services) went stale once, all of them by the lease holder.
    let stale_total = || -> Vec<f64> {
        [&a, &b, &c]
            .iter()
            .map(|s| counter(s, "cmdb_relationships_marked_stale"))
            .collect()
    };
    let waited = wait_for(Duration::from_secs(20), || {
        (stale_total().iter().sum::<f64>() > 0.0).then_some(())
    });
    if waited.is_err() {
        let (_, rels) = a
            .get(&format!("/api/v1/cis/{host}/relationships"))
            .expect("rels");
        let (_, m) = a.get("/metrics").expect("metrics");
        let stored = surreal.sql("USE NS cmdb DB cmdb; SELECT * FROM lease;");
        panic!(
            "nothing went stale: {stored:?} {:?} {:?} {:?} {rels}\n{}",
            leases(&a),
            leases(&b),
            leases(&c),
            m.as_str()
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("stale"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    let marked = stale_total();
    assert_eq!(
        marked.iter().filter(|n| **n > 0.0).count(),
        1,
        "one instance sweeps: {marked:?}"
    );
    let holders: Vec<usize> = [&a, &b, &c]
        .iter()
        .enumerate()
        .filter(|(_, s)| leases(s).contains(&"sweep".to_string()))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(holders.len(), 1, "one holder of the sweep lease");

    // Killing an instance loses nothing it acknowledged, and the others keep serving: the
    // lease holder goes, the host both agents delivered is there, and the sweep moves to
    // another instance once the dead one's lease has lapsed.
    let mut all = [a, b, c];
    all[holders[0]].kill9().expect("kill the sweep holder");
    let rest: Vec<&Server> = (0..3)
        .filter(|&i| i != holders[0])
        .map(|i| &all[i])
        .collect();
    for s in &rest {
        let (status, ci) = s.get(&format!("/api/v1/cis/{host}")).expect("get");
        assert_eq!(status, 200, "{ci}");
        assert!(affected(s, &host).contains(&host));
    }
    wait_for(Duration::from_secs(30), || {
        rest.iter()
            .any(|s| leases(s).contains(&"sweep".to_string()))
            .then_some(())
    })
    .expect("another instance took the sweep over");
}

/// HAProxy with the shipped configuration (packaging/cluster/haproxy.cfg), its addresses
/// pointed at the given instances, listening on a free loopback port.
struct Balancer {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Balancer {
    fn start(backends: &[&Server]) -> Balancer {
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/cluster/haproxy.cfg"),
        )
        .expect("packaging/cluster/haproxy.cfg");
        let port = cmdb_tests::free_port();
        let mut servers = backends.iter();
        let cfg: String = shipped
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("bind ") {
                    format!("    bind 127.0.0.1:{port}")
                } else if l.trim_start().starts_with("server ") {
                    let name = l.split_whitespace().nth(1).expect("server name");
                    let s = servers.next().expect("one instance per server line");
                    format!("    server {name} 127.0.0.1:{}", s.port)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(servers.next().is_none(), "one server line per instance");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, cfg + "\n").expect("write");
        let bin = ["/usr/sbin/haproxy", "haproxy"]
            .into_iter()
            .find(|b| {
                std::process::Command::new(b)
                    .arg("-v")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .expect("haproxy (Debian package haproxy; scripts/test.sh installs it)");
        let check = std::process::Command::new(bin)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("haproxy -c");
        assert!(
            check.status.success(),
            "the shipped haproxy.cfg is valid: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = std::process::Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("haproxy");
        wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        })
        .expect("haproxy listening");
        Balancer {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reports_received(server: &Server) -> f64 {
    let (_, text) = server.get("/metrics").expect("metrics");
    text.as_str()
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("cmdb_reports_total{"))
        .filter_map(|l| l.split_whitespace().last())
        .filter_map(|v| v.parse::<f64>().ok())
        .sum()
}

#[test]
fn an_agent_behind_the_shipped_load_balancer_reports_to_every_instance_and_survives_losing_one() {
    let surreal = Surreal::start().expect("surreal");
    let mut a = Server::start_with(
        &["--engine", &surreal.ws_url(), "--storage-user", "root"],
        &[("CMDB_SURREAL_PASSWORD", SURREAL_PASSWORD)],
    )
    .expect("instance a");
    a.configure("[cluster]\ninstance = \"a\"\n").expect("name");
    let b = a.replica("b").expect("instance b");
    let c = a.replica("c").expect("instance c");
    let lb = Balancer::start(&[&a, &b, &c]);
    // The agent knows only the balancer (the certificate names localhost).
    let through = a.replica_view(lb.port);
    let agent = Agent::new(Path::new("/"), 300).expect("agent");
    agent.enroll(&through).expect("enroll through the balancer");
    // Every delivery opens a new connection: round robin spreads them over the instances.
    for _ in 0..6 {
        agent.run_once().expect("deliver through the balancer");
    }
    let counts: Vec<f64> = [&a, &b, &c].iter().map(|s| reports_received(s)).collect();
    assert!(
        counts.iter().filter(|n| **n > 0.0).count() >= 2,
        "reports reached several instances: {counts:?}"
    );
    let host = a.only_host().expect("one host CI");
    // One instance dies: the balancer's health check takes it out, deliveries go on, and
    // everything acknowledged is there.
    let mut b = b;
    b.kill9().expect("kill b");
    for _ in 0..4 {
        agent.run_once().expect("deliver with one instance gone");
    }
    for s in [&a, &c] {
        assert_eq!(s.only_host().expect("host"), host);
    }
    let (status, h) = through
        .get("/healthz")
        .expect("healthz through the balancer");
    assert_eq!(status, 200, "{h}");
    assert!(
        ["a", "c"].contains(&h["instance"].as_str().unwrap_or("")),
        "{h}"
    );
}
