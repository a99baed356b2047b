//! Webhook endpoints: where an account's events go, per mode.

use easel_core::mode::Mode;

/// Which event types an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnabledEvents {
    All,
    Only(Vec<String>),
}

impl EnabledEvents {
    /// The stored form: `*`, or `,a,b,` (so one type matches `LIKE '%,' || type || ',%'`).
    pub(crate) fn encode(&self) -> String {
        match self {
            EnabledEvents::All => "*".to_string(),
            EnabledEvents::Only(types) => format!(",{},", types.join(",")),
        }
    }

    pub(crate) fn decode(stored: &str) -> EnabledEvents {
        if stored == "*" {
            return EnabledEvents::All;
        }
        EnabledEvents::Only(
            stored
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    /// Whether an event of `event_type` goes to the endpoint.
    pub fn includes(&self, event_type: &str) -> bool {
        match self {
            EnabledEvents::All => true,
            EnabledEvents::Only(types) => types.iter().any(|t| t == event_type),
        }
    }
}

/// A webhook endpoint, with its secrets (callers decide what to show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub account_id: String,
    pub mode: Mode,
    pub url: String,
    pub description: String,
    pub enabled_events: EnabledEvents,
    /// `whsec_…`
    pub secret: String,
    /// The secret before the last rotation, signing too until it expires.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed (for auto-disable).
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An endpoint to create.
#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub account_id: String,
    pub mode: Mode,
    pub url: String,
    pub description: String,
    pub enabled_events: EnabledEvents,
    pub secret: String,
    /// False: created disabled.
    pub enabled: bool,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookEndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub enabled_events: Option<EnabledEvents>,
    /// `Some(true)` re-enables (and forgets a failure streak), `Some(false)` disables.
    pub enabled: Option<bool>,
}
