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
