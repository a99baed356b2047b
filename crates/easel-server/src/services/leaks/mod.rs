//! Leaked keys: a secret reported found in public is revoked (or flagged, per
//! `[api_keys] on_leak`) for its owner, who is told by event and e-mail.
//!
//! Two doors lead here: GitHub's secret-scanning partner program ([`github`], signed by
//! GitHub) and a keyless report anyone may make (`POST /v1/leaked_keys`, limited per client
//! address by [`gate`]). Both run [`report`]: the format and checksum are checked offline
//! first, so garbage never reaches the store; then the store acts once per key, however
//! often the same secret is reported.
//!
//! Anyone may cause a revocation this way, and that is the point: only someone holding the
//! secret can report it, and whoever holds a leaked secret could do worse with it.

pub mod gate;
pub mod github;

use easel_core::api_key;
use easel_core::audit::{Actor, ActorType};
use easel_core::roles::Role;
use easel_db::{ApiKey, AuditContext, LeakAction, LeakOutcome, LeakReport};

use crate::app::App;
use crate::config::OnLeak;
use crate::http::error::ApiResult;
use crate::mail::Mail;

/// Longest `url` kept from a report (longer ones are cut, not refused: GitHub's are real).
pub const MAX_URL_CHARS: usize = 2048;
/// Longest `source` kept from a report.
pub const MAX_SOURCE_CHARS: usize = 64;

/// Where a secret was found, as the reporter says.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub url: String,
    pub source: Option<String>,
}

/// Who reported it, for the audit log (`system` actor with this id).
#[derive(Debug, Clone, Copy)]
pub enum Reporter {
    /// GitHub's secret-scanning partner program.
    Github,
    /// Someone using `POST /v1/leaked_keys`.
    Public,
}

impl Reporter {
    fn actor(self) -> Actor {
        let id = match self {
            Reporter::Github => "github_secret_scanning",
            Reporter::Public => "leaked_key_report",
        };
        Actor {
            kind: ActorType::System,
            id: id.into(),
        }
    }
}

/// Handles one reported secret; returns whether it is (or was) a real Easel key.
///
/// Strings that are not well-formed keys of this server are answered `false` without
/// touching the store. A real key is revoked or flagged once, with the audit entry and
/// event in the store's transaction, and its owners are mailed by the report that acted.
pub async fn report(
    app: &App,
    secret: &str,
    sighting: Sighting,
    reporter: Reporter,
    request_id: Option<String>,
) -> ApiResult<bool> {
    if api_key::parse(&app.config.api_keys.prefix, secret).is_err() {
        return Ok(false);
    }
    let action = match app.config.api_keys.on_leak {
        OnLeak::Revoke => LeakAction::Revoke,
        OnLeak::Flag => LeakAction::Flag,
    };
    let sighting = clean(sighting);
    let leak = LeakReport {
        secret_hash: api_key::hash(secret),
        url: sighting.url.clone(),
        source: sighting.source.clone(),
        action,
    };
    let audit = AuditContext::new(reporter.actor(), request_id);
    // The key as the API shows it, like every other key event.
    let snapshot = super::keys::event_view();
    let key = match app.store.report_leaked_key(leak, audit, &*snapshot).await? {
        LeakOutcome::Unknown => return Ok(false),
        LeakOutcome::Unchanged(_) => return Ok(true),
        LeakOutcome::Acted(key) => key,
    };
    if action == LeakAction::Revoke {
        app.auth.invalidate_account(&key.account_id);
    }
    tracing::warn!(key.id = %key.id, account.id = %key.account_id, leak.url = %sighting.url, revoked = action == LeakAction::Revoke, "leaked API key reported");
    tell_owners(app, &key, &sighting, action).await;
    Ok(true)
}

/// One line each, cut to length: the URL and source go into e-mail and the key object.
fn clean(sighting: Sighting) -> Sighting {
    let line = |s: &str, max: usize| -> String {
        s.chars()
            .filter(|c| !c.is_control())
            .take(max)
            .collect::<String>()
            .trim()
            .to_string()
    };
    Sighting {
        url: line(&sighting.url, MAX_URL_CHARS),
        source: sighting
            .source
            .as_deref()
            .map(|s| line(s, MAX_SOURCE_CHARS))
            .filter(|s| !s.is_empty()),
    }
}

/// Mails every owner of the key's account: which key, where it was found, what was done.
async fn tell_owners(app: &App, key: &ApiKey, sighting: &Sighting, action: LeakAction) {
    let members = match app.store.list_members(&key.account_id).await {
        Ok(members) => members,
        Err(e) => {
            tracing::warn!(error = %e, key.id = %key.id, "could not look up whom to tell about a leaked key");
            return;
        }
    };
    let (subject, body) = leak_mail(key, sighting, action);
    for owner in members.iter().filter(|m| m.role == Role::Owner) {
        app.mailer
            .send(Mail {
                to: owner.email.clone(),
                subject: subject.clone(),
                body: body.clone(),
            })
            .await;
    }
}

/// The subject and body of the owners' mail.
fn leak_mail(key: &ApiKey, sighting: &Sighting, action: LeakAction) -> (String, String) {
    let mode = key.mode.as_str();
    let source = sighting
        .source
        .as_deref()
        .map(|s| format!(" (source: {s})"))
        .unwrap_or_default();
    let found = format!(
        "The secret of your {mode}-mode API key \"{name}\" ({prefix}…, id {id}) was reported \
         found in public at:\n\n  {url}{source}\n\n",
        name = key.name,
        prefix = key.display_prefix,
        id = key.id,
        url = sighting.url,
    );
    let (subject, done) = match action {
        LeakAction::Revoke => (
            format!(
                "API key {} revoked: its secret was found in public",
                key.display_prefix
            ),
            "Easel revoked the key at once: every request with it now fails with 401 \
             api_key_revoked. Create a new key, move your integration to it, and remove the \
             secret from where it was found."
                .to_string(),
        ),
        LeakAction::Flag => (
            format!(
                "API key {} leaked: its secret was found in public",
                key.display_prefix
            ),
            format!(
                "The key still works: this server flags leaked keys instead of revoking them. \
                 Revoke it now (DELETE /v1/keys/{id}, or in the console), create a new one and \
                 remove the secret from where it was found.",
                id = key.id
            ),
        ),
    };
    let body = format!(
        "{found}{done}\n\nThen check your request log (GET /v1/requests) and usage for calls \
         you did not make.\n"
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sightings_are_single_lines_of_bounded_length() {
        let s = clean(Sighting {
            url: format!("https://example.com/a\r\nBcc: x@y\n{}", "a".repeat(5000)),
            source: Some("  \n ".into()),
        });
        assert!(!s.url.contains('\n') && !s.url.contains('\r'), "{}", s.url);
        assert_eq!(s.url.chars().count(), MAX_URL_CHARS);
        assert_eq!(s.source, None, "a blank source is no source");
    }
}
