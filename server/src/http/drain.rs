//! Early answers that reach the client. A handler may answer before it reads the request body
//! (401 without a credential, 404 on an unknown route, 413). Over HTTP/1.1 the client still
//! gets that answer; over HTTP/2 the stream is reset while the client is still sending, and
//! it sees a protocol error instead of the reason. So the body a handler left unread is read
//! and thrown away — the raw bytes, never decompressed — up to a bound, before the answer
//! goes out; beyond the bound the request is cut off (HTTP/1.1: `Connection: close`).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use http_body_util::BodyExt;

/// Most of an unread body read before an early answer.
const MAX_DRAIN_BYTES: usize = 1 << 20;
/// Longest wait for it.
const MAX_DRAIN_TIME: Duration = Duration::from_secs(5);

/// The request body, shared with the middleware: what the handler leaves unread stays here.
struct Shared(Arc<Mutex<Option<Body>>>);

impl http_body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(body) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            // Read to the end: nothing left to drain.
            *slot = None;
        }
        polled
    }
}

/// The middleware: runs the request, then drains what an error answer left unread.
pub async fn drain_unread_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if http_body::Body::is_end_stream(&body) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let slot = Arc::new(Mutex::new(Some(body)));
    let mut resp = next
        .run(Request::from_parts(parts, Body::new(Shared(slot.clone()))))
        .await;
    if resp.status().is_success() {
        return resp;
    }
    let left = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut body) = left {
        let drained = tokio::time::timeout(MAX_DRAIN_TIME, async {
            let mut read = 0usize;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { return false };
                read += frame.data_ref().map_or(0, Bytes::len);
                if read > MAX_DRAIN_BYTES {
                    return false;
                }
            }
            true
        })
        .await
        .unwrap_or(false);
        if !drained {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    resp
}
