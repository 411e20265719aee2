//! cmdb-server on a remote SurrealDB (`ws://`): the mode that scales past one machine. The
//! SurrealDB is the real upstream server, built from crates.io by the test script.

use std::path::Path;

use cmdb_tests::{Agent, SURREAL_PASSWORD, Server, Surreal};

#[test]
fn a_remote_surrealdb_over_websocket_holds_the_cmdb_across_server_restarts() {
    let surreal = Surreal::start().expect("surreal");
    let mut server = Server::start_with(
        &["--engine", &surreal.ws_url(), "--storage-user", "root"],
        &[("CMDB_SURREAL_PASSWORD", SURREAL_PASSWORD)],
    )
    .expect("cmdb-server on remote storage");
    let agent = Agent::new(Path::new("/"), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("run");
    let ci = server.only_host().expect("host CI");
    assert!(
        !server.dir.path().join("data/db").exists(),
        "nothing is stored in the local data directory"
    );

    server.stop().expect("stop");
    server
        .resume()
        .expect("restart on the same remote database");
    assert_eq!(server.only_host().expect("host CI after restart"), ci);
    // The creation record; the others are the relationships of the host's listening services.
    let history = server.history(&ci).expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|h| h["attribute"] != "relationship")
            .count(),
        1,
        "{history:?}"
    );
    agent
        .run_once()
        .expect("the agent's credential is still valid");
    // The metric batches of both runs went to the remote database as bytes and read back.
    let (status, series) = server
        .get(&format!("/api/v1/cis/{ci}/metrics?name=uptime&step=raw"))
        .expect("series");
    assert_eq!(status, 200, "{series}");
    assert_eq!(
        series["points"].as_array().map(Vec::len),
        Some(2),
        "one uptime sample per run: {series}"
    );
}

#[test]
fn a_wrong_remote_password_is_a_clear_start_up_error() {
    let surreal = Surreal::start().expect("surreal");
    let err = Server::start_with(
        &["--engine", &surreal.ws_url(), "--storage-user", "root"],
        &[("CMDB_SURREAL_PASSWORD", "wrong")],
    )
    .err()
    .expect("init must fail");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("init failed") && msg.contains("authentication"),
        "{msg}"
    );
}

#[test]
fn the_remote_database_killed_and_restarted_gives_503_meanwhile_and_loses_nothing_acknowledged() {
    let mut surreal = Surreal::start_persistent().expect("surreal on disk");
    let mut server = Server::start_with(
        &["--engine", &surreal.ws_url(), "--storage-user", "root"],
        &[("CMDB_SURREAL_PASSWORD", SURREAL_PASSWORD)],
    )
    .expect("cmdb-server on remote storage");
    // The last section init writes is [storage]: a query waits 2 s for the database.
    server
        .configure("query_timeout_secs = 2\n")
        .expect("configure");
    let agent = Agent::new(Path::new("/"), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("run");
    let ci = server.only_host().expect("host CI");
    let before = server.history(&ci).expect("history").len();

    // The database dies and stays away for a while: the server answers an error meanwhile
    // (never a success it could not keep), and the agent keeps its report spooled.
    let handle = std::thread::spawn(move || {
        surreal
            .kill9_and_restart(std::time::Duration::from_secs(8))
            .expect("restart surreal");
        surreal
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (status, v) = server.get(&format!("/api/v1/cis/{ci}")).expect("get");
    assert_eq!(status, 503, "a read while the database is away: {v}");
    let (ok, out) = agent.cmd(&["run", "--once"]).expect("run");
    assert!(
        !ok,
        "nothing can be acknowledged while the database is away: {out}"
    );
    let _surreal = handle.join().expect("surreal back");

    // Back: the same server, not restarted, answers again and takes what was spooled.
    let back = cmdb_tests::wait_for(std::time::Duration::from_secs(60), || {
        (server.get(&format!("/api/v1/cis/{ci}")).ok()?.0 == 200).then_some(())
    });
    assert!(
        back.is_ok(),
        "the server did not recover: {}",
        server.logs()
    );
    agent.run_once().expect("the spooled report is delivered");
    assert_eq!(server.only_host().expect("host CI"), ci);
    assert!(server.history(&ci).expect("history").len() >= before);
}

/// Password of the database user the tests create.
const DB_USER_PASSWORD: &str = "cmdb-test-database-user-password";

/// Creates, as root, namespace `cmdb` with databases `cmdb` and `other`, and user `cmdb` on
/// database `cmdb` only, with `role`.
fn database_user(surreal: &Surreal, role: &str) {
    surreal
        .sql(&format!(
            "DEFINE NAMESPACE IF NOT EXISTS cmdb; USE NS cmdb; \
             DEFINE DATABASE IF NOT EXISTS cmdb; DEFINE DATABASE IF NOT EXISTS other; \
             USE NS cmdb DB cmdb; \
             DEFINE USER cmdb ON DATABASE PASSWORD '{DB_USER_PASSWORD}' ROLES {role};"
        ))
        .expect("database user");
}

/// `cmdb-server init` signing in as the database user `cmdb`.
fn start_as_database_user(surreal: &Surreal) -> anyhow::Result<Server> {
    Server::start_with(
        &[
            "--engine",
            &surreal.ws_url(),
            "--storage-user",
            "cmdb",
            "--storage-auth-level",
            "database",
        ],
        &[("CMDB_SURREAL_PASSWORD", DB_USER_PASSWORD)],
    )
}

#[test]
fn a_database_user_with_the_editor_role_runs_the_cmdb_and_reaches_no_other_database() {
    let surreal = Surreal::start().expect("surreal");
    database_user(&surreal, "EDITOR");
    let mut server = start_as_database_user(&surreal).expect("cmdb-server as a database user");
    let agent = Agent::new(Path::new("/"), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("run");
    let ci = server.only_host().expect("host CI");
    // The records are in the user's database (the host and the CIs of its services).
    let rows = surreal
        .sql("USE NS cmdb DB cmdb; SELECT VALUE record::id(id) FROM ci;")
        .expect("read as root");
    let keys = rows[1]["result"].as_array().expect("keys");
    assert!(keys.contains(&serde_json::json!(ci)), "{rows:?}");

    // The same user on another database of the namespace: refused at start, clearly.
    let err = server
        .configure("database = \"other\"\n")
        .expect_err("another database");
    let msg = format!("{err:#}");
    assert!(msg.contains("authentication"), "{msg}");
    let rows = surreal
        .sql("USE NS cmdb DB other; INFO FOR DB;")
        .expect("info as root");
    assert_eq!(
        rows[1]["result"]["tables"],
        serde_json::json!({}),
        "nothing was written to the other database: {rows:?}"
    );
}

#[test]
fn a_database_user_with_only_the_viewer_role_cannot_create_the_schema() {
    let surreal = Surreal::start().expect("surreal");
    database_user(&surreal, "VIEWER");
    let err = start_as_database_user(&surreal)
        .err()
        .expect("a viewer cannot define tables");
    let msg = format!("{err:#}");
    assert!(msg.contains("init failed"), "{msg}");
}
