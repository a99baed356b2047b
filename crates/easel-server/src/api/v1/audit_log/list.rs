//! `GET /v1/audit_log`: the account's own audit log, newest first.

use axum::Json;
use easel_core::ids::IdKind;

use super::dto::AuditLogEntryObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{List, ListParams};

/// List audit log entries
///
/// Security-relevant actions on the account (keys created, rotated and revoked, member and
/// role changes, suspensions, …) in both modes, newest first. Needs `logs:read`.
#[utoipa::path(
    get,
    path = "/v1/audit_log",
    tag = tags::AUDIT,
    operation_id = "list_audit_log",
    security(("api_key" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of entries", body = List<AuditLogEntryObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_audit_log(
    state: AppState,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<List<AuditLogEntryObject>>> {
    let page = params.page(IdKind::Audit)?;
    let limit = page.limit;
    let rows = state
        .store
        .list_audit(Some(&caller.account_id), page)
        .await?;
    Ok(Json(List::from_rows(
        rows,
        limit,
        |e| e.id.clone(),
        AuditLogEntryObject::from,
    )))
}
