//! Remote pull workers (issue 19), on SQLite and PostgreSQL: one node (release
//! `easel serve`) with a worker model (`gpu-image`, `engine = "worker"`, 256x256 images)
//! beside the in-process sandbox (`sandbox-image`, four slots), and a funded live key.
//!
//! - claim-to-start: four claims already waiting in a long poll (the bench's own HTTP
//!   clients of the worker API, see `claimers`), generations submitted one at a time; the
//!   time from submit (and from the 202) until a claimer has read the lease, and where it
//!   goes, from the server's own timestamps; again with one claim waiting, for what the
//!   others (every waiting claim is woken by each job) cost.
//! - jobs/s: the same burst through four real `easel worker --engine sandbox` processes
//!   (one slot each: four slots, as many as the in-process model has) and through the
//!   in-process runner, on the same node in the same run; then every generation must have
//!   succeeded under exactly one lease and the balance must be exact (see `exact`).
//! - server CPU per claim: the node's CPU over the worker burst ÷ the leases it handed
//!   out (`easel_worker_leases_total` in `/metrics`), beside its CPU per in-process job.

mod burst;
mod claimers;
mod exact;
mod latency;

use bytes::Bytes;

use crate::ctx::Ctx;
use crate::db::Db;
use crate::easel::{Easel, Setup};

/// The model only workers run.
pub const WORKER_MODEL: &str = "gpu-image";
/// The in-process model it is compared with.
const LOCAL_MODEL: &str = "sandbox-image";
/// The bearer token of `/metrics` on the node.
const METRICS_TOKEN: &str = "bench-metrics";
/// Claims waiting while generations are submitted one at a time.
const CLAIMERS: usize = 4;
/// `easel worker` processes of the burst, one slot each.
const WORKERS: usize = 4;
/// Submissions timed per database and run.
const SAMPLES: usize = 300;

/// What a database's run needs.
struct Node {
    easel: Easel,
    db: Db,
    key: String,
    /// The account's balance before its first generation.
    opening: i64,
    /// Generations answered 202 so far.
    submitted: u64,
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    for database in ["sqlite", "postgres"] {
        ctx.log(&format!(
            "workers: pull workers vs the in-process runner, {database}"
        ));
        let mut node = start(ctx, database).await?;
        let png = Bytes::from(easel_test_utils::fakes::images::png(256, 256, 19));
        let mut tokens = Vec::with_capacity(CLAIMERS);
        for i in 0..CLAIMERS {
            let name = format!("bench-claimer-{i}");
            tokens.push(node.easel.worker_token(&name, &[WORKER_MODEL]).await?);
        }
        for run in 0..ctx.runs {
            ctx.log(&format!(
                "workers {database}: claim-to-start, run {}/{}",
                run + 1,
                ctx.runs
            ));
            latency::claim_to_start(ctx, &mut node, database, &tokens, png.clone()).await?;
            // The same with one claim waiting (of the CLAIMERS ≥ 1 tokens): what the other
            // claims, all woken by each job and racing for it, cost the one that gets it.
            latency::claim_to_start(ctx, &mut node, database, &tokens[..1], png.clone()).await?;
        }
        // Started only now: their waiting claims would take the jobs timed above.
        let workers = burst::start_workers(ctx, &node, database).await?;
        for run in 0..ctx.runs {
            ctx.log(&format!(
                "workers {database}: bursts, run {}/{}",
                run + 1,
                ctx.runs
            ));
            burst::through(ctx, &mut node, database, &workers).await?;
        }
        for w in workers {
            burst::stop_worker(w).await?;
        }
        let problems = exact::check(&node.easel, &node.db, node.submitted, node.opening).await?;
        ctx.report.add(
            &format!("workers.{database}.exact"),
            &format!("every job succeeded once, balance exact (1 = yes), {database}"),
            "",
            if problems.is_empty() { 1.0 } else { 0.0 },
        );
        wrong.extend(problems.into_iter().map(|p| format!("{database}: {p}")));
        let Node { easel, db, .. } = node;
        db.close().await;
        easel.stop().await?;
    }
    if !wrong.is_empty() {
        anyhow::bail!("workers: not exact:\n{}", wrong.join("\n"));
    }
    Ok(())
}

/// The node with both models, `/metrics` on, a funded live key.
async fn start(ctx: &Ctx, database: &str) -> anyhow::Result<Node> {
    let dir = ctx.work.join(format!("workers-{database}"));
    let url = match database {
        "sqlite" => format!("sqlite://{}/easel.db", dir.display()),
        _ => ctx.fresh_pg("easel_bench_workers").await?,
    };
    // No settings: each worker brings its own engine's. One image a call, the PNG's size.
    let model = format!(
        "[models.{WORKER_MODEL}]\nkind = \"image\"\nengine = \"worker\"\nweb_price = 10\nsizes = [\"256x256\"]\nmax_n = 1\ntimeout_seconds = 120\n"
    );
    let setup = Setup::new(&format!("workers-{database}"), &url, &dir)
        .env("EASEL_METRICS__TOKEN", METRICS_TOKEN)
        .model(model);
    let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
    let key = easel.live_key(&easel.account).await?;
    easel.grant(&easel.account, 1_000_000_000).await?;
    let (opening, _) = easel.balance(&easel.account).await?;
    let db = Db::open(&url).await?;
    Ok(Node {
        easel,
        db,
        key,
        opening,
        submitted: 0,
    })
}
