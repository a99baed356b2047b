//! `easel admin …`: the operator's tools, working directly on the server's database.
//!
//! Changes made here reach running servers through the same invalidation poll as changes
//! made by another node (within about a second).

mod abuse;
mod account;
mod audit;
mod credits;
mod data_rights;
mod engines;
mod incident;
mod invoices;
mod key;
mod maintenance;
mod member;
mod operator;
mod plan;
mod terms;
mod worker;

use std::sync::Arc;

use clap::Subcommand;

use crate::app::App;
use crate::config::Config;
use crate::http::error::ApiError;

/// `easel admin <command>`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Accounts (organisations): create, list, show, suspend, unsuspend, terminate, export,
    /// erase.
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// API keys: create, list, revoke, rotate.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Members of an account and their roles.
    #[command(subcommand)]
    Member(member::MemberCommand),
    /// Credits: grant, balance.
    #[command(subcommand)]
    Credits(credits::CreditsCommand),
    /// Monthly invoices: issue a closed month's.
    #[command(subcommand)]
    Invoices(invoices::InvoicesCommand),
    /// Plans and per-account limits: set, show.
    #[command(subcommand)]
    Plan(plan::PlanCommand),
    /// The global audit log, newest first.
    Audit(audit::AuditArgs),
    /// Abuse reports: list (by deadline), resolve.
    #[command(subcommand)]
    Abuse(abuse::AbuseCommand),
    /// Operators of the console: passwd.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Model backends: check (probe every configured backend).
    #[command(subcommand)]
    Engines(engines::EnginesCommand),
    /// Remote pull workers: create (prints the token once), list, revoke.
    #[command(subcommand)]
    Worker(worker::WorkerCommand),
    /// API terms: announce a new version (30 days ahead at least), list.
    #[command(subcommand)]
    Terms(terms::TermsCommand),
    /// Maintenance windows: announce (48 hours ahead at least), list, cancel.
    #[command(subcommand)]
    Maintenance(maintenance::MaintenanceCommand),
    /// Incidents on the status page: open, update, resolve, list.
    #[command(subcommand)]
    Incident(incident::IncidentCommand),
}

/// Runs an admin command against the configured database.
pub async fn run(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    // Probing backends needs no database.
    let command = match command {
        AdminCommand::Engines(c) => return engines::run(&config, c).await,
        other => other,
    };
    let store = crate::server::open_store(&config).await?;
    // The instance secret, when set up, so that anything signed here verifies on the server.
    let secret = store.instance_secret().await.ok();
    let app = Arc::new(App::for_tools(config, store, secret.as_deref())?);
    match command {
        AdminCommand::Account(c) => account::run(&app, c).await,
        AdminCommand::Key(c) => key::run(&app, c).await,
        AdminCommand::Member(c) => member::run(&app, c).await,
        AdminCommand::Audit(args) => audit::run(&app, args).await,
        AdminCommand::Credits(c) => credits::run(&app, c).await,
        AdminCommand::Invoices(c) => invoices::run(&app, c).await,
        AdminCommand::Plan(c) => plan::run(&app, c).await,
        AdminCommand::Abuse(c) => abuse::run(&app, c).await,
        AdminCommand::Operator(c) => operator::run(&app, c).await,
        AdminCommand::Worker(c) => worker::run(&app, c).await,
        AdminCommand::Terms(c) => terms::run(&app, c).await,
        AdminCommand::Maintenance(c) => maintenance::run(&app, c).await,
        AdminCommand::Incident(c) => incident::run(&app, c).await,
        AdminCommand::Engines(_) => Ok(()),
    }
}

/// An API error as a CLI error: its message and, if any, the parameter at fault.
pub(super) fn cli_error(e: ApiError) -> anyhow::Error {
    match &e.param {
        Some(param) => anyhow::anyhow!("{} (code {:?}, param `{param}`)", e.message, e.code),
        None => anyhow::anyhow!("{} (code {:?})", e.message, e.code),
    }
}

/// The operator acting from the command line.
pub(super) fn audit() -> easel_db::AuditContext {
    easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None)
}
