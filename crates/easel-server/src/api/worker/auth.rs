//! The worker token extractor: the worker API's only credential.
//!
//! Tokens are checked offline first (shape and checksum), then looked up by SHA-256; a
//! lookup is reused for a second (`Workers::cached_worker`), so a job's claim, upload and
//! completion, which follow each other within milliseconds, cost one lookup, and a
//! revocation holds within a second on every node, like an API key's. An API key is
//! refused here with a message that says so, and a worker token is refused by the API's
//! key check the same way.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use easel_core::worker_token;
use easel_db::Worker;

use crate::app::AppState;
use crate::http::error::{ApiError, ErrorCode};

/// The worker a request comes from (its token checked, not revoked).
#[derive(Debug, Clone)]
pub struct WorkerCaller(pub Worker);

impl FromRequestParts<AppState> for WorkerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let prefix = &state.config.api_keys.prefix;
        let token = bearer(parts)?;
        if let Err(why) = worker_token::parse(prefix, token) {
            let hint = if easel_core::api_key::parse(prefix, token).is_ok() {
                "this is an API key; the worker API takes a worker token from `easel admin worker create`".to_string()
            } else {
                why.to_string()
            };
            return Err(ApiError::new(
                ErrorCode::invalid_worker_token,
                format!(
                    "Invalid worker token: {hint}. Worker tokens look like `{prefix}_worker_…`."
                ),
            ));
        }
        let hash = easel_core::api_key::hash(token);
        let worker = match state.workers.cached_worker(&hash) {
            Some(worker) => worker,
            None => {
                let found = state.store.find_worker(&hash).await?.ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::invalid_worker_token,
                        "Invalid worker token: no such worker.",
                    )
                })?;
                state.workers.cache_worker(&hash, &found);
                found
            }
        };
        if worker.revoked_at.is_some() {
            return Err(ApiError::new(
                ErrorCode::worker_token_revoked,
                "This worker token has been revoked.",
            ));
        }
        Ok(WorkerCaller(worker))
    }
}

/// The token of the request's one `Bearer` authorization header.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = crate::auth::authorization(&parts.headers)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::worker_token_missing,
            "No worker token provided. Send `Authorization: Bearer <worker token>`.",
        )
    })?;
    let value = header.to_str().unwrap_or_default();
    crate::auth::bearer_secret(value).ok_or_else(|| {
        ApiError::new(
            ErrorCode::invalid_authorization_header,
            "The Authorization header must be `Bearer <worker token>`.",
        )
    })
}
