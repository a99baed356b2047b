//! `/console/generations`: the account's generations in this mode with thumbnails, one
//! generation's inputs, outputs, cost, timings and events, and cancel and delete — the
//! API's own calls (`generations:read`, `generations:write`), through the same services.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use easel_core::ids::IdKind;
use easel_core::jobs::JobStatus;
use easel_core::roles::Scope;
use easel_core::time::now_ms;
use easel_db::{Generation, GenerationFilter, Page};
use minijinja::context;
use serde::Deserialize;

use super::keys::forbidden;
use super::member::Member;
use crate::app::AppState;
use crate::console::pages::render;
use crate::http::error::{ApiError, ApiResult};
use crate::outputs::Outputs;
use crate::services::{OrNotFound, generations};

/// Generations per page.
const PER_PAGE: u32 = 30;
/// How much of a prompt the list shows.
const PROMPT_CHARS: usize = 120;

fn when(ms: i64) -> String {
    crate::cli::output::when(Some(ms.div_euclid(1000)))
}

/// `?status=…&model=…&after=gen_…`
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    after: String,
}

/// An output as the console shows it: a URL relative to the page (its CSP allows images
/// and media from the page's own origin only).
fn outputs(state: &AppState, g: &Generation) -> Vec<minijinja::Value> {
    let now = now_ms();
    g.outputs
        .iter()
        .filter(|o| o.deleted_at.is_none() && o.expires_at > now)
        .map(|o| {
            let path = Outputs::url_path(&g.id, o.idx, &o.content_type);
            let (url, _) = state.outputs.signed_path(&path, now, o.expires_at);
            context! {
                url => url,
                video => o.content_type.starts_with("video/"),
                content_type => o.content_type,
                width => o.width, height => o.height,
                bytes => o.bytes,
                seconds => o.duration_ms.map(|ms| ms as f64 / 1000.0),
                expires => when(o.expires_at),
            }
        })
        .collect()
}

fn prompt(g: &Generation) -> String {
    let p = g.input.get("prompt").and_then(|p| p.as_str()).unwrap_or("");
    if p.chars().count() > PROMPT_CHARS {
        let mut short: String = p.chars().take(PROMPT_CHARS).collect();
        short.push('…');
        short
    } else {
        p.to_string()
    }
}

/// `GET /console/generations`.
pub async fn list(state: AppState, member: Member, Query(q): Query<ListQuery>) -> Response {
    if let Err(e) = member.require(Scope::GenerationsRead) {
        return forbidden(&member, e);
    }
    // A filter the page did not offer is ignored rather than refused: it came from a URL.
    let status = JobStatus::parse(&q.status);
    let model = Some(q.model.trim().to_string()).filter(|m| state.config.models.contains_key(m));
    let after = Some(q.after.clone()).filter(|id| IdKind::Generation.is_valid(id));
    let page = Page {
        limit: PER_PAGE,
        starting_after: after,
    };
    let filter = GenerationFilter {
        status,
        model: model.clone(),
    };
    let mut rows = match state
        .store
        .list_generations(&member.account.id, member.mode, filter, page)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // The store reads one row more than asked, to tell whether another page exists.
    let more = rows.len() > PER_PAGE as usize;
    rows.truncate(PER_PAGE as usize);
    let next = more.then(|| rows.last().map(|g| g.id.clone())).flatten();
    let items: Vec<_> = rows
        .iter()
        .map(|g| {
            context! {
                id => g.id,
                status => g.status.as_str(),
                model => g.model,
                prompt => prompt(g),
                credits => g.credits_charged.unwrap_or(g.credits_estimated),
                charged => g.credits_charged.is_some(),
                created => when(g.created_at),
                thumb => outputs(&state, g).into_iter().next(),
            }
        })
        .collect();
    let models: Vec<&String> = state.config.models.keys().collect();
    let statuses: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
    let ctx = context! {
        layout => member.layout("generations"),
        items => items,
        models => models,
        statuses => statuses,
        status => status.map(|s| s.as_str()).unwrap_or(""),
        model_q => model.as_deref().map(|m| form_urlencoded::byte_serialize(m.as_bytes()).collect::<String>()),
        model => model.unwrap_or_default(),
        next => next,
        may_play => member.may(Scope::GenerationsWrite),
    };
    render(StatusCode::OK, "generations.html", ctx)
}

/// The detail page, with an error when a form was refused.
async fn detail(
    state: &AppState,
    member: &Member,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let found: ApiResult<_> = async {
        member.require(Scope::GenerationsRead)?;
        if !IdKind::Generation.is_valid(id) {
            return Err(ApiError::not_found("generation", id));
        }
        let g = state
            .store
            .get_generation(&member.account.id, member.mode, id)
            .await
            .or_not_found("generation", id)?;
        let events = state
            .store
            .generation_events(&member.account.id, member.mode, id)
            .await?;
        let standing = generations::queue_standing(state, &g).await;
        Ok((g, events, standing))
    }
    .await;
    let (g, events, standing) = match found {
        Ok(found) => found,
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => return forbidden(member, e),
        Err(e) if e.code.status() == StatusCode::NOT_FOUND => {
            let ctx = context! {
                layout => member.layout("generations"),
                title => "No such generation",
                message => format!("There is no generation {id} in this account and mode."),
            };
            return render(StatusCode::NOT_FOUND, "member_notice.html", ctx);
        }
        Err(e) => return e.into_response(),
    };
    let mut input = g.input.clone();
    // The stored image's location is ours, not the developer's (as in the API's object).
    if let Some(image) = input.get_mut("input_image").and_then(|v| v.as_object_mut()) {
        image.remove("path");
    }
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let ms_between = |a: i64, b: Option<i64>| b.map(|b| b.saturating_sub(a));
    let events: Vec<_> = events
        .iter()
        .map(|e| context! { id => e.id, kind => e.event_type, when => when(e.created_at) })
        .collect();
    let ctx = context! {
        layout => member.layout("generations"),
        g => context! {
            id => g.id,
            status => g.status.as_str(),
            ended => g.status.is_terminal(),
            deleted => g.deleted_at.map(when),
            model => g.model,
            kind => g.kind.as_str(),
            input => pretty(&input),
            metadata => g.metadata.as_ref().map(pretty),
            end_user => g.end_user,
            licence => g.licence,
            estimated => g.credits_estimated,
            charged => g.credits_charged,
            error_code => g.error_code,
            error_message => g.error_message,
            created => when(g.created_at),
            started => g.started_at.map(when),
            finished => g.finished_at.map(when),
            waited_ms => g.started_at.map(|s| s.saturating_sub(g.created_at)),
            ran_ms => g.started_at.and_then(|s| ms_between(s, g.finished_at)),
            position => standing.position,
            eta => standing.eta_seconds,
            progress => standing.progress.map(|p| (p * 100.0).round() as i64),
            progress_message => standing.progress_message,
        },
        outputs => if g.deleted_at.is_some() { Vec::new() } else { outputs(state, &g) },
        events => events,
        may_write => member.may(Scope::GenerationsWrite),
        error => error,
    };
    render(status, "generation.html", ctx)
}

/// `GET /console/generations/{id}`.
pub async fn show(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    detail(&state, &member, &id, StatusCode::OK, None).await
}

/// What a cancel or delete did: back to the page, or the page again with the reason.
async fn after(
    state: &AppState,
    member: &Member,
    id: &str,
    to: String,
    result: ApiResult<Generation>,
) -> Response {
    match result {
        Ok(_) => Redirect::to(&to).into_response(),
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => forbidden(member, e),
        Err(e) => {
            detail(
                state,
                member,
                id,
                e.code.status(),
                Some(e.message.into_owned()),
            )
            .await
        }
    }
}

/// `POST /console/generations/{id}/cancel`.
pub async fn cancel(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    let result = async {
        member.require(Scope::GenerationsWrite)?;
        if !IdKind::Generation.is_valid(&id) {
            return Err(ApiError::not_found("generation", &id));
        }
        generations::cancel(&state, &member.caller, &id).await
    }
    .await;
    let to = format!("/console/generations/{id}");
    after(&state, &member, &id, to, result).await
}

/// `POST /console/generations/{id}/delete`.
pub async fn delete(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    let result = async {
        member.require(Scope::GenerationsWrite)?;
        if !IdKind::Generation.is_valid(&id) {
            return Err(ApiError::not_found("generation", &id));
        }
        generations::delete(&state, &member.caller, &id).await
    }
    .await;
    after(&state, &member, &id, "/console/generations".into(), result).await
}
