//! `GET /v1/balance`.

use axum::Json;
use easel_core::models::credits_to_eur;

use super::dto::BalanceObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;

/// Retrieve the balance
///
/// Credits owned, held by generations in progress, and available, read live (not cached).
#[utoipa::path(
    get,
    path = "/v1/balance",
    tag = tags::BILLING,
    operation_id = "get_balance",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The balance", body = BalanceObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_balance(state: AppState, caller: Caller) -> ApiResult<Json<BalanceObject>> {
    let b = state.store.balance(&caller.account_id, caller.mode).await?;
    Ok(Json(BalanceObject {
        object: "balance",
        livemode: caller.mode.is_live(),
        balance: b.balance,
        held: b.held,
        available: b.available(),
        available_eur: credits_to_eur(b.available()),
    }))
}
