//! Credentials with a lifecycle, through the real processes: a revoked agent credential is
//! refused on the agent's next report, and `cmdb-agent enroll` is refused an expired or
//! used-up enrollment token (saying which), and a token on its command line.

use std::time::Duration;

use cmdb_tests::{Agent, Server};
use serde_json::json;

use crate::e2e::fixture_root;

#[test]
fn a_revoked_agent_credential_gets_401_on_its_next_report() {
    let server = Server::start().expect("server");
    let root = tempfile::tempdir().expect("root");
    fixture_root(root.path(), 1_000);
    let agent = Agent::new(root.path(), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("first report");

    let (s, agents) = server.get("/api/v1/agents").expect("agents");
    assert_eq!(s, 200, "{agents}");
    let listed = &agents[0];
    let id = listed["key"].as_str().expect("agent id").to_string();
    assert_eq!(listed["credential"]["revoked"], false, "{listed}");
    assert!(listed["credential"]["token_id"].is_string(), "{listed}");

    let (s, v) = server
        .request(
            "DELETE",
            &format!("/api/v1/agents/{id}"),
            &server.init.admin_token,
            None,
            &[],
        )
        .expect("revoke");
    assert_eq!(s, 204, "{v}");

    let (ok, out) = agent.cmd(&["run", "--once"]).expect("run");
    assert!(!ok, "a revoked agent cannot deliver: {out}");
    assert!(out.contains("401"), "{out}");
    assert!(out.contains("revoked"), "{out}");
    assert_eq!(agent.spooled_reports(), 1, "the report stays spooled");

    let (_, agents) = server.get("/api/v1/agents").expect("agents");
    assert_eq!(agents[0]["credential"]["revoked"], true, "{agents}");
}

#[test]
fn cmdb_agent_enroll_refuses_expired_and_used_up_tokens_and_tokens_on_its_command_line() {
    let server = Server::start().expect("server");
    let root = tempfile::tempdir().expect("root");
    fixture_root(root.path(), 1_000);
    let agent = || Agent::new(root.path(), 300).expect("agent");

    let (_, once) = server
        .create_token_with(json!({"role": "enroll", "max_uses": 1}))
        .expect("single-use token");
    let first = agent();
    let (ok, out) = first.try_enroll(&server, &once).expect("enroll");
    assert!(ok, "{out}");
    let second = agent();
    let (ok, out) = second.try_enroll(&server, &once).expect("enroll");
    assert!(!ok, "a used-up token is refused: {out}");
    assert!(out.contains("401") && out.contains("used up"), "{out}");
    assert!(
        !second.dir.path().join("state/credential.json").exists(),
        "no credential saved"
    );

    let (_, short) = server
        .create_token_with(json!({"role": "enroll", "expires_in_secs": 1}))
        .expect("short-lived token");
    std::thread::sleep(Duration::from_millis(1500));
    let late = agent();
    let (ok, out) = late.try_enroll(&server, &short).expect("enroll");
    assert!(!ok, "an expired token is refused: {out}");
    assert!(out.contains("401") && out.contains("expired"), "{out}");

    // Secrets on the command line are refused before anything is sent.
    let ca = server.init.ca_cert.display().to_string();
    let (ok, out) = late
        .cmd(&[
            "enroll",
            "--server",
            &server.url(),
            "--token",
            &server.init.enroll_token,
            "--ca-cert",
            &ca,
        ])
        .expect("enroll");
    assert!(!ok, "{out}");
    assert!(out.contains("--token-file"), "{out}");
    let (ok, out) = late
        .cmd(&["enroll", "--server", &server.url(), "--ca-cert", &ca])
        .expect("enroll");
    assert!(!ok, "{out}");
    assert!(out.contains("CMDB_ENROLL_TOKEN"), "{out}");

    let (_, agents) = server.get("/api/v1/agents").expect("agents");
    assert_eq!(
        agents.as_array().map(Vec::len),
        Some(1),
        "only the first enrollment made an agent: {agents}"
    );
}

/// Runs `cmdb-server <args> --config <server's config>`, with `stdin` on standard input.
fn server_cli(server: &Server, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(cmdb_tests::bin("cmdb-server"))
        .args(args)
        .arg("--config")
        .arg(&server.init.config)
        .env_remove("CMDB_TOKEN")
        .env("CMDB_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run cmdb-server");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("cmdb-server");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_server_command_line_takes_no_token_on_argv_and_makes_limited_enrollment_tokens() {
    let mut server = Server::start().expect("server");
    let admin = server.init.admin_token.clone();

    // A token on the command line is refused before anything is sent; a file or standard
    // input is taken.
    let (ok, out) = server_cli(&server, &["graph-check", "--token", &admin], "");
    assert!(!ok, "{out}");
    assert!(out.contains("--token-file"), "{out}");
    let (ok, out) = server_cli(&server, &["graph-check"], "");
    assert!(!ok, "{out}");
    assert!(out.contains("CMDB_TOKEN"), "{out}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{admin}\n")).expect("token file");
    let path = file.display().to_string();
    let (ok, out) = server_cli(&server, &["graph-check", "--token-file", &path], "");
    assert!(ok, "{out}");
    let (ok, out) = server_cli(
        &server,
        &["report", "capacity", "--token-file", "-"],
        &format!("{admin}\n"),
    );
    assert!(ok, "{out}");

    // An enrollment token for one agent, made while the server is stopped.
    server.stop().expect("stop");
    let (ok, out) = server_cli(
        &server,
        &["token", "create", "--role", "viewer", "--max-uses", "2"],
        "",
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("max_uses: applies to enrollment tokens"),
        "{out}"
    );
    let (ok, out) = server_cli(
        &server,
        &[
            "token",
            "create",
            "--role",
            "enroll",
            "--max-uses",
            "1",
            "--expires-in-secs",
            "3600",
        ],
        "",
    );
    assert!(ok, "{out}");
    // Standard output is the token alone; standard error may carry log lines.
    let once = out
        .lines()
        .find(|l| l.starts_with("cmdb_enroll_"))
        .unwrap_or_else(|| panic!("no token printed: {out}"))
        .to_string();
    server.resume().expect("restart");

    let (_, tokens) = server.get("/api/v1/tokens").expect("tokens");
    let listed = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["max_uses"] == 1)
        .unwrap_or_else(|| panic!("the token is listed with its limit: {tokens}"));
    assert!(listed["expires_at"].is_string(), "{listed}");
    let first = Agent::new(std::path::Path::new("/"), 300).expect("agent");
    let (ok, out) = first.try_enroll(&server, &once).expect("enroll");
    assert!(ok, "{out}");
    let second = Agent::new(std::path::Path::new("/"), 300).expect("agent");
    let (ok, out) = second.try_enroll(&server, &once).expect("enroll");
    assert!(!ok && out.contains("used up"), "{out}");
}
