//! `/console/usage`: generations and credits by day (a uPlot chart), by model and by key,
//! for a date range; the numbers are `GET /v1/usage`'s own report (the same function), and
//! `/console/usage.csv` is its CSV.

use std::collections::BTreeMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use easel_core::models::credits_to_eur;
use easel_core::roles::Scope;
use easel_db::Page;
use minijinja::context;

use super::keys::forbidden;
use super::member::Member;
use crate::api::v1::usage::get::{UsageObject, UsageParams, build, csv_response};
use crate::app::AppState;
use crate::console::pages::render;

const DAY_SECS: i64 = 86_400;

/// The range the form asks for (`YYYY-MM-DD`, empty: the report's default, this month).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Range {
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    end_date: String,
}

impl Range {
    fn params(&self) -> UsageParams {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        UsageParams {
            start_date: some(&self.start_date),
            end_date: some(&self.end_date),
            format: None,
        }
    }
}

/// Days since 1970 of a report date (`YYYY-MM-DD`, as the report writes it).
fn day_of(date: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(date, &format).ok()?;
    Some(d.to_julian_day() as i64 - 2_440_588)
}

/// The chart's series: one x per day of the range, one series per model (generations).
fn chart(report: &UsageObject) -> serde_json::Value {
    let (Some(first), Some(last)) = (day_of(&report.start_date), day_of(&report.end_date)) else {
        return serde_json::Value::Null;
    };
    let days: Vec<i64> = (first..=last).collect();
    let mut by_model: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for line in &report.data {
        let Some(day) = day_of(&line.date) else {
            continue;
        };
        let series = by_model
            .entry(line.model.as_str())
            .or_insert_with(|| vec![0; days.len()]);
        if let Some(slot) = usize::try_from(day - first)
            .ok()
            .and_then(|i| series.get_mut(i))
        {
            *slot += line.generations;
        }
    }
    serde_json::json!({
        "unit": "generations",
        "days": days.iter().map(|d| d * DAY_SECS).collect::<Vec<_>>(),
        "models": by_model.keys().collect::<Vec<_>>(),
        "values": by_model.values().collect::<Vec<_>>(),
    })
}

/// Sums of generations and credits per `key` of the lines.
fn totals_by<'a>(
    report: &'a UsageObject,
    key: impl Fn(&'a crate::api::v1::usage::get::UsageLine) -> &'a str,
) -> Vec<(String, i64, i64)> {
    let mut sums: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for line in &report.data {
        let sum = sums.entry(key(line)).or_default();
        sum.0 += line.generations;
        sum.1 += line.credits;
    }
    sums.into_iter()
        .map(|(k, (g, c))| (k.to_string(), g, c))
        .collect()
}

/// `GET /console/usage`.
pub async fn page(state: AppState, member: Member, Query(range): Query<Range>) -> Response {
    if let Err(e) = member.require(Scope::BillingRead) {
        return forbidden(&member, e);
    }
    let report = match build(&state, &member.account.id, member.mode, &range.params()).await {
        Ok(report) => report,
        Err(e) => {
            let ctx = context! {
                layout => member.layout("usage"),
                error => e.message,
                start_date => range.start_date,
                end_date => range.end_date,
            };
            return render(e.code.status(), "usage.html", ctx);
        }
    };
    // Keys by id, to name them (a deleted member's keys stay listed).
    let names: BTreeMap<String, String> = match state
        .store
        .list_keys(&member.account.id, Some(member.mode), Page::first(100))
        .await
    {
        Ok(keys) => keys
            .into_iter()
            .map(|k| (k.id, format!("{} ({}…)", k.name, k.display_prefix)))
            .collect(),
        Err(e) => return crate::http::error::ApiError::from(e).into_response(),
    };
    let row = |(name, generations, credits): (String, i64, i64)| {
        context! { name => name, generations => generations, credits => credits, eur => credits_to_eur(credits) }
    };
    let models: Vec<_> = totals_by(&report, |l| l.model.as_str())
        .into_iter()
        .map(row)
        .collect();
    let keys: Vec<_> = totals_by(&report, |l| l.api_key_id.as_str())
        .into_iter()
        .map(|(id, g, c)| row((names.get(&id).cloned().unwrap_or(id), g, c)))
        .collect();
    let ctx = context! {
        layout => member.layout("usage"),
        start_date => report.start_date,
        end_date => report.end_date,
        totals => context! { generations => report.totals.generations, credits => report.totals.credits, eur => report.totals.eur },
        models => models,
        keys => keys,
        // Inside <script type="application/json">, where entities are not decoded: raw JSON
        // with every `<` escaped, so no value can close the element.
        chart => chart(&report).to_string().replace('<', "\\u003c"),
    };
    render(StatusCode::OK, "usage.html", ctx)
}

/// `GET /console/usage.csv`: the report as `GET /v1/usage?format=csv` gives it.
pub async fn csv(state: AppState, member: Member, Query(range): Query<Range>) -> Response {
    if let Err(e) = member.require(Scope::BillingRead) {
        return forbidden(&member, e);
    }
    match build(&state, &member.account.id, member.mode, &range.params()).await {
        Ok(report) => csv_response(&report),
        Err(e) => e.into_response(),
    }
}
