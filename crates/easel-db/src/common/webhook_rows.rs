//! Row structs of the webhook tables and their conversion into domain types.

use easel_core::mode::Mode;

use crate::DbError;
use crate::webhooks::{EnabledEvents, WebhookEndpoint};

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
