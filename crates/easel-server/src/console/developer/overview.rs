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

/// The credits card: balance, holds and spend over a day, a week and a month (`None` when
/// the member's role does not read billing).
pub(super) async fn credits(
    state: &AppState,
    member: &Member,
) -> Result<Option<minijinja::Value>, ApiError> {
    if !member.may(Scope::BillingRead) {
        return Ok(None);
    }
    let account_id = member.account.id.as_str();
    let today = now_ms().div_euclid(DAY_MS);
    let (balance, usage) = tokio::try_join!(
        state.store.balance(account_id, member.mode),
        state.store.usage(
            account_id,
            member.mode,
            (today - 29) * DAY_MS,
            (today + 1) * DAY_MS
        )
    )?;
    // Credits spent and generations over the last 1, 7 and 30 days (today included).
    let spend = |days: i64| {
        let rows = usage.iter().filter(|r| r.day > today - days);
        let (credits, generations) =
            rows.fold((0i64, 0i64), |(c, g), r| (c + r.credits, g + r.generations));
        context! { credits => credits, generations => generations }
    };
    Ok(Some(context! {
        live => member.mode.is_live(),
        balance => balance.balance,
        held => balance.held,
        available => balance.available(),
        today => spend(1),
        week => spend(7),
        month => spend(30),
    }))
}

/// `GET /console/partials/credits`: the credits card alone; the overview asks for it every
/// few seconds (htmx), so spend shows as it happens.
pub async fn credits_partial(state: AppState, member: Member) -> Response {
    match credits(&state, &member).await {
        Ok(Some(card)) => render(
            StatusCode::OK,
            "credits_partial.html",
            context! { credits => card },
        ),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The deprecated operations the account still calls (either mode), with their sunset:
/// what it must change before they answer 410 (clause 14).
async fn deprecated_calls(
    state: &AppState,
    member: &Member,
) -> Result<Vec<minijinja::Value>, ApiError> {
    if state.config.deprecations.is_empty() {
        return Ok(Vec::new());
    }
    let calls = state.store.deprecated_calls(&member.account.id).await?;
    Ok(calls
        .iter()
        .filter_map(|c| {
            let d = state.config.deprecation(&c.method, &c.route)?;
            Some(context! {
                method => d.method.to_ascii_uppercase(),
                route => d.route,
                mode => c.mode.as_str(),
                calls => c.calls,
                last => crate::cli::output::day(c.last_at),
                sunset => crate::cli::output::day(d.sunset_at),
                link => d.link,
            })
        })
        .collect())
}

/// The overview page.
pub async fn page(state: AppState, member: Member) -> Response {
    let (card, subscription, deprecated) = match tokio::try_join!(
        credits(&state, &member),
        super::plans::past_due_notice(&state, &member),
        deprecated_calls(&state, &member)
    ) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    // Generations by status over the last 30 days (only for roles that read them).
    let by_status = if member.may(Scope::GenerationsRead) {
        let since = now_ms().saturating_sub(30 * DAY_MS);
        match state
            .store
            .generation_counts(&member.account.id, member.mode, since)
            .await
        {
            Ok(counts) => Some(
                easel_core::jobs::JobStatus::ALL
                    .iter()
                    .map(|s| {
                        let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
                        context! { status => s.as_str(), count => n }
                    })
                    .collect::<Vec<_>>(),
            ),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        None
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
        credits => card,
        subscription => subscription,
        deprecated => deprecated,
        by_status => by_status,
        plan => plan_ctx,
    };
    render(StatusCode::OK, "overview.html", ctx)
}
