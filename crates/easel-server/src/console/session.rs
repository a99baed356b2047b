//! Operator sessions: a signed, HttpOnly, SameSite=Strict cookie holding the username and
//! an expiry. Signed with a key derived from the instance secret, so every node accepts
//! every other node's sessions and a restart keeps them.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use easel_core::time::now_ms;
use sha2::{Digest, Sha512};

use crate::app::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "easel_session";
/// How long a session lasts.
const SESSION_MS: i64 = 12 * 3600 * 1000;

/// The key that signs session cookies.
#[derive(Clone)]
pub struct SessionKey(pub Key);

impl SessionKey {
    /// Derives the cookie key from the instance secret (SHA-512 gives the 64 bytes it needs).
    pub fn from_secret(secret: &str) -> SessionKey {
        SessionKey(Key::from(&Sha512::digest(secret.as_bytes())))
    }
}

impl axum::extract::FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.session_key.0.clone()
    }
}

/// A cookie starting a session for `username`.
pub fn start(username: &str, secure: bool) -> Cookie<'static> {
    let value = format!("{username}|{}", now_ms() + SESSION_MS);
    Cookie::build((COOKIE, value))
        .path("/console")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::milliseconds(SESSION_MS))
        .build()
}

/// A cookie that ends the session.
pub fn end() -> Cookie<'static> {
    Cookie::build((COOKIE, "")).path("/console").build()
}

/// A signed-in operator; requests without a valid session are sent to the login page.
pub struct Operator {
    pub username: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/console/login").into_response();
        let jar = SignedCookieJar::<Key>::from_request_parts(parts, state)
            .await
            .map_err(|_| to_login())?;
        let value = jar
            .get(COOKIE)
            .map(|c| c.value().to_string())
            .ok_or_else(to_login)?;
        let (username, expires) = value.rsplit_once('|').ok_or_else(to_login)?;
        if expires.parse::<i64>().map_or(true, |e| e <= now_ms()) {
            return Err(to_login());
        }
        // The operator may have been removed since the session began.
        state
            .store
            .get_operator(username)
            .await
            .map_err(|_| to_login())?;
        Ok(Operator {
            username: username.to_string(),
        })
    }
}
