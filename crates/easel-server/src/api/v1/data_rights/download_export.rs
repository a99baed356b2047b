//! `GET /v1/account/exports/{id}/download`: an export's archive, once, at its signed URL.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use easel_core::audit::Actor;
use easel_core::ids::IdKind;
use easel_core::time::now_ms;
use easel_db::{AuditContext, DownloadClaim};
use futures::Stream;

use crate::api::v1::generations::outputs::SignedParams;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::data_rights::export;
use crate::http::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::http::extract::Query;

/// Download an export
///
/// The `download_url` of a ready export: no API key needed, the signature is the
/// permission. It works once: the archive is deleted as it is sent, and another request
/// answers 410 `export_already_downloaded`. A changed URL is 403 `signature_invalid`, one
/// past its time 403 `url_expired` (fetch the export again for a fresh one); an export not
/// downloaded in time is 410 `export_expired`.
#[utoipa::path(
    get,
    path = "/v1/account/exports/{id}/download",
    tag = tags::ACCOUNT,
    operation_id = "download_account_export",
    security(()),
    params(
        ("id" = String, Path, description = "The export id (`exp_…`)"),
        SignedParams,
    ),
    responses(
        (status = 200, description = "The archive (tar.gz)", content_type = "application/gzip", body = Vec<u8>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn download_account_export(
    state: AppState,
    Path(id): Path<String>,
    request_id: Option<axum::Extension<crate::http::middleware::RequestId>>,
    Query(params): Query<SignedParams>,
) -> ApiResult<Response> {
    let path = export::download_path(&id);
    params.check(
        &state,
        &path,
        "Export downloads are signed: use the export's `download_url` as given.",
        "export",
    )?;
    let now = now_ms();
    if !IdKind::Export.is_valid(&id) {
        return Err(ApiError::not_found("export", &id));
    }
    let request_id = request_id.map(|r| r.0.0);
    let audit = AuditContext::new(Actor::system(), request_id).with("via", "signed_url");
    let export = match state.store.take_export_download(&id, audit).await {
        Ok(DownloadClaim::Granted(export)) => export,
        Ok(DownloadClaim::Refused(export)) => return Err(export::refusal(&export, now)),
        Err(easel_db::DbError::NotFound) => return Err(ApiError::not_found("export", &id)),
        Err(e) => return Err(e.into()),
    };
    let gone = || {
        ApiError::new(
            ErrorCode::export_expired,
            "This export's archive is no longer stored. Ask for a new export.",
        )
    };
    let object = export.object_path.clone().ok_or_else(gone)?;
    let (size, stream) = match state.outputs.get_stream(&object).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Err(gone()),
        Err(e) => return Err(ApiError::storage_unavailable(e)),
    };
    let body = Body::from_stream(DeleteWhenDone {
        inner: stream,
        cleanup: Some((state.clone(), object)),
    });
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
        headers.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"easel-export-{id}.tar.gz\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// The archive's bytes; the archive is deleted once they are sent (or the client went
/// away): its one download is taken either way.
struct DeleteWhenDone<S> {
    inner: S,
    cleanup: Option<(AppState, String)>,
}

impl<S: Stream + Unpin> Stream for DeleteWhenDone<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

impl<S> Drop for DeleteWhenDone<S> {
    fn drop(&mut self) {
        // The sweep deletes it too if this does not get to run (a shutdown).
        if let (Some((state, path)), Ok(runtime)) =
            (self.cleanup.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                if let Err(e) = state.outputs.delete(&path).await {
                    tracing::warn!(error = %format!("{e:#}"), "could not delete a downloaded export; the sweep will");
                }
            });
        }
    }
}
