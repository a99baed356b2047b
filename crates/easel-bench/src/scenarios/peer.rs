//! A peer on the same machine, and the fair comparison with it: `POST
//! /v1/images/generations` with the same body through the LiteLLM proxy (from PyPI) and
//! through Easel's `openai` engine, both in front of the *same* fake OpenAI images API
//! (the test tree's, answering at once with a base64 PNG of the asked size). LiteLLM
//! forwards and relays the answer; Easel queues a generation with a funded live key,
//! calls the backend from its worker, decodes and checks the PNG, stores it, captures the
//! hold and answers once the generation has succeeded, as OpenAI's endpoint does. Easel's
//! own sandbox renders through the same endpoint are kept as a third line, and the fake
//! alone shows the ceiling both proxies work under.
//!
//! Throughput, CPU and memory come from closed-model windows; p50/p99 from open-model
//! windows at one fixed rate for every target (half the slower proxy's throughput in the
//! same run), since closed-model latency at saturation only restates the throughput.

use std::path::Path;
use std::time::Instant;

use crate::backends::{self, Kind};
use crate::ctx::Ctx;
use crate::easel::{Easel, Setup};
use crate::load::{self, Call, Load, MakeCall};
use crate::procs::{self, Proc};

/// Easel's model id and LiteLLM's model name are the same, so both get the same body.
const MODEL: &str = "bench-image";
const BODY: &str = r#"{"model":"bench-image","prompt":"a lighthouse on a cliff at dusk","n":1,"size":"256x256","response_format":"b64_json"}"#;
/// LiteLLM's master key (scripts/peer-litellm).
const LITELLM_KEY: &str = "sk-bench-master";

/// One target of the comparison.
struct Target<'a> {
    key: &'static str,
    label: &'static str,
    proc: &'a Proc,
    call: MakeCall,
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let script = Path::new("scripts/peer-litellm");
    if !script.exists() {
        ctx.report
            .note("peer: scripts/peer-litellm missing, LiteLLM not measured");
        return Ok(());
    }
    ctx.log(
        "peer: LiteLLM proxy (installing on first use) vs Easel's openai engine, same fake backend",
    );
    let backend = backends::start(ctx, Kind::Openai, "peer-backend").await?;
    let litellm = start_litellm(ctx, script, &backend).await?;
    let easel = start_easel(ctx, &backend).await?;
    let live_key = easel.live_key(&easel.account).await?;
    easel.grant(&easel.account, 1_000_000_000).await?;
    let targets = [
        Target {
            key: "peer.litellm",
            label: "LiteLLM proxy → instant fake backend",
            proc: &litellm,
            call: load::same(Call::post_json("/v1/images/generations", BODY).bearer(LITELLM_KEY)),
        },
        Target {
            key: "peer.easel_openai",
            label: "Easel openai engine → the same fake backend",
            proc: &easel.proc,
            call: load::same(Call::post_json("/v1/images/generations", BODY).bearer(&live_key)),
        },
        Target {
            key: "peer.easel",
            label: "Easel /v1/images/generations (sandbox renders)",
            proc: &easel.proc,
            call: load::same(
                Call::post_json(
                    "/v1/images/generations",
                    BODY.replace(MODEL, "sandbox-image"),
                )
                .bearer(&easel.test_key),
            ),
        },
    ];
    for run in 0..ctx.runs {
        ctx.log(&format!("peer: run {}/{}", run + 1, ctx.runs));
        one_run(ctx, &backend, &targets).await?;
    }
    // The targets borrow the processes being stopped.
    drop(targets);
    easel.stop().await?;
    litellm.stop().await?;
    drop(backend);
    Ok(())
}

async fn start_litellm(ctx: &Ctx, script: &Path, backend: &Proc) -> anyhow::Result<Proc> {
    let addr = procs::free_addr()?;
    let mut litellm = Proc::spawn(
        "litellm",
        Path::new("bash"),
        &[
            script.display().to_string(),
            addr.port().to_string(),
            format!("http://{}/v1", backend.addr),
        ],
        &[],
        &ctx.work.join("litellm"),
        addr,
    )?;
    litellm
        .wait_ready("/health/readiness", Instant::now())
        .await?;
    Ok(litellm)
}

/// Easel with `bench-image` on the `openai` engine in front of `backend`. Its concurrency
/// is the load's connection count: LiteLLM forwards every request at once, so Easel's
/// node gets as many jobs in flight (a lower cap would measure the cap, not the path).
async fn start_easel(ctx: &Ctx, backend: &Proc) -> anyhow::Result<Easel> {
    let dir = ctx.work.join("peer-easel");
    let model = backends::model_toml(Kind::Openai, MODEL, backend.addr, ctx.connections as u32);
    let setup = Setup::new(
        "peer-easel",
        &format!("sqlite://{}/easel.db", dir.display()),
        &dir,
    )
    .model(model)
    .env(backends::KEY_ENV, backends::KEY);
    Easel::start(&ctx.easel_bin, &ctx.work, &setup).await
}

/// One run: the fake alone, each target's throughput, then each target's latency at the
/// rate the slower proxy sustains half of.
async fn one_run(ctx: &mut Ctx, backend: &Proc, targets: &[Target<'_>]) -> anyhow::Result<()> {
    let closed = Load::closed(ctx.connections, ctx.window);
    let direct = load::same(Call::post_json(
        "/v1/images/generations",
        backends::upstream_body("a lighthouse on a cliff at dusk"),
    ));
    let alone = ctx
        .measure(backend, closed, direct, false, "the fake backend alone")
        .await?;
    ctx.report.add(
        "peer.backend.rps",
        "the instant fake backend alone: req/s",
        "req/s",
        alone.load.rps,
    );
    let mut rps = Vec::with_capacity(targets.len());
    for t in targets {
        rps.push(throughput(ctx, t, closed).await?);
    }
    // LiteLLM and Easel's openai engine come first: the two proxies compared.
    let (Some(&litellm), Some(&easel)) = (rps.first(), rps.get(1)) else {
        anyhow::bail!("peer: no LiteLLM or Easel openai window");
    };
    ctx.report.add(
        "peer.easel_openai.ratio",
        "Easel openai engine ÷ LiteLLM, req/s",
        "×",
        easel / litellm.max(f64::MIN_POSITIVE),
    );
    let rate = (litellm.min(easel) / 2.0).max(1.0);
    ctx.report.add(
        "peer.rate",
        "latency windows: fixed arrival rate (½ the slower proxy's req/s)",
        "req/s",
        rate,
    );
    let open = Load::open(rate, ctx.connections, ctx.window);
    for t in targets {
        latency(ctx, t, open).await?;
    }
    Ok(())
}

/// A closed-model window: req/s, CPU per request and RSS; returns the req/s.
async fn throughput(ctx: &mut Ctx, t: &Target<'_>, load: Load) -> anyhow::Result<f64> {
    let m = ctx
        .measure(t.proc, load, t.call.clone(), false, t.label)
        .await?;
    let r = &mut ctx.report;
    r.add(
        &format!("{}.rps", t.key),
        &format!("{}: req/s", t.label),
        "req/s",
        m.load.rps,
    );
    r.add(
        &format!("{}.cpu", t.key),
        &format!("{}: CPU per request", t.label),
        "µs",
        m.cpu_us,
    );
    r.add(
        &format!("{}.rss", t.key),
        &format!("{}: RSS after the window", t.label),
        "MiB",
        t.proc.rss_kib() as f64 / 1024.0,
    );
    Ok(m.load.rps)
}

/// An open-model window at the fixed rate: p50 and p99.
async fn latency(ctx: &mut Ctx, t: &Target<'_>, load: Load) -> anyhow::Result<()> {
    let m = ctx
        .measure(t.proc, load, t.call.clone(), false, t.label)
        .await?;
    let r = &mut ctx.report;
    r.add(
        &format!("{}.p50", t.key),
        &format!("{}: p50 at the fixed rate", t.label),
        "ms",
        m.load.p50_ms,
    );
    r.add(
        &format!("{}.p99", t.key),
        &format!("{}: p99 at the fixed rate", t.label),
        "ms",
        m.load.p99_ms,
    );
    Ok(())
}
