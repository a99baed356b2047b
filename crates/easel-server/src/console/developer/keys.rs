//! `/console/keys`: the account's keys in the current mode; create one (name, scopes,
//! model allow-list, spend cap, expiry) with its secret shown once; rotate one's secret
//! with a grace period; revoke. Every action is the API's use case with the API's rules
//! (`services::keys`, `auth::rules::key_action`), called for the signed-in member.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use easel_core::roles::Scope;
use easel_core::time::now_ms;
use easel_db::{ApiKey, Page};
use minijinja::context;
use serde::Deserialize;

use super::member::Member;
use crate::app::AppState;
use crate::auth::rules::KeyAction;
use crate::console::form::Form;
use crate::console::pages::render;
use crate::http::error::{ApiError, ErrorCode};
use crate::services::keys::{self, KeySpec};

/// Keys listed on one page (the newest).
const LISTED: u32 = 100;

fn when(ms: Option<i64>) -> String {
    ms.map(|ms| crate::cli::output::when(Some(ms.div_euclid(1000))))
        .unwrap_or_else(|| "never".into())
}

fn key_row(key: &ApiKey, member: &Member, now: i64) -> minijinja::Value {
    let state = if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|t| t <= now) {
        "expired"
    } else if key.cooldown_until.is_some_and(|t| t > now) {
        "cooling down"
    } else {
        "active"
    };
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    context! {
        id => key.id,
        name => key.name,
        prefix => key.display_prefix,
        state => state,
        revoked => key.revoked_at.is_some(),
        mine => key.user_id == member.user.id,
        scopes => if scopes.len() == Scope::ALL.len() { "all".to_string() } else { scopes.join(", ") },
        models => key.allowed_models.as_ref().map(|m| m.join(", ")),
        cap => key.spend_cap.map(|c| format!("{} credits per {}", c.credits, serde_json::to_value(c.period).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())),
        created => when(Some(key.created_at)),
        last_used => when(key.last_used_at),
        expires => key.expires_at.map(|t| when(Some(t))),
        cooldown_until => key.cooldown_until.filter(|t| *t > now).map(|t| when(Some(t))),
    }
}

/// The page, with an error or a new secret when a form just ran.
async fn keys_page(
    state: &AppState,
    member: &Member,
    status: StatusCode,
    error: Option<String>,
    created: Option<(ApiKey, String)>,
) -> Response {
    if let Err(e) = member.require(Scope::KeysRead) {
        return forbidden(member, e);
    }
    let keys = match state
        .store
        .list_keys(&member.account.id, Some(member.mode), Page::first(LISTED))
        .await
    {
        Ok(keys) => keys,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let now = now_ms();
    let rows: Vec<_> = keys.iter().map(|k| key_row(k, member, now)).collect();
    let grantable: Vec<&str> = member
        .caller
        .effective_scopes()
        .iter()
        .map(|s| s.as_str())
        .collect();
    let ctx = context! {
        layout => member.layout("keys"),
        keys => rows,
        may_write => member.may(Scope::KeysWrite),
        live_refused => member.mode.is_live() && member.account.live_blocked.is_some(),
        scopes => grantable,
        error => error,
        created => created.map(|(k, secret)| context! { name => k.name, secret => secret }),
        grace_hours => state.config.api_keys.rotation_grace_hours,
    };
    render(status, "keys.html", ctx)
}

/// A 403 page in the console's layout, saying what the role lacks.
pub fn forbidden(member: &Member, e: ApiError) -> Response {
    let ctx =
        context! { layout => member.layout(""), title => "Not allowed", message => e.message };
    render(StatusCode::FORBIDDEN, "member_notice.html", ctx)
}

/// `GET /console/keys`.
pub async fn list(state: AppState, member: Member) -> Response {
    keys_page(&state, &member, StatusCode::OK, None, None).await
}

/// The create form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    /// Space- or comma-separated; empty: every scope the role allows.
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    models: String,
    #[serde(default)]
    cap_credits: String,
    #[serde(default)]
    cap_period: String,
    /// Days from now; empty: never.
    #[serde(default)]
    expires_days: String,
}

fn words(s: &str) -> Option<Vec<String>> {
    let list: Vec<String> = s
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    (!list.is_empty()).then_some(list)
}

fn spec(form: CreateForm, now: i64) -> Result<KeySpec, ApiError> {
    let cap = match form.cap_credits.trim() {
        "" => None,
        n => {
            let credits = n.parse::<i64>().map_err(|_| {
                ApiError::invalid(
                    "spend_cap.credits",
                    "The spend cap is a whole number of credits.",
                )
            })?;
            let period = serde_json::from_value(serde_json::Value::String(form.cap_period.clone()))
                .map_err(|_| {
                    ApiError::invalid(
                        "spend_cap.period",
                        "The spend cap's period is `day` or `month`.",
                    )
                })?;
            Some(easel_core::credits::SpendCap { credits, period })
        }
    };
    let expires_at = match form.expires_days.trim() {
        "" => None,
        n => {
            let days = n
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| {
                    ApiError::invalid("expires_at", "Expiry is 1 to 3650 days from now.")
                })?;
            Some(now.div_euclid(1000) + days * 86_400)
        }
    };
    Ok(KeySpec {
        name: form.name,
        scopes: words(&form.scopes),
        allowed_models: words(&form.models),
        expires_at,
        spend_cap: cap,
    })
}

/// `POST /console/keys`: a new key for the member in the current mode; the page shows its
/// secret once (and is never cached).
pub async fn create(state: AppState, member: Member, Form(form): Form<CreateForm>) -> Response {
    if let Err(e) = member.require(Scope::KeysWrite) {
        return forbidden(&member, e);
    }
    if let (true, Some(block)) = (member.mode.is_live(), member.account.live_blocked) {
        let e = ApiError::new(ErrorCode::live_mode_unavailable, block.message());
        return keys_page(
            &state,
            &member,
            StatusCode::FORBIDDEN,
            Some(e.message.to_string()),
            None,
        )
        .await;
    }
    let now = now_ms();
    let result = match spec(form, now) {
        Ok(spec) => {
            let grantable = member.caller.effective_scopes();
            keys::create(
                &state,
                &member.account.id,
                &member.user.id,
                member.mode,
                spec,
                &grantable,
                member.caller.audit(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(created) => keys_page(&state, &member, StatusCode::CREATED, None, Some(created)).await,
        Err(e) => {
            let message = e.message.to_string();
            keys_page(&state, &member, e.code.status(), Some(message), None).await
        }
    }
}

/// The keys page after an action: with a new secret, or the API's refusal.
async fn after(
    state: &AppState,
    member: &Member,
    result: Result<Option<(ApiKey, String)>, ApiError>,
) -> Response {
    match result {
        Ok(None) => Redirect::to("/console/keys").into_response(),
        Ok(shown) => keys_page(state, member, StatusCode::OK, None, shown).await,
        Err(e) => {
            let message = e.message.to_string();
            keys_page(state, member, e.code.status(), Some(message), None).await
        }
    }
}

/// `POST /console/keys/{id}/rotate`: a new secret, shown once; the old one works for the
/// configured grace period.
pub async fn rotate(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    let result = async {
        member.require(Scope::KeysWrite)?;
        keys::authorize_member_action(&state, &member.caller, &id, KeyAction::Rotate).await?;
        let audit = member.caller.audit();
        keys::rotate(
            &state,
            &member.account.id,
            Some(member.mode),
            &id,
            None,
            audit,
        )
        .await
    }
    .await;
    after(&state, &member, result.map(Some)).await
}

/// `POST /console/keys/{id}/revoke`: at once, on every node within a second.
pub async fn revoke(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    let result = async {
        member.require(Scope::KeysWrite)?;
        keys::authorize_member_action(&state, &member.caller, &id, KeyAction::Revoke).await?;
        let audit = member.caller.audit();
        keys::revoke(&state, &member.account.id, Some(member.mode), &id, audit).await
    }
    .await;
    after(&state, &member, result.map(|_| None)).await
}
