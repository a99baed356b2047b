//! `POST /v1/generations/{id}/cancel`.

use std::time::Duration;

use axum::Json;
use axum::extract::Path;

use super::dto::GenerationObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::generations;

/// How long a cancel waits for a running job to stop before answering.
const SETTLE: Duration = Duration::from_secs(2);

/// Cancel a generation
///
/// A queued generation is canceled at once. A running one is asked to stop: the answer
/// waits briefly for it and says `canceled` if it stopped, else `running` (it stops within
/// a heartbeat; fetch it again). Canceling a canceled generation is not an error; one that
/// already succeeded, failed or expired gets 409.
#[utoipa::path(
    post,
    path = "/v1/generations/{id}/cancel",
    tag = tags::GENERATIONS,
    operation_id = "cancel_generation",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The generation id (`gen_…`)")),
    responses(
        (status = 200, description = "The generation", body = GenerationObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn cancel_generation(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GenerationObject>> {
    super::check_id(&id)?;
    let mut g = generations::cancel(&state, &caller, &id).await?;
    if !g.status.is_terminal() {
        g = generations::wait_for(&state, &caller, g, SETTLE).await?;
    }
    let standing = generations::queue_standing(&state, &g).await;
    Ok(Json(GenerationObject::build(&state, g, standing)))
}
