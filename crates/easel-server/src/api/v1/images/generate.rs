//! `POST /v1/images/generations`, in OpenAI's wire format.
//!
//! It makes an ordinary generation (same validation, pricing, queue and events; it is
//! listed at `/v1/generations`) and answers once it has ended, as OpenAI's endpoint does.

use std::time::Duration;

use axum::Json;
use base64::Engine as _;
use easel_core::jobs::JobStatus;
use easel_core::models::{ModelKind, Size};
use easel_core::time::ms_to_secs;
use easel_db::Generation;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::v1::generations::dto::GenerationObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::http::extract::{Caller, Json as JsonBody};
use crate::request_log::LogDetails;
use crate::services::generations::{self, GenerationSpec, Upload};

/// How the images come back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    #[default]
    Url,
    B64Json,
}

/// OpenAI's image generation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImagesRequest {
    pub prompt: String,
    /// An image model id; default: `generations.default_image_model`.
    pub model: Option<String>,
    /// Images to make (default 1).
    pub n: Option<u32>,
    /// `WIDTHxHEIGHT`, one of the model's sizes (default: its first).
    pub size: Option<String>,
    pub response_format: Option<ResponseFormat>,
    /// Your id for the end user.
    pub user: Option<String>,
    /// Accepted for compatibility; the model decides quality.
    pub quality: Option<String>,
    /// Accepted for compatibility; the model decides style.
    pub style: Option<String>,
}

/// One image.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    /// Always null: prompts are used as given.
    pub revised_prompt: Option<String>,
}

/// OpenAI's image generation response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImagesResponse {
    /// Unix seconds.
    pub created: i64,
    pub data: Vec<ImageData>,
}

/// Create images (OpenAI-compatible)
///
/// OpenAI's `images.generate`: point an OpenAI SDK's `base_url` at `/v1` of this server.
/// The generation is also an ordinary one (listed at `/v1/generations`, billed and
/// limited the same way); the answer comes when it has ended, within
/// `generations.max_wait_seconds` (else 504 `generation_timeout`; the generation goes on).
#[utoipa::path(
    post,
    path = "/v1/images/generations",
    tag = tags::GENERATIONS,
    operation_id = "create_images_openai",
    security(("api_key" = [])),
    request_body = ImagesRequest,
    responses(
        (status = 200, description = "The images", body = ImagesResponse),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn create_images(
    state: AppState,
    caller: Caller,
    JsonBody(body): JsonBody<ImagesRequest>,
) -> axum::response::Response {
    let details = LogDetails::of(&state.config, body.user.as_deref(), &body.prompt);
    details.attach(create(state, caller, body).await)
}

async fn create(
    state: AppState,
    caller: Caller,
    body: ImagesRequest,
) -> ApiResult<Json<ImagesResponse>> {
    let call = ImagesCall {
        model: body.model,
        prompt: body.prompt,
        n: body.n,
        size: body.size,
        response_format: body.response_format,
        user: body.user,
        input_upload: None,
    };
    run(&state, &caller, call).await
}

/// What both OpenAI endpoints ask for, once their bodies are read.
pub(super) struct ImagesCall {
    pub model: Option<String>,
    pub prompt: String,
    pub n: Option<u32>,
    pub size: Option<String>,
    pub response_format: Option<ResponseFormat>,
    pub user: Option<String>,
    pub input_upload: Option<Upload>,
}

/// Makes the generation, waits for it and answers with its images in OpenAI's shape.
pub(super) async fn run(
    state: &AppState,
    caller: &Caller,
    call: ImagesCall,
) -> ApiResult<Json<ImagesResponse>> {
    let model = call
        .model
        .unwrap_or_else(|| state.config.generations.default_image_model.clone());
    if state
        .config
        .model(&model)
        .is_some_and(|m| m.kind != ModelKind::Image)
    {
        return Err(ApiError::invalid(
            "model",
            format!("`{model}` makes videos; this endpoint makes images."),
        ));
    }
    let (width, height) = match call.size.as_deref() {
        None | Some("auto") => (None, None),
        Some(size) => {
            let parsed = Size::parse(size).ok_or_else(|| {
                ApiError::invalid("size", "`size` is `WIDTHxHEIGHT`, e.g. `512x512`.")
            })?;
            (Some(parsed.width), Some(parsed.height))
        }
    };
    let upload_param = call.input_upload.as_ref().map(|u| u.param);
    let spec = GenerationSpec {
        model,
        prompt: call.prompt,
        width,
        height,
        n: call.n,
        user: call.user,
        input_upload: call.input_upload,
        ..GenerationSpec::default()
    };
    let created = generations::create(state, caller, spec)
        .await
        .map_err(|e| match (e.param.as_deref(), upload_param) {
            (Some("width"), _) => e.param("size"),
            // Moderation names the native field; here the image came as a form file.
            (Some("input_image"), Some(field)) => e.param(field),
            _ => e,
        })?;
    let wait = Duration::from_secs(state.config.generations.max_wait_seconds);
    let g = generations::wait_for(state, caller, created.generation, wait).await?;
    ended(&g)?;
    let format = call.response_format.unwrap_or_default();
    let created_at = ms_to_secs(g.created_at);
    let data = if format == ResponseFormat::B64Json {
        inline(state, &g).await?
    } else {
        let object =
            GenerationObject::build(state, g, crate::services::generations::Standing::default());
        object
            .outputs
            .into_iter()
            .map(|o| ImageData {
                url: Some(o.url),
                b64_json: None,
                revised_prompt: None,
            })
            .collect()
    };
    Ok(Json(ImagesResponse {
        created: created_at,
        data,
    }))
}

/// The error for a generation that did not succeed in time.
fn ended(g: &Generation) -> ApiResult<()> {
    match g.status {
        JobStatus::Succeeded => Ok(()),
        JobStatus::Queued | JobStatus::Running => Err(ApiError::new(
            ErrorCode::generation_timeout,
            format!(
                "The generation {} did not finish in time; it goes on, see GET /v1/generations/{}.",
                g.id, g.id
            ),
        )),
        _ => {
            let why = g
                .error_message
                .clone()
                .unwrap_or_else(|| g.status.as_str().to_string());
            Err(ApiError::new(
                ErrorCode::generation_failed,
                format!("The generation {} {}: {why}", g.id, g.status.as_str()),
            ))
        }
    }
}

/// The outputs as base64.
async fn inline(state: &AppState, g: &Generation) -> ApiResult<Vec<ImageData>> {
    let mut data = Vec::with_capacity(g.outputs.len());
    for o in &g.outputs {
        let bytes = state
            .outputs
            .get(&o.path)
            .await
            .map_err(ApiError::storage_unavailable)?;
        data.push(ImageData {
            url: None,
            b64_json: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            revised_prompt: None,
        });
    }
    Ok(data)
}
