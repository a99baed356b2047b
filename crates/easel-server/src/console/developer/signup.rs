//! `/console/signup`: a new account with its owner signed in and a first test key shown
//! once; `/console/verify`: the e-mailed link that opens live mode (or the operator's
//! review); resending that link.

use axum::Extension;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use easel_core::audit::{Actor, ActorType};
use easel_db::{AuditContext, Principal, PrincipalKind};
use minijinja::context;
use serde::Deserialize;

use super::member::Member;
use crate::app::AppState;
use crate::config::SignupMode;
use crate::console::form::Form;
use crate::console::links::{self, Signed};
use crate::console::pages::render;
use crate::console::throttle::ClientIp;
use crate::console::{csrf, session};
use crate::http::middleware::RequestId;
use crate::mail::Mail;
use crate::services::signup::{self, SignupSpec};

/// Accounts one client address may create before sign-up from it pauses (an hour,
/// doubling up to a day).
const SIGNUP_POLICY: crate::limits::backoff::BackoffPolicy =
    crate::limits::backoff::BackoffPolicy {
        free: 5,
        base_ms: 3_600_000,
        max_ms: 24 * 3_600_000,
    };

/// The sign-up form's fields, kept to fill the form again after an error.
#[derive(Debug, Default, Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    business_name: String,
    #[serde(default)]
    legal_name: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phone: String,
    /// Checkboxes are absent when unticked.
    adult: Option<String>,
    terms: Option<String>,
}

fn form_page(
    state: &AppState,
    terms: &str,
    status: StatusCode,
    token: &str,
    form: &SignupForm,
    error: Option<(&str, &str)>,
) -> Response {
    let ctx = context! {
        csrf => token,
        f => context! {
            email => form.email, business_name => form.business_name, legal_name => form.legal_name,
            country => form.country, address => form.address, phone => form.phone,
            adult => form.adult.is_some(), terms => form.terms.is_some(),
        },
        error => error.map(|(_, message)| message),
        error_field => error.map(|(field, _)| field),
        terms_version => terms,
        approval => state.config.console.signup == SignupMode::Approval,
        closed => state.config.console.signup == SignupMode::Closed,
    };
    render(status, "signup.html", ctx)
}

/// `GET /console/signup`.
pub async fn form(state: AppState, headers: HeaderMap, jar: CookieJar) -> Response {
    let (cookie, token) = csrf::pre_session_form(&state, &headers);
    let status = if state.config.console.signup == SignupMode::Closed {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    let terms = current_terms(&state).await;
    let page = form_page(&state, &terms, status, &token, &SignupForm::default(), None);
    (jar.add(cookie), page).into_response()
}

/// The terms version in force, which sign-up shows and records (the configured one if the
/// announced versions cannot be read: a page must not fail for that).
async fn current_terms(state: &AppState) -> String {
    match crate::services::terms::now(state).await {
        Ok(terms) => terms.current,
        Err(e) => {
            tracing::warn!(error = %e.message, "could not read the terms versions");
            state.config.terms_version.clone()
        }
    }
}

/// `POST /console/signup`: creates the account, mails the verification link, signs the
/// owner in and shows the first test key once.
pub async fn submit(
    state: AppState,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Extension(request_id): Extension<RequestId>,
    Form(form): Form<SignupForm>,
) -> Response {
    let nonce = session::cookie_value(&state, &headers, csrf::LOGIN_COOKIE).unwrap_or_default();
    let token = csrf::login_token(&state, &nonce);
    let terms = current_terms(&state).await;
    let throttle_key = format!("console_signup:{ip}");
    let paused = state.limiter.backoff_paused_ms(&[&throttle_key]).await;
    if paused > 0 {
        let minutes = paused.div_euclid(60_000) + 1;
        let message = format!(
            "Too many accounts were created from your address. Try again in {minutes} minutes."
        );
        let mut page = form_page(
            &state,
            &terms,
            StatusCode::TOO_MANY_REQUESTS,
            &token,
            &form,
            Some(("", &message)),
        );
        let seconds = paused.div_euclid(1000).max(1).to_string();
        if let Ok(v) = axum::http::HeaderValue::from_str(&seconds) {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return page;
    }
    let spec = SignupSpec {
        email: form.email.trim().to_string(),
        password: form.password.clone(),
        business_name: form.business_name.clone(),
        legal_name: form.legal_name.clone(),
        country: form.country.clone(),
        address: form.address.clone(),
        phone: Some(form.phone.clone()),
        adult: form.adult.is_some(),
        accepts_terms: form.terms.is_some(),
        ip: ip.clone(),
    };
    let done = match signup::sign_up(&state, spec, request_id.0).await {
        Ok(done) => done,
        Err(e) => {
            let status = if e.code == crate::http::error::ErrorCode::signup_closed {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let message = if e.code == crate::http::error::ErrorCode::email_taken {
                "An account with this e-mail address exists already. Sign in, or reset its password.".to_string()
            } else {
                e.message.to_string()
            };
            let field = e.param.clone().unwrap_or_default();
            return form_page(
                &state,
                &terms,
                status,
                &token,
                &form,
                Some((&field, &message)),
            );
        }
    };
    // Every account made counts against the address: a few are free (an office, a class),
    // then each waits longer.
    state
        .limiter
        .backoff_fail(&[&throttle_key], SIGNUP_POLICY)
        .await;
    send_verification(&state, &done.owner.id, &done.owner.email).await;
    let principal = Principal {
        kind: PrincipalKind::User,
        id: done.owner.id.clone(),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let cookie = match session::start(&state, principal, &ip, user_agent).await {
        Ok(cookie) => cookie,
        Err(e) => return e.into_response(),
    };
    let clear = session::cookie(&state, csrf::LOGIN_COOKIE, String::new(), None);
    let id_hash = session::hash_token(cookie.value());
    let ctx = context! {
        email => done.owner.email,
        account => done.account.name,
        key_name => done.key.name,
        secret => done.secret,
        csrf => csrf::session_token(&state, &id_hash),
    };
    // The page holds a secret: `render` marks it `no-store`.
    let page = render(StatusCode::CREATED, "welcome.html", ctx);
    (jar.add(cookie).add(clear), page).into_response()
}

/// Mails the verification link (failures are logged by the mailer, never shown).
async fn send_verification(state: &AppState, user_id: &str, email: &str) {
    let link = links::verify_url(state, user_id, email);
    let hours = state.config.console.verify_link_hours;
    let body = format!(
        "Welcome to {public}.\n\nConfirm your e-mail address to open live mode:\n\n{link}\n\n\
         The link works for {hours} hours. Test mode works already.\n\
         If you did not sign up, ignore this message.\n",
        public = state.config.public_url()
    );
    state
        .mailer
        .send(Mail {
            to: email.to_string(),
            subject: "Confirm your e-mail address".into(),
            body,
        })
        .await;
}

/// `GET /console/verify?user=…&expires=…&sig=…`: the link from the sign-up e-mail. Works
/// without a session (people open mail on another device).
pub async fn verify(
    state: AppState,
    Extension(request_id): Extension<RequestId>,
    Query(link): Query<Signed>,
) -> Response {
    let invalid = || {
        render(
            StatusCode::BAD_REQUEST,
            "notice.html",
            context! { title => "This link does not work", message => "The link is invalid or has expired. Sign in and ask for a new one from the overview page." },
        )
    };
    let user = match state.store.get_user(&link.user).await {
        Ok(user) => user,
        Err(easel_db::DbError::NotFound) => return invalid(),
        Err(e) => return crate::http::error::ApiError::from(e).into_response(),
    };
    if !links::verify_ok(&state, &link, &user.email) {
        return invalid();
    }
    let actor = Actor {
        kind: ActorType::User,
        id: user.id.clone(),
    };
    let audit = AuditContext::new(actor, Some(request_id.0)).for_member(&user.id);
    let next = signup::after_verification(&state);
    if let Err(e) = state
        .store
        .verify_email(&user.id, &user.email, next, audit)
        .await
    {
        return crate::http::error::ApiError::from(e).into_response();
    }
    // This node's cached credentials of the accounts now open; other nodes see the change
    // through their change poll.
    if let Ok(memberships) = state.store.memberships(&user.id).await {
        for m in memberships {
            state.auth.invalidate_account(&m.account.id);
        }
    }
    let message = match next {
        None => "Your e-mail address is confirmed and live mode is open.",
        Some(_) => {
            "Your e-mail address is confirmed. Live mode opens once the operator has approved your account; you will get an e-mail."
        }
    };
    render(
        StatusCode::OK,
        "notice.html",
        context! { title => "E-mail address confirmed", message => message, link => "/console", link_text => "Open the console" },
    )
}

/// `POST /console/verify/resend`: a new link to the signed-in member's address.
pub async fn resend(state: AppState, member: Member) -> Response {
    if member.user.email_verified_at.is_none() {
        send_verification(&state, &member.user.id, &member.user.email).await;
    }
    render(
        StatusCode::OK,
        "notice.html",
        context! { title => "Link sent", message => format!("A new confirmation link is on its way to {}.", member.user.email), link => "/console", link_text => "Back to the overview" },
    )
}
