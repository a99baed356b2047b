//! `GET /v1/end_users`.

use axum::Json;
use easel_db::{EndUserFilter, Page};
use serde::Deserialize;

use super::dto::EndUserObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{DEFAULT_LIMIT, List, MAX_LIMIT, check_limit};
use crate::services::generations::check_user;

/// `?limit=&starting_after=&blocked=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EndUserParams {
    /// Objects to return, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// An end user id from the previous page (the list is in id order).
    pub starting_after: Option<String>,
    /// `true`: only blocked end users; `false`: only unblocked ones.
    pub blocked: Option<bool>,
}

/// List end users
///
/// The caller's end users (in its mode) that were struck or blocked, by id. Needs
/// `logs:read`.
#[utoipa::path(
    get,
    path = "/v1/end_users",
    tag = tags::MODERATION,
    operation_id = "list_end_users",
    security(("api_key" = [])),
    params(EndUserParams),
    responses(
        (status = 200, description = "A page of end users", body = List<EndUserObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_end_users(
    state: AppState,
    caller: Caller,
    Query(params): Query<EndUserParams>,
) -> ApiResult<Json<List<EndUserObject>>> {
    let limit = check_limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    if let Some(cursor) = &params.starting_after {
        check_user("starting_after", cursor)?;
    }
    let page = Page {
        limit,
        starting_after: params.starting_after,
    };
    let filter = EndUserFilter {
        blocked: params.blocked,
    };
    let rows = state
        .store
        .list_end_users(&caller.account_id, caller.mode, filter, page)
        .await?;
    Ok(Json(List::from_rows(
        rows,
        limit,
        |u| u.user.clone(),
        EndUserObject::from,
    )))
}
