//! Test support: a stand-in cmdb-server.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the stand-in server received: each request's path and decompressed body.
pub type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A local HTTP/1.1 server on the test's runtime that answers each request with the next
/// status of `script` (200 once it is used up) and keeps the request; bodies are zstd, as
/// the agent sends them. Returns its base URL.
pub async fn server(script: Vec<u16>) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let script = Arc::new(Mutex::new(script.into_iter()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut req = Vec::new();
            let mut buf = [0u8; 8192];
            let head_end = loop {
                if let Some(p) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p + 4;
                }
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&req[..head_end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while req.len() < head_end + len {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let body = zstd::stream::decode_all(&req[head_end..head_end + len]).expect("zstd");
            s2.lock().expect("lock").push((path, body));
            let status = script.lock().expect("lock").next().unwrap_or(200);
            // Busy answers say when to come back, as the server's do.
            let retry = if status == 429 || status == 503 {
                "retry-after: 7\r\n"
            } else {
                ""
            };
            let _ = sock
                .write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 2\r\n{retry}connection: close\r\n\r\n{{}}"
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    (url, seen)
}
