//! `POST /v1/leaked_keys`: anyone holding a leaked secret reports it, without a key.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Extension};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::dto::{LeakedKeyReportReceipt, ReportLeakedKeyRequest};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::Json;
use crate::http::middleware::RequestId;
use crate::services::leaks::{self, Reporter, Sighting, gate};

/// Longest `key` accepted: keys are far shorter, so anything longer is not one.
const MAX_KEY_CHARS: usize = 256;

/// Report a leaked key
///
/// Found an API key of this server in public (a repository, a paste, a log)? Report it
/// here, no API key needed. A real key is revoked at once (or flagged, per the operator's
/// setting) and its owners are told where it was found. The answer is always the same 202,
/// whether the key was real, already revoked, unknown or not a key at all, so reporting
/// reveals nothing about it. Reports are limited per client address (429 past it).
#[utoipa::path(
    post,
    path = "/v1/leaked_keys",
    tag = tags::LEAKED_KEYS,
    operation_id = "report_leaked_key",
    security(()),
    request_body = ReportLeakedKeyRequest,
    responses(
        (status = 202, description = "Received (the same for every key)", body = LeakedKeyReportReceipt),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn report_leaked_key(
    state: AppState,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    request_id: Option<Extension<RequestId>>,
    Json(body): Json<ReportLeakedKeyRequest>,
) -> ApiResult<Response> {
    let sighting = validate(&body)?;
    gate::admit(&state, client.map(|Extension(ConnectInfo(addr))| addr.ip())).await?;
    let request_id = request_id.map(|Extension(id)| id.0);
    // Handled after answering, so the answer's timing cannot tell a real key (a store
    // write and mail) from an unknown one.
    tokio::spawn(async move {
        if let Err(e) =
            leaks::report(&state, &body.key, sighting, Reporter::Public, request_id).await
        {
            tracing::error!(error = ?e, "could not handle a leaked-key report");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(LeakedKeyReportReceipt::received()),
    )
        .into_response())
}

/// Checks the fields' shapes (never whether the key is real).
fn validate(body: &ReportLeakedKeyRequest) -> ApiResult<Sighting> {
    if body.key.trim().is_empty() || body.key.chars().count() > MAX_KEY_CHARS {
        return Err(ApiError::invalid(
            "key",
            format!("`key` is the secret you found, 1 to {MAX_KEY_CHARS} characters."),
        ));
    }
    let url = body.url.trim();
    let is_web = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !is_web || url.chars().count() > leaks::MAX_URL_CHARS {
        return Err(ApiError::invalid(
            "url",
            format!(
                "`url` is where you found the key: an http(s) URL of at most {} characters.",
                leaks::MAX_URL_CHARS
            ),
        ));
    }
    let source = body
        .source
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if source.is_some_and(|s| s.chars().count() > leaks::MAX_SOURCE_CHARS) {
        return Err(ApiError::invalid(
            "source",
            format!(
                "`source` is at most {} characters.",
                leaks::MAX_SOURCE_CHARS
            ),
        ));
    }
    Ok(Sighting {
        url: url.to_string(),
        source: source.map(str::to_string),
    })
}
