//! Probes against local servers: a TCP listener, a hand-written HTTP server (200, 503, slow,
//! hanging) and an HTTPS server with a self-signed certificate (`fixtures/probe/`).
use std::io::{Read, Write};
use std::sync::Arc;

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn probe(kind: ProbeKind, target: &str) -> config::Probe {
    config::Probe {
        name: "p".into(),
        kind,
        target: target.into(),
        ci: "web-1".into(),
        interval_secs: None,
        timeout_ms: 2000,
        degraded_ms: None,
        expect_status: None,
        cert_warn_days: None,
        insecure: false,
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("timestamp")
}

fn answered(latency_ms: u64, status: Option<u16>) -> Observation {
    Observation {
        latency: Some(Duration::from_millis(latency_ms)),
        status,
        cert_not_after: None,
        failure: None,
    }
}

#[test]
fn targets_are_checked_for_their_kind() {
    for (kind, ok) in [
        (ProbeKind::Tcp, "db.example.com:5432"),
        (ProbeKind::Tcp, "10.0.0.5:22"),
        (ProbeKind::Tcp, "[2001:db8::1]:443"),
        (ProbeKind::Http, "https://shop.example.com/health"),
        (ProbeKind::Http, "http://10.0.0.5:8080/"),
        (ProbeKind::Icmp, "gw.example.com"),
        (ProbeKind::Icmp, "2001:db8::1"),
    ] {
        assert_eq!(check_target(kind, ok), Ok(()), "{ok}");
    }
    for (kind, bad) in [
        (ProbeKind::Tcp, "db.example.com"),
        (ProbeKind::Tcp, "db.example.com:0"),
        (ProbeKind::Tcp, "2001:db8::1:443"),
        (ProbeKind::Http, "shop.example.com"),
        (ProbeKind::Http, "ftp://shop.example.com/"),
        (ProbeKind::Icmp, "gw.example.com:22"),
        (ProbeKind::Icmp, ""),
        (ProbeKind::Icmp, " gw"),
    ] {
        assert!(check_target(kind, bad).is_err(), "{bad}");
    }
}

#[test]
fn statuses_latency_and_certificates_make_the_verdict() {
    let at = utc("2026-03-01T00:00:00Z");
    let mut p = probe(ProbeKind::Http, "https://x/");
    let r = judge(&p, at, answered(12, Some(200)));
    assert_eq!(
        (r.state, r.status, r.error),
        (ProbeState::Up, Some(200), None)
    );
    assert_eq!(r.latency_ms, Some(12.0));
    assert_eq!(judge(&p, at, answered(12, Some(301))).state, ProbeState::Up);
    let r = judge(&p, at, answered(12, Some(503)));
    assert_eq!(r.state, ProbeState::Down);
    assert_eq!(
        r.error.as_deref(),
        Some("server error: HTTP 503 (expected 200-399)")
    );
    let r = judge(&p, at, answered(12, Some(404)));
    assert_eq!(r.state, ProbeState::Down);
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("unexpected status: HTTP 404"))
    );
    p.expect_status = Some(vec![401]);
    assert_eq!(judge(&p, at, answered(12, Some(401))).state, ProbeState::Up);
    assert_eq!(
        judge(&p, at, answered(12, Some(200))).state,
        ProbeState::Down
    );
    p.expect_status = None;

    p.degraded_ms = Some(100);
    let r = judge(&p, at, answered(250, Some(200)));
    assert_eq!(r.state, ProbeState::Degraded);
    assert_eq!(
        r.error.as_deref(),
        Some("slow: 250 ms, above degraded_ms = 100")
    );
    assert_eq!(
        judge(&p, at, answered(100, Some(200))).state,
        ProbeState::Up
    );

    let mut soon = answered(10, Some(200));
    soon.cert_not_after = Some(utc("2026-03-11T12:00:00Z"));
    let r = judge(&p, at, soon.clone());
    assert_eq!(r.state, ProbeState::Degraded);
    assert_eq!(
        r.error.as_deref(),
        Some("certificate expires on 2026-03-11 12:00 UTC, in 10 days (cert_warn_days = 14)")
    );
    p.cert_warn_days = Some(7);
    assert_eq!(judge(&p, at, soon).state, ProbeState::Up);
    let mut expired = answered(10, Some(200));
    expired.cert_not_after = Some(utc("2026-02-01T00:00:00Z"));
    let r = judge(&p, at, expired);
    assert_eq!(r.state, ProbeState::Degraded);
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("expired on 2026-02-01"))
    );

    // A failure is down whatever else holds, and keeps every reason.
    let mut down = answered(10, Some(503));
    down.cert_not_after = Some(utc("2026-03-02T00:00:00Z"));
    let r = judge(&p, at, down);
    assert_eq!(r.state, ProbeState::Down);
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("503") && e.contains("certificate"))
    );
    let r = judge(
        &p,
        at,
        Observation {
            latency: None,
            status: None,
            cert_not_after: None,
            failure: Some("refused".into()),
        },
    );
    assert_eq!((r.state, r.latency_ms), (ProbeState::Down, None));
}

#[tokio::test]
async fn a_tcp_probe_is_up_while_the_port_listens_and_down_once_it_is_closed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let p = probe(
        ProbeKind::Tcp,
        &listener.local_addr().expect("addr").to_string(),
    );
    let up = run(&p, None).await.expect("ran");
    assert_eq!(up.state, ProbeState::Up, "{up:?}");
    assert!(up.latency_ms.is_some_and(|ms| ms < 2000.0));
    assert_eq!((up.ci.as_str(), up.kind), ("web-1", ProbeKind::Tcp));
    drop(listener);
    let down = run(&p, None).await.expect("ran");
    assert_eq!((down.state, down.latency_ms), (ProbeState::Down, None));
    assert!(
        down.error.as_deref().is_some_and(|e| e.contains("refused")),
        "{down:?}"
    );
}

/// A tiny HTTP/1.1 server: `/ok` 200, `/down` 503, `/slow` 200 after 300 ms, `/hang` never.
async fn http_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req);
                let status = if line.starts_with("GET /down ") {
                    "503 Service Unavailable"
                } else if line.starts_with("GET /slow ") {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "200 OK"
                } else if line.starts_with("GET /hang ") {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "200 OK"
                } else {
                    "200 OK"
                };
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    base
}

#[tokio::test]
async fn http_probes_read_status_and_time_from_a_local_server() {
    let base = http_server().await;
    let client = http::client(false).expect("client");
    let mut p = probe(ProbeKind::Http, &format!("{base}/ok"));
    p.degraded_ms = Some(200);
    let ok = run(&p, Some(&client)).await.expect("ran");
    assert_eq!((ok.state, ok.status), (ProbeState::Up, Some(200)), "{ok:?}");
    assert_eq!(ok.cert_not_after, None, "plain HTTP has no certificate");

    p.target = format!("{base}/down");
    let down = run(&p, Some(&client)).await.expect("ran");
    assert_eq!(
        (down.state, down.status),
        (ProbeState::Down, Some(503)),
        "{down:?}"
    );
    assert!(
        down.latency_ms.is_some(),
        "a 503 is an answer, with its time"
    );

    p.target = format!("{base}/slow");
    let slow = run(&p, Some(&client)).await.expect("ran");
    assert_eq!(slow.state, ProbeState::Degraded, "{slow:?}");
    assert!(slow.latency_ms.is_some_and(|ms| ms >= 300.0), "{slow:?}");

    p.target = format!("{base}/hang");
    p.timeout_ms = 500;
    let started = std::time::Instant::now();
    let hung = run(&p, Some(&client)).await.expect("ran");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the timeout"
    );
    assert_eq!((hung.state, hung.status), (ProbeState::Down, None));
    assert!(
        hung.error
            .as_deref()
            .is_some_and(|e| e.contains("within 500 ms")),
        "{hung:?}"
    );
}

/// An HTTPS server (rustls, on a thread) presenting `fixtures/probe/localhost.pem`, a
/// self-signed certificate valid until 2052-12-09T06:41:02Z.
fn https_server() -> String {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/probe");
    let certs = vec![CertificateDer::from_pem_file(format!("{dir}/localhost.pem")).expect("cert")];
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/localhost.key")).expect("key");
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config"),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "https://127.0.0.1:{}/",
        listener.local_addr().expect("addr").port()
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ =
                tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    url
}

#[tokio::test]
async fn https_probes_report_the_certificate_expiry_even_when_insecure() {
    let url = https_server();
    let mut p = probe(ProbeKind::Http, &url);
    p.insecure = true;
    p.cert_warn_days = Some(100_000);
    let client = http::client(true).expect("client");
    let r = run(&p, Some(&client)).await.expect("ran");
    assert_eq!(
        (r.state, r.status),
        (ProbeState::Degraded, Some(200)),
        "{r:?}"
    );
    assert_eq!(r.cert_not_after, Some(utc("2052-12-09T06:41:02Z")));
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.starts_with("certificate expires on 2052-12-09 06:41 UTC")),
        "{r:?}"
    );
    p.cert_warn_days = None;
    assert_eq!(
        run(&p, Some(&client)).await.expect("ran").state,
        ProbeState::Up
    );

    // Verified against the system roots, the self-signed certificate is refused: down.
    p.insecure = false;
    let verified = http::client(false).expect("client");
    let r = run(&p, Some(&verified)).await.expect("ran");
    assert_eq!((r.state, r.status), (ProbeState::Down, None), "{r:?}");
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("certificate")),
        "{r:?}"
    );
}

#[tokio::test]
async fn icmp_probes_run_or_are_reported_as_impossible() {
    let cfg = Config {
        probes: vec![probe(ProbeKind::Icmp, "127.0.0.1")],
        ..Config::default()
    };
    let mut probes = Probes::new(&cfg);
    match icmp::check(false) {
        Ok(_) => {
            assert!(probes.problems().is_empty());
            let results = probes.run_due(Instant::now(), false).await;
            assert_eq!(results.len(), 1);
            assert_eq!(results[0].state, ProbeState::Up, "{results:?}");
            assert!(results[0].latency_ms.is_some());
        }
        Err(e) => {
            println!("ICMP sockets are not allowed here ({e}); checking the reported problem");
            assert!(probes.is_empty(), "no false down results");
            assert_eq!(probes.problems().len(), 1);
            assert!(
                probes.problems()[0].starts_with(
                    "ICMP probe \"p\" cannot run: this process may not open IPv4 ICMP sockets"
                ),
                "{:?}",
                probes.problems()
            );
            assert!(probes.run_due(Instant::now(), true).await.is_empty());
        }
    }
}

#[tokio::test]
async fn due_probes_run_together_and_come_due_again_after_their_interval() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = listener.local_addr().expect("addr").to_string();
    let mut a = probe(ProbeKind::Tcp, &target);
    a.interval_secs = Some(10);
    let mut b = probe(ProbeKind::Tcp, &target);
    b.name = "q".into();
    b.interval_secs = Some(30);
    let cfg = Config {
        probes: vec![a, b],
        ..Config::default()
    };
    let mut probes = Probes::new(&cfg);
    let t0 = Instant::now();
    assert_eq!(probes.next_due(), Some(probes.scheduled[0].next));
    let first = probes.run_due(t0, false).await;
    assert_eq!(
        first.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["p", "q"]
    );
    assert!(
        probes
            .run_due(t0 + Duration::from_secs(5), false)
            .await
            .is_empty()
    );
    let later = probes.run_due(t0 + Duration::from_secs(10), false).await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].name, "p");
}
