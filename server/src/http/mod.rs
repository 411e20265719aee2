//! HTTP: handlers only. Each resource has its own module with a `router()`; a handler
//! extracts the request, calls one service and renders the answer. This module holds the
//! shared pieces: [`ApiError`] (every service error mapped to its status), the body readers
//! and the app router; [`auth`] turns a bearer token into a [`Principal`]; [`render`] writes
//! CSV and Graphviz DOT.

pub mod agents;
pub mod auth;
pub mod availability;
pub mod capacity;
pub mod changes;
pub mod cis;
pub mod drain;
pub mod impact;
pub mod limits;
pub mod metrics;
pub mod ops;
pub mod relationships;
pub mod render;
pub mod reports;
pub mod software;
pub mod tokens;
pub mod transfer;
pub mod ui;
pub mod zstd_body;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cmdb_shared::{ErrorBody, ResyncRequired};
use tower_http::decompression::RequestDecompressionLayer;

use crate::AppState;
pub use crate::access::Principal;
use crate::error::ServiceError;
use crate::ingest::IngestError;

/// Every error an API handler returns. 4xx carry a precise reason; 5xx a generic body, with
/// the cause logged once here.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Resync(String),
    /// Not now: the request may succeed later (the agent retries).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// 429 with `Retry-After` (seconds).
    #[error("{0}")]
    TooManyRequests(String, u64),
    #[error("{0}")]
    Unprocessable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database is away (a remote one that did not answer in time): 503, retry later.
    #[error("{0}")]
    Unavailable(String),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(m) => ApiError::BadRequest(m),
            ServiceError::Unauthenticated(m) => ApiError::Unauthorized(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Unprocessable(m) => ApiError::Unprocessable(m),
            ServiceError::NotYet(m) | ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::RateLimited {
                message,
                retry_after_secs,
            } => ApiError::TooManyRequests(message, retry_after_secs),
            ServiceError::Storage(s) => ApiError::Internal(Box::new(s)),
            ServiceError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Invalid(m) => ApiError::BadRequest(m),
            IngestError::Unprocessable(m) => ApiError::Unprocessable(m),
            IngestError::Resync(m) => ApiError::Resync(m),
            IngestError::Forbidden(m) => ApiError::Forbidden(m),
            IngestError::UnknownAgent => {
                ApiError::Unauthorized("the agent of this credential no longer exists".into())
            }
            IngestError::Storage(s) => ApiError::Internal(Box::new(s)),
            IngestError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Resync(_) | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, source = ?cause.source(), "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        match self {
            ApiError::Resync(error) => (
                status,
                axum::Json(ResyncRequired {
                    error,
                    resync_required: true,
                }),
            )
                .into_response(),
            ApiError::Unauthorized(error) => (
                status,
                [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(ErrorBody { error }),
            )
                .into_response(),
            ApiError::Unavailable(error) => (
                status,
                [(axum::http::header::RETRY_AFTER, "5")],
                axum::Json(ErrorBody { error }),
            )
                .into_response(),
            ApiError::TooManyRequests(error, retry_after) => (
                status,
                [(axum::http::header::RETRY_AFTER, retry_after.to_string())],
                axum::Json(ErrorBody { error }),
            )
                .into_response(),
            other => (
                status,
                axum::Json(ErrorBody {
                    error: other.to_string(),
                }),
            )
                .into_response(),
        }
    }
}

/// The body, or 413 over a limit / 400 when unreadable.
pub fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge("request body is larger than limits.max_body_bytes".into())
        } else if over_raw_limit(&e) {
            raw_too_large()
        } else {
            ApiError::BadRequest(format!("cannot read request body: {}", e.body_text()))
        }
    })
}

fn raw_too_large() -> ApiError {
    ApiError::TooLarge("request body as sent is larger than limits.max_raw_body_bytes".into())
}

/// Whether reading the body failed on the raw (before decompression) limit. The decompressor
/// wraps that error in an `io::Error`, whose `source()` skips it, so each level is unwrapped
/// both ways.
fn over_raw_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && over_raw_limit(inner)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// Reads a JSON body with precise errors: 413 over the limit, 400 naming the bad field.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = read_body(body)?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::BadRequest(format!("malformed JSON: {inner}"))
        } else {
            ApiError::BadRequest(format!("malformed JSON at {path}: {inner}"))
        }
    })
}

/// Maps a JSON body rejection to a 400 (413 over a limit).
pub fn bad_body(e: axum::extract::rejection::JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge("request body is larger than limits.max_body_bytes".into())
    } else if over_raw_limit(&e) {
        raw_too_large()
    } else {
        ApiError::BadRequest(format!("body: {}", e.body_text()))
    }
}

/// Maps a query-string rejection to a 400 naming the parameter.
pub fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::BadRequest(format!("query string: {}", e.body_text()))
}

/// The whole API, behind the HTTP defences (outermost first): at most
/// `http.max_concurrent_requests` at once (503 with `Retry-After` beyond, at once), a whole
/// request within `http.request_timeout_secs` (408), its body within
/// `http.body_timeout_secs` (408), the body within `limits.max_raw_body_bytes` as sent and
/// `limits.max_body_bytes` after decompression (413, read up to the limit before the answer,
/// so the client gets it).
/// Credentials are rate-limited where they are authenticated.
pub fn router(state: Arc<AppState>) -> Router {
    use std::time::Duration;
    use tower::ServiceBuilder;
    let max_body = state.config.limits.max_body_bytes;
    let max_raw = state.config.limits.max_raw_body_bytes;
    let http = state.config.http.clone();
    // Queued requests would wait for ever behind a flood: past the limit, answer at once.
    let shed = ServiceBuilder::new()
        .layer(axum::error_handling::HandleErrorLayer::new(overloaded))
        .load_shed()
        // Global: `Router::layer` wraps each route, and a plain concurrency limit would give
        // every route its own count.
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            http.max_concurrent_requests,
        ));
    Router::new()
        .merge(reports::router())
        .merge(agents::router())
        .merge(cis::router())
        .merge(software::router())
        .merge(tokens::router())
        .merge(ops::router())
        .merge(relationships::router())
        .merge(impact::router())
        .merge(changes::router())
        .merge(metrics::router())
        .merge(availability::router())
        .merge(capacity::router())
        .merge(transfer::router())
        .merge(ui::router())
        // The limit applies after decompression, so a small zstd bomb cannot get past it.
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestDecompressionLayer::new().zstd(false).gzip(true))
        // zstd (what agents send) with contexts kept between requests; outside tower-http's
        // layer, which would answer 415 to a coding it was not told to take.
        .layer(axum::middleware::from_fn(zstd_body::decompress_zstd))
        // Before decompression: a compressed body that inflates to little (zstd skippable
        // frames) is still bounded.
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let (parts, body) = req.into_parts();
                let body = axum::body::Body::new(http_body_util::Limited::new(body, max_raw));
                next.run(axum::extract::Request::from_parts(parts, body))
            },
        ))
        // Outside decompression: what is drained is the raw body.
        .layer(axum::middleware::from_fn(drain::drain_unread_body))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            Duration::from_secs(http.body_timeout_secs),
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(http.request_timeout_secs),
        ))
        .layer(shed)
        .with_state(state)
}

async fn overloaded(_: tower::BoxError) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "1")],
        axum::Json(ErrorBody {
            error: "the server is at http.max_concurrent_requests: retry shortly".into(),
        }),
    )
        .into_response()
}
