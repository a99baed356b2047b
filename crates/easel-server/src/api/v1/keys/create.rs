//! `POST /v1/keys`: create a key in the caller's mode, for the caller's member.

use axum::http::StatusCode;

use super::dto::{ApiKeyWithSecret, CreateKeyRequest};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Json};
use crate::services::keys::{self, KeySpec};

/// Create an API key
///
/// The new key lives in the same mode (test or live) as the calling key, acts for the same
/// member, and can hold at most the scopes the caller holds. The response is the only time
/// the secret is shown.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = tags::KEYS,
    operation_id = "create_key",
    security(("api_key" = [])),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "The new key with its secret", body = ApiKeyWithSecret),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn create_key(
    state: AppState,
    caller: Caller,
    Json(body): Json<CreateKeyRequest>,
) -> ApiResult<(StatusCode, axum::Json<ApiKeyWithSecret>)> {
    let spec = KeySpec {
        name: body.name,
        scopes: body.scopes,
        allowed_models: body.allowed_models,
        expires_at: body.expires_at,
        spend_cap: body.spend_cap.map(|c| easel_core::credits::SpendCap {
            credits: c.credits,
            period: c.period,
        }),
    };
    let grantable = caller.effective_scopes();
    let (key, secret) = keys::create(
        &state,
        &caller.account_id,
        &caller.user_id,
        caller.mode,
        spec,
        &grantable,
        caller.audit(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ApiKeyWithSecret {
            key: key.into(),
            secret,
        }),
    ))
}
