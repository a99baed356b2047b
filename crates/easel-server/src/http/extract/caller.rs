//! The `Caller` extractor: the API key the limits middleware authenticated and authorized.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::http::error::ApiError;

pub use crate::auth::Caller;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// The middleware authenticates every keyed route, checks the route's rule
    /// (`auth::rules`) and leaves the caller here. A handler asking for a caller the
    /// middleware never saw sits outside the rules: fail closed rather than authenticate
    /// it without its scope check.
    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "{} {} asks for an API key caller but is outside the authorization middleware",
                parts.method,
                parts.uri.path()
            ))
        })
    }
}
