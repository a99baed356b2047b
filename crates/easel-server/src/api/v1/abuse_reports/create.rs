//! `POST /v1/abuse_reports`.

use axum::extract::Extension;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use easel_db::ReportSource;

use super::dto::{AbuseReportObject, CreateAbuseReportRequest};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::auth::Caller;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Json;
use crate::services::abuse::{self, ReportSpec, Reporter};

/// Report abuse
///
/// Reports a generation (by id or output URL) that breaks the content policy. Works
/// without an API key (anyone may report) or with one (any scope). The operator answers
/// within the deadline in `response_due_at`; the outcome is e-mailed to `email` if given.
#[utoipa::path(
    post,
    path = "/v1/abuse_reports",
    tag = tags::MODERATION,
    operation_id = "create_abuse_report",
    security((), ("api_key" = [])),
    request_body = CreateAbuseReportRequest,
    responses(
        (status = 201, description = "The filed report", body = AbuseReportObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn create_abuse_report(
    state: AppState,
    caller: Option<Extension<Caller>>,
    Json(body): Json<CreateAbuseReportRequest>,
) -> ApiResult<Response> {
    if caller.is_none() {
        state.abuse_gate.admit()?;
    }
    let reporter = Reporter {
        source: ReportSource::Api,
        account_id: caller.as_ref().map(|c| c.account_id.clone()),
        key_id: caller.as_ref().map(|c| c.key_id.clone()),
    };
    let spec = ReportSpec {
        generation_id: body.generation_id,
        output_url: body.output_url,
        category: body.category,
        description: body.description,
        email: body.email,
    };
    let report = abuse::create(&state, spec, reporter).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AbuseReportObject::from(report)),
    )
        .into_response())
}
