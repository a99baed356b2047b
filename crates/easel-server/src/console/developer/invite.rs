//! `/console/invite?token=…`: the page an invitation's link opens. The invitee joins with
//! one click, choosing a password first if they have none (a person new to this server, or
//! one the API added by e-mail). The link proves their address, so it counts as verified.
//! A used, revoked or expired link says so and changes nothing.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use easel_core::audit::{Actor, ActorType};
use easel_core::ids::IdKind;
use easel_core::time::now_ms;
use easel_db::{AuditContext, Invitation, NewUser, UserLogin};
use minijinja::context;
use serde::Deserialize;

use crate::app::AppState;
use crate::console::form::Form;
use crate::console::pages::render;
use crate::console::{csrf, session};
use crate::http::error::ApiError;
use crate::http::middleware::RequestId;
use crate::services::invitations::token_hash;
use crate::services::signup::check_password;

/// `?token=…`
#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The form.
#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

fn gone(message: &str) -> Response {
    render(
        StatusCode::GONE,
        "notice.html",
        context! { title => "This invitation cannot be used", message => message, link => "/console/login", link_text => "Sign in" },
    )
}

/// The pending invitation of `token` and the person it invites, if they exist already; or
/// the page that says why it cannot be used.
async fn pending(
    state: &AppState,
    token: &str,
) -> Result<(Invitation, Option<UserLogin>), Response> {
    // Tokens are 43 characters of base64url; anything else is not one of ours.
    let plausible = (20..=100).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let found = if plausible {
        state
            .store
            .invitation_by_token(&token_hash(token))
            .await
            .map_err(|e| ApiError::from(e).into_response())?
    } else {
        None
    };
    let Some(invitation) = found else {
        return Err(gone(
            "This link is not a valid invitation. Ask for a new one.",
        ));
    };
    if invitation.accepted_at.is_some() {
        return Err(gone(
            "This invitation was already accepted. Sign in with the invited e-mail address.",
        ));
    }
    if invitation.revoked_at.is_some() || invitation.expires_at <= now_ms() {
        return Err(gone(
            "This invitation was withdrawn or has expired. Ask the account for a new one.",
        ));
    }
    let person = state
        .store
        .user_login(&invitation.email)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok((invitation, person))
}

/// Whether the invitee must choose a password (new, or added without one).
fn needs_password(person: Option<&UserLogin>) -> bool {
    person.is_none_or(|p| p.password_hash.is_none())
}

fn form_page(
    status: StatusCode,
    csrf: &str,
    token: &str,
    invitation: &Invitation,
    needs_password: bool,
    error: Option<String>,
) -> Response {
    let ctx = context! {
        csrf => csrf,
        token => token,
        needs_password => needs_password,
        error => error,
        invitation => context! {
            account => invitation.account_name, email => invitation.email,
            role => invitation.role.as_str(), by => invitation.invited_by_email,
        },
    };
    render(status, "invite.html", ctx)
}

/// `GET /console/invite?token=…`.
pub async fn form(
    state: AppState,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<TokenQuery>,
) -> Response {
    let (invitation, person) = match pending(&state, &q.token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let (cookie, csrf) = csrf::pre_session_form(&state, &headers);
    let needs = needs_password(person.as_ref());
    let page = form_page(StatusCode::OK, &csrf, &q.token, &invitation, needs, None);
    (jar.add(cookie), page).into_response()
}

/// `POST /console/invite`: joins the account.
pub async fn accept(
    state: AppState,
    headers: HeaderMap,
    axum::Extension(request_id): axum::Extension<RequestId>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let (invitation, person) = match pending(&state, &form.token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let needs_password = needs_password(person.as_ref());
    let again = |message: String| {
        let nonce = session::cookie_value(&state, &headers, csrf::LOGIN_COOKIE).unwrap_or_default();
        let csrf = csrf::login_token(&state, &nonce);
        form_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &csrf,
            &form.token,
            &invitation,
            needs_password,
            Some(message),
        )
    };
    let password_hash = if needs_password {
        if let Err(e) = check_password(&form.password, &[&invitation.email]) {
            return again(e.message.into_owned());
        }
        match crate::auth::passwords::hash(form.password.clone()).await {
            Ok(Ok(hash)) => Some(hash),
            Ok(Err(e)) => return again(ApiError::from(e).message.into_owned()),
            Err(e) => return ApiError::internal(e).into_response(),
        }
    } else {
        None
    };
    let existing = person.map(|p| p.user.id);
    let new_user = NewUser {
        id: IdKind::User.generate(),
        email: invitation.email.clone(),
        name: None,
        password_hash,
        adult_attested_at: None,
        terms_version: None,
        terms_accepted_at: None,
        terms_accepted_ip: None,
    };
    let actor = Actor {
        kind: ActorType::User,
        id: existing.unwrap_or_else(|| new_user.id.clone()),
    };
    let audit = AuditContext::new(actor, Some(request_id.0));
    match state
        .store
        .accept_invitation(&token_hash(&form.token), new_user, audit)
        .await
    {
        Ok(accepted) => {
            let message = if accepted.already_member {
                format!(
                    "You were already a member of {} (as {}); nothing changed.",
                    invitation.account_name,
                    accepted.role.as_str()
                )
            } else {
                format!(
                    "You joined {} as {}. Sign in with {} to start.",
                    invitation.account_name,
                    accepted.role.as_str(),
                    invitation.email
                )
            };
            render(
                StatusCode::OK,
                "notice.html",
                context! { title => "Welcome aboard", message => message, link => "/console/login", link_text => "Sign in" },
            )
        }
        // Taken by a racing request, revoked or expired meanwhile.
        Err(easel_db::DbError::NotFound) => {
            gone("This invitation was already used, withdrawn or has expired.")
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
