//! API key authentication, cheap on the hot path and exact on revocation.
//!
//! A request's key is checked in this order, each step failing with its own code:
//! header shape (`Bearer …`), key format and CRC32 checksum (offline, no lookup), then the
//! credential cache, falling back to one indexed query by SHA-256 on a miss. Revocation by
//! this node evicts its cache entries at once; other nodes poll for changed accounts every
//! `api_keys.invalidation_poll_ms` (500 ms by default) and evict theirs, so a revocation
//! reaches every node within about a second.

pub mod accounts;
pub mod cache;
pub mod passwords;
pub mod rules;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use easel_core::account::AccountState;
use easel_core::api_key;
use easel_core::mode::Mode;
use easel_core::roles::{Action, Role, Scope};
use easel_core::time::now_ms;
use easel_db::Store;
use tokio::sync::watch;

use crate::http::error::{ApiError, ApiResult, ErrorCode};
use accounts::{AccountView, AccountViews};
use cache::CredentialCache;

/// How far back each poll looks beyond the previous one, to catch changes whose
/// transactions committed late or whose node's clock runs behind.
const POLL_OVERLAP_MS: i64 = 2_000;

/// What the change poller remembers between ticks.
pub struct ChangePoll {
    /// Changes at or after this time (ms) are asked for.
    since: i64,
    /// The latest change already acted on, per account: the overlap reports changes more
    /// than once, and each must evict only once.
    seen: HashMap<String, i64>,
}

impl ChangePoll {
    /// A poller starting now.
    pub fn new() -> ChangePoll {
        ChangePoll {
            since: now_ms() - POLL_OVERLAP_MS,
            seen: HashMap::new(),
        }
    }
}

impl Default for ChangePoll {
    fn default() -> Self {
        ChangePoll::new()
    }
}

/// How a caller reached the API's use cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An API key (`key_id`).
    Key,
    /// A member signed in to the developer console (`key_id` is empty): the same role and
    /// scope rules apply, with every scope the role allows.
    Console,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub via: Via,
    /// The API key, or empty for a console session.
    pub key_id: String,
    pub account_id: String,
    pub user_id: String,
    pub mode: Mode,
    pub role: Role,
    pub key_scopes: Vec<Scope>,
    pub plan: String,
    pub allowed_models: Option<Vec<String>>,
    /// The key's spend cap, if any.
    pub spend_cap: Option<easel_core::credits::SpendCap>,
    /// The operator's overrides of the plan's limits for this account.
    pub account_limits: easel_db::LimitOverrides,
    /// Until when (ms) the key is cooled down, if it ever was.
    pub cooldown_until: Option<i64>,
    pub request_id: String,
}

impl Caller {
    /// Fails with 403 unless both the key's scopes and the member's role allow `scope`.
    pub fn require(&self, scope: Scope) -> ApiResult<()> {
        if !self.key_scopes.contains(&scope) {
            return Err(ApiError::new(
                ErrorCode::insufficient_scope,
                format!("This API key lacks the `{}` scope.", scope.as_str()),
            ));
        }
        if !self.role.allows(Action::Scope(scope)) {
            return Err(ApiError::new(
                ErrorCode::insufficient_role,
                format!(
                    "The key's member has the `{}` role, which does not allow `{}`.",
                    self.role.as_str(),
                    scope.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// The scopes the caller can actually use: the key's, narrowed by the role.
    /// Fails with 403 `insufficient_role` unless the member's role allows `action` (a
    /// right no key scope carries, such as managing billing).
    pub fn require_action(&self, action: Action) -> ApiResult<()> {
        if self.role.allows(action) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::insufficient_role,
            format!(
                "Your `{}` role does not allow this; ask an owner or admin.",
                self.role.as_str()
            ),
        ))
    }

    pub fn effective_scopes(&self) -> Vec<Scope> {
        self.key_scopes
            .iter()
            .copied()
            .filter(|s| self.role.allows(Action::Scope(*s)))
            .collect()
    }

    /// The audit context of a change made by this caller: the key and the member it acts
    /// for, or the member signed in to the console.
    pub fn audit(&self) -> easel_db::AuditContext {
        let actor = match self.via {
            Via::Key => easel_core::audit::Actor::key(&self.key_id),
            Via::Console => easel_core::audit::Actor {
                kind: easel_core::audit::ActorType::User,
                id: self.user_id.clone(),
            },
        };
        easel_db::AuditContext::new(actor, Some(self.request_id.clone())).for_member(&self.user_id)
    }
}

/// Checks keys against the cache and the store.
pub struct Authenticator {
    store: Arc<dyn Store>,
    prefix: String,
    pub cache: CredentialCache,
    /// Account views for `GET /v1/account`, evicted together with the credentials.
    pub accounts: AccountViews,
    /// Credential lookups that reached the database (cache misses), for metrics and tests.
    pub db_lookups: AtomicU64,
    /// `last_used_at` batches written to the database (one store call each, however many
    /// requests it covers), so tests can tell batching from writing per request.
    pub usage_flushes: AtomicU64,
}

impl Authenticator {
    /// An authenticator for keys with `prefix`.
    pub fn new(store: Arc<dyn Store>, prefix: String) -> Authenticator {
        Authenticator {
            store,
            prefix,
            cache: CredentialCache::default(),
            accounts: AccountViews::default(),
            db_lookups: AtomicU64::new(0),
            usage_flushes: AtomicU64::new(0),
        }
    }

    /// Authenticates the `Authorization` header of a request (which must not be repeated).
    pub async fn authenticate(&self, headers: &HeaderMap, request_id: String) -> ApiResult<Caller> {
        let secret = bearer(authorization(headers)?)?;
        api_key::parse(&self.prefix, secret).map_err(|why| {
            ApiError::new(
                ErrorCode::invalid_api_key,
                format!(
                    "Invalid API key: {why}. Keys look like `{}_test_…`.",
                    self.prefix
                ),
            )
        })?;
        let hash = api_key::hash(secret);
        let now = now_ms();
        let entry = match self.cache.get(&hash) {
            Some(entry) => entry,
            None => {
                self.db_lookups.fetch_add(1, Ordering::Relaxed);
                let credential = self.store.find_credential(&hash).await?.ok_or_else(|| {
                    ApiError::new(ErrorCode::invalid_api_key, "Invalid API key: no such key.")
                })?;
                self.cache.insert(hash, credential, now)
            }
        };
        let c = &entry.credential;
        let key = &c.key;
        if key.revoked_at.is_some() {
            return Err(ApiError::new(
                ErrorCode::api_key_revoked,
                "This API key has been revoked.",
            ));
        }
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::new(
                ErrorCode::api_key_expired,
                "This API key has expired.",
            ));
        }
        if c.secret_expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::new(
                ErrorCode::api_key_expired,
                "This secret was replaced by a rotation and its grace period has ended; use the new secret.",
            ));
        }
        let role = c.role.ok_or_else(|| {
            ApiError::new(
                ErrorCode::api_key_revoked,
                "The key's member has left the account.",
            )
        })?;
        account_admits(
            c.account_state,
            c.account_suspended_until,
            c.account_live_blocked,
            key.mode,
            now,
        )?;
        entry.touch(now);
        Ok(Caller {
            via: Via::Key,
            key_id: key.id.clone(),
            account_id: key.account_id.clone(),
            user_id: key.user_id.clone(),
            mode: key.mode,
            role,
            key_scopes: key.scopes.clone(),
            plan: c.account_plan.clone(),
            allowed_models: key.allowed_models.clone(),
            spend_cap: key.spend_cap,
            account_limits: c.account_limits,
            cooldown_until: key.cooldown_until,
            request_id,
        })
    }

    /// The account and its members, from the cache or (once per change) the database.
    pub async fn account_view(&self, account_id: &str) -> ApiResult<Arc<AccountView>> {
        if let Some(view) = self.accounts.get(account_id) {
            return Ok(view);
        }
        let loaded_at = now_ms();
        let (account, members) = tokio::try_join!(
            self.store.get_account(account_id),
            self.store.list_members(account_id)
        )?;
        Ok(self.accounts.insert(AccountView {
            account,
            members,
            loaded_at,
        }))
    }

    /// Drops this node's cached credentials of an account it just changed.
    pub fn invalidate_account(&self, account_id: &str) {
        self.cache.invalidate_account(account_id, None);
        self.accounts.invalidate(account_id, None);
    }

    /// Writes batched `last_used_at` times.
    pub async fn flush_usage(&self) {
        let used = self.cache.take_usage();
        if used.is_empty() {
            return;
        }
        match self.store.touch_keys(&used).await {
            Ok(()) => {
                self.usage_flushes.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %e, keys = used.len(), "could not record key last-used times")
            }
        }
    }

    /// Evicts credentials of accounts changed (by any node) since the last poll.
    ///
    /// A newly seen change evicts the entries loaded before this poll's query returned:
    /// any of them may predate the change, while a read that starts after it sees the
    /// committed change. Entries are never evicted twice for the same change.
    pub async fn poll_changes(&self, poll: &mut ChangePoll) {
        let started = now_ms();
        let changed = match self.store.changed_accounts_since(poll.since).await {
            Ok(changed) => changed,
            Err(e) => {
                tracing::warn!(error = %e, "could not poll for changed credentials");
                return;
            }
        };
        let known_at = now_ms();
        for (account_id, at) in changed {
            if poll.seen.get(&account_id).is_some_and(|seen| *seen >= at) {
                continue;
            }
            self.cache.invalidate_account(&account_id, Some(known_at));
            self.accounts.invalidate(&account_id, Some(known_at));
            poll.seen.insert(account_id, at);
        }
        poll.since = started - POLL_OVERLAP_MS;
        // Changes older than the window are never reported again.
        let since = poll.since;
        poll.seen.retain(|_, at| *at >= since);
    }

    /// Runs the invalidation poller (on each `wakeups.changes`, and every `poll` as a
    /// safety net) and the usage flusher until `shutdown` flips, then flushes once more.
    pub async fn run_background(
        self: Arc<Self>,
        wakeups: Arc<crate::wakeups::Wakeups>,
        poll: Duration,
        flush: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut flush_tick = tokio::time::interval(flush);
        flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut changes = ChangePoll::new();
        // The safety net, for a notification that was lost: jittered so that nodes
        // started together do not poll together.
        let safety_net = || easel_queue::jittered(poll);
        let mut next_poll = Box::pin(tokio::time::sleep(safety_net()));
        loop {
            tokio::select! {
                _ = wakeups.changes.notified() => {}
                _ = &mut next_poll => {}
                _ = flush_tick.tick() => {
                    self.flush_usage().await;
                    continue;
                }
                _ = shutdown.changed() => break,
            }
            self.poll_changes(&mut changes).await;
            next_poll
                .as_mut()
                .reset(tokio::time::Instant::now() + safety_net());
        }
        self.flush_usage().await;
    }
}

/// The secret of a `Bearer` authorization header.
/// The request's one `Authorization` header, if any. Two are refused rather than one picked:
/// a proxy and a client (or two layers of a client) that disagree on the credential must not
/// have the server choose between them silently.
pub fn authorization(headers: &HeaderMap) -> ApiResult<Option<&HeaderValue>> {
    let mut all = headers.get_all(AUTHORIZATION).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(ApiError::new(
            ErrorCode::multiple_authorization_headers,
            "The request has more than one Authorization header; send exactly one: `Authorization: Bearer <key>`.",
        ));
    }
    Ok(first)
}

fn bearer(header: Option<&HeaderValue>) -> ApiResult<&str> {
    let header = header.ok_or_else(|| {
        ApiError::new(
            ErrorCode::api_key_missing,
            "No API key provided. Send `Authorization: Bearer <key>`.",
        )
    })?;
    let value = header.to_str().map_err(|_| {
        ApiError::new(
            ErrorCode::invalid_authorization_header,
            "The Authorization header must be `Bearer <key>` in ASCII.",
        )
    })?;
    bearer_secret(value).ok_or_else(|| {
        ApiError::new(
            ErrorCode::invalid_authorization_header,
            "The Authorization header must be `Bearer <key>`.",
        )
    })
}

/// The secret of a `Bearer <secret>` header value (scheme in any case), if it is one.
pub(crate) fn bearer_secret(value: &str) -> Option<&str> {
    let (scheme, secret) = value.trim().split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}

/// Whether an account in `state` (suspended until `suspended_until`, live mode blocked by
/// `live_blocked`) may make calls in `mode` at `now`: the rule API keys and the console's
/// own calls (the playground) share.
pub fn account_admits(
    state: AccountState,
    suspended_until: Option<i64>,
    live_blocked: Option<easel_core::account::LiveBlock>,
    mode: Mode,
    now: i64,
) -> ApiResult<()> {
    match state.effective(suspended_until, now) {
        AccountState::Active => {}
        AccountState::Suspended => {
            let until = suspended_until.map(|ms| ms.div_euclid(1000));
            let message = match until {
                Some(_) => "This account is suspended until `details.until`. Contact the operator.",
                None => "This account is suspended pending review. Contact the operator.",
            };
            return Err(ApiError::new(ErrorCode::account_suspended, message)
                .details(serde_json::json!({ "until": until })));
        }
        AccountState::Terminated => {
            return Err(ApiError::new(
                ErrorCode::api_key_revoked,
                "This account has been terminated.",
            ));
        }
    }
    if let (Mode::Live, Some(block)) = (mode, live_blocked) {
        return Err(ApiError::new(
            ErrorCode::live_mode_unavailable,
            block.message(),
        ));
    }
    Ok(())
}
