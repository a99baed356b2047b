//! Console sessions. The cookie holds only a random token; the session itself lives in the
//! database under the token's SHA-256 (`console_sessions`), so signing out, "sign out
//! everywhere" and a password change end it at once on every node, and a copy of the
//! database cannot be replayed as cookies.
//!
//! The cookie is `HttpOnly` and `SameSite=Lax` (Lax, not Strict, so a link into the console
//! from mail or a chat opens it signed in; every state change is a POST, which Lax never
//! sends cross-site, and carries a CSRF token besides). Over https it is `Secure` and named
//! `__Host-…`, which browsers accept only with `Path=/` and no `Domain`, so no subdomain can
//! plant or overwrite it; that is worth more than scoping the path, which is no boundary
//! within one origin. Over plain http (local use) it stays on `/console`.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, Key, SameSite};
use easel_core::time::now_ms;
use easel_db::{NewConsoleSession, Principal, PrincipalKind};
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};

use crate::app::AppState;
use crate::http::error::ApiError;

/// The session cookie's name (`__Host-easel_session` over https).
pub const COOKIE: &str = "easel_session";

/// The instance's signing key (derived from the instance secret, so every node agrees):
/// it keys CSRF tokens and the public forms' tokens.
#[derive(Clone)]
pub struct SessionKey(pub Key);

impl SessionKey {
    /// Derives the key from the instance secret (SHA-512 gives the 64 bytes it needs).
    pub fn from_secret(secret: &str) -> SessionKey {
        SessionKey(Key::from(&Sha512::digest(secret.as_bytes())))
    }
}

/// Whether cookies are `Secure` (the public URL is https).
pub fn secure(state: &AppState) -> bool {
    state.config.public_url().starts_with("https://")
}

/// A cookie named `name` (its `__Host-` form over https) with the console's attributes;
/// `max_age_ms: None` makes it a removal.
pub fn cookie(
    state: &AppState,
    name: &str,
    value: String,
    max_age_ms: Option<i64>,
) -> Cookie<'static> {
    let secure = secure(state);
    let (name, path) = if secure {
        (format!("__Host-{name}"), "/")
    } else {
        (name.to_string(), "/console")
    };
    let max_age = time::Duration::milliseconds(max_age_ms.unwrap_or(0));
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .build()
}

/// The value of the console cookie `name` (its `__Host-` form over https).
pub fn cookie_value(state: &AppState, headers: &HeaderMap, name: &str) -> Option<String> {
    let jar = CookieJar::from_headers(headers);
    let name = if secure(state) {
        format!("__Host-{name}")
    } else {
        name.to_string()
    };
    jar.get(&name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database keeps of a token: its SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn idle_ms(state: &AppState) -> i64 {
    minutes_ms(state.config.console.session_idle_minutes)
}

fn minutes_ms(minutes: u64) -> i64 {
    i64::try_from(minutes)
        .unwrap_or(i64::MAX)
        .saturating_mul(60_000)
}

/// Starts a session for `principal`; returns the cookie that carries it.
pub async fn start(
    state: &AppState,
    principal: Principal,
    ip: &str,
    user_agent: Option<&str>,
) -> Result<Cookie<'static>, ApiError> {
    let token = random_token();
    let absolute_ms = minutes_ms(state.config.console.session_max_hours.saturating_mul(60));
    let new = NewConsoleSession {
        id_hash: hash_token(&token),
        principal,
        now: now_ms(),
        idle_ms: idle_ms(state),
        absolute_ms,
        ip: Some(ip.to_string()),
        user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
    };
    state.store.create_console_session(new).await?;
    Ok(cookie(state, COOKIE, token, Some(absolute_ms)))
}

/// Ends the session the request carries, if any; returns the cookie that clears it.
pub async fn end(state: &AppState, headers: &HeaderMap) -> Result<Cookie<'static>, ApiError> {
    if let Some(token) = cookie_value(state, headers, COOKIE) {
        state
            .store
            .revoke_console_session(&hash_token(&token), now_ms())
            .await?;
    }
    Ok(cookie(state, COOKIE, String::new(), None))
}

/// The live session a request carries, with its id hash; requests without one are sent to
/// the sign-in page.
pub async fn live(
    parts: &Parts,
    state: &AppState,
) -> Result<(easel_db::ConsoleSession, String), Response> {
    let to_login = || Redirect::to("/console/login").into_response();
    let token = cookie_value(state, &parts.headers, COOKIE).ok_or_else(to_login)?;
    let id_hash = hash_token(&token);
    let session = state
        .store
        .touch_console_session(&id_hash, now_ms(), idle_ms(state))
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(to_login)?;
    Ok((session, id_hash))
}

/// Any live session (an operator's or a member's).
pub struct SignedIn(pub easel_db::ConsoleSession);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        live(parts, state)
            .await
            .map(|(session, _)| SignedIn(session))
    }
}

/// A signed-in operator. Requests without a live session are sent to the sign-in page;
/// a member's session to their own console.
pub struct Operator {
    pub username: String,
    /// The CSRF token of this session, for the page's forms.
    pub csrf: String,
}

impl Operator {
    /// The operator a live `session` signs in, if it is an operator's.
    pub async fn from_session(
        state: &AppState,
        session: &easel_db::ConsoleSession,
        id_hash: &str,
    ) -> Result<Operator, Response> {
        if session.principal.kind != PrincipalKind::Operator {
            return Err(Redirect::to("/console").into_response());
        }
        // The operator may have been removed since the session began.
        let operator = match state.store.get_operator_by_id(&session.principal.id).await {
            Ok(op) => op,
            Err(easel_db::DbError::NotFound) => {
                return Err(Redirect::to("/console/login").into_response());
            }
            Err(e) => return Err(ApiError::from(e).into_response()),
        };
        Ok(Operator {
            csrf: super::csrf::session_token(state, id_hash),
            username: operator.username,
        })
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (session, id_hash) = live(parts, state).await?;
        Operator::from_session(state, &session, &id_hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::{hash_token, random_token};

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }
}
