//! Signing in and out of the console: the sign-in form with its pre-session CSRF cookie,
//! the password check (throttled, off the async threads), sign-out, and "sign out
//! everywhere".

use std::sync::LazyLock;

use super::form::Form;
use axum::Extension;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use easel_core::audit::{Actor, ActorType, action};
use easel_core::password;
use easel_db::{AuditContext, Operator as OperatorRow, Principal, PrincipalKind, UserLogin};
use minijinja::context;
use serde::Deserialize;

use super::csrf;
use super::pages::render;
use super::session::{self, SignedIn};
use super::throttle::{self, Attempt, ClientIp};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::middleware::RequestId;

/// A real argon2id hash to verify against when the username is unknown, so a failed login
/// takes as long whether or not the operator exists.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| password::hash("not-a-real-password").unwrap_or_default());

/// `GET /console/login`: the form, and the pre-session cookie its CSRF token is bound to.
pub async fn login_form(state: AppState, headers: HeaderMap, jar: CookieJar) -> Response {
    let (cookie, token) = csrf::pre_session_form(&state, &headers);
    let ctx =
        context! { username => "", error => "", csrf => token, signup => signup_open(&state) };
    (jar.add(cookie), render(StatusCode::OK, "login.html", ctx)).into_response()
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// Members sign in with their e-mail address, operators with a username (which has no `@`).
pub fn is_member_login(identifier: &str) -> bool {
    identifier.contains('@')
}

/// Whether the sign-up link is shown.
pub fn signup_open(state: &AppState) -> bool {
    state.config.console.signup != crate::config::SignupMode::Closed
}

/// Who a password was right for.
enum Verified {
    Operator(OperatorRow),
    Member(UserLogin),
}

impl Verified {
    fn principal(&self) -> Principal {
        match self {
            Verified::Operator(op) => Principal {
                kind: PrincipalKind::Operator,
                id: op.id.clone(),
            },
            Verified::Member(login) => Principal {
                kind: PrincipalKind::User,
                id: login.user.id.clone(),
            },
        }
    }
}

/// `POST /console/login`: refused while sign-in is paused for this address or username;
/// else checks the password off the async threads and starts a session.
pub async fn login(
    state: AppState,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Extension(request_id): Extension<RequestId>,
    Form(form): Form<LoginForm>,
) -> Response {
    let mut username: String = form.username.trim().chars().take(254).collect();
    if is_member_login(&username) {
        username = username.to_lowercase();
    }
    // The CSRF middleware let the request in, so the nonce is there.
    let nonce = session::cookie_value(&state, &headers, csrf::LOGIN_COOKIE).unwrap_or_default();
    let attempt = Attempt::new(&state, &headers, ip, username);
    let paused = throttle::paused_ms(&state, &attempt).await;
    if paused > 0 {
        return throttle::refused(&state, &attempt.username, &nonce, paused);
    }
    let request_id = Some(request_id.0);
    let Some(who) = check_password(&state, &attempt.username, form.password).await else {
        return wrong_password(&state, &attempt, &nonce, request_id).await;
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    match signed_in(&state, who, &attempt, user_agent, request_id).await {
        Ok(cookie) => {
            let clear = session::cookie(&state, csrf::LOGIN_COOKIE, String::new(), None);
            let device = throttle::device_cookie(&state, &attempt.username);
            let jar = jar.add(cookie).add(clear).add(device);
            (jar, Redirect::to("/console")).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The operator or member whose password `attempt` is. An unknown name is checked against
/// a dummy hash, so a failure takes as long whether or not the name exists.
async fn check_password(state: &AppState, username: &str, attempt: String) -> Option<Verified> {
    let who = if is_member_login(username) {
        state
            .store
            .user_login(username)
            .await
            .ok()
            .flatten()
            .map(Verified::Member)
    } else {
        state
            .store
            .get_operator(username)
            .await
            .ok()
            .map(Verified::Operator)
    };
    let hash = match &who {
        Some(Verified::Operator(op)) => Some(op.password_hash.clone()),
        Some(Verified::Member(login)) => login.password_hash.clone(),
        None => None,
    };
    // A member who never set a password (added by e-mail) cannot sign in with one.
    let usable = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
    let verified =
        attempt.len() <= password::MAX_LEN && crate::auth::passwords::verify(attempt, hash).await;
    who.filter(|_| verified && usable)
}

/// Records the sign-in, clears the throttle counts, starts the session.
async fn signed_in(
    state: &AppState,
    who: Verified,
    attempt: &Attempt,
    user_agent: Option<&str>,
    request_id: Option<String>,
) -> Result<axum_extra::extract::cookie::Cookie<'static>, ApiError> {
    let principal = who.principal();
    match who {
        Verified::Operator(op) => {
            let actor = Actor {
                kind: ActorType::Operator,
                id: op.id.clone(),
            };
            let audit = AuditContext::new(actor, request_id).with("ip", attempt.ip.as_str());
            state.store.record_operator_login(&op.id, audit).await?;
        }
        Verified::Member(login) => {
            let actor = Actor {
                kind: ActorType::User,
                id: login.user.id.clone(),
            };
            let audit = AuditContext::new(actor, request_id)
                .with("ip", attempt.ip.as_str())
                .for_member(&login.user.id);
            state
                .store
                .append_audit(None, action::USER_LOGIN, ("user", &login.user.id), audit)
                .await?;
        }
    }
    throttle::succeeded(state, attempt).await;
    session::start(state, principal, &attempt.ip, user_agent).await
}

/// Audits the failure and answers 401, or 429 if it began a pause.
async fn wrong_password(
    state: &AppState,
    attempt: &Attempt,
    nonce: &str,
    request_id: Option<String>,
) -> Response {
    let username = attempt.username.as_str();
    let audit = AuditContext::new(Actor::system(), request_id.clone())
        .with("username", username)
        .with("ip", attempt.ip.as_str());
    let (what, target) = if is_member_login(username) {
        (action::USER_LOGIN_FAILED, "user")
    } else {
        (action::OPERATOR_LOGIN_FAILED, "operator")
    };
    if let Err(e) = state
        .store
        .append_audit(None, what, (target, username), audit)
        .await
    {
        tracing::warn!(error = %e, "could not record a failed login");
    }
    let pause = throttle::failed(state, attempt, request_id).await;
    if pause > 0 {
        return throttle::refused(state, username, nonce, pause);
    }
    let ctx = context! {
        username => username,
        error => "Wrong username or password.",
        csrf => csrf::login_token(state, nonce),
        signup => signup_open(state),
    };
    render(StatusCode::UNAUTHORIZED, "login.html", ctx)
}

/// `POST /console/logout`: ends this session.
pub async fn logout(state: AppState, headers: HeaderMap, jar: CookieJar) -> Response {
    match session::end(&state, &headers).await {
        Ok(cookie) => (jar.add(cookie), Redirect::to("/console/login")).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /console/logout/everywhere`: ends every session of the signed-in operator or
/// member, this one too.
pub async fn logout_everywhere(
    state: AppState,
    signed_in: SignedIn,
    jar: CookieJar,
    Extension(request_id): Extension<RequestId>,
) -> Response {
    let principal = signed_in.0.principal;
    let (actor, what) = match principal.kind {
        PrincipalKind::Operator => (ActorType::Operator, action::OPERATOR_SESSIONS_REVOKED),
        PrincipalKind::User => (ActorType::User, action::USER_SESSIONS_REVOKED),
    };
    let actor = Actor {
        kind: actor,
        id: principal.id.clone(),
    };
    let audit = AuditContext::new(actor, Some(request_id.0));
    if let Err(e) = state
        .store
        .revoke_principal_sessions(&principal, what, audit)
        .await
    {
        return ApiError::from(e).into_response();
    }
    let clear = session::cookie(&state, session::COOKIE, String::new(), None);
    (jar.add(clear), Redirect::to("/console/login")).into_response()
}
