//! Member request bodies; the member object is shared with the account object.

use easel_core::roles::Role;
use serde::Deserialize;
use utoipa::ToSchema;

pub use crate::api::v1::account::dto::MemberObject;

/// `POST /v1/account/members`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The person's email; a user is created if it is new to this server.
    pub email: String,
    pub role: Role,
}

/// `PATCH /v1/account/members/{user_id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    pub role: Role,
}

/// The answer to a removal.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct DeletedMember {
    /// Always `member`.
    #[schema(value_type = String, example = "member")]
    pub object: &'static str,
    pub user_id: String,
    /// Always true.
    pub deleted: bool,
}
