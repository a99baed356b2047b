//! `/console/playground`: a form that makes a generation through the API's own service, so
//! every check of `POST /v1/generations` applies (validation, moderation, plan, limits,
//! credits). In test mode it generates at once; in live mode it first shows the price and
//! generates only once the member confirms it.
//!
//! A generation belongs to an API key, so the playground's are made with a key of the
//! member's own named "Console playground" (generations only), made on first use and
//! listed with their other keys: usage by key shows what the playground spent, and
//! revoking the key is how a member stops theirs.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use easel_core::roles::Scope;
use easel_core::time::now_ms;
use easel_db::Page;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::keys::forbidden;
use super::member::Member;
use crate::app::AppState;
use crate::auth::Caller;
use crate::console::form::Form;
use crate::console::pages::render;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::services::generations::{self, GenerationSpec};
use crate::services::keys::{self, KeySpec};

/// The name of the key the playground generates with.
pub const PLAYGROUND_KEY: &str = "Console playground";
/// Pages of keys looked through for it (100 each).
const KEY_PAGES: usize = 10;

/// The form, as typed: numbers stay text until checked, so a bad one is named, not a 422.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct PlayForm {
    #[serde(default)]
    model: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    negative_prompt: String,
    /// `WIDTHxHEIGHT`, one of the model's sizes.
    #[serde(default)]
    size: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    seed: String,
    #[serde(default)]
    duration_seconds: String,
    #[serde(default)]
    fps: String,
    /// `yes` once a live-mode price was shown and accepted.
    #[serde(default)]
    confirm: String,
}

fn number<T: std::str::FromStr>(param: &'static str, text: &str) -> ApiResult<Option<T>> {
    match text.trim() {
        "" => Ok(None),
        t => t
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(param, format!("`{param}` must be a whole number."))),
    }
}

impl PlayForm {
    fn spec(&self) -> ApiResult<GenerationSpec> {
        let (width, height) = match self.size.trim() {
            "" => (None, None),
            size => {
                let parsed = size
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
                let Some((w, h)) = parsed else {
                    return Err(ApiError::invalid(
                        "size",
                        "Choose a size such as 1024x1024.",
                    ));
                };
                (Some(w), Some(h))
            }
        };
        let negative = Some(self.negative_prompt.trim().to_string()).filter(|n| !n.is_empty());
        Ok(GenerationSpec {
            model: self.model.trim().to_string(),
            prompt: self.prompt.clone(),
            negative_prompt: negative,
            width,
            height,
            n: number("n", &self.n)?,
            seed: number("seed", &self.seed)?,
            duration_seconds: number("duration_seconds", &self.duration_seconds)?,
            fps: number("fps", &self.fps)?,
            ..GenerationSpec::default()
        })
    }
}

/// The models the account's plan includes, with their sizes, for the form.
fn models(state: &AppState, member: &Member) -> Vec<minijinja::Value> {
    state
        .config
        .models
        .iter()
        .filter(|(_, m)| {
            m.enabled && (m.plans.is_empty() || m.plans.contains(&member.account.plan))
        })
        .map(|(id, m)| {
            context! {
                id => id, kind => m.kind.as_str(), description => m.description,
                sizes => m.sizes, max_n => m.max_n, durations => m.durations, fps => m.fps,
            }
        })
        .collect()
}

fn page(
    state: &AppState,
    member: &Member,
    form: &PlayForm,
    status: StatusCode,
    error: Option<String>,
    quote: Option<minijinja::Value>,
) -> Response {
    let ctx = context! {
        layout => member.layout("playground"),
        models => models(state, member),
        form => form,
        error => error,
        quote => quote,
    };
    render(status, "playground.html", ctx)
}

/// `GET /console/playground`.
pub async fn form(state: AppState, member: Member) -> Response {
    if let Err(e) = member.require(Scope::GenerationsWrite) {
        return forbidden(&member, e);
    }
    let mut form = PlayForm::default();
    if let Some(first) = models(&state, &member).first()
        && let Some(id) = first
            .get_attr("id")
            .ok()
            .and_then(|v| v.as_str().map(String::from))
    {
        form.model = id;
    }
    page(&state, &member, &form, StatusCode::OK, None, None)
}

/// The member's playground key in this account and mode, made on first use.
async fn playground_key(state: &AppState, member: &Member) -> ApiResult<String> {
    let now = now_ms();
    let mut page = Page::first(100);
    for _ in 0..KEY_PAGES {
        let found = state
            .store
            .list_keys(&member.account.id, Some(member.mode), page.clone())
            .await?;
        let usable = found.iter().find(|k| {
            k.user_id == member.user.id
                && k.name == PLAYGROUND_KEY
                && k.revoked_at.is_none()
                && k.expires_at.is_none_or(|at| at > now)
        });
        if let Some(key) = usable {
            return Ok(key.id.clone());
        }
        if found.len() <= 100 {
            break;
        }
        page.starting_after = found.get(99).map(|k| k.id.clone());
    }
    let spec = KeySpec {
        name: PLAYGROUND_KEY.to_string(),
        scopes: Some(vec![
            Scope::GenerationsRead.as_str().to_string(),
            Scope::GenerationsWrite.as_str().to_string(),
        ]),
        ..KeySpec::default()
    };
    let (key, _secret) = keys::create(
        state,
        &member.account.id,
        &member.user.id,
        member.mode,
        spec,
        &member.caller.effective_scopes(),
        member.caller.audit(),
    )
    .await?;
    Ok(key.id)
}

/// The playground's caller: the member, acting through their playground key (whose
/// scopes are generations only), under the same account rules as that key's requests.
async fn caller(state: &AppState, member: &Member) -> ApiResult<Caller> {
    member.require(Scope::GenerationsWrite)?;
    let account = &member.account;
    crate::auth::account_admits(
        account.state,
        account.suspended_until,
        account.live_blocked,
        member.mode,
        now_ms(),
    )?;
    let mut caller = member.caller.clone();
    caller.key_id = playground_key(state, member).await?;
    caller.key_scopes = vec![Scope::GenerationsRead, Scope::GenerationsWrite];
    Ok(caller)
}

/// Counts the playground's request against the key's and account's request limits, as
/// the API's limits middleware does for `POST /v1/generations`.
async fn admit(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !state.config.limits.enabled {
        return Ok(());
    }
    let limits =
        crate::limits::Limits::resolve(&state.config, &caller.plan, &caller.account_limits);
    let (policies, buckets) =
        state
            .limiter
            .policies(&caller.key_id, &caller.account_id, caller.mode, &limits);
    let decision = state
        .limiter
        .check(&caller.account_id, policies, &buckets, true)
        .await;
    if decision.admitted {
        return Ok(());
    }
    let wait = decision
        .states
        .iter()
        .filter(|s| s.exceeded)
        .map(|s| s.reset_seconds)
        .max()
        .unwrap_or(1);
    Err(ApiError::new(
        ErrorCode::rate_limit_exceeded,
        format!("Too many requests for your plan's limits; try again in {wait} s."),
    ))
}

/// `POST /console/playground`.
pub async fn submit(state: AppState, member: Member, Form(form): Form<PlayForm>) -> Response {
    let result: ApiResult<Result<String, minijinja::Value>> = async {
        let caller = caller(&state, &member).await?;
        let spec = form.spec()?;
        if member.mode.is_live() && form.confirm != "yes" {
            // The price first: nothing is held or charged until the member accepts it.
            let v = generations::validate(&state, &caller, spec)?;
            let available = state
                .store
                .balance(&caller.account_id, caller.mode)
                .await?
                .available();
            return Ok(Err(context! {
                credits => v.credits,
                eur => easel_core::models::credits_to_eur(v.credits),
                available => available,
                enough => v.credits <= available,
            }));
        }
        admit(&state, &caller).await?;
        let enqueued = generations::create(&state, &caller, spec).await?;
        Ok(Ok(enqueued.generation.id))
    }
    .await;
    match result {
        Ok(Ok(id)) => Redirect::to(&format!("/console/generations/{id}")).into_response(),
        Ok(Err(quote)) => page(&state, &member, &form, StatusCode::OK, None, Some(quote)),
        Err(e)
            if e.code.status() == StatusCode::FORBIDDEN
                && e.code == ErrorCode::insufficient_role =>
        {
            forbidden(&member, e)
        }
        Err(e) => {
            let status = e.code.status();
            page(
                &state,
                &member,
                &form,
                status,
                Some(e.message.into_owned()),
                None,
            )
        }
    }
}
