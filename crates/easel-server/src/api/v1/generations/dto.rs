//! The generation object, its request body, and the quote.

use easel_core::jobs::JobStatus;
use easel_core::time::{ms_to_secs, now_ms};
use easel_db::Generation;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::outputs::Outputs;
use crate::services::generations::GenerationSpec;

/// `POST /v1/generations` (and `/quote`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGenerationRequest {
    /// A model id from `GET /v1/models`.
    pub model: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    /// Width and height together pick one of the model's sizes (default: its first).
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Images to make (image models; default 1).
    pub n: Option<u32>,
    /// Same model, prompt, seed and size give the same output. Default: random.
    pub seed: Option<i64>,
    /// Video models only (default: the model's first duration).
    pub duration_seconds: Option<u32>,
    /// Video models only (default: the model's first frame rate).
    pub fps: Option<u32>,
    /// Base64 (or a `data:` URL) of a PNG, JPEG or WebP image.
    pub input_image: Option<String>,
    /// Your own id for the end user this is for (lets you cut one of them off).
    pub user: Option<String>,
    /// Up to 16 string values of your own, returned on the object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// If given, must match the key's mode (test keys create test generations only).
    pub livemode: Option<bool>,
}

impl From<CreateGenerationRequest> for GenerationSpec {
    fn from(r: CreateGenerationRequest) -> Self {
        GenerationSpec {
            model: r.model,
            prompt: r.prompt,
            negative_prompt: r.negative_prompt,
            width: r.width,
            height: r.height,
            n: r.n,
            seed: r.seed,
            duration_seconds: r.duration_seconds,
            fps: r.fps,
            input_image: r.input_image,
            input_upload: None,
            user: r.user,
            metadata: r.metadata,
            livemode: r.livemode,
        }
    }
}

/// One output file.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputObject {
    /// A signed URL that works until `url_expires_at`; fetch the generation again for a
    /// fresh one.
    pub url: String,
    /// Unix seconds.
    pub url_expires_at: i64,
    /// `image/png` or `video/mp4`.
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    /// Length of a video, in seconds.
    pub duration_seconds: Option<f64>,
    /// Size of the file.
    pub bytes: i64,
    /// When the output is deleted under your plan's retention (unix seconds).
    pub expires_at: i64,
    /// What you may do with it, from your plan when it was made.
    pub licence: String,
}

/// Credits of a generation (test mode: always 0).
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerationCredits {
    /// Held when the generation was created.
    pub estimated: i64,
    /// Charged when it ended (null until then).
    pub charged: Option<i64>,
}

/// Why a generation failed or expired.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerationError {
    /// `engine_error`, `engine_unavailable`, `engine_timeout`, `engine_bad_output`,
    /// `engine_misconfigured`, `backend_content_refused`, `output_storage_failed`,
    /// `output_moderated`, `moderation_unavailable`, `worker_lost`, `queue_timeout`,
    /// `internal_error`.
    pub code: String,
    pub message: String,
}

/// A request to make images or a video, and what came of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerationObject {
    /// Always `generation`.
    #[schema(value_type = String, example = "generation")]
    pub object: &'static str,
    /// `gen_…`
    pub id: String,
    pub status: JobStatus,
    pub model: String,
    /// The request as validated (with the seed used).
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    pub outputs: Vec<OutputObject>,
    pub credits: GenerationCredits,
    /// `non_commercial`, `commercial_attribution` or `white_label`.
    pub licence: String,
    pub error: Option<GenerationError>,
    /// While queued: jobs ahead of this one (0: next; counting stops at 10000).
    pub queue_position: Option<i64>,
    /// While queued or running: expected seconds until it finishes, from the reported
    /// progress while running, else from recent run times (null until the model has run
    /// recently).
    pub eta_seconds: Option<i64>,
    /// While running: how far along it is, 0 to 1, as the backend reports it (null when
    /// the backend reports nothing).
    pub progress: Option<f64>,
    /// While running: what the backend says it is doing (`sampling 12/30`), if anything.
    pub progress_message: Option<String>,
    pub user: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub livemode: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Set once deleted: the outputs are gone.
    pub deleted_at: Option<i64>,
}

impl GenerationObject {
    /// The object for `g`, with fresh signed URLs and its queue standing.
    pub fn build(
        state: &AppState,
        g: Generation,
        standing: crate::services::generations::Standing,
    ) -> GenerationObject {
        let now = now_ms();
        let mut input = g.input;
        // The stored image's location is ours, not the developer's.
        if let Some(image) = input.get_mut("input_image").and_then(|v| v.as_object_mut()) {
            image.remove("path");
        }
        let outputs = g
            .outputs
            .into_iter()
            .filter(|o| o.deleted_at.is_none() && o.expires_at > now)
            .map(|o| {
                let path = Outputs::url_path(&g.id, o.idx, &o.content_type);
                let (url, url_expires_ms) = state.outputs.signed_url(&path, now, o.expires_at);
                OutputObject {
                    url,
                    url_expires_at: ms_to_secs(url_expires_ms),
                    content_type: o.content_type,
                    width: o.width,
                    height: o.height,
                    duration_seconds: o.duration_ms.map(|ms| ms as f64 / 1000.0),
                    bytes: o.bytes,
                    expires_at: ms_to_secs(o.expires_at),
                    licence: g.licence.clone(),
                }
            })
            .collect();
        let error = g.error_code.map(|code| GenerationError {
            code,
            message: g.error_message.unwrap_or_default(),
        });
        GenerationObject {
            object: "generation",
            id: g.id,
            status: g.status,
            model: g.model,
            input,
            outputs,
            credits: GenerationCredits {
                estimated: g.credits_estimated,
                charged: g.credits_charged,
            },
            licence: g.licence,
            error,
            queue_position: standing.position,
            eta_seconds: standing.eta_seconds,
            progress: standing.progress,
            progress_message: standing.progress_message,
            user: g.end_user,
            metadata: g.metadata,
            livemode: g.mode.is_live(),
            created_at: ms_to_secs(g.created_at),
            started_at: g.started_at.map(ms_to_secs),
            finished_at: g.finished_at.map(ms_to_secs),
            deleted_at: g.deleted_at.map(ms_to_secs),
        }
    }
}

/// A reason a quoted call would be refused now.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteRefusal {
    /// The error code the call would get.
    pub code: crate::http::error::ErrorCode,
    pub message: String,
}

/// What a generation would cost and how long it would take, without making it.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteObject {
    /// Always `quote`.
    #[schema(value_type = String, example = "quote")]
    pub object: &'static str,
    pub model: String,
    pub livemode: bool,
    /// What the call costs in this key's mode (test mode: 0), in whole credits.
    pub credits: i64,
    /// The same in euros, excluding tax.
    pub eur: String,
    /// What it costs in live mode.
    pub live_credits: i64,
    /// The account's available credits in this mode now.
    pub available_credits: i64,
    /// Whether the call would be accepted now.
    pub allowed: bool,
    /// Why not, if not.
    pub refusals: Vec<QuoteRefusal>,
    /// Jobs queued for this model right now (counting stops at 10000).
    pub queue_position: i64,
    /// Expected seconds until it would finish, from recent run times (null until the
    /// model has run recently).
    pub eta_seconds: Option<i64>,
    /// `up`; `paused` while the model's backend is failing and its breaker holds the
    /// queue (jobs wait, then run once a probe finds the backend answering again); or
    /// `no_workers` for a model run by remote workers when none is connected (jobs wait
    /// in the queue until one is, up to the model's queue time).
    #[schema(example = "up")]
    pub backend: &'static str,
    /// For a model run by remote workers (live mode): how many serve it now. Absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers_online: Option<u32>,
    /// The request as it would be run.
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
}

/// `?limit=&starting_after=&status=&model=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListGenerationsParams {
    /// Objects to return, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// A generation id from the previous page; this page starts after it.
    pub starting_after: Option<String>,
    /// Only generations with this status.
    pub status: Option<String>,
    /// Only generations of this model.
    pub model: Option<String>,
}
