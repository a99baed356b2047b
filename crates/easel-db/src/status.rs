//! The status page's records: the probe lease, each component's last probe, probed time per
//! day and hour, and incidents with their updates.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::{AuditContext, DbResult};

/// A component's last probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentState {
    pub component: String,
    /// Statuspage's word: `operational`, `degraded_performance` or `major_outage`.
    pub status: String,
    /// What the probe found, for the operator (never shown with secrets: probes write it).
    pub message: String,
    pub latency_ms: Option<i64>,
    pub checked_at: i64,
    /// When `status` last changed (set by the store).
    pub changed_at: i64,
}

/// Probed time (milliseconds) of one component in one day or hour, by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub ok_ms: i64,
    pub degraded_ms: i64,
    pub down_ms: i64,
    /// Inside a maintenance window: counted neither up nor down.
    pub maintenance_ms: i64,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.ok_ms += other.ok_ms;
        self.degraded_ms += other.degraded_ms;
        self.down_ms += other.down_ms;
        self.maintenance_ms += other.maintenance_ms;
    }

    /// Time probed outside maintenance: what uptime is a share of.
    pub const fn counted_ms(&self) -> i64 {
        self.ok_ms + self.degraded_ms + self.down_ms
    }
}

/// The length of a [`TallyRow`]'s period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Day,
    Hour,
}

impl Period {
    pub const fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Hour => "hour",
        }
    }

    pub const fn ms(self) -> i64 {
        match self {
            Period::Day => 86_400_000,
            Period::Hour => 3_600_000,
        }
    }

    /// The start of the period (UTC) holding `at`.
    pub const fn start(self, at: i64) -> i64 {
        at - at.rem_euclid(self.ms())
    }
}

/// Probed time of one component in one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyRow {
    pub period: Period,
    pub starts_at: i64,
    pub component: String,
    pub tally: Tally,
}

/// A status change an incident update made to a component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ComponentChange {
    pub code: String,
    pub old_status: String,
    pub new_status: String,
}

/// One message posted on an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUpdate {
    /// `incu_…`
    pub id: String,
    pub incident_id: String,
    pub status: String,
    pub body: String,
    pub components: Vec<ComponentChange>,
    pub created_at: i64,
}

/// An incident, with its updates newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// `inc_…`
    pub id: String,
    pub name: String,
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    /// `none`, `minor`, `major` or `critical`.
    pub impact: String,
    /// The components it affects now and their status (empty once resolved).
    pub components: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub monitoring_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub updates: Vec<IncidentUpdate>,
}

/// What an update changes on its incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentChange {
    /// The update's id (`incu_…`).
    pub update_id: String,
    pub status: String,
    pub body: String,
    /// A new impact, if it changes.
    pub impact: Option<String>,
    /// Component statuses to set; `operational` takes a component off the incident.
    pub components: BTreeMap<String, String>,
}

/// The status page's storage.
#[async_trait]
pub trait StatusStore: Send + Sync {
    /// Takes or keeps the lease `name` for `holder` until `until`: granted when nobody holds
    /// it, `holder` does, or the holder's lease ran out before `now`.
    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> DbResult<bool>;

    /// Gives `name` up if `holder` has it, so another node need not wait for it to run out.
    async fn release_lease(&self, name: &str, holder: &str) -> DbResult<()>;

    /// Records one round of probes in one transaction: each component's state (its
    /// `changed_at` kept while the status stays the same) and time added to the rows of
    /// `tallies`. Hour rows that started before `hours_after` are deleted, and day rows that
    /// started before `days_after`.
    async fn record_probes(
        &self,
        states: &[ComponentState],
        tallies: &[TallyRow],
        hours_after: i64,
        days_after: i64,
    ) -> DbResult<()>;

    /// Every component's last probe.
    async fn component_states(&self) -> DbResult<Vec<ComponentState>>;

    /// Rows of `period` that started at or after `since`.
    async fn status_tallies(&self, period: Period, since: i64) -> DbResult<Vec<TallyRow>>;

    /// When the earliest pending webhook delivery was due, if any (the webhooks probe).
    async fn oldest_due_delivery(&self) -> DbResult<Option<i64>>;

    /// Records `incident` (with its first update) and audits it globally.
    async fn open_incident(&self, incident: Incident, audit: AuditContext) -> DbResult<Incident>;

    /// Posts an update on an unresolved incident: its status, impact and components change,
    /// the update records each component's old and new status; `resolved` ends it (every
    /// component back to operational). NotFound for an unknown or resolved incident.
    async fn update_incident(
        &self,
        id: &str,
        change: IncidentChange,
        audit: AuditContext,
    ) -> DbResult<Incident>;

    /// One incident with its updates.
    async fn get_incident(&self, id: &str) -> DbResult<Incident>;

    /// Incidents newest first (at most `limit`), only unresolved ones if `unresolved`.
    async fn list_incidents(&self, limit: u32, unresolved: bool) -> DbResult<Vec<Incident>>;
}
