//! The audit log's vocabulary: who did what.
//!
//! Entries are append-only (the database refuses updates and deletes) and are written in the
//! same transaction as the change they record, so the log can never disagree with the state.

use serde::{Deserialize, Serialize};

/// Who performed an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// The operator, through `easel admin` or the console.
    Operator,
    /// A member, through the console.
    User,
    /// An API key.
    ApiKey,
    /// Easel itself (a background job, first-start setup).
    System,
}

impl ActorType {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActorType::Operator => "operator",
            ActorType::User => "user",
            ActorType::ApiKey => "api_key",
            ActorType::System => "system",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<ActorType> {
        match s {
            "operator" => Some(ActorType::Operator),
            "user" => Some(ActorType::User),
            "api_key" => Some(ActorType::ApiKey),
            "system" => Some(ActorType::System),
            _ => None,
        }
    }
}

/// The actor of an action: its type and id (`op_…`, `user_…`, `key_…`, or `easel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorType,
    pub id: String,
}

impl Actor {
    /// Easel itself.
    pub fn system() -> Actor {
        Actor {
            kind: ActorType::System,
            id: "easel".into(),
        }
    }

    /// The operator at the command line (no login: the shell user is the operator).
    pub fn cli() -> Actor {
        Actor {
            kind: ActorType::Operator,
            id: "cli".into(),
        }
    }

    /// An API key.
    pub fn key(key_id: &str) -> Actor {
        Actor {
            kind: ActorType::ApiKey,
            id: key_id.into(),
        }
    }
}

/// Audited actions, spelled as dotted event-like names.
pub mod action {
    pub const ACCOUNT_CREATED: &str = "account.created";
    pub const ACCOUNT_SUSPENDED: &str = "account.suspended";
    pub const ACCOUNT_UNSUSPENDED: &str = "account.unsuspended";
    pub const ACCOUNT_TERMINATED: &str = "account.terminated";
    pub const ACCOUNT_PLAN_CHANGED: &str = "account.plan_changed";
    /// A member changed the account's business details.
    pub const ACCOUNT_DETAILS_CHANGED: &str = "account.details_changed";
    pub const MEMBER_ADDED: &str = "member.added";
    pub const MEMBER_ROLE_CHANGED: &str = "member.role_changed";
    pub const MEMBER_REMOVED: &str = "member.removed";
    /// A member invited someone by e-mail (the console's invitation link).
    pub const MEMBER_INVITED: &str = "member.invited";
    pub const MEMBER_INVITATION_REVOKED: &str = "member.invitation_revoked";
    pub const KEY_CREATED: &str = "key.created";
    pub const KEY_ROTATED: &str = "key.rotated";
    pub const KEY_REVOKED: &str = "key.revoked";
    /// A key's secret was reported leaked and the operator chose to flag, not revoke.
    pub const KEY_LEAK_REPORTED: &str = "key.leak_reported";
    pub const KEY_COOLDOWN_STARTED: &str = "key.cooldown_started";
    pub const CREDITS_GRANTED: &str = "credits.granted";
    pub const GENERATION_OUTPUT_BLOCKED: &str = "generation.output_blocked";
    /// A model backend's own safety system refused a generation's output.
    pub const GENERATION_BACKEND_REFUSED_OUTPUT: &str = "generation.backend_refused_output";
    pub const MODERATION_STRIKE: &str = "moderation.strike";
    pub const END_USER_BLOCKED: &str = "end_user.blocked";
    pub const END_USER_UNBLOCKED: &str = "end_user.unblocked";
    pub const ABUSE_REPORT_RECEIVED: &str = "abuse_report.received";
    pub const ABUSE_REPORT_RESOLVED: &str = "abuse_report.resolved";
    pub const WEBHOOK_ENDPOINT_CREATED: &str = "webhook_endpoint.created";
    pub const WEBHOOK_ENDPOINT_UPDATED: &str = "webhook_endpoint.updated";
    pub const WEBHOOK_ENDPOINT_DELETED: &str = "webhook_endpoint.deleted";
    pub const WEBHOOK_SECRET_ROTATED: &str = "webhook_endpoint.secret_rotated";
    pub const WEBHOOK_ENDPOINT_DISABLED: &str = "webhook_endpoint.disabled";
    pub const WEBHOOK_DELIVERY_REPLAYED: &str = "webhook_delivery.replayed";
    /// A member sent an endpoint a test event.
    pub const WEBHOOK_ENDPOINT_TESTED: &str = "webhook_endpoint.tested";
    /// A person proved their e-mail address through the link sent at sign-up.
    pub const USER_EMAIL_VERIFIED: &str = "user.email_verified";
    /// A member signed in to the console.
    pub const USER_LOGIN: &str = "user.login";
    /// A wrong password for a member's e-mail address (or an unknown address).
    pub const USER_LOGIN_FAILED: &str = "user.login_failed";
    /// Sign-in paused for an address or e-mail after repeated wrong passwords.
    pub const USER_LOGIN_THROTTLED: &str = "user.login_throttled";
    /// A member set a new password (reset by link); their sessions ended.
    pub const USER_PASSWORD_CHANGED: &str = "user.password_changed";
    /// A member ended their other console sessions.
    pub const USER_SESSIONS_REVOKED: &str = "user.sessions_revoked";
    /// A member accepted a new version of the terms in the console.
    pub const USER_TERMS_ACCEPTED: &str = "user.terms_accepted";
    /// The operator announced a new version of the terms.
    pub const TERMS_ANNOUNCED: &str = "terms.announced";
    /// The operator approved a signed-up account for live mode.
    pub const ACCOUNT_APPROVED: &str = "account.approved";
    /// A member started paying for credits (a Stripe Checkout Session was created).
    pub const CHECKOUT_CREATED: &str = "credits.checkout_created";
    /// A member started subscribing to a plan (a Stripe Checkout Session).
    pub const SUBSCRIPTION_CHECKOUT_CREATED: &str = "subscription.checkout_created";
    /// A member asked Stripe to change or cancel the subscription (applied by its webhook).
    pub const SUBSCRIPTION_CHANGE_REQUESTED: &str = "subscription.change_requested";
    /// A failed-payment notice was mailed to the account's owners.
    pub const SUBSCRIPTION_PAYMENT_NOTICE: &str = "subscription.payment_notice";
    /// The operator announced a maintenance window (every account is told).
    pub const MAINTENANCE_ANNOUNCED: &str = "maintenance.announced";
    pub const MAINTENANCE_CANCELED: &str = "maintenance.canceled";
    /// The operator opened an incident on the status page.
    pub const INCIDENT_OPENED: &str = "incident.opened";
    /// The operator posted an update to an incident (resolving it is the last one).
    pub const INCIDENT_UPDATED: &str = "incident.updated";
    pub const INCIDENT_RESOLVED: &str = "incident.resolved";
    pub const OPERATOR_CREATED: &str = "operator.created";
    pub const OPERATOR_LOGIN: &str = "operator.login";
    pub const OPERATOR_LOGIN_FAILED: &str = "operator.login_failed";
    /// Sign-in attempts for a username or from an address were paused (back-off began).
    pub const OPERATOR_LOGIN_THROTTLED: &str = "operator.login_throttled";
    /// "Sign out everywhere": every session of the operator ended.
    pub const OPERATOR_SESSIONS_REVOKED: &str = "operator.sessions_revoked";
    /// A new password; every session of the operator ended with it.
    pub const OPERATOR_PASSWORD_CHANGED: &str = "operator.password_changed";
    /// A remote worker's token was issued (`easel admin worker create`).
    pub const WORKER_CREATED: &str = "worker.created";
    /// A remote worker's token was revoked.
    pub const WORKER_REVOKED: &str = "worker.revoked";
    /// An export of the account's data was asked for (clause 13).
    pub const EXPORT_REQUESTED: &str = "account.export_requested";
    /// An export's archive was built and can be downloaded once.
    pub const EXPORT_READY: &str = "account.export_ready";
    /// An export could not be built (the reason is in the details).
    pub const EXPORT_FAILED: &str = "account.export_failed";
    /// An export's archive was downloaded (its one download).
    pub const EXPORT_DOWNLOADED: &str = "account.export_downloaded";
    /// The account's erasure was asked for (it runs when due).
    pub const ERASURE_REQUESTED: &str = "account.erasure_requested";
    /// A requested erasure was canceled during its cooling-off period.
    pub const ERASURE_CANCELED: &str = "account.erasure_canceled";
    /// An erasure began (the account is terminated first if it was not).
    pub const ERASURE_STARTED: &str = "account.erasure_started";
    /// An erasure deleted the account's stored objects (outputs, inputs, exports).
    pub const ERASURE_OBJECTS_DELETED: &str = "account.erasure_objects_deleted";
    /// An erasure deleted the account's logs, events, sessions and key secrets.
    pub const ERASURE_RECORDS_DELETED: &str = "account.erasure_records_deleted";
    /// An erasure replaced the account's personal data with placeholders; done.
    pub const ACCOUNT_ERASED: &str = "account.erased";
}

#[cfg(test)]
mod tests {
    use super::{Actor, ActorType};

    #[test]
    fn actor_types_keep_their_wire_spellings() {
        for (kind, spelling) in [
            (ActorType::Operator, "operator"),
            (ActorType::User, "user"),
            (ActorType::ApiKey, "api_key"),
            (ActorType::System, "system"),
        ] {
            assert_eq!(kind.as_str(), spelling);
            assert_eq!(ActorType::parse(spelling), Some(kind));
            assert_eq!(crate::from_wire::<ActorType>(spelling), Some(kind));
        }
        for bad in ["apikey", "Operator", ""] {
            assert_eq!(ActorType::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn actors_name_who_acted() {
        assert_eq!(
            (Actor::system().kind, Actor::system().id.as_str()),
            (ActorType::System, "easel")
        );
        assert_eq!(
            (Actor::cli().kind, Actor::cli().id.as_str()),
            (ActorType::Operator, "cli")
        );
        let key = Actor::key("key_01");
        assert_eq!((key.kind, key.id.as_str()), (ActorType::ApiKey, "key_01"));
    }
}
