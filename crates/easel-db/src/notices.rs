//! The events the store writes about keys and balances (`key.created|rotated|revoked|
//! expiring`, `credits.low`), and what it needs from the server to write them.
//!
//! Each event is written in the transaction that makes the change, whichever path made it
//! (API, console, CLI, member removal, account termination, the periodic sweep). Two things
//! are the server's to say and are handed to the store once when the server starts
//! ([`crate::KeyStore::set_key_view`], [`crate::CreditStore::set_low_balance_credits`]):
//! how the API shows a key (the `key.*` events carry exactly that, never a secret or a
//! hash), and the live balance below which an account is told `credits.low`. Keeping them
//! on the store, rather than as arguments, spares every caller of a method that may revoke
//! keys (terminating an account, say) from knowing about events.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::{ApiKey, KeySnapshot};

/// `reason` of a `key.revoked` event for a key revoked on request (API, console, CLI).
pub const REVOKED_REQUESTED: &str = "requested";
/// `reason` of a `key.revoked` event for a key revoked because its member was removed.
pub const REVOKED_MEMBER_REMOVED: &str = "member_removed";
/// `reason` of a `key.revoked` event for a key revoked because its account was terminated.
pub const REVOKED_ACCOUNT_TERMINATED: &str = "account_terminated";

/// What a store knows of the server's event shapes and thresholds; shared by its clones.
#[derive(Clone, Default)]
pub(crate) struct EventSettings(Arc<Inner>);

#[derive(Default)]
struct Inner {
    key_view: RwLock<Option<Arc<KeySnapshot>>>,
    low_balance_credits: AtomicI64,
}

impl std::fmt::Debug for EventSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSettings")
            .field("low_balance_credits", &self.low_balance_credits())
            .finish_non_exhaustive()
    }
}

impl EventSettings {
    pub(crate) fn set_key_view(&self, view: Arc<KeySnapshot>) {
        *self
            .0
            .key_view
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(view);
    }

    pub(crate) fn set_low_balance_credits(&self, credits: i64) {
        self.0
            .low_balance_credits
            .store(credits.max(0), Ordering::Relaxed);
    }

    /// The live available balance below which `credits.low` fires (0: never).
    pub(crate) fn low_balance_credits(&self) -> i64 {
        self.0.low_balance_credits.load(Ordering::Relaxed)
    }

    /// The key as the API shows it. A store the server never configured (tools, tests)
    /// writes the few fields it can name without the API's help.
    pub(crate) fn key_data(&self, key: &ApiKey) -> serde_json::Value {
        let view = self
            .0
            .key_view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match view {
            Some(view) => view(key),
            None => serde_json::json!({
                "object": "api_key",
                "id": key.id,
                "name": key.name,
                "livemode": key.mode.is_live(),
            }),
        }
    }

    /// `key.rotated`: the key, saying (in Unix seconds) when its previous secrets stop
    /// working even if the view left that out.
    pub(crate) fn rotated_data(&self, key: &ApiKey) -> serde_json::Value {
        let until = key.previous_secret_expires_at.map(|ms| ms.div_euclid(1000));
        with(
            self.key_data(key),
            "previous_secret_expires_at",
            until.into(),
        )
    }

    /// `key.revoked`: the key, with why it was revoked beside it.
    pub(crate) fn revoked_data(&self, key: &ApiKey, reason: &str) -> serde_json::Value {
        with(self.key_data(key), "reason", reason.into())
    }
}

/// `credits.low`: the live balance as `GET /v1/balance` shows it, and the threshold.
pub(crate) fn low_data(balance: i64, held: i64, threshold: i64) -> serde_json::Value {
    let available = balance - held;
    serde_json::json!({
        "object": "balance",
        "livemode": true,
        "balance": balance,
        "held": held,
        "available": available,
        "available_eur": easel_core::models::credits_to_eur(available),
        "threshold": threshold,
    })
}

fn with(mut data: serde_json::Value, field: &str, value: serde_json::Value) -> serde_json::Value {
    if let serde_json::Value::Object(map) = &mut data {
        map.insert(field.into(), value);
    }
    data
}
