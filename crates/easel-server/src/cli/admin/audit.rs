//! `easel admin audit`

use clap::Args;
use easel_db::Page;

use crate::api::v1::audit_log::dto::AuditLogEntryObject;
use crate::app::App;
use crate::cli::output::{emit, when};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this account's entries (default: every account and the operator's).
    #[arg(long)]
    account: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[arg(long)]
    json: bool,
}

/// A global entry also says which account it concerns.
#[derive(Debug, serde::Serialize)]
struct EntryView {
    #[serde(flatten)]
    entry: AuditLogEntryObject,
    account_id: Option<String>,
}

pub async fn run(app: &App, args: AuditArgs) -> anyhow::Result<()> {
    let limit = args.limit.clamp(1, 10_000);
    let mut rows = app
        .store
        .list_audit(args.account.as_deref(), Page::first(limit))
        .await?;
    rows.truncate(limit as usize);
    let views: Vec<EntryView> = rows
        .into_iter()
        .map(|e| EntryView {
            account_id: e.account_id.clone(),
            entry: e.into(),
        })
        .collect();
    emit(args.json, &views, || {
        views
            .iter()
            .map(|v| {
                let e = &v.entry;
                format!(
                    "{}  {}  {}  {}:{}  {}  {}",
                    when(Some(e.created_at)),
                    e.action,
                    v.account_id.as_deref().unwrap_or("-"),
                    e.actor.kind_str(),
                    e.actor.id,
                    e.target.id.as_deref().unwrap_or("-"),
                    e.details
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}
