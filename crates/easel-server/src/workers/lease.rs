//! One lease as the worker API sees it: whose it is, whether it still holds its job, and
//! the claim's answer built from the job's generation.

use std::time::Duration;

use easel_core::time::now_ms;
use easel_db::{Generation, Job, Worker, WorkerLease};
use easel_queue::JobError;

use crate::api::worker::dto::{Lease, UploadTarget};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::outputs::Outputs;

/// The lease `lease_id` of `worker`, whatever its state. Another worker's lease is a
/// conflict, not a secret: lease ids are random and only ever handed to their worker.
pub async fn of_worker(app: &AppState, worker: &Worker, lease_id: &str) -> ApiResult<WorkerLease> {
    let lease = app.store.get_lease(lease_id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::resource_missing, "No such lease.").param("lease_id")
    })?;
    if lease.worker_id != worker.id {
        return Err(ApiError::new(
            ErrorCode::lease_of_another_worker,
            "This lease belongs to another worker.",
        ));
    }
    Ok(lease)
}

/// The lease and its job, if the lease still holds the job; else 409 `lease_lost`.
pub async fn held(
    app: &AppState,
    worker: &Worker,
    lease_id: &str,
) -> ApiResult<(WorkerLease, Job)> {
    let lease = of_worker(app, worker, lease_id).await?;
    let job = app.store.get_job(&lease.job_id).await?;
    if lease.ended_at.is_some() || !holds(&lease, &job) {
        return Err(lost());
    }
    Ok((lease, job))
}

/// Whether `lease` is the job's current lease holder.
pub fn holds(lease: &WorkerLease, job: &Job) -> bool {
    job.status == easel_core::jobs::JobStatus::Running
        && job.lease_owner.as_deref() == Some(lease.id.as_str())
}

pub fn lost() -> ApiError {
    ApiError::new(
        ErrorCode::lease_lost,
        "This lease is no longer held: it lapsed (no heartbeat in time, or past its deadline) or its job ended. Drop the job; nothing more is accepted for it.",
    )
}

/// How many outputs a generation produces: `n` images, or one video.
pub fn expected_outputs(request: &easel_engines::GenerationRequest) -> u32 {
    match request.kind {
        easel_core::models::ModelKind::Video => 1,
        easel_core::models::ModelKind::Image => request.n.max(1),
    }
}

/// The claim's answer for one leased job: marks its generation running and describes it.
/// A job whose generation cannot be run (it ended already, its input is unreadable) is an
/// error for the caller to fail the job with.
pub async fn describe(
    app: &AppState,
    lease: &WorkerLease,
    job: &Job,
    generation: Option<Generation>,
) -> Result<Lease, JobError> {
    // The claim marked the generation running and returned it: nothing to read here.
    let Some(g) = generation else {
        return Err(JobError::Fatal(
            "internal_error: the job has no generation".into(),
        ));
    };
    if g.status.is_terminal() {
        return Err(JobError::Fatal(
            "internal_error: the generation already ended".into(),
        ));
    }
    if crate::metrics::generations::changed_at(g.started_at, lease.claimed_at) {
        app.metrics.generations.entered(&g.model, g.status);
    }
    let (request, input) = crate::jobs::run::describe(&g, lease.attempt)?;
    let now = now_ms();
    let until_deadline = Duration::from_millis(u64::try_from(lease.deadline_at - now).unwrap_or(0));
    let input_image_url = match &input.input_image {
        None => None,
        Some(image) => Some(
            match app
                .outputs
                .presign(axum::http::Method::GET, &image.path, until_deadline)
                .await
            {
                Some(url) => url,
                None => format!("/worker/v1/leases/{}/input", lease.id),
            },
        ),
    };
    let mut outputs = Vec::new();
    for index in 0..expected_outputs(&request) {
        let path = Outputs::upload_path(&lease.id, index);
        let target = match app
            .outputs
            .presign(axum::http::Method::PUT, &path, until_deadline)
            .await
        {
            Some(url) => UploadTarget {
                index,
                url,
                presigned: true,
            },
            None => UploadTarget {
                index,
                url: format!("/worker/v1/leases/{}/outputs/{index}", lease.id),
                presigned: false,
            },
        };
        outputs.push(target);
    }
    let w = &app.config.workers;
    Ok(Lease {
        lease_id: lease.id.clone(),
        generation_id: g.id.clone(),
        model: g.model.clone(),
        attempt: lease.attempt,
        max_attempts: job.max_attempts,
        lease_expires_in_ms: u64::try_from(lease.lease_until - now).unwrap_or(0),
        lease_expires_at: lease.lease_until.div_euclid(1000),
        deadline_in_ms: until_deadline.as_millis() as u64,
        heartbeat_interval_ms: w.heartbeat_interval_ms(),
        request,
        input_image_url,
        outputs,
    })
}
