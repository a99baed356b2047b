//! `easel admin terms …`: announcing a new version of the API terms (clause 18) and
//! listing the versions.

use clap::Subcommand;
use serde::Serialize;

use super::{audit, cli_error};
use crate::app::App;
use crate::cli::output::{emit, parse_time, when};
use crate::services::terms;

#[derive(Debug, Subcommand)]
pub enum TermsCommand {
    /// Announce a new version, in force from `--effective`: at least 30 days ahead, after
    /// every version announced before. Every account owner is mailed; consoles show the
    /// notice until the date, then ask each member to accept the new version.
    Announce {
        /// The version's name, as sign-up records it (`2027-02-01`).
        #[arg(long)]
        version: String,
        /// When it takes effect, RFC 3339 (`2027-02-01T00:00:00Z`).
        #[arg(long)]
        effective: String,
        /// What changes, in a sentence or two, for the mail and the notice.
        #[arg(long)]
        summary: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The versions announced, the one in force and the next.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct VersionView {
    version: String,
    effective_at: String,
    announced_at: String,
    summary: Option<String>,
}

#[derive(Debug, Serialize)]
struct ListView {
    current: String,
    upcoming: Option<String>,
    versions: Vec<VersionView>,
}

fn view(t: &easel_db::TermsVersion) -> VersionView {
    VersionView {
        version: t.version.clone(),
        effective_at: when(Some(t.effective_at.div_euclid(1000))),
        announced_at: when(Some(t.announced_at.div_euclid(1000))),
        summary: t.summary.clone(),
    }
}

pub async fn run(app: &App, command: TermsCommand) -> anyhow::Result<()> {
    match command {
        TermsCommand::Announce {
            version,
            effective,
            summary,
            json,
        } => {
            let effective_at = parse_time(&effective)?;
            let t = terms::announce(app, &version, effective_at, summary, audit())
                .await
                .map_err(cli_error)?;
            let v = view(&t);
            emit(json, &v, || {
                format!(
                    "terms {} announced, in force from {}; account owners were mailed",
                    v.version, v.effective_at
                )
            })
        }
        TermsCommand::List { json } => {
            let now = terms::now(app).await.map_err(cli_error)?;
            let versions = app
                .store
                .list_terms()
                .await
                .map_err(|e| cli_error(e.into()))?;
            let v = ListView {
                current: now.current.clone(),
                upcoming: now.upcoming.as_ref().map(|t| t.version.clone()),
                versions: versions.iter().map(view).collect(),
            };
            emit(json, &v, || {
                let mut lines = vec![format!("in force: {}", v.current)];
                for t in &v.versions {
                    lines.push(format!("{}  from {}", t.version, t.effective_at));
                }
                lines.join("\n")
            })
        }
    }
}
