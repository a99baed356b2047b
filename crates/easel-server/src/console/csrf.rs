//! Cross-site request forgery defence for every console form, now and later.
//!
//! [`protect`] runs on the whole `/console` router and refuses any request other than
//! GET/HEAD/OPTIONS unless (1) its `Origin` (or, without one, its `Referer`) is the public
//! URL's origin, and (2) its form carries a `csrf` field with the right token:
//! - signed in: an HMAC of the session's id hash, so it is bound to the session;
//! - at sign-in (no session yet): an HMAC of a random pre-session nonce kept in an HttpOnly
//!   cookie set with the form, so a forged sign-in (into the attacker's account) fails too.
//!
//! Tokens are compared in constant time (`Mac::verify_slice`). A new form that forgets its
//! hidden `csrf` field is refused on its first test, which is the point of checking here
//! rather than in each handler. Pages render their forms' tokens from
//! [`super::session::Operator::csrf`] or [`login_token`].

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use hmac::{Hmac, Mac};
use minijinja::context;
use sha2::Sha256;

use super::session;
use crate::app::AppState;

/// The form field carrying the token.
pub const FIELD: &str = "csrf";
/// The pre-session cookie of the sign-in form.
pub const LOGIN_COOKIE: &str = "easel_login";
/// The forms sent before there is a session (sign-in, sign-up, password reset), checked
/// against the pre-session token.
pub const PRE_SESSION_PATHS: [&str; 5] = [
    "/console/login",
    "/console/invite",
    "/console/signup",
    "/console/password/forgot",
    "/console/password/reset",
];
/// Console forms are small; larger bodies are refused before parsing.
const MAX_FORM_BYTES: usize = 64 * 1024;

fn mac(state: &AppState, purpose: &str, value: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(state.session_key.0.signing()).ok()?;
    mac.update(b"easel console csrf.");
    mac.update(purpose.as_bytes());
    mac.update(b".");
    mac.update(value.as_bytes());
    Some(mac)
}

/// Hex HMAC of `value` for `purpose` under the instance key.
pub(super) fn token(state: &AppState, purpose: &str, value: &str) -> String {
    mac(state, purpose, value)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `given` is [`token`]`(purpose, value)`, in constant time.
pub(super) fn verify(state: &AppState, purpose: &str, value: &str, given: &str) -> bool {
    let (Some(mac), Ok(given)) = (mac(state, purpose, value), hex::decode(given)) else {
        return false;
    };
    mac.verify_slice(&given).is_ok()
}

/// The token of the signed-in session whose id hash is `id_hash`.
pub fn session_token(state: &AppState, id_hash: &str) -> String {
    token(state, "session", id_hash)
}

/// The sign-in form's token for a pre-session `nonce`.
pub fn login_token(state: &AppState, nonce: &str) -> String {
    token(state, "login", nonce)
}

/// A pre-session form's token, and the cookie carrying the nonce it is bound to (the one
/// the browser already has, or a new one).
pub fn pre_session_form(
    state: &AppState,
    headers: &HeaderMap,
) -> (axum_extra::extract::cookie::Cookie<'static>, String) {
    let nonce =
        session::cookie_value(state, headers, LOGIN_COOKIE).unwrap_or_else(session::random_token);
    let token = login_token(state, &nonce);
    (
        session::cookie(state, LOGIN_COOKIE, nonce, Some(PRE_SESSION_MS)),
        token,
    )
}

/// How long a pre-session form's nonce lasts.
const PRE_SESSION_MS: i64 = 3_600_000;

/// Whether `headers` say the request comes from the public URL's origin. `Origin` decides
/// when present (`null` included); else `Referer`; a request with neither (not a browser:
/// browsers send `Origin` on every POST) passes on its token alone.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let Ok(public) = url::Url::parse(&state.config.public_url()) else {
        return false;
    };
    let expected = public.origin().ascii_serialization();
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().is_ok_and(|o| o.trim() == expected);
    }
    match headers.get(header::REFERER) {
        Some(referer) => referer
            .to_str()
            .ok()
            .and_then(|r| url::Url::parse(r).ok())
            .is_some_and(|r| r.origin().ascii_serialization() == expected),
        None => true,
    }
}

/// Middleware: refuses state-changing console requests from another origin or without a
/// valid token (403 with a page saying what to do).
pub async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    if !same_origin(&state, request.headers()) {
        tracing::warn!(path = %request.uri().path(), origin = ?request.headers().get(header::ORIGIN), "refused a cross-origin console request");
        return refused("This form was sent from another site, so it was not accepted.");
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return super::pages::render(
            StatusCode::PAYLOAD_TOO_LARGE,
            "refused.html",
            context! { message => "This form is too large." },
        );
    };
    let given = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let valid = if PRE_SESSION_PATHS.contains(&parts.uri.path()) {
        session::cookie_value(&state, &parts.headers, LOGIN_COOKIE)
            .is_some_and(|nonce| verify(&state, "login", &nonce, &given))
    } else {
        session::cookie_value(&state, &parts.headers, session::COOKIE)
            .is_some_and(|t| verify(&state, "session", &session::hash_token(&t), &given))
    };
    if !valid {
        tracing::info!(path = %parts.uri.path(), "refused a console form without a valid CSRF token");
        return refused("This form has expired or did not come from this console.");
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn refused(message: &str) -> Response {
    super::pages::render(
        StatusCode::FORBIDDEN,
        "refused.html",
        context! { message => message },
    )
}
