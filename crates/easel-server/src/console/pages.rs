//! Console pages: the templates, their security headers, the dashboard.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use easel_core::time::ms_to_secs;
use easel_db::Page;
use minijinja::{Environment, context};

use super::session::Operator;
use crate::app::AppState;
use crate::http::error::ApiError;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Asset URLs are ours (hex hash, fixed names): safe, so they are not entity-escaped.
    env.add_function("asset", |name: String| {
        minijinja::Value::from_safe_string(super::assets::url(&name))
    });
    // HTML-escapes as minijinja does, but leaves `/` alone: URLs and paths stay readable
    // in the page's source (`&#x2f;` is valid, but noise no browser needs).
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == minijinja::AutoEscape::Html
            && !value.is_safe()
            && let Some(text) = value.as_str()
        {
            return write_escaped(out, text);
        }
        minijinja::escape_formatter(out, state, value)
    });
    // Embedded at compile time; a template that fails to parse fails the tests, not a user.
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("dashboard.html", include_str!("templates/dashboard.html")),
        ("refused.html", include_str!("templates/refused.html")),
        ("member.html", include_str!("templates/member.html")),
        (
            "member_notice.html",
            include_str!("templates/member_notice.html"),
        ),
        ("notice.html", include_str!("templates/notice.html")),
        ("signup.html", include_str!("templates/signup.html")),
        ("welcome.html", include_str!("templates/welcome.html")),
        ("forgot.html", include_str!("templates/forgot.html")),
        ("reset.html", include_str!("templates/reset.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("keys.html", include_str!("templates/keys.html")),
        (
            "credits_partial.html",
            include_str!("templates/credits_partial.html"),
        ),
        ("usage.html", include_str!("templates/usage.html")),
        ("billing.html", include_str!("templates/billing.html")),
        ("webhooks.html", include_str!("templates/webhooks.html")),
        ("webhook.html", include_str!("templates/webhook.html")),
        ("logs.html", include_str!("templates/logs.html")),
        ("audit.html", include_str!("templates/audit.html")),
        ("end_users.html", include_str!("templates/end_users.html")),
        (
            "generations.html",
            include_str!("templates/generations.html"),
        ),
        ("generation.html", include_str!("templates/generation.html")),
        ("playground.html", include_str!("templates/playground.html")),
        ("to_stripe.html", include_str!("templates/to_stripe.html")),
        ("plans.html", include_str!("templates/plans.html")),
        (
            "past_due_partial.html",
            include_str!("templates/past_due_partial.html"),
        ),
        ("account.html", include_str!("templates/account.html")),
        ("invite.html", include_str!("templates/invite.html")),
        ("reports.html", include_str!("templates/reports.html")),
        ("terms.html", include_str!("templates/terms.html")),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "console template does not parse");
        }
    }
    env
});

/// Writes `text` with `&`, `<`, `>`, `"` and `'` escaped: safe in element content and in
/// quoted attribute values.
pub(super) fn write_escaped(
    out: &mut minijinja::Output,
    text: &str,
) -> Result<(), minijinja::Error> {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
        out.write_str(&rest[..at])?;
        out.write_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#x27;",
        })?;
        rest = &rest[at + 1..];
    }
    out.write_str(rest)?;
    Ok(())
}

/// Renders a page with the console's security headers.
pub(super) fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    let html = match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => html,
        Err(e) => {
            return ApiError::internal(anyhow::anyhow!("console template {name}: {e}"))
                .into_response();
        }
    };
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        // Scripts only from our own embedded files (no inline script, no eval); htmx's
        // requests go to our own origin.
        HeaderValue::from_static("default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it, browsers send `Origin: null` on the console's own
        // POSTs, which the CSRF origin check must then refuse.
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /console`: a member's overview, or the operator's dashboard.
pub async fn home(state: AppState, request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    // One session lookup decides which console, and builds its signed-in principal.
    let (session, id_hash) = match super::session::live(&parts, &state).await {
        Ok(live) => live,
        Err(to_login) => return to_login,
    };
    if session.principal.kind == easel_db::PrincipalKind::Operator {
        return match Operator::from_session(&state, &session, &id_hash).await {
            Ok(operator) => dashboard(state, operator).await,
            Err(response) => response,
        };
    }
    match super::developer::member::Member::from_session(&state, session, &id_hash, &parts).await {
        Ok(member) => super::developer::overview::page(state, member).await,
        Err(response) => response,
    }
}

/// The operator's dashboard: accounts and the latest audit entries.
async fn dashboard(state: AppState, operator: Operator) -> Response {
    let (accounts, audit, maintenance) = match tokio::try_join!(
        state.store.list_accounts(Page::first(100)),
        state.store.list_audit(None, Page::first(50)),
        state.store.list_maintenance(easel_core::time::now_ms())
    ) {
        Ok(lists) => lists,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let when = |ms: i64| crate::cli::output::when(Some(ms_to_secs(ms)));
    let accounts: Vec<_> = accounts
        .iter()
        .map(|a| {
            context! { id => a.id, name => a.name, plan => a.plan, state => a.state.as_str(),
            reason => a.suspended_reason, created => when(a.created_at) }
        })
        .collect();
    let audit: Vec<_> = audit
        .iter()
        .map(|e| {
            context! { when => when(e.created_at), action => e.action, account => e.account_id.as_deref().unwrap_or("-"),
                       actor => format!("{}:{}", e.actor_type.as_str(), e.actor_id), target => e.target_id.as_deref().unwrap_or("-") }
        })
        .collect();
    render(
        StatusCode::OK,
        "dashboard.html",
        context! {
            operator => operator.username, csrf => operator.csrf, accounts => accounts, audit => audit,
            maintenance => maintenance.iter().map(|w| context! {
                id => w.id, starts => when(w.starts_at), ends => when(w.ends_at), message => w.message,
                components => w.components.join(", "), emergency => w.emergency,
            }).collect::<Vec<_>>(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::TEMPLATES;

    #[test]
    fn text_is_escaped_but_slashes_stay() {
        let env = TEMPLATES.clone();
        let out = env
            .template_from_named_str("escape.html", "{{ t }}|{{ s }}")
            .and_then(|t| {
                t.render(minijinja::context! {
                    t => "/v1/a?b=1&c=<x> \"q\" 'a'",
                    s => minijinja::Value::from_safe_string("<b>".into()),
                })
            })
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            out,
            "/v1/a?b=1&amp;c=&lt;x&gt; &quot;q&quot; &#x27;a&#x27;|<b>"
        );
    }

    #[test]
    fn every_console_template_parses_and_renders() {
        // Pages read fields of objects a handler always passes; here nothing is passed.
        let mut env = TEMPLATES.clone();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for name in [
            "base.html",
            "login.html",
            "dashboard.html",
            "refused.html",
            "member.html",
            "member_notice.html",
            "notice.html",
            "signup.html",
            "welcome.html",
            "forgot.html",
            "reset.html",
            "overview.html",
            "keys.html",
            "credits_partial.html",
            "usage.html",
            "billing.html",
            "webhooks.html",
            "webhook.html",
            "logs.html",
            "audit.html",
            "end_users.html",
            "generations.html",
            "generation.html",
            "playground.html",
            "to_stripe.html",
            "plans.html",
            "past_due_partial.html",
            "account.html",
            "invite.html",
            "reports.html",
            "terms.html",
        ] {
            let template = env
                .get_template(name)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            template
                .render(minijinja::context! {})
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            // Once more with one item in every list and every optional link set, so the
            // loop bodies (and any filter in them that our build lacks) are rendered too.
            let item = || vec![minijinja::context! { attempts => vec![minijinja::context! {}] }];
            let full = minijinja::context! {
                rows => item(), keys => item(), endpoints => item(), deliveries => item(),
                ledger => item(), invoices => item(), models => item(), accounts => item(),
                audit => item(), next => "x", created => minijinja::context! {}, error => "x",
                secret => "x", csv => "x", items => item(), events => item(),
                outputs => item(), statuses => vec!["queued"], quote => minijinja::context! {},
                buy => minijinja::context! { offers => item() }, members => item(),
                invitations => item(), sessions => item(), grantable => vec!["viewer"],
                reports => item(), strikes => item(),
            };
            template
                .render(full)
                .unwrap_or_else(|e| panic!("{name} with rows: {e:#}"));
        }
    }
}
