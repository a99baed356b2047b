//! `easel admin credits …`

use clap::Subcommand;
use easel_core::mode::Mode;
use serde::Serialize;

use super::{audit, cli_error};
use crate::api::v1::ledger::dto::LedgerEntryObject;
use crate::app::App;
use crate::cli::output::emit;
use crate::services::credits;

#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// Grant credits to an account's live balance (1 credit = €0.001).
    Grant {
        #[arg(long)]
        account: String,
        /// Whole credits, at least 1.
        #[arg(long, allow_negative_numbers = true)]
        credits: i64,
        /// Why (recorded in the ledger and the audit log).
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Show an account's live balance.
    Balance {
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct BalanceView {
    account_id: String,
    balance: i64,
    held: i64,
    available: i64,
}

pub async fn run(app: &App, command: CreditsCommand) -> anyhow::Result<()> {
    match command {
        CreditsCommand::Grant {
            account,
            credits,
            reason,
            json,
        } => {
            let entry = credits::grant(app, &account, credits, &reason, audit())
                .await
                .map_err(cli_error)?;
            let view = LedgerEntryObject::from(entry);
            emit(json, &view, || {
                format!(
                    "granted {} credits to {account}: balance {} ({})",
                    view.amount, view.balance_after, view.id
                )
            })
        }
        CreditsCommand::Balance { account, json } => {
            app.store
                .get_account(&account)
                .await
                .map_err(|e| anyhow::anyhow!("account {account}: {e}"))?;
            let b = app.store.balance(&account, Mode::Live).await?;
            let view = BalanceView {
                account_id: account,
                balance: b.balance,
                held: b.held,
                available: b.available(),
            };
            emit(json, &view, || {
                format!(
                    "balance {}  held {}  available {}",
                    view.balance, view.held, view.available
                )
            })
        }
    }
}
