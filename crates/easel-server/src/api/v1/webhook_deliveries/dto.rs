//! The webhook delivery object and its attempts.

use easel_core::time::ms_to_secs;
use easel_db::{WebhookAttempt, WebhookDelivery};
use serde::Serialize;
use utoipa::ToSchema;

/// One event on its way to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryObject {
    /// Always `webhook_delivery`.
    #[schema(value_type = String, example = "webhook_delivery")]
    pub object: &'static str,
    /// `whd_…`
    pub id: String,
    /// `whk_…`
    pub endpoint_id: String,
    /// The event (`evt_…`); also the `webhook-id` header of every attempt, so receivers
    /// can drop repeats.
    pub event_id: String,
    pub event_type: String,
    pub livemode: bool,
    /// `pending` (waiting for its next attempt), `succeeded` (a 2xx came back) or `failed`
    /// (every scheduled attempt failed, or the endpoint was disabled or deleted).
    #[schema(example = "succeeded")]
    pub status: &'static str,
    /// Scheduled attempts made so far (manual replays not counted).
    pub attempt_count: u32,
    /// When the next attempt is due (unix seconds), while pending.
    pub next_attempt_at: Option<i64>,
    /// Unix seconds.
    pub last_attempt_at: Option<i64>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Every attempt, oldest first.
    pub attempts: Vec<WebhookAttemptObject>,
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttemptObject {
    /// `wha_…`
    pub id: String,
    /// Unix milliseconds.
    pub attempted_at_ms: i64,
    /// The endpoint's status code, if it answered.
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    /// The first 1024 bytes of the response body; never kept from a loopback address
    /// (status code and latency are).
    pub response_body: Option<String>,
    /// Why it did not succeed (timeout, refused connection, refused address, status).
    pub error: Option<String>,
    /// A manual replay rather than a scheduled attempt.
    pub manual: bool,
}

impl From<WebhookAttempt> for WebhookAttemptObject {
    fn from(a: WebhookAttempt) -> Self {
        WebhookAttemptObject {
            id: a.id,
            attempted_at_ms: a.attempted_at,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response_body: a.response_body,
            error: a.error,
            manual: a.manual,
        }
    }
}

impl From<WebhookDelivery> for WebhookDeliveryObject {
    fn from(d: WebhookDelivery) -> Self {
        WebhookDeliveryObject {
            object: "webhook_delivery",
            livemode: d.mode.is_live(),
            status: d.state.as_str(),
            attempt_count: d.attempts,
            next_attempt_at: d.next_attempt_at.map(ms_to_secs),
            last_attempt_at: d.last_attempt_at.map(ms_to_secs),
            last_status_code: d.last_status,
            created_at: ms_to_secs(d.created_at),
            attempts: d.attempt_log.into_iter().map(Into::into).collect(),
            id: d.id,
            endpoint_id: d.endpoint_id,
            event_id: d.event_id,
            event_type: d.event_type,
            last_error: d.last_error,
        }
    }
}
