//! What decompressing an agent's zstd body costs the server, request by request: through
//! tower-http's decompression layer (a new zstd context for every request, as the server did
//! before) and through the server's own (`cmdb_server::http::zstd_body`, contexts kept
//! between requests).
//!
//! `cargo run --release -p cmdb-server --example zstd_body [-- REQUESTS]` (default 200,000).
//! Both routers are the same but for the layer: a handler that reads the body whole, called
//! in process (no socket, TLS or JSON) with a heartbeat-sized body (about 3 KB of section
//! hashes, compressed as the agent does, zstd level 3). Prints the wall time per request of
//! each, alternating, three rounds; one thread, with the server's allocator (mimalloc).

use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use axum::routing::post;
use tower::ServiceExt;
use tower_http::decompression::RequestDecompressionLayer;

/// The server's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn body() -> Vec<u8> {
    let mut json = String::from("{\"section_hashes\": {");
    for i in 0..40 {
        json.push_str(&format!(
            "\"section-{i}\": \"{:064x}\", ",
            (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834)
        ));
    }
    json.push_str("\"end\": \"\"}}");
    zstd::bulk::compress(json.as_bytes(), 3).unwrap_or_default()
}

async fn read(b: Bytes) -> String {
    b.len().to_string()
}

async fn per_request(app: &Router, packed: &[u8], n: usize) -> anyhow::Result<f64> {
    let t = Instant::now();
    for _ in 0..n {
        let req = Request::post("/")
            .header("content-encoding", "zstd")
            .body(Body::from(packed.to_vec()))?;
        let resp = app.clone().oneshot(req).await?;
        anyhow::ensure!(resp.status().is_success(), "{}", resp.status());
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn main() -> anyhow::Result<()> {
    let n: usize = match std::env::args().nth(1) {
        Some(s) => s
            .parse()
            .map_err(|_| anyhow::anyhow!("REQUESTS: not a number: {s}"))?,
        None => 200_000,
    };
    let packed = body();
    let tower_http = Router::new()
        .route("/", post(read))
        .layer(RequestDecompressionLayer::new().zstd(true).gzip(false));
    let kept = Router::new()
        .route("/", post(read))
        .layer(axum::middleware::from_fn(
            cmdb_server::http::zstd_body::decompress_zstd,
        ));
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    println!(
        "zstd request body of {} bytes, {n} requests a round, in process, one thread",
        packed.len()
    );
    rt.block_on(async {
        for round in 1..=3 {
            let a = per_request(&tower_http, &packed, n).await?;
            let b = per_request(&kept, &packed, n).await?;
            println!(
                "round {round}: tower-http (a context each) {a:.2} µs, kept contexts {b:.2} µs: {:.2} µs less a request",
                a - b
            );
        }
        anyhow::Ok(())
    })
}
