//! Easel's own cost per job in front of a real engine: four `comfyui` models, each on its
//! own fake ComfyUI process that answers at once (the test tree's fake, over HTTP and its
//! websocket, running the SD1.5 example workflow), one job at a time each, as ComfyUI
//! runs them — four models rather than one model with four slots, since a model has one
//! `base_url` and ComfyUI one queue. Jobs are submitted with a
//! funded live key to `POST /v1/generations` and spread over the four models; each goes
//! through the whole path (queue, claim, the engine's HTTP calls, decoding and checking
//! the PNG, storing it, capturing the hold, events).
//!
//! - jobs/s: a burst through the four backends, against the same burst of sandbox jobs
//!   (`sandbox-image`, four slots: as many as the four backends) on the same node, in the
//!   same run — the `jobs` scenario's figure, measured beside it.
//! - added latency: at half the burst rate, each job's submit-to-succeeded time from the
//!   server's own timestamps, minus the backend's time (the median of a bare client doing
//!   the same exchange with the fake, one after another: socket, `/prompt`, the run's
//!   events, `/history`, `/view`).

use anyhow::Context;

use crate::backends::{self, Kind};
use crate::ctx::Ctx;
use crate::db::{Db, quantile};
use crate::easel::{Easel, Setup};
use crate::procs::{Cpu, Proc};
use crate::scenarios::generations::generation_over;
use crate::scenarios::jobs::{Burst, Paced, burst, paced};

/// The backend the engines scenario runs in front of.
const KIND: Kind = Kind::Comfyui;
/// Fake backends, one model each.
const BACKENDS: usize = 4;
/// Direct exchanges timed to find the backend's own time.
const DIRECT: usize = 200;

/// What a database's run needs.
struct Node {
    easel: Easel,
    db: Db,
    key: String,
    fakes: Vec<Proc>,
    models: Vec<String>,
    /// The backend's own time per image, median, in milliseconds.
    backend_ms: f64,
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    for database in ["sqlite", "postgres"] {
        ctx.log(&format!(
            "engines: {BACKENDS} {} fakes vs the sandbox, {database}",
            KIND.name()
        ));
        let node = start(ctx, database).await?;
        for run in 0..ctx.runs {
            ctx.log(&format!("engines {database}: run {}/{}", run + 1, ctx.runs));
            one_run(ctx, &node, database).await?;
        }
        let Node {
            easel, db, fakes, ..
        } = node;
        db.close().await;
        easel.stop().await?;
        drop(fakes);
    }
    Ok(())
}

/// The fakes, an Easel node with one model on each, a funded live key, and the backend's
/// own time.
async fn start(ctx: &Ctx, database: &str) -> anyhow::Result<Node> {
    let mut fakes = Vec::with_capacity(BACKENDS);
    for i in 0..BACKENDS {
        fakes.push(backends::start(ctx, KIND, &format!("engines-{database}-fake-{i}")).await?);
    }
    let dir = ctx.work.join(format!("engines-{database}"));
    let url = match database {
        "sqlite" => format!("sqlite://{}/easel.db", dir.display()),
        _ => ctx.fresh_pg("easel_bench_engines").await?,
    };
    backends::prepare(KIND, &dir)?;
    let mut setup = Setup::new(&format!("engines-{database}"), &url, &dir);
    let mut models = Vec::with_capacity(BACKENDS);
    for (i, fake) in fakes.iter().enumerate() {
        let id = format!("engine-{i}");
        // One job at a time per backend, as ComfyUI runs them (its default concurrency).
        setup = setup.model(backends::model_toml(KIND, &id, fake.addr, 1));
        models.push(id);
    }
    let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
    let key = easel.live_key(&easel.account).await?;
    easel.grant(&easel.account, 1_000_000_000).await?;
    let db = Db::open(&url).await?;
    let first = fakes.first().map(|f| f.addr).context("no fake backend")?;
    let mut direct = backends::direct_ms(KIND, first, DIRECT).await?;
    direct.sort_by(f64::total_cmp);
    let backend_ms = direct.get(direct.len() / 2).copied().unwrap_or(0.0);
    Ok(Node {
        easel,
        db,
        key,
        fakes,
        models,
        backend_ms,
    })
}

/// What one run measured.
struct Figures {
    through: Burst,
    sandbox: Burst,
    /// CPU of the fakes per engine job, in microseconds.
    fake_cpu_us: f64,
    /// The rate of the steady window.
    rate: f64,
    steady: Paced,
}

/// One run: a burst through the engines, the same burst on the sandbox, then the engines
/// at half their burst rate.
async fn one_run(ctx: &mut Ctx, node: &Node, database: &str) -> anyhow::Result<()> {
    let jobs: u64 = if ctx.quick { 400 } else { 1200 };
    let engines = generation_over(&node.key, node.models.clone());
    let fakes_cpu0 = fakes_cpu(&node.fakes);
    let through = burst(ctx, &node.easel, &node.db, engines.clone(), jobs).await?;
    let fake_cpu_us = (fakes_cpu(&node.fakes) - fakes_cpu0) * 1e6 / jobs as f64;
    let sandbox = generation_over(&node.key, vec!["sandbox-image".into()]);
    let sandbox = burst(ctx, &node.easel, &node.db, sandbox, jobs).await?;
    let rate = through.per_sec / 2.0;
    let steady = paced(ctx, &node.easel, &node.db, engines, rate).await?;
    let figures = Figures {
        through,
        sandbox,
        fake_cpu_us,
        rate,
        steady,
    };
    record(ctx, database, node.backend_ms, figures);
    Ok(())
}

fn record(ctx: &mut Ctx, database: &str, backend_ms: f64, mut f: Figures) {
    let r = &mut ctx.report;
    let key = |figure: &str| format!("engines.{database}.{figure}");
    let label = |text: &str| format!("{text}, {database}");
    let fakes = format!("{BACKENDS} {} fakes", KIND.name());
    let done_p50 = quantile(&mut f.steady.done_ms, 0.5);
    let done_p99 = quantile(&mut f.steady.done_ms, 0.99);
    let rows = [
        (
            "rate",
            label(&format!("jobs/s (burst) through {fakes}, 1 slot each")),
            "jobs/s",
            f.through.per_sec,
        ),
        (
            "sandbox_rate",
            label("jobs/s (burst) on the sandbox, 4 slots, same node"),
            "jobs/s",
            f.sandbox.per_sec,
        ),
        (
            "ratio",
            label("engine jobs/s ÷ sandbox jobs/s"),
            "×",
            f.through.per_sec / f.sandbox.per_sec.max(f64::MIN_POSITIVE),
        ),
        (
            "cpu",
            label("server CPU per engine job"),
            "µs",
            f.through.cpu_us,
        ),
        (
            "sandbox_cpu",
            label("server CPU per sandbox job"),
            "µs",
            f.sandbox.cpu_us,
        ),
        (
            "fake_cpu",
            label("fake backends' CPU per engine job"),
            "µs",
            f.fake_cpu_us,
        ),
        (
            "half_rate",
            label("engines at half load: submitted"),
            "jobs/s",
            f.rate,
        ),
        (
            "backend",
            label("the backend's own time per image (bare client, p50)"),
            "ms",
            backend_ms,
        ),
        (
            "done_p50",
            label("engines at half load: submit to succeeded p50"),
            "ms",
            done_p50,
        ),
        (
            "done_p99",
            label("engines at half load: submit to succeeded p99"),
            "ms",
            done_p99,
        ),
        // Subtracting a constant moves every quantile by it; the timestamps are whole
        // milliseconds, the backend's time is not.
        (
            "added_p50",
            label("Easel's added latency p50 (submit to succeeded − backend)"),
            "ms",
            done_p50 - backend_ms,
        ),
        (
            "added_p99",
            label("Easel's added latency p99 (submit to succeeded − backend)"),
            "ms",
            done_p99 - backend_ms,
        ),
    ];
    for (figure, text, unit, value) in rows {
        r.add(&key(figure), &text, unit, value);
    }
}

/// CPU seconds used so far by every fake backend.
fn fakes_cpu(fakes: &[Proc]) -> f64 {
    fakes.iter().map(|f| Cpu::of(f.pid()).0).sum()
}
