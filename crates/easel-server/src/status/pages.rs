//! `/status`: the page, its Statuspage-compatible JSON under `/status/api/v2/` (the field
//! names and status words of Atlassian Statuspage, so existing widgets and tooling read it)
//! and an Atom feed of incidents and maintenance. Public, no sign-in, cached briefly.

use std::sync::LazyLock;

use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use easel_core::time::now_ms;
use easel_db::{Incident, Maintenance};
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::view::{self, ComponentView, Snapshot, maintenance_status, percent};
use crate::app::AppState;
use crate::cli::output::{day, when};
use crate::config::Config;
use crate::http::error::ApiError;

/// The page's id in the JSON (a Statuspage page has one; Easel serves one page).
const PAGE_ID: &str = "easel";

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    crate::console::pages::readable_escaping(&mut env);
    for (name, source) in [
        ("base.html", include_str!("../console/templates/base.html")),
        (
            "status.html",
            include_str!("../console/templates/status.html"),
        ),
        (
            "status_feed.xml",
            include_str!("../console/templates/status_feed.xml"),
        ),
        (
            "public_header.html",
            include_str!("../console/templates/public_header.html"),
        ),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "status template does not parse");
        }
    }
    env
});

/// `/status` and everything under it.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/status", get(page))
        .route("/status/history.atom", get(feed))
        .route("/status/api/v2/summary.json", get(summary))
        .route("/status/api/v2/status.json", get(status))
        .route("/status/api/v2/components.json", get(components))
        .route("/status/api/v2/incidents.json", get(incidents))
        .route("/status/api/v2/incidents/unresolved.json", get(unresolved))
        .route(
            "/status/api/v2/scheduled-maintenances.json",
            get(maintenances),
        )
        .route(
            "/status/api/v2/scheduled-maintenances/upcoming.json",
            get(upcoming),
        )
        .route(
            "/status/api/v2/scheduled-maintenances/active.json",
            get(active),
        )
}

fn time(ms: i64) -> String {
    when(Some(ms.div_euclid(1000)))
}

#[derive(Serialize)]
struct PageJson {
    id: &'static str,
    name: String,
    url: String,
    time_zone: &'static str,
    updated_at: String,
}

#[derive(Serialize)]
struct StatusJson {
    indicator: &'static str,
    description: &'static str,
}

#[derive(Serialize, Clone)]
struct ComponentJson {
    id: String,
    name: String,
    status: String,
    created_at: String,
    updated_at: String,
    position: usize,
    description: Option<String>,
    showcase: bool,
    start_date: Option<String>,
    group_id: Option<String>,
    page_id: &'static str,
    group: bool,
    only_show_if_degraded: bool,
}

#[derive(Serialize)]
struct AffectedJson {
    code: String,
    name: String,
    old_status: String,
    new_status: String,
}

#[derive(Serialize)]
struct UpdateJson {
    id: String,
    status: String,
    body: String,
    incident_id: String,
    created_at: String,
    updated_at: String,
    display_at: String,
    affected_components: Vec<AffectedJson>,
}

/// An incident, or a scheduled maintenance (which Statuspage shapes as an incident with
/// `impact: maintenance` and its window).
#[derive(Serialize)]
struct IncidentJson {
    id: String,
    name: String,
    status: String,
    impact: String,
    created_at: String,
    updated_at: String,
    monitoring_at: Option<String>,
    resolved_at: Option<String>,
    started_at: String,
    shortlink: String,
    page_id: &'static str,
    incident_updates: Vec<UpdateJson>,
    components: Vec<ComponentJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_until: Option<String>,
}

/// Everything the JSON is built from.
struct Data<'a> {
    config: &'a Config,
    snapshot: &'a Snapshot,
    components: Vec<ComponentView>,
}

impl<'a> Data<'a> {
    fn new(config: &'a Config, snapshot: &'a Snapshot) -> Data<'a> {
        Data {
            components: snapshot.components(config),
            config,
            snapshot,
        }
    }

    fn url(&self) -> String {
        format!("{}/status", self.config.public_url.trim_end_matches('/'))
    }

    fn page(&self) -> PageJson {
        PageJson {
            id: PAGE_ID,
            name: self.config.status.page_name.clone(),
            url: self.url(),
            time_zone: "Etc/UTC",
            updated_at: time(self.snapshot.now),
        }
    }

    fn status(&self) -> StatusJson {
        let (indicator, description) = self.snapshot.indicator(&self.components);
        StatusJson {
            indicator,
            description,
        }
    }

    fn component(&self, c: &ComponentView) -> ComponentJson {
        let updated = c.probe.as_ref().map_or(self.snapshot.now, |p| p.changed_at);
        ComponentJson {
            id: c.component.code.clone(),
            name: c.component.name.clone(),
            status: c.status.clone(),
            created_at: time(c.first_seen.unwrap_or(updated).min(updated)),
            updated_at: time(updated),
            position: c.position,
            description: (!c.component.description.is_empty())
                .then(|| c.component.description.clone()),
            showcase: true,
            start_date: c.first_seen.map(day),
            group_id: None,
            page_id: PAGE_ID,
            group: false,
            only_show_if_degraded: false,
        }
    }

    fn components_json(&self) -> Vec<ComponentJson> {
        self.components.iter().map(|c| self.component(c)).collect()
    }

    fn name_of(&self, code: &str) -> String {
        self.components
            .iter()
            .find(|c| c.component.code == code)
            .map_or_else(|| code.to_owned(), |c| c.component.name.clone())
    }

    fn components_named(&self, codes: &[&str]) -> Vec<ComponentJson> {
        self.components
            .iter()
            .filter(|c| codes.contains(&c.component.code.as_str()))
            .map(|c| self.component(c))
            .collect()
    }

    fn incident(&self, i: &Incident) -> IncidentJson {
        // Every component the incident ever touched, as Statuspage lists them.
        let mut touched: Vec<&str> = i
            .updates
            .iter()
            .flat_map(|u| u.components.iter().map(|c| c.code.as_str()))
            .chain(i.components.keys().map(String::as_str))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        IncidentJson {
            id: i.id.clone(),
            name: i.name.clone(),
            status: i.status.clone(),
            impact: i.impact.clone(),
            created_at: time(i.created_at),
            updated_at: time(i.updated_at),
            monitoring_at: i.monitoring_at.map(time),
            resolved_at: i.resolved_at.map(time),
            started_at: time(i.created_at),
            shortlink: format!("{}#{}", self.url(), i.id),
            page_id: PAGE_ID,
            incident_updates: i
                .updates
                .iter()
                .map(|u| UpdateJson {
                    id: u.id.clone(),
                    status: u.status.clone(),
                    body: u.body.clone(),
                    incident_id: i.id.clone(),
                    created_at: time(u.created_at),
                    updated_at: time(u.created_at),
                    display_at: time(u.created_at),
                    affected_components: u
                        .components
                        .iter()
                        .map(|c| AffectedJson {
                            name: self.name_of(&c.code),
                            code: c.code.clone(),
                            old_status: c.old_status.clone(),
                            new_status: c.new_status.clone(),
                        })
                        .collect(),
                })
                .collect(),
            components: self.components_named(&touched),
            scheduled_for: None,
            scheduled_until: None,
        }
    }

    fn maintenance(&self, w: &Maintenance) -> IncidentJson {
        let status = maintenance_status(w, self.snapshot.now);
        let codes: Vec<&str> = if w.components.is_empty() {
            self.components
                .iter()
                .map(|c| c.component.code.as_str())
                .collect()
        } else {
            w.components.iter().map(String::as_str).collect()
        };
        let name = if w.emergency {
            "Emergency maintenance"
        } else {
            "Scheduled maintenance"
        };
        IncidentJson {
            id: w.id.clone(),
            name: name.into(),
            status: status.into(),
            impact: "maintenance".into(),
            created_at: time(w.created_at),
            updated_at: time(w.created_at),
            monitoring_at: None,
            resolved_at: (status == "completed").then(|| time(w.ends_at)),
            started_at: time(w.starts_at),
            shortlink: format!("{}#{}", self.url(), w.id),
            page_id: PAGE_ID,
            incident_updates: vec![UpdateJson {
                id: format!("{}_announced", w.id),
                status: "scheduled".into(),
                body: w.message.clone(),
                incident_id: w.id.clone(),
                created_at: time(w.created_at),
                updated_at: time(w.created_at),
                display_at: time(w.created_at),
                affected_components: Vec::new(),
            }],
            components: self.components_named(&codes),
            scheduled_for: Some(time(w.starts_at)),
            scheduled_until: Some(time(w.ends_at)),
        }
    }

    fn maintenances(&self, only: Option<&str>) -> Vec<IncidentJson> {
        let mut windows: Vec<&Maintenance> = self
            .snapshot
            .maintenance
            .iter()
            .filter(|w| only.is_none_or(|s| maintenance_status(w, self.snapshot.now) == s))
            .collect();
        // Newest first, as Statuspage lists them.
        windows.sort_by_key(|w| std::cmp::Reverse(w.starts_at));
        windows.into_iter().map(|w| self.maintenance(w)).collect()
    }

    fn incidents(&self, unresolved: bool) -> Vec<IncidentJson> {
        self.snapshot
            .incidents
            .iter()
            .filter(|i| !unresolved || i.resolved_at.is_none())
            .map(|i| self.incident(i))
            .collect()
    }
}

/// A public JSON answer, cacheable for as long as the node caches its read.
fn json(state: &AppState, body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    cache_briefly(state, &mut response);
    response
}

fn cache_briefly(state: &AppState, response: &mut Response) {
    let seconds = state.config.status.cache_seconds;
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={seconds}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Widgets on other sites read the JSON (Statuspage allows it too).
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

async fn with_data(state: &AppState, build: impl FnOnce(&Data) -> serde_json::Value) -> Response {
    let snapshot = view::snapshot(&state.0).await;
    let data = Data::new(&state.config, &snapshot);
    json(state, build(&data))
}

async fn summary(state: AppState) -> Response {
    with_data(&state, |d| {
        let mut maintenances = d.maintenances(Some("in_progress"));
        maintenances.extend(d.maintenances(Some("scheduled")));
        serde_json::json!({
            "page": d.page(),
            "components": d.components_json(),
            "incidents": d.incidents(true),
            "scheduled_maintenances": maintenances,
            "status": d.status(),
        })
    })
    .await
}

async fn status(state: AppState) -> Response {
    with_data(
        &state,
        |d| serde_json::json!({ "page": d.page(), "status": d.status() }),
    )
    .await
}

async fn components(state: AppState) -> Response {
    with_data(
        &state,
        |d| serde_json::json!({ "page": d.page(), "components": d.components_json() }),
    )
    .await
}

async fn incidents(state: AppState) -> Response {
    with_data(
        &state,
        |d| serde_json::json!({ "page": d.page(), "incidents": d.incidents(false) }),
    )
    .await
}

async fn unresolved(state: AppState) -> Response {
    with_data(
        &state,
        |d| serde_json::json!({ "page": d.page(), "incidents": d.incidents(true) }),
    )
    .await
}

async fn maintenances(state: AppState) -> Response {
    with_data(
        &state,
        |d| serde_json::json!({ "page": d.page(), "scheduled_maintenances": d.maintenances(None) }),
    )
    .await
}

async fn upcoming(state: AppState) -> Response {
    with_data(&state, |d| {
        serde_json::json!({
            "page": d.page(),
            "scheduled_maintenances": d.maintenances(Some("scheduled")),
        })
    })
    .await
}

async fn active(state: AppState) -> Response {
    with_data(&state, |d| {
        serde_json::json!({
            "page": d.page(),
            "scheduled_maintenances": d.maintenances(Some("in_progress")),
        })
    })
    .await
}

/// One day's bar: its class, and what a reader sees on hover and a screen reader reads.
fn bar(start: i64, t: &easel_db::Tally) -> Value {
    let minutes = |ms: i64| (ms + 59_999) / 60_000;
    let (class, words) = if t.counted_ms() + t.maintenance_ms == 0 {
        ("none", "no data".to_owned())
    } else if t.down_ms > 0 {
        let mut w = format!("{} min down", minutes(t.down_ms));
        if t.degraded_ms > 0 {
            w.push_str(&format!(", {} min degraded", minutes(t.degraded_ms)));
        }
        ("down", w)
    } else if t.degraded_ms > 0 {
        (
            "degraded",
            format!("{} min degraded", minutes(t.degraded_ms)),
        )
    } else if t.counted_ms() == 0 {
        ("maintenance", "maintenance".to_owned())
    } else {
        ("ok", "no downtime".to_owned())
    };
    let mut title = format!("{}: {words}", day(start));
    if t.maintenance_ms > 0 && class != "maintenance" {
        title.push_str(&format!(", {} min maintenance", minutes(t.maintenance_ms)));
    }
    context! { class => class, title => title, day => day(start) }
}

fn status_words(status: &str) -> &'static str {
    match status {
        "degraded_performance" => "Degraded performance",
        "partial_outage" => "Partial outage",
        "major_outage" => "Major outage",
        "under_maintenance" => "Under maintenance",
        _ => "Operational",
    }
}

/// `GET /status`
async fn page(state: AppState) -> Response {
    let snapshot = view::snapshot(&state.0).await;
    let config = &state.config;
    let data = Data::new(config, &snapshot);
    let (indicator, description) = snapshot.indicator(&data.components);
    let now = snapshot.now;
    let components: Vec<Value> = data
        .components
        .iter()
        .map(|c| {
            context! {
                code => c.component.code,
                name => c.component.name,
                description => c.component.description,
                status => c.status,
                words => status_words(&c.status),
                checked => c.probe.as_ref().map(|p| time(p.checked_at)),
                since => c.probe.as_ref().map(|p| time(p.changed_at)),
                uptime => c.uptime.iter().map(|(label, v)| context! {
                    label => label,
                    key => label.replace(' ', ""),
                    value => percent(*v),
                }).collect::<Vec<_>>(),
                days => c.days.iter().map(|(start, t)| bar(*start, t)).collect::<Vec<_>>(),
            }
        })
        .collect();
    let window = |w: &Maintenance| {
        let parts: Vec<String> = w.components.iter().map(|c| data.name_of(c)).collect();
        context! {
            id => w.id,
            starts_at => time(w.starts_at),
            ends_at => time(w.ends_at),
            message => w.message,
            emergency => w.emergency,
            components => if parts.is_empty() { "the whole service".to_owned() } else { parts.join(", ") },
        }
    };
    let active: Vec<Value> = snapshot.active_maintenance().map(window).collect();
    let upcoming: Vec<Value> = snapshot
        .maintenance
        .iter()
        .filter(|w| w.starts_at > now)
        .map(window)
        .collect();
    let incident = |i: &Incident| {
        context! {
            id => i.id,
            name => i.name,
            status => i.status,
            impact => i.impact,
            created_at => time(i.created_at),
            resolved_at => i.resolved_at.map(time),
            updates => i.updates.iter().map(|u| context! {
                status => u.status,
                body => u.body,
                at => time(u.created_at),
            }).collect::<Vec<_>>(),
        }
    };
    let open: Vec<Value> = snapshot.unresolved().map(incident).collect();
    // Resolved incidents of the last 14 days, as most status pages show under "past".
    let past: Vec<Value> = snapshot
        .incidents
        .iter()
        .filter(|i| i.resolved_at.is_some_and(|r| r > now - 14 * 86_400_000))
        .map(incident)
        .collect();
    let ctx = context! {
        page_name => config.status.page_name,
        indicator => indicator,
        description => description,
        components => components,
        active => active,
        upcoming => upcoming,
        open => open,
        past => past,
        updated_at => time(now),
        first_day => snapshot_first_day(now),
        unreachable => snapshot.database_unreachable,
    };
    let html = match TEMPLATES
        .get_template("status.html")
        .and_then(|t| t.render(ctx))
    {
        Ok(html) => html,
        Err(e) => {
            return ApiError::internal(anyhow::anyhow!("status template: {e}")).into_response();
        }
    };
    let mut response = Html(html).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    cache_briefly(&state, &mut response);
    response
        .headers_mut()
        .remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    response
}

fn snapshot_first_day(now: i64) -> String {
    day(easel_db::Period::Day.start(now) - (view::DAYS - 1) * easel_db::Period::Day.ms())
}

/// `GET /status/history.atom`: incidents (each update an entry's content) and maintenance
/// windows, newest first.
async fn feed(state: AppState) -> Response {
    let snapshot = view::snapshot(&state.0).await;
    let config = &state.config;
    let data = Data::new(config, &snapshot);
    let mut entries: Vec<(i64, Value)> = Vec::new();
    for i in &snapshot.incidents {
        let body: Vec<String> = i
            .updates
            .iter()
            .map(|u| format!("{} — {}: {}", time(u.created_at), u.status, u.body))
            .collect();
        entries.push((
            i.updated_at,
            context! {
                id => format!("{}#{}", data.url(), i.id),
                title => format!("{} ({})", i.name, i.status),
                updated => time(i.updated_at),
                published => time(i.created_at),
                link => format!("{}#{}", data.url(), i.id),
                content => body.join("\n"),
            },
        ));
    }
    for w in &snapshot.maintenance {
        let status = maintenance_status(w, snapshot.now);
        entries.push((
            w.created_at,
            context! {
                id => format!("{}#{}", data.url(), w.id),
                title => format!("Maintenance {} to {} ({status})", time(w.starts_at), time(w.ends_at)),
                updated => time(w.created_at),
                published => time(w.created_at),
                link => format!("{}#{}", data.url(), w.id),
                content => w.message.clone(),
            },
        ));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    let updated = entries.first().map_or(snapshot.now, |(at, _)| *at);
    let ctx = context! {
        page_name => config.status.page_name,
        url => data.url(),
        updated => time(updated.min(now_ms())),
        entries => entries.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
    };
    let xml = match TEMPLATES
        .get_template("status_feed.xml")
        .and_then(|t| t.render(ctx))
    {
        Ok(xml) => xml,
        Err(e) => return ApiError::internal(anyhow::anyhow!("status feed: {e}")).into_response(),
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/atom+xml; charset=utf-8"),
        )],
        xml,
    )
        .into_response();
    cache_briefly(&state, &mut response);
    response
}
