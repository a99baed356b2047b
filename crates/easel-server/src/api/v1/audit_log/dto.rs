//! The audit log entry object.

use easel_core::audit::ActorType;
use easel_core::time::ms_to_secs;
use easel_db::AuditEntry;
use serde::Serialize;
use utoipa::ToSchema;

/// Who performed the action.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorObject {
    #[serde(rename = "type")]
    pub kind: ActorType,
    /// `key_…`, `user_…`, `op_…`, `cli` (the operator's command line) or `easel`.
    pub id: String,
    /// For an `api_key` actor: the member (`user_…`) the key acted for, who made the change.
    pub user_id: Option<String>,
}

/// What the action was done to.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetObject {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
}

/// A security-relevant action, recorded in the same transaction as the change itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogEntryObject {
    /// Always `audit_log_entry`.
    #[schema(value_type = String, example = "audit_log_entry")]
    pub object: &'static str,
    pub id: String,
    /// Dotted action name, e.g. `key.revoked`.
    pub action: String,
    pub actor: ActorObject,
    pub target: TargetObject,
    /// The request that made the change, if it came through the API.
    pub request_id: Option<String>,
    /// Action-specific details (reasons, old and new values).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<AuditEntry> for AuditLogEntryObject {
    fn from(e: AuditEntry) -> Self {
        AuditLogEntryObject {
            object: "audit_log_entry",
            id: e.id,
            action: e.action,
            actor: ActorObject {
                kind: e.actor_type,
                id: e.actor_id,
                user_id: e.actor_user_id,
            },
            target: TargetObject {
                kind: e.target_type,
                id: e.target_id,
            },
            request_id: e.request_id,
            details: e.details,
            created_at: ms_to_secs(e.created_at),
        }
    }
}

impl ActorObject {
    /// The actor type's spelling.
    pub fn kind_str(&self) -> &'static str {
        self.kind.as_str()
    }
}
