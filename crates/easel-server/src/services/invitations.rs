//! Inviting people to an account by e-mail: the same rules as adding a member through the
//! API (`members:write`, only an owner invites an owner), a link with a random token (only
//! its hash is stored) mailed to the invitee, and accepting it, which adds the member.

use easel_core::email::Email;
use easel_core::ids::IdKind;
use easel_core::roles::{Role, Scope};
use easel_core::time::now_ms;
use easel_db::{Invitation, NewInvitation};

use super::{OrNotFound, accounts};
use crate::app::AppState;
use crate::auth::Caller;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mail;

/// The hash under which an invitation's token is stored and looked up.
pub fn token_hash(token: &str) -> String {
    crate::console::session::hash_token(token)
}

/// Invites `email` to the caller's account as `role` and mails them the link; returns the
/// invitation. Someone already a member is refused (409 `already_member`).
pub async fn invite(
    state: &AppState,
    caller: &Caller,
    email: &str,
    role: Role,
) -> ApiResult<Invitation> {
    caller.require(Scope::MembersWrite)?;
    accounts::check_owner_rights(caller.role, None, role)?;
    let email = Email::parse(email, "email")?.into_inner();
    let members = state.store.list_members(&caller.account_id).await?;
    if members.iter().any(|m| m.email == email) {
        return Err(ApiError::new(
            ErrorCode::already_member,
            format!("{email} is already a member of this account."),
        )
        .param("email"));
    }
    let token = crate::console::session::random_token();
    let days = i64::try_from(state.config.console.invite_link_days).unwrap_or(7);
    let new = NewInvitation {
        id: IdKind::Invitation.generate(),
        account_id: caller.account_id.clone(),
        email: email.clone(),
        role,
        token_hash: token_hash(&token),
        invited_by: caller.user_id.clone(),
        expires_at: now_ms().saturating_add(days.saturating_mul(86_400_000)),
    };
    let invitation = state
        .store
        .create_invitation(new, caller.audit())
        .await
        .or_not_found("account", &caller.account_id)?;
    let link = format!(
        "{}/console/invite?token={token}",
        state.config.public_url().trim_end_matches('/')
    );
    let body = format!(
        "{inviter} invites you to the account \"{account}\" on {public} as {role}.\n\n\
         Accept the invitation here:\n\n{link}\n\n\
         The link works for {days} days and only once. If you did not expect it, ignore this message.\n",
        inviter = invitation.invited_by_email,
        account = invitation.account_name,
        public = state.config.public_url(),
        role = role.as_str(),
    );
    state
        .mailer
        .send(Mail {
            to: email,
            subject: format!("Join {} on Easel", invitation.account_name),
            body,
        })
        .await;
    Ok(invitation)
}

/// Revokes a pending invitation of the caller's account.
pub async fn revoke(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Invitation> {
    caller.require(Scope::MembersWrite)?;
    if !IdKind::Invitation.is_valid(id) {
        return Err(ApiError::not_found("invitation", id));
    }
    state
        .store
        .revoke_invitation(&caller.account_id, id, caller.audit())
        .await
        .or_not_found("invitation", id)
}
