//! `/console/terms`: accepting a new version of the terms. Once an announced version is in
//! force, every console page sends a member who has not accepted it here first (see
//! `Member`); accepting records the version, time and client address on the person, as
//! sign-up does, audited as `user.terms_accepted`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use easel_core::audit::{Actor, ActorType};
use easel_db::AuditContext;
use minijinja::context;
use serde::Deserialize;

use super::member::Member;
use crate::app::AppState;
use crate::console::form::Form;
use crate::console::pages::render;
use crate::console::throttle::ClientIp;
use crate::http::error::ApiError;

fn page(member: &Member, status: StatusCode, error: Option<&str>) -> Response {
    let terms = &member.terms;
    let accepted = member.user.terms_version.as_deref() == Some(terms.current.as_str());
    // Until they accept, every other page leads back here: the sections are not shown.
    let section = if accepted { "" } else { "terms_gate" };
    let ctx = context! {
        layout => member.layout(section),
        version => terms.current,
        accepted => accepted,
        previous => member.user.terms_version,
        error => error,
    };
    render(status, "terms.html", ctx)
}

/// `GET /console/terms`.
pub async fn form(member: Member) -> Response {
    page(&member, StatusCode::OK, None)
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    version: String,
    /// The checkbox, absent when unticked.
    accept: Option<String>,
}

/// `POST /console/terms`: accepts the version the page showed (if it is still the one in
/// force: a page left open across a change shows the new one again).
pub async fn accept(
    state: AppState,
    member: Member,
    ClientIp(ip): ClientIp,
    Form(form): Form<AcceptForm>,
) -> Response {
    if form.accept.is_none() {
        return page(
            &member,
            StatusCode::BAD_REQUEST,
            Some("Tick the box to accept the terms, or sign out."),
        );
    }
    if form.version != member.terms.current {
        return page(
            &member,
            StatusCode::CONFLICT,
            Some("The terms changed while this page was open; here is the version now in force."),
        );
    }
    let actor = Actor {
        kind: ActorType::User,
        id: member.user.id.clone(),
    };
    let audit = AuditContext::new(actor, Some(member.caller.request_id.clone()));
    match state
        .store
        .accept_terms(&member.user.id, &member.terms.current, Some(&ip), audit)
        .await
    {
        Ok(()) => Redirect::to("/console").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
