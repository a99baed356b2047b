//! Erasure of an account: asked for by an owner (it waits for the cooling-off period, the
//! account suspended meanwhile, and can be canceled), by the operator (at once), or
//! scheduled by a termination (after the retention period).
//!
//! Running one is a sequence of steps that can each be repeated, so an erasure cut short
//! (a node dying, a database hiccup) is simply run again by whichever node claims it
//! next: terminate the account (keys revoked, jobs canceled, the final invoice issued),
//! delete its objects, delete its logs and events in batches, redact its audit entries,
//! then replace its personal data with placeholders in one transaction that marks it done.
//! Every step is in the audit log, with counts and never a personal value.

use anyhow::Context;
use easel_core::account::AccountState;
use easel_core::audit::{Actor, action};
use easel_core::time::now_ms;
use easel_db::{
    AuditContext, Erasure, ErasureReason, ErasureState, NewErasure, Placeholders, ScrubCounts,
    StateChange,
};

use crate::app::App;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mail;
use crate::services::OrNotFound;

/// The suspension reason an owner's request sets (a cancellation lifts only this one).
pub const SUSPENSION_REASON: &str = "Erasure requested by an owner: the account and its data will be erased when the cooling-off period ends. An owner can cancel it on the console's Account page until then.";

/// What replaces free text.
pub const ERASED: &str = "[erased]";

/// Rows deleted per batch, each batch its own transaction.
const BATCH: i64 = 5000;

/// An owner's request: scheduled after the cooling-off period, the account suspended
/// meanwhile. The owners are told by mail.
pub async fn request(
    app: &App,
    account_id: &str,
    requested_by: &str,
    audit: AuditContext,
) -> ApiResult<Erasure> {
    let due_at = audit
        .now
        .saturating_add(app.config.data_rights.cooling_off_ms());
    let new = NewErasure {
        account_id: account_id.to_string(),
        reason: ErasureReason::OwnerRequest,
        requested_by: requested_by.to_string(),
        due_at,
        suspend_reason: Some(SUSPENSION_REASON.to_string()),
    };
    let erasure = app
        .store
        .request_erasure(new, audit)
        .await
        .or_not_found("account", account_id)?;
    app.auth.invalidate_account(account_id);
    tell_owners(
        app,
        account_id,
        "Your Easel account will be erased",
        &format!(
            "An owner asked for the erasure of this account ({account_id}).\n\n\
             It is suspended now, and it and its data will be erased on {} (UTC). Until then an \
             owner can cancel the erasure on the Account page of the console: {}/console/account\n",
            crate::cli::output::day(erasure.due_at),
            app.config.public_url()
        ),
    )
    .await;
    super::wake();
    Ok(erasure)
}

/// Cancels an owner's request during its cooling-off period, lifting its suspension.
pub async fn cancel(app: &App, account_id: &str, audit: AuditContext) -> ApiResult<Erasure> {
    let erasure = app
        .store
        .cancel_erasure(account_id, SUSPENSION_REASON, audit)
        .await
        .or_not_found("erasure", account_id)?;
    app.auth.invalidate_account(account_id);
    Ok(erasure)
}

/// The operator's erasure (`easel admin account erase`): runs now, on this process,
/// whether or not one was scheduled.
pub async fn erase_now(app: &App, account_id: &str) -> ApiResult<(Erasure, ScrubCounts)> {
    let now = now_ms();
    let existing = match app.store.get_erasure(account_id).await {
        Ok(e) => Some(e),
        Err(easel_db::DbError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    match existing.as_ref().map(|e| e.state) {
        Some(ErasureState::Done) => {
            return Err(ApiError::new(
                ErrorCode::erasure_already_requested,
                "This account is erased already.",
            ));
        }
        Some(ErasureState::Scheduled | ErasureState::Running) => {}
        None | Some(ErasureState::Canceled) => {
            let new = NewErasure {
                account_id: account_id.to_string(),
                reason: ErasureReason::Operator,
                requested_by: "cli".into(),
                due_at: now,
                suspend_reason: None,
            };
            let audit = AuditContext::new(Actor::cli(), None);
            app.store
                .request_erasure(new, audit)
                .await
                .or_not_found("account", account_id)?;
        }
    }
    let owner = super::node();
    let lease_until = now.saturating_add(app.config.data_rights.lease_ms());
    let Some(erasure) = app
        .store
        .claim_erasure(owner, lease_until, now, Some(account_id))
        .await?
    else {
        return Err(ApiError::new(
            ErrorCode::erasure_in_progress,
            "Another process is erasing this account now; check again in a few minutes.",
        ));
    };
    match execute(app, &erasure, owner).await {
        Ok(counts) => {
            let done = app.store.get_erasure(account_id).await?;
            Ok((done, counts))
        }
        Err(e) => {
            let message = format!("{e:#}");
            retry_later(app, &erasure, owner, &message).await;
            Err(ApiError::new(
                ErrorCode::internal_error,
                format!("The erasure stopped ({message}); run it again to finish it."),
            ))
        }
    }
}

/// Claims one due erasure and runs it. Whether one was claimed.
pub async fn run_next(app: &App, now: i64) -> anyhow::Result<bool> {
    let owner = super::node();
    let lease_until = now.saturating_add(app.config.data_rights.lease_ms());
    let Some(erasure) = app
        .store
        .claim_erasure(owner, lease_until, now, None)
        .await?
    else {
        return Ok(false);
    };
    if let Err(e) = execute(app, &erasure, owner).await {
        let message = format!("{e:#}");
        tracing::error!(account.id = %erasure.account_id, error = %message, "an erasure failed; it will be retried");
        retry_later(app, &erasure, owner, &message).await;
    }
    Ok(true)
}

async fn retry_later(app: &App, erasure: &Erasure, owner: &str, error: &str) {
    // A minute per attempt so far, at most an hour.
    let delay = 60_000 * erasure.attempts.clamp(1, 60);
    let retry_at = now_ms().saturating_add(delay);
    if let Err(e) = app
        .store
        .erasure_failed(&erasure.account_id, owner, error, retry_at)
        .await
    {
        tracing::warn!(account.id = %erasure.account_id, error = %e, "could not reschedule a failed erasure; its lease will lapse");
    }
}

fn system(erasure: &Erasure) -> AuditContext {
    AuditContext::new(Actor::system(), None)
        .with("erasure_reason", erasure.reason.as_str())
        .with("attempt", erasure.attempts)
}

/// Runs a claimed erasure to its end.
async fn execute(app: &App, erasure: &Erasure, owner: &str) -> anyhow::Result<ScrubCounts> {
    let account_id = erasure.account_id.as_str();
    tracing::info!(
        account.id = account_id,
        reason = erasure.reason.as_str(),
        "erasing an account"
    );
    let store = &app.store;
    let target = ("account", account_id);
    store
        .append_audit(
            Some(account_id),
            action::ERASURE_STARTED,
            target,
            system(erasure),
        )
        .await?;
    let account = store.get_account(account_id).await?;
    if account.state != AccountState::Terminated {
        crate::services::accounts::change_state(
            app,
            account_id,
            StateChange::Terminate,
            system(erasure),
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot terminate the account: {}", e.message))?;
    }
    let objects = app
        .outputs
        .delete_prefix(account_id)
        .await
        .context("cannot delete the account's objects")?;
    store
        .append_audit(
            Some(account_id),
            action::ERASURE_OBJECTS_DELETED,
            target,
            system(erasure).with("objects", objects),
        )
        .await?;
    let mut deleted = serde_json::Map::new();
    loop {
        let batch = store.erase_records(account_id, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for (table, n) in batch {
            let total = deleted.get(&table).and_then(|v| v.as_u64()).unwrap_or(0) + n;
            deleted.insert(table, total.into());
        }
        keep_lease(app, account_id, owner).await?;
    }
    store
        .append_audit(
            Some(account_id),
            action::ERASURE_RECORDS_DELETED,
            target,
            system(erasure).with("deleted", serde_json::Value::Object(deleted)),
        )
        .await?;
    while store
        .redact_audit(account_id, ERASED, 1000, now_ms())
        .await?
        > 0
    {
        keep_lease(app, account_id, owner).await?;
    }
    let users = store.sole_users(account_id).await?;
    let placeholders = Placeholders {
        account_name: "Erased account".into(),
        account_email: placeholder_email(),
        user_emails: users.iter().map(|_| placeholder_email()).collect(),
        text: ERASED.into(),
        url: "https://erased.invalid/".into(),
        invoice_buyer: (!app.config.data_rights.keep_invoice_buyer).then(|| ERASED.to_string()),
    };
    let counts = store
        .scrub_account(account_id, owner, &users, &placeholders, system(erasure))
        .await
        .context("cannot replace the account's personal data")?;
    // A job that was still running when the account was terminated may have stored an
    // output since the first pass.
    let late = app
        .outputs
        .delete_prefix(account_id)
        .await
        .context("cannot delete the account's late objects")?;
    if late > 0 {
        tracing::warn!(
            account.id = account_id,
            objects = late,
            "deleted objects stored during the erasure"
        );
    }
    app.auth.invalidate_account(account_id);
    tracing::info!(account.id = account_id, "account erased");
    Ok(counts)
}

/// Renews the erasure's lease between batches; fails if it was lost.
async fn keep_lease(app: &App, account_id: &str, owner: &str) -> anyhow::Result<()> {
    let until = now_ms().saturating_add(app.config.data_rights.lease_ms());
    let kept = app
        .store
        .renew_erasure_lease(account_id, owner, until)
        .await?;
    anyhow::ensure!(kept, "the erasure's lease was lost");
    Ok(())
}

/// A unique address that says nothing about whom it replaces: random, never derived from
/// the value.
fn placeholder_email() -> String {
    format!(
        "erased-{}@erased.invalid",
        hex::encode(rand::random::<[u8; 10]>())
    )
}

async fn tell_owners(app: &App, account_id: &str, subject: &str, body: &str) {
    let members = match app.store.list_members(account_id).await {
        Ok(members) => members,
        Err(e) => {
            tracing::warn!(account.id = account_id, error = %e, "could not mail the account's owners");
            return;
        }
    };
    for owner in members
        .iter()
        .filter(|m| m.role == easel_core::roles::Role::Owner)
    {
        app.mailer
            .send(Mail {
                to: owner.email.clone(),
                subject: subject.into(),
                body: body.into(),
            })
            .await;
    }
}
