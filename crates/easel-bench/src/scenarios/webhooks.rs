//! Webhooks: how fast a node drains a backlog of signed deliveries to a local receiver,
//! next to a bare reqwest loop posting signed bodies to the same receiver with as many in
//! flight; and what endpoints that fail (500) or time out cost the healthy ones.
//!
//! The backlog is made the real way: a node that delivers nothing (webhooks.concurrency = 0)
//! runs sandbox generations, whose events fill the outbox; a node with the default delivery
//! settings then starts on the same database and drains it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::baselines::LoopResult;
use crate::ctx::Ctx;
use crate::db::{Db, quantile};
use crate::easel::{Easel, Setup};
use crate::load::{self, Load};
use crate::procs;
use crate::scenarios::generations::generation;

/// Healthy endpoints; with `per_endpoint_concurrency` 4 that is Easel's default 64 attempts in
/// flight, which the bare loop gets too.
const HEALTHY: usize = 16;
const IN_FLIGHT: usize = 64;
/// Attempts to an endpoint that hangs end after this long.
const TIMEOUT_MS: u64 = 2000;

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let generations: u64 = if ctx.quick { 80 } else { 200 };
    let sink = ctx.start_bench("webhook-sink", &["sink"], "/count").await?;
    let sink_url = format!("http://{}", sink.addr);
    // The sink is on loopback, which test-mode endpoints reach only on ports the operator
    // opens (none by default).
    let sink_port = sink.addr.port();
    for backend in ["sqlite", "postgres"] {
        for run in 0..ctx.runs {
            ctx.log(&format!(
                "webhooks {backend}: run {}/{}, {generations} generations × 3 events",
                run + 1,
                ctx.runs
            ));
            let to = (sink_url.as_str(), sink_port);
            let healthy = drain(ctx, backend, to, run, generations, false).await?;
            let degraded = drain(ctx, backend, to, run, generations, true).await?;
            let bare = bare_loop(ctx, &sink_url, healthy.delivered).await?;
            let r = &mut ctx.report;
            r.add(
                "webhooks.bare.rate",
                "bare reqwest loop, signed POSTs/s (64 in flight)",
                "/s",
                bare,
            );
            r.add(
                &format!("webhooks.{backend}.rate"),
                &format!("Easel signed deliveries/s, {backend}"),
                "/s",
                healthy.rate,
            );
            r.add(
                &format!("webhooks.{backend}.ratio"),
                &format!("Easel deliveries ÷ bare reqwest loop, {backend}"),
                "×",
                healthy.rate / bare,
            );
            r.add(
                &format!("webhooks.{backend}.cpu"),
                &format!("Easel CPU per delivery, {backend}"),
                "µs",
                healthy.cpu_us,
            );
            r.add(
                &format!("webhooks.{backend}.p99"),
                &format!("delivery attempt p99 (delivery log), {backend}"),
                "ms",
                healthy.attempt_p99_ms,
            );
            r.add(
                &format!("webhooks.{backend}.degraded_rate"),
                &format!("healthy deliveries/s with half the endpoints failing, {backend}"),
                "/s",
                degraded.rate,
            );
            r.add(
                &format!("webhooks.{backend}.degraded_ratio"),
                &format!("healthy rate with half failing ÷ all healthy, {backend}"),
                "×",
                degraded.rate / healthy.rate,
            );
            r.add(
                &format!("webhooks.{backend}.unhealthy_attempts"),
                &format!("attempts spent on the failing half while draining, {backend}"),
                "",
                degraded.unhealthy_attempts as f64,
            );
        }
    }
    drop(sink);
    Ok(())
}

struct Drained {
    delivered: u64,
    rate: f64,
    cpu_us: f64,
    attempt_p99_ms: f64,
    unhealthy_attempts: i64,
}

async fn drain(
    ctx: &mut Ctx,
    backend: &str,
    (sink, sink_port): (&str, u16),
    run: usize,
    generations: u64,
    degraded: bool,
) -> anyhow::Result<Drained> {
    let tag = format!(
        "{backend}-{run}-{}",
        if degraded { "degraded" } else { "healthy" }
    );
    let name = format!("hooks-{tag}");
    let dir = ctx.work.join(&name);
    let url = match backend {
        "sqlite" => format!("sqlite://{}/easel.db", dir.display()),
        _ => ctx.fresh_pg("easel_bench_hooks").await?,
    };
    let open = (
        "EASEL_WEBHOOKS__TEST_MODE_LOOPBACK_PORTS",
        format!("[{sink_port}]"),
    );
    let fill = Setup::new(&name, &url, &dir)
        .env("EASEL_WEBHOOKS__CONCURRENCY", 0)
        .env(open.0, &open.1);
    let easel = Easel::start(&ctx.easel_bin, &ctx.work, &fill).await?;
    let mut paths: Vec<String> = (0..HEALTHY).map(|i| format!("/ok/{tag}/{i}")).collect();
    if degraded {
        paths.extend((0..HEALTHY / 2).map(|i| format!("/fail/{tag}/{i}")));
        paths.extend((0..HEALTHY / 2).map(|i| format!("/slow/{tag}/{i}")));
    }
    let client = reqwest::Client::new();
    for path in &paths {
        let r = client
            .post(easel.url("/v1/webhook_endpoints"))
            .bearer_auth(&easel.test_key)
            .json(&serde_json::json!({ "url": format!("{sink}{path}") }))
            .send()
            .await?;
        if !r.status().is_success() {
            anyhow::bail!(
                "creating a webhook endpoint: {} {}",
                r.status(),
                r.text().await?
            );
        }
    }
    let burst = load::run(
        easel.addr(),
        Load::burst(16, generations),
        generation(&easel.test_key),
    )
    .await?;
    burst.check_all_ok("generations for webhook events")?;
    let db = Db::open(&url).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while db
        .int("SELECT COUNT(*) FROM generations WHERE status IN ('queued', 'running')")
        .await?
        > 0
    {
        if Instant::now() > deadline {
            anyhow::bail!("webhook fill: generations did not finish");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.close().await;
    easel.stop().await?;

    let healthy_where =
        "d.endpoint_id IN (SELECT id FROM webhook_endpoints WHERE url LIKE '%/ok/%')";
    let send = Setup::new(&name, &url, &dir)
        .env("EASEL_WEBHOOKS__TIMEOUT_MS", TIMEOUT_MS)
        .env(open.0, &open.1);
    let easel = Easel::start(&ctx.easel_bin, &ctx.work, &send).await?;
    let cpu0 = easel.proc.cpu();
    let db = Db::open(&url).await?;
    let expected = db
        .int(&format!(
            "SELECT COUNT(*) FROM webhook_deliveries d WHERE {healthy_where}"
        ))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    // Watch the receiver, not the database, while the node drains: a COUNT over the
    // deliveries every 20 ms was a quarter of a core of PostgreSQL beside the node under
    // test. The database is asked only once the receiver has them all (their attempts are
    // recorded a moment after).
    let received = || async {
        let counts: BTreeMap<String, u64> = client
            .get(format!("{sink}/count"))
            .send()
            .await?
            .json()
            .await
            .context("sink counts")?;
        anyhow::Ok(
            counts
                .iter()
                .filter(|(p, _)| p.starts_with(&format!("/ok/{tag}/")))
                .map(|(_, n)| n)
                .sum::<u64>(),
        )
    };
    loop {
        if received().await? >= expected as u64 {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!("webhooks {tag}: healthy deliveries not received after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        let pending = db
            .int(&format!(
                "SELECT COUNT(*) FROM webhook_deliveries d WHERE {healthy_where} AND state <> 'succeeded'"
            ))
            .await?;
        if pending == 0 {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!("webhooks {tag}: {pending} healthy deliveries not delivered after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = easel.proc.cpu().since(cpu0);
    let attempts = db
        .ints(&format!(
            "SELECT a.attempted_at, a.latency_ms FROM webhook_attempts a \
             JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE {healthy_where}"
        ))
        .await?;
    let unhealthy_attempts = db
        .int(&format!(
            "SELECT COUNT(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE NOT ({healthy_where})"
        ))
        .await?;
    db.close().await;
    easel.stop().await?;

    let first = attempts.iter().map(|a| a[0]).min().unwrap_or(0);
    let last = attempts.iter().map(|a| a[0] + a[1]).max().unwrap_or(0);
    let mut latency: Vec<i64> = attempts.iter().map(|a| a[1]).collect();
    // Exactly once: the receiver saw each healthy delivery once.
    let received = received().await?;
    if received != expected as u64 || attempts.len() as i64 != expected {
        anyhow::bail!(
            "webhooks {tag}: {expected} healthy deliveries, {} attempts logged, {received} received",
            attempts.len()
        );
    }
    Ok(Drained {
        delivered: expected as u64,
        rate: expected as f64 * 1000.0 / (last - first).max(1) as f64,
        cpu_us: cpu * 1e6 / expected.max(1) as f64,
        attempt_p99_ms: quantile(&mut latency, 0.99),
        unhealthy_attempts,
    })
}

/// The bare reqwest loop as its own process, like the server: signed POSTs/s.
async fn bare_loop(ctx: &Ctx, sink: &str, count: u64) -> anyhow::Result<f64> {
    let out = procs::run_command(
        &ctx.bench_bin.display().to_string(),
        &[
            "reqwest-loop",
            "--url",
            &format!("{sink}/ok/bare"),
            "--count",
            &count.to_string(),
            "--concurrency",
            &IN_FLIGHT.to_string(),
        ],
        &[],
    )
    .await?;
    let r: LoopResult = serde_json::from_str(&out).context("reqwest-loop output")?;
    if r.ok != r.sent {
        anyhow::bail!("bare reqwest loop: {} of {} answered 2xx", r.ok, r.sent);
    }
    Ok(r.sent as f64 / r.seconds)
}
