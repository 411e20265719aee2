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
