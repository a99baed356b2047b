//! `easel admin abuse …`: the operator's queue of abuse reports.

use clap::Subcommand;
use easel_core::time::{ms_to_secs, now_ms};
use easel_db::{AbuseReport, Resolution};
use serde::Serialize;

use super::account::JobsChoice;
use super::{audit, cli_error};
use crate::app::App;
use crate::cli::output::{emit, when};
use crate::services::abuse;

#[derive(Debug, Subcommand)]
pub enum AbuseCommand {
    /// Open reports, the most urgent (nearest deadline) first.
    List {
        /// Every report, newest first, resolved ones included.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Resolve an open report. Anything but `dismissed` upholds it: a strike against the
    /// reported account (which may suspend it).
    Resolve {
        id: String,
        /// `dismissed`, `warned`, `output_removed` (the outputs are deleted) or
        /// `account_suspended` (the account is suspended pending review).
        #[arg(long, value_parser = ["dismissed", "warned", "output_removed", "account_suspended"])]
        action: String,
        /// A note kept with the report and sent to the reporter.
        #[arg(long)]
        note: Option<String>,
        /// When this suspends the account: `finish` or `cancel` its open generations
        /// (default: `[moderation.strikes] on_suspend`).
        #[arg(long, value_enum)]
        jobs: Option<JobsChoice>,
        #[arg(long)]
        json: bool,
    },
}

/// A report as the operator sees it: everything, the reporter's e-mail included.
#[derive(Debug, Serialize)]
struct ReportView {
    id: String,
    status: &'static str,
    source: &'static str,
    category: String,
    description: String,
    generation_id: Option<String>,
    output_url: Option<String>,
    account_id: Option<String>,
    livemode: Option<bool>,
    reporter_email: Option<String>,
    reporter_account_id: Option<String>,
    deadline_at: i64,
    /// Whether the deadline has passed with the report still open.
    overdue: bool,
    created_at: i64,
    resolved_at: Option<i64>,
    resolution: Option<&'static str>,
    resolution_note: Option<String>,
    resolved_by: Option<String>,
}

impl From<AbuseReport> for ReportView {
    fn from(r: AbuseReport) -> Self {
        ReportView {
            status: if r.open { "open" } else { "resolved" },
            source: r.source.as_str(),
            overdue: r.open && r.deadline_at <= now_ms(),
            livemode: r.mode.map(|m| m.is_live()),
            deadline_at: ms_to_secs(r.deadline_at),
            created_at: ms_to_secs(r.created_at),
            resolved_at: r.resolved_at.map(ms_to_secs),
            resolution: r.resolution.map(Resolution::as_str),
            id: r.id,
            category: r.category,
            description: r.description,
            generation_id: r.generation_id,
            output_url: r.output_url,
            account_id: r.account_id,
            reporter_email: r.reporter_email,
            reporter_account_id: r.reporter_account_id,
            resolution_note: r.resolution_note,
            resolved_by: r.resolved_by,
        }
    }
}

pub async fn run(app: &App, command: AbuseCommand) -> anyhow::Result<()> {
    match command {
        AbuseCommand::List { all, limit, json } => {
            let reports = app
                .store
                .list_abuse_reports(!all, limit.clamp(1, 10_000))
                .await?;
            let views: Vec<ReportView> = reports.into_iter().map(ReportView::from).collect();
            emit(json, &views, || {
                if views.is_empty() {
                    return "no open abuse reports".to_string();
                }
                views
                    .iter()
                    .map(|v| {
                        format!(
                            "{}  due {}{}  {}  {}  {}  {}",
                            v.id,
                            when(Some(v.deadline_at)),
                            if v.overdue { " (OVERDUE)" } else { "" },
                            v.status,
                            v.category,
                            v.generation_id.as_deref().unwrap_or("-"),
                            v.account_id.as_deref().unwrap_or("-"),
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AbuseCommand::Resolve {
            id,
            action,
            note,
            jobs,
            json,
        } => {
            let resolution = Resolution::parse(&action)
                .ok_or_else(|| anyhow::anyhow!("unknown action `{action}`"))?;
            let resolved =
                abuse::resolve(app, &id, resolution, note, jobs.map(Into::into), audit())
                    .await
                    .map_err(cli_error)?;
            let suspended = resolved
                .strike
                .as_ref()
                .and_then(|s| s.suspended.as_ref())
                .map(|a| a.id.clone());
            let view = serde_json::json!({
                "report": ReportView::from(resolved.report),
                "strike": resolved.strike.as_ref().map(|s| serde_json::json!({
                    "id": s.strike_id,
                    "strikes_in_window": s.strikes_in_window,
                })),
                "suspended_account": suspended,
                "outputs_removed": resolved.removed_outputs.len(),
            });
            emit(json, &view, || format!("resolved {id}: {action}"))
        }
    }
}
