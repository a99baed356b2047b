//! `POST /v1/generations/quote`.

use axum::Json;
use easel_core::models::credits_to_eur;

use super::dto::{CreateGenerationRequest, QuoteObject, QuoteRefusal};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Json as JsonBody};
use crate::request_log::LogDetails;
use crate::services::generations;

/// Quote a generation
///
/// The same body as creating one; answers the exact price (computed as the generation
/// would be charged), whether it would be accepted now and why not, and the expected wait.
/// Nothing is held or queued. Invalid requests get the same 4xx a creation would.
#[utoipa::path(
    post,
    path = "/v1/generations/quote",
    tag = tags::GENERATIONS,
    operation_id = "quote_generation",
    security(("api_key" = [])),
    request_body = CreateGenerationRequest,
    responses(
        (status = 200, description = "The quote", body = QuoteObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn quote_generation(
    state: AppState,
    caller: Caller,
    JsonBody(body): JsonBody<CreateGenerationRequest>,
) -> axum::response::Response {
    let details = LogDetails::of(&state.config, body.user.as_deref(), &body.prompt);
    details.attach(quote(state, caller, body).await)
}

async fn quote(
    state: AppState,
    caller: Caller,
    body: CreateGenerationRequest,
) -> ApiResult<Json<QuoteObject>> {
    let v = generations::validate(&state, &caller, body.into())?;
    generations::screen(&state, &caller, &v).await?;
    let refusals: Vec<QuoteRefusal> = generations::policy_refusals(&state, &caller, &v)
        .into_iter()
        .map(|e| QuoteRefusal {
            code: e.code,
            message: e.message.into_owned(),
        })
        .collect();
    let mut refusals = refusals;
    let available = state
        .store
        .balance(&caller.account_id, caller.mode)
        .await?
        .available();
    if v.credits > available {
        refusals.push(QuoteRefusal {
            code: crate::http::error::ErrorCode::insufficient_credits,
            message: format!(
                "This call costs {} credits and {available} are available.",
                v.credits
            ),
        });
    }
    let queue = crate::engines::queue_name(&state.config, &v.model_id, caller.mode);
    let queued = state.store.queued_count(&queue).await?;
    let paused = state.engines.paused_for(&v.model_id, caller.mode);
    let slots = crate::services::generations::model_slots(&state, &v.model_id, caller.mode).await;
    let eta = state
        .run_stats
        .eta_seconds(&v.model_id, queued, slots)
        .map(|eta| eta + paused.map_or(0, |p| p.as_secs() as i64));
    let workers = if caller.mode.is_live() && crate::workers::is_remote(&state.config, &v.model_id)
    {
        Some(
            state
                .workers
                .serving_model(state.store.as_ref(), &state.config, &v.model_id)
                .await,
        )
    } else {
        None
    };
    let backend = match (paused, workers) {
        (Some(_), _) => "paused",
        (None, Some(0)) => "no_workers",
        _ => "up",
    };
    Ok(Json(QuoteObject {
        object: "quote",
        model: v.model_id.clone(),
        livemode: caller.mode.is_live(),
        credits: v.credits,
        eur: credits_to_eur(v.credits),
        live_credits: v.live_credits,
        available_credits: available,
        allowed: refusals.is_empty(),
        refusals,
        queue_position: queued,
        eta_seconds: eta,
        backend,
        workers_online: workers,
        input: serde_json::to_value(&v.input).unwrap_or_default(),
    }))
}
