//! `/console` for a member: balance and holds, spend over a day, a week and a month, the
//! plan and its limits, and the notices that apply (the layout shows verification,
//! approval and suspension).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use easel_core::roles::Scope;
use easel_core::time::now_ms;
use minijinja::context;

use super::member::Member;
use crate::app::AppState;
use crate::console::pages::render;
use crate::http::error::ApiError;

const DAY_MS: i64 = 86_400_000;

/// The overview page.
pub async fn page(state: AppState, member: Member) -> Response {
    let account_id = member.account.id.as_str();
    let billing = member.may(Scope::BillingRead);
    let today = now_ms().div_euclid(DAY_MS);
    let (balance, usage) = if billing {
        match tokio::try_join!(
            state.store.balance(account_id, member.mode),
            state.store.usage(
                account_id,
                member.mode,
                (today - 29) * DAY_MS,
                (today + 1) * DAY_MS
            )
        ) {
            Ok((b, u)) => (Some(b), u),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        (None, Vec::new())
    };
    // Credits spent and generations over the last 1, 7 and 30 days (today included).
    let spend = |days: i64| {
        let rows = usage.iter().filter(|r| r.day > today - days);
        let (credits, generations) =
            rows.fold((0i64, 0i64), |(c, g), r| (c + r.credits, g + r.generations));
        context! { credits => credits, generations => generations }
    };
    let plan = state.config.plan(&member.account.plan);
    let limits = member.account.limits;
    let plan_ctx = plan.map(|p| {
        context! {
            name => member.account.plan,
            rpm => limits.requests_per_minute.unwrap_or(p.requests_per_minute),
            rpd => limits.requests_per_day.unwrap_or(p.requests_per_day),
            concurrent => limits.concurrent_jobs.unwrap_or(p.concurrent_jobs),
            retention_days => p.retention_days,
            licence => serde_json::to_value(p.licence).ok().and_then(|v| v.as_str().map(str::to_string)),
            monthly_credits => p.monthly_credits,
        }
    });
    let ctx = context! {
        layout => member.layout("overview"),
        billing => billing,
        balance => balance.map(|b| context! { balance => b.balance, held => b.held, available => b.available() }),
        today => spend(1),
        week => spend(7),
        month => spend(30),
        plan => plan_ctx,
        verified => member.user.email_verified_at.is_some(),
    };
    render(StatusCode::OK, "overview.html", ctx)
}
