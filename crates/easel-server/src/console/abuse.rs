//! `GET/POST /abuse`: the public abuse report form (no sign-in).
//!
//! Anti-spam without third parties: a hidden honeypot field that people leave empty and
//! form-filling bots do not, and a signed time token issued with the form, so a report
//! sent sooner than `abuse.form_min_seconds` after the form was served (a script posting
//! blindly) or with a forged or stale token is refused. Each token is accepted once, on any
//! node: its hash is recorded in the database (`used_form_tokens`) until it would have
//! expired anyway, and a second use gets the same page as a forged token.

use std::sync::LazyLock;

use super::form::Form;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use easel_core::time::now_ms;
use easel_db::ReportSource;
use hmac::{Hmac, Mac};
use minijinja::{Environment, Value, context};
use serde::Deserialize;
use sha2::Sha256;

use crate::app::AppState;
use crate::cli::output::when;
use crate::services::abuse::{self, ReportSpec, Reporter};

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("abuse.html", include_str!("templates/abuse.html")),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "abuse template does not parse");
        }
    }
    env
});

/// A form token is good for this long.
const TOKEN_MAX_AGE_MS: i64 = 3_600_000;

const CATEGORIES: [(&str, &str); 8] = [
    ("sexual_minors", "Sexual content involving minors"),
    (
        "non_consensual_imagery",
        "Intimate imagery of a real person without consent (deepfake)",
    ),
    ("violence", "Terrorism or graphic violence"),
    ("hate", "Hate"),
    ("harassment", "Harassment or threats"),
    ("fraud", "Fraud or forged documents"),
    (
        "intellectual_property",
        "Copyright or trademark infringement",
    ),
    ("other", "Something else"),
];

/// The form as posted.
#[derive(Debug, Default, Deserialize)]
pub struct AbuseForm {
    #[serde(default)]
    content: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    website: String,
    #[serde(default)]
    t: String,
}

/// `GET /abuse`
pub async fn form(state: AppState) -> Response {
    render(&state, StatusCode::OK, &AbuseForm::default(), None, None)
}

/// `POST /abuse`
pub async fn submit(state: AppState, Form(form): Form<AbuseForm>) -> Response {
    if let Err(refused) = admit(&state, &form).await {
        return refused;
    }
    let content = form.content.trim();
    let (generation_id, output_url) = if content.starts_with("gen_") {
        (Some(content.to_string()), None)
    } else {
        (None, Some(content.to_string()))
    };
    let spec = ReportSpec {
        generation_id,
        output_url,
        category: form.category.clone(),
        description: form.description.clone(),
        email: Some(form.email.clone()),
    };
    let reporter = Reporter {
        source: ReportSource::Form,
        account_id: None,
        key_id: None,
    };
    match abuse::create(&state, spec, reporter).await {
        Ok(report) => render(&state, StatusCode::CREATED, &form, None, Some(&report)),
        Err(e) if e.code.status().is_client_error() => {
            let message = e.message.to_string();
            render(&state, StatusCode::BAD_REQUEST, &form, Some(&message), None)
        }
        Err(e) => {
            tracing::error!(error = %e.message, "could not file an abuse report from the form");
            let error = "Something went wrong on our side; please try again shortly.";
            render(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                &form,
                Some(error),
                None,
            )
        }
    }
}

fn render(
    state: &AppState,
    status: StatusCode,
    form: &AbuseForm,
    error: Option<&str>,
    report: Option<&easel_db::AbuseReport>,
) -> Response {
    let categories: Vec<Value> = CATEGORIES
        .iter()
        .map(|(value, label)| context! { value => value, label => label })
        .collect();
    let ctx = context! {
        hours => state.config.abuse.response_hours,
        categories => categories,
        token => issue_token(state, now_ms()),
        error => error,
        content => form.content,
        category => form.category,
        description => form.description,
        email => form.email,
        report_id => report.map(|r| r.id.clone()),
        deadline => report.map(|r| when(Some(r.deadline_at.div_euclid(1000)))),
    };
    let html = match TEMPLATES
        .get_template("abuse.html")
        .and_then(|t| t.render(ctx))
    {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "abuse template failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Refuses bots (too fast, forged, stale or reused token, honeypot filled) and floods;
/// spends the token of a report let through.
async fn admit(state: &AppState, form: &AbuseForm) -> Result<(), Response> {
    let now = now_ms();
    let min_age = i64::try_from(state.config.abuse.form_min_seconds)
        .unwrap_or(3)
        .saturating_mul(1000);
    let issued = verify_token(state, &form.t);
    let human = form.website.is_empty()
        && issued.is_some_and(|at| now - at >= min_age && now - at <= TOKEN_MAX_AGE_MS);
    let error = "Your report could not be accepted. Please wait a few seconds after the page loads, then send it again.";
    if !human {
        return Err(render(
            state,
            StatusCode::BAD_REQUEST,
            form,
            Some(error),
            None,
        ));
    }
    if let Err(e) = state.abuse_gate.admit() {
        let message = e.message.to_string();
        let status = StatusCode::TOO_MANY_REQUESTS;
        return Err(render(state, status, form, Some(&message), None));
    }
    // Spent only once every other check passed, so a person told to wait can send it again.
    if let Err(status) = spend_token(state, &form.t, issued.unwrap_or(now)).await {
        let error = if status == StatusCode::BAD_REQUEST {
            error
        } else {
            "Something went wrong on our side; please try again shortly."
        };
        return Err(render(state, status, form, Some(error), None));
    }
    Ok(())
}

/// Records the token's first use; 400 if it was used before, 503 if that cannot be told.
async fn spend_token(state: &AppState, token: &str, issued: i64) -> Result<(), StatusCode> {
    let expires_at = issued.saturating_add(TOKEN_MAX_AGE_MS);
    let hash = super::session::hash_token(token);
    match state.store.use_form_token(&hash, "abuse", expires_at).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(StatusCode::BAD_REQUEST),
        Err(e) => {
            tracing::error!(error = %e, "could not record an abuse form token");
            Err(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

fn mac(state: &AppState) -> Option<Hmac<Sha256>> {
    Hmac::<Sha256>::new_from_slice(state.session_key.0.signing()).ok()
}

/// `<issued ms>.<random nonce>.<hex HMAC>`: the nonce makes every served form's token
/// unique, so single use is per form, not per millisecond.
fn issue_token(state: &AppState, now: i64) -> String {
    let Some(mut mac) = mac(state) else {
        return String::new();
    };
    let nonce = &super::session::random_token()[..32];
    mac.update(format!("abuse-form.{now}.{nonce}").as_bytes());
    format!("{now}.{nonce}.{}", hex::encode(mac.finalize().into_bytes()))
}

/// When a genuine token was issued.
fn verify_token(state: &AppState, token: &str) -> Option<i64> {
    let mut parts = token.splitn(3, '.');
    let (issued, nonce, signature) = (parts.next()?, parts.next()?, parts.next()?);
    let issued: i64 = issued.parse().ok()?;
    let signature = hex::decode(signature).ok()?;
    let mut mac = mac(state)?;
    mac.update(format!("abuse-form.{issued}.{nonce}").as_bytes());
    mac.verify_slice(&signature).ok()?;
    Some(issued)
}
