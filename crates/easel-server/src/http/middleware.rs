//! The outermost middleware: request ids and the error envelope.
//!
//! Every response leaves with an `X-Request-Id` (the caller's, if it is sane, else a new
//! `req_…`), and every 4xx/5xx leaves as the error envelope, whether it came from a handler
//! (`PendingError` in the extensions) or from axum and tower (404, 405, 408, 413, panics).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use easel_core::ids::IdKind;

use super::error::{ErrorBody, ErrorCode, ErrorEnvelope, PendingError};

/// The request id, in request extensions for handlers and logs.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// `X-Request-Id`.
pub const REQUEST_ID: &str = "x-request-id";

/// An inbound id is kept only if it is short and plain, so it is safe in logs and headers.
fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Assigns the request id and writes the envelope for error responses.
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| is_sane(s))
        .map_or_else(|| IdKind::Request.generate(), str::to_string);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    let status = response.status();
    // Console pages render their own errors; everything else gets the JSON envelope.
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error()) && !is_html {
        response = envelope(response, &id);
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Replaces the body of an error response with the envelope.
fn envelope(response: Response, request_id: &str) -> Response {
    let (mut parts, _body) = response.into_parts();
    let pending = parts
        .extensions
        .remove::<PendingError>()
        .unwrap_or_else(|| fallback(parts.status));
    let body = ErrorEnvelope {
        error: ErrorBody {
            kind: pending.code.error_type(),
            code: pending.code,
            message: pending.message,
            param: pending.param,
            request_id: request_id.to_string(),
            details: pending.details,
        },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"error\":{}}".to_vec());
    parts.status = pending.code.status();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// The error for a response that no handler described (it came from axum or tower).
fn fallback(status: StatusCode) -> PendingError {
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            ErrorCode::route_not_found,
            "No such route. The API lives under /v1; see /openapi.json.",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::method_not_allowed,
            "This route does not accept this method; see the Allow header.",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::request_timeout,
            "The request took too long and was abandoned.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::body_too_large,
            "The request body is larger than this server accepts.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::unsupported_media_type,
            "Send the body as application/json.",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            ErrorCode::service_unavailable,
            "The service is temporarily unavailable; retry shortly.",
        ),
        s if s.is_server_error() => (
            ErrorCode::internal_error,
            "Something went wrong on our side. The request id identifies it in our logs.",
        ),
        _ => (ErrorCode::parameter_invalid, "The request is invalid."),
    };
    PendingError {
        code,
        message: message.to_string(),
        param: None,
        details: None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_must_be_plain() {
        assert!(super::is_sane("req_01hz"));
        assert!(super::is_sane("3f2a-77.x:y"));
        assert!(!super::is_sane(""));
        assert!(!super::is_sane("a b"));
        assert!(!super::is_sane("<script>"));
        assert!(!super::is_sane(&"a".repeat(129)));
    }
}
