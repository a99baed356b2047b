//! Abuse reports: filed by anyone (the public form, or `POST /v1/abuse_reports` with or
//! without a key) about a generation, answered by the operator within the configured
//! deadline (`easel admin abuse list|resolve`). An upheld report is a strike against the
//! generation's account; the reporter is told the outcome by e-mail if they left one.

use easel_core::email::Email;
use easel_core::ids::IdKind;
use easel_core::time::now_ms;
use easel_db::{
    AbuseReport, AuditContext, NewAbuseReport, ReportDecision, ReportSource, Resolution,
};

use crate::app::App;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mail;
use crate::services::OrNotFound;
use crate::services::text;

/// The categories a report may name besides the content policy's.
const OTHER: &str = "other";

/// Whether a report may name `category`: a built-in content policy category or `other`.
fn known_category(category: &str) -> bool {
    category == OTHER || easel_moderation::BUILTIN_CATEGORIES.contains(&category)
}

/// Anonymous reports (the form and keyless API calls) share one budget per node, so a
/// flood of them cannot bury the operator's queue or fill the database; keyed reports
/// count against their key's limits like any request.
pub struct AnonymousGate {
    rate: Option<crate::limits::gcra::Rate>,
    tat: std::sync::Mutex<Option<i64>>,
}

impl AnonymousGate {
    /// At most `per_minute` anonymous reports a minute on this node (0: no limit).
    pub fn new(per_minute: u32) -> AnonymousGate {
        AnonymousGate {
            rate: (per_minute > 0).then(|| crate::limits::gcra::Rate::new(per_minute, 60)),
            tat: std::sync::Mutex::new(None),
        }
    }

    /// Takes one report from the budget, or refuses with 429 and when to retry.
    pub fn admit(&self) -> ApiResult<()> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let now = now_ms().saturating_mul(1000);
        let mut tat = self
            .tat
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rate.admits(*tat, now) {
            *tat = Some(rate.advance(*tat, now));
            return Ok(());
        }
        let retry = rate.seconds_to_next(*tat, now).max(1);
        Err(ApiError::new(
            ErrorCode::rate_limit_exceeded,
            format!("Too many anonymous abuse reports right now; retry in {retry} seconds, or report with an API key."),
        )
        .retry_after(retry))
    }
}

/// A report as submitted.
#[derive(Debug, Clone, Default)]
pub struct ReportSpec {
    pub generation_id: Option<String>,
    pub output_url: Option<String>,
    pub category: String,
    pub description: String,
    pub email: Option<String>,
}

/// Who files it.
pub struct Reporter {
    pub source: ReportSource,
    /// The account and key of a keyed API report.
    pub account_id: Option<String>,
    pub key_id: Option<String>,
}

/// Checks and files a report.
pub async fn create(app: &App, spec: ReportSpec, reporter: Reporter) -> ApiResult<AbuseReport> {
    if !known_category(&spec.category) {
        return Err(ApiError::invalid(
            "category",
            format!(
                "`category` is one of: {}, {OTHER}.",
                easel_moderation::BUILTIN_CATEGORIES.join(", ")
            ),
        ));
    }
    let description = text::required("description", &spec.description, 5000)?;
    let output_url = match spec.output_url.as_deref().map(str::trim) {
        Some("") | None => None,
        Some(url) if url.chars().count() > 2048 => {
            return Err(ApiError::invalid(
                "output_url",
                "`output_url` is at most 2048 characters.",
            ));
        }
        Some(url) => Some(url.to_string()),
    };
    let from_url = output_url.as_deref().and_then(generation_in_url);
    let generation_id = match spec.generation_id.as_deref().map(str::trim) {
        Some("") | None => from_url,
        Some(id) if IdKind::Generation.is_valid(id) => Some(id.to_string()),
        Some(_) => {
            return Err(ApiError::invalid(
                "generation_id",
                "`generation_id` is a generation id (`gen_…`).",
            ));
        }
    };
    if generation_id.is_none() && output_url.is_none() {
        return Err(ApiError::new(
            ErrorCode::parameter_missing,
            "Name the content: give `generation_id` or `output_url`.",
        )
        .param("generation_id"));
    }
    let reporter_email = match spec.email.as_deref().map(str::trim) {
        Some("") | None => None,
        Some(email) => Some(Email::parse(email, "email")?.into_inner()),
    };
    let now = now_ms();
    let hours = i64::try_from(app.config.abuse.response_hours).unwrap_or(24);
    let new = NewAbuseReport {
        source: reporter.source,
        category: spec.category,
        description,
        generation_id,
        output_url,
        reporter_email,
        reporter_account_id: reporter.account_id,
        reporter_key_id: reporter.key_id,
        deadline_at: now + hours * 3_600_000,
        now,
    };
    Ok(app.store.create_abuse_report(new).await?)
}

/// The generation id in an Easel output URL (`…/v1/outputs/gen_…/0.png?…`).
fn generation_in_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let mut parts = path.split('/').skip_while(|p| *p != "outputs").skip(1);
    let id = parts.next()?;
    IdKind::Generation.is_valid(id).then(|| id.to_string())
}

/// Resolves an open report: the store records it (and the strike, suspension or output
/// removal it implies), then the removed outputs leave the object store and the reporter
/// is told.
pub async fn resolve(
    app: &App,
    id: &str,
    resolution: Resolution,
    note: Option<String>,
    jobs: Option<easel_db::SuspendJobs>,
    audit: AuditContext,
) -> ApiResult<easel_db::ReportResolved> {
    if !IdKind::AbuseReport.is_valid(id) {
        return Err(ApiError::invalid("id", "An abuse report id is `abr_…`."));
    }
    let note = match note {
        Some(note) => Some(text::required("note", &note, 2000)?),
        None => None,
    };
    let mut policy = app.config.moderation.strikes.policy();
    if let Some(jobs) = jobs {
        policy.jobs = jobs;
    }
    let decision = ReportDecision {
        resolution,
        note: note.clone(),
        policy,
    };
    let resolved = app
        .store
        .resolve_abuse_report(id, decision, audit)
        .await
        .or_not_found("abuse_report", id)?;
    for path in &resolved.removed_outputs {
        if let Err(e) = app.outputs.delete(path).await {
            // Marked deleted already: it is never served again; the file is an orphan.
            tracing::warn!(path, error = %format!("{e:#}"), "could not delete a removed output's file");
        }
    }
    if let Some(account) = resolved.strike.as_ref().and_then(|s| s.suspended.as_ref()) {
        app.auth.invalidate_account(&account.id);
    }
    if let Some(to) = &resolved.report.reporter_email {
        let outcome = match resolution {
            Resolution::Dismissed => "We reviewed it and found no violation of our policies.",
            Resolution::Warned => "We found a violation and warned the account responsible.",
            Resolution::OutputRemoved => "We found a violation and removed the content.",
            Resolution::AccountSuspended => {
                "We found a violation and suspended the account responsible."
            }
        };
        let mut body = format!("Thank you for your report {id}.\n\n{outcome}\n",);
        if let Some(note) = &note {
            body.push_str(&format!("\nNote from the reviewer: {note}\n"));
        }
        app.mailer
            .send(Mail {
                to: to.clone(),
                subject: format!("Your abuse report {id} was reviewed"),
                body,
            })
            .await;
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::generation_in_url;

    #[test]
    fn output_urls_name_their_generation() {
        let id = "gen_01jab0c0d0e0f0g0h0j0k0m0n0";
        assert_eq!(
            generation_in_url(&format!(
                "https://x.example/v1/outputs/{id}/0.png?expires=1&signature=a"
            )),
            Some(id.to_string())
        );
        assert_eq!(
            generation_in_url("https://x.example/v1/outputs/nope/0.png"),
            None
        );
        assert_eq!(
            generation_in_url("https://elsewhere.example/image.png"),
            None
        );
        assert_eq!(generation_in_url(""), None);
    }
}
