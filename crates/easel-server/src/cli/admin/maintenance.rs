//! `easel admin maintenance …`: announcing, listing and canceling maintenance windows.

use clap::Subcommand;
use serde::Serialize;

use super::{audit, cli_error};
use crate::app::App;
use crate::cli::output::{emit, parse_time, when};
use crate::services::maintenance::{self, Announcement};

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Announce a window: at least 48 hours ahead unless `--emergency`. Every account gets
    /// a `maintenance.scheduled` event, every owner a mail, every console page a notice.
    Announce {
        /// When it starts, RFC 3339 (`2027-01-10T02:00:00Z`).
        #[arg(long)]
        start: String,
        /// When it ends, RFC 3339; at most 7 days after the start.
        #[arg(long)]
        end: String,
        /// What happens and what developers should expect, for the mail and the notice.
        #[arg(long)]
        message: String,
        /// A part affected (`api`, `database`, `queue`, `object_store`, `webhooks` or a
        /// model id); repeat for several; none: the whole service.
        #[arg(long = "component")]
        components: Vec<String>,
        /// Work that cannot wait 48 hours.
        #[arg(long)]
        emergency: bool,
        #[arg(long)]
        json: bool,
    },
    /// Windows not over yet, soonest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Cancel a window that has not ended.
    Cancel {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct WindowView {
    id: String,
    starts_at: String,
    ends_at: String,
    message: String,
    components: Vec<String>,
    emergency: bool,
}

fn view(w: &easel_db::Maintenance) -> WindowView {
    WindowView {
        id: w.id.clone(),
        starts_at: when(Some(w.starts_at.div_euclid(1000))),
        ends_at: when(Some(w.ends_at.div_euclid(1000))),
        message: w.message.clone(),
        components: w.components.clone(),
        emergency: w.emergency,
    }
}

fn line(w: &WindowView) -> String {
    let parts = if w.components.is_empty() {
        "everything".to_string()
    } else {
        w.components.join(", ")
    };
    format!(
        "{}  {} to {}  ({parts}){}  {}",
        w.id,
        w.starts_at,
        w.ends_at,
        if w.emergency { " emergency" } else { "" },
        w.message
    )
}

pub async fn run(app: &App, command: MaintenanceCommand) -> anyhow::Result<()> {
    match command {
        MaintenanceCommand::Announce {
            start,
            end,
            message,
            components,
            emergency,
            json,
        } => {
            let announcement = Announcement {
                starts_at: parse_time(&start)?,
                ends_at: parse_time(&end)?,
                message,
                components,
                emergency,
            };
            let w = maintenance::announce(app, announcement, audit())
                .await
                .map_err(cli_error)?;
            let v = view(&w);
            emit(json, &v, || {
                format!(
                    "{}\nannounced: every account was told (event maintenance.scheduled) and owners were mailed",
                    line(&v)
                )
            })
        }
        MaintenanceCommand::List { json } => {
            let windows = maintenance::upcoming(app).await.map_err(cli_error)?;
            let v: Vec<WindowView> = windows.iter().map(view).collect();
            emit(json, &v, || {
                if v.is_empty() {
                    "no maintenance announced".into()
                } else {
                    v.iter().map(line).collect::<Vec<_>>().join("\n")
                }
            })
        }
        MaintenanceCommand::Cancel { id, json } => {
            let w = maintenance::cancel(app, &id, audit())
                .await
                .map_err(cli_error)?;
            let v = view(&w);
            emit(json, &v, || format!("{} canceled", v.id))
        }
    }
}
