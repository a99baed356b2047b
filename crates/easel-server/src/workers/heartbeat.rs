//! A lease's heartbeat: it extends the lease (never past its deadline), records the
//! worker's progress, and is where a cancel request reaches a remote worker.

use easel_core::jobs::JobStatus;
use easel_core::time::now_ms;
use easel_db::{Heartbeat, LeaseOutcome, Worker};
use easel_queue::JobError;

use super::complete::{end, record};
use super::lease::{self, lost};
use crate::api::worker::dto::{HeartbeatRequest, HeartbeatResponse};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode};

/// Extends a held lease and records progress; a cancel request ends the lease here.
pub async fn heartbeat(
    app: &AppState,
    worker: &Worker,
    lease_id: &str,
    beat: &HeartbeatRequest,
) -> ApiResult<HeartbeatResponse> {
    if let Some(p) = beat.progress
        && !(p.is_finite() && (0.0..=1.0).contains(&p))
    {
        return Err(ApiError::new(
            ErrorCode::parameter_invalid,
            "progress must be between 0 and 1.",
        )
        .param("progress"));
    }
    crate::api::worker::at_most("message", beat.message.as_deref(), 200)?;
    let lease = lease::of_worker(app, worker, lease_id).await?;
    if lease.ended_at.is_some() {
        return Err(lost());
    }
    let now = now_ms();
    let until = (now + app.config.workers.lease_ms as i64).min(lease.deadline_at);
    let held = app
        .store
        .heartbeat_lease(&lease, until, beat.progress, beat.message.as_deref(), now)
        .await?;
    match held {
        Heartbeat::Lost => {
            end(app, &lease, LeaseOutcome::Lost, None).await;
            Err(lost())
        }
        Heartbeat::Held {
            cancel_requested: true,
        } => {
            let job = app.store.get_job(&lease.job_id).await?;
            let status = record(app, &job, &lease, Err(JobError::Canceled), true).await?;
            match status {
                Some(JobStatus::Canceled) => {
                    end(app, &lease, LeaseOutcome::Canceled, None).await;
                    Ok(answer(now, now, true))
                }
                _ => Err(lost()),
            }
        }
        Heartbeat::Held {
            cancel_requested: false,
        } => Ok(answer(until, now, false)),
    }
}

fn answer(until: i64, now: i64, cancel: bool) -> HeartbeatResponse {
    HeartbeatResponse {
        cancel,
        lease_expires_in_ms: u64::try_from(until - now).unwrap_or(0),
        lease_expires_at: until.div_euclid(1000),
    }
}
