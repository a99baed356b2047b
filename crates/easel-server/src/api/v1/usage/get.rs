//! `GET /v1/usage`, as JSON or CSV.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use easel_core::models::credits_to_eur;
use easel_core::time::now_ms;
use serde::{Deserialize, Serialize};
use time::{Date, Month};
use utoipa::ToSchema;

use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};

/// Longest range one request may cover.
const MAX_DAYS: i64 = 366;

/// `?start_date=&end_date=&format=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// First day, `YYYY-MM-DD` (UTC); default: the first of the current month.
    pub start_date: Option<String>,
    /// Last day, included; default: today.
    pub end_date: Option<String>,
    /// `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    pub format: Option<String>,
}

/// One key's use of one model on one day.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageLine {
    /// `YYYY-MM-DD` (UTC), the day the generations finished.
    pub date: String,
    pub model: String,
    pub api_key_id: String,
    /// Succeeded generations.
    pub generations: i64,
    /// Credits charged (test mode: 0).
    pub credits: i64,
    pub eur: String,
}

/// The sums of all lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageTotals {
    pub generations: i64,
    pub credits: i64,
    pub eur: String,
}

/// Usage in a date range, in the key's mode.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageObject {
    /// Always `usage`.
    #[schema(value_type = String, example = "usage")]
    pub object: &'static str,
    pub livemode: bool,
    pub start_date: String,
    pub end_date: String,
    pub data: Vec<UsageLine>,
    pub totals: UsageTotals,
}

/// Usage report
///
/// Succeeded generations and the credits they were charged, by day, model and key, up to
/// this moment. Credits match the ledger's captures. CSV with `Accept: text/csv` or
/// `format=csv`.
#[utoipa::path(
    get,
    path = "/v1/usage",
    tag = tags::BILLING,
    operation_id = "get_usage",
    security(("api_key" = [])),
    params(UsageParams),
    responses(
        (status = 200, description = "The usage (JSON, or CSV when asked)", body = UsageObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_usage(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<UsageParams>,
) -> ApiResult<Response> {
    let csv = crate::http::csv::wanted(params.format.as_deref(), &headers)?;
    let report = build(&state, &caller.account_id, caller.mode, &params).await?;
    if csv {
        Ok(csv_response(&report))
    } else {
        Ok(axum::Json(report).into_response())
    }
}

/// The report for `account_id` in `mode` over the range `params` names (default: this
/// month so far). The developer console's usage page shows the same object.
pub async fn build(
    app: &crate::app::App,
    account_id: &str,
    mode: easel_core::mode::Mode,
    params: &UsageParams,
) -> ApiResult<UsageObject> {
    let today = now_ms().div_euclid(86_400_000);
    let start = match params.start_date.as_deref() {
        Some(s) => parse_date("start_date", s)?,
        None => easel_core::credits::CapPeriod::Month.start(now_ms()) / 86_400_000,
    };
    let end = match params.end_date.as_deref() {
        Some(s) => parse_date("end_date", s)?,
        None => today,
    };
    if end < start {
        return Err(ApiError::invalid(
            "end_date",
            "`end_date` is before `start_date`.",
        ));
    }
    if end - start >= MAX_DAYS {
        return Err(ApiError::invalid(
            "end_date",
            format!("A report covers at most {MAX_DAYS} days."),
        ));
    }
    let rows = app
        .store
        .usage(account_id, mode, start * 86_400_000, (end + 1) * 86_400_000)
        .await?;
    let data: Vec<UsageLine> = rows
        .into_iter()
        .map(|r| UsageLine {
            date: date_string(r.day),
            model: r.model,
            api_key_id: r.api_key_id,
            generations: r.generations,
            credits: r.credits,
            eur: credits_to_eur(r.credits),
        })
        .collect();
    let generations = data.iter().map(|l| l.generations).sum();
    let credits = data.iter().map(|l| l.credits).sum();
    Ok(UsageObject {
        object: "usage",
        livemode: mode.is_live(),
        start_date: date_string(start),
        end_date: date_string(end),
        data,
        totals: UsageTotals {
            generations,
            credits,
            eur: credits_to_eur(credits),
        },
    })
}

/// The report as a CSV download.
pub fn csv_response(report: &UsageObject) -> Response {
    let mut out = String::from("date,model,api_key_id,generations,credits,eur\n");
    for l in &report.data {
        // Model ids and key ids are plain (letters, digits, `._-`): no quoting needed.
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            l.date, l.model, l.api_key_id, l.generations, l.credits, l.eur
        ));
    }
    out.push_str(&format!(
        "total,,,{},{},{}\n",
        report.totals.generations, report.totals.credits, report.totals.eur
    ));
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"usage-{}-{}.csv\"",
        report.start_date, report.end_date
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn parse_date(param: &'static str, s: &str) -> ApiResult<i64> {
    let bad = || ApiError::invalid(param, format!("`{param}` is a date `YYYY-MM-DD`."));
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let day: u8 = d.parse().map_err(|_| bad())?;
    let month = Month::try_from(month).map_err(|_| bad())?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let epoch = Date::from_calendar_date(1970, Month::January, 1).map_err(|_| bad())?;
    Ok((date - epoch).whole_days())
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
fn date_string(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_parse_strictly_and_round_trip() {
        assert_eq!(super::parse_date("d", "1970-01-02").ok(), Some(1));
        assert_eq!(super::parse_date("d", "2026-11-24").ok(), Some(20_781));
        assert_eq!(super::date_string(20_781), "2026-11-24");
        for bad in [
            "2026-11-31",
            "2026-13-01",
            "26-11-01",
            "2026-11-01-",
            "today",
            "2026-1-01",
            "",
        ] {
            assert!(super::parse_date("d", bad).is_err(), "{bad}");
        }
    }
}
