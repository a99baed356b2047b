//! Webhook endpoints and deliveries, as the API manages them: URLs vetted against SSRF
//! before anything is stored, subscriptions checked against the event types, secrets
//! generated here and shown once.

use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_db::{
    AuditContext, EnabledEvents, NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint,
    WebhookEndpointPatch,
};

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::services::{OrNotFound, text};
use crate::webhooks::signature::Secret;

/// Longest URL accepted.
const MAX_URL: usize = 2048;
/// Most event types one endpoint lists.
const MAX_EVENTS: usize = 64;
/// Longest a rotation's overlap may be (30 days).
pub const MAX_OVERLAP_SECONDS: u64 = 30 * 86_400;

/// What an endpoint is created with.
pub struct EndpointSpec {
    pub url: String,
    pub description: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Vets a URL for an endpoint in `mode`: https to public addresses (the host resolved
/// now), plain http only to allow-listed hosts or, in test mode, to loopback ports the
/// operator opened. A refusal never tells the caller which address a host name resolved
/// to; the server log gets it, with the account and the endpoint (`None` for a new one).
pub async fn check_url(
    app: &AppState,
    url: &str,
    mode: Mode,
    account_id: &str,
    endpoint_id: Option<&str>,
) -> ApiResult<String> {
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_URL {
        return Err(ApiError::new(
            ErrorCode::url_invalid,
            format!("`url` must be an absolute https URL of at most {MAX_URL} characters."),
        )
        .param("url"));
    }
    match app.webhooks.vet_url(url, mode).await {
        Ok(target) => Ok(target.url.to_string()),
        Err(refusal) => {
            if let Some((address, reason)) = refusal.address() {
                tracing::warn!(
                    account.id = %account_id,
                    endpoint.id = %endpoint_id.unwrap_or("(new)"),
                    host = %refusal.host().unwrap_or("(the URL names the address)"),
                    %address,
                    %reason,
                    "refused a webhook URL whose host is a denied address"
                );
            }
            Err(ApiError::new(
                ErrorCode::url_invalid,
                format!("This webhook URL cannot be used: {refusal}."),
            )
            .param("url"))
        }
    }
}

/// `["*"]` (or nothing) is every type; otherwise known types, without repeats.
pub fn check_events(types: Option<Vec<String>>) -> ApiResult<EnabledEvents> {
    let Some(types) = types else {
        return Ok(EnabledEvents::All);
    };
    if types.iter().any(|t| t == "*") {
        return if types.len() == 1 {
            Ok(EnabledEvents::All)
        } else {
            Err(ApiError::invalid(
                "enabled_events",
                "`*` (every event) stands alone in `enabled_events`.",
            ))
        };
    }
    if types.is_empty() || types.len() > MAX_EVENTS {
        return Err(ApiError::invalid(
            "enabled_events",
            format!("`enabled_events` lists 1 to {MAX_EVENTS} event types, or [\"*\"] for all."),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        if !easel_core::events::is_type(&t) {
            let shown: String = t.chars().take(64).collect();
            return Err(ApiError::invalid(
                "enabled_events",
                format!(
                    "`{shown}` is not an event type. The types: {}.",
                    easel_core::events::TYPES.join(", ")
                ),
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(EnabledEvents::Only(out))
}

fn description(d: Option<&str>) -> ApiResult<Option<String>> {
    text::optional("description", d, 500)
}

/// Creates an endpoint; returns it with its secret (shown this once).
pub async fn create(
    app: &AppState,
    account_id: &str,
    mode: Mode,
    spec: EndpointSpec,
    audit: AuditContext,
) -> ApiResult<(WebhookEndpoint, String)> {
    let enabled_events = check_events(spec.enabled_events)?;
    let description = description(spec.description.as_deref())?.unwrap_or_default();
    let url = check_url(app, &spec.url, mode, account_id, None).await?;
    let secret = Secret::generate().expose();
    let endpoint = app
        .store
        .create_webhook_endpoint(
            NewWebhookEndpoint {
                account_id: account_id.to_string(),
                mode,
                url,
                description,
                enabled_events,
                secret: secret.clone(),
                enabled: spec.enabled.unwrap_or(true),
            },
            audit,
        )
        .await?;
    Ok((endpoint, secret))
}

/// A well-formed endpoint id, or the 404 an unknown one gets.
pub fn check_endpoint_id(id: &str) -> ApiResult<()> {
    known_id(IdKind::WebhookEndpoint, "webhook_endpoint", id)
}

/// A well-formed delivery id, or the 404 an unknown one gets.
pub fn check_delivery_id(id: &str) -> ApiResult<()> {
    known_id(IdKind::WebhookDelivery, "webhook_delivery", id)
}

fn known_id(kind: IdKind, resource: &str, id: &str) -> ApiResult<()> {
    if kind.is_valid(id) {
        Ok(())
    } else {
        Err(ApiError::not_found(resource, id))
    }
}

/// Changes an endpoint; a new URL is vetted like a new endpoint's.
pub async fn update(
    app: &AppState,
    account_id: &str,
    mode: Mode,
    id: &str,
    spec: EndpointPatchSpec,
    audit: AuditContext,
) -> ApiResult<WebhookEndpoint> {
    check_endpoint_id(id)?;
    let enabled_events = match spec.enabled_events {
        Some(types) => Some(check_events(Some(types))?),
        None => None,
    };
    let description = match spec.description.as_deref() {
        Some(d) => Some(description(Some(d))?.unwrap_or_default()),
        None => None,
    };
    let url = match spec.url.as_deref() {
        Some(url) => Some(check_url(app, url, mode, account_id, Some(id)).await?),
        None => None,
    };
    let patch = WebhookEndpointPatch {
        url,
        description,
        enabled_events,
        enabled: spec.enabled,
    };
    app.store
        .update_webhook_endpoint(account_id, mode, id, patch, audit)
        .await
        .or_not_found("webhook_endpoint", id)
}

/// What a PATCH may change.
pub struct EndpointPatchSpec {
    pub url: Option<String>,
    pub description: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Gives an endpoint a new secret; the old one keeps signing for `overlap_seconds`
/// (default `webhooks.secret_overlap_seconds`). Returns the endpoint and the new secret.
pub async fn rotate(
    app: &AppState,
    account_id: &str,
    mode: Mode,
    id: &str,
    overlap_seconds: Option<u64>,
    audit: AuditContext,
) -> ApiResult<(WebhookEndpoint, String)> {
    check_endpoint_id(id)?;
    let overlap = overlap_seconds.unwrap_or(app.webhooks.config.secret_overlap_seconds);
    if overlap > MAX_OVERLAP_SECONDS {
        return Err(ApiError::invalid(
            "overlap_seconds",
            format!("`overlap_seconds` must be at most {MAX_OVERLAP_SECONDS} (30 days)."),
        ));
    }
    let secret = Secret::generate().expose();
    let overlap_ms = i64::try_from(overlap).unwrap_or(0).saturating_mul(1000);
    let until = audit.now.saturating_add(overlap_ms);
    let endpoint = app
        .store
        .rotate_webhook_secret(account_id, mode, id, &secret, until, audit)
        .await
        .or_not_found("webhook_endpoint", id)?;
    Ok((endpoint, secret))
}

/// Sends an endpoint a test event (`webhook_endpoint.test`) now, whatever it subscribes
/// to: signed like any other, so a receiver can check its signature code, and attempted
/// once, as a replay is (a test that fails is shown, not retried for days). A disabled
/// endpoint is refused (409), as for a replay.
pub async fn send_test(
    app: &AppState,
    account_id: &str,
    mode: Mode,
    endpoint_id: &str,
    audit: AuditContext,
) -> ApiResult<WebhookDelivery> {
    let endpoint = app
        .store
        .get_webhook_endpoint(account_id, mode, endpoint_id)
        .await
        .or_not_found("webhook_endpoint", endpoint_id)?;
    if endpoint.disabled_at.is_some() {
        return Err(ApiError::new(
            ErrorCode::webhook_endpoint_disabled,
            format!(
                "Webhook endpoint {} is disabled; enable it before sending a test event.",
                endpoint.id
            ),
        ));
    }
    let event_id = easel_core::ids::IdKind::Event.generate();
    let data = serde_json::json!({
        "object": "webhook_endpoint",
        "id": endpoint.id,
        "url": endpoint.url,
        "livemode": mode.is_live(),
        "message": "A test event sent from the console. No action is needed.",
    });
    let delivery = app
        .store
        .send_test_webhook(account_id, mode, &endpoint.id, &event_id, data, audit)
        .await
        .or_not_found("webhook_endpoint", endpoint_id)?;
    app.wakeups.webhooks.notify_one();
    Ok(delivery)
}

pub async fn replay(
    app: &AppState,
    account_id: &str,
    mode: Mode,
    id: &str,
    audit: AuditContext,
) -> ApiResult<WebhookDelivery> {
    check_delivery_id(id)?;
    let delivery = app
        .store
        .get_webhook_delivery(account_id, mode, id)
        .await
        .or_not_found("webhook_delivery", id)?;
    let endpoint = app
        .store
        .get_webhook_endpoint(account_id, mode, &delivery.endpoint_id)
        .await
        .map_err(|e| match e {
            easel_db::DbError::NotFound => ApiError::new(
                ErrorCode::webhook_endpoint_disabled,
                "This delivery's webhook endpoint was deleted; it cannot be replayed.",
            ),
            e => e.into(),
        })?;
    if endpoint.disabled_at.is_some() {
        return Err(ApiError::new(
            ErrorCode::webhook_endpoint_disabled,
            format!(
                "Webhook endpoint {} is disabled; enable it (PATCH with {{\"enabled\": true}}) before replaying.",
                endpoint.id
            ),
        ));
    }
    let replayed = app
        .store
        .replay_webhook_delivery(account_id, mode, id, audit)
        .await
        .or_not_found("webhook_delivery", id)?;
    // This node's dispatcher sends it now; an API-only node's replay waits for a
    // delivering node's next poll (the database notifies new deliveries only).
    app.wakeups.webhooks.notify_one();
    Ok(replayed)
}
