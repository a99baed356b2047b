//! `DELETE /v1/webhook_endpoints/{id}`.

use axum::Json;
use axum::extract::Path;

use super::dto::DeletedWebhookEndpoint;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;
use crate::services::webhooks::check_endpoint_id;

/// Delete a webhook endpoint
///
/// Nothing more is delivered to it (pending deliveries end unsent); its delivery log
/// stays readable. Needs `webhooks:write`.
#[utoipa::path(
    delete,
    path = "/v1/webhook_endpoints/{id}",
    tag = tags::WEBHOOKS,
    operation_id = "delete_webhook_endpoint",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint id (`whk_…`)")),
    responses(
        (status = 200, description = "The endpoint is deleted", body = DeletedWebhookEndpoint),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn delete_webhook_endpoint(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DeletedWebhookEndpoint>> {
    check_endpoint_id(&id)?;
    let endpoint = state
        .store
        .delete_webhook_endpoint(&caller.account_id, caller.mode, &id, caller.audit())
        .await
        .or_not_found("webhook_endpoint", &id)?;
    Ok(Json(DeletedWebhookEndpoint {
        id: endpoint.id,
        object: "webhook_endpoint",
        deleted: true,
    }))
}
