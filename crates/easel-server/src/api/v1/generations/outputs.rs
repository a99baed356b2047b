//! `GET /v1/outputs/{generation_id}/{file}`: an output file, at its signed URL.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use easel_core::time::now_ms;
use serde::Deserialize;

use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::http::extract::Query;
use crate::outputs::{Outputs, UrlRefusal};

/// `?expires=&signature=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SignedParams {
    /// Unix seconds after which the URL stops working.
    pub expires: Option<i64>,
    /// HMAC-SHA256 of the path and expiry, hex.
    pub signature: Option<String>,
}

impl SignedParams {
    /// Checks that these parameters sign `path` now, returning the URL's expiry (Unix
    /// seconds). `missing` says what to use when they are absent; `refetch` names what to
    /// fetch again for a fresh URL once it expired.
    pub fn check(
        &self,
        state: &AppState,
        path: &str,
        missing: &'static str,
        refetch: &str,
    ) -> ApiResult<i64> {
        let (Some(expires), Some(signature)) = (self.expires, self.signature.as_deref()) else {
            return Err(ApiError::new(ErrorCode::signature_invalid, missing));
        };
        match state.outputs.verify(path, expires, signature, now_ms()) {
            Ok(()) => Ok(expires),
            Err(UrlRefusal::BadSignature) => Err(ApiError::new(
                ErrorCode::signature_invalid,
                "The URL's signature does not match it; use the URL exactly as given.",
            )),
            Err(UrlRefusal::Expired) => Err(ApiError::new(
                ErrorCode::url_expired,
                format!("This URL has expired; fetch the {refetch} again for a fresh one."),
            )),
        }
    }
}

/// Download an output
///
/// The `url` of an output: no API key needed, the signature is the permission. A changed
/// path, expiry or signature is 403 `signature_invalid`; a URL past its time is 403
/// `url_expired` (fetch the generation for a fresh one); a deleted output is 404.
#[utoipa::path(
    get,
    path = "/v1/outputs/{generation_id}/{file}",
    tag = tags::GENERATIONS,
    operation_id = "download_output",
    security(()),
    params(
        ("generation_id" = String, Path, description = "The generation id (`gen_…`)"),
        ("file" = String, Path, description = "`{index}.{png|mp4}`"),
        SignedParams,
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn download_output(
    state: AppState,
    Path((generation_id, file)): Path<(String, String)>,
    Query(params): Query<SignedParams>,
) -> ApiResult<Response> {
    let path = format!("/v1/outputs/{generation_id}/{file}");
    let expires = params.check(
        &state,
        &path,
        "Output URLs are signed: use the `url` of the output as the generation gives it.",
        "generation",
    )?;
    let now = now_ms();
    let gone = || ApiError::not_found("output", &path);
    let idx: u32 = file
        .split('.')
        .next()
        .and_then(|i| i.parse().ok())
        .ok_or_else(gone)?;
    let output = match state.store.get_output(&generation_id, idx).await {
        Ok(output) => output,
        Err(easel_db::DbError::NotFound) => return Err(gone()),
        Err(e) => return Err(e.into()),
    };
    if output.deleted_at.is_some()
        || output.expires_at <= now
        || Outputs::url_path(&generation_id, idx, &output.content_type) != path
    {
        return Err(gone());
    }
    let bytes = match state.outputs.get(&output.path).await {
        Ok(bytes) => bytes,
        // Deleted by a concurrent DELETE between the row check and the read.
        Err(object_store::Error::NotFound { .. }) => return Err(gone()),
        Err(e) => return Err(ApiError::storage_unavailable(e)),
    };
    let max_age = (expires.saturating_mul(1000) - now).max(0) / 1000;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&output.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("private, max-age={max_age}, immutable")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{generation_id}-{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
