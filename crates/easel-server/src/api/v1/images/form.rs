//! Reading a `multipart/form-data` body part by part, within limits.
//!
//! A part is admitted or refused from its name before any of its content is read, so an
//! unknown or repeated field costs nothing to refuse, and a part is cut off as soon as it
//! outgrows its limit rather than after it has been buffered. Text parts obey the same
//! character rule as JSON strings (`http::text`).

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};

use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::http::text;

/// How an admitted part is read.
pub(super) enum Kind {
    Text,
    File { max_bytes: usize },
}

/// A part's content.
pub(super) enum Value {
    Text(String),
    File(Vec<u8>),
}

/// One part of the form.
pub(super) struct Part {
    pub name: String,
    pub value: Value,
}

/// Limits beyond the server's body limit, which applies to the whole form.
pub(super) struct Limits {
    pub max_parts: usize,
    pub max_text_bytes: usize,
}

/// Longest part name accepted; names are echoed in errors.
const MAX_NAME_BYTES: usize = 100;

/// Reads every part of the form in `request`. `admit` sees each part's name before its
/// content and says how to read it, or refuses it.
pub(super) async fn read(
    request: Request,
    limits: &Limits,
    mut admit: impl FnMut(&str) -> ApiResult<Kind>,
) -> ApiResult<Vec<Part>> {
    check_headers(request.headers())?;
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| malformed("the `Content-Type` header has no `boundary` parameter".into()))?;
    let mut parts = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        if parts.len() == limits.max_parts {
            return Err(malformed(format!(
                "it has more than {} parts",
                limits.max_parts
            )));
        }
        let name = field
            .name()
            .ok_or_else(|| malformed("a part has no `name` in its `Content-Disposition`".into()))?
            .to_string();
        check_name(&name)?;
        let value = match admit(&name)? {
            Kind::Text => Value::Text(read_text(&mut field, &name, limits.max_text_bytes).await?),
            Kind::File { max_bytes } => Value::File(read_file(&mut field, &name, max_bytes).await?),
        };
        parts.push(Part { name, value });
    }
    Ok(parts)
}

/// A form is `multipart/form-data` and not empty.
fn check_headers(headers: &axum::http::HeaderMap) -> ApiResult<()> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("multipart/form-data") {
        return Err(ApiError::new(
            ErrorCode::unsupported_media_type,
            "Send the body as `multipart/form-data` (an `image` file and a `prompt`).",
        ));
    }
    let empty = headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    if empty {
        return Err(ApiError::new(
            ErrorCode::invalid_multipart,
            "The request body is empty; send a form with an `image` file and a `prompt`.",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.len() > MAX_NAME_BYTES {
        return Err(malformed(format!(
            "a part's name is longer than {MAX_NAME_BYTES} bytes"
        )));
    }
    if let Some(c) = text::first_disallowed(name) {
        return Err(malformed(format!(
            "a part's name contains the control character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(())
}

async fn read_file(field: &mut Field<'_>, name: &str, max_bytes: usize) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        if bytes.len() + chunk.len() > max_bytes {
            return Err(ApiError::invalid(
                name.to_string(),
                format!("`{name}` is larger than {max_bytes} bytes."),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn read_text(field: &mut Field<'_>, name: &str, max_bytes: usize) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        if bytes.len() + chunk.len() > max_bytes {
            return Err(ApiError::invalid(
                name.to_string(),
                format!("`{name}` is longer than {max_bytes} bytes."),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    let value = String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid(name.to_string(), format!("`{name}` is not UTF-8 text.")))?;
    text::check(name, &value)?;
    Ok(value)
}

/// The 400 for a form that is not well formed, saying `why`.
fn malformed(why: String) -> ApiError {
    ApiError::new(
        ErrorCode::invalid_multipart,
        format!("The multipart/form-data body could not be read: {why}."),
    )
}

/// A body that stopped being readable: over the body limit (413), or broken (400), never a
/// 5xx: axum calls an unreadable stream a server error, but only the client can cause it.
fn unreadable(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            ErrorCode::body_too_large,
            "The request body is larger than this server accepts.",
        );
    }
    let why: String = e.body_text().chars().take(200).collect();
    malformed(why)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn request(body: &str) -> Request {
        Request::builder()
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
            .body(Body::from(body.replace('\n', "\r\n")))
            .unwrap_or_default()
    }

    fn part(name: &str, value: &str) -> String {
        format!("--B\nContent-Disposition: form-data; name=\"{name}\"\n\n{value}\n")
    }

    const LIMITS: Limits = Limits {
        max_parts: 3,
        max_text_bytes: 8,
    };

    async fn read_all(body: &str) -> ApiResult<Vec<Part>> {
        read(request(body), &LIMITS, |_| Ok(Kind::Text)).await
    }

    #[tokio::test]
    async fn parts_are_read_up_to_the_limit() {
        let three: String = ["a", "b", "c"].iter().map(|n| part(n, "x")).collect();
        let parts = read_all(&format!("{three}--B--\n"))
            .await
            .unwrap_or_default();
        assert_eq!(parts.len(), 3);
        let e = read_all(&format!("{three}{}--B--\n", part("d", "x")))
            .await
            .err();
        assert_eq!(e.map(|e| e.code), Some(ErrorCode::invalid_multipart));
    }

    #[tokio::test]
    async fn text_parts_are_checked() {
        let e = read_all(&format!("{}--B--\n", part("a", "123456789")))
            .await
            .err();
        assert_eq!(e.and_then(|e| e.param).as_deref(), Some("a"));
        let e = read_all(&format!("{}--B--\n", part("a", "x\u{7f}")))
            .await
            .err();
        assert_eq!(e.and_then(|e| e.param).as_deref(), Some("a"));
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        let e = read_all(&format!("{}--B--\n", part(&long, "x")))
            .await
            .err();
        assert_eq!(e.map(|e| e.code), Some(ErrorCode::invalid_multipart));
    }

    #[tokio::test]
    async fn a_refused_name_stops_the_read() {
        let body = format!("{}{}--B--\n", part("ok", "x"), part("no", "x"));
        let e = read(request(&body), &LIMITS, |name| {
            if name == "ok" {
                Ok(Kind::Text)
            } else {
                Err(ApiError::invalid(name.to_string(), "refused"))
            }
        })
        .await
        .err();
        assert_eq!(e.and_then(|e| e.param).as_deref(), Some("no"));
    }
}
