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
