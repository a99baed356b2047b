//! `easel admin plan …`: an account's plan and its per-account limit overrides.

use clap::Subcommand;
use easel_db::{Account, LimitOverrides};
use serde::Serialize;

use super::{audit, cli_error};
use crate::app::App;
use crate::cli::output::emit;
use crate::limits::Limits;
use crate::services::OrNotFound;

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Set an account's plan and its own limits. The limits given override the plan's for
    /// this account; every limit flag left out clears that override, so the plan's value
    /// applies again (to keep an override, pass it again). Running servers apply the
    /// change within `api_keys.invalidation_poll_ms`.
    Set {
        #[arg(long)]
        account: String,
        /// A plan configured under [plans].
        #[arg(long)]
        plan: String,
        /// Requests per minute, per key and per account, at least 1 (left out: the plan's).
        #[arg(long, allow_negative_numbers = true, value_parser = limit())]
        rpm: Option<u32>,
        /// Requests per day, per key and per account, at least 1 (left out: the plan's).
        #[arg(long, allow_negative_numbers = true, value_parser = limit())]
        rpd: Option<u32>,
        /// Generations queued or running at once, per mode, at least 1 (left out: the
        /// plan's).
        #[arg(long, allow_negative_numbers = true, value_parser = limit())]
        concurrency: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Show an account's plan, overrides and the limits in force.
    Show {
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
    },
}

/// A limit as the config accepts it for a plan (`config/validate.rs`): 1 to 1 000 000.
/// Negative numbers are parsed too, so that `-5` is refused as out of range rather than
/// taken for an unknown flag.
fn limit() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=1_000_000)
}

/// The operator's overrides; `null` where the plan's value applies.
#[derive(Debug, Serialize)]
struct OverridesView {
    requests_per_minute: Option<u32>,
    requests_per_day: Option<u32>,
    concurrent_jobs: Option<u32>,
}

/// The limits in force: each override, else the plan's value.
#[derive(Debug, Serialize)]
struct LimitsView {
    requests_per_minute: u32,
    requests_per_day: u32,
    concurrent_jobs: u32,
}

#[derive(Debug, Serialize)]
struct PlanView {
    account_id: String,
    plan: String,
    overrides: OverridesView,
    limits: LimitsView,
}

fn view(app: &App, a: &Account) -> PlanView {
    let l = Limits::resolve(&app.config, &a.plan, &a.limits);
    PlanView {
        account_id: a.id.clone(),
        plan: a.plan.clone(),
        overrides: OverridesView {
            requests_per_minute: a.limits.requests_per_minute,
            requests_per_day: a.limits.requests_per_day,
            concurrent_jobs: a.limits.concurrent_jobs,
        },
        limits: LimitsView {
            requests_per_minute: l.requests_per_minute,
            requests_per_day: l.requests_per_day,
            concurrent_jobs: l.concurrent_jobs,
        },
    }
}

fn human(v: &PlanView) -> String {
    let show = |n: Option<u32>| n.map_or("-".to_string(), |n| n.to_string());
    format!(
        "{}: plan {}, {} requests/min, {} requests/day, {} concurrent jobs (overrides: rpm {}, rpd {}, concurrency {})",
        v.account_id,
        v.plan,
        v.limits.requests_per_minute,
        v.limits.requests_per_day,
        v.limits.concurrent_jobs,
        show(v.overrides.requests_per_minute),
        show(v.overrides.requests_per_day),
        show(v.overrides.concurrent_jobs),
    )
}

pub async fn run(app: &App, command: PlanCommand) -> anyhow::Result<()> {
    match command {
        PlanCommand::Set {
            account,
            plan,
            rpm,
            rpd,
            concurrency,
            json,
        } => {
            if app.config.plan(&plan).is_none() {
                let have: Vec<&str> = app.config.plans.keys().map(String::as_str).collect();
                anyhow::bail!(
                    "no plan named {plan:?} is configured (have: {})",
                    have.join(", ")
                );
            }
            let limits = LimitOverrides {
                requests_per_minute: rpm,
                requests_per_day: rpd,
                concurrent_jobs: concurrency,
            };
            let a = app
                .store
                .set_plan(&account, &plan, limits, audit())
                .await
                .or_not_found("account", &account)
                .map_err(cli_error)?;
            let v = view(app, &a);
            emit(json, &v, || human(&v))
        }
        PlanCommand::Show { account, json } => {
            let a = app
                .store
                .get_account(&account)
                .await
                .or_not_found("account", &account)
                .map_err(cli_error)?;
            let v = view(app, &a);
            emit(json, &v, || human(&v))
        }
    }
}
