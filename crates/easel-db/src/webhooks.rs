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

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or being attempted now).
    Pending,
    /// An attempt got a 2xx.
    Succeeded,
    /// Every scheduled attempt failed, or it could not be sent (endpoint disabled or
    /// deleted, account terminated).
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "succeeded" => Some(DeliveryState::Succeeded),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One event on its way to one endpoint (`whd_…`), with its attempts when read for the
/// delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: String,
    pub endpoint_id: String,
    pub account_id: String,
    pub mode: Mode,
    /// Also the `webhook-id` of every attempt.
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    /// Scheduled attempts made (manual replays not counted).
    pub attempts: u32,
    /// A replay of an ended delivery: one attempt, then it ends again.
    pub manual: bool,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Oldest first; filled by the delivery-log reads, empty elsewhere.
    pub attempt_log: Vec<WebhookAttempt>,
}

/// One HTTP attempt of a delivery (`wha_…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub id: String,
    pub delivery_id: String,
    pub attempted_at: i64,
    /// The response status, if a response came.
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    /// The start of the response body (capped by the sender).
    pub response_body: Option<String>,
    /// Why no 2xx came (connection refused, timeout, refused address, status).
    pub error: Option<String>,
    /// A manual replay rather than a scheduled attempt.
    pub manual: bool,
}

/// A claimed delivery with everything needed to send it.
#[derive(Debug, Clone)]
pub struct DeliveryTask {
    pub delivery: WebhookDelivery,
    /// The endpoint as it is now; `deleted` when it was deleted since.
    pub endpoint: WebhookEndpoint,
    pub endpoint_deleted: bool,
    /// The event's stored data, as stored (the body must be the same bytes every time).
    pub event_data: String,
    pub event_created_at: i64,
    /// `active`, `suspended` or `terminated`.
    pub account_state: String,
}

/// What one attempt came to, for [`crate::WebhookStore::record_webhook_attempt`].
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub delivery_id: String,
    /// The claimer; a node that lost its lease records nothing.
    pub worker: String,
    pub attempted_at: i64,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// A 2xx came back.
    pub succeeded: bool,
    /// For a failure: when to try again, `None` when the schedule is used up.
    pub retry_at: Option<i64>,
    /// For a failure: the endpoint's other due deliveries wait until then (a circuit
    /// breaker, so a dead endpoint's backlog is not tried one timeout at a time).
    pub hold_others_until: Option<i64>,
    /// The endpoint is disabled once it has failed without a success for this long (ms).
    pub disable_after_ms: i64,
    /// Set to disable the endpoint at once (a 410 Gone).
    pub gone: bool,
}

/// What recording an attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptRecorded {
    Recorded,
    /// The attempt was recorded and the endpoint disabled by it (tell the owner).
    EndpointDisabled(Box<WebhookEndpoint>),
    /// The worker no longer held the delivery; nothing was written.
    LeaseLost,
}
