//! Row structs as the drivers decode them, and their conversion into domain types.

use easel_core::account::{AccountState, LiveBlock};
use easel_core::audit::ActorType;
use easel_core::mode::Mode;
use easel_core::roles::{Role, Scope};

use crate::{
    Account, ApiKey, AuditEntry, Credential, DbError, LimitOverrides, Member, Membership, Operator,
    User, UserLogin,
};

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("unexpected {what} `{value}`"))
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: String,
    name: String,
    legal_name: Option<String>,
    contact_email: String,
    contact_phone: Option<String>,
    address: Option<String>,
    country: Option<String>,
    plan: String,
    state: String,
    suspended_reason: Option<String>,
    suspended_until: Option<i64>,
    terminated_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    requests_per_minute: Option<i64>,
    requests_per_day: Option<i64>,
    concurrent_jobs: Option<i64>,
    live_blocked: Option<String>,
}

/// A stored `live_blocked` (NULL: live mode open).
fn live_block(value: Option<&str>) -> Result<Option<LiveBlock>, DbError> {
    value
        .map(|v| LiveBlock::parse(v).ok_or_else(|| corrupt("live_blocked", v)))
        .transpose()
}

/// A stored limit (BIGINT, CHECK > 0) as the u32 it was written from.
fn limit(value: Option<i64>) -> Option<u32> {
    value.and_then(|v| u32::try_from(v).ok())
}

impl TryFrom<AccountRow> for Account {
    type Error = DbError;
    fn try_from(r: AccountRow) -> Result<Self, DbError> {
        Ok(Account {
            state: AccountState::parse(&r.state)
                .ok_or_else(|| corrupt("account state", &r.state))?,
            live_blocked: live_block(r.live_blocked.as_deref())?,
            id: r.id,
            name: r.name,
            legal_name: r.legal_name,
            contact_email: r.contact_email,
            contact_phone: r.contact_phone,
            address: r.address,
            country: r.country,
            plan: r.plan,
            suspended_reason: r.suspended_reason,
            suspended_until: r.suspended_until,
            terminated_at: r.terminated_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            limits: LimitOverrides {
                requests_per_minute: limit(r.requests_per_minute),
                requests_per_day: limit(r.requests_per_day),
                concurrent_jobs: limit(r.concurrent_jobs),
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    name: Option<String>,
    adult_attested_at: Option<i64>,
    terms_version: Option<String>,
    terms_accepted_at: Option<i64>,
    created_at: i64,
    email_verified_at: Option<i64>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            email: r.email,
            name: r.name,
            adult_attested_at: r.adult_attested_at,
            terms_version: r.terms_version,
            terms_accepted_at: r.terms_accepted_at,
            created_at: r.created_at,
            email_verified_at: r.email_verified_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserLoginRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: Option<String>,
}

impl From<UserLoginRow> for UserLogin {
    fn from(r: UserLoginRow) -> Self {
        UserLogin {
            user: r.user.into(),
            password_hash: r.password_hash,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    member_role: String,
    #[sqlx(flatten)]
    account: AccountRow,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = DbError;
    fn try_from(r: MembershipRow) -> Result<Self, DbError> {
        Ok(Membership {
            role: Role::parse(&r.member_role).ok_or_else(|| corrupt("role", &r.member_role))?,
            account: r.account.try_into()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    account_id: String,
    user_id: String,
    email: String,
    role: String,
    created_at: i64,
}

impl TryFrom<MemberRow> for Member {
    type Error = DbError;
    fn try_from(r: MemberRow) -> Result<Self, DbError> {
        Ok(Member {
            role: Role::parse(&r.role).ok_or_else(|| corrupt("role", &r.role))?,
            account_id: r.account_id,
            user_id: r.user_id,
            email: r.email,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    id: String,
    account_id: String,
    user_id: String,
    mode: String,
    name: String,
    scopes: String,
    allowed_models: Option<String>,
    spend_cap_credits: Option<i64>,
    spend_cap_period: Option<String>,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    rotated_at: Option<i64>,
    last_used_at: Option<i64>,
    created_at: i64,
    cooldown_until: Option<i64>,
    revoked_reason: Option<String>,
    leak_url: Option<String>,
    leak_source: Option<String>,
    leak_reported_at: Option<i64>,
    display_prefix: Option<String>,
    previous_secret_expires_at: Option<i64>,
}

/// Scopes are stored as a JSON array of their wire spellings.
pub(crate) fn scopes_to_json(scopes: &[Scope]) -> String {
    serde_json::to_string(&scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

/// The model allow-list is stored as a JSON array, or NULL for "any model".
pub(crate) fn models_to_json(models: Option<&[String]>) -> Option<String> {
    models.map(|m| serde_json::to_string(m).unwrap_or_else(|_| "[]".into()))
}

impl TryFrom<KeyRow> for ApiKey {
    type Error = DbError;
    fn try_from(r: KeyRow) -> Result<Self, DbError> {
        let scope_names: Vec<String> =
            serde_json::from_str(&r.scopes).map_err(|_| corrupt("scopes", &r.scopes))?;
        let scopes = scope_names
            .iter()
            .map(|s| Scope::parse(s).ok_or_else(|| corrupt("scope", s)))
            .collect::<Result<Vec<_>, _>>()?;
        let allowed_models = match &r.allowed_models {
            Some(json) => {
                Some(serde_json::from_str(json).map_err(|_| corrupt("allowed_models", json))?)
            }
            None => None,
        };
        let spend_cap = match (r.spend_cap_credits, &r.spend_cap_period) {
            (Some(credits), Some(period)) => Some(easel_core::credits::SpendCap {
                credits,
                period: easel_core::credits::CapPeriod::parse(period)
                    .ok_or_else(|| corrupt("spend_cap_period", period))?,
            }),
            _ => None,
        };
        let leak = match (r.leak_url, r.leak_reported_at) {
            (Some(url), Some(reported_at)) => Some(crate::KeyLeak {
                url,
                source: r.leak_source,
                reported_at,
            }),
            _ => None,
        };
        Ok(ApiKey {
            spend_cap,
            leak,
            revoked_reason: r.revoked_reason,
            mode: Mode::parse(&r.mode).ok_or_else(|| corrupt("mode", &r.mode))?,
            display_prefix: r
                .display_prefix
                .ok_or_else(|| corrupt("key without a current secret", &r.id))?,
            id: r.id,
            account_id: r.account_id,
            user_id: r.user_id,
            name: r.name,
            scopes,
            allowed_models,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            rotated_at: r.rotated_at,
            previous_secret_expires_at: r.previous_secret_expires_at,
            last_used_at: r.last_used_at,
            created_at: r.created_at,
            cooldown_until: r.cooldown_until,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialRow {
    #[sqlx(flatten)]
    key: KeyRow,
    secret_expires_at: Option<i64>,
    member_role: Option<String>,
    account_state: String,
    account_suspended_until: Option<i64>,
    account_plan: String,
    account_requests_per_minute: Option<i64>,
    account_requests_per_day: Option<i64>,
    account_concurrent_jobs: Option<i64>,
    account_live_blocked: Option<String>,
}

impl TryFrom<CredentialRow> for Credential {
    type Error = DbError;
    fn try_from(r: CredentialRow) -> Result<Self, DbError> {
        let role = match &r.member_role {
            Some(role) => Some(Role::parse(role).ok_or_else(|| corrupt("role", role))?),
            None => None,
        };
        Ok(Credential {
            key: r.key.try_into()?,
            secret_expires_at: r.secret_expires_at,
            role,
            account_state: AccountState::parse(&r.account_state)
                .ok_or_else(|| corrupt("account state", &r.account_state))?,
            account_suspended_until: r.account_suspended_until,
            account_live_blocked: live_block(r.account_live_blocked.as_deref())?,
            account_plan: r.account_plan,
            account_limits: LimitOverrides {
                requests_per_minute: limit(r.account_requests_per_minute),
                requests_per_day: limit(r.account_requests_per_day),
                concurrent_jobs: limit(r.account_concurrent_jobs),
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: String,
    account_id: Option<String>,
    actor_type: String,
    actor_id: String,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    request_id: Option<String>,
    details: String,
    created_at: i64,
    actor_user_id: Option<String>,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = DbError;
    fn try_from(r: AuditRow) -> Result<Self, DbError> {
        Ok(AuditEntry {
            actor_type: ActorType::parse(&r.actor_type)
                .ok_or_else(|| corrupt("actor type", &r.actor_type))?,
            details: serde_json::from_str(&r.details)
                .map_err(|_| corrupt("audit details", &r.details))?,
            id: r.id,
            account_id: r.account_id,
            actor_id: r.actor_id,
            actor_user_id: r.actor_user_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            request_id: r.request_id,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OperatorRow {
    id: String,
    username: String,
    password_hash: String,
    last_login_at: Option<i64>,
}

impl From<OperatorRow> for Operator {
    fn from(r: OperatorRow) -> Self {
        Operator {
            id: r.id,
            username: r.username,
            password_hash: r.password_hash,
            last_login_at: r.last_login_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: String,
    queue: String,
    kind: String,
    payload: String,
    status: String,
    attempts: i32,
    max_attempts: i32,
    run_at: i64,
    expires_at: Option<i64>,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    cancel_requested_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl TryFrom<JobRow> for crate::Job {
    type Error = DbError;
    fn try_from(r: JobRow) -> Result<Self, DbError> {
        Ok(crate::Job {
            status: easel_core::jobs::JobStatus::parse(&r.status)
                .ok_or_else(|| corrupt("job status", &r.status))?,
            attempts: u32::try_from(r.attempts)
                .map_err(|_| corrupt("attempts", &r.attempts.to_string()))?,
            max_attempts: u32::try_from(r.max_attempts)
                .map_err(|_| corrupt("max_attempts", &r.max_attempts.to_string()))?,
            id: r.id,
            queue: r.queue,
            kind: r.kind,
            payload: r.payload,
            run_at: r.run_at,
            expires_at: r.expires_at,
            lease_owner: r.lease_owner,
            lease_until: r.lease_until,
            cancel_requested_at: r.cancel_requested_at,
            last_error: r.last_error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

/// Converts a batch of job rows.
pub(crate) fn jobs(rows: Vec<JobRow>) -> Result<Vec<crate::Job>, DbError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct GenerationRow {
    id: String,
    account_id: String,
    api_key_id: String,
    mode: String,
    model: String,
    kind: String,
    status: String,
    input: String,
    end_user: Option<String>,
    metadata: Option<String>,
    licence: String,
    credits_estimated: i64,
    credits_charged: Option<i64>,
    error_code: Option<String>,
    error_message: Option<String>,
    job_id: String,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    deleted_at: Option<i64>,
    engine_usage: Option<String>,
}

impl GenerationRow {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Whether the generation can have outputs: only a success writes them (in the
    /// transaction that makes it `succeeded`), so a queued, running, failed or canceled
    /// one has none to read.
    pub(crate) fn may_have_outputs(&self) -> bool {
        self.status == "succeeded"
    }

    /// The generation with `outputs` attached.
    pub(crate) fn into_generation(
        self,
        outputs: Vec<crate::Output>,
    ) -> Result<crate::Generation, DbError> {
        let json = |what: &str, s: &str| serde_json::from_str(s).map_err(|_| corrupt(what, s));
        Ok(crate::Generation {
            mode: Mode::parse(&self.mode).ok_or_else(|| corrupt("mode", &self.mode))?,
            kind: match self.kind.as_str() {
                "image" => easel_core::models::ModelKind::Image,
                "video" => easel_core::models::ModelKind::Video,
                other => return Err(corrupt("kind", other)),
            },
            status: easel_core::jobs::JobStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            input: json("input", &self.input)?,
            metadata: self
                .metadata
                .as_deref()
                .map(|m| json("metadata", m))
                .transpose()?,
            engine_usage: self
                .engine_usage
                .as_deref()
                .map(|u| json("engine_usage", u))
                .transpose()?,
            id: self.id,
            account_id: self.account_id,
            api_key_id: self.api_key_id,
            model: self.model,
            end_user: self.end_user,
            licence: self.licence,
            credits_estimated: self.credits_estimated,
            credits_charged: self.credits_charged,
            error_code: self.error_code,
            error_message: self.error_message,
            job_id: self.job_id,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            deleted_at: self.deleted_at,
            outputs,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OutputRow {
    pub(crate) generation_id: String,
    idx: i32,
    path: String,
    content_type: String,
    width: i32,
    height: i32,
    duration_ms: Option<i64>,
    bytes: i64,
    expires_at: i64,
    deleted_at: Option<i64>,
}

impl From<OutputRow> for crate::Output {
    fn from(r: OutputRow) -> Self {
        crate::Output {
            idx: u32::try_from(r.idx).unwrap_or_default(),
            path: r.path,
            content_type: r.content_type,
            width: u32::try_from(r.width).unwrap_or_default(),
            height: u32::try_from(r.height).unwrap_or_default(),
            duration_ms: r.duration_ms,
            bytes: r.bytes,
            expires_at: r.expires_at,
            deleted_at: r.deleted_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: String,
    account_id: String,
    mode: String,
    #[sqlx(rename = "type")]
    event_type: String,
    data: String,
    created_at: i64,
}

impl TryFrom<EventRow> for crate::Event {
    type Error = DbError;
    fn try_from(r: EventRow) -> Result<Self, DbError> {
        Ok(crate::Event {
            mode: Mode::parse(&r.mode).ok_or_else(|| corrupt("mode", &r.mode))?,
            data: serde_json::from_str(&r.data).map_err(|_| corrupt("event data", &r.data))?,
            id: r.id,
            account_id: r.account_id,
            event_type: r.event_type,
            created_at: r.created_at,
        })
    }
}

/// A generation as events carry it: the object as it was then, with each output's facts
/// but no URL (URLs are signed and expire; fetch the generation for fresh ones).
pub(crate) fn generation_snapshot(g: &crate::Generation) -> serde_json::Value {
    let secs = |ms: i64| ms.div_euclid(1000);
    let outputs: Vec<serde_json::Value> = g
        .outputs
        .iter()
        .filter(|o| o.deleted_at.is_none())
        .map(|o| {
            serde_json::json!({
                "index": o.idx,
                "content_type": o.content_type,
                "width": o.width,
                "height": o.height,
                "duration_seconds": o.duration_ms.map(|ms| ms as f64 / 1000.0),
                "bytes": o.bytes,
                "expires_at": secs(o.expires_at),
            })
        })
        .collect();
    let error = g.error_code.as_ref().map(|code| {
        serde_json::json!({"code": code, "message": g.error_message.clone().unwrap_or_default()})
    });
    serde_json::json!({
        "object": "generation",
        "id": g.id,
        "status": g.status.as_str(),
        "model": g.model,
        "livemode": g.mode.is_live(),
        "credits": {"estimated": g.credits_estimated, "charged": g.credits_charged},
        "licence": g.licence,
        "error": error,
        "user": g.end_user,
        "metadata": g.metadata,
        "outputs": outputs,
        "created_at": secs(g.created_at),
        "started_at": g.started_at.map(secs),
        "finished_at": g.finished_at.map(secs),
        "deleted_at": g.deleted_at.map(secs),
    })
}

#[derive(sqlx::FromRow)]
pub(crate) struct LedgerRow {
    id: String,
    account_id: String,
    mode: String,
    #[sqlx(rename = "type")]
    entry_type: String,
    amount: i64,
    held_change: i64,
    balance_after: i64,
    held_after: i64,
    reference_type: Option<String>,
    reference_id: Option<String>,
    actor_type: String,
    actor_id: String,
    reason: Option<String>,
    created_at: i64,
}

impl TryFrom<LedgerRow> for crate::LedgerEntry {
    type Error = DbError;
    fn try_from(r: LedgerRow) -> Result<Self, DbError> {
        Ok(crate::LedgerEntry {
            mode: Mode::parse(&r.mode).ok_or_else(|| corrupt("mode", &r.mode))?,
            entry_type: easel_core::credits::LedgerType::parse(&r.entry_type)
                .ok_or_else(|| corrupt("ledger type", &r.entry_type))?,
            actor_type: easel_core::audit::ActorType::parse(&r.actor_type)
                .ok_or_else(|| corrupt("actor type", &r.actor_type))?,
            id: r.id,
            account_id: r.account_id,
            amount: r.amount,
            held_change: r.held_change,
            balance_after: r.balance_after,
            held_after: r.held_after,
            reference_type: r.reference_type,
            reference_id: r.reference_id,
            actor_id: r.actor_id,
            reason: r.reason,
            created_at: r.created_at,
        })
    }
}

/// An account as `account.*` events carry it: its state, never its contacts.
pub(crate) fn account_snapshot(a: &crate::Account) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "object": "account",
        "state": a.state.as_str(),
        "suspended_reason": a.suspended_reason,
        "suspended_until": a.suspended_until.map(|ms| ms.div_euclid(1000)),
        "terminated_at": a.terminated_at.map(|ms| ms.div_euclid(1000)),
    })
}

/// An invitation as `INVITATIONS_FROM` reads it.
pub(crate) type InvitationRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

pub(crate) fn invitation(row: InvitationRow) -> crate::DbResult<crate::Invitation> {
    let (
        id,
        account_id,
        account_name,
        email,
        role,
        invited_by,
        invited_by_email,
        created_at,
        expires_at,
        accepted_at,
        revoked_at,
    ) = row;
    let role = easel_core::roles::Role::parse(&role)
        .ok_or_else(|| crate::DbError::Corrupt(format!("invitation role {role}")))?;
    Ok(crate::Invitation {
        id,
        account_id,
        account_name,
        email,
        role,
        invited_by,
        invited_by_email,
        created_at,
        expires_at,
        accepted_at,
        revoked_at,
    })
}
