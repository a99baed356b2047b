//! What the fake answers: OpenAI's error envelope, the scripted faults, and the pictures
//! (base64, or files behind `/files/<name>` for URL answers).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::{Fault, Shared};
use crate::fakes::images;

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

/// An error answer in OpenAI's envelope: `{"error":{message,type,param,code}}`.
#[derive(Debug, Clone)]
pub(super) struct Oops {
    status: u16,
    body: serde_json::Value,
    headers: Vec<(String, String)>,
}

impl Oops {
    /// A 400 `invalid_request_error`.
    pub fn invalid(code: Option<&str>, param: Option<&str>, message: impl Into<String>) -> Oops {
        Oops::new(400, "invalid_request_error", code, param, message)
    }

    pub fn new(
        status: u16,
        kind: &str,
        code: Option<&str>,
        param: Option<&str>,
        message: impl Into<String>,
    ) -> Oops {
        let body = json!({"error": {"message": message.into(), "type": kind,
                                    "param": param, "code": code}});
        Oops {
            status,
            body,
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: &str, value: impl ToString) -> Oops {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn model_not_found(model: &str) -> Oops {
        Oops::new(
            404,
            "invalid_request_error",
            Some("model_not_found"),
            None,
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
    }

    pub fn unknown_parameter(name: &str) -> Oops {
        Oops::invalid(
            Some("unknown_parameter"),
            Some(name),
            format!("Unknown parameter: '{name}'."),
        )
    }

    pub fn missing(name: &str) -> Oops {
        Oops::invalid(
            Some("missing_required_parameter"),
            Some(name),
            format!("Missing required parameter: '{name}'."),
        )
    }

    pub fn no_key() -> Oops {
        Oops::invalid(
            None,
            None,
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
        .status(401)
    }

    /// OpenAI's 401 shows the start and the end of the wrong key.
    pub fn wrong_key(key: &str) -> Oops {
        let chars: Vec<char> = key.chars().collect();
        let head: String = chars.iter().take(3).collect();
        let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
        Oops::new(
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
            None,
            format!(
                "Incorrect API key provided: {head}****{tail}. You can find your API key at \
                 https://platform.openai.com/account/api-keys."
            ),
        )
    }

    fn status(mut self, status: u16) -> Oops {
        self.status = status;
        self
    }
}

impl IntoResponse for Oops {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Every OpenAI answer carries its request id.
        let mut response = (
            status,
            [("x-request-id", "req_fake0123456789")],
            axum::Json(self.body),
        )
            .into_response();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// The answer a fault makes, or `None` when it only delays or alters the normal answer.
pub(super) async fn fault_answer(s: &Shared, fault: &Fault, model: &str) -> Option<Response> {
    let json_text = |body: String| ([("content-type", "application/json")], body).into_response();
    let html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    Some(match fault {
        Fault::Unavailable { retry_after_secs } => Oops::new(
            503,
            "server_error",
            None,
            None,
            "The server is overloaded or not ready yet.",
        )
        .with("retry-after", retry_after_secs)
        .into_response(),
        Fault::RateLimited { retry_after_ms } => Oops::new(
            429,
            "requests",
            Some("rate_limit_exceeded"),
            None,
            "Rate limit reached for images per min. Please try again later.",
        )
        .with("retry-after-ms", retry_after_ms)
        .with("x-ratelimit-remaining-requests", 0)
        .into_response(),
        Fault::Error {
            status,
            kind,
            code,
            param,
            message,
            headers,
        } => Oops {
            headers: headers.clone(),
            ..Oops::new(
                *status,
                kind,
                code.as_deref(),
                param.as_deref(),
                message.clone(),
            )
        }
        .into_response(),
        Fault::Moderation { stage, categories } => moderation(stage.as_deref(), categories),
        Fault::ContentPolicy => Oops::invalid(
            Some("content_policy_violation"),
            None,
            "Your request was rejected as a result of our safety system. Your prompt may \
             contain text that is not allowed by our safety system.",
        )
        .into_response(),
        Fault::InvalidApiKey => Oops::wrong_key("sk-proj-fake-wrong-key").into_response(),
        Fault::ModelNotFound => Oops::model_not_found(model).into_response(),
        Fault::Html => (
            [("content-type", "text/html")],
            "<html><h1>Welcome</h1></html>",
        )
            .into_response(),
        Fault::BadGatewayHtml => (
            StatusCode::BAD_GATEWAY,
            [("content-type", "text/html")],
            html,
        )
            .into_response(),
        Fault::TruncatedJson => json_text(format!(
            "{{\"created\":1700000000,\"data\":[{{\"b64_json\":\"{}",
            &picture(s, (64, 64), 0)[..40]
        )),
        Fault::NoImages => {
            axum::Json(json!({"created": 1_700_000_000, "data": []})).into_response()
        }
        Fault::OkWithError => axum::Json(json!({"error": {"message": "upstream provider error",
            "type": "server_error", "param": null, "code": null}}))
        .into_response(),
        // Written by hand: going through serde_json would copy tens of megabytes again.
        Fault::Huge { bytes } => json_text(format!(
            "{{\"created\":1700000000,\"data\":[{{\"b64_json\":\"{}\"}}]}}",
            B64.encode(vec![0u8; *bytes])
        )),
        Fault::NotAnImage => {
            axum::Json(json!({"data": [{"b64_json": B64.encode("this is not a picture")}]}))
                .into_response()
        }
        Fault::BadBase64 => {
            axum::Json(json!({"data": [{"b64_json": "!!not base64!!"}]})).into_response()
        }
        Fault::Slow(wait) => {
            tokio::time::sleep(*wait).await;
            return None;
        }
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return None;
        }
        Fault::UrlAnswer | Fault::WrongSize { .. } => return None,
    })
}

/// GPT image's refusal; without a stage, only the message names the categories.
fn moderation(stage: Option<&str>, categories: &[String]) -> Response {
    let message = format!(
        "Your request was rejected by the safety system. If you believe this is an error, \
         contact us at help.openai.com and include the request ID req_0123456789abcdef. \
         safety_violations=[{}].",
        categories.join(", ")
    );
    let mut error = json!({"message": message, "type": "image_generation_user_error",
                           "param": null, "code": "moderation_blocked"});
    if let Some(stage) = stage {
        error["moderation_details"] = json!({"moderation_stage": stage, "categories": categories});
    }
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error}))).into_response()
}

/// Base64 of the `index`th test picture of `size`, encoded once per size and index.
pub(super) fn picture(s: &Shared, (width, height): (u32, u32), index: usize) -> Arc<str> {
    let key = (width, height, index);
    if let Some(hit) = s.pictures.lock().ok().and_then(|p| p.get(&key).cloned()) {
        return hit;
    }
    let b64: Arc<str> = B64
        .encode(images::png(width, height, index as u64 + 1))
        .into();
    if let Ok(mut pictures) = s.pictures.lock() {
        pictures.insert(key, b64.clone());
    }
    b64
}

/// Stores a picture under `/files/` and returns its URL, as DALL·E's answers point at
/// short-lived blobs.
pub(super) fn file_url(s: &Shared, b64: &str) -> String {
    let bytes = B64.decode(b64).unwrap_or_default();
    let name = format!("img-{}.png", ulid::Ulid::new());
    if let Ok(mut files) = s.files.lock() {
        files.insert(name.clone(), bytes);
    }
    let addr = s.addr.map(|a| a.to_string()).unwrap_or_default();
    format!("http://{addr}/files/{name}")
}
