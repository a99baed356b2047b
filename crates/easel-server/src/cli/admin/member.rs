//! `easel admin member …`

use clap::Subcommand;
use easel_core::roles::Role;

use super::account::MemberView;
use super::{audit, cli_error};
use crate::app::App;
use crate::cli::output::emit;
use crate::services::OrNotFound;
use crate::services::accounts::{self, UserSpec};

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// List an account's members.
    List {
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a member by email (a new user is created if needed).
    Add {
        #[arg(long)]
        account: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        json: bool,
    },
    /// Change a member's role (their keys' rights change with it).
    SetRole {
        #[arg(long)]
        account: String,
        /// User id or email.
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        json: bool,
    },
    /// Remove a member; their keys are revoked.
    Remove {
        #[arg(long)]
        account: String,
        /// User id or email.
        #[arg(long)]
        user: String,
        #[arg(long)]
        json: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "must be owner, admin, developer or viewer".into())
}

/// The user id of a member given by id or email.
async fn member_id(app: &App, account: &str, who: &str) -> anyhow::Result<String> {
    app.store
        .get_account(account)
        .await
        .or_not_found("account", account)
        .map_err(cli_error)?;
    let members = app.store.list_members(account).await?;
    members
        .into_iter()
        .find(|m| m.user_id == who || m.email == who.to_lowercase())
        .map(|m| m.user_id)
        .ok_or_else(|| anyhow::anyhow!("{who} is not a member of {account}"))
}

fn describe(m: &MemberView) -> String {
    format!("{}  {}  {}", m.user_id, m.email, m.role.as_str())
}

pub async fn run(app: &App, command: MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::List { account, json } => {
            app.store
                .get_account(&account)
                .await
                .or_not_found("account", &account)
                .map_err(cli_error)?;
            let views: Vec<MemberView> = app
                .store
                .list_members(&account)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            emit(json, &views, || {
                views.iter().map(describe).collect::<Vec<_>>().join("\n")
            })
        }
        MemberCommand::Add {
            account,
            email,
            role,
            json,
        } => {
            let user = UserSpec {
                email,
                ..Default::default()
            };
            let member = accounts::add_member(app, &account, user, role, audit())
                .await
                .map_err(cli_error)?;
            let v = MemberView::from(member);
            emit(json, &v, || describe(&v))
        }
        MemberCommand::SetRole {
            account,
            user,
            role,
            json,
        } => {
            let user_id = member_id(app, &account, &user).await?;
            let member = accounts::set_role(app, &account, &user_id, role, audit())
                .await
                .map_err(cli_error)?;
            let v = MemberView::from(member);
            emit(json, &v, || describe(&v))
        }
        MemberCommand::Remove {
            account,
            user,
            json,
        } => {
            let user_id = member_id(app, &account, &user).await?;
            accounts::remove_member(app, &account, &user_id, audit())
                .await
                .map_err(cli_error)?;
            let v = serde_json::json!({"object": "member", "user_id": user_id, "deleted": true});
            emit(json, &v, || format!("removed {user_id}"))
        }
    }
}
