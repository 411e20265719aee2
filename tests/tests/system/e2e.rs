//! End to end: the real `cmdb-server` (TLS with its own CA, SurrealKV in a temp dir) and the
//! real `cmdb-agent` (enroll, `run --once`, the daemon), checked against what this host's own
//! tools (`dpkg-query`, `ip`, `findmnt`) say.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cmdb_tests::{Agent, Server, wait_for};
use serde_json::Value;

fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run shell");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn ci_detail(server: &Server, ci: &str) -> Value {
    let (status, v) = server.get(&format!("/api/v1/cis/{ci}")).expect("detail");
    assert_eq!(status, 200, "{v}");
    v
}

/// A fixture root with the files the collectors read for a small fictitious host.
pub(crate) fn fixture_root(dir: &Path, swap_kb: u64) {
    let w = |p: &str, s: &str| {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, s).expect("write fixture");
    };
    w("proc/sys/kernel/hostname", "fixture-host\n");
    w("proc/sys/kernel/osrelease", "6.1.0-26-amd64\n");
    w(
        "proc/sys/kernel/version",
        "#1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30)\n",
    );
    w("etc/machine-id", "0f1e2d3c4b5a69788796a5b4c3d2e1f0\n");
    w(
        "etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
    );
    w(
        "sys/class/dmi/id/product_uuid",
        "4c4c4544-0044-3510-8052-b4c04f4e5331\n",
    );
    w("sys/class/dmi/id/sys_vendor", "Dell Inc.\n");
    w("sys/class/dmi/id/product_name", "PowerEdge R640\n");
    w("sys/class/dmi/id/product_serial", "CZ1234ABCD\n");
    w(
        "proc/meminfo",
        &format!(
            "MemTotal:       16318412 kB\nMemFree:         1234567 kB\nSwapTotal:      {swap_kb} kB\nSwapFree:       {swap_kb} kB\n"
        ),
    );
    w("proc/stat", "cpu  1 2 3 4\nbtime 1732000000\n");
}

fn set_swap(dir: &Path, swap_kb: u64) {
    std::fs::write(
        dir.join("proc/meminfo"),
        format!("MemTotal:       16318412 kB\nMemFree:         1234567 kB\nSwapTotal:      {swap_kb} kB\nSwapFree:       {swap_kb} kB\n"),
    )
    .expect("write meminfo");
}

#[test]
fn host_inventory_reaches_the_cmdb_and_matches_the_hosts_own_tools() {
    let server = Server::start().expect("server");
    let agent = Agent::new(Path::new("/"), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("first run");
    let ci = server.only_host().expect("one host CI");
    let detail = ci_detail(&server, &ci);

    // Packages: the same count dpkg-query reports.
    let dpkg: u64 = sh("dpkg-query -W | wc -l").trim().parse().expect("count");
    assert_eq!(
        detail["package_count"].as_u64(),
        Some(dpkg),
        "package count vs dpkg-query -W"
    );
    let (status, packages) = server
        .get(&format!("/api/v1/cis/{ci}/packages"))
        .expect("packages");
    assert_eq!(status, 200);
    assert_eq!(packages.as_array().map(Vec::len), Some(dpkg as usize));

    // Interfaces and addresses: the same as `ip -j addr`.
    let ip: Value = serde_json::from_str(&sh("ip -j addr")).expect("ip -j addr");
    let mut want = BTreeSet::new();
    for link in ip.as_array().expect("links") {
        let name = link["ifname"].as_str().expect("ifname").to_string();
        want.insert((name.clone(), "-".to_string(), 0));
        for a in link["addr_info"].as_array().into_iter().flatten() {
            want.insert((
                name.clone(),
                a["local"].as_str().expect("local").to_string(),
                a["prefixlen"].as_u64().expect("prefixlen"),
            ));
        }
    }
    let mut got = BTreeSet::new();
    for nic in detail["sections"]["network"]
        .as_array()
        .expect("network section")
    {
        let name = nic["name"].as_str().expect("name").to_string();
        got.insert((name.clone(), "-".to_string(), 0));
        for a in nic["addresses"].as_array().into_iter().flatten() {
            got.insert((
                name.clone(),
                a["address"].as_str().expect("address").to_string(),
                a["prefix_len"].as_u64().expect("prefix"),
            ));
        }
    }
    assert_eq!(got, want, "interfaces and addresses vs ip -j addr");

    // Filesystems: the real ones findmnt lists (pseudo filesystems left out).
    let findmnt: Value =
        serde_json::from_str(&sh("findmnt --real -J -l -o TARGET,SOURCE,FSTYPE")).expect("findmnt");
    let want: BTreeSet<String> = findmnt["filesystems"]
        .as_array()
        .expect("filesystems")
        .iter()
        .map(|f| f["target"].as_str().expect("target").to_string())
        .collect();
    let got: BTreeSet<String> = detail["sections"]["filesystems"]
        .as_array()
        .expect("filesystems section")
        .iter()
        .map(|f| f["mount_point"].as_str().expect("mount_point").to_string())
        .collect();
    assert_eq!(got, want, "filesystems vs findmnt --real");

    // Running the agent again: no second CI, no history record.
    let history_before = server.history(&ci).expect("history");
    agent.run_once().expect("second run");
    assert_eq!(server.only_host().expect("still one CI"), ci);
    assert_eq!(server.history(&ci).expect("history"), history_before);

    // The agent list shows it with version and last contact.
    let (status, agents) = server.get("/api/v1/agents").expect("agents");
    assert_eq!(status, 200);
    assert_eq!(agents[0]["ci"].as_str(), Some(ci.as_str()), "{agents}");
    assert!(agents[0]["last_seen"].is_string(), "{agents}");

    // Software search finds this host for a package it has, honouring version ordering.
    let line = sh("dpkg-query -W -f='${Package} ${Version}\\n' | head -1");
    let (name, version) = line.trim().split_once(' ').expect("package and version");
    let (status, hits) = server
        .get(&format!("/api/v1/software?name={name}"))
        .expect("software");
    assert_eq!(status, 200, "{hits}");
    assert_eq!(hits[0]["ci_id"].as_str(), Some(ci.as_str()), "{hits}");
    assert_eq!(
        hits[0]["packages"][0]["version"].as_str(),
        Some(version),
        "{hits}"
    );
    let (_, older) = server
        .get(&format!(
            "/api/v1/software?name={name}&version_lt={version}"
        ))
        .expect("software");
    assert_eq!(older, serde_json::json!([]), "not older than itself");
    let (_, newer) = server
        .get(&format!("/api/v1/software?name={name}&version_lt=99999:0"))
        .expect("software");
    assert_eq!(
        newer.as_array().map(Vec::len),
        Some(1),
        "older than epoch 99999: {newer}"
    );

    // Filters: class, text, staleness. The host's listening services are CIs of their own
    // (class "service", named "<process> on <host>"), so the other filters go with a class.
    for (query, expected) in [
        ("class=host", 1),
        ("class=switch", 0),
        ("class=host&q=vm", 1),
        ("class=host&stale=false", 1),
        ("stale=true", 0),
    ] {
        let (status, page) = server.get(&format!("/api/v1/cis?{query}")).expect("list");
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], expected, "{query}: {page}");
    }
}

#[test]
fn a_revoked_token_is_refused_at_once() {
    let server = Server::start().expect("server");
    let (id, token) = server.create_token("viewer", "temp").expect("create");
    let (id, token) = (id.as_str(), token.as_str());
    assert_eq!(
        server
            .request("GET", "/api/v1/cis", token, None, &[])
            .expect("get")
            .0,
        200
    );
    let (s, _) = server
        .request(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            &server.init.admin_token,
            None,
            &[],
        )
        .expect("revoke");
    assert_eq!(s, 204);
    assert_eq!(
        server
            .request("GET", "/api/v1/cis", token, None, &[])
            .expect("get")
            .0,
        401
    );
    let (_, list) = server.get("/api/v1/tokens").expect("list");
    assert!(
        list.as_array()
            .expect("tokens")
            .iter()
            .any(|t| t["id"] == id && t["revoked"] == true),
        "{list}"
    );
    assert!(
        !list.to_string().contains(token),
        "secrets are never listed"
    );
}

#[test]
fn one_changed_value_is_one_history_record_and_everything_survives_a_restart() {
    let mut server = Server::start().expect("server");
    let root = tempfile::tempdir().expect("root");
    fixture_root(root.path(), 1_000_000);
    let agent = Agent::new(root.path(), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("first run");
    let ci = server.only_host().expect("one CI");
    let created = server.history(&ci).expect("history");
    assert_eq!(created.len(), 1, "creation is one record: {created:?}");

    agent.run_once().expect("unchanged run");
    assert_eq!(
        server.history(&ci).expect("history").len(),
        1,
        "an unchanged report writes no history"
    );

    set_swap(root.path(), 2_000_000);
    agent.run_once().expect("changed run");
    let history = server.history(&ci).expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    let change = &history[1];
    assert_eq!(change["attribute"], "memory.swap_total_bytes");
    assert_eq!(change["old"], 1_000_000u64 * 1024);
    assert_eq!(change["new"], 2_000_000u64 * 1024);

    let before = ci_detail(&server, &ci);
    server.stop().expect("stop");
    server.resume().expect("restart");
    assert_eq!(server.only_host().expect("one CI after restart"), ci);
    assert_eq!(server.history(&ci).expect("history after restart"), history);
    let after = ci_detail(&server, &ci);
    assert_eq!(after["sections"], before["sections"]);
    agent.run_once().expect("run after restart");
    assert_eq!(server.history(&ci).expect("history").len(), 2);
}

#[test]
fn reports_spool_while_the_server_is_down_and_are_delivered_once_when_it_returns() {
    let mut server = Server::start().expect("server");
    let root = tempfile::tempdir().expect("root");
    fixture_root(root.path(), 1_000);
    let mut agent = Agent::new(root.path(), 1).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("first run");
    let ci = server.only_host().expect("one CI");

    server.stop().expect("stop server");
    agent.start_daemon().expect("daemon");
    // Three changes while the server is away, each seen by at least one cycle (two
    // inventory reports later; metric batches spooled meanwhile do not count).
    for swap in [2_000u64, 3_000, 4_000] {
        let before = agent.spooled_reports();
        set_swap(root.path(), swap);
        wait_for(Duration::from_secs(20), || {
            (agent.spooled_reports() >= before + 2).then_some(())
        })
        .expect("the daemon keeps spooling while the server is down");
    }
    assert!(
        agent.spooled_reports() >= 6,
        "reports are spooled, not lost"
    );

    server.resume().expect("server back");
    // (Metric batches drain with the next metrics tick, a minute away here.)
    wait_for(Duration::from_secs(60), || {
        (agent.spooled_reports() == 0).then_some(())
    })
    .expect("the spool drains once the server is back");
    let history = server.history(&ci).expect("history");
    let swaps: Vec<(Value, Value)> = history
        .iter()
        .filter(|h| h["attribute"] == "memory.swap_total_bytes")
        .map(|h| (h["old"].clone(), h["new"].clone()))
        .collect();
    let kb = |v: u64| Value::from(v * 1024);
    assert_eq!(
        swaps,
        vec![
            (kb(1_000), kb(2_000)),
            (kb(2_000), kb(3_000)),
            (kb(3_000), kb(4_000))
        ],
        "every change delivered exactly once, in order"
    );
}

#[test]
fn bad_input_gets_a_precise_4xx_and_changes_nothing() {
    let server = Server::start().expect("server");
    let root = tempfile::tempdir().expect("root");
    fixture_root(root.path(), 1_000);
    let agent = Agent::new(root.path(), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("first run");
    let ci = server.only_host().expect("one CI");
    let token = serde_json::from_str::<Value>(
        &std::fs::read_to_string(agent.dir.path().join("state/credential.json"))
            .expect("credential"),
    )
    .expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let snapshot = || {
        (
            server.get("/api/v1/cis").expect("cis").1["total"].clone(),
            server.history(&ci).expect("history"),
        )
    };
    let before = snapshot();

    // Malformed JSON: 400 naming the problem.
    let (s, v) = server
        .request(
            "POST",
            "/api/v1/reports",
            &token,
            Some(b"{\"schema_version\": 1, ".to_vec()),
            &[],
        )
        .expect("post");
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("error")
            .contains("malformed JSON"),
        "{v}"
    );

    // A wrong type deep inside names the path.
    let body = serde_json::json!({"schema_version": 1, "report_id": "r1", "kind": "full", "agent_version": "1",
        "collected_at": "2026-11-21T00:00:00Z", "section_hashes": {}, "inventory": {"memory": {"total_bytes": "lots", "swap_total_bytes": 0}}});
    let (s, v) = server
        .request(
            "POST",
            "/api/v1/reports",
            &token,
            Some(body.to_string().into_bytes()),
            &[],
        )
        .expect("post");
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("error")
            .contains("inventory.memory.total_bytes"),
        "{v}"
    );

    // Unknown schema version: 422.
    let (s, v) = server
        .request(
            "POST",
            "/api/v1/reports",
            &token,
            Some(br#"{"schema_version": 99}"#.to_vec()),
            &[],
        )
        .expect("post");
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("error")
            .contains("schema_version 99"),
        "{v}"
    );

    // Over the body limit (16 MiB after decompression): 413, also when it arrives compressed.
    let big = vec![b' '; 17 * 1024 * 1024];
    let (s, v) = server
        .request("POST", "/api/v1/reports", &token, Some(big.clone()), &[])
        .expect("post");
    assert_eq!(s, 413, "{v}");
    let bomb = zstd::bulk::compress(&big, 19).expect("compress");
    assert!(bomb.len() < 100_000);
    let (s, v) = server
        .request(
            "POST",
            "/api/v1/reports",
            &token,
            Some(bomb),
            &[("content-encoding", "zstd")],
        )
        .expect("post");
    assert_eq!(s, 413, "{v}");
    // A compressed body that inflates to almost nothing but is large as sent (a 17 MiB zstd
    // skippable frame before a small report): 413 on the raw limit.
    let mut padded = 0x184D_2A50_u32.to_le_bytes().to_vec();
    padded.extend_from_slice(&(17u32 * 1024 * 1024).to_le_bytes());
    padded.resize(padded.len() + 17 * 1024 * 1024, 0);
    padded.extend(zstd::bulk::compress(br#"{"schema_version": 1}"#, 3).expect("compress"));
    let (s, v) = server
        .request(
            "POST",
            "/api/v1/reports",
            &token,
            Some(padded),
            &[("content-encoding", "zstd")],
        )
        .expect("post");
    assert_eq!(s, 413, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("error")
            .contains("max_raw_body_bytes"),
        "{v}"
    );

    // Missing or invalid credential: 401.
    let (s, v) = server
        .request("GET", "/api/v1/cis", "", None, &[])
        .expect("get");
    assert_eq!(s, 401, "{v}");
    let (s, _) = server
        .request("GET", "/api/v1/cis", "cmdb_admin_0000", None, &[])
        .expect("get");
    assert_eq!(s, 401);

    // Wrong role: 403 (an agent reading the CMDB, a viewer creating tokens, an admin pushing reports).
    let (s, v) = server
        .request("GET", "/api/v1/cis", &token, None, &[])
        .expect("get");
    assert_eq!(s, 403, "{v}");
    let (_, viewer) = server.create_token("viewer", "test").expect("create token");
    let (s, _) = server
        .request(
            "POST",
            "/api/v1/tokens",
            &viewer,
            Some(br#"{"role":"admin"}"#.to_vec()),
            &[],
        )
        .expect("post");
    assert_eq!(s, 403);
    let (s, _) = server
        .request("GET", "/api/v1/cis", &viewer, None, &[])
        .expect("viewer reads");
    assert_eq!(s, 200);
    let (s, _) = server
        .request(
            "POST",
            "/api/v1/reports",
            &server.init.admin_token,
            Some(br#"{"schema_version":1}"#.to_vec()),
            &[],
        )
        .expect("post");
    assert_eq!(s, 403);

    // Bad query parameters: 400 naming them.
    let (s, v) = server.get("/api/v1/cis?limit=0").expect("get");
    assert_eq!(s, 400, "{v}");
    let (s, v) = server
        .get(&format!("/api/v1/cis/{ci}/history?from=yesterday"))
        .expect("get");
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().expect("error").starts_with("from:"),
        "{v}"
    );

    assert_eq!(snapshot(), before, "rejected requests wrote nothing");
    agent.run_once().expect("the agent still reports");
}

#[test]
fn enrollment_by_ca_fingerprint_pins_the_server_and_a_wrong_one_is_refused() {
    let server = Server::start().expect("server");
    let root = tempfile::tempdir().expect("root");
    fixture_root(root.path(), 1_000);
    let agent = Agent::new(root.path(), 300).expect("agent");
    // The token through the environment and through standard input: never on the command line.
    let (ok, out) = agent
        .cmd_with(
            &[
                "enroll",
                "--server",
                &server.url(),
                "--ca-fingerprint",
                &"00".repeat(32),
            ],
            &[("CMDB_ENROLL_TOKEN", &server.init.enroll_token)],
            None,
        )
        .expect("enroll");
    assert!(!ok, "a wrong fingerprint must be refused: {out}");
    assert!(out.contains("fingerprint"), "{out}");
    let (ok, out) = agent
        .cmd_with(
            &[
                "enroll",
                "--server",
                &server.url(),
                "--token-file",
                "-",
                "--ca-fingerprint",
                &server.init.ca_fingerprint,
            ],
            &[],
            Some(&format!("{}\n", server.init.enroll_token)),
        )
        .expect("enroll");
    assert!(ok, "{out}");
    assert!(
        agent.dir.path().join("state/ca.pem").exists(),
        "the CA found by fingerprint is stored"
    );
    agent.run_once().expect("reports over the pinned CA");
    server.only_host().expect("host CI");
}

#[test]
fn openapi_metrics_and_health_are_served() {
    let server = Server::start().expect("server");
    let (s, doc) = server
        .request("GET", "/api/v1/openapi.json", "", None, &[])
        .expect("openapi");
    assert_eq!(s, 200);
    for path in [
        "/api/v1/reports",
        "/api/v1/cis",
        "/api/v1/cis/{id}/history",
        "/api/v1/software",
        "/api/v1/tokens",
        "/api/v1/agents",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    // Behind a credential (http.metrics_open = false by default).
    let (s, _) = server
        .request("GET", "/metrics", "", None, &[])
        .expect("metrics");
    assert_eq!(s, 401);
    let (s, text) = server
        .request("GET", "/metrics", &server.init.admin_token, None, &[])
        .expect("metrics");
    assert_eq!(s, 200);
    assert!(
        text.as_str().expect("text").contains("cmdb_records"),
        "{text}"
    );
    let (s, v) = server
        .request("GET", "/healthz", "", None, &[])
        .expect("healthz");
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
}

#[test]
fn the_server_certificate_is_renewed_and_enrolled_agents_keep_trusting_it() {
    let mut server = Server::start().expect("server");
    let agent = Agent::new(Path::new("/"), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("report before");
    let cert = server
        .init
        .config
        .parent()
        .expect("dir")
        .join("tls/server.pem");
    let before = std::fs::read_to_string(&cert).expect("cert");
    server.stop().expect("stop");
    let out = std::process::Command::new(cmdb_tests::bin("cmdb-server"))
        .args(["cert", "renew", "--days", "30", "--config"])
        .arg(&server.init.config)
        .output()
        .expect("renew");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("renewed"), "{text}");
    let after = std::fs::read_to_string(&cert).expect("cert");
    assert_ne!(before, after, "the certificate was not rewritten");
    // The chain still ends with the same CA, which the agent pinned.
    let ca = std::fs::read_to_string(&server.init.ca_cert).expect("ca");
    assert!(
        after.ends_with(&ca),
        "the new chain does not end with the CA"
    );
    server.resume().expect("restart");
    agent.run_once().expect("report after the renewal");
    // Bad input: a validity out of range is refused, naming the option.
    let out = std::process::Command::new(cmdb_tests::bin("cmdb-server"))
        .args(["cert", "renew", "--days", "0", "--config"])
        .arg(&server.init.config)
        .output()
        .expect("renew");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--days"));
}
