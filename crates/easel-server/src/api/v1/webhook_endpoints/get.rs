//! `GET /v1/webhook_endpoints/{id}`.

use axum::Json;
use axum::extract::Path;

use super::dto::WebhookEndpointObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;
use crate::services::webhooks::check_endpoint_id;

/// Retrieve a webhook endpoint
///
/// Without its secret (shown only when created or rotated). Needs `webhooks:read`.
#[utoipa::path(
    get,
    path = "/v1/webhook_endpoints/{id}",
    tag = tags::WEBHOOKS,
    operation_id = "get_webhook_endpoint",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint id (`whk_…`)")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpointObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_webhook_endpoint(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookEndpointObject>> {
    check_endpoint_id(&id)?;
    let endpoint = state
        .store
        .get_webhook_endpoint(&caller.account_id, caller.mode, &id)
        .await
        .or_not_found("webhook_endpoint", &id)?;
    Ok(Json(endpoint.into()))
}
