//! Incidents the operator posts on the status page (`easel admin incident open|update|
//! resolve`), in Statuspage's words so its JSON reads like any other status page's.

use std::collections::BTreeMap;

use easel_core::ids::IdKind;
use easel_db::{AuditContext, Incident, IncidentChange, IncidentUpdate};

use crate::app::App;
use crate::http::error::{ApiError, ApiResult};
use crate::services::OrNotFound;

/// An incident's statuses, in the order they usually come.
pub const STATUSES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];
/// How bad an incident is.
pub const IMPACTS: [&str; 4] = ["none", "minor", "major", "critical"];
/// What an incident can say of a component.
pub const COMPONENT_STATUSES: [&str; 5] = [
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
];
const MAX_NAME_CHARS: usize = 200;
const MAX_BODY_CHARS: usize = 5_000;

fn one_of(field: &'static str, value: &str, allowed: &[&str]) -> ApiResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("`{value}` is not one of {}.", allowed.join(", ")),
        ))
    }
}

fn text(field: &'static str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("Write 1 to {max} characters."),
        ));
    }
    Ok(value.to_owned())
}

/// Reads `code=status` (or a bare `code`, which takes the status the impact suggests) for
/// each component, checking both words.
pub fn parse_components(
    app: &App,
    values: &[String],
    impact: &str,
) -> ApiResult<BTreeMap<String, String>> {
    let known = super::components(&app.config);
    let default = match impact {
        "critical" => "major_outage",
        "major" => "partial_outage",
        _ => "degraded_performance",
    };
    let mut out = BTreeMap::new();
    for value in values {
        let (code, status) = value.split_once('=').unwrap_or((value.as_str(), default));
        let (code, status) = (code.trim(), status.trim());
        if !known.iter().any(|c| c.code == code) {
            let codes: Vec<&str> = known.iter().map(|c| c.code.as_str()).collect();
            return Err(ApiError::invalid(
                "component",
                format!(
                    "No component named `{code}`: use one of {}.",
                    codes.join(", ")
                ),
            ));
        }
        one_of("component", status, &COMPONENT_STATUSES)?;
        out.insert(code.to_owned(), status.to_owned());
    }
    Ok(out)
}

/// Opens an incident with its first message.
pub async fn open(
    app: &App,
    name: &str,
    body: &str,
    status: &str,
    impact: &str,
    components: &[String],
    audit: AuditContext,
) -> ApiResult<Incident> {
    let name = text("name", name, MAX_NAME_CHARS)?;
    let body = text("message", body, MAX_BODY_CHARS)?;
    one_of("status", status, &STATUSES[..3])?;
    one_of("impact", impact, &IMPACTS)?;
    let components = parse_components(app, components, impact)?;
    let now = audit.now;
    let id = IdKind::Incident.generate();
    let changes = components
        .iter()
        .filter(|(_, s)| s.as_str() != "operational")
        .map(|(code, s)| easel_db::ComponentChange {
            code: code.clone(),
            old_status: "operational".into(),
            new_status: s.clone(),
        })
        .collect();
    let incident = Incident {
        id: id.clone(),
        name,
        status: status.to_owned(),
        impact: impact.to_owned(),
        components: components
            .into_iter()
            .filter(|(_, s)| s != "operational")
            .collect(),
        created_at: now,
        updated_at: now,
        monitoring_at: (status == "monitoring").then_some(now),
        resolved_at: None,
        updates: vec![IncidentUpdate {
            id: IdKind::IncidentUpdate.generate(),
            incident_id: id,
            status: status.to_owned(),
            body,
            components: changes,
            created_at: now,
        }],
    };
    Ok(app.store.open_incident(incident, audit).await?)
}

/// Posts an update on an unresolved incident; `resolved` ends it.
pub async fn update(
    app: &App,
    id: &str,
    body: &str,
    status: &str,
    impact: Option<&str>,
    components: &[String],
    audit: AuditContext,
) -> ApiResult<Incident> {
    let body = text("message", body, MAX_BODY_CHARS)?;
    one_of("status", status, &STATUSES)?;
    if let Some(impact) = impact {
        one_of("impact", impact, &IMPACTS)?;
    }
    let current = app
        .store
        .get_incident(id)
        .await
        .or_not_found("incident", id)?;
    if current.resolved_at.is_some() {
        return Err(ApiError::invalid(
            "id",
            "This incident is resolved; open a new one.",
        ));
    }
    let impact_now = impact.unwrap_or(&current.impact);
    let components = parse_components(app, components, impact_now)?;
    let change = IncidentChange {
        update_id: IdKind::IncidentUpdate.generate(),
        status: status.to_owned(),
        body,
        impact: impact.map(str::to_owned),
        components,
    };
    match app.store.update_incident(id, change, audit).await {
        Err(easel_db::DbError::Conflict(_)) => Err(ApiError::invalid(
            "id",
            "Someone else updated this incident at the same moment; read it again and retry.",
        )),
        other => other.or_not_found("incident", id),
    }
}
