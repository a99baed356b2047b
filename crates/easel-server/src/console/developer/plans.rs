//! `/console/plans`: the plans side by side (limits, retention, licence, credits, price),
//! the account's subscription, and — for owners and admins, when the server sells plans —
//! subscribe (Stripe Checkout), switch, downgrade at the period's end, keep the plan, and
//! Stripe's billing portal for the payment method. Changes go to Stripe; its webhooks
//! apply them (`services::subscriptions`), so the page says so instead of pretending.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use easel_core::roles::{Action, Scope};
use minijinja::context;

use super::keys::forbidden;
use super::member::Member;
use crate::app::AppState;
use crate::cli::output::day;
use crate::console::form::Form;
use crate::console::pages::render;
use crate::http::error::{ApiError, ApiResult};
use crate::services::subscriptions::{self, Request, Subscriber};

/// `?checkout=success|canceled&changed=1`: how the member came back.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PlansQuery {
    checkout: Option<String>,
    changed: Option<String>,
}

/// `GET /console/plans`.
pub async fn page(
    state: AppState,
    member: Member,
    axum::extract::Query(q): axum::extract::Query<PlansQuery>,
) -> Response {
    let notice = match (q.checkout.as_deref(), q.changed.as_deref()) {
        (Some("success"), _) => Some(
            "Thank you: the subscription is paid. The plan changes as soon as Stripe confirms it, usually within seconds.",
        ),
        (Some("canceled"), _) => Some("Nothing changed and nothing was charged."),
        (_, Some(_)) => Some(
            "Stripe has the change; the plan shown here follows as soon as Stripe confirms it, usually within seconds.",
        ),
        _ => None,
    };
    plans_page(&state, &member, StatusCode::OK, None, notice).await
}

/// The subscription context of the past-due notice, for the overview and billing pages
/// (`None` when the role does not read billing, or payments are fine).
pub(super) async fn past_due_notice(
    state: &AppState,
    member: &Member,
) -> Result<Option<minijinja::Value>, ApiError> {
    if !member.may(Scope::BillingRead) || !state.config.payments.stripe.enabled() {
        return Ok(None);
    }
    let found = state.store.get_subscription(&member.account.id).await?;
    Ok(found
        .as_ref()
        .and_then(|s| past_due(state, s))
        .map(|p| context! { past_due => p }))
}

/// The past-due notice every billing page shows: when the payment failed and when the
/// account is suspended unless it succeeds (`None` while payments are fine).
pub(super) fn past_due(state: &AppState, s: &easel_db::Subscription) -> Option<minijinja::Value> {
    let since = s.past_due_since?;
    let days = i64::from(state.config.payments.stripe.past_due_suspend_days);
    Some(context! {
        since => day(since),
        suspend_on => day(since + days * 86_400_000),
        suspended => s.suspended_at.is_some(),
    })
}

async fn plans_page(
    state: &AppState,
    member: &Member,
    status: StatusCode,
    error: Option<String>,
    notice: Option<&str>,
) -> Response {
    if let Err(e) = member.require(Scope::BillingRead) {
        return forbidden(member, e);
    }
    let current = match state.store.get_subscription(&member.account.id).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let live = current.as_ref().filter(|s| s.is_live());
    let selling = subscriptions::selling(state);
    let may_change = selling && member.caller.require_action(Action::ManageBilling).is_ok();
    let account_plan = member.account.plan.as_str();
    let default_plan = state.config.default_plan.as_str();
    // Cheapest first: the default plan, then sold plans by price, then the rest.
    let mut plans: Vec<_> = state.config.plans.iter().collect();
    plans.sort_by_key(|(name, p)| {
        (
            name.as_str() != default_plan,
            p.price_eur_month.is_none(),
            p.price_eur_month,
            name.as_str(),
        )
    });
    let rows: Vec<_> = plans
        .iter()
        .map(|(name, p)| {
            let name = name.as_str();
            let is_current = name == account_plan;
            // What the member can do about this plan, if anything.
            let action = match (is_current, live) {
                (true, Some(s)) if s.cancel_at_period_end && name == s.plan => Some("resume"),
                (true, _) => None,
                (false, None) if p.sold() => Some("subscribe"),
                (false, Some(_)) if p.sold() => Some("switch"),
                (false, Some(s)) if name == default_plan && !s.cancel_at_period_end => {
                    Some("downgrade")
                }
                _ => None,
            };
            context! {
                name => name,
                current => is_current,
                price => p.price_eur_month,
                sold => p.sold(),
                default => name == default_plan,
                rpm => p.requests_per_minute,
                rpd => p.requests_per_day,
                concurrent => p.concurrent_jobs,
                retention_days => p.retention_days,
                licence => serde_json::to_value(p.licence).ok().and_then(|v| v.as_str().map(str::to_string)),
                monthly_credits => p.monthly_credits,
                action => if may_change { action } else { None },
            }
        })
        .collect();
    let subscription = current.as_ref().map(|s| {
        context! {
            plan => s.plan,
            status => s.status,
            live => s.is_live(),
            period_end => s.current_period_end.map(day),
            cancel_at_period_end => s.cancel_at_period_end,
            past_due => past_due(state, s),
        }
    });
    let ctx = context! {
        layout => member.layout("plans"),
        plans => rows,
        plan => account_plan,
        default_plan => default_plan,
        has_overrides => member.account.limits != easel_db::LimitOverrides::default(),
        subscription => subscription,
        selling => selling,
        may_change => may_change,
        error => error,
        notice => notice,
    };
    render(status, "plans.html", ctx)
}

/// The plan a form names.
#[derive(Debug, serde::Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    plan: String,
}

/// Runs a billing change for an owner or admin and answers with Stripe's page, a redirect,
/// or the plans page with the error.
async fn act<F, Fut>(state: &AppState, member: &Member, run: F) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ApiResult<Option<String>>>,
{
    let allowed = member
        .require(Scope::BillingRead)
        .and_then(|()| member.caller.require_action(Action::ManageBilling));
    let result = match allowed {
        Ok(()) => run().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(Some(url)) => {
            let ctx = context! {
                layout => member.layout("plans"),
                url => url,
                purpose => "Stripe's page handles the subscription and its payment method; the plan here follows what Stripe confirms.",
                back => "/console/plans",
            };
            render(StatusCode::OK, "to_stripe.html", ctx)
        }
        Ok(None) => axum::response::Redirect::to("/console/plans?changed=1").into_response(),
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => forbidden(member, e),
        Err(e) => {
            let status = e.code.status();
            let message = e.message.into_owned();
            plans_page(state, member, status, Some(message), None).await
        }
    }
}

/// `POST /console/plans/subscribe`: Stripe Checkout for a sold plan.
pub async fn subscribe(state: AppState, member: Member, Form(form): Form<PlanForm>) -> Response {
    act(&state, &member, || async {
        let who = Subscriber {
            account_id: &member.account.id,
            email: &member.user.email,
        };
        let (_, url) =
            subscriptions::subscribe(&state, who, form.plan.trim(), member.caller.audit()).await?;
        Ok(Some(url))
    })
    .await
}

/// `POST /console/plans/change`: switch to another sold plan, or back to the default plan
/// at the end of the period paid for.
pub async fn change(state: AppState, member: Member, Form(form): Form<PlanForm>) -> Response {
    act(&state, &member, || async {
        let request = Request::MoveTo(form.plan.trim());
        subscriptions::change(&state, &member.account.id, request, member.caller.audit()).await?;
        Ok(None)
    })
    .await
}

/// `POST /console/plans/resume`: keep renewing a subscription set to end.
pub async fn resume(state: AppState, member: Member, _: Form<PlanForm>) -> Response {
    act(&state, &member, || async {
        subscriptions::change(
            &state,
            &member.account.id,
            Request::Keep,
            member.caller.audit(),
        )
        .await?;
        Ok(None)
    })
    .await
}

/// `POST /console/plans/portal`: Stripe's billing portal (payment method, invoices).
pub async fn portal(state: AppState, member: Member, _: Form<PlanForm>) -> Response {
    act(&state, &member, || async {
        Ok(Some(
            subscriptions::portal(&state, &member.account.id).await?,
        ))
    })
    .await
}
