//! Console pages: sign in, sign out, the dashboard.

use std::sync::LazyLock;

use super::form::Form;
use axum::Extension;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Key, SignedCookieJar};
use easel_core::audit::{Actor, ActorType, action};
use easel_core::password;
use easel_core::time::ms_to_secs;
use easel_db::{AuditContext, Page};
use minijinja::{Environment, context};
use serde::Deserialize;

use super::session::{self, Operator};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::middleware::RequestId;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Embedded at compile time; a template that fails to parse fails the tests, not a user.
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("dashboard.html", include_str!("templates/dashboard.html")),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "console template does not parse");
        }
    }
    env
});

/// A real argon2id hash to verify against when the username is unknown, so a failed login
/// takes as long whether or not the operator exists.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| password::hash("not-a-real-password").unwrap_or_default());

/// Renders a page with the console's security headers.
fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    let html = match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => html,
        Err(e) => {
            return ApiError::internal(anyhow::anyhow!("console template {name}: {e}"))
                .into_response();
        }
    };
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /console/login`
pub async fn login_form() -> Response {
    render(
        StatusCode::OK,
        "login.html",
        context! { username => "", error => "" },
    )
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// `POST /console/login`: checks the password off the async threads, starts a session.
pub async fn login(
    state: AppState,
    jar: SignedCookieJar<Key>,
    Extension(request_id): Extension<RequestId>,
    Form(form): Form<LoginForm>,
) -> Response {
    let username: String = form.username.trim().chars().take(64).collect();
    let operator = state.store.get_operator(&username).await.ok();
    let hash = operator
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |op| op.password_hash.clone());
    let attempt = form.password;
    let verified =
        attempt.len() <= password::MAX_LEN && crate::auth::passwords::verify(attempt, hash).await;
    let request_id = Some(request_id.0);
    match operator {
        Some(op) if verified => {
            let actor = Actor {
                kind: ActorType::Operator,
                id: op.id.clone(),
            };
            if let Err(e) = state
                .store
                .record_operator_login(&op.id, AuditContext::new(actor, request_id))
                .await
            {
                return ApiError::from(e).into_response();
            }
            let secure = state.config.public_url().starts_with("https://");
            (
                jar.add(session::start(&op.username, secure)),
                Redirect::to("/console"),
            )
                .into_response()
        }
        _ => {
            let audit =
                AuditContext::new(Actor::system(), request_id).with("username", username.as_str());
            let target = ("operator", username.as_str());
            if let Err(e) = state
                .store
                .append_audit(None, action::OPERATOR_LOGIN_FAILED, target, audit)
                .await
            {
                tracing::warn!(error = %e, "could not record a failed login");
            }
            let ctx = context! { username => username, error => "Wrong username or password." };
            render(StatusCode::UNAUTHORIZED, "login.html", ctx)
        }
    }
}

/// `POST /console/logout`
pub async fn logout(jar: SignedCookieJar<Key>) -> Response {
    (jar.remove(session::end()), Redirect::to("/console/login")).into_response()
}

/// `GET /console`: accounts and the latest audit entries.
pub async fn dashboard(state: AppState, operator: Operator) -> Response {
    let (accounts, audit) = match tokio::try_join!(
        state.store.list_accounts(Page::first(100)),
        state.store.list_audit(None, Page::first(50))
    ) {
        Ok(lists) => lists,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let when = |ms: i64| crate::cli::output::when(Some(ms_to_secs(ms)));
    let accounts: Vec<_> = accounts
        .iter()
        .map(|a| {
            context! { id => a.id, name => a.name, plan => a.plan, state => a.state.as_str(),
            reason => a.suspended_reason, created => when(a.created_at) }
        })
        .collect();
    let audit: Vec<_> = audit
        .iter()
        .map(|e| {
            context! { when => when(e.created_at), action => e.action, account => e.account_id.as_deref().unwrap_or("-"),
                       actor => format!("{}:{}", e.actor_type.as_str(), e.actor_id), target => e.target_id.as_deref().unwrap_or("-") }
        })
        .collect();
    render(
        StatusCode::OK,
        "dashboard.html",
        context! { operator => operator.username, accounts => accounts, audit => audit },
    )
}
