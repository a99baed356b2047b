//! `Idempotency-Key` on every `POST`, with Stripe's semantics.
//!
//! The first request with a key claims it (per account and mode) and its answer is stored;
//! a later request with the same key and the same method, path and body gets that answer
//! again (with `Idempotent-Replayed: true`) for `generations.idempotency_hours`. The same
//! key with another body is 400 `idempotency_error`; while the first request still runs,
//! 409 `idempotency_in_flight`. Answers of 5xx are not stored (the key is released), so a
//! retry after a failure on our side (or a 429) runs afresh. A node that dies mid-request leaves a
//! claim that lapses after the request timeout.
//!
//! Error answers are stored as their code, message and param, and replayed through the
//! envelope middleware, so the replay carries the new request's id.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use easel_core::time::now_ms;
use easel_db::{IdempotencyBegin, IdempotencyKey, IdempotencyTimes};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ErrorCode, PendingError};
use super::middleware::RequestId;
use crate::app::AppState;
use crate::auth::Caller;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// A stored error answer.
#[derive(Serialize, Deserialize)]
struct StoredError {
    code: ErrorCode,
    message: String,
    param: Option<String>,
    #[serde(default)]
    details: Option<serde_json::Value>,
}

/// The middleware.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get(IDEMPOTENCY_KEY).cloned() else {
        return next.run(request).await;
    };
    let key = match raw_key.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= MAX_KEY_LEN => k.to_string(),
        _ => {
            return ApiError::invalid(
                "Idempotency-Key",
                format!("`Idempotency-Key` must be 1 to {MAX_KEY_LEN} visible ASCII characters."),
            )
            .into_response();
        }
    };
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    // Keys are scoped to the caller's account and mode; without a valid key the handler
    // answers the authentication error itself. The limits middleware, which runs first,
    // has usually authenticated the request already.
    let caller = match request.extensions().get::<Caller>() {
        Some(caller) => caller.clone(),
        None => {
            let Ok(caller) = state.auth.authenticate(request.headers(), request_id).await else {
                return next.run(request).await;
            };
            caller
        }
    };
    let (mut parts, body) = request.into_parts();
    // The handler's `Caller` extractor takes it from here instead of authenticating again.
    parts.extensions.insert(caller.clone());
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                ErrorCode::body_too_large,
                "The request body is larger than this server accepts.",
            )
            .into_response();
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&body);
    let request_hash = hex::encode(hasher.finalize());
    let scope = IdempotencyKey {
        account_id: caller.account_id.clone(),
        mode: caller.mode,
        key,
    };
    let now = now_ms();
    let config = &state.config;
    let lifetime_ms = i64::try_from(config.generations.idempotency_hours).unwrap_or(24) * 3_600_000;
    let lock_ms = i64::try_from(config.http.request_timeout_seconds).unwrap_or(75) * 1000;
    let times = IdempotencyTimes {
        now,
        forget_before: now - lifetime_ms,
        locked_until: now + lock_ms,
    };
    match state
        .store
        .begin_idempotent(&scope, &request_hash, times)
        .await
    {
        Ok(IdempotencyBegin::Started) => {}
        Ok(IdempotencyBegin::Replay { status, response }) => return replay(status, &response),
        Ok(IdempotencyBegin::InFlight) => {
            return ApiError::new(
                ErrorCode::idempotency_in_flight,
                "A request with this Idempotency-Key is still being processed; retry after it finishes.",
            )
            .param("Idempotency-Key")
            .into_response();
        }
        Ok(IdempotencyBegin::Mismatch) => {
            return ApiError::new(
                ErrorCode::idempotency_error,
                "This Idempotency-Key was already used with a different request; use a new key for a new request.",
            )
            .param("Idempotency-Key")
            .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = response.status();
    // Neither our failures nor rate limiting are the request's answer: a retry runs afresh.
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        if let Err(e) = state.store.release_idempotent(&scope).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let stored = match parts.extensions.get::<PendingError>() {
        Some(pending) => serde_json::to_string(&StoredError {
            code: pending.code,
            message: pending.message.clone(),
            param: pending.param.clone(),
            details: pending.details.clone(),
        })
        .map(bytes::Bytes::from)
        .map_err(|e| e.to_string()),
        None => axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| e.to_string()),
    };
    let stored = match stored {
        Ok(bytes) => bytes,
        Err(why) => {
            tracing::error!(error = %why, "could not read a response to remember it");
            let _ = state.store.release_idempotent(&scope).await;
            return ApiError::internal(anyhow::anyhow!(why)).into_response();
        }
    };
    let text = String::from_utf8_lossy(&stored).into_owned();
    if let Err(e) = state
        .store
        .finish_idempotent(&scope, status.as_u16(), &text)
        .await
    {
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
    let body = if parts.extensions.get::<PendingError>().is_some() {
        Body::empty()
    } else {
        Body::from(stored)
    };
    Response::from_parts(parts, body)
}

/// The stored answer again.
fn replay(status: u16, stored: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = if status.is_client_error() || status.is_server_error() {
        match serde_json::from_str::<StoredError>(stored) {
            Ok(e) => {
                let mut r = status.into_response();
                r.extensions_mut().insert(PendingError {
                    code: e.code,
                    message: e.message,
                    param: e.param,
                    details: e.details,
                });
                r
            }
            Err(_) => status.into_response(),
        }
    } else {
        let mut r = Response::new(Body::from(stored.to_string()));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
