//! `POST /v1/keys/{id}/rotate`: a new secret; the old one works for a grace period.

use axum::Json;
use axum::extract::Path;

use super::dto::{ApiKeyWithSecret, RotateKeyRequest};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::auth::rules::KeyAction;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, OptionalJson};
use crate::services::keys;

/// Rotate an API key
///
/// Issues a new secret for the same key (same id, name, scopes). The previous secret keeps
/// working for `grace_period_seconds` (default 24 hours; 0 ends it immediately). Only the
/// member a key acts for can rotate it, since the response reveals the new secret: another
/// member's key answers 403 `key_of_another_member`.
#[utoipa::path(
    post,
    path = "/v1/keys/{id}/rotate",
    tag = tags::KEYS,
    operation_id = "rotate_key",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The key id (`key_…`)")),
    request_body(content = RotateKeyRequest, description = "Optional; an empty body uses the default grace period"),
    responses(
        (status = 200, description = "The key with its new secret", body = ApiKeyWithSecret),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn rotate_key(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RotateKeyRequest>,
) -> ApiResult<Json<ApiKeyWithSecret>> {
    keys::authorize_member_action(&state, &caller, &id, KeyAction::Rotate).await?;
    let (key, secret) = keys::rotate(
        &state,
        &caller.account_id,
        Some(caller.mode),
        &id,
        body.grace_period_seconds,
        caller.audit(),
    )
    .await?;
    Ok(Json(ApiKeyWithSecret {
        key: key.into(),
        secret,
    }))
}
