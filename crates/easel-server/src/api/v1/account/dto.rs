//! The account object.

use easel_core::account::AccountState;
use easel_core::roles::{Role, Scope};
use easel_core::time::ms_to_secs;
use easel_db::{Account, Member};
use serde::Serialize;
use utoipa::ToSchema;

/// How to reach the organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Contact {
    pub email: String,
    pub phone: Option<String>,
    pub address: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

/// A member of the organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberObject {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// Unix seconds.
    pub created_at: i64,
}

/// What the calling key may do.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallerObject {
    pub api_key_id: String,
    pub user_id: String,
    pub role: Role,
    /// The key's scopes narrowed by the member's role.
    pub scopes: Vec<Scope>,
}

/// An account's limits (each API key of it has the same request quotas of its own).
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsObject {
    pub requests_per_minute: u32,
    pub requests_per_day: u32,
    /// Queued plus running generations at once, per mode.
    pub concurrent_jobs: u32,
}

impl From<crate::limits::Limits> for LimitsObject {
    fn from(l: crate::limits::Limits) -> Self {
        LimitsObject {
            requests_per_minute: l.requests_per_minute,
            requests_per_day: l.requests_per_day,
            concurrent_jobs: l.concurrent_jobs,
        }
    }
}

/// The organisation that owns the calling key.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountObject {
    /// Always `account`.
    #[schema(value_type = String, example = "account")]
    pub object: &'static str,
    pub id: String,
    /// Business name.
    pub name: String,
    /// Registered legal name, if different.
    pub legal_name: Option<String>,
    pub contact: Contact,
    pub plan: String,
    /// The request and job limits in force: the plan's, or the operator's overrides.
    pub limits: LimitsObject,
    pub state: AccountState,
    pub suspended_reason: Option<String>,
    /// Unix seconds.
    pub suspended_until: Option<i64>,
    /// Whether the calling key is a live key.
    pub livemode: bool,
    pub caller: CallerObject,
    pub members: Vec<MemberObject>,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<Member> for MemberObject {
    fn from(m: Member) -> Self {
        MemberObject {
            user_id: m.user_id,
            email: m.email,
            role: m.role,
            created_at: ms_to_secs(m.created_at),
        }
    }
}

impl AccountObject {
    /// Builds the object as seen by `caller`.
    pub fn new(
        a: Account,
        members: Vec<Member>,
        caller: CallerObject,
        livemode: bool,
        limits: crate::limits::Limits,
    ) -> AccountObject {
        AccountObject {
            object: "account",
            id: a.id,
            name: a.name,
            legal_name: a.legal_name,
            contact: Contact {
                email: a.contact_email,
                phone: a.contact_phone,
                address: a.address,
                country: a.country,
            },
            plan: a.plan,
            limits: limits.into(),
            state: a.state,
            suspended_reason: a.suspended_reason,
            suspended_until: a.suspended_until.map(ms_to_secs),
            livemode,
            caller,
            members: members.into_iter().map(MemberObject::from).collect(),
            created_at: ms_to_secs(a.created_at),
        }
    }
}
