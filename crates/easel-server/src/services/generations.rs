//! Generations: validating a request, pricing it, enqueueing it, and waiting for it.
//!
//! Validation errors (a bad field) are 4xx answers that name the field; policy checks (the
//! plan, the key's model allow-list) are separate so that a quote can report them as "not
//! allowed now" instead of failing.

use std::time::Duration;

use base64::Engine as _;
use easel_core::ids::IdKind;
use easel_core::jobs::JobStatus;
use easel_core::models::{self, ModelKind, Size};
use easel_core::time::now_ms;
use easel_db::{Generation, NewGeneration, NewJob};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::Caller;
use crate::config::ModelConfig;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::jobs::RunGeneration;
use crate::metrics::generations::changed_at;

/// A generation request as the API receives it (native and OpenAI shapes map onto it).
#[derive(Debug, Clone, Default)]
pub struct GenerationSpec {
    pub model: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub n: Option<u32>,
    pub seed: Option<i64>,
    pub duration_seconds: Option<u32>,
    pub fps: Option<u32>,
    pub input_image: Option<String>,
    /// An input image uploaded as a file (`POST /v1/images/edits`), checked as
    /// `input_image` is.
    pub input_upload: Option<Upload>,
    pub user: Option<String>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub livemode: Option<bool>,
}

/// An uploaded input image and the form field it came in, which its errors name.
#[derive(Clone)]
pub struct Upload {
    pub param: &'static str,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Upload {
    // The bytes would flood any log that prints a spec.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("param", &self.param)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The validated request, stored as the generation's `input` and read back by the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationInput {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    pub width: u32,
    pub height: u32,
    pub n: u32,
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_image: Option<InputImage>,
}

/// A stored input image: where it is and what it is, never its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputImage {
    pub content_type: String,
    pub bytes: u64,
    pub sha256: String,
    /// Object store path.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub path: String,
}

/// A request that passed validation, priced.
pub struct Validated<'a> {
    pub model_id: String,
    pub model: &'a ModelConfig,
    pub input: GenerationInput,
    /// The decoded input image, stored when the generation is created.
    pub image_bytes: Option<Vec<u8>>,
    pub end_user: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// What the call costs in the caller's mode (0 in test mode).
    pub credits: i64,
    /// What it would cost in live mode.
    pub live_credits: i64,
}

/// Largest `user` id.
const MAX_USER_CHARS: usize = 256;
/// Metadata limits (as Stripe's): keys, key length, value length.
const MAX_METADATA_KEYS: usize = 16;
const MAX_METADATA_KEY_CHARS: usize = 40;
const MAX_METADATA_VALUE_CHARS: usize = 500;

/// Checks an end user id (`user`): 1 to 256 characters, no control characters.
pub fn check_user(param: &'static str, user: &str) -> ApiResult<()> {
    if user.is_empty()
        || user.chars().count() > MAX_USER_CHARS
        || user.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            param,
            format!(
                "`{param}` must be 1 to {MAX_USER_CHARS} characters without control characters."
            ),
        ));
    }
    Ok(())
}

/// Checks every field of `spec` for the caller, without side effects.
pub fn validate<'a>(
    state: &'a AppState,
    caller: &Caller,
    spec: GenerationSpec,
) -> ApiResult<Validated<'a>> {
    let config = &state.config;
    if let Some(live) = spec.livemode
        && live != caller.mode.is_live()
    {
        return Err(ApiError::invalid(
            "livemode",
            format!(
                "This is a {} key; it can only create {} generations.",
                caller.mode.as_str(),
                caller.mode.as_str()
            ),
        ));
    }
    if spec.model.is_empty() {
        return Err(
            ApiError::new(ErrorCode::parameter_missing, "`model` is required.").param("model"),
        );
    }
    let Some(model) = config.model(&spec.model) else {
        let shown: String = spec.model.chars().take(64).collect();
        return Err(ApiError::new(
            ErrorCode::model_not_found,
            format!("No such model: '{shown}'. GET /v1/models lists the models you can use."),
        )
        .param("model"));
    };
    let prompt = check_text("prompt", &spec.prompt, config.generations.max_prompt_chars)?;
    if prompt.trim().is_empty() {
        return Err(ApiError::invalid("prompt", "`prompt` must not be empty."));
    }
    let negative_prompt = match &spec.negative_prompt {
        Some(text) => Some(check_text(
            "negative_prompt",
            text,
            config.generations.max_prompt_chars,
        )?),
        None => None,
    };
    let size = check_size(model, spec.width, spec.height)?;
    let (n, duration_seconds, fps) = match model.kind {
        ModelKind::Image => {
            if spec.duration_seconds.is_some() {
                return Err(ApiError::invalid(
                    "duration_seconds",
                    format!(
                        "`{}` makes images; `duration_seconds` is for video models.",
                        spec.model
                    ),
                ));
            }
            if spec.fps.is_some() {
                return Err(ApiError::invalid(
                    "fps",
                    format!("`{}` makes images; `fps` is for video models.", spec.model),
                ));
            }
            let n = spec.n.unwrap_or(1);
            if !(1..=model.max_n).contains(&n) {
                return Err(ApiError::invalid(
                    "n",
                    format!(
                        "`n` must be between 1 and {} for `{}`.",
                        model.max_n, spec.model
                    ),
                ));
            }
            (n, None, None)
        }
        ModelKind::Video => {
            if spec.n.is_some_and(|n| n != 1) {
                return Err(ApiError::invalid(
                    "n",
                    "Video models make one video per call; `n` must be 1.",
                ));
            }
            let duration = spec
                .duration_seconds
                .or(model.durations.first().copied())
                .unwrap_or(1);
            if !model.durations.contains(&duration) {
                return Err(ApiError::invalid(
                    "duration_seconds",
                    format!(
                        "`duration_seconds` must be one of {:?} for `{}`.",
                        model.durations, spec.model
                    ),
                ));
            }
            let fps = spec.fps.or(model.fps.first().copied()).unwrap_or(1);
            if !model.fps.contains(&fps) {
                return Err(ApiError::invalid(
                    "fps",
                    format!("`fps` must be one of {:?} for `{}`.", model.fps, spec.model),
                ));
            }
            (1, Some(duration), Some(fps))
        }
    };
    let seed = match spec.seed {
        Some(seed) if seed < 0 => {
            return Err(ApiError::invalid("seed", "`seed` must be 0 or more."));
        }
        Some(seed) => seed.unsigned_abs(),
        // Chosen here and stored, so a retried job draws the very same picture.
        None => u64::from(rand::thread_rng().r#gen::<u32>()),
    };
    let max_image_bytes = config.generations.max_input_image_bytes;
    let checked = match (&spec.input_image, spec.input_upload) {
        (Some(encoded), _) => Some(check_input_image(encoded, max_image_bytes)?),
        (None, Some(upload)) => Some(check_image_bytes(
            upload.param,
            upload.bytes,
            max_image_bytes,
        )?),
        (None, None) => None,
    };
    let (image_bytes, input_image) = checked.unzip();
    if let Some(user) = &spec.user {
        check_user("user", user)?;
    }
    let end_user = spec.user;
    let metadata = match spec.metadata {
        Some(map) => Some(check_metadata(map)?),
        None => None,
    };
    let markup = config.markup();
    let live_credits = match model.kind {
        ModelKind::Image => models::image_price(model.web_price, size, n, markup),
        ModelKind::Video => {
            models::video_price(model.web_price, size, duration_seconds.unwrap_or(1), markup)
        }
    };
    Ok(Validated {
        model_id: spec.model,
        model,
        input: GenerationInput {
            prompt,
            negative_prompt,
            width: size.width,
            height: size.height,
            n,
            seed,
            duration_seconds,
            fps,
            input_image,
        },
        image_bytes,
        end_user,
        metadata,
        credits: if caller.mode.is_live() {
            live_credits
        } else {
            0
        },
        live_credits,
    })
}

/// Why the caller may not run a valid request now (plan, key allow-list). Empty: allowed.
pub fn policy_refusals(_state: &AppState, caller: &Caller, v: &Validated<'_>) -> Vec<ApiError> {
    let mut refusals = Vec::new();
    if !v.model.plans.is_empty() && !v.model.plans.contains(&caller.plan) {
        refusals.push(
            ApiError::new(
                ErrorCode::model_not_on_plan,
                format!(
                    "The `{}` plan does not include `{}`; plans that do: {}.",
                    caller.plan,
                    v.model_id,
                    v.model.plans.join(", ")
                ),
            )
            .param("model"),
        );
    }
    if let Some(allowed) = &caller.allowed_models
        && !allowed.contains(&v.model_id)
    {
        refusals.push(
            ApiError::new(
                ErrorCode::model_not_allowed_for_key,
                format!("This API key may not use `{}`.", v.model_id),
            )
            .param("model"),
        );
    }
    refusals
}

/// Validates, checks policy, stores any input image and enqueues the generation.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    spec: GenerationSpec,
) -> ApiResult<easel_db::Enqueued> {
    let v = match validate(state, caller, spec) {
        Ok(v) => v,
        Err(e) => return Err(charge_invalid_input_fee(state, caller, e).await),
    };
    if let Err(e) = screen(state, caller, &v).await {
        return Err(charge_invalid_input_fee(state, caller, e).await);
    }
    if let Some(refusal) = policy_refusals(state, caller, &v).into_iter().next() {
        return Err(refusal);
    }
    let config = &state.config;
    let id = IdKind::Generation.generate();
    let mut input = v.input;
    if let (Some(bytes), Some(image)) = (v.image_bytes, input.input_image.as_mut()) {
        let path = format!(
            "{}/{id}/input.{}",
            caller.account_id,
            crate::outputs::extension(&image.content_type)
        );
        state
            .outputs
            .put(&path, bytes)
            .await
            .map_err(|e| ApiError::storage_unavailable(format!("{e:#}")))?;
        image.path = path;
    }
    let plan = config.plan(&caller.plan);
    let licence = plan.map_or("non_commercial", |p| licence_str(p.licence));
    let retention_days = plan.map_or(7, |p| p.retention_days);
    let now = now_ms();
    let queue = crate::engines::queue_name(config, &v.model_id, caller.mode);
    // Test-mode generations of a worker model run on the node's sandbox, never a worker.
    let for_workers = caller.mode.is_live() && crate::workers::is_remote(config, &v.model_id);
    let payload = serde_json::to_string(&RunGeneration {
        generation_id: id.clone(),
        retention_days,
    })
    .map_err(ApiError::internal)?;
    let limits = crate::limits::Limits::resolve(config, &caller.plan, &caller.account_limits);
    let model_id = v.model_id.clone();
    let max_queue_ms = i64::try_from(v.model.max_queue_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let new = NewGeneration {
        id,
        account_id: caller.account_id.clone(),
        api_key_id: caller.key_id.clone(),
        mode: caller.mode,
        model: v.model_id,
        kind: v.model.kind,
        input: serde_json::to_value(&input).map_err(ApiError::internal)?,
        end_user: v.end_user,
        metadata: v.metadata,
        licence: licence.to_string(),
        credits_estimated: v.credits,
        spend_cap: caller.spend_cap,
        max_open: Some(limits.concurrent_jobs),
        job: NewJob {
            id: IdKind::Job.generate(),
            queue: queue.clone(),
            kind: <RunGeneration as easel_queue::Job>::KIND.to_string(),
            payload,
            max_attempts: v.model.max_attempts,
            run_at: now,
            expires_at: Some(now.saturating_add(max_queue_ms)),
            now,
        },
    };
    let input_path = input.input_image.as_ref().map(|i| i.path.clone());
    let enqueued = match state.store.enqueue_generation(new, now).await {
        Ok(enqueued) => enqueued,
        Err(e) => {
            // Refused (credits, caps, slots): the stored input image has no generation.
            if let Some(path) = input_path
                && let Err(e) = state.outputs.delete(&path).await
            {
                tracing::warn!(path, error = %format!("{e:#}"), "could not delete the input image of a refused generation");
            }
            return Err(match e {
                easel_db::DbError::ConcurrencyLimit { limit, open } => {
                    concurrency_refusal(state, &model_id, limit, open)
                }
                e => e.into(),
            });
        }
    };
    state
        .metrics
        .generations
        .entered(&model_id, JobStatus::Queued);
    if let Some(jobs) = state.jobs.get() {
        jobs.wake(&queue);
    }
    if for_workers {
        state.workers.wake(&queue);
    }
    Ok(enqueued)
}

/// The checks between validation and any work: a blocked end user is refused (403
/// `end_user_blocked`), then the content goes through moderation (400
/// `content_policy_violation`, recorded as a strike).
pub async fn screen(state: &AppState, caller: &Caller, v: &Validated<'_>) -> ApiResult<()> {
    use crate::services::moderation::{self, Submission, Verdict};
    if let Some(user) = &v.end_user
        && state
            .store
            .end_user_blocked(&caller.account_id, caller.mode, user)
            .await?
    {
        return Err(ApiError::new(
            ErrorCode::end_user_blocked,
            "This end user (`user`) is blocked by the account; unblock it with POST /v1/end_users/{user}/unblock.",
        )
        .param("user"));
    }
    let submission = Submission {
        prompt: &v.input.prompt,
        negative_prompt: v.input.negative_prompt.as_deref(),
        image: v.image_bytes.as_deref(),
        image_type: v
            .input
            .input_image
            .as_ref()
            .map(|i| i.content_type.as_str()),
    };
    match state.moderation.check(&submission).await {
        Verdict::Allowed => Ok(()),
        Verdict::Refused(refusal) => {
            Err(moderation::refuse(state, caller, v.end_user.as_deref(), refusal).await)
        }
        Verdict::Unavailable(why) => Err(moderation::unavailable(&why)),
    }
}

/// 429 for an account whose concurrent-jobs slots are all taken. `Retry-After` is an
/// estimate: the model's recent run time (a slot frees when any open job ends).
fn concurrency_refusal(state: &AppState, model: &str, limit: u32, open: i64) -> ApiError {
    let wait = state
        .run_stats
        .mean(model)
        .map_or(1, |d| d.as_secs_f64().ceil() as u64)
        .max(1);
    ApiError::new(
        crate::http::error::ErrorCode::rate_limit_exceeded,
        format!(
            "Rate limit exceeded: this account may have {limit} generations queued or running at once and has {open}. Retry when one ends."
        ),
    )
    .details(serde_json::json!({
        "limit": "concurrent_jobs",
        "scope": "account",
        "quota": limit,
        "open": open,
    }))
    .retry_after(wait)
}

/// Charges the configured fee for a live request refused as invalid (400), once per
/// request (an idempotent replay answers the stored error without charging again), and
/// says so in the error's details.
async fn charge_invalid_input_fee(state: &AppState, caller: &Caller, e: ApiError) -> ApiError {
    let fee = state.config.pricing.invalid_input_fee;
    if fee <= 0 || !caller.mode.is_live() || e.code.status() != axum::http::StatusCode::BAD_REQUEST
    {
        return e;
    }
    let actor = easel_core::audit::Actor::key(&caller.key_id);
    match state
        .store
        .charge_invalid_input_fee(
            &caller.account_id,
            caller.mode,
            fee,
            &caller.request_id,
            &actor,
            now_ms(),
        )
        .await
    {
        Ok(charged) => e.details(serde_json::json!({"invalid_input_fee": charged})),
        Err(err) => {
            tracing::warn!(error = %err, "could not charge the invalid-input fee");
            e
        }
    }
}

/// Cancels generation `id` of the caller's account and mode: a queued one at once, a
/// running one is asked to stop (this node's runner at once, others within a heartbeat).
/// Canceling a canceled generation is not an error; one that already succeeded, failed or
/// expired is 409 `generation_already_ended`.
pub async fn cancel(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Generation> {
    use crate::services::OrNotFound;
    let now = now_ms();
    let g = state
        .store
        .cancel_generation(&caller.account_id, caller.mode, id, now)
        .await
        .or_not_found("generation", id)?;
    if g.status == JobStatus::Canceled && changed_at(g.finished_at, now) {
        state.metrics.generations.entered(&g.model, g.status);
    }
    if g.status.is_terminal() && g.status != JobStatus::Canceled {
        return Err(ApiError::new(
            ErrorCode::generation_already_ended,
            format!(
                "The generation already ended ({}); there is nothing to cancel.",
                g.status.as_str()
            ),
        )
        .param("id"));
    }
    if !g.status.is_terminal()
        && let Some(jobs) = state.jobs.get()
    {
        jobs.cancel_local(&g.job_id);
    }
    Ok(g)
}

/// Deletes generation `id`: the rows say deleted first (its URLs answer 404 from then on),
/// then its stored objects go. A failure there leaves an orphan file that no URL can
/// reach, logged for the operator. Deleting twice is 404.
pub async fn delete(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Generation> {
    use crate::services::OrNotFound;
    let now = now_ms();
    let g = state
        .store
        .delete_generation(&caller.account_id, caller.mode, id, now)
        .await
        .or_not_found("generation", id)?;
    if g.status == JobStatus::Canceled && changed_at(g.finished_at, now) {
        state.metrics.generations.entered(&g.model, g.status);
    }
    if let Some(jobs) = state.jobs.get() {
        jobs.cancel_local(&g.job_id);
    }
    let mut paths: Vec<String> = g.outputs.iter().map(|o| o.path.clone()).collect();
    if let Some(path) = g
        .input
        .pointer("/input_image/path")
        .and_then(|p| p.as_str())
    {
        paths.push(path.to_string());
    }
    for path in paths {
        if let Err(e) = state.outputs.delete(&path).await {
            tracing::error!(generation.id = %g.id, error = %format!("{e:#}"), "could not delete an output object");
        }
    }
    Ok(g)
}

/// Waits until the generation ends or `wait` passes; returns it as it is then.
pub async fn wait_for(
    state: &AppState,
    caller: &Caller,
    generation: Generation,
    wait: Duration,
) -> ApiResult<Generation> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut current = generation;
    while !current.status.is_terminal() {
        // Registered before the read, so an end between the read and the wait still wakes us.
        let ended = state.generation_ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        current = state
            .store
            .get_generation(&caller.account_id, caller.mode, &current.id)
            .await?;
        if current.status.is_terminal() {
            break;
        }
        // Jobs that end on other nodes are noticed by polling.
        let poll = tokio::time::sleep(Duration::from_millis(250));
        tokio::select! {
            () = ended => {}
            () = poll => {}
            () = tokio::time::sleep_until(deadline) => {
                return Ok(state.store.get_generation(&caller.account_id, caller.mode, &current.id).await?);
            }
        }
    }
    Ok(current)
}

/// Where a generation stands: while queued, its position and ETA; while running, the
/// progress its worker reported and the time it has left.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standing {
    pub position: Option<i64>,
    pub eta_seconds: Option<i64>,
    pub progress: Option<f64>,
    pub progress_message: Option<String>,
}

/// How `g` stands now (nothing for an ended generation).
pub async fn queue_standing(state: &AppState, g: &Generation) -> Standing {
    match g.status {
        JobStatus::Queued => queued_standing(state, g).await,
        JobStatus::Running => running_standing(state, g).await,
        _ => Standing::default(),
    }
}

/// How a generation just enqueued stands: its position is the one its creation found,
/// so answering the creation costs no count of the queue.
pub async fn standing_when_enqueued(state: &AppState, enqueued: &easel_db::Enqueued) -> Standing {
    queued_behind(state, &enqueued.generation, enqueued.jobs_ahead).await
}

async fn queued_standing(state: &AppState, g: &Generation) -> Standing {
    match state.store.jobs_ahead(&g.job_id).await {
        Ok(Some(ahead)) => queued_behind(state, g, ahead).await,
        _ => Standing::default(),
    }
}

/// A queued generation's position (`ahead`) and the time until it starts.
async fn queued_behind(state: &AppState, g: &Generation, ahead: i64) -> Standing {
    let slots = model_slots(state, &g.model, g.mode).await;
    // An open breaker holds the queue at least until its next probe.
    let paused = state.engines.paused_for(&g.model, g.mode);
    Standing {
        position: Some(ahead),
        eta_seconds: state
            .run_stats
            .eta_seconds(&g.model, ahead, slots)
            .map(|eta| eta + paused.map_or(0, |p| p.as_secs() as i64)),
        ..Standing::default()
    }
}

/// A running generation's progress (as its engine or worker last reported it) and the
/// time left: from the progress rate once there is some, else from recent run times.
async fn running_standing(state: &AppState, g: &Generation) -> Standing {
    let (progress, message) = match state.store.job_progress(&g.job_id).await {
        Ok(Some((p, m))) => (Some(p), m),
        Ok(None) => (None, None),
        Err(e) => {
            tracing::debug!(generation.id = %g.id, error = %e, "could not read a generation's progress");
            (None, None)
        }
    };
    let elapsed = g.started_at.map_or(0.0, |at| {
        (easel_core::time::now_ms() - at).max(0) as f64 / 1000.0
    });
    let eta = match progress {
        Some(p) if p >= 0.05 => Some((elapsed * (1.0 - p) / p).ceil() as i64),
        _ => state
            .run_stats
            .eta_seconds(&g.model, 0, 1)
            .map(|mean| (mean - elapsed as i64).max(1)),
    };
    Standing {
        position: None,
        eta_seconds: eta,
        progress,
        progress_message: message,
    }
}

/// Jobs of `model` that run at once: the node's slots, or for a model run by remote
/// workers, the workers serving it now (at least one, so an ETA is still given).
pub async fn model_slots(state: &AppState, model: &str, mode: easel_core::mode::Mode) -> u32 {
    if mode.is_live() && crate::workers::is_remote(&state.config, model) {
        return state
            .workers
            .serving_model(state.store.as_ref(), &state.config, model)
            .await
            .max(1);
    }
    state.config.models.get(model).map_or(1, |m| m.slots())
}

/// The stored spelling of a licence.
pub fn licence_str(licence: crate::config::Licence) -> &'static str {
    use crate::config::Licence;
    match licence {
        Licence::NonCommercial => "non_commercial",
        Licence::CommercialAttribution => "commercial_attribution",
        Licence::WhiteLabel => "white_label",
    }
}

fn check_text(param: &'static str, text: &str, max_chars: usize) -> ApiResult<String> {
    if text.chars().count() > max_chars {
        return Err(ApiError::invalid(
            param,
            format!("`{param}` is longer than {max_chars} characters."),
        ));
    }
    if text.chars().any(|c| c == '\0') {
        return Err(ApiError::invalid(
            param,
            format!("`{param}` must not contain NUL characters."),
        ));
    }
    Ok(text.to_string())
}

fn check_size(model: &ModelConfig, width: Option<u32>, height: Option<u32>) -> ApiResult<Size> {
    let sizes: Vec<Size> = model.sizes.iter().filter_map(|s| Size::parse(s)).collect();
    let Some(default) = sizes.first().copied() else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "model without sizes passed config validation"
        )));
    };
    let size = match (width, height) {
        (None, None) => return Ok(default),
        (Some(width), Some(height)) => Size { width, height },
        (Some(_), None) => {
            return Err(
                ApiError::new(ErrorCode::parameter_missing, "Give `height` with `width`.")
                    .param("height"),
            );
        }
        (None, Some(_)) => {
            return Err(
                ApiError::new(ErrorCode::parameter_missing, "Give `width` with `height`.")
                    .param("width"),
            );
        }
    };
    if !sizes.contains(&size) {
        let listed: Vec<String> = sizes.iter().map(ToString::to_string).collect();
        return Err(ApiError::invalid(
            "width",
            format!(
                "{size} is not a size this model makes; use one of {}.",
                listed.join(", ")
            ),
        ));
    }
    Ok(size)
}

/// Decodes a base64 image (optionally a `data:` URL) and checks it is a PNG, JPEG or WebP
/// no larger than `max_bytes`.
fn check_input_image(encoded: &str, max_bytes: usize) -> ApiResult<(Vec<u8>, InputImage)> {
    let param = "input_image";
    let data = match encoded.strip_prefix("data:") {
        Some(rest) => match rest.split_once(";base64,") {
            Some((_, data)) => data,
            None => {
                return Err(ApiError::invalid(
                    param,
                    "A `data:` URL must be base64 (`data:image/png;base64,…`).",
                ));
            }
        },
        None => encoded,
    };
    // Base64 is 4/3 of the bytes: refuse oversized input before decoding it.
    if data.len() / 4 * 3 > max_bytes + 3 {
        return Err(ApiError::invalid(
            param,
            format!("`input_image` is larger than {max_bytes} bytes."),
        ));
    }
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| ApiError::invalid(param, "`input_image` is not valid base64."))?;
    check_image_bytes(param, bytes, max_bytes)
}

/// Checks that `bytes` (the value of `param`) are a PNG, JPEG or WebP image no larger than
/// `max_bytes`.
fn check_image_bytes(
    param: &'static str,
    bytes: Vec<u8>,
    max_bytes: usize,
) -> ApiResult<(Vec<u8>, InputImage)> {
    if bytes.len() > max_bytes {
        return Err(ApiError::invalid(
            param,
            format!("`{param}` is larger than {max_bytes} bytes."),
        ));
    }
    let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        return Err(ApiError::invalid(
            param,
            format!("`{param}` is not a PNG, JPEG or WebP image."),
        ));
    };
    let image = InputImage {
        content_type: content_type.to_string(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        path: String::new(),
    };
    Ok((bytes, image))
}

fn check_metadata(map: serde_json::Map<String, serde_json::Value>) -> ApiResult<serde_json::Value> {
    if map.len() > MAX_METADATA_KEYS {
        return Err(ApiError::invalid(
            "metadata",
            format!("`metadata` holds at most {MAX_METADATA_KEYS} keys."),
        ));
    }
    for (key, value) in &map {
        if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS {
            return Err(ApiError::invalid(
                "metadata",
                format!("`metadata` keys are 1 to {MAX_METADATA_KEY_CHARS} characters."),
            ));
        }
        match value {
            serde_json::Value::String(s) if s.chars().count() <= MAX_METADATA_VALUE_CHARS => {}
            _ => {
                return Err(ApiError::invalid(
                    format!("metadata.{key}"),
                    format!(
                        "`metadata` values are strings of at most {MAX_METADATA_VALUE_CHARS} characters."
                    ),
                ));
            }
        }
    }
    Ok(serde_json::Value::Object(map))
}
