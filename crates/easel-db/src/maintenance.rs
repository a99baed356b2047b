//! Maintenance windows: what the operator announces, and what announcing one writes.

use async_trait::async_trait;

use crate::{AuditContext, DbResult};

/// A maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    /// `mnt_…`
    pub id: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub message: String,
    /// The components affected; empty: the whole service.
    pub components: Vec<String>,
    /// Announced less than 48 hours ahead because it could not wait.
    pub emergency: bool,
    pub created_at: i64,
    pub canceled_at: Option<i64>,
}

/// Maintenance windows.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Records `window` (its `created_at` is `audit.now`), audited globally as
    /// `maintenance.announced`, with a `maintenance.scheduled` event (data: `data`) in
    /// both modes of every account that is not terminated, in one transaction. Returns how
    /// many accounts were told.
    async fn announce_maintenance(
        &self,
        window: Maintenance,
        data: serde_json::Value,
        audit: AuditContext,
    ) -> DbResult<u64>;

    /// Windows not canceled that end after `after` (ms), soonest first.
    async fn list_maintenance(&self, after: i64) -> DbResult<Vec<Maintenance>>;

    /// Cancels a window that has not ended, audited as `maintenance.canceled`; NotFound for
    /// an unknown, ended or already canceled one.
    async fn cancel_maintenance(&self, id: &str, audit: AuditContext) -> DbResult<Maintenance>;
}
