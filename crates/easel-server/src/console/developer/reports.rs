//! `/console/reports`: the abuse reports filed against the account's generations (this
//! mode), with their state, deadline and outcome, and the account's strikes with how close
//! they bring it to a suspension. Read under `logs:read`; who reported is never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use easel_core::roles::Scope;
use easel_core::time::now_ms;
use minijinja::context;

use super::keys::forbidden;
use super::member::Member;
use crate::app::AppState;
use crate::console::pages::render;
use crate::http::error::ApiError;

/// Rows of each list.
const LIMIT: u32 = 100;

fn when(ms: i64) -> String {
    crate::cli::output::when(Some(ms.div_euclid(1000)))
}

/// `GET /console/reports`.
pub async fn page(state: AppState, member: Member) -> Response {
    if let Err(e) = member.require(Scope::LogsRead) {
        return forbidden(&member, e);
    }
    let account_id = member.account.id.as_str();
    let found = tokio::try_join!(
        state
            .store
            .list_account_abuse_reports(account_id, member.mode, LIMIT),
        state.store.list_strikes(account_id, member.mode, LIMIT),
    );
    let (reports, strikes) = match found {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let now = now_ms();
    let reports: Vec<_> = reports
        .iter()
        .map(|r| {
            context! {
                id => r.id,
                category => r.category,
                description => r.description,
                generation => r.generation_id,
                open => r.open,
                overdue => r.open && r.deadline_at <= now,
                deadline => when(r.deadline_at),
                filed => when(r.created_at),
                resolved => r.resolved_at.map(when),
                resolution => r.resolution.map(|res| res.as_str()),
                note => r.resolution_note,
            }
        })
        .collect();
    let policy = &state.config.moderation.strikes;
    let window_ms = i64::try_from(policy.window_hours)
        .unwrap_or(i64::MAX)
        .saturating_mul(3_600_000);
    let recent = strikes
        .iter()
        .filter(|s| s.created_at > now.saturating_sub(window_ms))
        .count();
    let strikes: Vec<_> = strikes
        .iter()
        .map(|s| {
            context! {
                when => when(s.created_at),
                source => s.source.as_str(),
                category => s.category,
                end_user => s.end_user,
                request => s.request_id,
                report => s.abuse_report_id,
            }
        })
        .collect();
    let ctx = context! {
        layout => member.layout("logs"),
        reports => reports,
        strikes => strikes,
        policy => context! {
            threshold => policy.threshold,
            days => policy.window_hours / 24,
            recent => recent,
            // Only live-mode strikes count towards a suspension.
            applies => member.mode.is_live() && policy.threshold > 0,
        },
    };
    render(StatusCode::OK, "reports.html", ctx)
}
