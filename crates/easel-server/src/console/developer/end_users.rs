//! `/console/end_users`: the developer's own end users (the `user` of their requests) that
//! were struck by moderation or blocked, with block and unblock — the API's calls
//! (`GET /v1/end_users` under `logs:read`, block/unblock under `generations:write`).

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use easel_core::roles::Scope;
use easel_db::{EndUserFilter, Page};
use minijinja::context;
use serde::Deserialize;

use super::keys::forbidden;
use super::member::Member;
use crate::app::AppState;
use crate::console::form::Form;
use crate::console::pages::render;
use crate::http::error::ApiResult;
use crate::services::OrNotFound;
use crate::services::generations::check_user;
use crate::services::text;

/// End users per page.
const PER_PAGE: u32 = 50;

/// `?blocked=true|false&after=…`
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    blocked: String,
    #[serde(default)]
    after: String,
}

/// The page, with an error when a form was refused.
async fn list_page(
    state: &AppState,
    member: &Member,
    q: &ListQuery,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let found: ApiResult<_> = async {
        member.require(Scope::LogsRead)?;
        let after = Some(q.after.trim().to_string()).filter(|a| !a.is_empty());
        if let Some(cursor) = &after {
            check_user("after", cursor)?;
        }
        let filter = EndUserFilter {
            blocked: match q.blocked.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
        };
        let page = Page {
            limit: PER_PAGE,
            starting_after: after,
        };
        Ok(state
            .store
            .list_end_users(&member.account.id, member.mode, filter, page)
            .await?)
    }
    .await;
    let mut users = match found {
        Ok(users) => users,
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => return forbidden(member, e),
        Err(e) => return e.into_response(),
    };
    let more = users.len() > PER_PAGE as usize;
    users.truncate(PER_PAGE as usize);
    let when = |ms: Option<i64>| ms.map(|ms| crate::cli::output::when(Some(ms.div_euclid(1000))));
    let rows: Vec<_> = users
        .iter()
        .map(|u| {
            context! {
                user => u.user,
                // The id in a URL path: every byte outside [A-Za-z0-9*-._] percent-encoded.
                path => form_urlencoded::byte_serialize(u.user.as_bytes()).collect::<String>(),
                strikes => u.strikes, last_strike => when(u.last_strike_at),
                blocked => u.blocked_at.is_some(), blocked_at => when(u.blocked_at),
                reason => u.blocked_reason,
            }
        })
        .collect();
    let next = more
        .then(|| {
            users
                .last()
                .map(|u| form_urlencoded::byte_serialize(u.user.as_bytes()).collect::<String>())
        })
        .flatten();
    let ctx = context! {
        layout => member.layout("end_users"),
        rows => rows,
        blocked => q.blocked,
        next => next,
        may_write => member.may(Scope::GenerationsWrite),
        error => error,
    };
    render(status, "end_users.html", ctx)
}

/// `GET /console/end_users`.
pub async fn list(state: AppState, member: Member, Query(q): Query<ListQuery>) -> Response {
    list_page(&state, &member, &q, StatusCode::OK, None).await
}

/// The block button's form (a reason, optional).
#[derive(Debug, Deserialize)]
pub struct BlockForm {
    #[serde(default)]
    reason: String,
}

/// The "block an end user" form: the id typed in.
#[derive(Debug, Deserialize)]
pub struct BlockNewForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    reason: String,
}

/// Blocks `user`; an end user never seen before is recorded blocked, as the API does.
async fn set_blocked(state: &AppState, member: &Member, user: &str, reason: &str) -> ApiResult<()> {
    member.require(Scope::GenerationsWrite)?;
    check_user("user", user)?;
    let reason = match reason.trim() {
        "" => None,
        r => Some(text::required("reason", r, 500)?),
    };
    let audit = member.caller.audit();
    state
        .store
        .set_end_user_blocked(&member.account.id, member.mode, user, Some(reason), audit)
        .await?;
    Ok(())
}

/// `POST /console/end_users/{user}/block`.
pub async fn block(
    state: AppState,
    member: Member,
    Path(user): Path<String>,
    Form(form): Form<BlockForm>,
) -> Response {
    let result = set_blocked(&state, &member, &user, &form.reason).await;
    after(&state, &member, result).await
}

/// `POST /console/end_users/block`: block an end user by the id typed in.
pub async fn block_new(
    state: AppState,
    member: Member,
    Form(form): Form<BlockNewForm>,
) -> Response {
    let result = set_blocked(&state, &member, form.user.trim(), &form.reason).await;
    after(&state, &member, result).await
}

/// `POST /console/end_users/{user}/unblock`.
pub async fn unblock(state: AppState, member: Member, Path(user): Path<String>) -> Response {
    let result = async {
        member.require(Scope::GenerationsWrite)?;
        check_user("user", &user)?;
        let audit = member.caller.audit();
        state
            .store
            .set_end_user_blocked(&member.account.id, member.mode, &user, None, audit)
            .await
            .or_not_found("end_user", &user)
    }
    .await;
    after(&state, &member, result.map(|_| ())).await
}

async fn after(state: &AppState, member: &Member, result: ApiResult<()>) -> Response {
    match result {
        Ok(()) => Redirect::to("/console/end_users").into_response(),
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => forbidden(member, e),
        Err(e) => {
            let message = e.message.to_string();
            let q = ListQuery::default();
            list_page(state, member, &q, e.code.status(), Some(message)).await
        }
    }
}
