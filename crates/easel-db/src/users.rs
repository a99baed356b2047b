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
}
