//! `GET /worker/v1/me`.

use axum::Json;

use super::TAG;
use super::auth::WorkerCaller;
use super::dto::{WorkerInfo, WorkerModel};
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};

/// Who this worker is
///
/// The worker's name, the models its token may claim (with their kind and timeout), and
/// the lease, heartbeat and claim settings to work with. `easel worker` calls it at start.
#[utoipa::path(
    get,
    path = "/worker/v1/me",
    tag = TAG,
    operation_id = "get_worker",
    security(("worker_token" = [])),
    responses(
        (status = 200, description = "The worker", body = WorkerInfo),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_worker(
    state: AppState,
    WorkerCaller(worker): WorkerCaller,
) -> ApiResult<Json<WorkerInfo>> {
    let w = &state.config.workers;
    let models = worker
        .models
        .iter()
        .filter_map(|id| {
            let m = state
                .config
                .models
                .get(id)
                .filter(|m| m.enabled && m.engine == crate::workers::ENGINE)?;
            Some(WorkerModel {
                id: id.clone(),
                kind: m.kind,
                timeout_seconds: m.timeout_seconds,
            })
        })
        .collect();
    Ok(Json(WorkerInfo {
        id: worker.id,
        name: worker.name,
        models,
        lease_ms: w.lease_ms,
        heartbeat_interval_ms: w.heartbeat_interval_ms(),
        max_claim_wait_ms: w.max_claim_wait_ms,
        max_jobs_per_claim: w.max_jobs_per_claim,
        max_output_bytes: state.config.generations.max_output_bytes as u64,
    }))
}
