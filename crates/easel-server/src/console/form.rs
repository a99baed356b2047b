//! `Form<T>`: a console form body whose every field has passed the text rule
//! (`http::text`) before axum's own `Form` deserializes it.
//!
//! Console forms reach storage too (the public `/abuse` form stores what anyone types), so
//! they get the same check as JSON bodies and URIs; a refused character is a 400 page that
//! names the field, not a database error.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::http::text;

/// A form body deserialized into `T`, with its fields checked.
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        // The body limit layer bounds this read.
        let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|_| {
            page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is larger than this server accepts.",
            )
        })?;
        for (field, value) in form_urlencoded::parse(&bytes) {
            if let Some(c) = text::first_disallowed(&value) {
                let field: String = field.chars().filter(|&c| !text::is_disallowed(c)).collect();
                let message = format!(
                    "The field “{field}” contains the control character U+{:04X}, which is not allowed. Go back, remove it and send the form again.",
                    u32::from(c)
                );
                return Err(page(StatusCode::BAD_REQUEST, &message));
            }
            if text::first_disallowed(&field).is_some() {
                return Err(page(
                    StatusCode::BAD_REQUEST,
                    "A form field name contains a control character, which is not allowed.",
                ));
            }
        }
        let request = Request::from_parts(parts, Body::from(bytes));
        let axum::extract::Form(value) = axum::extract::Form::<T>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Form(value))
    }
}

/// A plain error page; `message` is escaped.
fn page(status: StatusCode, message: &str) -> Response {
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>The form could not be accepted</title><p>{escaped}</p></html>"
    );
    (status, Html(html)).into_response()
}
