//! Row structs of the worker tables and their conversion into domain types.

use crate::DbError;
use crate::workers::{LeaseOutcome, Worker, WorkerLease};

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("unexpected {what} `{value}`"))
}

/// A stored counter (BIGINT, only ever incremented from 0).
fn counter(what: &str, value: i64) -> Result<u64, DbError> {
    u64::try_from(value).map_err(|_| corrupt(what, &value.to_string()))
}

fn model_list(what: &str, json: &str) -> Result<Vec<String>, DbError> {
    serde_json::from_str(json).map_err(|_| corrupt(what, json))
}

/// A model list as stored: a JSON array.
pub(crate) fn models_json(models: &[String]) -> String {
    serde_json::to_string(models).unwrap_or_else(|_| "[]".into())
}

#[derive(sqlx::FromRow)]
pub(crate) struct WorkerRow {
    id: String,
    name: String,
    display_prefix: String,
    models: String,
    serving: String,
    version: Option<String>,
    created_at: i64,
    last_seen_at: Option<i64>,
    revoked_at: Option<i64>,
    jobs_done: i64,
    jobs_failed: i64,
    leases_lost: i64,
    quarantined_until: Option<i64>,
}

impl TryFrom<WorkerRow> for Worker {
    type Error = DbError;
    fn try_from(r: WorkerRow) -> Result<Self, DbError> {
        Ok(Worker {
            models: model_list("models", &r.models)?,
            serving: model_list("serving", &r.serving)?,
            jobs_done: counter("jobs_done", r.jobs_done)?,
            jobs_failed: counter("jobs_failed", r.jobs_failed)?,
            leases_lost: counter("leases_lost", r.leases_lost)?,
            id: r.id,
            name: r.name,
            display_prefix: r.display_prefix,
            version: r.version,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            revoked_at: r.revoked_at,
            quarantined_until: r.quarantined_until,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LeaseRow {
    id: String,
    worker_id: String,
    job_id: String,
    attempt: i32,
    claimed_at: i64,
    deadline_at: i64,
    lease_until: i64,
    ended_at: Option<i64>,
    outcome: Option<String>,
    completion_digest: Option<String>,
}

impl TryFrom<LeaseRow> for WorkerLease {
    type Error = DbError;
    fn try_from(r: LeaseRow) -> Result<Self, DbError> {
        let outcome = match &r.outcome {
            Some(s) => Some(LeaseOutcome::parse(s).ok_or_else(|| corrupt("lease outcome", s))?),
            None => None,
        };
        Ok(WorkerLease {
            attempt: u32::try_from(r.attempt)
                .map_err(|_| corrupt("attempt", &r.attempt.to_string()))?,
            outcome,
            id: r.id,
            worker_id: r.worker_id,
            job_id: r.job_id,
            claimed_at: r.claimed_at,
            deadline_at: r.deadline_at,
            lease_until: r.lease_until,
            ended_at: r.ended_at,
            completion_digest: r.completion_digest,
        })
    }
}
