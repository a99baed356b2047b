//! `POST /v1/webhook_endpoints`.

use axum::http::StatusCode;

use super::dto::{CreateWebhookEndpointRequest, WebhookEndpointObject};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Json};
use crate::services::webhooks::{self, EndpointSpec};

/// Create a webhook endpoint
///
/// Events of the caller's mode and subscribed types are delivered to the URL, signed per
/// Standard Webhooks with the endpoint's secret, which this response shows the only time.
/// The URL must be https on a public address (checked now, and again at every delivery);
/// a private, loopback or link-local destination is refused with `url_invalid`, which
/// never says what address a host name resolved to. Needs `webhooks:write`.
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints",
    tag = tags::WEBHOOKS,
    operation_id = "create_webhook_endpoint",
    security(("api_key" = [])),
    request_body = CreateWebhookEndpointRequest,
    responses(
        (status = 201, description = "The endpoint with its secret", body = WebhookEndpointObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn create_webhook_endpoint(
    state: AppState,
    caller: Caller,
    Json(body): Json<CreateWebhookEndpointRequest>,
) -> ApiResult<(StatusCode, axum::Json<WebhookEndpointObject>)> {
    let spec = EndpointSpec {
        url: body.url,
        description: body.description,
        enabled_events: body.enabled_events,
        enabled: body.enabled,
    };
    let (endpoint, secret) = webhooks::create(
        &state,
        &caller.account_id,
        caller.mode,
        spec,
        caller.audit(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(WebhookEndpointObject::with_secret(endpoint, secret)),
    ))
}
