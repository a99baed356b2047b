//! `/console/webhooks`: the account's endpoints in the current mode; create one (its signing
//! secret shown once); per endpoint, change its events and description, disable or enable
//! it, rotate its secret (the old one keeps signing for the overlap), delete it, and read its
//! delivery log (status, attempts with latency and the start of each response body) with a
//! replay button. Every action is the API's use case (`services::webhooks`, the store calls
//! the API makes) under the API's scopes.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use easel_core::roles::Scope;
use easel_db::{EnabledEvents, Page, WebhookDelivery, WebhookEndpoint};
use minijinja::context;
use serde::Deserialize;

use super::keys::forbidden;
use super::member::Member;
use crate::app::AppState;
use crate::console::form::Form;
use crate::console::pages::render;
use crate::http::error::{ApiError, ApiResult};
use crate::services::OrNotFound;
use crate::services::webhooks::{self as service, EndpointPatchSpec, EndpointSpec};

/// Deliveries shown on an endpoint's page (the newest).
const DELIVERIES: u32 = 50;

fn when(ms: Option<i64>) -> Option<String> {
    ms.map(|ms| crate::cli::output::when(Some(ms.div_euclid(1000))))
}

fn events_text(events: &EnabledEvents) -> String {
    match events {
        EnabledEvents::All => "*".into(),
        EnabledEvents::Only(types) => types.join(" "),
    }
}

/// Space- or comma-separated event types; empty or `*`: every type.
fn events_list(s: &str) -> Option<Vec<String>> {
    let list: Vec<String> = s
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    (!list.is_empty()).then_some(list)
}

fn endpoint_row(e: &WebhookEndpoint) -> minijinja::Value {
    context! {
        id => e.id,
        url => e.url,
        description => e.description,
        events => events_text(&e.enabled_events),
        disabled => e.disabled_at.is_some(),
        disabled_reason => e.disabled_reason,
        failing_since => when(e.failing_since),
        created => when(Some(e.created_at)),
    }
}

fn delivery_row(d: &WebhookDelivery) -> minijinja::Value {
    let attempts: Vec<_> = d
        .attempt_log
        .iter()
        .map(|a| {
            context! {
                when => when(Some(a.attempted_at)),
                status => a.status_code,
                latency_ms => a.latency_ms,
                body => a.response_body.as_deref().map(|b| b.chars().take(200).collect::<String>()),
                error => a.error,
                manual => a.manual,
            }
        })
        .collect();
    context! {
        id => d.id,
        event_id => d.event_id,
        event_type => d.event_type,
        state => d.state.as_str(),
        attempts_made => d.attempts,
        last_status => d.last_status,
        next_attempt => when(d.next_attempt_at),
        created => when(Some(d.created_at)),
        attempts => attempts,
    }
}

/// The endpoints page, with an error or a new secret when a form just ran.
async fn list_page(
    state: &AppState,
    member: &Member,
    status: StatusCode,
    error: Option<String>,
    created: Option<(WebhookEndpoint, String)>,
) -> Response {
    if let Err(e) = member.require(Scope::WebhooksRead) {
        return forbidden(member, e);
    }
    let endpoints = match state
        .store
        .list_webhook_endpoints(&member.account.id, member.mode, Page::first(100))
        .await
    {
        Ok(endpoints) => endpoints,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let ctx = context! {
        layout => member.layout("webhooks"),
        endpoints => endpoints.iter().take(100).map(endpoint_row).collect::<Vec<_>>(),
        may_write => member.may(Scope::WebhooksWrite),
        error => error,
        created => created.map(|(e, secret)| context! { url => e.url, id => e.id, secret => secret }),
    };
    render(status, "webhooks.html", ctx)
}

/// `GET /console/webhooks`.
pub async fn list(state: AppState, member: Member) -> Response {
    list_page(&state, &member, StatusCode::OK, None, None).await
}

/// The create form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    events: String,
}

/// `POST /console/webhooks`: the new endpoint's secret is shown once.
pub async fn create(state: AppState, member: Member, Form(form): Form<CreateForm>) -> Response {
    let result = async {
        member.require(Scope::WebhooksWrite)?;
        let spec = EndpointSpec {
            url: form.url,
            description: Some(form.description).filter(|d| !d.trim().is_empty()),
            enabled_events: events_list(&form.events),
            enabled: None,
        };
        service::create(
            &state,
            &member.account.id,
            member.mode,
            spec,
            member.caller.audit(),
        )
        .await
    }
    .await;
    match result {
        Ok(made) => list_page(&state, &member, StatusCode::CREATED, None, Some(made)).await,
        Err(e) => {
            let message = e.message.to_string();
            list_page(&state, &member, e.code.status(), Some(message), None).await
        }
    }
}

/// One endpoint's page: its settings, a new secret when one was just made, its deliveries.
async fn endpoint_page(
    state: &AppState,
    member: &Member,
    id: &str,
    status: StatusCode,
    error: Option<String>,
    secret: Option<String>,
) -> Response {
    let loaded = async {
        member.require(Scope::WebhooksRead)?;
        service::check_endpoint_id(id)?;
        let account = member.account.id.as_str();
        let (endpoint, deliveries) = tokio::try_join!(
            async {
                state
                    .store
                    .get_webhook_endpoint(account, member.mode, id)
                    .await
                    .or_not_found("webhook_endpoint", id)
            },
            async {
                state
                    .store
                    .list_webhook_deliveries(account, member.mode, id, Page::first(DELIVERIES))
                    .await
                    .map_err(ApiError::from)
            }
        )?;
        ApiResult::Ok((endpoint, deliveries))
    }
    .await;
    let (endpoint, deliveries) = match loaded {
        Ok(found) => found,
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => return forbidden(member, e),
        Err(e) => return e.into_response(),
    };
    let ctx = context! {
        layout => member.layout("webhooks"),
        endpoint => endpoint_row(&endpoint),
        deliveries => deliveries.iter().take(DELIVERIES as usize).map(delivery_row).collect::<Vec<_>>(),
        may_write => member.may(Scope::WebhooksWrite),
        error => error,
        secret => secret,
        overlap_hours => state.webhooks.config.secret_overlap_seconds / 3600,
    };
    render(status, "webhook.html", ctx)
}

/// `GET /console/webhooks/{id}`.
pub async fn show(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    endpoint_page(&state, &member, &id, StatusCode::OK, None, None).await
}

/// The endpoint's settings form; `enabled` is the disable/enable button's value.
#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    description: Option<String>,
    events: Option<String>,
    enabled: Option<String>,
}

/// After a change: back to the endpoint's page, or the page with the API's refusal.
async fn after(
    state: &AppState,
    member: &Member,
    id: &str,
    result: ApiResult<Option<String>>,
) -> Response {
    match result {
        Ok(None) => Redirect::to(&format!("/console/webhooks/{id}")).into_response(),
        Ok(secret) => endpoint_page(state, member, id, StatusCode::OK, None, secret).await,
        Err(e) if e.code.status() == StatusCode::NOT_FOUND => e.into_response(),
        Err(e) => {
            let message = e.message.to_string();
            endpoint_page(state, member, id, e.code.status(), Some(message), None).await
        }
    }
}

/// `POST /console/webhooks/{id}`: events, description, enabled.
pub async fn update(
    state: AppState,
    member: Member,
    Path(id): Path<String>,
    Form(form): Form<UpdateForm>,
) -> Response {
    let result = async {
        member.require(Scope::WebhooksWrite)?;
        let spec = EndpointPatchSpec {
            url: None,
            description: form.description,
            enabled_events: form
                .events
                .map(|e| events_list(&e).unwrap_or_else(|| vec!["*".to_string()])),
            enabled: form.enabled.map(|v| v == "true"),
        };
        let audit = member.caller.audit();
        service::update(&state, &member.account.id, member.mode, &id, spec, audit).await?;
        Ok(None)
    }
    .await;
    after(&state, &member, &id, result).await
}

/// `POST /console/webhooks/{id}/rotate`: a new secret, shown once.
pub async fn rotate(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    let result = async {
        member.require(Scope::WebhooksWrite)?;
        let audit = member.caller.audit();
        let (_, secret) =
            service::rotate(&state, &member.account.id, member.mode, &id, None, audit).await?;
        Ok(Some(secret))
    }
    .await;
    after(&state, &member, &id, result).await
}

/// `POST /console/webhooks/{id}/delete`.
pub async fn delete(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    let result = async {
        member.require(Scope::WebhooksWrite)?;
        service::check_endpoint_id(&id)?;
        state
            .store
            .delete_webhook_endpoint(&member.account.id, member.mode, &id, member.caller.audit())
            .await
            .or_not_found("webhook_endpoint", &id)
    }
    .await;
    match result {
        Ok(_) => Redirect::to("/console/webhooks").into_response(),
        Err(e) => after(&state, &member, &id, Err(e)).await,
    }
}

/// `POST /console/webhook_deliveries/{id}/replay`: one more attempt now; back to its
/// endpoint's page.
pub async fn replay(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    let result = async {
        member.require(Scope::WebhooksWrite)?;
        let audit = member.caller.audit();
        service::replay(&state, &member.account.id, member.mode, &id, audit).await
    }
    .await;
    to_endpoint(&member, result)
}

/// `POST /console/webhooks/{id}/test`: sends the endpoint a test event.
pub async fn send_test(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    let result = async {
        member.require(Scope::WebhooksWrite)?;
        let audit = member.caller.audit();
        service::send_test(&state, &member.account.id, member.mode, &id, audit).await
    }
    .await;
    to_endpoint(&member, result)
}

/// Back to the page of the endpoint a delivery went to, or why not.
fn to_endpoint(member: &Member, result: ApiResult<easel_db::WebhookDelivery>) -> Response {
    match result {
        Ok(delivery) => {
            Redirect::to(&format!("/console/webhooks/{}", delivery.endpoint_id)).into_response()
        }
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => forbidden(member, e),
        Err(e) => e.into_response(),
    }
}
