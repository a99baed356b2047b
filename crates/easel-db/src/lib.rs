//! Easel's storage: one set of store traits, implemented for SQLite and for PostgreSQL.
//!
//! Each method is a whole use case in one transaction (`create_key` writes the key, its
//! secret and the audit entry together), so callers never hold a transaction open and the
//! two dialects own their locking. Most SQL text is shared (`sql.rs`) and the shared method
//! bodies are expanded for each dialect by the macros in `common/`; only connection setup,
//! write-transaction start and migrations differ.

#![forbid(unsafe_code)]

#[macro_use]
mod common;
pub mod data_rights;
pub mod error;
pub mod invoices;
pub mod leaks;
pub mod maintenance;
pub mod metrics;
mod migrations;
pub mod model;
pub mod moderation;
pub mod notices;
mod postgres;
pub mod sessions;
pub mod users;
#[macro_use]
mod sql;
mod sqlite;
pub mod status;
pub mod subscriptions;
pub mod webhooks;
mod worker_sql;
pub mod workers;

use std::sync::Arc;

use async_trait::async_trait;

pub mod wake;
pub use common::export_store::export_object_path;
pub use data_rights::*;
pub use error::DbError;
pub use invoices::*;
pub use leaks::*;
pub use maintenance::*;
pub use model::*;
pub use moderation::*;
pub use postgres::PgStore;
pub use sessions::*;
pub use sqlite::SqliteStore;
pub use status::*;
pub use subscriptions::*;
pub use users::*;
pub use webhooks::*;
pub use workers::*;

/// Result of a store call.
pub type DbResult<T> = Result<T, DbError>;

/// Accounts (organisations), their users and members.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account with its owner in one transaction. A taken email is
    /// `DbError::Conflict("users_email_key")`.
    async fn create_account(
        &self,
        new: NewAccount,
        audit: AuditContext,
    ) -> DbResult<(Account, User)>;
    /// One account by id.
    async fn get_account(&self, id: &str) -> DbResult<Account>;
    /// Accounts, newest first.
    async fn list_accounts(&self, page: Page) -> DbResult<Vec<Account>>;
    /// Suspends, unsuspends or terminates. Termination also revokes every key.
    async fn change_account_state(
        &self,
        id: &str,
        change: StateChange,
        audit: AuditContext,
    ) -> DbResult<Account>;
    /// Sets an account's business details, audited as `account.details_changed` with the
    /// old and new values. A terminated account is refused (`account_terminated`).
    async fn set_account_details(
        &self,
        account_id: &str,
        details: AccountDetails,
        audit: AuditContext,
    ) -> DbResult<Account>;
    /// Sets an account's plan and its limit overrides (`None` clears one) and moves its
    /// `updated_at` to `audit.now` (so other nodes refresh what they cache), audited as
    /// `account.plan_changed` with the old and new values. A terminated account is refused
    /// (`account_terminated`), an unknown one is `NotFound`.
    async fn set_plan(
        &self,
        account_id: &str,
        plan: &str,
        limits: LimitOverrides,
        audit: AuditContext,
    ) -> DbResult<Account>;
    /// The members of an account with their emails: owners first, then admins,
    /// developers and viewers, each oldest first.
    async fn list_members(&self, account_id: &str) -> DbResult<Vec<Member>>;
    /// Adds an existing or new user (by email) as a member with `role`.
    async fn add_member(
        &self,
        account_id: &str,
        new: NewMember,
        audit: AuditContext,
    ) -> DbResult<Member>;
    /// Changes a member's role. The last owner cannot be demoted.
    async fn set_member_role(
        &self,
        account_id: &str,
        user_id: &str,
        role: easel_core::roles::Role,
        audit: AuditContext,
    ) -> DbResult<Member>;
    /// Removes a member and revokes the keys they own. The last owner cannot be removed.
    async fn remove_member(
        &self,
        account_id: &str,
        user_id: &str,
        audit: AuditContext,
    ) -> DbResult<()>;
}

/// API keys and their secrets.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key with its first secret.
    async fn create_key(&self, new: NewKey, audit: AuditContext) -> DbResult<ApiKey>;
    /// Starts a key's cool-down until `until` (ms) unless one is already running at
    /// `audit.now`: of several nodes racing, exactly one gets `Some` and writes the audit
    /// entry (`key.cooldown_started`) and the event (`api_key.cooldown_started`).
    async fn start_key_cooldown(
        &self,
        account_id: &str,
        key_id: &str,
        until: i64,
        audit: AuditContext,
    ) -> DbResult<Option<ApiKey>>;
    /// One key of an account; `mode` narrows to one world (API callers always pass it).
    async fn get_key(
        &self,
        account_id: &str,
        mode: Option<easel_core::mode::Mode>,
        key_id: &str,
    ) -> DbResult<ApiKey>;
    /// Keys of an account, newest first.
    async fn list_keys(
        &self,
        account_id: &str,
        mode: Option<easel_core::mode::Mode>,
        page: Page,
    ) -> DbResult<Vec<ApiKey>>;
    /// Gives a key a new secret; older secrets stop working `grace_ms` from now.
    async fn rotate_key(
        &self,
        account_id: &str,
        mode: Option<easel_core::mode::Mode>,
        key_id: &str,
        rotation: Rotation,
        audit: AuditContext,
    ) -> DbResult<ApiKey>;
    /// Revokes a key at once. Revoking a revoked key changes nothing and is not an error.
    async fn revoke_key(
        &self,
        account_id: &str,
        mode: Option<easel_core::mode::Mode>,
        key_id: &str,
        audit: AuditContext,
    ) -> DbResult<ApiKey>;
    /// The account a key belongs to (operator tools look keys up by id alone).
    async fn key_account(&self, key_id: &str) -> DbResult<String>;
    /// How the API shows a key: the data of every `key.*` event this store writes. The
    /// server sets it once at start; see [`notices`].
    fn set_key_view(&self, view: Arc<KeySnapshot>);
    /// Writes `key.expiring` for up to `limit` unrevoked keys that expire after `now` and
    /// at or before `by`, and were not told yet: each key once, with a compare-and-set on
    /// its `expiring_notified_at` in the event's transaction, so that sweeps racing on
    /// several nodes tell it once between them. Returns how many were told.
    async fn notify_expiring_keys(&self, now: i64, by: i64, limit: i64) -> DbResult<usize>;
    /// What authentication needs to know about the key whose secret hashes to `hash`.
    async fn find_credential(&self, hash: &str) -> DbResult<Option<Credential>>;
    /// Records last-used times, batched: one statement per key in one transaction.
    async fn touch_keys(&self, used: &[(String, i64)]) -> DbResult<()>;
    /// Accounts whose account row, members or keys changed at or after `since_ms`, with the
    /// latest change time: other nodes drop what they cache of these. Every change to
    /// cached data must move one of these `updated_at` columns (a deletion touches the
    /// account row).
    async fn changed_accounts_since(&self, since_ms: i64) -> DbResult<Vec<(String, i64)>>;
}

/// The durable job queue: leases, heartbeats, retries, expiry, cancellation.
///
/// Every method that ends or extends a job names the worker holding its lease and does
/// nothing if that worker no longer holds it, so a worker that lost its lease (it stalled
/// past the lease and the job went to another) can never overwrite the new owner's work.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Adds a queued job.
    async fn enqueue(&self, job: NewJob) -> DbResult<Job>;
    /// Takes the oldest runnable job of `queue` for `worker` until `lease_until`.
    async fn claim(
        &self,
        queue: &str,
        worker: &str,
        lease_until: i64,
        now: i64,
    ) -> DbResult<Option<Job>>;
    /// Extends the lease; says whether a cancel was requested or the lease was lost.
    async fn heartbeat(
        &self,
        job_id: &str,
        worker: &str,
        lease_until: i64,
        now: i64,
    ) -> DbResult<Heartbeat>;
    /// Marks the job succeeded; `false` if the worker no longer held it.
    async fn complete_job(&self, job_id: &str, worker: &str, now: i64) -> DbResult<bool>;
    /// Records a failure: requeued at `retry_at` while attempts remain, else failed.
    /// Returns the new status, or `None` if the worker no longer held the job.
    async fn fail_job(
        &self,
        job_id: &str,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> DbResult<Option<easel_core::jobs::JobStatus>>;
    /// Ends a running job that stopped because a cancel was requested.
    async fn finish_canceled(&self, job_id: &str, worker: &str, now: i64) -> DbResult<bool>;
    /// Cancels a queued job at once, or asks a running one to stop (its worker sees it on
    /// the next heartbeat). Ended jobs are returned unchanged.
    async fn cancel_job(&self, job_id: &str, now: i64) -> DbResult<Job>;
    /// Takes back jobs whose lease ran out (their worker died), returning them.
    async fn reap_expired_leases(&self, now: i64) -> DbResult<Vec<Job>>;
    /// Expires jobs still queued past their deadline, returning them.
    async fn expire_queued(&self, now: i64) -> DbResult<Vec<Job>>;
    /// One job.
    async fn get_job(&self, job_id: &str) -> DbResult<Job>;
    /// How many queued jobs of its queue will be claimed before this one (`None` unless
    /// it is queued), counting at most [`JOBS_AHEAD_CAP`].
    async fn jobs_ahead(&self, job_id: &str) -> DbResult<Option<i64>>;
    /// Jobs queued in `queue` now, counting at most [`JOBS_AHEAD_CAP`].
    async fn queued_count(&self, queue: &str) -> DbResult<i64>;
    /// For each of `queues`, when its earliest queued job is (or was) due; `None` for an
    /// empty queue. One indexed lookup per queue, in one statement.
    async fn next_due(&self, queues: &[String]) -> DbResult<Vec<(String, Option<i64>)>>;
}

/// Generations, their outputs and events. Each state change and its event are written in
/// one transaction with the job change it mirrors.
#[async_trait]
pub trait GenerationStore: Send + Sync {
    /// Creates a queued generation with its job and a `generation.queued` event, and
    /// says how many jobs were due before it in its queue.
    async fn enqueue_generation(&self, new: NewGeneration, now: i64) -> DbResult<Enqueued>;

    /// [`enqueue_generation`](Self::enqueue_generation) without the queue position.
    async fn create_generation(&self, new: NewGeneration, now: i64) -> DbResult<Generation> {
        Ok(self.enqueue_generation(new, now).await?.generation)
    }
    /// One generation of an account in one mode (deleted ones too: see `deleted_at`).
    async fn get_generation(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
    ) -> DbResult<Generation>;
    /// The generation a job runs.
    async fn generation_for_job(&self, job_id: &str) -> DbResult<Generation>;
    /// Jobs that ended (failed, canceled, expired) while their generation is still open:
    /// the node that ended them died before settling. At most `limit`.
    async fn unsettled_generation_jobs(&self, limit: i64) -> DbResult<Vec<Job>>;
    /// Outputs past their retention at `now` and not yet deleted, oldest first, with their
    /// generation id. At most `limit`.
    async fn expired_outputs(&self, now: i64, limit: i64) -> DbResult<Vec<(String, Output)>>;
    /// Marks an output deleted (after its object was removed).
    async fn mark_output_deleted(&self, generation_id: &str, idx: u32, now: i64) -> DbResult<()>;
    /// One output of a generation, deleted or not (the caller checks `deleted_at`).
    async fn get_output(&self, generation_id: &str, idx: u32) -> DbResult<Output>;
    /// Generations, newest first, without deleted ones.
    async fn list_generations(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        filter: GenerationFilter,
        page: Page,
    ) -> DbResult<Vec<Generation>>;
    /// Records what the backend reported it spent on a generation (replacing an earlier
    /// attempt's report).
    async fn record_engine_usage(
        &self,
        generation_id: &str,
        usage: &serde_json::Value,
    ) -> DbResult<()>;
    /// Marks the generation of a job that started running (once: a retry changes nothing).
    async fn mark_generation_running(&self, job_id: &str, now: i64) -> DbResult<Generation>;
    /// Ends the job and its generation with outputs, if `worker` still holds the lease;
    /// `None` (and nothing written) if it does not. `completion` is set when `worker` is a
    /// remote worker's lease: the digest of its completion, with which the lease is ended
    /// (succeeded) and counted on its worker in the same transaction, so a client that sees
    /// the generation succeed also sees the worker's count.
    async fn succeed_generation(
        &self,
        job_id: &str,
        worker: &str,
        outputs: Vec<Output>,
        credits_charged: i64,
        completion: Option<&str>,
        now: i64,
    ) -> DbResult<Option<Generation>>;
    /// Fails a generation whose outputs output moderation blocked (error
    /// `output_moderated`), settling its hold by `policy` with the reason in the ledger and
    /// recording the flag in the audit log (`audit` carries its details), if `worker` still
    /// holds the lease; `None` (and nothing written) if it does not.
    async fn block_generation(
        &self,
        job_id: &str,
        worker: &str,
        policy: easel_core::credits::BlockedOutputPolicy,
        message: &str,
        audit: AuditContext,
    ) -> DbResult<Option<Generation>>;
    /// Ends the generation of a job that ended without outputs (failed, canceled,
    /// expired). A generation already ended is returned unchanged.
    async fn end_generation(
        &self,
        job_id: &str,
        end: GenerationEnd,
        now: i64,
    ) -> DbResult<Generation>;
    /// Cancels a queued generation at once, or asks its running job to stop.
    async fn cancel_generation(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
        now: i64,
    ) -> DbResult<Generation>;
    /// Marks a generation and its outputs deleted (cancelling it if it still runs) and
    /// returns it; the caller removes the stored objects. Deleting twice is `NotFound`.
    async fn delete_generation(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
        now: i64,
    ) -> DbResult<Generation>;
    /// How many of an account's generations in one mode, made at or after `since_ms`, are
    /// in each status (statuses with none are left out).
    async fn generation_counts(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        since_ms: i64,
    ) -> DbResult<Vec<(easel_core::jobs::JobStatus, i64)>>;
    /// Events of an account in one mode, newest first.
    async fn list_events(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        page: Page,
    ) -> DbResult<Vec<Event>>;
    /// The events about generation `generation_id` (the `id` of their data), oldest
    /// first, at most 50 (found through the `events_subject` index).
    async fn generation_events(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        generation_id: &str,
    ) -> DbResult<Vec<Event>>;
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry outside any other change (a failed login, for example).
    async fn append_audit(
        &self,
        account_id: Option<&str>,
        action: &'static str,
        target: (&str, &str),
        audit: AuditContext,
    ) -> DbResult<()>;
    /// Entries newest first; `account_id = None` lists all accounts' and global entries.
    async fn list_audit(&self, account_id: Option<&str>, page: Page) -> DbResult<Vec<AuditEntry>>;
}

/// The instance itself: first-start setup, operators, health.
#[async_trait]
pub trait SystemStore: Send + Sync {
    /// Runs the first-start setup in one transaction. Returns `false`, changing nothing, if
    /// the instance was already set up (by an earlier start or another node).
    async fn bootstrap(&self, setup: Bootstrap) -> DbResult<bool>;
    /// The instance's signing secret (for sessions and signed URLs).
    async fn instance_secret(&self) -> DbResult<String>;
    /// An operator by username.
    async fn get_operator(&self, username: &str) -> DbResult<Operator>;
    /// Records an operator login and its audit entry.
    async fn record_operator_login(&self, operator_id: &str, audit: AuditContext) -> DbResult<()>;
    /// Whether the database answers.
    async fn ping(&self) -> DbResult<()>;
}

/// The figures `/metrics` reads from the database.
#[async_trait]
pub trait MetricsStore: Send + Sync {
    /// Queue depths and running jobs per queue, open holds, pending webhook deliveries and
    /// quarantined workers at `now`: each from a partial index of the rows it counts
    /// ([`metrics::QUERIES`]).
    async fn gauges(&self, now: i64) -> DbResult<metrics::Gauges>;
    /// This process's connection pools, read without a query.
    fn pools(&self) -> Vec<metrics::PoolGauge>;
}

/// Where [`JobStore::jobs_ahead`] stops counting.
pub const JOBS_AHEAD_CAP: i64 = 10_000;

/// Credits: balances and the ledger. Holds are placed and settled inside the generation
/// changes they belong to ([`GenerationStore`]).
#[async_trait]
pub trait CreditStore: Send + Sync {
    /// The live available balance (balance − held) below which an account is told
    /// `credits.low` (0: never), set once by the server. Checked where credits move
    /// downwards (holds of new generations, invalid-input fees), from values those writes
    /// read anyway: the event fires once each time the balance goes from at or above it
    /// to below, in that change's transaction.
    fn set_low_balance_credits(&self, credits: i64);
    /// Adds credits (a grant, purchase or plan allowance) with its ledger entry, audit
    /// entry and `credits.granted` event, in one transaction.
    async fn add_credits(&self, new: NewCredit) -> DbResult<LedgerEntry>;
    /// Charges up to `fee` credits (never more than is available, so never below zero) for
    /// a request refused as invalid, with its ledger entry. Returns what was charged.
    async fn charge_invalid_input_fee(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        fee: i64,
        request_id: &str,
        actor: &easel_core::audit::Actor,
        now: i64,
    ) -> DbResult<i64>;
    /// An account's balance in a mode (zero if it never had credits).
    async fn balance(&self, account_id: &str, mode: easel_core::mode::Mode) -> DbResult<Balance>;
    /// Succeeded generations finished in [`from`, `to`) (ms), by UTC day, model and key.
    async fn usage(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        from: i64,
        to: i64,
    ) -> DbResult<Vec<UsageRow>>;
    /// Ledger entries, newest first.
    async fn list_ledger(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        filter: LedgerFilter,
        page: Page,
    ) -> DbResult<Vec<LedgerEntry>>;
}

/// Monthly invoices: issued once per account, mode and period, numbered without gaps.
#[async_trait]
pub trait InvoiceStore: Send + Sync {
    /// Issues the invoice of `new.period` for an account and mode, in one transaction with
    /// its number (the next of `new.series`, without gaps) and its `invoice.created` event.
    /// Lines bill the succeeded generations finished in the period (by model and price)
    /// and the invalid-input fees charged in it. Idempotent: a period already invoiced is
    /// returned as it is; a period with nothing to bill gets no invoice and uses no number.
    /// An unknown account is `NotFound`.
    async fn issue_invoice(&self, new: NewInvoice) -> DbResult<InvoiceIssue>;
    /// Invoices of an account in one mode with their lines, newest first.
    async fn list_invoices(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        page: Page,
    ) -> DbResult<Vec<Invoice>>;
    /// One invoice of an account in one mode, with its lines.
    async fn get_invoice(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
    ) -> DbResult<Invoice>;
}

/// Remembered responses of `Idempotency-Key` requests, per account and mode.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request whose body hashes to `request_hash`, or says why not.
    async fn begin_idempotent(
        &self,
        key: &IdempotencyKey,
        request_hash: &str,
        times: IdempotencyTimes,
    ) -> DbResult<IdempotencyBegin>;
    /// Stores the response of a claimed key; later requests with it replay this.
    async fn finish_idempotent(
        &self,
        key: &IdempotencyKey,
        status: u16,
        response: &str,
    ) -> DbResult<()>;
    /// Gives a claimed key up without a response (the request failed on our side), so a
    /// retry runs afresh.
    async fn release_idempotent(&self, key: &IdempotencyKey) -> DbResult<()>;
}

/// Moderation and end-user compliance: strikes, end users, abuse reports, request log.
#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Records a strike with its audit entry (and against its end user, if any); when the
    /// account's live strikes within `policy.window_ms` reach `policy.threshold`, suspends
    /// the account pending review in the same transaction.
    async fn record_strike(
        &self,
        new: NewStrike,
        policy: StrikePolicy,
        audit: AuditContext,
    ) -> DbResult<StrikeOutcome>;
    /// Whether the developer blocked this end user.
    async fn end_user_blocked(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        user: &str,
    ) -> DbResult<bool>;
    /// Blocks (`Some(reason)`) or unblocks (`None`) an end user, audited. Blocking an end
    /// user never seen before creates it; unblocking an unknown one is `NotFound`.
    async fn set_end_user_blocked(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        user: &str,
        block: Option<Option<String>>,
        audit: AuditContext,
    ) -> DbResult<EndUser>;
    /// One end user (blocked or struck at least once).
    async fn get_end_user(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        user: &str,
    ) -> DbResult<EndUser>;
    /// End users that were blocked or struck, by user id.
    async fn list_end_users(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        filter: EndUserFilter,
        page: Page,
    ) -> DbResult<Vec<EndUser>>;
    /// Files a report (finding the account of its generation), with its audit entry and
    /// an `abuse_report.received` event to that account.
    async fn create_abuse_report(&self, new: NewAbuseReport) -> DbResult<AbuseReport>;
    /// Open reports by deadline (soonest first), or all reports newest first.
    async fn list_abuse_reports(&self, open_only: bool, limit: u32) -> DbResult<Vec<AbuseReport>>;
    /// One report.
    async fn get_abuse_report(&self, id: &str) -> DbResult<AbuseReport>;
    /// The reports against an account's generations in one mode, newest first.
    async fn list_account_abuse_reports(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        limit: u32,
    ) -> DbResult<Vec<AbuseReport>>;
    /// An account's strikes in one mode, newest first.
    async fn list_strikes(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        limit: u32,
    ) -> DbResult<Vec<Strike>>;
    /// Resolves an open report (a resolved one is refused with `abuse_report_resolved`).
    /// An upheld report against a known account is a strike; `output_removed` marks the
    /// generation's outputs deleted; `account_suspended` suspends the account.
    async fn resolve_abuse_report(
        &self,
        id: &str,
        decision: ReportDecision,
        audit: AuditContext,
    ) -> DbResult<ReportResolved>;
    /// Appends request log entries in one transaction.
    async fn insert_request_logs(&self, entries: &[RequestLogEntry]) -> DbResult<()>;
    /// Adds counted calls to deprecated operations (one row per account, mode and
    /// operation: the calls add up, the first and last times widen).
    async fn record_deprecated_calls(&self, calls: &[DeprecatedCall]) -> DbResult<()>;
    /// The deprecated operations an account called, in both modes, latest call first.
    async fn deprecated_calls(&self, account_id: &str) -> DbResult<Vec<DeprecatedCall>>;
    /// An account's logged requests in one mode, newest first.
    async fn list_request_logs(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        filter: &RequestLogFilter,
        page: Page,
    ) -> DbResult<Vec<RequestLogEntry>>;
    /// Deletes up to `limit` entries made before `before` (ms; by their time-ordered ids);
    /// returns how many.
    async fn purge_request_logs(&self, before: i64, limit: i64) -> DbResult<u64>;
}

/// Webhook endpoints, scoped to their account and mode (others' are `NotFound`, like
/// deleted ones). Every change is audited.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// When the earliest pending delivery can be sent, as of `now` (it may be locked by
    /// an attempt in flight; one of an endpoint the circuit breaker holds counts when the
    /// hold ends), if any is pending.
    async fn next_delivery_due(&self, now: i64) -> DbResult<Option<i64>>;
    /// Creates an endpoint with its secret.
    async fn create_webhook_endpoint(
        &self,
        new: NewWebhookEndpoint,
        audit: AuditContext,
    ) -> DbResult<WebhookEndpoint>;
    /// One endpoint.
    async fn get_webhook_endpoint(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
    ) -> DbResult<WebhookEndpoint>;
    /// Endpoints, newest first.
    async fn list_webhook_endpoints(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        page: Page,
    ) -> DbResult<Vec<WebhookEndpoint>>;
    /// Changes an endpoint; re-enabling clears its disabled state and failure streak.
    async fn update_webhook_endpoint(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
        patch: WebhookEndpointPatch,
        audit: AuditContext,
    ) -> DbResult<WebhookEndpoint>;
    /// Deletes an endpoint (kept for its delivery log, never listed or delivered to).
    async fn delete_webhook_endpoint(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
        audit: AuditContext,
    ) -> DbResult<WebhookEndpoint>;
    /// Replaces the secret; the old one keeps signing until `previous_until` (ms; a time
    /// not after `audit.now` ends it at once).
    async fn rotate_webhook_secret(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
        secret: &str,
        previous_until: i64,
        audit: AuditContext,
    ) -> DbResult<WebhookEndpoint>;
    /// Due, unleased pending deliveries, oldest due first, as (delivery, endpoint) ids; at
    /// most `limit`, skipping the endpoints in `skip` (those this node already has enough
    /// attempts in flight to). A read: [`WebhookStore::claim_webhook_deliveries`] takes them.
    async fn due_webhook_deliveries(
        &self,
        now: i64,
        limit: i64,
        skip: &[String],
    ) -> DbResult<Vec<(String, String)>>;
    /// Leases those of `ids` still due and unleased to `worker` until `lease_until`, with
    /// what sending needs. Of several nodes claiming one delivery, exactly one gets it.
    async fn claim_webhook_deliveries(
        &self,
        ids: &[String],
        worker: &str,
        now: i64,
        lease_until: i64,
    ) -> DbResult<Vec<DeliveryTask>>;
    /// Records an attempt and moves the delivery on (succeeded, retry, failed), in one
    /// transaction with the endpoint's failure streak: a failure that finds the endpoint
    /// failing for `disable_after_ms` (or a 410) disables it, fails its pending deliveries,
    /// and writes the `webhook_endpoint.disabled` event and audit entry.
    async fn record_webhook_attempt(&self, outcome: AttemptOutcome) -> DbResult<AttemptRecorded>;
    /// Ends a leased delivery without sending it (endpoint disabled or deleted, account
    /// terminated): failed, with `reason` as its last error.
    async fn abandon_webhook_delivery(
        &self,
        id: &str,
        worker: &str,
        reason: &str,
        now: i64,
    ) -> DbResult<()>;
    /// One delivery with its attempts.
    async fn get_webhook_delivery(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
    ) -> DbResult<WebhookDelivery>;
    /// An endpoint's deliveries with their attempts, newest first.
    async fn list_webhook_deliveries(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        endpoint_id: &str,
        page: Page,
    ) -> DbResult<Vec<WebhookDelivery>>;
    /// Deletes up to `limit` ended deliveries (succeeded or failed) of events before
    /// `before` (ms) with their attempts, oldest first; returns how many.
    async fn purge_webhook_deliveries(&self, before: i64, limit: i64) -> DbResult<u64>;
    /// Sends endpoint `endpoint_id` a test: an event of type `webhook_endpoint.test`
    /// (id `event_id`, `data`) with one pending delivery, to this endpoint only and whatever
    /// it subscribes to. Audited as `webhook_endpoint.tested`. An unknown or deleted
    /// endpoint is `NotFound`; the caller refuses a disabled one first.
    async fn send_test_webhook(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        endpoint_id: &str,
        event_id: &str,
        data: serde_json::Value,
        audit: AuditContext,
    ) -> DbResult<WebhookDelivery>;
    /// Asks for an attempt now: a pending delivery's next attempt moves to `audit.now`; an
    /// ended one becomes pending for one manual attempt. A delivery being attempted right
    /// now is left as it is. Audited as `webhook_delivery.replayed`.
    async fn replay_webhook_delivery(
        &self,
        account_id: &str,
        mode: easel_core::mode::Mode,
        id: &str,
        audit: AuditContext,
    ) -> DbResult<WebhookDelivery>;
}

/// Schema migrations; the one part that differs wholly between dialects.
#[async_trait]
pub trait MigrationStore: Send + Sync {
    /// Whether every migration this binary knows has been applied.
    async fn migrations_current(&self) -> DbResult<bool>;
    /// Applies pending migrations.
    async fn migrate(&self) -> DbResult<()>;
    /// Which dialect this is, for logs and `/readyz`.
    fn dialect(&self) -> &'static str;
    /// A fingerprint that changes whenever anyone commits to the database, read without a
    /// query: SQLite's WAL file's size and modification time. `None` on PostgreSQL, which
    /// notifies instead (see [`wake`]).
    fn write_marker(&self) -> Option<WriteMarker> {
        None
    }
    /// This store's name on the database's notifications, so that a node ignores the
    /// ones it caused (PostgreSQL; see [`wake`]).
    fn node(&self) -> Option<String> {
        None
    }
}

/// See [`MigrationStore::write_marker`].
pub type WriteMarker = (u64, std::time::SystemTime);

/// Everything the server needs from storage.
pub trait Store:
    AccountStore
    + KeyStore
    + LeakStore
    + AuditStore
    + JobStore
    + GenerationStore
    + CreditStore
    + IdempotencyStore
    + InvoiceStore
    + ModerationStore
    + WebhookStore
    + WorkerStore
    + SystemStore
    + SessionStore
    + UserStore
    + SubscriptionStore
    + MaintenanceStore
    + StatusStore
    + MetricsStore
    + ExportStore
    + ErasureStore
    + MigrationStore
{
}
impl<T> Store for T where
    T: AccountStore
        + KeyStore
        + LeakStore
        + AuditStore
        + JobStore
        + GenerationStore
        + CreditStore
        + IdempotencyStore
        + InvoiceStore
        + ModerationStore
        + WebhookStore
        + WorkerStore
        + SystemStore
        + SessionStore
        + UserStore
        + SubscriptionStore
        + MaintenanceStore
        + StatusStore
        + MetricsStore
        + ExportStore
        + ErasureStore
        + MigrationStore
{
}

/// Opens the store named by `url` (`sqlite://…` or `postgres://…`), creating a SQLite file if
/// needed. Does not migrate: call [`MigrationStore::migrate`].
///
/// `max_connections` sizes the PostgreSQL pool; SQLite always uses one writer and eight
/// readers.
pub async fn connect(url: &str, max_connections: u32) -> DbResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::connect(url, max_connections).await?))
    } else {
        Err(DbError::Config(format!(
            "unsupported database URL scheme in `{}`: use sqlite:// or postgres://",
            redact_url(url)
        )))
    }
}

/// A URL with any password replaced by `***`, safe to log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
