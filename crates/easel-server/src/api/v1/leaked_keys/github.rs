//! `POST /v1/secret_scanning/github`: GitHub's secret-scanning partner program.
//!
//! Nothing in a delivery is read before its signature is checked over the raw bytes;
//! an unsigned, badly signed or unknown-key delivery is refused whole (403), so nothing in
//! it is revoked. Every token is answered: `true_positive` if it is a key of this server
//! (revoked or flagged now, or already), else `false_positive`.

use axum::Json;
use axum::body::Body;
use axum::extract::Extension;
use axum::http::HeaderMap;
use easel_core::api_key;

use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::http::middleware::RequestId;
use crate::services::leaks::github::{
    GithubFeedback, GithubKeys, GithubMatch, KEY_ID_HEADER, Label, SIGNATURE_HEADER,
};
use crate::services::leaks::{self, Reporter, Sighting};

/// Receive GitHub secret-scanning matches
///
/// For GitHub's secret-scanning partner program: GitHub POSTs the tokens it found in public
/// code as `[{token, type, url, source}]`, signed with ECDSA P-256 over the raw body
/// (`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`: base64 DER). The
/// signature is checked against the GitHub keys the operator configured
/// (`secret_scanning.github_public_keys`); without any, this route is 404. Real keys are
/// revoked (or flagged) and their owners told; the answer labels each token by its SHA-256.
#[utoipa::path(
    post,
    path = "/v1/secret_scanning/github",
    tag = tags::LEAKED_KEYS,
    operation_id = "receive_github_secret_scanning",
    security(()),
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "Which GitHub key signed the body"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 of the ASN.1 DER ECDSA P-256 SHA-256 signature of the raw body"),
    ),
    request_body(content = Vec<GithubMatch>, content_type = "application/json", description = "GitHub's array of matches, byte for byte as sent"),
    responses(
        (status = 200, description = "Each token, labelled", body = Vec<GithubFeedback>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn receive_github_secret_scanning(
    state: AppState,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Vec<GithubFeedback>>> {
    let config = &state.config.secret_scanning;
    let keys = GithubKeys::new(&config.github_public_keys).map_err(|(i, why)| {
        ApiError::internal(anyhow::anyhow!("github_public_keys[{i}]: {why}"))
    })?;
    if keys.is_empty() {
        return Err(ApiError::new(
            ErrorCode::resource_missing,
            "GitHub secret scanning is not configured on this server.",
        ));
    }
    let body = axum::body::to_bytes(body, config.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::body_too_large,
                format!("A delivery is at most {} bytes.", config.max_body_bytes),
            )
        })?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    keys.verify(header(KEY_ID_HEADER), header(SIGNATURE_HEADER), &body)
        .map_err(|e| ApiError::new(ErrorCode::signature_invalid, format!("Refused: {e}.")))?;
    let matches = parse(&body, config.max_matches)?;
    let request_id = request_id.map(|Extension(id)| id.0);
    let mut feedback = Vec::with_capacity(matches.len());
    for m in matches {
        let sighting = Sighting {
            url: m.url.clone(),
            source: m.source.clone(),
        };
        let real = leaks::report(
            &state,
            &m.token,
            sighting,
            Reporter::Github,
            request_id.clone(),
        )
        .await?;
        feedback.push(GithubFeedback {
            token_hash: api_key::hash(&m.token),
            token_type: m.token_type,
            label: if real {
                Label::TruePositive
            } else {
                Label::FalsePositive
            },
        });
    }
    Ok(Json(feedback))
}

/// The matches of a verified delivery, at most `max` of them.
fn parse(body: &[u8], max: usize) -> ApiResult<Vec<GithubMatch>> {
    let matches: Vec<GithubMatch> = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::invalid_json,
            format!("The delivery is not a JSON array of matches: {e}."),
        )
    })?;
    if matches.len() > max {
        return Err(ApiError::invalid(
            "body",
            format!("A delivery carries at most {max} matches; split it."),
        ));
    }
    Ok(matches)
}
