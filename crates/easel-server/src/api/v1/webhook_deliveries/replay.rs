//! `POST /v1/webhook_deliveries/{id}/replay`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;

use super::dto::WebhookDeliveryObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::webhooks;

/// Replay a webhook delivery
///
/// Sends the same message again (same `webhook-id`, fresh timestamp and signature) as a
/// new attempt, within a second or so: the delivery is `pending` until it is made. A
/// delivery that had ended gets one manual attempt and no new retry schedule; a pending
/// one is tried now and keeps its schedule. The endpoint must be enabled (409
/// `webhook_endpoint_disabled` otherwise). Audited. Needs `webhooks:write`.
#[utoipa::path(
    post,
    path = "/v1/webhook_deliveries/{id}/replay",
    tag = tags::WEBHOOKS,
    operation_id = "replay_webhook_delivery",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The delivery id (`whd_…`)")),
    responses(
        (status = 202, description = "The delivery, pending its new attempt", body = WebhookDeliveryObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn replay_webhook_delivery(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<WebhookDeliveryObject>)> {
    let delivery =
        webhooks::replay(&state, &caller.account_id, caller.mode, &id, caller.audit()).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery.into())))
}
