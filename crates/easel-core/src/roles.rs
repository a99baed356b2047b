//! Organisation roles, API key scopes, and the one permission matrix that relates them.
//!
//! Every authorisation decision in Easel goes through [`Role::allows`] and [`Scope`]: a key's
//! effective rights are its scopes intersected with what its member's role allows *now*, so
//! demoting a member narrows their existing keys at once.

use serde::{Deserialize, Serialize};

/// A member's role in an organisation.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Developer,
    Viewer,
}

/// Something a member may be allowed to do. Scopes are the subset an API key can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// An API-key scope.
    Scope(Scope),
    /// Change billing settings (plan, payment, spend caps beyond a key's own).
    ManageBilling,
    /// Add or remove members and change roles.
    ManageMembers,
    /// Hand ownership to another member.
    TransferOwnership,
    /// Delete the organisation and its data.
    DeleteAccount,
    /// Export all of the organisation's data (every member's, every log): the owner's
    /// right of access, like deletion.
    ExportData,
}

/// An API key scope, as written in the spec (`generations:write`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    #[serde(rename = "generations:read")]
    GenerationsRead,
    #[serde(rename = "generations:write")]
    GenerationsWrite,
    #[serde(rename = "keys:read")]
    KeysRead,
    #[serde(rename = "keys:write")]
    KeysWrite,
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    #[serde(rename = "billing:read")]
    BillingRead,
    #[serde(rename = "logs:read")]
    LogsRead,
    #[serde(rename = "account:read")]
    AccountRead,
    /// Add and remove members and change roles. Beyond the spec's list: organisations
    /// manage access through the API as well as the console. Owners and admins only.
    #[serde(rename = "members:write")]
    MembersWrite,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 10] = [
        Scope::GenerationsRead,
        Scope::GenerationsWrite,
        Scope::KeysRead,
        Scope::KeysWrite,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
        Scope::BillingRead,
        Scope::LogsRead,
        Scope::AccountRead,
        Scope::MembersWrite,
    ];

    /// The spelling used on the wire and in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::GenerationsRead => "generations:read",
            Scope::GenerationsWrite => "generations:write",
            Scope::KeysRead => "keys:read",
            Scope::KeysWrite => "keys:write",
            Scope::WebhooksRead => "webhooks:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::BillingRead => "billing:read",
            Scope::LogsRead => "logs:read",
            Scope::AccountRead => "account:read",
            Scope::MembersWrite => "members:write",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Whether this scope only reads.
    pub const fn is_read(self) -> bool {
        matches!(
            self,
            Scope::GenerationsRead
                | Scope::KeysRead
                | Scope::WebhooksRead
                | Scope::BillingRead
                | Scope::LogsRead
                | Scope::AccountRead
        )
    }
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Developer, Role::Viewer];

    /// The spelling used on the wire and in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The permission matrix of the spec ("Roles and scopes"), in one place.
    ///
    /// - owner: everything, including billing, members, ownership transfer and deletion;
    /// - admin: everything but ownership transfer and account deletion;
    /// - developer: keys, webhooks, generations, logs (and reading usage and spend);
    ///   no billing changes, no members (`members:write` is owner and admin only);
    /// - viewer: read-only.
    pub fn allows(self, action: Action) -> bool {
        // Managing members is the same right whether asked for as a scope or an action.
        let action = match action {
            Action::Scope(Scope::MembersWrite) => Action::ManageMembers,
            other => other,
        };
        match (self, action) {
            (Role::Owner, _) => true,
            (
                Role::Admin,
                Action::TransferOwnership | Action::DeleteAccount | Action::ExportData,
            ) => false,
            (Role::Admin, _) => true,
            (Role::Developer, Action::Scope(_)) => true,
            (Role::Developer, _) => false,
            (Role::Viewer, Action::Scope(scope)) => scope.is_read(),
            (Role::Viewer, _) => false,
        }
    }

    /// Whether a member with this role may manage (change, remove, and revoke the keys of)
    /// a member with the role `other`: owners manage everyone, admins everyone but owners,
    /// the others no one. Touching an owner is an ownership matter.
    pub fn may_manage(self, other: Role) -> bool {
        self.allows(Action::ManageMembers)
            && (other != Role::Owner || self.allows(Action::TransferOwnership))
    }

    /// The scopes this role may hold; a key created by such a member defaults to these.
    pub fn scopes(self) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.allows(Action::Scope(*s)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_matches_the_spec() {
        let member_actions = [
            Action::ManageBilling,
            Action::ManageMembers,
            Action::TransferOwnership,
            Action::DeleteAccount,
            Action::ExportData,
        ];
        // (role, [billing, members, transfer, delete, export])
        let expected = [
            (Role::Owner, [true, true, true, true, true]),
            (Role::Admin, [true, true, false, false, false]),
            (Role::Developer, [false, false, false, false, false]),
            (Role::Viewer, [false, false, false, false, false]),
        ];
        for (role, row) in expected {
            for (action, want) in member_actions.iter().zip(row) {
                assert_eq!(role.allows(*action), want, "{role:?} {action:?}");
            }
        }
        assert_eq!(Role::Owner.scopes(), Scope::ALL.to_vec());
        assert_eq!(Role::Admin.scopes(), Scope::ALL.to_vec());
        assert_eq!(Role::Developer.scopes(), Scope::ALL[..9].to_vec());
        assert!(!Role::Developer.allows(Action::Scope(Scope::MembersWrite)));
        assert_eq!(
            Role::Viewer.scopes(),
            vec![
                Scope::GenerationsRead,
                Scope::KeysRead,
                Scope::WebhooksRead,
                Scope::BillingRead,
                Scope::LogsRead,
                Scope::AccountRead
            ]
        );
    }

    #[test]
    fn managing_members_follows_the_role_order() {
        use Role::*;
        let manages = |a: Role| Role::ALL.into_iter().filter(move |b| a.may_manage(*b));
        assert_eq!(manages(Owner).collect::<Vec<_>>(), Role::ALL.to_vec());
        assert_eq!(
            manages(Admin).collect::<Vec<_>>(),
            vec![Admin, Developer, Viewer]
        );
        assert_eq!(manages(Developer).count(), 0);
        assert_eq!(manages(Viewer).count(), 0);
    }

    #[test]
    fn spellings_round_trip() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Scope::parse("keys:admin"), None);
        assert_eq!(Role::parse("Owner"), None);
    }
}
