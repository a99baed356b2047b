//! The worker API's wire types, shared by the server's handlers and `easel worker` (the
//! reference worker is a client of exactly these types, so the two cannot drift).
//!
//! Times a worker acts on are relative (`*_in_ms`): leases run on the server's clock, and a
//! worker whose clock is off by minutes must still heartbeat in time. Absolute times (Unix
//! seconds) are given for logs only.

use easel_core::models::ModelKind;
use easel_engines::GenerationRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /worker/v1/me`: who the token is and how the server wants to be worked with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkerInfo {
    /// `wrk_…`
    pub id: String,
    pub name: String,
    /// The models this token may claim, with what an engine needs to know about each.
    pub models: Vec<WorkerModel>,
    /// How long a lease lasts without a heartbeat.
    pub lease_ms: u64,
    /// How often to heartbeat a held lease (a third of the lease, or less).
    pub heartbeat_interval_ms: u64,
    /// The longest a claim waits for work before answering 204.
    pub max_claim_wait_ms: u64,
    /// The most jobs one claim hands out.
    pub max_jobs_per_claim: u32,
    /// The largest output file accepted, in bytes.
    pub max_output_bytes: u64,
}

/// A model a worker may serve.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkerModel {
    pub id: String,
    pub kind: ModelKind,
    /// The longest one generation may take, from claim to completion.
    pub timeout_seconds: u64,
}

/// `POST /worker/v1/claim`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The models this worker serves now (each must be allowed by its token). Jobs of other
    /// models are never handed out.
    pub models: Vec<String>,
    /// At most this many jobs (1 to `max_jobs_per_claim`; default 1).
    #[serde(default)]
    pub max_jobs: Option<u32>,
    /// Wait up to this long for work before answering 204 (default and cap:
    /// `max_claim_wait_ms`; 0 answers at once).
    #[serde(default)]
    pub wait_ms: Option<u64>,
    /// What the worker is (`easel-worker/0.1.0 comfyui`), shown in `worker list`.
    #[serde(default)]
    pub version: Option<String>,
}

/// `200` of a claim: one or more leases.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimResponse {
    pub leases: Vec<Lease>,
}

/// One claimed job, held until the lease lapses or ends.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Lease {
    /// `lease_…`: names the lease in every later call.
    pub lease_id: String,
    /// `gen_…`
    pub generation_id: String,
    pub model: String,
    /// 1 for the first try.
    pub attempt: u32,
    pub max_attempts: u32,
    /// The lease lapses this long from now unless a heartbeat extends it.
    pub lease_expires_in_ms: u64,
    /// Unix seconds, for logs: the server's clock decides.
    pub lease_expires_at: i64,
    /// No heartbeat extends the lease past this (the model's timeout), from now.
    pub deadline_in_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// What to generate. `input_image` carries only its type: fetch the bytes from
    /// `input_image_url`.
    #[schema(value_type = Object)]
    pub request: GenerationRequest,
    /// Where to GET the input image of an image-to-image request: a path on this server
    /// (send the worker token) or a presigned object-store URL (send nothing).
    pub input_image_url: Option<String>,
    /// Where to PUT each output, one per index (`request.n` for images, 1 for a video).
    pub outputs: Vec<UploadTarget>,
}

/// Where one output goes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadTarget {
    pub index: u32,
    /// `PUT` the file here with its `Content-Type` and `Content-Length`: a path on this
    /// server starting with `/worker/v1/` (send the worker token), or a presigned
    /// object-store URL (send no token; it expires with the lease's deadline).
    pub url: String,
    /// True for a presigned object-store URL.
    pub presigned: bool,
}

/// `POST /worker/v1/leases/{lease_id}/heartbeat`
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// How far along the generation is, 0 to 1.
    #[serde(default)]
    pub progress: Option<f64>,
    /// What it is doing (`sampling 12/30`), up to 200 characters, shown to the developer.
    #[serde(default)]
    pub message: Option<String>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatResponse {
    /// True: the generation was canceled. Stop now; the lease has ended and nothing more
    /// will be accepted for it.
    pub cancel: bool,
    pub lease_expires_in_ms: u64,
    pub lease_expires_at: i64,
}

/// `201` of an output upload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadedOutput {
    pub index: u32,
    pub content_type: String,
    pub bytes: u64,
}

/// `POST /worker/v1/leases/{lease_id}/complete`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// Every output, uploaded before this call, in order.
    pub outputs: Vec<CompletedOutput>,
    /// What the backend reported it spent, kept for the operator (any JSON object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub usage: Option<serde_json::Value>,
}

/// One uploaded output of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletedOutput {
    pub index: u32,
    /// The seed the backend used for it, if it says.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// The answer to a completion (the same for an identical repeat).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CompleteResponse {
    pub generation_id: String,
    /// `succeeded`, or `failed` when output moderation withheld the outputs.
    pub status: String,
}

/// Whether a failed run is worth another try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The backend was down, timed out or ran out of memory: the job goes back to the
    /// queue if it has attempts left.
    Transient,
    /// The backend rejected the request and would again: the generation fails now.
    Permanent,
    /// The backend is set up wrong (a missing checkpoint, a bad key): fails now, and the
    /// operator is told.
    Misconfigured,
    /// The backend's own safety system refused the prompt: fails now, nothing is charged.
    ContentRefused,
    /// The worker stopped without finishing (shutting down): back to the queue, and the
    /// attempt is not held against the worker.
    Interrupted,
}

/// `POST /worker/v1/leases/{lease_id}/fail`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    pub kind: FailureKind,
    /// What went wrong, up to 500 characters. Shown to the developer only after the
    /// server removes URLs, paths, addresses and secrets from it; logged in full.
    pub message: String,
    /// For `transient`: do not retry before this many seconds.
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
}

/// The answer to a failure report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FailResponse {
    /// The generation's status now: `queued` (it will be retried), `failed` or `canceled`.
    pub status: String,
}
