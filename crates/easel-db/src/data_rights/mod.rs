//! Data rights (clause 13): exports of an account's data and its erasure.
//!
//! An export is a row moved through states by whichever node claims it under a lease; its
//! records are read kind by kind ([`EXPORT_KINDS`]) as JSON objects the database itself
//! builds, each kind naming its columns explicitly so that no secret (key hashes, webhook
//! secrets, password hashes, session and invitation tokens, cached idempotent responses)
//! can reach an archive by a column being added later.
//!
//! An erasure deletes what the account's data is made of (logs, events, sessions, key
//! secrets) in batches, then replaces the personal data of what must stay (the account,
//! its people, its keys, its generations, its invoices' buyer) with placeholders that are
//! not derived from the values, in one transaction that also marks the erasure done.

mod kinds;
mod redact;

use async_trait::async_trait;

pub use kinds::{Col, EXPORT_KINDS, ExportKind, Nested};
pub(crate) use kinds::{Dialect, export_sql};
pub(crate) use redact::AUDIT_TO_REDACT;
pub use redact::{redact_details, redact_target};

use crate::{AuditContext, DbResult};

/// The state of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportState {
    /// Waiting for a node to build it.
    Pending,
    /// A node is building it (under a lease).
    Building,
    /// Built; its archive can be downloaded once until `expires_at`.
    Ready,
    /// Downloaded (its one download); the archive is deleted.
    Downloaded,
    /// Could not be built (`failure_reason`).
    Failed,
    /// Not downloaded in time; the archive is deleted.
    Expired,
}

impl ExportState {
    /// The wire and storage spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExportState::Pending => "pending",
            ExportState::Building => "building",
            ExportState::Ready => "ready",
            ExportState::Downloaded => "downloaded",
            ExportState::Failed => "failed",
            ExportState::Expired => "expired",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<ExportState> {
        [
            ExportState::Pending,
            ExportState::Building,
            ExportState::Ready,
            ExportState::Downloaded,
            ExportState::Failed,
            ExportState::Expired,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// An export of an account's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataExport {
    /// `exp_…`
    pub id: String,
    pub account_id: String,
    pub state: ExportState,
    /// Who asked: `user_…`, `key_…` or `cli`.
    pub requested_by: String,
    /// Builds started (a lapsed lease counts as one).
    pub attempts: i64,
    /// Where the archive is in the object store, once built.
    pub object_path: Option<String>,
    pub bytes: Option<i64>,
    /// SHA-256 of the archive, hex.
    pub sha256: Option<String>,
    /// Records per kind, as the manifest says (a JSON object).
    pub counts: Option<serde_json::Value>,
    pub failure_reason: Option<String>,
    pub created_at: i64,
    pub ready_at: Option<i64>,
    /// Until when a ready export can be downloaded.
    pub expires_at: Option<i64>,
    pub downloaded_at: Option<i64>,
    /// When its archive was deleted from the object store.
    pub purged_at: Option<i64>,
}

/// How a build ended.
#[derive(Debug, Clone)]
pub enum ExportOutcome {
    /// The archive is stored at `object_path`.
    Ready {
        object_path: String,
        bytes: i64,
        sha256: String,
        counts: serde_json::Value,
        expires_at: i64,
    },
    /// It could not be built; it will not be retried.
    Failed { reason: String },
}

/// What asking for an export's one download found.
#[derive(Debug, Clone)]
pub enum DownloadClaim {
    /// This caller has the download; the archive may be read now (and only now).
    Granted(DataExport),
    /// The export is not downloadable (not ready yet, already downloaded, expired, failed).
    Refused(DataExport),
}

/// Why an account is being erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureReason {
    /// The owner asked; it waits for the cooling-off period and can be canceled meanwhile.
    OwnerRequest,
    /// The operator erased it (`easel admin account erase`).
    Operator,
    /// The account was terminated and its retention period has ended.
    Terminated,
}

impl ErasureReason {
    /// The storage spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErasureReason::OwnerRequest => "owner_request",
            ErasureReason::Operator => "operator",
            ErasureReason::Terminated => "terminated",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<ErasureReason> {
        [
            ErasureReason::OwnerRequest,
            ErasureReason::Operator,
            ErasureReason::Terminated,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// The state of an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureState {
    Scheduled,
    Running,
    Done,
    Canceled,
}

impl ErasureState {
    /// The storage spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErasureState::Scheduled => "scheduled",
            ErasureState::Running => "running",
            ErasureState::Done => "done",
            ErasureState::Canceled => "canceled",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<ErasureState> {
        [
            ErasureState::Scheduled,
            ErasureState::Running,
            ErasureState::Done,
            ErasureState::Canceled,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// An account's erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub account_id: String,
    pub reason: ErasureReason,
    pub state: ErasureState,
    pub requested_by: String,
    pub requested_at: i64,
    /// When it runs (or ran).
    pub due_at: i64,
    /// Whether the request suspended the account (a cancellation then lifts it).
    pub suspended_by_request: bool,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub canceled_at: Option<i64>,
    pub erased_at: Option<i64>,
}

/// What a new erasure request asks for.
#[derive(Debug, Clone)]
pub struct NewErasure {
    pub account_id: String,
    pub reason: ErasureReason,
    /// `user_…`, `key_…` or `cli`.
    pub requested_by: String,
    pub due_at: i64,
    /// Suspend an active account meanwhile, with this reason.
    pub suspend_reason: Option<String>,
}

/// The placeholders an erasure writes, chosen by the caller (random, never derived from
/// the values they replace).
#[derive(Debug, Clone)]
pub struct Placeholders {
    /// The account's name.
    pub account_name: String,
    /// A unique address for the account's contact e-mail.
    pub account_email: String,
    /// Unique addresses for the users erased, in the order of the user ids given.
    pub user_emails: Vec<String>,
    /// What replaces free text (key names, prompts, error messages, details).
    pub text: String,
    /// What replaces a webhook endpoint's URL.
    pub url: String,
    /// What replaces the buyer on the account's invoices; `None` keeps it (an operator
    /// whose law requires invoices to name the buyer for their whole retention).
    pub invoice_buyer: Option<String>,
}

/// What an erasure's final step changed, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScrubCounts {
    pub users: u64,
    pub sessions: u64,
    pub api_keys: u64,
    pub key_secrets: u64,
    pub generations: u64,
    pub outputs: u64,
    pub strikes: u64,
    pub end_users: u64,
    pub abuse_reports: u64,
    pub webhook_endpoints: u64,
    pub invoices: u64,
    pub invitations: u64,
    pub audit_entries: u64,
}

/// Exports of an account's data.
#[async_trait]
pub trait ExportStore: Send + Sync {
    /// Records a pending export (`id` given), audited as `account.export_requested`. An
    /// account with an export pending or building already is refused
    /// (`export_in_progress`); an unknown one is NotFound.
    async fn create_export(
        &self,
        id: &str,
        account_id: &str,
        requested_by: &str,
        audit: AuditContext,
    ) -> DbResult<DataExport>;
    /// One export of an account.
    async fn get_export(&self, account_id: &str, id: &str) -> DbResult<DataExport>;
    /// One export by id, whatever its account (for its signed download URL).
    async fn find_export(&self, id: &str) -> DbResult<DataExport>;
    /// An account's exports, newest first.
    async fn list_exports(&self, account_id: &str, limit: u32) -> DbResult<Vec<DataExport>>;
    /// Claims the oldest export waiting to be built (pending, or building under a lease
    /// that lapsed before `now`) for `owner` until `lease_until`, counting an attempt. One
    /// that already had `max_attempts` is marked failed instead (audited), and the next
    /// one is looked at. Of several nodes claiming at once, one gets each export.
    async fn claim_export(
        &self,
        owner: &str,
        lease_until: i64,
        max_attempts: i64,
        now: i64,
    ) -> DbResult<Option<DataExport>>;
    /// Extends a build's lease; false if `owner` no longer holds it.
    async fn renew_export_lease(&self, id: &str, owner: &str, lease_until: i64) -> DbResult<bool>;
    /// Ends a build held by `owner`: ready (audited `account.export_ready`) or failed
    /// (audited `account.export_failed`). False (nothing written) if the lease was lost.
    async fn finish_export(
        &self,
        id: &str,
        owner: &str,
        outcome: ExportOutcome,
        audit: AuditContext,
    ) -> DbResult<bool>;
    /// Takes an export's one download at `audit.now`: a ready, unexpired export becomes
    /// downloaded (audited `account.export_downloaded`) and is granted; any other is
    /// refused as it is. Of several callers at once, one is granted.
    async fn take_export_download(&self, id: &str, audit: AuditContext) -> DbResult<DownloadClaim>;
    /// Exports whose archive should now be deleted: downloaded, failed, or past their
    /// expiry at `now`, and not yet purged.
    async fn exports_to_purge(&self, now: i64, limit: i64) -> DbResult<Vec<DataExport>>;
    /// Records that an export's archive is deleted; a ready one becomes expired.
    async fn mark_export_purged(&self, id: &str, now: i64) -> DbResult<()>;
    /// One page of an account's records of one kind (an index into [`EXPORT_KINDS`]), of
    /// one mode for kinds read by mode: `(key, JSON object)` pairs in key order, after the
    /// key `after`.
    async fn export_page(
        &self,
        kind: usize,
        account_id: &str,
        mode: Option<easel_core::mode::Mode>,
        after: Option<&str>,
        limit: i64,
    ) -> DbResult<Vec<(String, String)>>;
}

/// Erasures of accounts.
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Records an erasure (audited `account.erasure_requested`), suspending an active
    /// account meanwhile when asked to (audited, with `account.suspended` events). An
    /// account with an erasure scheduled, running or done is refused
    /// (`erasure_already_requested`), an unknown one is NotFound.
    async fn request_erasure(&self, new: NewErasure, audit: AuditContext) -> DbResult<Erasure>;
    /// An account's erasure, if one was ever asked for.
    async fn get_erasure(&self, account_id: &str) -> DbResult<Erasure>;
    /// Cancels an owner's erasure request that has not started (audited
    /// `account.erasure_canceled`); lifts the suspension the request made, if it is still
    /// the request's (the account is still suspended with `suspend_reason`). Anything else
    /// is refused (`erasure_not_cancelable`), none is NotFound.
    async fn cancel_erasure(
        &self,
        account_id: &str,
        suspend_reason: &str,
        audit: AuditContext,
    ) -> DbResult<Erasure>;
    /// Schedules the erasure of every terminated account that has none, due `retention_ms`
    /// after its termination. Returns how many were scheduled.
    async fn schedule_terminated_erasures(&self, retention_ms: i64, now: i64) -> DbResult<u64>;
    /// Claims the erasure due soonest (scheduled and due at `now`, or running under a
    /// lease that lapsed) for `owner` until `lease_until`, counting an attempt. With
    /// `only`, that account's erasure, scheduled (due or not) or with a lapsed lease.
    async fn claim_erasure(
        &self,
        owner: &str,
        lease_until: i64,
        now: i64,
        only: Option<&str>,
    ) -> DbResult<Option<Erasure>>;
    /// Extends an erasure's lease; false if `owner` no longer holds it.
    async fn renew_erasure_lease(
        &self,
        account_id: &str,
        owner: &str,
        lease_until: i64,
    ) -> DbResult<bool>;
    /// Hands a failed erasure back to the schedule, due again at `retry_at`.
    async fn erasure_failed(
        &self,
        account_id: &str,
        owner: &str,
        error: &str,
        retry_at: i64,
    ) -> DbResult<()>;
    /// Deletes up to `limit` rows of the account's request log, webhook attempts and
    /// deliveries, events and idempotency records (in that order, foreign keys allowing);
    /// `(table, rows)` of what it deleted, empty when nothing is left.
    async fn erase_records(&self, account_id: &str, limit: i64) -> DbResult<Vec<(String, u64)>>;
    /// Redacts up to `limit` audit entries of the account and of its people (their
    /// details' personal values replaced by `text`); how many.
    async fn redact_audit(
        &self,
        account_id: &str,
        text: &str,
        limit: i64,
        now: i64,
    ) -> DbResult<u64>;
    /// The users only this account has (its members who belong to no other account):
    /// theirs is the personal data an erasure replaces.
    async fn sole_users(&self, account_id: &str) -> DbResult<Vec<String>>;
    /// The final step, held by `owner`: replaces the account's personal data with
    /// `placeholders`, deletes its sessions, key secrets, invitations and end users,
    /// redacts what audit entries are left, and marks the erasure done, in one
    /// transaction, audited `account.erased` with the counts. `users` are the
    /// [`sole_users`](Self::sole_users), matched with `placeholders.user_emails`.
    async fn scrub_account(
        &self,
        account_id: &str,
        owner: &str,
        users: &[String],
        placeholders: &Placeholders,
        audit: AuditContext,
    ) -> DbResult<ScrubCounts>;
}
