//! `PUT /worker/v1/leases/{lease_id}/outputs/{index}` and `GET …/input`: a lease's files
//! through Easel (when the object store is S3, the lease hands out presigned URLs instead).

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use easel_engines::check::{self, Limits};
use easel_engines::{EngineError, Produced};
use futures::StreamExt;

use super::TAG;
use super::auth::WorkerCaller;
use super::dto::UploadedOutput;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::jobs::run::describe;
use crate::outputs::Outputs;
use crate::services::generations::GenerationInput;
use crate::workers::lease::{self, expected_outputs};

/// Types an output may be uploaded as.
const OUTPUT_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "video/mp4"];

/// Upload an output
///
/// The body is the file itself (not JSON, not base64), with its `Content-Type`
/// (`image/png`, `image/jpeg`, `image/webp` or `video/mp4`) and `Content-Length`. It is
/// decoded at once: a file that is not an image or video of the requested size, or is
/// larger than `max_output_bytes`, or arrives cut off, is refused with 400 and the lease
/// is kept, so the worker can fail the job properly. Uploading an index again replaces it.
#[utoipa::path(
    put,
    path = "/worker/v1/leases/{lease_id}/outputs/{index}",
    tag = TAG,
    operation_id = "upload_output",
    security(("worker_token" = [])),
    params(
        ("lease_id" = String, Path, description = "The lease id (`lease_…`)"),
        ("index" = u32, Path, description = "The output's index, from 0"),
    ),
    request_body(content = Vec<u8>, description = "The file", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored for the completion", body = UploadedOutput),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn upload_output(
    state: AppState,
    WorkerCaller(worker): WorkerCaller,
    Path((lease_id, index)): Path<(String, u32)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (lease, job) = lease::held(&state, &worker, &lease_id).await?;
    let g = state.store.generation_for_job(&job.id).await?;
    let (request, _) =
        describe(&g, lease.attempt).map_err(|e| ApiError::internal(anyhow::anyhow!("{e:?}")))?;
    let expected = expected_outputs(&request);
    if index >= expected {
        return Err(ApiError::new(
            ErrorCode::parameter_invalid,
            format!("This lease takes {expected} output(s), numbered from 0."),
        )
        .param("index"));
    }
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !OUTPUT_TYPES.contains(&declared.as_str()) {
        return Err(invalid(format!(
            "Content-Type must be one of {}; got {declared:?}.",
            OUTPUT_TYPES.join(", ")
        )));
    }
    let cap = state.config.generations.max_output_bytes;
    let bytes = match read_capped(body, &headers, cap).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // The rest of the body is never read: the connection cannot carry another
            // request, and the client must know before it reuses it.
            let mut refused = e.into_response();
            refused
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Ok(refused);
        }
    };
    let limits = Limits {
        max_bytes: cap,
        exact_size: true,
    };
    let produced = Produced { bytes, seed: None };
    let checked =
        tokio::task::spawn_blocking(move || check::inspect(&request, produced, &limits)).await;
    let artifact = match checked {
        Ok(Ok(artifact)) => artifact,
        Ok(Err(EngineError::BadOutput { reason, .. })) => {
            return Err(invalid(format!("The file was refused: {reason}.")));
        }
        Ok(Err(e)) => return Err(invalid(format!("The file was refused: {e}."))),
        Err(e) => return Err(ApiError::internal(anyhow::anyhow!("output check: {e}"))),
    };
    let stored = UploadedOutput {
        index,
        content_type: artifact.content_type.to_string(),
        bytes: artifact.bytes.len() as u64,
    };
    let path = Outputs::upload_path(&lease.id, index);
    let (bytes, shape) = (
        artifact.bytes,
        easel_engines::Artifact {
            bytes: Vec::new(),
            ..artifact
        },
    );
    let e_tag = state
        .outputs
        .put_tagged(&path, bytes)
        .await
        .map_err(|e| ApiError::storage_unavailable(format!("{e:#}")))?;
    state.workers.checked.remember(&path, e_tag, &shape);
    Ok((StatusCode::CREATED, axum::Json(stored)).into_response())
}

/// The body, refused as soon as it is known to be over `cap` (by its `Content-Length`, or
/// while it streams in) or found cut off.
async fn read_capped(body: Body, headers: &HeaderMap, cap: usize) -> ApiResult<Vec<u8>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large(cap));
    }
    let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            invalid("The upload was cut off before its end; send the whole file again.".into())
        })?;
        if bytes.len() + chunk.len() > cap {
            return Err(too_large(cap));
        }
        bytes.extend_from_slice(&chunk);
    }
    if declared.is_some_and(|n| n != bytes.len() as u64) {
        return Err(invalid(
            "The upload was cut off before its end; send the whole file again.".into(),
        ));
    }
    Ok(bytes)
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::invalid_output, message)
}

fn too_large(cap: usize) -> ApiError {
    invalid(format!(
        "The file is larger than the {cap} bytes an output may be."
    ))
}

/// Download the input image
///
/// The start image of an image-to-image lease, while the lease is held.
#[utoipa::path(
    get,
    path = "/worker/v1/leases/{lease_id}/input",
    tag = TAG,
    operation_id = "download_input",
    security(("worker_token" = [])),
    params(("lease_id" = String, Path, description = "The lease id (`lease_…`)")),
    responses(
        (status = 200, description = "The image", content_type = "image/*"),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn download_input(
    state: AppState,
    WorkerCaller(worker): WorkerCaller,
    Path(lease_id): Path<String>,
) -> ApiResult<Response> {
    let (_, job) = lease::held(&state, &worker, &lease_id).await?;
    let g = state.store.generation_for_job(&job.id).await?;
    let input: GenerationInput = serde_json::from_value(g.input)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("unreadable input: {e}")))?;
    let image = input.input_image.ok_or_else(|| {
        ApiError::new(
            ErrorCode::resource_missing,
            "This generation has no input image.",
        )
    })?;
    let bytes = state
        .outputs
        .get(&image.path)
        .await
        .map_err(|e| ApiError::storage_unavailable(format!("input image: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, image.content_type),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}
