//! Row structs of the moderation tables and their conversion into domain types.

use easel_core::mode::Mode;

use crate::DbError;
use crate::moderation::{AbuseReport, EndUser, ReportSource, RequestLogEntry, Resolution};

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("unexpected {what} `{value}`"))
}

fn mode(value: &str) -> Result<Mode, DbError> {
    Mode::parse(value).ok_or_else(|| corrupt("mode", value))
}

#[derive(sqlx::FromRow)]
pub(crate) struct EndUserRow {
    account_id: String,
    mode: String,
    end_user: String,
    blocked_at: Option<i64>,
    blocked_reason: Option<String>,
    strikes: i64,
    last_strike_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<EndUserRow> for EndUser {
    type Error = DbError;
    fn try_from(r: EndUserRow) -> Result<Self, DbError> {
        Ok(EndUser {
            mode: mode(&r.mode)?,
            account_id: r.account_id,
            user: r.end_user,
            blocked_at: r.blocked_at,
            blocked_reason: r.blocked_reason,
            strikes: r.strikes,
            last_strike_at: r.last_strike_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AbuseReportRow {
    id: String,
    status: String,
    source: String,
    category: String,
    description: String,
    generation_id: Option<String>,
    output_url: Option<String>,
    account_id: Option<String>,
    mode: Option<String>,
    reporter_email: Option<String>,
    reporter_account_id: Option<String>,
    deadline_at: i64,
    created_at: i64,
    resolved_at: Option<i64>,
    resolution: Option<String>,
    resolution_note: Option<String>,
    resolved_by: Option<String>,
}

impl TryFrom<AbuseReportRow> for AbuseReport {
    type Error = DbError;
    fn try_from(r: AbuseReportRow) -> Result<Self, DbError> {
        let source = match r.source.as_str() {
            "api" => ReportSource::Api,
            "form" => ReportSource::Form,
            other => return Err(corrupt("report source", other)),
        };
        let resolution = match r.resolution.as_deref() {
            Some(s) => Some(Resolution::parse(s).ok_or_else(|| corrupt("resolution", s))?),
            None => None,
        };
        Ok(AbuseReport {
            open: r.status == "open",
            mode: r.mode.as_deref().map(mode).transpose()?,
            id: r.id,
            source,
            category: r.category,
            description: r.description,
            generation_id: r.generation_id,
            output_url: r.output_url,
            account_id: r.account_id,
            reporter_email: r.reporter_email,
            reporter_account_id: r.reporter_account_id,
            deadline_at: r.deadline_at,
            created_at: r.created_at,
            resolved_at: r.resolved_at,
            resolution,
            resolution_note: r.resolution_note,
            resolved_by: r.resolved_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RequestLogRow {
    id: String,
    request_id: String,
    account_id: String,
    mode: String,
    api_key_id: String,
    method: String,
    path: String,
    status: i32,
    end_user: Option<String>,
    latency_us: i64,
    error_code: Option<String>,
    prompt: Option<String>,
    created_at: i64,
}

impl TryFrom<RequestLogRow> for RequestLogEntry {
    type Error = DbError;
    fn try_from(r: RequestLogRow) -> Result<Self, DbError> {
        Ok(RequestLogEntry {
            mode: mode(&r.mode)?,
            status: u16::try_from(r.status)
                .map_err(|_| corrupt("status", &r.status.to_string()))?,
            id: r.id,
            request_id: r.request_id,
            account_id: r.account_id,
            api_key_id: r.api_key_id,
            method: r.method,
            path: r.path,
            end_user: r.end_user,
            latency_us: r.latency_us,
            error_code: r.error_code,
            prompt: r.prompt,
            created_at: r.created_at,
        })
    }
}
