//! TCP probes: can a connection to `host:port` be opened, and how long does it take.
//!
//! The latency is the connect time (SYN to SYN-ACK, plus the kernel's handshake), measured
//! after name resolution so a slow resolver does not read as a slow service; resolution
//! counts against the timeout all the same. The connection is closed at once.

use std::time::{Duration, Instant};

/// Connects to `target` (`host:port`); the connect time, or why it failed.
pub async fn connect(target: &str, timeout: Duration) -> Result<Duration, String> {
    let attempt = async {
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(target)
            .await
            .map_err(|e| format!("cannot resolve {target}: {e}"))?
            .collect();
        let started = Instant::now();
        let stream = tokio::net::TcpStream::connect(&addrs[..])
            .await
            .map_err(|e| format!("cannot connect to {target}: {e}"))?;
        let took = started.elapsed();
        drop(stream);
        Ok(took)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no connection to {target} within {} ms",
            timeout.as_millis()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listening_port_answers_and_a_closed_one_refuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = listener.local_addr().expect("addr").to_string();
        let took = connect(&target, Duration::from_secs(2)).await.expect("up");
        assert!(took < Duration::from_secs(2));
        drop(listener);
        let err = connect(&target, Duration::from_secs(2))
            .await
            .expect_err("closed");
        assert!(err.contains("refused"), "{err}");
    }

    #[tokio::test]
    async fn an_unresolvable_name_is_named() {
        let err = connect("no-such-host.invalid:80", Duration::from_secs(2))
            .await
            .expect_err("unresolvable");
        assert!(err.contains("no-such-host.invalid"), "{err}");
    }
}
