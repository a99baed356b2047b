//! Leaked keys: what a leak report asks of the store, and what it did.
//!
//! A report names a secret by its SHA-256 (the only form stored). The store finds the key,
//! and either revokes it (reason `leaked`) or only flags it, with the audit entry, and for
//! a revocation the `key.revoked` event, in the same transaction. Of several reports of
//! the same secret (GitHub redelivering, two nodes racing) exactly one acts: the others
//! find the key already revoked or flagged and change nothing, so the owner is told once.

use async_trait::async_trait;

use crate::{ApiKey, AuditContext, DbResult};

/// The `revoked_reason` of a key revoked because its secret leaked.
pub const REVOKED_LEAKED: &str = "leaked";

/// What to do with a reported key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakAction {
    /// Revoke it at once.
    Revoke,
    /// Leave it working, record the report, tell the owner.
    Flag,
}

/// A report of a secret found in public.
#[derive(Debug, Clone)]
pub struct LeakReport {
    /// SHA-256 of the reported secret, hex.
    pub secret_hash: String,
    /// Where it was found.
    pub url: String,
    /// What kind of place (`content`, `commit`, …), if the reporter said.
    pub source: Option<String>,
    pub action: LeakAction,
}

/// What a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakOutcome {
    /// No key has this secret.
    Unknown,
    /// The secret is a key's, and this report revoked or flagged it.
    Acted(ApiKey),
    /// The secret is a key's, but nothing changed: it was revoked or flagged already, or
    /// the secret was rotated out and no longer works.
    Unchanged(ApiKey),
}

/// The event data of a revoked key: the key as the API shows it, built by the caller.
pub type KeySnapshot = dyn Fn(&ApiKey) -> serde_json::Value + Send + Sync;

/// Leak reports against API keys.
#[async_trait]
pub trait LeakStore: Send + Sync {
    /// Acts on a report (see the module docs). With [`LeakAction::Revoke`] it writes the
    /// audit entry `key.revoked` (details `reason: leaked`, `url`, `source`) and the event
    /// `key.revoked` (data: `snapshot` of the revoked key plus `reason`); with
    /// [`LeakAction::Flag`] the audit entry `key.leak_reported` and no event.
    async fn report_leaked_key(
        &self,
        report: LeakReport,
        audit: AuditContext,
        snapshot: &KeySnapshot,
    ) -> DbResult<LeakOutcome>;
}

/// The `key.revoked` event data: the key's snapshot with the reason beside it.
pub(crate) fn revoked_event_data(key: &ApiKey, snapshot: &KeySnapshot) -> serde_json::Value {
    let mut data = snapshot(key);
    if let serde_json::Value::Object(map) = &mut data {
        map.insert("reason".into(), REVOKED_LEAKED.into());
    }
    data
}
