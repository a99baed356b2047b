//! How an engine's failure becomes a job outcome and what the developer reads.
//!
//! The classes are the engine contract's ([`EngineError`]); this module decides, once for
//! every engine, what is retried (transient failures and bad outputs, no sooner than a
//! backend's `Retry-After`), what ends the generation at once, and what is said. A message
//! a developer sees is written here from known-safe parts (and a backend's reason only
//! after [`easel_engines::scrub`]); the detail, with whatever URL or path the backend gave,
//! goes to the server log only.

use easel_core::audit::{Actor, action};
use easel_db::{AuditContext, Generation, NewStrike, StrikeSource};
use easel_engines::{EngineError, RefusalStage, scrub};
use easel_queue::{JobError, RunInfo};

use super::{codes, err};
use crate::app::AppState;

/// The outcome of a failed engine run, with the side effects a content refusal has.
pub async fn engine(
    app: &AppState,
    g: &Generation,
    run: &RunInfo,
    e: EngineError,
    timed_out_after: Option<u64>,
) -> JobError {
    if let EngineError::Refused {
        stage,
        categories,
        detail,
    } = &e
    {
        tracing::warn!(generation.id = %g.id, model = %g.model, attempt = run.attempt, stage = ?stage, categories = ?categories, detail = %detail, "the backend refused the content");
        match stage {
            RefusalStage::Input => strike(app, g, categories).await,
            RefusalStage::Output => flag(app, g, categories).await,
        }
    }
    engine_sync(app, g, run, e, timed_out_after)
}

/// The outcome of a failed engine run or output check (no side effects).
pub fn engine_sync(
    app: &AppState,
    g: &Generation,
    run: &RunInfo,
    e: EngineError,
    timed_out_after: Option<u64>,
) -> JobError {
    // Which try this was: the last attempt's message is the one the developer reads.
    let attempt = format!("attempt {} of {}", run.attempt, run.max_attempts);
    match e {
        EngineError::Canceled => JobError::Canceled,
        EngineError::Transient {
            detail,
            retry_after,
        } => {
            tracing::warn!(generation.id = %g.id, model = %g.model, detail = %detail, retry_after_ms = retry_after.map(|d| d.as_millis() as u64), "the model backend failed; the generation will be retried if it has attempts left");
            let message = match timed_out_after {
                Some(s) => err(
                    codes::ENGINE_TIMEOUT,
                    format!(
                        "The model backend did not finish within {s} s ({attempt}); nothing was charged."
                    ),
                ),
                None => err(
                    codes::ENGINE_UNAVAILABLE,
                    format!(
                        "The model backend was unavailable or failing ({attempt}); nothing was charged."
                    ),
                ),
            };
            match retry_after {
                Some(after) => JobError::RetryAfter(message, after),
                None => JobError::Retryable(message),
            }
        }
        EngineError::BadOutput { detail, reason } => {
            tracing::warn!(generation.id = %g.id, model = %g.model, detail = %detail, "the model backend returned an unusable output");
            JobError::Retryable(err(
                codes::ENGINE_BAD_OUTPUT,
                format!(
                    "The model backend returned an unusable output ({}; {attempt}); nothing was charged.",
                    scrub(&reason)
                ),
            ))
        }
        EngineError::Permanent { detail, reason } => {
            tracing::warn!(generation.id = %g.id, model = %g.model, detail = %detail, "the model backend rejected the request");
            JobError::Fatal(err(
                codes::ENGINE_ERROR,
                format!(
                    "The model backend rejected the request: {}. Nothing was charged.",
                    scrub(&reason).trim_end_matches('.')
                ),
            ))
        }
        EngineError::Misconfigured { detail } => {
            app.engines.count_misconfigured(&g.model);
            tracing::error!(generation.id = %g.id, model = %g.model, detail = %detail, "the model backend is misconfigured: check the model's settings and the backend (`easel admin engines check`)");
            JobError::Fatal(err(
                codes::ENGINE_MISCONFIGURED,
                "The model is not set up correctly on the server; the operator has been alerted. Nothing was charged.",
            ))
        }
        EngineError::Refused {
            stage, categories, ..
        } => {
            let what = match stage {
                RefusalStage::Input => "the request",
                RefusalStage::Output => "the output",
            };
            let categories = if categories.is_empty() {
                "unspecified".to_owned()
            } else {
                scrub(&categories.join(", "))
            };
            JobError::Fatal(err(
                codes::BACKEND_CONTENT_REFUSED,
                format!(
                    "The model backend's safety system refused {what} (categories: {categories}). Nothing was charged."
                ),
            ))
        }
    }
}

/// An input-stage refusal counts as a strike, like Easel's own input moderation.
async fn strike(app: &AppState, g: &Generation, categories: &[String]) {
    let strike = NewStrike {
        account_id: g.account_id.clone(),
        mode: g.mode,
        end_user: g.end_user.clone(),
        source: StrikeSource::Moderation,
        category: categories
            .first()
            .cloned()
            .unwrap_or_else(|| "backend".to_owned()),
        detail: format!(
            "refused by the model backend of `{}` (generation {})",
            g.model, g.id
        ),
        request_id: None,
        abuse_report_id: None,
    };
    let audit = AuditContext::new(Actor::system(), None)
        .with("generation_id", g.id.clone())
        .with("categories", categories.to_vec());
    let policy = app.config.moderation.strikes.policy();
    match app.store.record_strike(strike, policy, audit).await {
        Ok(outcome) => {
            if let Some(account) = outcome.suspended {
                tracing::warn!(account.id = %account.id, strikes = outcome.strikes_in_window, "account suspended after repeated content policy violations");
                app.auth.invalidate_account(&account.id);
            }
        }
        Err(e) => {
            tracing::error!(account.id = %g.account_id, error = %e, "could not record a strike for a backend refusal")
        }
    }
}

/// An output-stage refusal is the operator's to review (the developer's prompt passed
/// every check): an audit entry, as Easel's own output moderation writes.
async fn flag(app: &AppState, g: &Generation, categories: &[String]) {
    let audit = AuditContext::new(Actor::system(), None)
        .with("categories", categories.to_vec())
        .with("model", g.model.clone())
        .with("end_user", g.end_user.clone());
    if let Err(e) = app
        .store
        .append_audit(
            Some(&g.account_id),
            action::GENERATION_BACKEND_REFUSED_OUTPUT,
            ("generation", &g.id),
            audit,
        )
        .await
    {
        tracing::error!(generation.id = %g.id, error = %e, "could not flag a backend's output refusal");
    }
}
