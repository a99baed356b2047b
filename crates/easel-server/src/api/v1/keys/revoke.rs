//! `DELETE /v1/keys/{id}`: revoke a key, effective immediately.

use axum::Json;
use axum::extract::Path;

use super::dto::ApiKeyObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::auth::rules::KeyAction;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::keys;

/// Revoke an API key
///
/// The key stops working at once. Revoking a revoked key returns it unchanged. A key may
/// revoke itself, and a member may revoke their own keys; another member's key only if
/// the caller's role may manage that member (owners everyone, admins all but owners),
/// otherwise 403 `key_of_another_member`.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = tags::KEYS,
    operation_id = "revoke_key",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The key id (`key_…`)")),
    responses(
        (status = 200, description = "The revoked key", body = ApiKeyObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn revoke_key(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKeyObject>> {
    keys::authorize_member_action(&state, &caller, &id, KeyAction::Revoke).await?;
    let key = keys::revoke(
        &state,
        &caller.account_id,
        Some(caller.mode),
        &id,
        caller.audit(),
    )
    .await?;
    Ok(Json(key.into()))
}
