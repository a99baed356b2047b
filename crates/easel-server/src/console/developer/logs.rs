//! `/console/logs`: the API request log of the current mode with the API's filters, a page
//! at a time, and its CSV export (`/console/logs.csv`, the rows `GET /v1/requests?format=csv`
//! gives); `/console/audit`: the account's audit log. Both need `logs:read`.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use easel_core::roles::Scope;
use easel_db::Page;
use minijinja::context;
use serde::Deserialize;

use super::keys::forbidden;
use super::member::Member;
use crate::api::v1::requests::list::{RequestLogParams, csv_response, list};
use crate::app::AppState;
use crate::console::pages::render;
use crate::http::error::{ApiError, ApiResult};

/// The filter form as a browser sends it: every field, empty when unused.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    failed: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    api_key_id: String,
    /// The last entry of the previous page.
    #[serde(default)]
    after: String,
}

impl LogQuery {
    /// The API's parameters for these filters (empty fields left out).
    fn params(&self) -> ApiResult<RequestLogParams> {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let status = match some(&self.status) {
            Some(s) => Some(s.parse::<u16>().map_err(|_| {
                ApiError::invalid("status", "`status` is an HTTP status, 100 to 599.")
            })?),
            None => None,
        };
        Ok(RequestLogParams {
            limit: Some(50),
            starting_after: some(&self.after),
            api_key_id: some(&self.api_key_id),
            user: some(&self.user),
            status,
            failed: match self.failed.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            path: some(&self.path),
            method: some(&self.method).map(|m| m.to_uppercase()),
            since: None,
            until: None,
            format: None,
        })
    }

    /// The filters as a query string (for the next page and the CSV link).
    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("failed", &self.failed),
            ("method", &self.method),
            ("path", &self.path),
            ("user", &self.user),
            ("api_key_id", &self.api_key_id),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }
}

/// `GET /console/logs`.
pub async fn page(state: AppState, member: Member, Query(q): Query<LogQuery>) -> Response {
    if let Err(e) = member.require(Scope::LogsRead) {
        return forbidden(&member, e);
    }
    let found = match q.params() {
        Ok(params) => list(&state, &member.account.id, member.mode, &params, false).await,
        Err(e) => Err(e),
    };
    let filters = context! {
        status => q.status, failed => q.failed, method => q.method, path => q.path,
        user => q.user, api_key_id => q.api_key_id,
    };
    let query = q.query();
    let (status, rows, next, error) = match found {
        Ok(list) => {
            let rows: Vec<_> = list
                .data
                .iter()
                .map(|r| {
                    context! {
                        when => crate::cli::output::when(Some(r.created_at)),
                        method => r.method, path => r.path, status => r.status,
                        latency_ms => format!("{:.1}", r.latency_ms), key => r.api_key_id,
                        user => r.user, error_code => r.error_code, request_id => r.request_id,
                    }
                })
                .collect();
            (StatusCode::OK, rows, list.next_cursor, None)
        }
        Err(e) => (e.code.status(), Vec::new(), None, Some(e.message)),
    };
    let sep = if query.is_empty() { "" } else { "&" };
    let ctx = context! {
        layout => member.layout("logs"),
        filters => filters,
        rows => rows,
        next => next.map(|n| format!("/console/logs?{query}{sep}after={n}")),
        csv => format!("/console/logs.csv?{query}"),
        first_page => q.after.is_empty(),
        error => error,
    };
    render(status, "logs.html", ctx)
}

/// `GET /console/logs.csv`: up to 1,000 rows of the filtered log (`Easel-Next-Cursor` names
/// the rest, as the API's export does).
pub async fn csv(state: AppState, member: Member, Query(q): Query<LogQuery>) -> Response {
    let result = async {
        member.require(Scope::LogsRead)?;
        let mut params = q.params()?;
        params.limit = None;
        list(&state, &member.account.id, member.mode, &params, true).await
    }
    .await;
    match result {
        Ok(list) => csv_response(list),
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => forbidden(&member, e),
        Err(e) => e.into_response(),
    }
}

/// `GET /console/audit`: the account's audit log, newest first.
pub async fn audit(state: AppState, member: Member) -> Response {
    if let Err(e) = member.require(Scope::LogsRead) {
        return forbidden(&member, e);
    }
    let entries = match state
        .store
        .list_audit(Some(&member.account.id), Page::first(100))
        .await
    {
        Ok(entries) => entries,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let rows: Vec<_> = entries
        .iter()
        .take(100)
        .map(|e| {
            context! {
                when => crate::cli::output::when(Some(e.created_at.div_euclid(1000))),
                action => e.action,
                actor => format!("{}:{}", e.actor_type.as_str(), e.actor_id),
                member => e.actor_user_id,
                target => format!(
                    "{}:{}",
                    e.target_type.as_deref().unwrap_or("-"),
                    e.target_id.as_deref().unwrap_or("-")
                ),
            }
        })
        .collect();
    let ctx = context! { layout => member.layout("audit"), rows => rows };
    render(StatusCode::OK, "audit.html", ctx)
}
