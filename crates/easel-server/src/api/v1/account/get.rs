//! `GET /v1/account`: the calling key's organisation.

use axum::Json;

use super::dto::{AccountObject, CallerObject};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;

/// Retrieve the account
///
/// Returns the organisation that owns the API key, its members, and what the key may do.
#[utoipa::path(
    get,
    path = "/v1/account",
    tag = tags::ACCOUNT,
    operation_id = "get_account",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The account", body = AccountObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_account(state: AppState, caller: Caller) -> ApiResult<Json<AccountObject>> {
    // Served from the node's account cache, which every change to the account evicts.
    let view = state.auth.account_view(&caller.account_id).await?;
    let (account, members) = (view.account.clone(), view.members.clone());
    let limits = crate::limits::Limits::resolve(&state.config, &account.plan, &account.limits);
    let me = CallerObject {
        api_key_id: caller.key_id.clone(),
        user_id: caller.user_id.clone(),
        role: caller.role,
        scopes: caller.effective_scopes(),
    };
    Ok(Json(AccountObject::new(
        account,
        members,
        me,
        caller.mode.is_live(),
        limits,
    )))
}
