//! Easel's job runner, over the durable queue in `easel_db::JobStore`.
//!
//! A job kind implements [`Job`] (a serde payload with a `KIND` and a `run`); a [`Runner`]
//! holds a registry of kinds and runs worker slots per queue. Each slot claims a job with a
//! lease, keeps the lease alive with heartbeats while the job runs, and records the outcome.
//! A heartbeat that finds a cancel request, or finds the lease lost, cancels the job's
//! [`CancellationToken`]. A panic in a job is caught and counts as a retryable failure.
//! Because a job may run again after a crash (a lease that expired is re-leased), every job
//! must be idempotent. Remote workers (`easel worker`, later) use the same lease protocol.

#![forbid(unsafe_code)]

mod registry;
mod runner;

pub use registry::{Job, JobError, RunInfo, enqueue};
pub use runner::{
    Backoff, Runner, RunnerConfig, RunnerControl, RunnerHandle, jittered, record_outcome, wake_all,
};
pub use tokio_util::sync::CancellationToken;
