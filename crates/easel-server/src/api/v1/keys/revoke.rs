//! `DELETE /v1/keys/{id}`: revoke a key, effective immediately.

use axum::Json;
use axum::extract::Path;
use easel_core::roles::Scope;

use super::dto::ApiKeyObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::keys;

/// Revoke an API key
///
/// The key stops working at once. Revoking a revoked key returns it unchanged. A key may
/// revoke itself.
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
    caller.require(Scope::KeysWrite)?;
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
