//! `GET /v1/requests`.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use easel_core::ids::IdKind;
use easel_core::time::ms_to_secs;
use easel_db::{RequestLogEntry, RequestLogFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{List, ListParams};

/// Largest CSV export in one request.
const MAX_EXPORT: u32 = 10_000;

/// `?limit=&starting_after=&api_key_id=&user=&status=&failed=&path=&method=&since=&until=&format=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestLogParams {
    /// Entries to return: 1 to 100 (JSON, default 20) or 1 to 10000 (CSV, default 1000).
    pub limit: Option<u32>,
    /// A request log id (`rlog_…`) from the previous page.
    pub starting_after: Option<String>,
    /// Only requests made with this key.
    pub api_key_id: Option<String>,
    /// Only requests for this end user (the `user` of generation requests).
    pub user: Option<String>,
    /// Only this HTTP status.
    pub status: Option<u16>,
    /// `true`: only 4xx and 5xx; `false`: only successes.
    pub failed: Option<bool>,
    /// Only this exact path, e.g. `/v1/generations`.
    pub path: Option<String>,
    /// Only this method, e.g. `POST`.
    pub method: Option<String>,
    /// Only requests at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Only requests before this time (unix seconds).
    pub until: Option<i64>,
    /// `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    pub format: Option<String>,
}

/// One API request.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestLogObject {
    /// Always `request_log`.
    #[schema(value_type = String, example = "request_log")]
    pub object: &'static str,
    /// `rlog_…`
    pub id: String,
    /// The `X-Request-Id` the request was answered with.
    pub request_id: String,
    pub livemode: bool,
    pub api_key_id: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The request's `user`, if it named one.
    pub user: Option<String>,
    /// Time to answer, in milliseconds.
    pub latency_ms: f64,
    /// The error code of a failed request.
    pub error_code: Option<String>,
    /// The prompt, only when the operator keeps prompts.
    pub prompt: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<RequestLogEntry> for RequestLogObject {
    fn from(e: RequestLogEntry) -> Self {
        RequestLogObject {
            object: "request_log",
            livemode: e.mode.is_live(),
            latency_ms: e.latency_us as f64 / 1000.0,
            id: e.id,
            request_id: e.request_id,
            api_key_id: e.api_key_id,
            method: e.method,
            path: e.path,
            status: e.status,
            user: e.end_user,
            error_code: e.error_code,
            prompt: e.prompt,
            created_at: ms_to_secs(e.created_at),
        }
    }
}

/// List API requests
///
/// The caller's requests in its mode, newest first, kept for the operator's retention
/// period (at least 30 days). Secrets are never logged; prompts only if the operator
/// enabled it. CSV with `Accept: text/csv` or `format=csv` (up to 10,000 rows per
/// request; `Easel-Next-Cursor` names the next page). Needs `logs:read`.
#[utoipa::path(
    get,
    path = "/v1/requests",
    tag = tags::LOGS,
    operation_id = "list_requests",
    security(("api_key" = [])),
    params(RequestLogParams),
    responses(
        (status = 200, description = "A page of requests (JSON, or CSV when asked)", body = List<RequestLogObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_requests(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<RequestLogParams>,
) -> ApiResult<Response> {
    let csv = crate::http::csv::wanted(params.format.as_deref(), &headers)?;
    let list = list(&state, &caller.account_id, caller.mode, &params, csv).await?;
    if csv {
        Ok(csv_response(list))
    } else {
        Ok(axum::Json(list).into_response())
    }
}

/// One page of the account's request log in `mode` (a CSV export's page when `csv`: up to
/// 10,000 rows). The developer console's request log reads the same.
pub async fn list(
    app: &crate::app::App,
    account_id: &str,
    mode: easel_core::mode::Mode,
    params: &RequestLogParams,
    csv: bool,
) -> ApiResult<List<RequestLogObject>> {
    let list_params = ListParams {
        limit: params.limit,
        starting_after: params.starting_after.clone(),
    };
    let page = if csv {
        list_params.page_up_to(IdKind::RequestLog, 1000, MAX_EXPORT)?
    } else {
        list_params.page(IdKind::RequestLog)?
    };
    let filter = filter(params)?;
    // This node's latest entries first, so a developer always sees their own requests.
    app.request_log.flush().await;
    let limit = page.limit;
    let rows = app
        .store
        .list_request_logs(account_id, mode, &filter, page)
        .await?;
    Ok(List::from_rows(
        rows,
        limit,
        |e| e.id.clone(),
        RequestLogObject::from,
    ))
}

/// A page of the log as CSV, with `Easel-Next-Cursor` when more follow.
pub fn csv_response(list: List<RequestLogObject>) -> Response {
    let mut out = String::from(
        "id,created_at,request_id,method,path,status,latency_ms,api_key_id,user,error_code,prompt\n",
    );
    for r in &list.data {
        let cells = [
            r.id.clone(),
            r.created_at.to_string(),
            r.request_id.clone(),
            r.method.clone(),
            r.path.clone(),
            r.status.to_string(),
            format!("{:.3}", r.latency_ms),
            r.api_key_id.clone(),
            r.user.clone().unwrap_or_default(),
            r.error_code.clone().unwrap_or_default(),
            r.prompt.clone().unwrap_or_default(),
        ];
        let cells: Vec<String> = cells.iter().map(|c| crate::http::csv::cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"requests.csv\""),
    );
    if let Some(next) = list.next_cursor
        && let Ok(value) = HeaderValue::from_str(&next)
    {
        response.headers_mut().insert("easel-next-cursor", value);
    }
    response
}

fn filter(p: &RequestLogParams) -> ApiResult<RequestLogFilter> {
    if let Some(key) = &p.api_key_id
        && !IdKind::ApiKey.is_valid(key)
    {
        return Err(ApiError::invalid(
            "api_key_id",
            "`api_key_id` is a key id (`key_…`).",
        ));
    }
    if p.status.is_some_and(|s| !(100..=599).contains(&s)) {
        return Err(ApiError::invalid(
            "status",
            "`status` is an HTTP status, 100 to 599.",
        ));
    }
    let text = |name: &'static str, v: &Option<String>| -> ApiResult<Option<String>> {
        match v {
            Some(s) if s.is_empty() || s.chars().count() > 512 => Err(ApiError::invalid(
                name,
                format!("`{name}` must be 1 to 512 characters."),
            )),
            other => Ok(other.clone()),
        }
    };
    let time = |name: &'static str, v: Option<i64>| -> ApiResult<Option<i64>> {
        match v {
            Some(secs) if !(0..=253_402_300_799).contains(&secs) => Err(ApiError::invalid(
                name,
                format!("`{name}` is a time in unix seconds."),
            )),
            other => Ok(other.map(|s| s * 1000)),
        }
    };
    Ok(RequestLogFilter {
        api_key_id: p.api_key_id.clone(),
        end_user: text("user", &p.user)?,
        status: p.status,
        failed: p.failed,
        path: text("path", &p.path)?,
        method: text("method", &p.method)?.map(|m| m.to_ascii_uppercase()),
        since: time("since", p.since)?,
        until: time("until", p.until)?,
    })
}
