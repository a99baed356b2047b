//! `POST /v1/generations`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::dto::{CreateGenerationRequest, GenerationObject};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Json};
use crate::request_log::LogDetails;
use crate::services::generations;

/// Create a generation
///
/// Validates and prices the request, then queues it and answers 202 with the generation.
/// With `Prefer: wait=N` (N ≤ 60) the answer waits until the generation ends or N seconds
/// pass: 200 if it ended, else 202; `Preference-Applied` says the wait was honoured. With
/// `Idempotency-Key`, a retry with the same key and body gets the first answer again.
#[utoipa::path(
    post,
    path = "/v1/generations",
    tag = tags::GENERATIONS,
    operation_id = "create_generation",
    security(("api_key" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: same key and body, same answer, for 24 hours"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: hold the answer up to N seconds (at most 60) for the generation to end"),
    ),
    request_body = CreateGenerationRequest,
    responses(
        (status = 200, description = "The generation, ended while the request waited", body = GenerationObject),
        (status = 202, description = "The generation, queued or running", body = GenerationObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn create_generation(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<CreateGenerationRequest>,
) -> Response {
    let details = LogDetails::of(&state.config, body.user.as_deref(), &body.prompt);
    details.attach(create(state, caller, headers, body).await)
}

async fn create(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    body: CreateGenerationRequest,
) -> ApiResult<Response> {
    let enqueued = generations::create(&state, &caller, body.into()).await?;
    let wait =
        super::preferred_wait(&headers).map(|w| w.min(state.config.generations.max_wait_seconds));
    let (generation, standing) = match wait {
        Some(seconds) => {
            let generation = generations::wait_for(
                &state,
                &caller,
                enqueued.generation,
                Duration::from_secs(seconds),
            )
            .await?;
            let standing = generations::queue_standing(&state, &generation).await;
            (generation, standing)
        }
        None => {
            let standing = generations::standing_when_enqueued(&state, &enqueued).await;
            (enqueued.generation, standing)
        }
    };
    let status = if generation.status.is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut response = (
        status,
        axum::Json(GenerationObject::build(&state, generation, standing)),
    )
        .into_response();
    if let Some(seconds) = wait
        && let Ok(value) = HeaderValue::from_str(&format!("wait={seconds}"))
    {
        response.headers_mut().insert("preference-applied", value);
    }
    Ok(response)
}
