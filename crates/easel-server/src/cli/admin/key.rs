//! `easel admin key …`

use clap::{Args, Subcommand};
use easel_core::mode::Mode;
use easel_db::{ApiKey, Page};
use serde::Serialize;

use super::{audit, cli_error};
use crate::api::v1::keys::dto::ApiKeyObject;
use crate::app::App;
use crate::cli::output::{emit, when};
use crate::services::OrNotFound;
use crate::services::keys::{self, KeySpec};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key; its secret is printed once.
    Create(CreateArgs),
    /// List an account's keys.
    List {
        #[arg(long)]
        account: String,
        /// Only keys of this mode.
        #[arg(long, value_parser = parse_mode)]
        mode: Option<Mode>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once.
    Revoke {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Give a key a new secret; the old one works for the grace period.
    Rotate {
        id: String,
        /// How long the old secret keeps working (default: `api_keys.rotation_grace_hours`).
        #[arg(long)]
        grace_seconds: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    account: String,
    #[arg(long, default_value = "test", value_parser = parse_mode)]
    mode: Mode,
    #[arg(long, default_value = "Operator-issued key")]
    name: String,
    /// The member the key acts for (email or user id); default: the first owner.
    #[arg(long)]
    user: Option<String>,
    /// A scope to grant (repeatable); default: all the member's role allows.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// A model the key may use (repeatable); default: any.
    #[arg(long = "model")]
    models: Vec<String>,
    /// Unix seconds after which the key stops working.
    #[arg(long)]
    expires_at: Option<i64>,
    /// Most credits the key may spend per period (see --spend-cap-period).
    #[arg(long, allow_negative_numbers = true)]
    spend_cap: Option<i64>,
    /// `day` or `month` (UTC), for --spend-cap.
    #[arg(long, default_value = "month", value_parser = parse_period)]
    spend_cap_period: easel_core::credits::CapPeriod,
    #[arg(long)]
    json: bool,
}

fn parse_period(s: &str) -> Result<easel_core::credits::CapPeriod, String> {
    easel_core::credits::CapPeriod::parse(s).ok_or_else(|| format!("`{s}` is not `day` or `month`"))
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    Mode::parse(s).ok_or_else(|| "must be `test` or `live`".into())
}

/// A key as the operator sees it: the API object plus its account.
#[derive(Debug, Serialize)]
struct KeyView {
    #[serde(flatten)]
    key: ApiKeyObject,
    account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn view(key: ApiKey, secret: Option<String>) -> KeyView {
    KeyView {
        account_id: key.account_id.clone(),
        key: key.into(),
        secret,
    }
}

fn describe(v: &KeyView) -> String {
    let k = &v.key;
    let mut s = format!(
        "{}  {}  {}  {}  {:?}  last used {}",
        k.id,
        k.display_prefix,
        if k.livemode { "live" } else { "test" },
        k.name,
        k.status,
        when(k.last_used_at)
    );
    if let Some(secret) = &v.secret {
        s.push_str(&format!("\nsecret (shown once): {secret}"));
    }
    s
}

pub async fn run(app: &App, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create(args) => create(app, args).await,
        KeyCommand::List {
            account,
            mode,
            json,
        } => {
            app.store
                .get_account(&account)
                .await
                .or_not_found("account", &account)
                .map_err(cli_error)?;
            let keys = app
                .store
                .list_keys(&account, mode, Page::first(1000))
                .await?;
            let views: Vec<KeyView> = keys.into_iter().map(|k| view(k, None)).collect();
            emit(json, &views, || {
                views.iter().map(describe).collect::<Vec<_>>().join("\n")
            })
        }
        KeyCommand::Revoke { id, json } => {
            let account = app
                .store
                .key_account(&id)
                .await
                .or_not_found("api_key", &id)
                .map_err(cli_error)?;
            let key = keys::revoke(app, &account, None, &id, audit())
                .await
                .map_err(cli_error)?;
            let v = view(key, None);
            emit(json, &v, || describe(&v))
        }
        KeyCommand::Rotate {
            id,
            grace_seconds,
            json,
        } => {
            let account = app
                .store
                .key_account(&id)
                .await
                .or_not_found("api_key", &id)
                .map_err(cli_error)?;
            let (key, secret) = keys::rotate(app, &account, None, &id, grace_seconds, audit())
                .await
                .map_err(cli_error)?;
            let v = view(key, Some(secret));
            emit(json, &v, || describe(&v))
        }
    }
}

async fn create(app: &App, args: CreateArgs) -> anyhow::Result<()> {
    app.store
        .get_account(&args.account)
        .await
        .or_not_found("account", &args.account)
        .map_err(cli_error)?;
    let members = app.store.list_members(&args.account).await?;
    let member = match &args.user {
        Some(who) => members
            .iter()
            .find(|m| m.user_id == *who || m.email == who.to_lowercase()),
        None => members
            .iter()
            .find(|m| m.role == easel_core::roles::Role::Owner),
    }
    .ok_or_else(|| {
        anyhow::anyhow!(
            "no such member of {}: {}",
            args.account,
            args.user.as_deref().unwrap_or("(owner)")
        )
    })?;
    // A role's scopes are exactly what it may grant.
    let grantable = member.role.scopes();
    let spec = KeySpec {
        name: args.name,
        scopes: (!args.scopes.is_empty()).then_some(args.scopes),
        allowed_models: (!args.models.is_empty()).then_some(args.models),
        expires_at: args.expires_at,
        spend_cap: args.spend_cap.map(|credits| easel_core::credits::SpendCap {
            credits,
            period: args.spend_cap_period,
        }),
    };
    let (key, secret) = keys::create(
        app,
        &args.account,
        &member.user_id,
        args.mode,
        spec,
        &grantable,
        audit(),
    )
    .await
    .map_err(cli_error)?;
    let v = view(key, Some(secret));
    emit(args.json, &v, || describe(&v))
}
