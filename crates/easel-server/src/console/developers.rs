//! `GET /developers`: the public pricing page (spec clause 4). Every enabled model with the
//! exact price of every call shape, and the plans. No sign-in; the prices are the ones
//! `GET /v1/models` returns, built by the same [`ModelObject::new`].

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use easel_core::models::{Markup, ModelKind};
use minijinja::{Environment, Value, context};

use crate::api::v1::models::dto::ModelObject;
use crate::app::AppState;
use crate::config::{Licence, ModelConfig, PlanConfig};
use crate::http::error::ApiError;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Embedded at compile time; `.html` names turn on HTML auto-escaping (model descriptions
    // come from the operator's config).
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("developers.html", include_str!("templates/developers.html")),
        (
            "public_header.html",
            include_str!("templates/public_header.html"),
        ),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "developers template does not parse");
        }
    }
    env
});

/// `GET /developers`
pub async fn developers(state: AppState) -> Response {
    let config = &state.config;
    let markup = config.markup();
    let models: Vec<Value> = config
        .models
        .iter()
        .filter(|(_, m)| m.enabled)
        .map(|(id, m)| model_view(id, m, markup))
        .collect();
    let mut plans: Vec<(&String, &PlanConfig)> = config.plans.iter().collect();
    // Smallest first, as a reader compares them (free, starter, pro, enterprise by default).
    plans.sort_by_key(|(name, p)| {
        (
            p.requests_per_minute,
            p.requests_per_day,
            p.concurrent_jobs,
            name.as_str(),
        )
    });
    let plans: Vec<Value> = plans
        .into_iter()
        .map(|(name, p)| {
            context! {
                name => name,
                requests_per_minute => grouped(p.requests_per_minute.into()),
                requests_per_day => grouped(p.requests_per_day.into()),
                concurrent_jobs => grouped(p.concurrent_jobs.into()),
                licence => licence_words(p.licence),
                retention_days => grouped(p.retention_days.into()),
                monthly_credits => grouped(p.monthly_credits),
            }
        })
        .collect();
    let ctx = context! { markup => config.pricing.markup, models => models, plans => plans };
    let html = match TEMPLATES
        .get_template("developers.html")
        .and_then(|t| t.render(ctx))
    {
        Ok(html) => html,
        Err(e) => {
            return ApiError::internal(anyhow::anyhow!("developers template: {e}")).into_response();
        }
    };
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// One model as the page shows it; prices from [`ModelObject::new`], never recomputed.
fn model_view(id: &str, m: &ModelConfig, markup: Markup) -> Value {
    // The plan only sets `available_on_plan`, which the page does not show.
    let model = ModelObject::new(id, m, "", markup);
    let prices: Vec<Value> = model
        .prices
        .iter()
        .map(|p| {
            let (shape, anchor) = match (p.n, p.duration_seconds) {
                (Some(n), _) => (n.to_string(), format!("n{n}")),
                (None, Some(s)) => (format!("{s} s"), format!("{s}s")),
                (None, None) => (String::new(), String::new()),
            };
            context! {
                size => p.size,
                shape => shape,
                anchor => anchor,
                credits => grouped(p.credits),
                eur => p.eur,
                web_credits => grouped(p.web_credits),
                web_eur => p.web_eur,
            }
        })
        .collect();
    let list = |values: &[u32], unit: &str| {
        values
            .iter()
            .map(|v| format!("{v}{unit}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let video = model.kind == ModelKind::Video;
    context! {
        id => model.id,
        kind => if video { "Video" } else { "Image" },
        video => video,
        description => model.description,
        sizes => model.sizes.join(", "),
        max_n => model.max_n,
        durations => list(model.durations.as_deref().unwrap_or_default(), " s"),
        fps => list(model.fps.as_deref().unwrap_or_default(), ""),
        plans => if m.plans.is_empty() { "All plans".to_string() } else { m.plans.join(", ") },
        prices => prices,
    }
}

/// What a plan's outputs may be used for, in words.
fn licence_words(licence: Licence) -> &'static str {
    match licence {
        Licence::NonCommercial => "Non-commercial (development and testing only)",
        Licence::CommercialAttribution => "Commercial, with attribution",
        Licence::WhiteLabel => "Commercial, white-label",
    }
}

/// `1234567` → `1,234,567`.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (100_000, "100,000"),
            (1_234_567, "1,234,567"),
            (-1000, "-1,000"),
        ] {
            assert_eq!(grouped(n), s);
        }
    }
}
