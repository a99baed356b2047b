//! `POST /v1/webhook_endpoints/{id}/rotate_secret`.

use axum::extract::Path;

use super::dto::{RotateWebhookSecretRequest, WebhookEndpointObject};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, OptionalJson};
use crate::services::webhooks;

/// Rotate a webhook endpoint's secret
///
/// Returns the new secret (shown this once). During the overlap every delivery carries
/// two signatures in `webhook-signature`, one per secret, so receivers can switch without
/// missing a delivery. Audited. Needs `webhooks:write`.
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints/{id}/rotate_secret",
    tag = tags::WEBHOOKS,
    operation_id = "rotate_webhook_secret",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint id (`whk_…`)")),
    request_body(content = RotateWebhookSecretRequest, description = "Optional; `{}` or no body is fine"),
    responses(
        (status = 200, description = "The endpoint with its new secret", body = WebhookEndpointObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn rotate_webhook_secret(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RotateWebhookSecretRequest>,
) -> ApiResult<axum::Json<WebhookEndpointObject>> {
    let (endpoint, secret) = webhooks::rotate(
        &state,
        &caller.account_id,
        caller.mode,
        &id,
        body.overlap_seconds,
        caller.audit(),
    )
    .await?;
    Ok(axum::Json(WebhookEndpointObject::with_secret(
        endpoint, secret,
    )))
}
