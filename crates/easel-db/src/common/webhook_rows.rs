//! Row structs of the webhook tables and their conversion into domain types.

use easel_core::mode::Mode;

use crate::DbError;
use crate::webhooks::{
    DeliveryState, EnabledEvents, WebhookAttempt, WebhookDelivery, WebhookEndpoint,
};

#[derive(sqlx::FromRow)]
pub(crate) struct EndpointRow {
    id: String,
    account_id: String,
    mode: String,
    url: String,
    description: String,
    enabled_events: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<i64>,
    disabled_at: Option<i64>,
    disabled_reason: Option<String>,
    failing_since: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<EndpointRow> for WebhookEndpoint {
    type Error = DbError;
    fn try_from(r: EndpointRow) -> Result<Self, DbError> {
        Ok(WebhookEndpoint {
            mode: Mode::parse(&r.mode)
                .ok_or_else(|| DbError::Corrupt(format!("unexpected mode `{}`", r.mode)))?,
            enabled_events: EnabledEvents::decode(&r.enabled_events),
            id: r.id,
            account_id: r.account_id,
            url: r.url,
            description: r.description,
            secret: r.secret,
            previous_secret: r.previous_secret,
            previous_secret_expires_at: r.previous_secret_expires_at,
            disabled_at: r.disabled_at,
            disabled_reason: r.disabled_reason,
            failing_since: r.failing_since,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// An endpoint with whether it was deleted and its account's state.
#[derive(sqlx::FromRow)]
pub(crate) struct EndpointStateRow {
    #[sqlx(flatten)]
    endpoint: EndpointRow,
    deleted: bool,
    account_state: String,
}

impl EndpointStateRow {
    pub(crate) fn into_parts(self) -> Result<(WebhookEndpoint, bool, String), DbError> {
        Ok((self.endpoint.try_into()?, self.deleted, self.account_state))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: String,
    endpoint_id: String,
    account_id: String,
    mode: String,
    event_id: String,
    event_type: String,
    state: String,
    attempts: i64,
    manual: bool,
    next_attempt_at: i64,
    // Read so the row matches WEBHOOK_DELIVERY_COLUMNS; leases are not shown.
    #[allow(dead_code)]
    locked_until: i64,
    last_attempt_at: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<DeliveryRow> for WebhookDelivery {
    type Error = DbError;
    fn try_from(r: DeliveryRow) -> Result<Self, DbError> {
        let state = DeliveryState::parse(&r.state)
            .ok_or_else(|| DbError::Corrupt(format!("unexpected delivery state `{}`", r.state)))?;
        Ok(WebhookDelivery {
            mode: Mode::parse(&r.mode)
                .ok_or_else(|| DbError::Corrupt(format!("unexpected mode `{}`", r.mode)))?,
            next_attempt_at: (state == DeliveryState::Pending).then_some(r.next_attempt_at),
            state,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            last_status: r.last_status.and_then(|s| u16::try_from(s).ok()),
            id: r.id,
            endpoint_id: r.endpoint_id,
            account_id: r.account_id,
            event_id: r.event_id,
            event_type: r.event_type,
            manual: r.manual,
            last_attempt_at: r.last_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            attempt_log: Vec::new(),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    id: String,
    delivery_id: String,
    attempted_at: i64,
    status_code: Option<i64>,
    latency_ms: i64,
    response_body: Option<String>,
    error: Option<String>,
    manual: bool,
}

impl From<AttemptRow> for WebhookAttempt {
    fn from(r: AttemptRow) -> Self {
        WebhookAttempt {
            id: r.id,
            delivery_id: r.delivery_id,
            attempted_at: r.attempted_at,
            status_code: r.status_code.and_then(|s| u16::try_from(s).ok()),
            latency_ms: r.latency_ms,
            response_body: r.response_body,
            error: r.error,
            manual: r.manual,
        }
    }
}
