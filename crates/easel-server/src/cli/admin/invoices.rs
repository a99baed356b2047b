//! `easel admin invoices …`

use clap::Subcommand;
use easel_core::time::now_ms;

use super::cli_error;
use crate::app::App;
use crate::cli::output::emit;
use crate::services::invoices::{self, Period};

/// `easel admin invoices <command>`
#[derive(Debug, Subcommand)]
pub enum InvoicesCommand {
    /// Issue the invoices of a closed month for every account with live usage in it.
    /// Safe to repeat: accounts already invoiced for the month are left as they are.
    Issue {
        /// The month, `YYYY-MM` (UTC); it must have closed (see invoicing.issue_delay_seconds).
        #[arg(long)]
        period: String,
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `invoices` command.
pub async fn run(app: &App, command: InvoicesCommand) -> anyhow::Result<()> {
    match command {
        InvoicesCommand::Issue { period, json } => {
            let parsed = Period::parse(&period).ok_or_else(|| {
                anyhow::anyhow!(
                    "`{period}` is not a month YYYY-MM such as 2026-10 (param `period`)"
                )
            })?;
            let report = invoices::issue_period(app, parsed, now_ms())
                .await
                .map_err(cli_error)?;
            emit(json, &report, || {
                let mut out = format!(
                    "{}: {} issued, {} already issued, {} with nothing to invoice",
                    report.period,
                    report.issued.len(),
                    report.already_issued,
                    report.nothing_to_invoice
                );
                for i in &report.issued {
                    out.push_str(&format!(
                        "\n  {}  {}  {}  EUR {}",
                        i.number, i.id, i.account_id, i.total_eur
                    ));
                }
                out
            })
        }
    }
}
