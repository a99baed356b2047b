//! People who sign in to the developer console: sign-in lookup, the accounts they belong
//! to, e-mail verification (which opens live mode for accounts that waited for it),
//! password changes, and the operator's approval of signed-up accounts.

use async_trait::async_trait;
use easel_core::account::LiveBlock;
use easel_core::roles::Role;

use crate::{Account, AuditContext, DbResult, User};

/// A person as sign-in needs them: who they are and their password hash (`None` for people
/// who never set one, such as members the operator added by e-mail).
#[derive(Debug, Clone)]
pub struct UserLogin {
    pub user: User,
    pub password_hash: Option<String>,
}

/// One account a person belongs to, with their role there.
#[derive(Debug, Clone)]
pub struct Membership {
    pub account: Account,
    pub role: Role,
}

/// An invitation to join an account, as its pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub account_id: String,
    pub account_name: String,
    pub email: String,
    pub role: Role,
    /// The member who sent it, and their address.
    pub invited_by: String,
    pub invited_by_email: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A new invitation; `token_hash` is the hex SHA-256 of the token in its link.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub role: Role,
    pub token_hash: String,
    pub invited_by: String,
    pub expires_at: i64,
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub account_id: String,
    pub user_id: String,
    /// The member's role now: the invitation's, or the one they already had.
    pub role: Role,
    /// Whether they were a member already (their role did not change).
    pub already_member: bool,
}

/// A version of the API terms the operator announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermsVersion {
    pub version: String,
    /// When it takes effect (ms).
    pub effective_at: i64,
    pub announced_at: i64,
    /// What changes, in a sentence or two, for the notices.
    pub summary: Option<String>,
}

/// People, their sign-in and what verifying them opens.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The person with this (normalised) e-mail address, with their password hash.
    async fn user_login(&self, email: &str) -> DbResult<Option<UserLogin>>;
    /// One person by id.
    async fn get_user(&self, id: &str) -> DbResult<User>;
    /// The accounts a person belongs to, oldest membership first.
    async fn memberships(&self, user_id: &str) -> DbResult<Vec<Membership>>;
    /// Records that the person proved `email` (nothing happens if their address is no
    /// longer `email`, or was verified before). Accounts they own that waited for it move
    /// on to `next` (`None`: live mode opens; `Some(Approval)`: the operator's review), each
    /// audited as `user.email_verified`. Returns whether the address was newly verified.
    async fn verify_email(
        &self,
        user_id: &str,
        email: &str,
        next: Option<LiveBlock>,
        audit: AuditContext,
    ) -> DbResult<bool>;
    /// Sets a person's password hash and ends every console session they have, in one
    /// transaction, audited as `user.password_changed`; returns how many sessions ended.
    async fn set_user_password(
        &self,
        user_id: &str,
        password_hash: &str,
        audit: AuditContext,
    ) -> DbResult<u64>;
    /// Opens live mode for an account that waited for the operator's approval. An account
    /// that was not waiting for it is refused (`account_not_waiting`), an unknown one is
    /// `NotFound`.
    async fn approve_account(&self, account_id: &str, audit: AuditContext) -> DbResult<Account>;

    /// Records an invitation, audited as `member.invited` (the account must exist).
    async fn create_invitation(
        &self,
        new: NewInvitation,
        audit: AuditContext,
    ) -> DbResult<Invitation>;
    /// An account's pending invitations (neither accepted nor revoked; expired ones too,
    /// marked by `expires_at`), newest first, at most 200.
    async fn list_invitations(&self, account_id: &str) -> DbResult<Vec<Invitation>>;
    /// The invitation whose token hashes to `token_hash`, whatever its state.
    async fn invitation_by_token(&self, token_hash: &str) -> DbResult<Option<Invitation>>;
    /// Revokes a pending invitation of the account, audited as `member.invitation_revoked`;
    /// one that is not pending is `NotFound`.
    async fn revoke_invitation(
        &self,
        account_id: &str,
        id: &str,
        audit: AuditContext,
    ) -> DbResult<Invitation>;
    /// Accepts the pending, unexpired invitation whose token hashes to `token_hash` at
    /// `audit.now`, in one transaction: the invitee becomes a member with its role (a
    /// member already keeps their role), is created from `new_user` if no one has the
    /// invitation's address (its address counts as verified: the link proved it), and gets
    /// `new_user`'s password if they had none. Audited as `member.added`. An invitation
    /// that is not pending, has expired, or whose account is terminated is `NotFound`.
    async fn accept_invitation(
        &self,
        token_hash: &str,
        new_user: crate::NewUser,
        audit: AuditContext,
    ) -> DbResult<Accepted>;

    /// Records an announced terms version, audited as `terms.announced`. A version
    /// announced before is a conflict (`terms_versions_pkey`).
    async fn announce_terms(&self, terms: TermsVersion, audit: AuditContext) -> DbResult<()>;
    /// Every announced terms version, by effective date.
    async fn list_terms(&self) -> DbResult<Vec<TermsVersion>>;
    /// Records that a person accepted terms `version` at `audit.now` from `ip`, audited as
    /// `user.terms_accepted`.
    async fn accept_terms(
        &self,
        user_id: &str,
        version: &str,
        ip: Option<&str>,
        audit: AuditContext,
    ) -> DbResult<()>;
    /// The addresses of the owners of every account that is not terminated, each once.
    async fn owner_emails(&self) -> DbResult<Vec<String>>;
}
