//! `POST /worker/v1/leases/{lease_id}/heartbeat`, `…/complete` and `…/fail`.

use axum::Json as JsonResponse;
use axum::extract::Path;

use super::TAG;
use super::auth::WorkerCaller;
use super::dto::{
    CompleteRequest, CompleteResponse, FailRequest, FailResponse, HeartbeatRequest,
    HeartbeatResponse,
};
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Json, OptionalJson};
use crate::workers::complete;

/// Heartbeat a lease
///
/// Extends the lease (never past its deadline) and records progress, shown to the
/// developer on the running generation. `cancel: true` means the generation was canceled:
/// stop, the lease has ended. A lease that lapsed answers 409 `lease_lost`.
#[utoipa::path(
    post,
    path = "/worker/v1/leases/{lease_id}/heartbeat",
    tag = TAG,
    operation_id = "heartbeat_lease",
    security(("worker_token" = [])),
    params(("lease_id" = String, Path, description = "The lease id (`lease_…`)")),
    request_body(content = HeartbeatRequest, description = "Progress; may be empty"),
    responses(
        (status = 200, description = "The lease's new end, and whether to stop", body = HeartbeatResponse),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn heartbeat_lease(
    state: AppState,
    WorkerCaller(worker): WorkerCaller,
    Path(lease_id): Path<String>,
    OptionalJson(body): OptionalJson<HeartbeatRequest>,
) -> ApiResult<JsonResponse<HeartbeatResponse>> {
    crate::workers::heartbeat::heartbeat(&state, &worker, &lease_id, &body)
        .await
        .map(JsonResponse)
}

/// Complete a lease
///
/// Names the outputs uploaded for this lease; Easel reads them back, decodes and checks
/// them (type, size, length), moderates them and stores them, and the generation
/// succeeds. A repeat of an accepted completion answers the same 200, so retrying after a
/// network failure is safe. 409 `lease_lost` if the lease lapsed (another worker may have
/// the job), 422 `outputs_rejected` if the outputs failed the checks (the job is retried
/// or failed like any failed attempt).
#[utoipa::path(
    post,
    path = "/worker/v1/leases/{lease_id}/complete",
    tag = TAG,
    operation_id = "complete_lease",
    security(("worker_token" = [])),
    params(("lease_id" = String, Path, description = "The lease id (`lease_…`)")),
    request_body = CompleteRequest,
    responses(
        (status = 200, description = "Accepted", body = CompleteResponse),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn complete_lease(
    state: AppState,
    WorkerCaller(worker): WorkerCaller,
    Path(lease_id): Path<String>,
    Json(body): Json<CompleteRequest>,
) -> ApiResult<JsonResponse<CompleteResponse>> {
    complete::complete(&state, &worker, &lease_id, &body)
        .await
        .map(JsonResponse)
}

/// Fail a lease
///
/// Reports that the run failed: `transient` and `interrupted` go back to the queue while
/// the job has attempts left, `permanent`, `misconfigured` and `content_refused` fail the
/// generation now. Nothing is charged for a failed generation. The message reaches the
/// developer only after URLs, paths, addresses and secrets are removed.
#[utoipa::path(
    post,
    path = "/worker/v1/leases/{lease_id}/fail",
    tag = TAG,
    operation_id = "fail_lease",
    security(("worker_token" = [])),
    params(("lease_id" = String, Path, description = "The lease id (`lease_…`)")),
    request_body = FailRequest,
    responses(
        (status = 200, description = "Recorded", body = FailResponse),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn fail_lease(
    state: AppState,
    WorkerCaller(worker): WorkerCaller,
    Path(lease_id): Path<String>,
    Json(body): Json<FailRequest>,
) -> ApiResult<JsonResponse<FailResponse>> {
    complete::fail(&state, &worker, &lease_id, &body)
        .await
        .map(JsonResponse)
}
