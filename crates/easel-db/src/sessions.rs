//! Console sessions (server-side, keyed by the hash of the cookie's token), operator
//! passwords that end them, and single-use form tokens.

use async_trait::async_trait;

use crate::{AuditContext, DbResult, Operator};

/// Who a session signs in: an operator now, a member of a customer's organisation later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    Operator,
    User,
}

impl PrincipalKind {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Operator => "operator",
            PrincipalKind::User => "user",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<PrincipalKind> {
        match s {
            "operator" => Some(PrincipalKind::Operator),
            "user" => Some(PrincipalKind::User),
            _ => None,
        }
    }
}

/// A signed-in principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// `op_…` or `usr_…`.
    pub id: String,
}

/// A session to start.
#[derive(Debug, Clone)]
pub struct NewConsoleSession {
    /// Hex SHA-256 of the random token the cookie carries.
    pub id_hash: String,
    pub principal: Principal,
    pub now: i64,
    /// The session ends after this long unused (ms).
    pub idle_ms: i64,
    /// The session ends this long after it began, used or not (ms).
    pub absolute_ms: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id_hash: String,
    pub principal: Principal,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub idle_expires_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A session's last-seen time is written at most this often, so browsing the console is
/// not a write per page.
pub const SESSION_TOUCH_MS: i64 = 60_000;

/// Console sessions and what ends them.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Starts a session.
    async fn create_console_session(&self, new: NewConsoleSession) -> DbResult<()>;
    /// The live session with `id_hash` at `now` (`None`: unknown, ended or revoked). Pushes
    /// its idle expiry to `now + idle_ms` when it was last seen over
    /// [`SESSION_TOUCH_MS`] ago.
    async fn touch_console_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_ms: i64,
    ) -> DbResult<Option<ConsoleSession>>;
    /// Ends one session (sign-out); false if it was not live.
    async fn revoke_console_session(&self, id_hash: &str, now: i64) -> DbResult<bool>;
    /// Ends every live session of `principal` ("sign out everywhere"), audited as `action`
    /// with the count; returns how many ended.
    async fn revoke_principal_sessions(
        &self,
        principal: &Principal,
        action: &'static str,
        audit: AuditContext,
    ) -> DbResult<u64>;
    /// Ends every live session of `principal` but `keep` (the one asking: "sign out other
    /// sessions"), audited as `action` with the count; returns how many ended.
    async fn revoke_other_sessions(
        &self,
        principal: &Principal,
        keep: &str,
        action: &'static str,
        audit: AuditContext,
    ) -> DbResult<u64>;
    /// The live sessions of `principal` at `now`, most recently used first (at most 50).
    async fn list_principal_sessions(
        &self,
        principal: &Principal,
        now: i64,
    ) -> DbResult<Vec<ConsoleSession>>;
    /// An operator by id.
    async fn get_operator_by_id(&self, id: &str) -> DbResult<Operator>;
    /// Sets an operator's password hash and ends all their sessions in one transaction,
    /// audited as `operator.password_changed`; returns how many sessions ended. An unknown
    /// operator is `NotFound`.
    async fn set_operator_password(
        &self,
        operator_id: &str,
        password_hash: &str,
        audit: AuditContext,
    ) -> DbResult<u64>;
    /// Records the first use of a form token (by its hash) until `expires_at`; false if it
    /// was used before, on any node.
    async fn use_form_token(&self, token_hash: &str, form: &str, expires_at: i64)
    -> DbResult<bool>;
    /// Deletes sessions that ended (expired or revoked) and used tokens past their expiry.
    async fn purge_console_sessions(&self, now: i64) -> DbResult<u64>;
}

/// A `console_sessions` row as the drivers decode it.
#[derive(sqlx::FromRow)]
pub(crate) struct ConsoleSessionRow {
    id_hash: String,
    principal_kind: String,
    principal_id: String,
    created_at: i64,
    last_seen_at: i64,
    idle_expires_at: i64,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl TryFrom<ConsoleSessionRow> for ConsoleSession {
    type Error = crate::DbError;

    fn try_from(r: ConsoleSessionRow) -> Result<Self, Self::Error> {
        let kind = PrincipalKind::parse(&r.principal_kind).ok_or_else(|| {
            crate::DbError::Corrupt(format!("unexpected principal kind `{}`", r.principal_kind))
        })?;
        Ok(ConsoleSession {
            id_hash: r.id_hash,
            principal: Principal {
                kind,
                id: r.principal_id,
            },
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            idle_expires_at: r.idle_expires_at,
            expires_at: r.expires_at,
            ip: r.ip,
            user_agent: r.user_agent,
        })
    }
}
