//! Maintenance windows (clause 10): the operator announces one at least 48 hours ahead
//! (or says it is an emergency); every account gets a `maintenance.scheduled` event, every
//! owner a mail, and every console page a notice until the window ends.

use easel_core::ids::IdKind;
use easel_core::time::now_ms;
use easel_db::{AuditContext, Maintenance};

use crate::app::App;
use crate::http::error::{ApiError, ApiResult};
use crate::mail::Mail;
use crate::services::OrNotFound;

/// How far ahead a planned window must be announced.
pub const NOTICE_MS: i64 = 48 * 3_600_000;
/// Longest window.
const MAX_LENGTH_MS: i64 = 7 * 86_400_000;
/// Longest message.
const MAX_MESSAGE_CHARS: usize = 500;
/// The parts of the service a window can name besides the models.
pub const COMPONENTS: [&str; 5] = ["api", "database", "queue", "object_store", "webhooks"];

/// What the operator asks for.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub starts_at: i64,
    pub ends_at: i64,
    pub message: String,
    pub components: Vec<String>,
    pub emergency: bool,
}

/// Checks an announcement at `now`: the notice period, a sensible length, a message, and
/// components the status page knows (its own parts and the configured models).
pub fn check(app: &App, a: &Announcement, now: i64) -> ApiResult<()> {
    if a.ends_at <= a.starts_at {
        return Err(ApiError::invalid(
            "end",
            "The window must end after it starts.",
        ));
    }
    if a.ends_at - a.starts_at > MAX_LENGTH_MS {
        return Err(ApiError::invalid(
            "end",
            "A window lasts at most 7 days; announce several for longer work.",
        ));
    }
    if a.ends_at <= now {
        return Err(ApiError::invalid("end", "The window is already over."));
    }
    if !a.emergency && a.starts_at < now + NOTICE_MS {
        return Err(ApiError::invalid(
            "start",
            "Planned maintenance is announced at least 48 hours ahead; use --emergency for work that cannot wait.",
        ));
    }
    let message = a.message.trim();
    if message.is_empty() || message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::invalid(
            "message",
            format!("Say what happens in 1 to {MAX_MESSAGE_CHARS} characters."),
        ));
    }
    if let Some(unknown) = a
        .components
        .iter()
        .find(|c| !COMPONENTS.contains(&c.as_str()) && !app.config.models.contains_key(*c))
    {
        return Err(ApiError::invalid(
            "component",
            format!(
                "No component named `{unknown}`: use {} or a model id.",
                COMPONENTS.join(", ")
            ),
        ));
    }
    Ok(())
}

fn day_and_time(ms: i64) -> String {
    crate::cli::output::when(Some(ms.div_euclid(1000)))
}

/// The event data of a window (and the API's view of it).
pub fn data(w: &Maintenance) -> serde_json::Value {
    serde_json::json!({
        "object": "maintenance",
        "id": w.id,
        "starts_at": w.starts_at.div_euclid(1000),
        "ends_at": w.ends_at.div_euclid(1000),
        "message": w.message,
        "components": w.components,
        "emergency": w.emergency,
    })
}

/// Announces a window: recorded, every account's event, every owner mailed.
pub async fn announce(app: &App, a: Announcement, audit: AuditContext) -> ApiResult<Maintenance> {
    let now = now_ms();
    check(app, &a, now)?;
    let mut components = a.components;
    components.sort();
    components.dedup();
    let window = Maintenance {
        id: IdKind::Maintenance.generate(),
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        message: a.message.trim().to_string(),
        components,
        emergency: a.emergency,
        created_at: now,
        canceled_at: None,
    };
    let told = app
        .store
        .announce_maintenance(window.clone(), data(&window), audit)
        .await?;
    tracing::info!(maintenance.id = %window.id, accounts = told, "maintenance announced");
    let affected = if window.components.is_empty() {
        "the whole service".to_string()
    } else {
        window.components.join(", ")
    };
    let body = format!(
        "{public} has {kind} maintenance from {start} to {end} (affected: {affected}).\n\n{message}\n",
        public = app.config.public_url(),
        kind = if window.emergency {
            "emergency"
        } else {
            "planned"
        },
        start = day_and_time(window.starts_at),
        end = day_and_time(window.ends_at),
        message = window.message,
    );
    let subject = format!(
        "Maintenance on {}",
        crate::cli::output::day(window.starts_at)
    );
    for owner in app.store.owner_emails().await? {
        app.mailer
            .send(Mail {
                to: owner,
                subject: subject.clone(),
                body: body.clone(),
            })
            .await;
    }
    Ok(window)
}

/// Windows not over yet, soonest first.
pub async fn upcoming(app: &App) -> ApiResult<Vec<Maintenance>> {
    Ok(app.store.list_maintenance(now_ms()).await?)
}

/// Cancels a window that has not ended.
pub async fn cancel(app: &App, id: &str, audit: AuditContext) -> ApiResult<Maintenance> {
    if !IdKind::Maintenance.is_valid(id) {
        return Err(ApiError::not_found("maintenance", id));
    }
    app.store
        .cancel_maintenance(id, audit)
        .await
        .or_not_found("maintenance", id)
}
