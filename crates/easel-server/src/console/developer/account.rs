//! `/console/account`: the account's members (roles, removal), invitations by e-mail, and
//! the signed-in person's own sessions ("sign out other sessions"). Members are managed
//! with the API's rules and services: `members:write` (owners and admins), only an owner
//! grants or changes the owner role, and an account keeps its last owner.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use easel_core::audit::{Actor, ActorType, action};
use easel_core::roles::{Action, Role, Scope};
use easel_core::time::now_ms;
use easel_db::{AuditContext, Principal, PrincipalKind};
use minijinja::context;
use serde::Deserialize;

use super::keys::forbidden;
use super::member::Member;
use crate::app::AppState;
use crate::console::form::Form;
use crate::console::pages::render;
use crate::http::error::{ApiError, ApiResult};
use crate::services::{accounts, invitations};

fn when(ms: i64) -> String {
    crate::cli::output::when(Some(ms.div_euclid(1000)))
}

fn principal(member: &Member) -> Principal {
    Principal {
        kind: PrincipalKind::User,
        id: member.user.id.clone(),
    }
}

/// The page, with what a form just did or why it was refused.
async fn account_page(
    state: &AppState,
    member: &Member,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    if let Err(e) = member.require(Scope::AccountRead) {
        return forbidden(member, e);
    }
    let may_manage = member.may(Scope::MembersWrite);
    let account_id = member.account.id.as_str();
    let me = principal(member);
    let found = tokio::try_join!(
        state.store.list_members(account_id),
        async {
            if may_manage {
                state.store.list_invitations(account_id).await
            } else {
                Ok(Vec::new())
            }
        },
        state.store.list_principal_sessions(&me, now_ms()),
    );
    let (members, invitations, sessions) = match found {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let now = now_ms();
    let members: Vec<_> = members
        .iter()
        .map(|m| {
            context! {
                user_id => m.user_id, email => m.email, role => m.role.as_str(),
                joined => when(m.created_at),
                you => m.user_id == member.user.id,
                manageable => may_manage && member.role.may_manage(m.role),
            }
        })
        .collect();
    let invitations: Vec<_> = invitations
        .iter()
        .map(|i| {
            context! {
                id => i.id, email => i.email, role => i.role.as_str(),
                by => i.invited_by_email, sent => when(i.created_at),
                expires => when(i.expires_at), expired => i.expires_at <= now,
            }
        })
        .collect();
    let sessions: Vec<_> = sessions
        .iter()
        .map(|s| {
            context! {
                current => s.id_hash == member.session_id_hash,
                started => when(s.created_at), seen => when(s.last_seen_at),
                ip => s.ip, agent => s.user_agent,
            }
        })
        .collect();
    let grantable: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|r| member.role.may_manage(*r))
        .map(Role::as_str)
        .collect();
    let rights = super::data_rights::view(state, member).await;
    let a = &member.account;
    let ctx = context! {
        rights => rights,
        layout => member.layout("account"),
        details => context! {
            name => a.name, legal_name => a.legal_name, email => a.contact_email,
            phone => a.contact_phone, address => a.address, country => a.country,
            plan => a.plan, created => when(a.created_at),
        },
        members => members,
        invitations => invitations,
        sessions => sessions,
        may_manage => may_manage,
        may_edit => member.caller.require_action(Action::ManageBilling).is_ok(),
        grantable => grantable,
        error => error,
        notice => notice,
    };
    render(status, "account.html", ctx)
}

/// `?saved=details` after the details form.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    saved: String,
}

/// `GET /console/account`.
pub async fn page(
    state: AppState,
    member: Member,
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> Response {
    let notice = (q.saved == "details").then(|| "The business details are saved.".to_string());
    account_page(&state, &member, StatusCode::OK, None, notice).await
}

/// After a form: the page again, with what happened or why not.
pub(super) async fn after(
    state: &AppState,
    member: &Member,
    result: ApiResult<String>,
) -> Response {
    match result {
        Ok(notice) => account_page(state, member, StatusCode::OK, None, Some(notice)).await,
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => forbidden(member, e),
        Err(e) => {
            let status = e.code.status();
            account_page(state, member, status, Some(e.message.into_owned()), None).await
        }
    }
}

fn role(param: &'static str, text: &str) -> ApiResult<Role> {
    Role::parse(text.trim()).ok_or_else(|| {
        ApiError::invalid(param, "Choose a role: owner, admin, developer or viewer.")
    })
}

/// The invite form.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// `POST /console/members/invite`: mails an invitation link.
pub async fn invite(state: AppState, member: Member, Form(form): Form<InviteForm>) -> Response {
    let result = async {
        member.require(Scope::MembersWrite)?;
        let role = role("role", &form.role)?;
        let sent = invitations::invite(&state, &member.caller, &form.email, role).await?;
        Ok(format!(
            "Invitation sent to {} as {}.",
            sent.email,
            sent.role.as_str()
        ))
    }
    .await;
    after(&state, &member, result).await
}

/// `POST /console/invitations/{id}/revoke`.
pub async fn revoke_invitation(
    state: AppState,
    member: Member,
    Path(id): Path<String>,
) -> Response {
    let result = invitations::revoke(&state, &member.caller, &id)
        .await
        .map(|i| format!("The invitation of {} is revoked.", i.email));
    after(&state, &member, result).await
}

/// The role form.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

/// `POST /console/members/{user_id}/role`: as `PATCH /v1/account/members/{user_id}`.
pub async fn set_role(
    state: AppState,
    member: Member,
    Path(user_id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    let result = async {
        member.require(Scope::MembersWrite)?;
        let new = role("role", &form.role)?;
        let current = accounts::find_member(&state, &member.account.id, &user_id).await?;
        accounts::check_owner_rights(member.role, Some(current.role), new)?;
        let changed = accounts::set_role(
            &state,
            &member.account.id,
            &user_id,
            new,
            member.caller.audit(),
        )
        .await?;
        Ok(format!(
            "{} is now {}.",
            changed.email,
            changed.role.as_str()
        ))
    }
    .await;
    after(&state, &member, result).await
}

/// `POST /console/members/{user_id}/remove`: as `DELETE /v1/account/members/{user_id}`
/// (their keys are revoked at once).
pub async fn remove(state: AppState, member: Member, Path(user_id): Path<String>) -> Response {
    let result = async {
        member.require(Scope::MembersWrite)?;
        let current = accounts::find_member(&state, &member.account.id, &user_id).await?;
        accounts::check_owner_rights(member.role, Some(current.role), current.role)?;
        accounts::remove_member(&state, &member.account.id, &user_id, member.caller.audit())
            .await?;
        Ok(format!(
            "{} is no longer a member; their keys are revoked.",
            current.email
        ))
    }
    .await;
    if result.is_ok() && user_id == member.user.id {
        // They left: this account is no longer theirs to look at.
        return Redirect::to("/console").into_response();
    }
    after(&state, &member, result).await
}

/// `POST /console/sessions/others/revoke`: signs the person out everywhere but here.
pub async fn revoke_other_sessions(state: AppState, member: Member) -> Response {
    let actor = Actor {
        kind: ActorType::User,
        id: member.user.id.clone(),
    };
    let audit = AuditContext::new(actor, Some(member.caller.request_id.clone()));
    let result = state
        .store
        .revoke_other_sessions(
            &principal(&member),
            &member.session_id_hash,
            action::USER_SESSIONS_REVOKED,
            audit,
        )
        .await
        .map(|ended| format!("Signed out of {ended} other sessions."))
        .map_err(ApiError::from);
    after(&state, &member, result).await
}

/// The business details form.
#[derive(Debug, Deserialize)]
pub struct DetailsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    legal_name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    country: String,
}

/// `POST /console/account/details`: owners and admins (billing rights: invoices print
/// these details).
pub async fn set_details(
    state: AppState,
    member: Member,
    Form(form): Form<DetailsForm>,
) -> Response {
    let result = async {
        member.require(Scope::AccountRead)?;
        member.caller.require_action(Action::ManageBilling)?;
        let optional = |s: String| Some(s).filter(|s| !s.trim().is_empty());
        let spec = accounts::DetailsSpec {
            name: form.name,
            legal_name: optional(form.legal_name),
            contact_email: optional(form.contact_email),
            contact_phone: optional(form.contact_phone),
            address: optional(form.address),
            country: optional(form.country),
        };
        accounts::set_details(
            &state,
            &member.account.id,
            spec,
            &member.account.contact_email,
            member.caller.audit(),
        )
        .await?;
        Ok("The business details are saved.".to_string())
    }
    .await;
    if result.is_ok() {
        // The page's layout reads the account as this request loaded it: load it afresh.
        return Redirect::to("/console/account?saved=details").into_response();
    }
    after(&state, &member, result).await
}
