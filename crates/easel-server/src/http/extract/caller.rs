//! The `Caller` extractor: authenticates the request's API key.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::middleware::RequestId;

pub use crate::auth::Caller;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // A middleware that needed the caller first (idempotency keys) left it here.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let caller = state.auth.authenticate(&parts.headers, request_id).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}
