//! Adding credits: operator grants (and, later, purchases and plan allowances).

use easel_core::credits::{LedgerType, MAX_MOVEMENT};
use easel_core::mode::Mode;
use easel_db::{AuditContext, LedgerEntry, NewCredit};

use crate::app::App;
use crate::http::error::{ApiError, ApiResult};
use crate::services::OrNotFound;

/// Longest grant reason.
const MAX_REASON_CHARS: usize = 500;

/// Grants `credits` to an account's live balance (test mode never uses credits).
pub async fn grant(
    app: &App,
    account_id: &str,
    credits: i64,
    reason: &str,
    audit: AuditContext,
) -> ApiResult<LedgerEntry> {
    if !(1..=MAX_MOVEMENT).contains(&credits) {
        return Err(ApiError::invalid(
            "credits",
            format!("Grant between 1 and {MAX_MOVEMENT} credits."),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::invalid(
            "reason",
            format!("Give a reason of 1 to {MAX_REASON_CHARS} characters."),
        ));
    }
    app.store
        .add_credits(NewCredit {
            account_id: account_id.to_string(),
            mode: Mode::Live,
            entry_type: LedgerType::Grant,
            amount: credits,
            reference: None,
            reason: Some(reason.to_string()),
            audit,
        })
        .await
        .or_not_found("account", account_id)
}

/// The billing period (UTC calendar month) containing `now_ms`, as `YYYY-MM`: the
/// reference that makes a plan allowance count once per period.
pub fn billing_period(now_ms: i64) -> String {
    let start = easel_core::credits::CapPeriod::Month.start(now_ms) / 1000;
    time::OffsetDateTime::from_unix_timestamp(start)
        .map(|t| format!("{:04}-{:02}", t.year(), u8::from(t.month())))
        .unwrap_or_else(|_| "1970-01".into())
}

/// Grants an account its plan's monthly credits for the period containing `now_ms`, once:
/// a second call for the same period changes nothing (the ledger's unique reference).
/// Returns the credits granted now (0 if none are due or they were already granted). A plan
/// sold through Stripe gets its credits with each paid invoice instead
/// (`services::subscriptions`), never by the calendar.
pub async fn grant_plan_allowance(
    app: &App,
    account_id: &str,
    plan: &str,
    now_ms: i64,
) -> ApiResult<i64> {
    let credits = app
        .config
        .plan(plan)
        .filter(|p| !p.sold())
        .map_or(0, |p| p.monthly_credits);
    if credits <= 0 {
        return Ok(0);
    }
    let period = billing_period(now_ms);
    let mut audit = AuditContext::new(easel_core::audit::Actor::system(), None);
    audit.now = now_ms;
    let new = NewCredit {
        account_id: account_id.to_string(),
        mode: Mode::Live,
        entry_type: LedgerType::PlanAllowance,
        amount: credits,
        reference: Some(("plan_period".into(), period.clone())),
        reason: Some(format!("{plan} plan, {period}")),
        audit,
    };
    match app.store.add_credits(new).await {
        Ok(_) => Ok(credits),
        Err(easel_db::DbError::Conflict(_)) => Ok(0),
        // A terminated account gets nothing.
        Err(easel_db::DbError::Rule(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Grants every account on a plan with monthly credits its allowance for the current
/// period (idempotent: run it as often as you like). Returns how many accounts got one.
pub async fn grant_plan_allowances(app: &App, now_ms: i64) -> ApiResult<u64> {
    if !app
        .config
        .plans
        .values()
        .any(|p| p.monthly_credits > 0 && !p.sold())
    {
        return Ok(0);
    }
    let mut granted = 0;
    let mut page = easel_db::Page::first(500);
    loop {
        let accounts = app.store.list_accounts(page.clone()).await?;
        let more = accounts.len() > page.limit as usize;
        for account in accounts.iter().take(page.limit as usize) {
            if grant_plan_allowance(app, &account.id, &account.plan, now_ms).await? > 0 {
                granted += 1;
            }
        }
        match (more, accounts.get(page.limit as usize - 1)) {
            (true, Some(last)) => page.starting_after = Some(last.id.clone()),
            _ => return Ok(granted),
        }
    }
}
