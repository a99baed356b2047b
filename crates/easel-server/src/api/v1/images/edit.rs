//! `POST /v1/images/edits`, in OpenAI's wire format: a `multipart/form-data` form with one
//! input image.
//!
//! It is `POST /v1/images/generations` with an input image: the same generation, checks
//! (the image as the native `input_image`), answer and errors. OpenAI's other edit fields
//! are treated as the generations endpoint treats them: `quality` is accepted and ignored,
//! the rest are unknown parameters; a `mask` is refused, since Easel's models change the
//! whole image.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;

use super::form::{self, Kind, Value};
use super::generate::{ImagesCall, ImagesResponse, ResponseFormat, run};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::request_log::LogDetails;
use crate::services::generations::Upload;

/// The fields read as text.
const TEXT_FIELDS: [&str; 7] = [
    "prompt",
    "model",
    "n",
    "size",
    "response_format",
    "user",
    "quality",
];
/// Parts a form may have: every field once, with room for a client's harmless extras to be
/// named in an error rather than cut off.
const MAX_PARTS: usize = 32;

/// OpenAI's image edit request, sent as `multipart/form-data`.
#[derive(Debug, ToSchema)]
pub struct ImageEditRequest {
    /// The image to start from: one PNG, JPEG or WebP file of at most
    /// `generations.max_input_image_bytes` (as `image`, or as a one-file `image[]`).
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
    /// What to make of the image.
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
}

/// Edit an image (OpenAI-compatible)
///
/// OpenAI's `images.edit`: point an OpenAI SDK's `base_url` at `/v1` of this server. The
/// image is the generation's input image, checked as `input_image` is on
/// `POST /v1/generations`; the generation is an ordinary one, answered as
/// `POST /v1/images/generations` answers. `mask` is not supported (400).
#[utoipa::path(
    post,
    path = "/v1/images/edits",
    tag = tags::GENERATIONS,
    operation_id = "edit_images_openai",
    security(("api_key" = [])),
    request_body(content = ImageEditRequest, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The images", body = ImagesResponse),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn edit_images(state: AppState, caller: Caller, request: Request) -> Response {
    let body = match read(&state, request).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let details = LogDetails::of(&state.config, body.user.as_deref(), &body.prompt);
    details.attach(edit(state, caller, body).await)
}

async fn edit(
    state: AppState,
    caller: Caller,
    body: ImageEditRequest,
) -> ApiResult<Json<ImagesResponse>> {
    let call = ImagesCall {
        model: body.model,
        prompt: body.prompt,
        n: body.n,
        size: body.size,
        response_format: body.response_format,
        user: body.user,
        input_upload: Some(Upload {
            param: "image",
            bytes: body.image,
        }),
    };
    run(&state, &caller, call).await
}

/// Reads the form into the request.
async fn read(state: &AppState, request: Request) -> ApiResult<ImageEditRequest> {
    let generations = &state.config.generations;
    let limits = form::Limits {
        max_parts: MAX_PARTS,
        // A prompt of the most characters allowed, each as long as UTF-8 makes one.
        max_text_bytes: generations.max_prompt_chars.saturating_mul(4).max(1024),
    };
    let image_limit = generations.max_input_image_bytes;
    let mut seen = BTreeSet::new();
    let parts = form::read(request, &limits, |name| admit(name, &mut seen, image_limit)).await?;
    let mut image = None;
    let mut texts = Texts::default();
    for part in parts {
        match part.value {
            Value::File(bytes) => image = Some(bytes),
            Value::Text(value) => texts.set(&part.name, value),
        }
    }
    let image = image.ok_or_else(|| missing("image"))?;
    if image.is_empty() {
        return Err(ApiError::invalid("image", "`image` is an empty file."));
    }
    Ok(ImageEditRequest {
        image,
        prompt: texts.prompt.ok_or_else(|| missing("prompt"))?,
        model: texts.model,
        n: texts.n.as_deref().map(parse_n).transpose()?,
        size: texts.size,
        response_format: texts
            .response_format
            .as_deref()
            .map(parse_response_format)
            .transpose()?,
        user: texts.user,
        quality: texts.quality,
    })
}

/// How to read the part called `name`, or why it is refused; `seen` holds the fields
/// already read.
fn admit(name: &str, seen: &mut BTreeSet<&'static str>, image_limit: usize) -> ApiResult<Kind> {
    if name == "image" || name == "image[]" {
        if !seen.insert("image") {
            return Err(ApiError::invalid(
                "image",
                "Send one image: Easel's models take a single input image.",
            ));
        }
        return Ok(Kind::File {
            max_bytes: image_limit,
        });
    }
    if name == "mask" || name == "mask[]" {
        return Err(ApiError::invalid(
            "mask",
            "`mask` is not supported: the model changes the whole image as `prompt` asks; send `image` and `prompt` only.",
        ));
    }
    let Some(field) = TEXT_FIELDS.iter().copied().find(|f| *f == name) else {
        return Err(ApiError::new(
            ErrorCode::parameter_unknown,
            format!("Unknown parameter `{name}`."),
        )
        .param(name.to_string()));
    };
    if !seen.insert(field) {
        return Err(ApiError::invalid(
            field,
            format!("Parameter `{field}` is given more than once."),
        ));
    }
    Ok(Kind::Text)
}

/// The text fields of the form, as sent.
#[derive(Default)]
struct Texts {
    prompt: Option<String>,
    model: Option<String>,
    n: Option<String>,
    size: Option<String>,
    response_format: Option<String>,
    user: Option<String>,
    quality: Option<String>,
}

impl Texts {
    /// Stores a field `admit` let through (each once, and no other).
    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "prompt" => &mut self.prompt,
            "model" => &mut self.model,
            "n" => &mut self.n,
            "size" => &mut self.size,
            "response_format" => &mut self.response_format,
            "user" => &mut self.user,
            "quality" => &mut self.quality,
            _ => return,
        };
        *slot = Some(value);
    }
}

fn missing(field: &'static str) -> ApiError {
    ApiError::new(
        ErrorCode::parameter_missing,
        format!("Missing required parameter `{field}`."),
    )
    .param(field)
}

fn parse_n(text: &str) -> ApiResult<u32> {
    text.trim()
        .parse()
        .map_err(|_| ApiError::invalid("n", "`n` must be a non-negative integer."))
}

fn parse_response_format(text: &str) -> ApiResult<ResponseFormat> {
    match text {
        "url" => Ok(ResponseFormat::Url),
        "b64_json" => Ok(ResponseFormat::B64Json),
        other => {
            let shown: String = other.chars().take(80).collect();
            Err(ApiError::invalid(
                "response_format",
                format!("`response_format` must be `url` or `b64_json`; got `{shown}`."),
            ))
        }
    }
}
