//! `Json<T>`: a JSON body, checked for media type and size, with errors that name the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::http::error::{ApiError, ErrorCode};

/// A JSON request body deserialized into `T`. Bodies must be `application/json` (or
/// `…+json`); unknown fields are refused by the DTOs (`deny_unknown_fields`).
pub struct Json<T>(pub T);

/// Like [`Json`], but an empty body is taken as `{}` (for actions whose fields are all
/// optional, such as rotate).
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                ErrorCode::invalid_json,
                "The request body is empty; send a JSON object.",
            ));
        }
        parse(&bytes).map(Json)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return parse(b"{}").map(OptionalJson);
        }
        parse(&bytes).map(OptionalJson)
    }
}

async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::body_too_large,
                    "The request body is larger than this server accepts.",
                )
            } else {
                ApiError::new(
                    ErrorCode::invalid_json,
                    "The request body could not be read.",
                )
            }
        })?;
    if !bytes.is_empty() {
        let is_json = content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::unsupported_media_type,
                "Send the body as JSON with `Content-Type: application/json`.",
            ));
        }
    }
    Ok(bytes)
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_data() {
            super::serde_error(e.path(), &inner.to_string())
        } else {
            syntax_error(bytes, inner)
        }
    })?;
    de.end().map_err(|_| {
        ApiError::new(
            ErrorCode::invalid_json,
            "The request body has trailing characters after the JSON value.",
        )
    })?;
    // Strings reach storage: refuse control characters here, once, for every JSON body.
    crate::http::text::check_json(bytes)?;
    Ok(value)
}

/// The `invalid_json` error for a body that is not JSON at all.
fn syntax_error(bytes: &[u8], inner: &serde_json::Error) -> ApiError {
    let why = if std::str::from_utf8(bytes).is_err() {
        "it is not valid UTF-8"
    } else if inner.to_string().starts_with("recursion limit exceeded") {
        "it is nested too deeply (at most 128 levels)"
    } else if inner.is_eof() {
        "it ends before the JSON value is complete"
    } else {
        "it is not valid JSON"
    };
    ApiError::new(
        ErrorCode::invalid_json,
        format!(
            "The request body could not be parsed: {why} (line {}, column {}).",
            inner.line(),
            inner.column()
        ),
    )
}
