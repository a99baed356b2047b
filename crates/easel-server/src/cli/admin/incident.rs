//! `easel admin incident …`: incidents on the status page, in Statuspage's words.

use clap::Subcommand;
use serde::Serialize;

use super::{audit, cli_error};
use crate::app::App;
use crate::cli::output::{emit, when};
use crate::status::incidents;

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident: it shows on /status, in its JSON and feed until resolved.
    Open {
        /// A short title (`Slow image generations`).
        #[arg(long)]
        name: String,
        /// The first message for developers.
        #[arg(long)]
        message: String,
        /// `investigating`, `identified` or `monitoring`.
        #[arg(long, default_value = "investigating")]
        status: String,
        /// `none`, `minor`, `major` or `critical`.
        #[arg(long, default_value = "minor")]
        impact: String,
        /// A component affected, as `code=status` (`api=partial_outage`) or a bare code (a
        /// status from the impact); repeat for several.
        #[arg(long = "component")]
        components: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Post an update: a message and, optionally, a new status, impact or component status.
    Update {
        id: String,
        #[arg(long)]
        message: String,
        /// `investigating`, `identified`, `monitoring` or `resolved`; unchanged by default.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        impact: Option<String>,
        /// `code=status`; `code=operational` takes a component off the incident.
        #[arg(long = "component")]
        components: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Resolve an incident with a last message; its components are operational again.
    Resolve {
        id: String,
        #[arg(long)]
        message: String,
        #[arg(long)]
        json: bool,
    },
    /// The latest incidents, newest first.
    List {
        /// Only those not resolved.
        #[arg(long)]
        unresolved: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct UpdateView {
    id: String,
    status: String,
    body: String,
    created_at: String,
}

#[derive(Debug, Serialize)]
struct IncidentView {
    id: String,
    name: String,
    status: String,
    impact: String,
    components: std::collections::BTreeMap<String, String>,
    created_at: String,
    resolved_at: Option<String>,
    updates: Vec<UpdateView>,
}

fn time(ms: i64) -> String {
    when(Some(ms.div_euclid(1000)))
}

fn view(i: &easel_db::Incident) -> IncidentView {
    IncidentView {
        id: i.id.clone(),
        name: i.name.clone(),
        status: i.status.clone(),
        impact: i.impact.clone(),
        components: i.components.clone(),
        created_at: time(i.created_at),
        resolved_at: i.resolved_at.map(time),
        updates: i
            .updates
            .iter()
            .map(|u| UpdateView {
                id: u.id.clone(),
                status: u.status.clone(),
                body: u.body.clone(),
                created_at: time(u.created_at),
            })
            .collect(),
    }
}

fn line(i: &IncidentView) -> String {
    let parts: Vec<String> = i
        .components
        .iter()
        .map(|(c, s)| format!("{c}={s}"))
        .collect();
    format!(
        "{}  {}  {} ({} impact) since {}{}",
        i.id,
        i.name,
        i.status,
        i.impact,
        i.created_at,
        if parts.is_empty() {
            String::new()
        } else {
            format!("  [{}]", parts.join(", "))
        }
    )
}

pub async fn run(app: &App, command: IncidentCommand) -> anyhow::Result<()> {
    match command {
        IncidentCommand::Open {
            name,
            message,
            status,
            impact,
            components,
            json,
        } => {
            let i = incidents::open(app, &name, &message, &status, &impact, &components, audit())
                .await
                .map_err(cli_error)?;
            let v = view(&i);
            emit(json, &v, || {
                format!("{}\nopened: it shows on /status", line(&v))
            })
        }
        IncidentCommand::Update {
            id,
            message,
            status,
            impact,
            components,
            json,
        } => {
            let current = app
                .store
                .get_incident(&id)
                .await
                .map_err(|_| anyhow::anyhow!("no such incident: {id}"))?;
            let status = status.unwrap_or(current.status);
            let i = incidents::update(
                app,
                &id,
                &message,
                &status,
                impact.as_deref(),
                &components,
                audit(),
            )
            .await
            .map_err(cli_error)?;
            let v = view(&i);
            emit(json, &v, || line(&v))
        }
        IncidentCommand::Resolve { id, message, json } => {
            let i = incidents::update(app, &id, &message, "resolved", None, &[], audit())
                .await
                .map_err(cli_error)?;
            let v = view(&i);
            emit(json, &v, || format!("{}\nresolved", line(&v)))
        }
        IncidentCommand::List { unresolved, json } => {
            let list = app
                .store
                .list_incidents(50, unresolved)
                .await
                .map_err(|e| anyhow::anyhow!("cannot list incidents: {e}"))?;
            let v: Vec<IncidentView> = list.iter().map(view).collect();
            emit(json, &v, || {
                if v.is_empty() {
                    "no incidents".into()
                } else {
                    v.iter().map(line).collect::<Vec<_>>().join("\n")
                }
            })
        }
    }
}
