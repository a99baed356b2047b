//! What the store reads and writes, in domain types.

use easel_core::account::{AccountState, LiveBlock};
use easel_core::audit::{Actor, ActorType};
use easel_core::mode::Mode;
use easel_core::roles::{Role, Scope};

/// Cursor pagination, newest first: at most `limit` rows with ids below `starting_after`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Rows wanted; the store fetches one more to tell whether more exist.
    pub limit: u32,
    /// The id of the last row of the previous page.
    pub starting_after: Option<String>,
}

impl Page {
    /// The first `limit` rows.
    pub fn first(limit: u32) -> Page {
        Page {
            limit,
            starting_after: None,
        }
    }

    /// The keyset part of a list query whose next placeholder is `$param`: on a later page
    /// `" AND <column> < $param"` and `"LIMIT $param+1"`, on the first page no bound at all
    /// (a sentinel such as `'~'` would depend on the database's collation). Bind the
    /// cursor (if any) and then [`Page::fetch`].
    pub(crate) fn keyset(&self, column: &str, param: usize) -> (String, String) {
        match self.starting_after {
            Some(_) => (
                format!(" AND {column} < ${param}"),
                format!("LIMIT ${}", param + 1),
            ),
            None => (String::new(), format!("LIMIT ${param}")),
        }
    }

    /// Rows to fetch: one more than wanted, to tell whether another page exists.
    pub(crate) fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub legal_name: Option<String>,
    pub contact_email: String,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    pub country: Option<String>,
    pub plan: String,
    pub state: AccountState,
    pub suspended_reason: Option<String>,
    pub suspended_until: Option<i64>,
    pub terminated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The operator's overrides of the plan's limits.
    pub limits: LimitOverrides,
    /// What the account lacks before live mode opens (`None`: nothing).
    pub live_blocked: Option<LiveBlock>,
}

/// The business details of an account (its members edit them; invoices print them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountDetails {
    pub name: String,
    pub legal_name: Option<String>,
    pub contact_email: String,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
}

/// Per-account overrides of a plan's limits, set by the operator; `None` keeps the plan's
/// value. Stored as BIGINT with `CHECK (> 0)`, so a stored override is never zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// Requests per minute, per key and per account.
    pub requests_per_minute: Option<u32>,
    /// Requests per day, per key and per account.
    pub requests_per_day: Option<u32>,
    /// Generations queued or running at once, per mode.
    pub concurrent_jobs: Option<u32>,
}

/// A person who can sign in and be a member of accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub adult_attested_at: Option<i64>,
    pub terms_version: Option<String>,
    pub terms_accepted_at: Option<i64>,
    pub created_at: i64,
    /// When the person proved their e-mail address (a sign-up link); `None` for people the
    /// operator or a member added, and for sign-ups that have not clicked it yet.
    pub email_verified_at: Option<i64>,
}

/// A user's membership of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub account_id: String,
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
}

/// A new user, with what sign-up records.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    /// argon2id PHC string, or `None` until the user sets a password in the console.
    pub password_hash: Option<String>,
    pub adult_attested_at: Option<i64>,
    pub terms_version: Option<String>,
    pub terms_accepted_at: Option<i64>,
    /// The client address the terms were accepted from.
    pub terms_accepted_ip: Option<String>,
}

/// A new account with its owner.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: String,
    pub name: String,
    pub legal_name: Option<String>,
    pub contact_email: String,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    pub country: Option<String>,
    pub plan: String,
    pub owner: NewUser,
    pub now: i64,
    /// `Some` for a self-service sign-up: live mode waits for it.
    pub live_blocked: Option<LiveBlock>,
}

/// A member to add; the user is created if the email is new.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub user: NewUser,
    pub role: Role,
    pub now: i64,
}

/// A change of account state.
#[derive(Debug, Clone)]
pub enum StateChange {
    Suspend {
        reason: String,
        until: Option<i64>,
        /// What happens to its queued and running generations.
        jobs: crate::SuspendJobs,
    },
    Unsuspend,
    Terminate,
}

/// An API key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub mode: Mode,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub allowed_models: Option<Vec<String>>,
    /// Most credits the key may spend per UTC day or month.
    pub spend_cap: Option<easel_core::credits::SpendCap>,
    /// The current secret's first characters.
    pub display_prefix: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub rotated_at: Option<i64>,
    /// When the secrets replaced by the last rotation stop working.
    pub previous_secret_expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    /// Until when (ms) the key is cooled down after persistent rate-limit violation.
    pub cooldown_until: Option<i64>,
    /// Why Easel revoked the key by itself (`leaked`); `None` when its owner or the
    /// operator revoked it, or it is not revoked.
    pub revoked_reason: Option<String>,
    /// Where the key's secret was reported found, once a leak report was acted on.
    pub leak: Option<KeyLeak>,
}

/// Where a key's secret was reported found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLeak {
    /// The page or file the secret was seen at, as the reporter gave it.
    pub url: String,
    /// What kind of place: GitHub's `content`, `commit`, `pull_request`, … or the
    /// reporter's own word.
    pub source: Option<String>,
    /// Unix ms.
    pub reported_at: i64,
}

/// A key to store, with the hash of its first secret.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub mode: Mode,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub allowed_models: Option<Vec<String>>,
    pub spend_cap: Option<easel_core::credits::SpendCap>,
    pub expires_at: Option<i64>,
    pub secret_hash: String,
    pub display_prefix: String,
    pub now: i64,
}

/// A rotation: the new secret and how long the old ones stay valid.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub secret_hash: String,
    pub display_prefix: String,
    pub grace_ms: i64,
    pub now: i64,
}

/// What authenticating a secret needs, read in one query.
#[derive(Debug, Clone)]
pub struct Credential {
    pub key: ApiKey,
    /// When this particular secret stops working (set on secrets replaced by a rotation).
    pub secret_expires_at: Option<i64>,
    /// The owning member's current role, or `None` if they are no longer a member.
    pub role: Option<Role>,
    pub account_state: AccountState,
    pub account_suspended_until: Option<i64>,
    pub account_plan: String,
    /// The account's overrides of its plan's limits.
    pub account_limits: LimitOverrides,
    /// What the account lacks before live keys work.
    pub account_live_blocked: Option<LiveBlock>,
}

/// What an audited change records besides the change itself.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub id: String,
    pub actor: Actor,
    pub request_id: Option<String>,
    pub now: i64,
    /// Extra details (reasons, old and new values), as a JSON object.
    pub details: serde_json::Value,
    /// The member an API key actor acted for: the entry names the person, not only the key.
    pub actor_user_id: Option<String>,
}

impl AuditContext {
    /// An entry by `actor` now, with a fresh id and no details.
    pub fn new(actor: Actor, request_id: Option<String>) -> AuditContext {
        AuditContext {
            id: easel_core::ids::IdKind::Audit.generate(),
            actor,
            request_id,
            now: easel_core::time::now_ms(),
            details: serde_json::Value::Object(Default::default()),
            actor_user_id: None,
        }
    }

    /// Names the member the actor (an API key) acted for.
    pub fn for_member(mut self, user_id: &str) -> AuditContext {
        self.actor_user_id = Some(user_id.to_string());
        self
    }

    /// The same actor, request and time for a second entry of the same change (an entry's
    /// id is unique).
    pub fn another(&self) -> AuditContext {
        AuditContext {
            id: easel_core::ids::IdKind::Audit.generate(),
            ..self.clone()
        }
    }

    /// Adds a detail.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> AuditContext {
        if let serde_json::Value::Object(map) = &mut self.details {
            map.insert(key.to_string(), value.into());
        }
        self
    }

    /// The entry for `action` on a target; used by the stores.
    pub(crate) fn entry(
        &self,
        account_id: Option<&str>,
        action: &'static str,
        target: (&str, &str),
    ) -> NewAudit {
        NewAudit {
            id: self.id.clone(),
            account_id: account_id.map(str::to_string),
            actor_type: self.actor.kind.as_str(),
            actor_id: self.actor.id.clone(),
            action,
            target_type: target.0.to_string(),
            target_id: target.1.to_string(),
            request_id: self.request_id.clone(),
            details: self.details.to_string(),
            created_at: self.now,
            actor_user_id: self.actor_user_id.clone(),
        }
    }
}

/// A row about to be appended to the audit log.
#[derive(Debug, Clone)]
pub(crate) struct NewAudit {
    pub id: String,
    pub account_id: Option<String>,
    pub actor_type: &'static str,
    pub actor_id: String,
    pub action: &'static str,
    pub target_type: String,
    pub target_id: String,
    pub request_id: Option<String>,
    pub details: String,
    pub created_at: i64,
    pub actor_user_id: Option<String>,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub account_id: Option<String>,
    pub actor_type: ActorType,
    pub actor_id: String,
    /// For an API key actor, the member it acted for.
    pub actor_user_id: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    pub created_at: i64,
}

/// An operator login.
#[derive(Debug, Clone)]
pub struct Operator {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub last_login_at: Option<i64>,
}

/// The first start's setup: the instance secret, an operator, a demo account and its key.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub secret: String,
    pub operator_id: String,
    pub operator_username: String,
    pub operator_password_hash: String,
    pub demo_account: NewAccount,
    pub demo_key: NewKey,
}

/// A job of the durable queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub queue: String,
    pub kind: String,
    /// The job's arguments, JSON.
    pub payload: String,
    pub status: easel_core::jobs::JobStatus,
    /// Claims so far, including the current one.
    pub attempts: u32,
    pub max_attempts: u32,
    /// Not claimable before this time (ms); a retry sets it to now + backoff.
    pub run_at: i64,
    /// A job still queued at this time (ms) expires instead of running.
    pub expires_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub cancel_requested_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub queue: String,
    pub kind: String,
    pub payload: String,
    pub max_attempts: u32,
    pub run_at: i64,
    pub expires_at: Option<i64>,
    pub now: i64,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease was extended; `cancel_requested` asks the worker to stop.
    Held { cancel_requested: bool },
    /// The job is no longer this worker's (its lease expired and was taken, or it ended).
    Lost,
}

/// A generation: the public resource, run by one job.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub id: String,
    pub account_id: String,
    pub api_key_id: String,
    pub mode: Mode,
    pub model: String,
    pub kind: easel_core::models::ModelKind,
    pub status: easel_core::jobs::JobStatus,
    /// The validated request, JSON.
    pub input: serde_json::Value,
    pub end_user: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub licence: String,
    pub credits_estimated: i64,
    pub credits_charged: Option<i64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub job_id: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// What the backend reported it spent (OpenAI's `usage`), for the operator.
    pub engine_usage: Option<serde_json::Value>,
    pub outputs: Vec<Output>,
}

/// A stored output of a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub idx: u32,
    /// Where the object store keeps it.
    pub path: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub duration_ms: Option<i64>,
    pub bytes: i64,
    pub expires_at: i64,
    pub deleted_at: Option<i64>,
}

/// A generation to create, with the job that runs it.
#[derive(Debug, Clone)]
pub struct NewGeneration {
    pub id: String,
    pub account_id: String,
    pub api_key_id: String,
    pub mode: Mode,
    pub model: String,
    pub kind: easel_core::models::ModelKind,
    pub input: serde_json::Value,
    pub end_user: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub licence: String,
    pub credits_estimated: i64,
    /// The creating key's spend cap (checked with the hold, if any).
    pub spend_cap: Option<easel_core::credits::SpendCap>,
    /// The account's concurrent-jobs limit for this mode (generations queued or running,
    /// this one included); `None` = unlimited. Over it, creation fails with
    /// [`DbError::ConcurrencyLimit`](crate::DbError::ConcurrencyLimit) and writes nothing.
    pub max_open: Option<u32>,
    pub job: NewJob,
}

impl NewGeneration {
    /// The generation as created at `now`: queued, nothing charged, no outputs. What a read
    /// of the row just inserted returns (the storage tests compare the two), without the
    /// read.
    pub fn queued(&self, now: i64) -> Generation {
        Generation {
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            api_key_id: self.api_key_id.clone(),
            mode: self.mode,
            model: self.model.clone(),
            kind: self.kind,
            status: easel_core::jobs::JobStatus::Queued,
            input: self.input.clone(),
            end_user: self.end_user.clone(),
            metadata: self.metadata.clone(),
            licence: self.licence.clone(),
            credits_estimated: self.credits_estimated,
            credits_charged: None,
            error_code: None,
            error_message: None,
            job_id: self.job.id.clone(),
            created_at: now,
            started_at: None,
            finished_at: None,
            deleted_at: None,
            engine_usage: None,
            outputs: Vec::new(),
        }
    }
}

/// A generation just created, with where its job stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    pub generation: Generation,
    /// Queued jobs of its queue that were due before it when it was written (counting
    /// at most [`JOBS_AHEAD_CAP`](crate::JOBS_AHEAD_CAP)): its queue position then.
    pub jobs_ahead: i64,
}

/// Filters of a generation list.
#[derive(Debug, Clone, Default)]
pub struct GenerationFilter {
    pub status: Option<easel_core::jobs::JobStatus>,
    pub model: Option<String>,
}

/// An event as developers see it (`GET /v1/events`, webhooks).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub account_id: String,
    pub mode: Mode,
    pub event_type: String,
    pub data: serde_json::Value,
    pub created_at: i64,
}

/// How a generation ended, other than with outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationEnd {
    pub status: easel_core::jobs::JobStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// An `Idempotency-Key` in its scope: keys of different accounts and modes never meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub account_id: String,
    pub mode: Mode,
    pub key: String,
}

/// The clock readings [`crate::IdempotencyStore::begin_idempotent`] decides with (ms).
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyTimes {
    pub now: i64,
    /// Rows created before this are past their lifetime and forgotten.
    pub forget_before: i64,
    /// How long this claim holds the key while its request runs; past it, the claim is
    /// taken to be abandoned (the node died) and the key may be claimed again.
    pub locked_until: i64,
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is new: run the request, then finish or release the key.
    Started,
    /// A request with this key completed: answer its response again.
    Replay { status: u16, response: String },
    /// A request with this key is still running.
    InFlight,
    /// The key was used with a different request.
    Mismatch,
}

/// An account's credits in one mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    pub balance: i64,
    /// Reserved by open holds.
    pub held: i64,
}

impl Balance {
    /// What new holds may still reserve.
    pub fn available(self) -> i64 {
        self.balance - self.held
    }
}

/// One movement of credits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: String,
    pub account_id: String,
    pub mode: Mode,
    pub entry_type: easel_core::credits::LedgerType,
    /// Change of the balance.
    pub amount: i64,
    /// Change of the credits held by open holds.
    pub held_change: i64,
    pub balance_after: i64,
    pub held_after: i64,
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub actor_type: ActorType,
    pub actor_id: String,
    pub reason: Option<String>,
    pub created_at: i64,
}

/// Credits to add: a grant, purchase or plan allowance.
#[derive(Debug, Clone)]
pub struct NewCredit {
    pub account_id: String,
    pub mode: Mode,
    pub entry_type: easel_core::credits::LedgerType,
    /// Positive, at most [`easel_core::credits::MAX_MOVEMENT`].
    pub amount: i64,
    /// What it is for: (`"payment"`, the provider's id), (`"plan_period"`, `"2026-11"`)…
    /// Unique per account, mode and type when given: a second credit with the same
    /// reference is refused with `DbError::Conflict("ledger_entries_reference")`.
    pub reference: Option<(String, String)>,
    pub reason: Option<String>,
    pub audit: AuditContext,
}

/// Filters of a ledger listing.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub entry_type: Option<easel_core::credits::LedgerType>,
    /// Entries at or after this time (ms).
    pub from: Option<i64>,
    /// Entries before this time (ms).
    pub to: Option<i64>,
}

/// Usage of one key and model on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub model: String,
    pub api_key_id: String,
    pub generations: i64,
    pub credits: i64,
}
