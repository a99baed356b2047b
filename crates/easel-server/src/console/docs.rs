//! The public front pages, no sign-in: `GET /` (what is here and where), `GET /docs` (the
//! getting-started guide: keys, errors, pagination, idempotency, rate limits, webhook
//! signatures, written from the server's own settings) and `GET /docs/api` (the OpenAPI
//! reference, `/openapi.json` rendered in the browser by the vendored redoc bundle).
//!
//! Nothing here is secret or personal, so the pages may be cached briefly by anyone.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, context};

use crate::app::AppState;
use crate::http::error::ApiError;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // The console's escaping: URLs in the pages (and in their examples) keep their slashes.
    super::pages::readable_escaping(&mut env);
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("home.html", include_str!("templates/home.html")),
        ("guide.html", include_str!("templates/guide.html")),
        ("api_docs.html", include_str!("templates/api_docs.html")),
        (
            "public_header.html",
            include_str!("templates/public_header.html"),
        ),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "docs template does not parse");
        }
    }
    env
});

/// The landing page and the guide: no script at all.
const STATIC_CSP: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The reference: scripts from our own origin only (the bundle and its boot file, no inline
/// script, no eval), the document fetched from our origin, and redoc's search index built in
/// a worker that the bundle starts from a `blob:` URL. Redoc styles itself with `<style>`
/// elements it writes at run time, hence `'unsafe-inline'` for styles (never for scripts).
const REFERENCE_CSP: &str = "default-src 'none'; script-src 'self'; worker-src blob:; connect-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`
pub async fn home(state: AppState) -> Response {
    let public_url = state.config.public_url();
    render(
        "home.html",
        STATIC_CSP,
        context! { public_url => public_url },
    )
}

/// `GET /docs`
pub async fn guide(state: AppState) -> Response {
    let config = &state.config;
    let prefix = &config.api_keys.prefix;
    let retries: Vec<String> = config
        .webhooks
        .retry_seconds
        .iter()
        .map(|s| duration_words(*s))
        .collect();
    render(
        "guide.html",
        STATIC_CSP,
        context! {
            public_url => config.public_url(),
            test_prefix => format!("{prefix}_test_"),
            live_prefix => format!("{prefix}_live_"),
            idempotency_hours => config.generations.idempotency_hours,
            max_wait_seconds => config.generations.max_wait_seconds,
            limits_enabled => config.limits.enabled,
            webhook_retries => retries.join(", "),
            webhook_timeout_seconds => config.webhooks.timeout_ms.div_ceil(1000),
        },
    )
}

/// `GET /docs/api`
pub async fn reference() -> Response {
    render(
        "api_docs.html",
        REFERENCE_CSP,
        context! {
            redoc => super::assets::url("redoc.standalone.js"),
            boot => super::assets::url("docs.js"),
        },
    )
}

fn render(name: &str, csp: &'static str, ctx: minijinja::Value) -> Response {
    let html = match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => html,
        Err(e) => {
            return ApiError::internal(anyhow::anyhow!("docs template {name}: {e}"))
                .into_response();
        }
    };
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// `300` → `5 min`, `7200` → `2 h`, `5` → `5 s`: the retry schedule as a person reads it.
fn duration_words(seconds: u64) -> String {
    match seconds {
        s if s >= 3600 && s.is_multiple_of(3600) => format!("{} h", s / 3600),
        s if s >= 60 && s.is_multiple_of(60) => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::{TEMPLATES, duration_words};

    #[test]
    fn retry_delays_read_as_people_write_them() {
        for (s, words) in [
            (5, "5 s"),
            (60, "1 min"),
            (90, "90 s"),
            (300, "5 min"),
            (3600, "1 h"),
            (5400, "90 min"),
            (86_400, "24 h"),
        ] {
            assert_eq!(duration_words(s), words);
        }
    }

    #[test]
    fn every_docs_template_parses_and_renders() {
        let mut env = TEMPLATES.clone();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let ctx = minijinja::context! {
            public_url => "http://127.0.0.1:8080", test_prefix => "vs_test_",
            live_prefix => "vs_live_", idempotency_hours => 24, max_wait_seconds => 60,
            limits_enabled => true, webhook_retries => "5 s, 5 min", webhook_timeout_seconds => 15,
            redoc => "/r.js", boot => "/b.js",
        };
        for name in ["home.html", "guide.html", "api_docs.html"] {
            let html = env
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(html.starts_with("<!doctype html>"), "{name}");
        }
    }
}
