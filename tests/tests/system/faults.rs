//! Faults the server must ride out: slow clients holding connections (slow-loris).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cmdb_tests::{Agent, Server};

/// A TLS connection that sent the start of a request and never its end.
fn slow_client(
    server: &Server,
    tls: &Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let addr = server.url().trim_start_matches("https://").to_string();
    let tcp = TcpStream::connect(&addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(tls.clone(), name).expect("tls");
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(b"POST /api/v1/reports HTTP/1.1\r\nHost: cmdb\r\nX-Slow: ")
        .expect("partial headers");
    s.flush().expect("flush");
    s
}

#[test]
fn five_hundred_slow_loris_connections_do_not_stop_a_real_agents_report_and_are_cut_off() {
    let mut server = Server::start().expect("server");
    server
        .configure("[http]\nheader_read_timeout_secs = 2\n")
        .expect("configure");
    let tls = Arc::new(server.tls_config().expect("tls config"));
    let mut slow: Vec<_> = (0..500).map(|_| slow_client(&server, &tls)).collect();

    // A real agent enrolls and delivers meanwhile.
    let agent = Agent::new(Path::new("/"), 300).expect("agent");
    agent
        .enroll(&server)
        .expect("enroll while 500 connections hang");
    let started = Instant::now();
    agent.run_once().expect("report while 500 connections hang");
    assert!(started.elapsed() < Duration::from_secs(30));
    server.only_host().expect("the host CI is there");

    // Past the header-read timeout the server has closed them: reading gives EOF or an
    // error, never a hang.
    std::thread::sleep(Duration::from_secs(3));
    let mut closed = 0;
    for s in slow.iter_mut().take(50) {
        s.sock
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            // Nothing within 2 s: the server still holds it open.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Ok(0) | Err(_) => closed += 1,
            // An error answer (408) before the close is as good.
            Ok(n) if String::from_utf8_lossy(&buf[..n]).contains(" 408 ") => closed += 1,
            Ok(_) => {}
        }
    }
    assert_eq!(
        closed, 50,
        "slow connections still open past the header timeout"
    );
}

/// The start of a request whose body never comes, on its own TLS connection.
fn headers_only(
    server: &Server,
    tls: &Arc<rustls::ClientConfig>,
    head: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let addr = server.url().trim_start_matches("https://").to_string();
    let tcp = TcpStream::connect(&addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(40)))
        .expect("timeout");
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(tls.clone(), name).expect("tls");
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(head.as_bytes()).expect("headers");
    s.flush().expect("flush");
    s
}

#[test]
fn a_caller_without_the_role_is_refused_before_its_body_is_read() {
    let mut server = Server::start().expect("server");
    server
        .configure(
            "[http]
body_timeout_secs = 30
request_timeout_secs = 60
",
        )
        .expect("configure");
    let tls = Arc::new(server.tls_config().expect("tls config"));
    let viewer = server.create_token("viewer", "v").expect("token").1;
    // A viewer creating a CI, an admin pushing a report, nobody creating a token: each
    // announces a 5 MB zstd body and sends none of it. Were the role checked after the body,
    // the answer would wait for the 30 s body timeout.
    let (_, admin) = server.create_token("admin", "a").expect("token");
    for (path, token, want) in [
        ("/api/v1/cis", viewer.as_str(), 403),
        ("/api/v1/reports", admin.as_str(), 403),
        ("/api/v1/tokens", "", 401),
    ] {
        let started = Instant::now();
        let mut s = headers_only(
            &server,
            &tls,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: cmdb\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Encoding: zstd\r\n\
                 Content-Length: 5000000\r\n\r\n"
            ),
        );
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).expect("an answer");
        let answer = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {want} ")),
            "{path}: {answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{path}: answered after {:?}: the body was waited for",
            started.elapsed()
        );
    }
}

/// One simulated agent's report: `memory` is what changes from one report to the next.
fn host_report(n: usize, i: u64, kind: cmdb_shared::ReportKind) -> Vec<u8> {
    use cmdb_shared::{Identity, Inventory, Memory, Report, SCHEMA_VERSION};
    let full = Inventory {
        identity: Some(Identity {
            hostname: format!("sim-{n:03}"),
            machine_id: Some(format!("{:032x}", 0xfa17_0000_u64 + n as u64)),
            ..Default::default()
        }),
        memory: Some(Memory {
            total_bytes: (1 << 30) + i,
            swap_total_bytes: 0,
        }),
        ..Default::default()
    };
    let hashes = cmdb_shared::hash::inventory_hashes(&full);
    let inventory = match kind {
        cmdb_shared::ReportKind::Full => full,
        cmdb_shared::ReportKind::Delta => Inventory {
            memory: full.memory.clone(),
            ..Default::default()
        },
    };
    serde_json::to_vec(&Report {
        schema_version: SCHEMA_VERSION,
        report_id: format!("{:016}-000000-sim", i),
        kind,
        agent_version: "sim".into(),
        collected_at: chrono::Utc::now(),
        section_hashes: hashes,
        inventory,
        errors: vec![],
    })
    .expect("json")
}

#[test]
fn kill_9_during_ingest_by_200_agents_loses_no_acknowledged_report_and_applies_none_twice() {
    const AGENTS: usize = 200;
    let mut server = Server::start().expect("server");
    server
        .configure("[auth]\nenroll_per_minute = 100000\n")
        .expect("configure");
    let client = server.client().expect("client");
    let url = format!("{}/api/v1/reports", server.url());
    let runtime = cmdb_tests::rt();
    // Enrolled through the API, each with its first full report.
    let tokens = enroll_simulated(&server, AGENTS);

    // Each agent sends deltas (a real change each) as fast as they are acknowledged.
    let acked: Arc<std::sync::Mutex<Vec<(usize, u64)>>> = Arc::default();
    let handles: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| {
            let (client, url, token, acked) =
                (client.clone(), url.clone(), token.clone(), acked.clone());
            runtime.spawn(async move {
                for i in 1..10_000u64 {
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(host_report(n, i, cmdb_shared::ReportKind::Delta))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            acked.lock().expect("acked").push((n, i));
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    let before_kill = runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let before = acked.lock().expect("acked").len();
        server.kill9().expect("kill -9");
        for h in handles {
            h.await.expect("agent");
        }
        before
    });
    assert!(
        before_kill >= AGENTS,
        "too few reports acknowledged before the kill ({before_kill}) for the test to mean anything"
    );
    let acked = acked.lock().expect("acked").clone();

    server.resume().expect("restart after kill -9");
    check_acknowledged(&server, AGENTS, &acked, 1);
}

/// Every acknowledged change of each simulated agent is in its CI's history, in order, once;
/// at most `unacknowledged` more (applied, the acknowledgement lost).
fn check_acknowledged(
    server: &Server,
    agents: usize,
    acked: &[(usize, u64)],
    unacknowledged: usize,
) {
    let (_, listed) = server.get("/api/v1/agents").expect("agents");
    let listed = listed.as_array().expect("agents").clone();
    let mut checked = 0;
    for n in 0..agents {
        let last_acked = acked
            .iter()
            .filter(|(a, _)| *a == n)
            .map(|(_, i)| *i)
            .max()
            .unwrap_or(0);
        let ci = listed
            .iter()
            .find(|a| a["hostname"] == format!("sim-{n:03}").as_str())
            .and_then(|a| a["ci"].as_str())
            .unwrap_or_else(|| panic!("sim-{n:03} has no CI"))
            .to_string();
        let history = server.history(&ci).expect("history");
        let changes: Vec<u64> = history
            .iter()
            .filter(|h| h["attribute"] == "memory.total_bytes")
            .filter_map(|h| h["new"].as_u64())
            .map(|b| b - (1 << 30))
            .collect();
        let want: Vec<u64> = (1..=last_acked).collect();
        assert!(
            changes.len() >= want.len() && changes.len() <= want.len() + unacknowledged,
            "sim-{n:03}: {} changes for {} acknowledged",
            changes.len(),
            want.len()
        );
        assert_eq!(&changes[..want.len()], &want[..], "sim-{n:03}");
        checked += want.len();
    }
    assert_eq!(checked, acked.len());
}

/// Enrolls `agents` simulated agents through the API, each with its first full report.
fn enroll_simulated(server: &Server, agents: usize) -> Vec<String> {
    (0..agents)
        .map(|n| {
            let token = server
                .enroll_via_api(&format!("sim-{n:03}"))
                .expect("enroll");
            let (status, v) = server
                .request(
                    "POST",
                    "/api/v1/reports",
                    &token,
                    Some(host_report(n, 0, cmdb_shared::ReportKind::Full)),
                    &[],
                )
                .expect("first report");
            assert_eq!(status, 200, "{v}");
            token
        })
        .collect()
}

#[test]
fn the_remote_database_killed_under_load_gives_503s_and_loses_no_acknowledged_report() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const AGENTS: usize = 20;
    let mut surreal = cmdb_tests::Surreal::start_persistent().expect("surreal on disk");
    let mut server = Server::start_with(
        &["--engine", &surreal.ws_url(), "--storage-user", "root"],
        &[("CMDB_SURREAL_PASSWORD", cmdb_tests::SURREAL_PASSWORD)],
    )
    .expect("cmdb-server on remote storage");
    // The last section init writes is [storage]: a query waits 2 s for the database.
    server
        .configure("query_timeout_secs = 2\n\n[auth]\nenroll_per_minute = 100000\n")
        .expect("configure");
    let tokens = enroll_simulated(&server, AGENTS);
    let client = server.client().expect("client");
    let url = format!("{}/api/v1/reports", server.url());
    let runtime = cmdb_tests::rt();

    // Each agent sends deltas (a real change each) and, as a real agent does, sends a report
    // again until it is acknowledged.
    let acked: Arc<std::sync::Mutex<Vec<(usize, u64)>>> = Arc::default();
    let refused: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            let (acked, refused, stop) = (acked.clone(), refused.clone(), stop.clone());
            runtime.spawn(async move {
                let mut i = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(host_report(n, i, cmdb_shared::ReportKind::Delta))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            acked.lock().expect("acked").push((n, i));
                            i += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        other => {
                            let what = match other {
                                Ok(r) => r.status().as_u16().to_string(),
                                Err(e) => format!("transport: {e}"),
                            };
                            refused.lock().expect("refused").push(what);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            })
        })
        .collect();
    // The tasks run while the runtime is driven: the database is killed and restarted on a
    // blocking thread meanwhile.
    let (before, during, recovered, _surreal) = runtime.block_on(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = acked.lock().expect("acked").len();
        let surreal = tokio::task::spawn_blocking(move || {
            surreal
                .kill9_and_restart(Duration::from_secs(6))
                .expect("restart surreal");
            surreal
        })
        .await
        .expect("surreal back");
        let during = acked.lock().expect("acked").len();
        // Back: the same server, not restarted, takes reports again.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut recovered = false;
        while std::time::Instant::now() < deadline {
            if acked.lock().expect("acked").len() > during + AGENTS {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.await.expect("agent");
        }
        (before, during, recovered, surreal)
    });
    if !recovered {
        let refused = refused.lock().expect("refused");
        panic!(
            "reports not acknowledged again ({before} before the kill, {during} when it returned, {} now; refused: {} times, last {:?}): {}",
            acked.lock().expect("acked").len(),
            refused.len(),
            refused.iter().rev().take(5).collect::<Vec<_>>(),
            server.logs()
        )
    }
    assert!(
        before >= AGENTS,
        "too few reports before the kill ({before})"
    );
    let refused = refused.lock().expect("refused").clone();
    assert!(
        !refused.is_empty(),
        "no report was refused while the database was away"
    );
    assert!(
        refused.iter().all(|s| s == "503"),
        "while the database is away the answer is 503, got {refused:?}"
    );
    let acked = acked.lock().expect("acked").clone();
    // A report may have been applied while its answer timed out: sent again, it is not
    // applied twice; the last one sent may be applied and unacknowledged.
    check_acknowledged(&server, AGENTS, &acked, 1);
}

/// `curl --http2` POSTing `body` to `path`; the HTTP status it got ("000" for none).
fn curl_h2(server: &Server, path: &str, token: Option<&str>, body: &Path) -> String {
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        "--http2",
    ])
    .arg("--cacert")
    .arg(&server.init.ca_cert)
    .args(["-X", "POST", "-H", "content-type: application/json"])
    .arg("--data-binary")
    .arg(format!("@{}", body.display()));
    if let Some(t) = token {
        cmd.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    let out = cmd
        .arg(format!("{}{path}", server.url()))
        .output()
        .expect("curl (Debian package curl)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn early_answers_reach_http2_clients_still_sending_their_body() {
    let server = Server::start().expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let body = dir.path().join("body.json");
    std::fs::write(&body, vec![b' '; 300 * 1024]).expect("body");
    // No credential, an unknown route, a viewer where an agent is needed: each answered
    // before the 300 KB body is read, and each answer arrives over HTTP/2.
    let viewer = server.create_token("viewer", "v").expect("token").1;
    assert_eq!(curl_h2(&server, "/api/v1/reports", None, &body), "401 2");
    assert_eq!(
        curl_h2(&server, "/api/v1/no-such-route", Some(&viewer), &body),
        "404 2"
    );
    assert_eq!(
        curl_h2(&server, "/api/v1/reports", Some(&viewer), &body),
        "403 2"
    );
}

/// A small tmpfs mounted for one test (the agent's disk), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs as the agent's disk and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_does_not_stop_the_agent_which_says_so_and_catches_up_when_space_returns() {
    let server = Server::start().expect("server");
    let mut agent = Agent::new(Path::new("/"), 1).expect("agent");
    let disk = agent.dir.path().join("disk");
    let _mounted = SmallDisk::mount(&disk, "16m");
    let state = disk.join("state");
    let cfg = std::fs::read_to_string(&agent.config).expect("config");
    let cfg = cfg
        .lines()
        .map(|l| {
            if l.starts_with("state_dir") {
                format!("state_dir = \"{}\"", state.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&agent.config, cfg).expect("config");
    agent.enroll(&server).expect("enroll");
    // The disk fills up (something else on the host wrote a big file).
    let filler = disk.join("filler");
    {
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
    }
    agent.start_daemon().expect("daemon");
    let said = cmdb_tests::wait_for(Duration::from_secs(30), || {
        agent
            .logs()
            .contains("No space left on device")
            .then_some(())
    });
    assert!(
        said.is_ok(),
        "the agent did not say its disk is full: {}",
        agent.logs()
    );
    assert!(
        server.only_host().is_err(),
        "nothing could be spooled, so nothing sent"
    );
    // Space returns: the running daemon catches up by itself.
    std::fs::remove_file(&filler).expect("free space");
    let host = cmdb_tests::wait_for(Duration::from_secs(60), || server.only_host().ok());
    assert!(host.is_ok(), "the agent did not catch up: {}", agent.logs());
}

/// The SSTable files under `dir`, however deep.
fn sstables(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                sstables(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "sst"))
            }
        })
        .sum()
}

#[test]
fn a_clean_stop_writes_storage_out_and_the_next_start_reads_it_back() {
    let mut server = Server::start().expect("server");
    let ci = server
        .post_ok(
            "/api/v1/cis",
            serde_json::json!({"class": "application", "name": "kept"}),
        )
        .expect("a CI");
    let id = ci["id"].as_str().expect("id").to_string();
    let data = server.dir.path().join("data");
    let before = sstables(&data);
    server.stop().expect("SIGTERM");
    let logs = server.logs();
    assert!(logs.contains("storage closed"), "{logs}");
    // The memtable holding the CI went to an SSTable: the next start has no log to replay.
    assert!(sstables(&data) > before, "no SSTable written at the stop");
    server.resume().expect("start again");
    let (status, v) = server.get(&format!("/api/v1/cis/{id}")).expect("read");
    assert_eq!((status, v["name"].as_str()), (200, Some("kept")), "{v}");
}
