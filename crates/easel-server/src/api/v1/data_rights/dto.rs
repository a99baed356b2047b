//! The export and erasure objects.

use easel_core::time::ms_to_secs;
use easel_db::{DataExport, Erasure};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;

/// An export of the account's data: a tar.gz of one JSON-lines file per kind of record
/// and a `manifest.json`, downloadable once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportObject {
    /// Always `account_export`.
    #[schema(value_type = String, example = "account_export")]
    pub object: &'static str,
    /// `exp_…`
    pub id: String,
    /// `pending`, `building`, `ready`, `downloaded`, `failed` or `expired`.
    #[schema(example = "ready")]
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When the archive was ready (Unix seconds).
    pub ready_at: Option<i64>,
    /// Until when it can be downloaded (Unix seconds); then it is deleted.
    pub expires_at: Option<i64>,
    /// When it was downloaded (Unix seconds); it cannot be again.
    pub downloaded_at: Option<i64>,
    /// The archive's size.
    pub bytes: Option<i64>,
    /// The archive's SHA-256, hex.
    pub sha256: Option<String>,
    /// Records per kind, as the manifest counts them.
    #[schema(value_type = Option<Object>)]
    pub counts: Option<serde_json::Value>,
    /// Why it could not be built.
    pub failure_reason: Option<String>,
    /// A signed URL that downloads the archive once, while `status` is `ready`; it expires
    /// sooner than the export (fetch the export again for a fresh one).
    pub download_url: Option<String>,
    /// When `download_url` stops working (Unix seconds).
    pub download_url_expires_at: Option<i64>,
}

impl ExportObject {
    /// The object as of `now`, with a fresh download URL when it is ready.
    pub fn new(app: &App, e: DataExport, now: i64) -> ExportObject {
        let url = crate::data_rights::export::download_url(app, &e, now);
        ExportObject {
            object: "account_export",
            status: e.state.as_str().to_string(),
            created_at: ms_to_secs(e.created_at),
            ready_at: e.ready_at.map(ms_to_secs),
            expires_at: e.expires_at.map(ms_to_secs),
            downloaded_at: e.downloaded_at.map(ms_to_secs),
            bytes: e.bytes,
            sha256: e.sha256,
            counts: e.counts,
            failure_reason: e.failure_reason,
            download_url_expires_at: url.as_ref().map(|(_, at)| ms_to_secs(*at)),
            download_url: url.map(|(u, _)| u),
            id: e.id,
        }
    }
}

/// A list of exports, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportList {
    /// Always `list`.
    #[schema(value_type = String, example = "list")]
    pub object: &'static str,
    pub data: Vec<ExportObject>,
}

/// `POST /v1/account/erasure`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestErasureRequest {
    /// The account's id, repeated: erasure is final once it runs.
    pub confirm: String,
}

/// The account's erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureObject {
    /// Always `account_erasure`.
    #[schema(value_type = String, example = "account_erasure")]
    pub object: &'static str,
    pub account_id: String,
    /// `scheduled`, `running`, `done` or `canceled`.
    #[schema(example = "scheduled")]
    pub status: String,
    /// `owner_request`, `operator` or `terminated`.
    pub reason: String,
    /// Unix seconds.
    pub requested_at: i64,
    /// When it runs (Unix seconds); until then an owner can cancel it in the console.
    pub due_at: i64,
    /// Whether the request suspended the account (a cancellation lifts it).
    pub suspended: bool,
    /// When it ran (Unix seconds).
    pub erased_at: Option<i64>,
}

impl From<Erasure> for ErasureObject {
    fn from(e: Erasure) -> Self {
        ErasureObject {
            object: "account_erasure",
            account_id: e.account_id,
            status: e.state.as_str().to_string(),
            reason: e.reason.as_str().to_string(),
            requested_at: ms_to_secs(e.requested_at),
            due_at: ms_to_secs(e.due_at),
            suspended: e.suspended_by_request,
            erased_at: e.erased_at.map(ms_to_secs),
        }
    }
}
