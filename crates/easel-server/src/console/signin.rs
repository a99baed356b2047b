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
use easel_db::{AuditContext, Operator as OperatorRow, Principal, PrincipalKind};
use minijinja::context;
use serde::Deserialize;

use super::csrf;
use super::pages::render;
use super::session::{self, Operator};
use super::throttle::{self, Attempt, ClientIp};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::middleware::RequestId;

/// A real argon2id hash to verify against when the username is unknown, so a failed login
/// takes as long whether or not the operator exists.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| password::hash("not-a-real-password").unwrap_or_default());

/// How long the sign-in form's pre-session nonce lasts.
const LOGIN_NONCE_MS: i64 = 3_600_000;

/// `GET /console/login`: the form, and the pre-session cookie its CSRF token is bound to.
pub async fn login_form(state: AppState, headers: HeaderMap, jar: CookieJar) -> Response {
    let nonce = session::cookie_value(&state, &headers, csrf::LOGIN_COOKIE)
        .unwrap_or_else(session::random_token);
    let ctx = context! { username => "", error => "", csrf => csrf::login_token(&state, &nonce) };
    let cookie = session::cookie(&state, csrf::LOGIN_COOKIE, nonce, Some(LOGIN_NONCE_MS));
    (jar.add(cookie), render(StatusCode::OK, "login.html", ctx)).into_response()
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
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
    let username: String = form.username.trim().chars().take(64).collect();
    // The CSRF middleware let the request in, so the nonce is there.
    let nonce = session::cookie_value(&state, &headers, csrf::LOGIN_COOKIE).unwrap_or_default();
    let attempt = Attempt::new(&state, &headers, ip, username);
    let paused = throttle::paused_ms(&state, &attempt).await;
    if paused > 0 {
        return throttle::refused(&state, &attempt.username, &nonce, paused);
    }
    let request_id = Some(request_id.0);
    let Some(op) = check_password(&state, &attempt.username, form.password).await else {
        return wrong_password(&state, &attempt, &nonce, request_id).await;
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    match signed_in(&state, op, &attempt, user_agent, request_id).await {
        Ok(cookie) => {
            let clear = session::cookie(&state, csrf::LOGIN_COOKIE, String::new(), None);
            let device = throttle::device_cookie(&state, &attempt.username);
            let jar = jar.add(cookie).add(clear).add(device);
            (jar, Redirect::to("/console")).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The operator if `attempt` is their password.
async fn check_password(state: &AppState, username: &str, attempt: String) -> Option<OperatorRow> {
    let operator = state.store.get_operator(username).await.ok();
    let hash = operator
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |op| op.password_hash.clone());
    let verified =
        attempt.len() <= password::MAX_LEN && crate::auth::passwords::verify(attempt, hash).await;
    operator.filter(|_| verified)
}

/// Records the sign-in, clears the throttle counts, starts the session.
async fn signed_in(
    state: &AppState,
    op: OperatorRow,
    attempt: &Attempt,
    user_agent: Option<&str>,
    request_id: Option<String>,
) -> Result<axum_extra::extract::cookie::Cookie<'static>, ApiError> {
    let actor = Actor {
        kind: ActorType::Operator,
        id: op.id.clone(),
    };
    let audit = AuditContext::new(actor, request_id).with("ip", attempt.ip.as_str());
    state.store.record_operator_login(&op.id, audit).await?;
    throttle::succeeded(state, attempt).await;
    let principal = Principal {
        kind: PrincipalKind::Operator,
        id: op.id,
    };
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
    if let Err(e) = state
        .store
        .append_audit(
            None,
            action::OPERATOR_LOGIN_FAILED,
            ("operator", username),
            audit,
        )
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

/// `POST /console/logout/everywhere`: ends every session of the operator, this one too.
pub async fn logout_everywhere(
    state: AppState,
    operator: Operator,
    jar: CookieJar,
    Extension(request_id): Extension<RequestId>,
) -> Response {
    let principal = Principal {
        kind: PrincipalKind::Operator,
        id: operator.id.clone(),
    };
    let actor = Actor {
        kind: ActorType::Operator,
        id: operator.id,
    };
    let audit = AuditContext::new(actor, Some(request_id.0));
    if let Err(e) = state
        .store
        .revoke_principal_sessions(&principal, action::OPERATOR_SESSIONS_REVOKED, audit)
        .await
    {
        return ApiError::from(e).into_response();
    }
    let clear = session::cookie(&state, session::COOKIE, String::new(), None);
    (jar.add(clear), Redirect::to("/console/login")).into_response()
}
