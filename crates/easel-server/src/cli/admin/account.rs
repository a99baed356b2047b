//! `easel admin account …`

use std::io::Read;

use clap::{Args, Subcommand};
use easel_core::time::ms_to_secs;
use easel_db::{Account, Member, Page, StateChange, SuspendJobs};
use serde::Serialize;

use super::{audit, cli_error};
use crate::app::App;
use crate::cli::output::{emit, parse_time, when};
use crate::services::OrNotFound;
use crate::services::accounts::{self, AccountSpec, UserSpec};

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account with its owner.
    Create(CreateArgs),
    /// List accounts, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show one account with its members.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Suspend an account: every API call answers 403 account_suspended.
    Suspend {
        id: String,
        /// Why (shown to the operator and recorded in the audit log).
        #[arg(long)]
        reason: String,
        /// When the suspension ends by itself (RFC 3339); default: until unsuspended.
        #[arg(long)]
        until: Option<String>,
        /// What happens to its queued and running generations: `finish` (they run to
        /// their end) or `cancel` (canceled now, holds released).
        #[arg(long, value_enum)]
        jobs: JobsChoice,
        #[arg(long)]
        json: bool,
    },
    /// Open live mode for an account that signed up and waits for review
    /// (`[console] signup = "approval"`), once its owner verified their e-mail address.
    Approve {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Lift a suspension.
    Unsuspend {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Terminate an account: all keys are revoked and open generations canceled at once.
    /// Final; its data is erased when `[data_rights] terminated_retention_days` have passed.
    Terminate {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Export everything held about an account into a tar.gz (one JSON-lines file per kind
    /// of record and a manifest.json), built here, now.
    Export {
        id: String,
        /// Where to write the archive (default: `easel-export-<account>-<export>.tar.gz` in
        /// the current directory).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Erase an account now: terminate it, delete its outputs, inputs, prompts, logs,
    /// sessions and keys, and replace its personal data with placeholders (invoices and
    /// the ledger are kept). Final.
    Erase {
        id: String,
        /// Confirms the erasure (nothing is done without it).
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
}

/// `--jobs` of `account suspend`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum JobsChoice {
    Finish,
    Cancel,
}

impl From<JobsChoice> for SuspendJobs {
    fn from(choice: JobsChoice) -> SuspendJobs {
        match choice {
            JobsChoice::Finish => SuspendJobs::Finish,
            JobsChoice::Cancel => SuspendJobs::Cancel,
        }
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Business name.
    #[arg(long)]
    name: String,
    /// The owner's email (a new user).
    #[arg(long)]
    owner_email: String,
    #[arg(long)]
    owner_name: Option<String>,
    /// Read the owner's password from standard input (else they set one in the console).
    #[arg(long)]
    owner_password_stdin: bool,
    /// The owner attested being 18 or older.
    #[arg(long)]
    adult_attested: bool,
    /// The terms version the owner accepted.
    #[arg(long)]
    terms_version: Option<String>,
    #[arg(long)]
    legal_name: Option<String>,
    /// Contact email, if not the owner's.
    #[arg(long)]
    contact_email: Option<String>,
    #[arg(long)]
    contact_phone: Option<String>,
    #[arg(long)]
    address: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[arg(long)]
    country: Option<String>,
    /// Plan (default: the configured default plan).
    #[arg(long)]
    plan: Option<String>,
    #[arg(long)]
    json: bool,
}

/// An account as the operator sees it.
#[derive(Debug, Serialize)]
pub struct AccountView {
    object: &'static str,
    id: String,
    name: String,
    legal_name: Option<String>,
    contact_email: String,
    contact_phone: Option<String>,
    address: Option<String>,
    country: Option<String>,
    plan: String,
    state: easel_core::account::AccountState,
    suspended_reason: Option<String>,
    suspended_until: Option<i64>,
    terminated_at: Option<i64>,
    /// What the account lacks before live mode opens (`unverified`, `approval`); null: open.
    live_blocked: Option<easel_core::account::LiveBlock>,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<Vec<MemberView>>,
    /// Its erasure, if one was asked for or scheduled (`account show` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    erasure: Option<ErasureView>,
}

/// An account's erasure as the operator sees it.
#[derive(Debug, Serialize)]
pub struct ErasureView {
    /// `scheduled`, `running`, `done` or `canceled`.
    pub status: &'static str,
    /// `owner_request`, `operator` or `terminated`.
    pub reason: &'static str,
    pub due_at: i64,
    pub erased_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: easel_core::roles::Role,
    pub created_at: i64,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            user_id: m.user_id,
            email: m.email,
            role: m.role,
            created_at: ms_to_secs(m.created_at),
        }
    }
}

fn view(a: Account, members: Option<Vec<Member>>) -> AccountView {
    AccountView {
        object: "account",
        id: a.id,
        name: a.name,
        legal_name: a.legal_name,
        contact_email: a.contact_email,
        contact_phone: a.contact_phone,
        address: a.address,
        country: a.country,
        plan: a.plan,
        state: a.state,
        suspended_reason: a.suspended_reason,
        suspended_until: a.suspended_until.map(ms_to_secs),
        terminated_at: a.terminated_at.map(ms_to_secs),
        live_blocked: a.live_blocked,
        created_at: ms_to_secs(a.created_at),
        members: members.map(|m| m.into_iter().map(MemberView::from).collect()),
        erasure: None,
    }
}

fn describe(a: &AccountView) -> String {
    let mut s = format!(
        "{}  {}  plan={}  state={}",
        a.id,
        a.name,
        a.plan,
        a.state.as_str()
    );
    if let Some(block) = a.live_blocked {
        s.push_str(&format!("  live=waiting({})", block.as_str()));
    }
    if let Some(reason) = &a.suspended_reason {
        s.push_str(&format!(
            "  reason={reason:?} until={}",
            when(a.suspended_until)
        ));
    }
    if let Some(e) = &a.erasure {
        s.push_str(&format!(
            "  erasure={} ({}) due={}",
            e.status,
            e.reason,
            when(Some(e.due_at))
        ));
    }
    for m in a.members.iter().flatten() {
        s.push_str(&format!(
            "\n  member {}  {}  {}",
            m.user_id,
            m.email,
            m.role.as_str()
        ));
    }
    s
}

pub async fn run(app: &App, command: AccountCommand) -> anyhow::Result<()> {
    match command {
        AccountCommand::Create(args) => create(app, args).await,
        AccountCommand::List { limit, json } => {
            let accounts = app
                .store
                .list_accounts(Page::first(limit.clamp(1, 1000)))
                .await?;
            let mut views: Vec<AccountView> = accounts.into_iter().map(|a| view(a, None)).collect();
            views.truncate(limit as usize);
            emit(json, &views, || {
                views.iter().map(describe).collect::<Vec<_>>().join("\n")
            })
        }
        AccountCommand::Show { id, json } => {
            let account = app
                .store
                .get_account(&id)
                .await
                .or_not_found("account", &id)
                .map_err(cli_error)?;
            let members = app.store.list_members(&id).await?;
            let mut v = view(account, Some(members));
            v.erasure = match app.store.get_erasure(&id).await {
                Ok(e) => Some(ErasureView {
                    status: e.state.as_str(),
                    reason: e.reason.as_str(),
                    due_at: ms_to_secs(e.due_at),
                    erased_at: e.erased_at.map(ms_to_secs),
                }),
                Err(easel_db::DbError::NotFound) => None,
                Err(e) => return Err(e.into()),
            };
            emit(json, &v, || describe(&v))
        }
        AccountCommand::Suspend {
            id,
            reason,
            until,
            jobs,
            json,
        } => {
            let until = until.as_deref().map(parse_time).transpose()?;
            let jobs = jobs.into();
            let change_to = StateChange::Suspend {
                reason,
                until,
                jobs,
            };
            change(app, &id, change_to, json).await
        }
        AccountCommand::Approve { id, json } => {
            let account = app
                .store
                .approve_account(&id, audit())
                .await
                .or_not_found("account", &id)
                .map_err(cli_error)?;
            app.auth.invalidate_account(&account.id);
            let v = view(account, None);
            emit(json, &v, || describe(&v))
        }
        AccountCommand::Unsuspend { id, json } => {
            change(app, &id, StateChange::Unsuspend, json).await
        }
        AccountCommand::Terminate { id, json } => {
            change(app, &id, StateChange::Terminate, json).await
        }
        AccountCommand::Export { id, out, json } => {
            super::data_rights::export(app, &id, out, json).await
        }
        AccountCommand::Erase { id, yes, json } => {
            super::data_rights::erase(app, &id, yes, json).await
        }
    }
}

async fn create(app: &App, args: CreateArgs) -> anyhow::Result<()> {
    let password = if args.owner_password_stdin {
        let mut pw = String::new();
        std::io::stdin().read_to_string(&mut pw)?;
        Some(pw.trim_end_matches(['\r', '\n']).to_string())
    } else {
        None
    };
    let spec = AccountSpec {
        name: args.name,
        legal_name: args.legal_name,
        contact_email: args.contact_email,
        contact_phone: args.contact_phone,
        address: args.address,
        country: args.country,
        plan: args.plan,
        owner: UserSpec {
            email: args.owner_email,
            name: args.owner_name,
            password,
            adult_attested: args.adult_attested,
            terms_accepted: args.terms_version,
            terms_accepted_ip: None,
        },
        live_blocked: None,
    };
    let (account, _owner) = accounts::create(app, spec, audit())
        .await
        .map_err(cli_error)?;
    let members = app.store.list_members(&account.id).await?;
    let v = view(account, Some(members));
    emit(args.json, &v, || format!("created {}", describe(&v)))
}

async fn change(app: &App, id: &str, change: StateChange, json: bool) -> anyhow::Result<()> {
    let account = accounts::change_state(app, id, change, audit())
        .await
        .map_err(cli_error)?;
    let v = view(account, None);
    emit(json, &v, || describe(&v))
}
