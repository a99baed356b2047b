//! The end user object.

use easel_core::time::ms_to_secs;
use easel_db::EndUser;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One of the developer's own users, as Easel has seen it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndUserObject {
    /// Always `end_user`.
    #[schema(value_type = String, example = "end_user")]
    pub object: &'static str,
    /// The `user` id the developer sends with requests.
    pub id: String,
    pub livemode: bool,
    pub blocked: bool,
    /// Unix seconds.
    pub blocked_at: Option<i64>,
    pub blocked_reason: Option<String>,
    /// Strikes: requests refused by moderation and upheld abuse reports.
    pub strikes: i64,
    /// Unix seconds.
    pub last_strike_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<EndUser> for EndUserObject {
    fn from(u: EndUser) -> Self {
        EndUserObject {
            object: "end_user",
            livemode: u.mode.is_live(),
            blocked: u.blocked_at.is_some(),
            blocked_at: u.blocked_at.map(ms_to_secs),
            blocked_reason: u.blocked_reason,
            strikes: u.strikes,
            last_strike_at: u.last_strike_at.map(ms_to_secs),
            created_at: ms_to_secs(u.created_at),
            id: u.user,
        }
    }
}

/// `POST /v1/end_users/{user}/block`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockEndUserRequest {
    /// Why (shown back in the end user object; at most 500 characters).
    pub reason: Option<String>,
}
