//! `GET /v1/events`.

use axum::Json;
use easel_core::ids::IdKind;

use super::dto::EventObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{List, ListParams};

/// List events
///
/// Events of the caller's mode, newest first. Needs `webhooks:read`: these are the events
/// webhook endpoints receive.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = tags::EVENTS,
    operation_id = "list_events",
    security(("api_key" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of events", body = List<EventObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_events(
    state: AppState,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<List<EventObject>>> {
    let page = params.page(IdKind::Event)?;
    let limit = page.limit;
    let rows = state
        .store
        .list_events(&caller.account_id, caller.mode, page)
        .await?;
    Ok(Json(List::from_rows(
        rows,
        limit,
        |e| e.id.clone(),
        EventObject::from,
    )))
}
