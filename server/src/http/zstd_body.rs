//! zstd request bodies, decompressed as the handler reads them with contexts kept between
//! requests. tower-http's decompression layer makes a zstd context for every request: about
//! 95 KiB allocated, zeroed and set up before the first byte, a tenth of the server's CPU for
//! an agent's heartbeat. Here a request takes a context from a small pool and gives it back
//! when its body is done with. Everything else stays as it was: the body is decompressed
//! only as far as the handler reads it (after the credential is checked), the raw and the
//! decompressed limits apply as before, and a body that is not valid zstd is an error of the
//! body, which the handler reports as a 400.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use zstd::zstd_safe::{self, DCtx, InBuffer, OutBuffer, ResetDirective};

/// Decompressed bytes handed on at a time: the handler's body limit is checked between them.
const CHUNK: usize = 64 * 1024;
/// Output buffer at a frame's start when the frame does not say its size.
const SMALL: usize = 16 * 1024;
/// Contexts kept for later requests (more than the requests a 2-core server decodes at once).
const POOLED: usize = 16;
/// A context that grew past this (a large window) is dropped rather than kept.
const POOLED_MAX_BYTES: usize = 2 * 1024 * 1024;

static POOL: Mutex<Vec<DCtx<'static>>> = Mutex::new(Vec::new());

fn take_context() -> Option<DCtx<'static>> {
    let pooled = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
    pooled.or_else(DCtx::try_create)
}

fn give_back(mut ctx: DCtx<'static>) {
    // A reset clears whatever a failed or unfinished frame left; parameters stay default.
    if ctx.reset(ResetDirective::SessionOnly).is_err() || ctx.sizeof() > POOLED_MAX_BYTES {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < POOLED {
        pool.push(ctx);
    }
}

/// The middleware: a request whose only content coding is `zstd` gets a decompressing body
/// and loses its `Content-Encoding` and `Content-Length` (tower-http's decompression, which
/// sits inside, then leaves it alone and handles gzip).
pub async fn decompress_zstd(req: Request, next: Next) -> Response {
    let is_zstd = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("zstd"));
    if !is_zstd {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = Body::new(ZstdBody::new(body));
    next.run(Request::from_parts(parts, body)).await
}

/// A zstd stream (one or more frames) decompressed as it is read.
pub struct ZstdBody {
    inner: Body,
    ctx: Option<DCtx<'static>>,
    /// Compressed bytes received and not yet fed to the context.
    input: Bytes,
    /// Compressed bytes were received at all (an empty body stays empty).
    any_input: bool,
    /// The raw body has ended.
    input_ended: bool,
    /// The last step ended a frame, with everything flushed.
    frame_done: bool,
    /// The last step filled its output: the context may hold more before it needs input.
    more_out: bool,
    finished: bool,
}

impl ZstdBody {
    pub fn new(inner: Body) -> Self {
        Self {
            inner,
            ctx: None,
            input: Bytes::new(),
            any_input: false,
            input_ended: false,
            frame_done: true,
            more_out: false,
            finished: false,
        }
    }

    /// One decompression step over the buffered input: what it produced, and whether it
    /// read or wrote anything at all (a skippable frame is read without output).
    fn step(&mut self) -> Result<(Option<Bytes>, bool), axum::Error> {
        let ctx =
            match self.ctx {
                Some(ref mut ctx) => ctx,
                None => self.ctx.insert(take_context().ok_or_else(|| {
                    bad("cannot allocate a zstd decompression context".to_string())
                })?),
            };
        // A frame that says how large it is (the agent's do) gets just that, and one byte
        // more so that a full buffer still means more to come: a 64 KiB buffer for a 3 KB
        // heartbeat cost more in the allocator than the kept context saved.
        let cap = match self.frame_done {
            true => match zstd_safe::get_frame_content_size(&self.input) {
                Ok(Some(n)) => usize::try_from(n).unwrap_or(CHUNK).min(CHUNK - 1) + 1,
                _ => SMALL,
            },
            false => CHUNK,
        };
        let mut out = Vec::with_capacity(cap);
        let (hint, read, written) = {
            let mut dst = OutBuffer::around(&mut out);
            let mut src = InBuffer::around(&self.input);
            let hint = ctx
                .decompress_stream(&mut dst, &mut src)
                .map_err(|code| bad(format!("zstd: {}", zstd_safe::get_error_name(code))))?;
            (hint, src.pos(), dst.pos())
        };
        let _ = self.input.split_to(read);
        let progressed = read > 0 || written > 0;
        if progressed {
            // A step past a frame's end, with nothing left, would say a new one has begun.
            self.frame_done = hint == 0;
        }
        self.more_out = written == cap;
        Ok(((written > 0).then(|| Bytes::from(out)), progressed))
    }

    fn finish(&mut self) {
        self.finished = true;
        if let Some(ctx) = self.ctx.take() {
            give_back(ctx);
        }
    }
}

impl Drop for ZstdBody {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            give_back(ctx);
        }
    }
}

/// A body error shaped as tower-http's: an `io::Error`, so a raw-limit error inside is found
/// the same way (see `over_raw_limit`) and the handler's answer is unchanged.
fn wrap(e: axum::Error) -> axum::Error {
    axum::Error::new(std::io::Error::other(e))
}

fn bad(msg: String) -> axum::Error {
    axum::Error::new(std::io::Error::new(std::io::ErrorKind::InvalidData, msg))
}

impl http_body::Body for ZstdBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            if !this.input.is_empty() || this.more_out {
                match this.step() {
                    Ok((Some(data), _)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok((None, progressed)) => {
                        if !progressed && !this.input.is_empty() {
                            // zstd reports a bad stream as an error; a step that neither
                            // reads nor writes would loop for ever, so it is one too.
                            this.finish();
                            return Poll::Ready(Some(Err(bad("zstd: no progress".into()))));
                        }
                        continue;
                    }
                    Err(e) => {
                        this.finish();
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            if this.input_ended {
                this.finish();
                if this.any_input && !this.frame_done {
                    return Poll::Ready(Some(Err(
                        bad("zstd: the body ends inside a frame".into()),
                    )));
                }
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.input_ended = true,
                Poll::Ready(Some(Err(e))) => {
                    this.finish();
                    return Poll::Ready(Some(Err(wrap(e))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers carry nothing a handler reads; data is fed to the context.
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        this.any_input = true;
                        this.input = data;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A request body arriving in the pieces given.
    struct Pieces(std::collections::VecDeque<Bytes>);

    impl http_body::Body for Pieces {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.get_mut().0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    /// Sends `raw` in pieces of `piece` bytes and reads the decompressed body whole.
    async fn inflate(raw: Vec<u8>, piece: usize) -> Result<Vec<u8>, axum::Error> {
        let pieces = raw
            .chunks(piece.max(1))
            .map(Bytes::copy_from_slice)
            .collect();
        let body = ZstdBody::new(Body::new(Pieces(pieces)));
        Ok(body.collect().await?.to_bytes().to_vec())
    }

    fn sample(n: usize) -> Vec<u8> {
        let line = br#"{"package": "libfoo", "version": "1.2.3"}"#;
        (0..n).map(|i| line[i % line.len()]).collect()
    }

    #[tokio::test]
    async fn a_body_comes_out_whole_however_the_input_is_cut() {
        let plain = sample(300_000);
        let packed = zstd::bulk::compress(&plain, 3).expect("compress");
        for piece in [1, 7, 1000, packed.len()] {
            assert_eq!(
                inflate(packed.clone(), piece).await.expect("inflate"),
                plain
            );
        }
    }

    #[tokio::test]
    async fn frames_one_after_another_are_one_body() {
        let (a, b) = (sample(1000), sample(200_000));
        let mut packed = zstd::bulk::compress(&a, 1).expect("compress");
        packed.extend(zstd::bulk::compress(&b, 19).expect("compress"));
        let mut both = a;
        both.extend(b);
        assert_eq!(inflate(packed, 4096).await.expect("inflate"), both);
    }

    #[tokio::test]
    async fn a_skippable_frame_is_read_past() {
        let plain = sample(5000);
        let mut packed = 0x184D_2A50_u32.to_le_bytes().to_vec();
        packed.extend_from_slice(&1000u32.to_le_bytes());
        packed.resize(packed.len() + 1000, 0);
        packed.extend(zstd::bulk::compress(&plain, 3).expect("compress"));
        for piece in [3, 1008, packed.len()] {
            assert_eq!(
                inflate(packed.clone(), piece).await.expect("inflate"),
                plain
            );
        }
    }

    #[tokio::test]
    async fn an_empty_body_stays_empty() {
        assert!(inflate(Vec::new(), 1).await.expect("inflate").is_empty());
    }

    #[tokio::test]
    async fn a_cut_or_damaged_stream_is_an_error_and_the_next_body_is_fine() {
        let plain = sample(50_000);
        let packed = zstd::bulk::compress(&plain, 3).expect("compress");
        let cut = packed[..packed.len() / 2].to_vec();
        let e = inflate(cut, 100).await.expect_err("cut");
        assert!(e.to_string().contains("ends inside a frame"), "{e}");
        let e = inflate(b"not zstd at all".to_vec(), 5)
            .await
            .expect_err("garbage");
        assert!(e.to_string().contains("zstd"), "{e}");
        let mut trailing = packed.clone();
        trailing.extend_from_slice(b"junk");
        assert!(inflate(trailing, 64).await.is_err());
        // Contexts went back to the pool reset: the same bytes decode again.
        for _ in 0..POOLED + 2 {
            assert_eq!(inflate(packed.clone(), 333).await.expect("again"), plain);
        }
    }

    #[tokio::test]
    async fn output_is_handed_on_in_bounded_chunks() {
        // A small input that inflates a lot: no frame larger than CHUNK, so the handler's
        // limit stops a bomb after at most one chunk past it.
        let plain = vec![b' '; 4 * 1024 * 1024];
        let packed = zstd::bulk::compress(&plain, 19).expect("compress");
        let inner = Body::from(packed);
        let mut body = ZstdBody::new(inner);
        let mut total = 0;
        while let Some(frame) = body.frame().await {
            let data = frame.expect("frame").into_data().expect("data");
            assert!(data.len() <= CHUNK);
            total += data.len();
        }
        assert_eq!(total, plain.len());
    }
}
