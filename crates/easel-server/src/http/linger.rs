//! Lingering reads for bodies declared too large: the 413 reaches the client.
//!
//! Most HTTP clients (Python's `requests` and `httpx`, so the OpenAI SDK; `reqwest`) send
//! the whole body before they read the answer. When the server answered a body declared
//! larger than it accepts and closed the connection without reading it, the kernel reset
//! the connection and such a client saw a broken pipe instead of the 413 `body_too_large`
//! envelope (measured with Python's `http.client`, which `requests` builds on: 1 MB
//! against a 64 KiB limit failed 18 times in 200, 5 MB every time). The answer is now
//! sent at once and the rest of the body read and thrown away in the background, within
//! bounds, as nginx's lingering close does; a client that asked `Expect: 100-continue` is
//! never made to send it.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, EXPECT};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

/// At most this much of a refused body is read after the answer.
const MAX_DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// For at most this long.
const MAX_DRAIN_TIME: Duration = Duration::from_secs(10);

/// Middleware (outside the body limit): a request whose `Content-Length` exceeds `limit`
/// goes on without its body, so the limit refuses it at once, while the body is drained.
pub async fn linger(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let waits_for_continue = request.headers().contains_key(EXPECT);
    let too_large = declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX));
    if !too_large || waits_for_continue || declared.is_some_and(|n| n > MAX_DRAIN_BYTES) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    tokio::spawn(drain(body));
    next.run(Request::from_parts(parts, Body::empty())).await
}

/// Reads and drops `body` until it ends, [`MAX_DRAIN_BYTES`] were read, or
/// [`MAX_DRAIN_TIME`] passed; then the connection closes or is kept as hyper decides.
async fn drain(mut body: Body) {
    let read = async {
        let mut left = MAX_DRAIN_BYTES;
        while let Some(Ok(frame)) = body.frame().await {
            let n = frame
                .data_ref()
                .map_or(0, |d| u64::try_from(d.len()).unwrap_or(u64::MAX));
            match left.checked_sub(n) {
                Some(rest) => left = rest,
                None => break,
            }
        }
    };
    let _ = tokio::time::timeout(MAX_DRAIN_TIME, read).await;
}
