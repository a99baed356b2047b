//! The webhook endpoint object and the requests that change it.

use easel_core::time::ms_to_secs;
use easel_db::{EnabledEvents, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An endpoint events are delivered to.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointObject {
    /// Always `webhook_endpoint`.
    #[schema(value_type = String, example = "webhook_endpoint")]
    pub object: &'static str,
    /// `whk_…`
    pub id: String,
    pub livemode: bool,
    pub url: String,
    pub description: String,
    /// The event types delivered here, or `["*"]` for all.
    pub enabled_events: Vec<String>,
    /// `enabled` or `disabled` (by the account, or by Easel after days of failures).
    #[schema(example = "enabled")]
    pub status: &'static str,
    pub disabled_reason: Option<String>,
    /// Unix seconds.
    pub disabled_at: Option<i64>,
    /// Since when every attempt has failed (unix seconds); null while deliveries succeed.
    pub failing_since: Option<i64>,
    /// While a rotated-out secret still signs next to the current one: until when (unix
    /// seconds).
    pub previous_secret_expires_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// The signing secret (`whsec_…`): only in the responses that create or rotate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookEndpointObject {
    /// The object with its new secret (create and rotate only).
    pub fn with_secret(endpoint: WebhookEndpoint, secret: String) -> Self {
        WebhookEndpointObject {
            secret: Some(secret),
            ..endpoint.into()
        }
    }
}

impl From<WebhookEndpoint> for WebhookEndpointObject {
    fn from(e: WebhookEndpoint) -> Self {
        let now = easel_core::time::now_ms();
        WebhookEndpointObject {
            object: "webhook_endpoint",
            livemode: e.mode.is_live(),
            enabled_events: match e.enabled_events {
                EnabledEvents::All => vec!["*".to_string()],
                EnabledEvents::Only(types) => types,
            },
            status: if e.disabled_at.is_some() {
                "disabled"
            } else {
                "enabled"
            },
            disabled_reason: e.disabled_reason,
            disabled_at: e.disabled_at.map(ms_to_secs),
            failing_since: e.failing_since.map(ms_to_secs),
            previous_secret_expires_at: e
                .previous_secret_expires_at
                .filter(|until| *until > now)
                .map(ms_to_secs),
            created_at: ms_to_secs(e.created_at),
            updated_at: ms_to_secs(e.updated_at),
            id: e.id,
            url: e.url,
            description: e.description,
            secret: None,
        }
    }
}

/// `POST /v1/webhook_endpoints`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpointRequest {
    /// `https://…` on a public address. Test-mode endpoints may also use plain
    /// `http://localhost` or `http://127.0.0.1` on the ports the operator opens to them
    /// (none by default); the operator may allow-list other hosts.
    pub url: String,
    /// At most 500 characters.
    pub description: Option<String>,
    /// Event types to deliver, or `["*"]` (the default) for all: `generation.queued`,
    /// `generation.running`, `generation.succeeded`, `generation.failed`,
    /// `generation.canceled`, `generation.expired`, `generation.deleted`, `credits.granted`,
    /// `credits.low`, `key.created`, `key.rotated`, `key.revoked`, `key.expiring`,
    /// `api_key.cooldown_started`, `webhook_endpoint.disabled`, `account.suspended`,
    /// `account.unsuspended`, `account.terminated`, `abuse_report.received`,
    /// `abuse_report.resolved`, `invoice.created`, `maintenance.scheduled`.
    pub enabled_events: Option<Vec<String>>,
    /// `false` creates it disabled (default `true`).
    pub enabled: Option<bool>,
}

/// `PATCH /v1/webhook_endpoints/{id}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpointRequest {
    pub url: Option<String>,
    pub description: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    /// `true` re-enables a disabled endpoint (and forgets its failures); `false` disables.
    pub enabled: Option<bool>,
}

/// `POST /v1/webhook_endpoints/{id}/rotate_secret`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecretRequest {
    /// How long the old secret keeps signing next to the new one (0 to 2592000 seconds;
    /// default 86400, the operator may change it). 0 retires it at once.
    pub overlap_seconds: Option<u64>,
}

/// What `DELETE /v1/webhook_endpoints/{id}` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedWebhookEndpoint {
    pub id: String,
    /// Always `webhook_endpoint`.
    #[schema(value_type = String, example = "webhook_endpoint")]
    pub object: &'static str,
    /// Always `true`.
    pub deleted: bool,
}
