//! Password reset by e-mailed link: `/console/password/forgot` (asks for the address and
//! always answers the same, so it tells nobody whether an address has an account) and
//! `/console/password/reset` (the link's form; setting the password ends every session of
//! the person and makes the link void).

use axum::Extension;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use easel_core::audit::{Actor, ActorType};
use easel_core::email::Email;
use easel_db::AuditContext;
use minijinja::context;
use serde::Deserialize;

use crate::app::AppState;
use crate::console::form::Form;
use crate::console::links::{self, Signed};
use crate::console::pages::render;
use crate::console::throttle::ClientIp;
use crate::console::{csrf, session};
use crate::http::error::ApiError;
use crate::http::middleware::RequestId;
use crate::limits::backoff::BackoffPolicy;
use crate::mail::Mail;
use crate::services::signup::check_password;

/// Reset mails per address and per client address before they pause (an hour, doubling):
/// enough for a person who lost a mail, too few to flood someone's inbox.
const RESET_POLICY: BackoffPolicy = BackoffPolicy {
    free: 3,
    base_ms: 3_600_000,
    max_ms: 24 * 3_600_000,
};

/// `GET /console/password/forgot`.
pub async fn forgot_form(state: AppState, headers: HeaderMap, jar: CookieJar) -> Response {
    let (cookie, token) = csrf::pre_session_form(&state, &headers);
    let page = render(
        StatusCode::OK,
        "forgot.html",
        context! { csrf => token, sent => false },
    );
    (jar.add(cookie), page).into_response()
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// `POST /console/password/forgot`: mails a reset link if the address has a password to
/// reset; the answer is the same either way.
pub async fn forgot(
    state: AppState,
    ClientIp(ip): ClientIp,
    Form(form): Form<ForgotForm>,
) -> Response {
    let sent = render(StatusCode::OK, "forgot.html", context! { sent => true });
    let Ok(email) = Email::parse(&form.email, "email").map(Email::into_inner) else {
        return sent;
    };
    let keys = [
        format!("console_reset:{email}"),
        format!("console_reset_ip:{ip}"),
    ];
    let keys = [keys[0].as_str(), keys[1].as_str()];
    if state.limiter.backoff_paused_ms(&keys).await > 0 {
        return sent;
    }
    state.limiter.backoff_fail(&keys, RESET_POLICY).await;
    let login = match state.store.user_login(&email).await {
        Ok(Some(login)) => login,
        Ok(None) => return sent,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let link = links::reset_url(&state, &login.user.id, login.password_hash.as_deref());
    let minutes = state.config.console.reset_link_minutes;
    let body = format!(
        "Someone (we hope you) asked to set a new password for {email} at {public}.\n\n\
         Choose a new password here:\n\n{link}\n\n\
         The link works once, for {minutes} minutes. If you did not ask, ignore this message: \
         your password stays as it is.\n",
        public = state.config.public_url()
    );
    state
        .mailer
        .send(Mail {
            to: email,
            subject: "Set a new password".into(),
            body,
        })
        .await;
    sent
}

fn invalid_link() -> Response {
    render(
        StatusCode::BAD_REQUEST,
        "notice.html",
        context! { title => "This link does not work", message => "The link is invalid, was used already, or has expired. Ask for a new one.", link => "/console/password/forgot", link_text => "Ask for a new link" },
    )
}

/// The person a reset link is for, if it is still good.
async fn linked_user(state: &AppState, link: &Signed) -> Result<easel_db::UserLogin, Response> {
    let user = match state.store.get_user(&link.user).await {
        Ok(user) => user,
        Err(easel_db::DbError::NotFound) => return Err(invalid_link()),
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    let login = match state.store.user_login(&user.email).await {
        Ok(Some(login)) => login,
        Ok(None) => return Err(invalid_link()),
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    if !links::reset_ok(state, link, login.password_hash.as_deref()) {
        return Err(invalid_link());
    }
    Ok(login)
}

/// `GET /console/password/reset?user=…&expires=…&sig=…`: the new-password form.
pub async fn reset_form(
    state: AppState,
    headers: HeaderMap,
    jar: CookieJar,
    Query(link): Query<Signed>,
) -> Response {
    if let Err(page) = linked_user(&state, &link).await {
        return page;
    }
    let (cookie, token) = csrf::pre_session_form(&state, &headers);
    let page = render(
        StatusCode::OK,
        "reset.html",
        context! { csrf => token, user => link.user, expires => link.expires, sig => link.sig },
    );
    (jar.add(cookie), page).into_response()
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    user: String,
    expires: i64,
    sig: String,
    #[serde(default)]
    password: String,
}

/// `POST /console/password/reset`: sets the password, ends every session of the person.
pub async fn reset(
    state: AppState,
    headers: HeaderMap,
    Extension(request_id): Extension<RequestId>,
    Form(form): Form<ResetForm>,
) -> Response {
    let link = Signed {
        user: form.user,
        expires: form.expires,
        sig: form.sig,
    };
    let login = match linked_user(&state, &link).await {
        Ok(login) => login,
        Err(page) => return page,
    };
    let again = |message: String| {
        let nonce = session::cookie_value(&state, &headers, csrf::LOGIN_COOKIE).unwrap_or_default();
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reset.html",
            context! { csrf => csrf::login_token(&state, &nonce), user => link.user, expires => link.expires, sig => link.sig, error => message },
        )
    };
    if let Err(e) = check_password(&form.password, &[&login.user.email]) {
        return again(e.message.to_string());
    }
    let hash = match crate::auth::passwords::hash(form.password).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => return again(ApiError::from(e).message.to_string()),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let actor = Actor {
        kind: ActorType::User,
        id: login.user.id.clone(),
    };
    let audit = AuditContext::new(actor, Some(request_id.0)).for_member(&login.user.id);
    if let Err(e) = state
        .store
        .set_user_password(&login.user.id, &hash, audit)
        .await
    {
        return ApiError::from(e).into_response();
    }
    render(
        StatusCode::OK,
        "notice.html",
        context! { title => "Password changed", message => "Your new password is set and every session you had is signed out.", link => "/console/login", link_text => "Sign in" },
    )
}
