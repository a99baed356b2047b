//! The API key object and request bodies.

use easel_core::credits::CapPeriod;
use easel_core::roles::Scope;
use easel_core::time::{ms_to_secs, now_ms};
use easel_db::ApiKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether a key works right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

/// An API key. The secret is never part of it, except once in the create and rotate
/// responses.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyObject {
    /// Always `api_key`.
    #[schema(value_type = String, example = "api_key")]
    pub object: &'static str,
    pub id: String,
    pub name: String,
    /// The first characters of the current secret, safe to display (`vs_live_Ab3xQ9`).
    pub display_prefix: String,
    pub livemode: bool,
    pub status: KeyStatus,
    pub scopes: Vec<Scope>,
    /// Models this key may use; null means every model the plan allows.
    pub allowed_models: Option<Vec<String>>,
    /// Most credits the key may spend per UTC day or month; null: no cap.
    pub spend_cap: Option<SpendCapObject>,
    /// The member the key acts for.
    pub user_id: String,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub revoked_at: Option<i64>,
    /// Unix seconds of the last rotation.
    pub rotated_at: Option<i64>,
    /// Unix seconds at which the secrets replaced by the last rotation stop working.
    pub previous_secret_expires_at: Option<i64>,
    /// Unix seconds; recorded in batches, so it may lag by a few seconds.
    pub last_used_at: Option<i64>,
    /// Unix seconds, or null. While set and in the future, every request with this key gets
    /// 429 `key_cooldown` (too many rejected requests: it kept exceeding its rate limits).
    pub cooldown_until: Option<i64>,
    /// Why Easel revoked the key by itself: `leaked` (its secret was reported found in
    /// public; see `leak`). Null when its owner or the operator revoked it, or it is active.
    pub revoked_reason: Option<String>,
    /// Where the key's secret was reported found, once such a report was acted on (the key
    /// was then revoked, or flagged if the server only flags leaked keys). Null otherwise.
    pub leak: Option<KeyLeakObject>,
    /// Unix seconds.
    pub created_at: i64,
}

/// Where a key's secret was reported found.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyLeakObject {
    /// The page or file, as the reporter gave it.
    pub url: String,
    /// What kind of place (GitHub: `content`, `commit`, `pull_request`, …), if known.
    pub source: Option<String>,
    /// Unix seconds.
    pub reported_at: i64,
}

impl From<ApiKey> for ApiKeyObject {
    fn from(k: ApiKey) -> Self {
        let now = now_ms();
        let status = if k.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if k.expires_at.is_some_and(|at| at <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        };
        ApiKeyObject {
            object: "api_key",
            livemode: k.mode.is_live(),
            status,
            id: k.id,
            name: k.name,
            display_prefix: k.display_prefix,
            scopes: k.scopes,
            allowed_models: k.allowed_models,
            spend_cap: k.spend_cap.map(|c| SpendCapObject {
                credits: c.credits,
                period: c.period,
            }),
            user_id: k.user_id,
            expires_at: k.expires_at.map(ms_to_secs),
            revoked_at: k.revoked_at.map(ms_to_secs),
            rotated_at: k.rotated_at.map(ms_to_secs),
            previous_secret_expires_at: k.previous_secret_expires_at.map(ms_to_secs),
            last_used_at: k.last_used_at.map(ms_to_secs),
            cooldown_until: k.cooldown_until.map(ms_to_secs),
            revoked_reason: k.revoked_reason,
            leak: k.leak.map(|l| KeyLeakObject {
                url: l.url,
                source: l.source,
                reported_at: ms_to_secs(l.reported_at),
            }),
            created_at: ms_to_secs(k.created_at),
        }
    }
}

/// An API key with its secret: returned once, by create and rotate.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyWithSecret {
    #[serde(flatten)]
    pub key: ApiKeyObject,
    /// The full secret. Store it now: it is never shown again.
    pub secret: String,
}

/// `POST /v1/keys`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A name to recognise the key by, 1 to 100 characters.
    pub name: String,
    /// Scopes to grant; omitted means every scope you hold.
    pub scopes: Option<Vec<String>>,
    /// Model ids this key may use; omitted means any.
    pub allowed_models: Option<Vec<String>>,
    /// Unix seconds after which the key stops working.
    pub expires_at: Option<i64>,
    /// Most credits the key may spend per UTC day or month (holds count as they are
    /// placed); past it, generations are refused with 402 `key_spend_cap_reached`.
    pub spend_cap: Option<SpendCapObject>,
}

/// A key's spend cap.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendCapObject {
    /// Credits per period, at least 1.
    pub credits: i64,
    pub period: CapPeriod,
}

/// `POST /v1/keys/{id}/rotate`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// How long the old secret keeps working, 0 to 2592000 seconds (default: 24 hours,
    /// or the operator's setting).
    pub grace_period_seconds: Option<u64>,
}
