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
