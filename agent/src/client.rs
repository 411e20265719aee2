//! The agent's HTTP client: enrollment and report delivery over pinned TLS.

use std::time::Duration;

use cmdb_shared::{EnrollRequest, EnrollResponse};
use reqwest::StatusCode;

/// How a delivery attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Acknowledged: delete from the spool.
    Acked,
    /// The server cannot apply this delta: send a full inventory.
    Resync,
    /// The server refused the report itself (400/413/422): retrying cannot help.
    Rejected(String),
    /// Credential refused (401/403): keep the spool, an operator must act.
    Unauthorized(String),
    /// Server away or failing: keep the spool, retry with backoff.
    Retry(String),
    /// Server busy (429 or 503 with `Retry-After`): keep the spool, retry after that long at
    /// the earliest.
    Later(String, Duration),
}

/// Client errors outside delivery.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    #[error("cannot reach {url}")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("server answered {status}: {body}")]
    Status { status: StatusCode, body: String },
    #[error("server's answer is not what was expected")]
    Decode(#[source] reqwest::Error),
    #[error("TLS")]
    Tls(#[from] crate::tls::TlsError),
}

/// Builds a client with `tls` (or plain HTTP when `None`: loopback servers only).
pub fn build(
    tls: Option<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<reqwest::Client, ClientError> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .no_proxy()
        .user_agent(concat!("cmdb-agent/", env!("CARGO_PKG_VERSION")));
    b = match tls {
        Some(tls) => b.use_preconfigured_tls(tls).https_only(true),
        // reqwest builds a TLS connector even for plain HTTP, and with `rustls-no-provider`
        // it panics unless given one: give it one that trusts no server at all.
        None => b.use_preconfigured_tls(crate::tls::trust_nothing()?),
    };
    b.build().map_err(ClientError::Build)
}

/// `POST /api/v1/enroll`.
pub async fn enroll(
    client: &reqwest::Client,
    server: &str,
    enroll_token: &str,
    req: &EnrollRequest,
) -> Result<EnrollResponse, ClientError> {
    let url = format!("{}/api/v1/enroll", server.trim_end_matches('/'));
    let resp = client
        .post(&url)
        .bearer_auth(enroll_token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(req).unwrap_or_default())
        .send()
        .await
        .map_err(|source| ClientError::Connect {
            url: url.clone(),
            source,
        })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(ClientError::Status { status, body });
    }
    let bytes = resp.bytes().await.map_err(ClientError::Decode)?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Status {
        status,
        body: format!("unexpected answer: {e}"),
    })
}

/// Where host reports go.
pub const REPORTS_PATH: &str = "/api/v1/reports";
/// Where device polls go.
pub const DEVICE_REPORTS_PATH: &str = "/api/v1/device-reports";

/// The header that tells the server how many reports this agent's spool has dropped, ever.
pub const DROPPED_HEADER: &str = "x-cmdb-spool-dropped";

/// `POST` of a zstd-compressed report to `path` ([`REPORTS_PATH`] or [`DEVICE_REPORTS_PATH`]),
/// saying how many reports the spool has dropped (`dropped`).
pub async fn deliver(
    client: &reqwest::Client,
    server: &str,
    path: &str,
    token: &str,
    compressed: Vec<u8>,
    dropped: u64,
) -> Delivery {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let resp = client
        .post(&url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("content-encoding", "zstd")
        .header(DROPPED_HEADER, dropped)
        .body(compressed)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return Delivery::Retry(error_chain(&e)),
    };
    let status = resp.status();
    let retry_after = retry_after(&resp);
    let body = resp.text().await.unwrap_or_default();
    match (classify(status, body), retry_after) {
        (Delivery::Retry(why), Some(after)) => Delivery::Later(why, after),
        (other, _) => other,
    }
}

/// A 429's or 503's `Retry-After` in seconds (the HTTP-date form is not used by the server),
/// capped at an hour.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    if !matches!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        return None;
    }
    let secs: u64 = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(3_600)))
}

/// Maps an HTTP answer to what the spool does with the report.
pub fn classify(status: StatusCode, body: String) -> Delivery {
    match status {
        s if s.is_success() => Delivery::Acked,
        StatusCode::CONFLICT if body.contains("resync_required") => Delivery::Resync,
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNPROCESSABLE_ENTITY => Delivery::Rejected(format!("{status}: {body}")),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Delivery::Unauthorized(format!("{status}: {body}"))
        }
        s => Delivery::Retry(format!("{s}: {body}")),
    }
}

/// An error with its causes, for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_servers_retry_after_is_kept_and_other_failures_just_retry() {
        let (url, _) = crate::testing::server(vec![429, 503, 500]).await;
        let http = build(None, Duration::from_secs(5)).expect("client");
        let body = zstd::bulk::compress(b"{}", 1).expect("zstd");
        for want in [Some(7), Some(7), None] {
            let got = deliver(&http, &url, REPORTS_PATH, "t", body.clone(), 0).await;
            match (got, want) {
                (Delivery::Later(_, after), Some(s)) => assert_eq!(after, Duration::from_secs(s)),
                (Delivery::Retry(_), None) => {}
                (other, _) => panic!("{other:?} for {want:?}"),
            }
        }
    }

    #[test]
    fn a_plain_http_client_builds() {
        assert!(build(None, Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn answers_map_to_spool_actions() {
        assert_eq!(classify(StatusCode::OK, String::new()), Delivery::Acked);
        assert_eq!(
            classify(
                StatusCode::CONFLICT,
                r#"{"error":"x","resync_required":true}"#.into()
            ),
            Delivery::Resync
        );
        assert!(matches!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, "v".into()),
            Delivery::Rejected(_)
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, "x".into()),
            Delivery::Unauthorized(_)
        ));
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, "x".into()),
            Delivery::Retry(_)
        ));
        assert!(matches!(
            classify(StatusCode::CONFLICT, "other".into()),
            Delivery::Retry(_)
        ));
    }
}
