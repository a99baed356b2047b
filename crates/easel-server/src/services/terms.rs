//! Versions of the API terms (clause 18): the operator announces a new version with its
//! effective date at least 30 days ahead; every account owner is mailed and every console
//! page shows the notice until then; from that date the new version is the one in force,
//! sign-up accepts it, and each member is asked to accept it at their next visit.

use easel_core::time::now_ms;
use easel_db::{AuditContext, TermsVersion};

use crate::app::App;
use crate::http::error::{ApiError, ApiResult};
use crate::mail::Mail;

/// The shortest notice of a change, in days (clause 18).
pub const MIN_NOTICE_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// The terms in force now and the next version announced, if any.
#[derive(Debug, Clone)]
pub struct Terms {
    /// The version in force.
    pub current: String,
    /// Whether `current` is an announced version (members who have not accepted it are
    /// asked to), not the configured one every account started with.
    pub announced: bool,
    pub upcoming: Option<TermsVersion>,
}

/// Where the terms stand at `now` (ms).
pub async fn at(app: &App, now: i64) -> ApiResult<Terms> {
    let versions = app.store.list_terms().await?;
    let current = versions.iter().rfind(|t| t.effective_at <= now);
    let upcoming = versions.iter().find(|t| t.effective_at > now).cloned();
    Ok(Terms {
        current: current.map_or_else(|| app.config.terms_version.clone(), |t| t.version.clone()),
        announced: current.is_some(),
        upcoming,
    })
}

/// Where the terms stand now.
pub async fn now(app: &App) -> ApiResult<Terms> {
    at(app, now_ms()).await
}

/// Announces `version`, in force from `effective_at` (ms), at least [`MIN_NOTICE_DAYS`]
/// ahead and after every version announced before; mails every account owner.
pub async fn announce(
    app: &App,
    version: &str,
    effective_at: i64,
    summary: Option<String>,
    audit: AuditContext,
) -> ApiResult<TermsVersion> {
    let version = version.trim();
    let well_formed = (1..=50).contains(&version.len())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !well_formed {
        return Err(ApiError::invalid(
            "version",
            "A terms version is 1 to 50 characters of letters, digits, `.`, `_` and `-`.",
        ));
    }
    let now = audit.now;
    if effective_at < now.saturating_add(MIN_NOTICE_DAYS * DAY_MS) {
        return Err(ApiError::invalid(
            "effective",
            format!(
                "New terms take effect at least {MIN_NOTICE_DAYS} days after they are announced."
            ),
        ));
    }
    let summary = crate::services::text::optional("summary", summary.as_deref(), 1000)?;
    let known = app.store.list_terms().await?;
    if version == app.config.terms_version || known.iter().any(|t| t.version == version) {
        return Err(ApiError::invalid(
            "version",
            format!("Terms version {version} exists already; announce a new one."),
        ));
    }
    if let Some(last) = known.iter().map(|t| t.effective_at).max()
        && effective_at <= last
    {
        return Err(ApiError::invalid(
            "effective",
            "A new version takes effect after every version announced before it.",
        ));
    }
    let terms = TermsVersion {
        version: version.to_string(),
        effective_at,
        announced_at: now,
        summary,
    };
    app.store.announce_terms(terms.clone(), audit).await?;
    let date = crate::cli::output::when(Some(effective_at.div_euclid(1000)));
    let body = format!(
        "The API terms of {public} change: version {version} takes effect on {date}.\n\n{summary}\
         You will be asked to accept them when you next open the console after that date.\n",
        public = app.config.public_url(),
        summary = terms
            .summary
            .as_deref()
            .map(|s| format!("{s}\n\n"))
            .unwrap_or_default(),
    );
    for owner in app.store.owner_emails().await? {
        app.mailer
            .send(Mail {
                to: owner,
                subject: format!("New API terms from {}", date.get(..10).unwrap_or(&date)),
                body: body.clone(),
            })
            .await;
    }
    Ok(terms)
}
