//! `PATCH /v1/webhook_endpoints/{id}`.

use axum::extract::Path;

use super::dto::{UpdateWebhookEndpointRequest, WebhookEndpointObject};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Json};
use crate::services::webhooks::{self, EndpointPatchSpec};

/// Update a webhook endpoint
///
/// Changes the URL (vetted like a new one), description, subscribed events, or whether it
/// is enabled. Re-enabling an endpoint Easel disabled also forgets its failures; what it
/// missed can be replayed from its delivery log. Needs `webhooks:write`.
#[utoipa::path(
    patch,
    path = "/v1/webhook_endpoints/{id}",
    tag = tags::WEBHOOKS,
    operation_id = "update_webhook_endpoint",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint id (`whk_…`)")),
    request_body = UpdateWebhookEndpointRequest,
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpointObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn update_webhook_endpoint(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateWebhookEndpointRequest>,
) -> ApiResult<axum::Json<WebhookEndpointObject>> {
    let spec = EndpointPatchSpec {
        url: body.url,
        description: body.description,
        enabled_events: body.enabled_events,
        enabled: body.enabled,
    };
    let endpoint = webhooks::update(
        &state,
        &caller.account_id,
        caller.mode,
        &id,
        spec,
        caller.audit(),
    )
    .await?;
    Ok(axum::Json(endpoint.into()))
}
