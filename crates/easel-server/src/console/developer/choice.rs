//! `POST /console/switch`: which account (of the member's) and which mode the console
//! shows. Two cookies; the `Member` extractor checks the account against the memberships
//! on every request, so a forged cookie shows nothing new.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::member::{ACCOUNT_COOKIE, CHOICE_MS, MODE_COOKIE, Member};
use crate::app::AppState;
use crate::console::form::Form;
use crate::console::session;

/// What to switch to; either or both.
#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    account: Option<String>,
    mode: Option<String>,
}

/// Sets the choice and goes back to the page the form was on (same origin only).
pub async fn switch(
    state: AppState,
    member: Member,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<SwitchForm>,
) -> Response {
    let mut jar = jar;
    if let Some(account) = form
        .account
        .filter(|a| member.memberships.iter().any(|m| &m.account.id == a))
    {
        jar = jar.add(session::cookie(
            &state,
            ACCOUNT_COOKIE,
            account,
            Some(CHOICE_MS),
        ));
    }
    if let Some(mode) = form.mode.filter(|m| m == "test" || m == "live") {
        jar = jar.add(session::cookie(&state, MODE_COOKIE, mode, Some(CHOICE_MS)));
    }
    (jar, Redirect::to(&back(&state, &headers))).into_response()
}

/// The console page the request came from, or the overview.
fn back(state: &AppState, headers: &HeaderMap) -> String {
    let public = url::Url::parse(&state.config.public_url()).ok();
    headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|r| public.as_ref().is_some_and(|p| p.origin() == r.origin()))
        .map(|r| r.path().to_string())
        .filter(|p| p.starts_with("/console") && !p.starts_with("/console/switch"))
        .unwrap_or_else(|| "/console".into())
}
