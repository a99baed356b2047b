//! Two nodes on one PostgreSQL database: how long a change made through one takes to be
//! seen by the other (issue 23: ≤ 100 ms p99, where polling took up to a second).
//!
//! - revocation: node B has just authenticated a key (so it is in B's cache); node A
//!   revokes it (`DELETE /v1/keys/{id}`); timed from A's answer until B answers 401.
//! - suspension: B has just served the account; `easel admin account suspend` ends; timed
//!   until B answers 403 (then the account is unsuspended for the next sample). The
//!   command's own exit is after its commit, so this figure is, if anything, short.
//! - cancel: a generation of a model only B runs (a sandbox that takes an hour) is running
//!   on B; A cancels it; timed from A's answer until the database says the generation
//!   ended canceled, which B's runner writes once it has stopped the job.
//!
//! SQLite is one node by construction: nothing to measure there.

use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;

use crate::ctx::Ctx;
use crate::db::{Db, quantile};
use crate::easel::{Easel, Setup};

/// The model only node B serves.
const SLOW_MODEL: &str = "slow-image";
/// How long one sample may take before the run fails (the polling safety net is seconds).
const GIVE_UP: Duration = Duration::from_secs(10);
/// How often the observer asks.
const POLL: Duration = Duration::from_millis(2);

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let samples = if ctx.quick { 20 } else { 60 };
    ctx.log("nodes: a change on one node seen by the other, postgres");
    let url = ctx.fresh_pg("easel_bench_nodes").await?;
    let dir = ctx.work.join("nodes");
    let a = Easel::start(
        &ctx.easel_bin,
        &ctx.work,
        &Setup::new("nodes-a", &url, &dir.join("a")),
    )
    .await?;
    let slow = format!(
        "[models.{SLOW_MODEL}]\nkind = \"image\"\nengine = \"sandbox\"\nweb_price = 1\nsizes = [\"256x256\"]\nmax_n = 1\ntimeout_seconds = 3600\nconcurrency = 4\n\n[models.{SLOW_MODEL}.settings]\ndelay_ms = 3600000\n"
    );
    let b_setup = Setup::new("nodes-b", &url, &dir.join("b"))
        .model(slow)
        // Stopping waits for running jobs up to the grace; these never end by themselves.
        .env("EASEL_HTTP__SHUTDOWN_GRACE_SECONDS", 1);
    let b = Easel::start(&ctx.easel_bin, &ctx.work, &b_setup).await?;
    let db = Db::open(&url).await?;
    let result = measure(ctx, &a, &b, &db, samples).await;
    db.close().await;
    b.stop().await?;
    a.stop().await?;
    result
}

async fn measure(
    ctx: &mut Ctx,
    a: &Easel,
    b: &Easel,
    db: &Db,
    samples: usize,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let account = a.create_account(1).await?;
    let admin_key = a.live_key(&account).await?;
    a.grant(&account, 1_000_000).await?;

    let mut revoke = Vec::with_capacity(samples);
    for _ in 0..samples {
        let created: serde_json::Value = http
            .post(a.url("/v1/keys"))
            .bearer_auth(&admin_key)
            .json(&serde_json::json!({"name": "bench-revoked"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = created["id"].as_str().context("key id")?;
        let secret = created["secret"].as_str().context("key secret")?;
        expect(&http, b, secret, StatusCode::OK).await?;
        http.delete(a.url(&format!("/v1/keys/{id}")))
            .bearer_auth(&admin_key)
            .send()
            .await?
            .error_for_status()?;
        let t = Instant::now();
        wait_for(&http, b, secret, StatusCode::UNAUTHORIZED).await?;
        revoke.push(t.elapsed().as_micros() as i64);
    }

    let mut suspend = Vec::with_capacity(samples.min(20));
    let victim = a.create_account(2).await?;
    let victim_key = a.live_key(&victim).await?;
    for _ in 0..samples.min(20) {
        expect(&http, b, &victim_key, StatusCode::OK).await?;
        a.admin(&[
            "account", "suspend", &victim, "--reason", "bench", "--jobs", "finish",
        ])
        .await?;
        let t = Instant::now();
        wait_for(&http, b, &victim_key, StatusCode::FORBIDDEN).await?;
        suspend.push(t.elapsed().as_micros() as i64);
        a.admin(&["account", "unsuspend", &victim]).await?;
        wait_for(&http, b, &victim_key, StatusCode::OK).await?;
    }

    let mut cancel = Vec::with_capacity(samples);
    for _ in 0..samples {
        let g: serde_json::Value = http
            .post(b.url("/v1/generations"))
            .bearer_auth(&admin_key)
            .json(&serde_json::json!({"model": SLOW_MODEL, "prompt": "a slow lighthouse"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = g["id"].as_str().context("generation id")?.to_string();
        let status = |s: &str| {
            format!("SELECT COUNT(*) FROM generations WHERE id = '{id}' AND status = '{s}'")
        };
        poll_db(db, &status("running")).await?;
        http.post(a.url(&format!("/v1/generations/{id}/cancel")))
            .bearer_auth(&admin_key)
            .send()
            .await?
            .error_for_status()?;
        let t = Instant::now();
        poll_db(db, &status("canceled")).await?;
        cancel.push(t.elapsed().as_micros() as i64);
    }

    for (what, label, mut values) in [
        ("revoke", "key revoked on A, refused by B", revoke),
        ("suspend", "account suspended (CLI), refused by B", suspend),
        (
            "cancel",
            "generation canceled on A, stopped by B's runner",
            cancel,
        ),
    ] {
        for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
            ctx.report.add(
                &format!("nodes.{what}.{name}"),
                &format!("{label}: {name}, postgres"),
                "ms",
                quantile(&mut values, q) / 1000.0,
            );
        }
    }
    Ok(())
}

async fn get_account(
    http: &reqwest::Client,
    node: &Easel,
    key: &str,
) -> anyhow::Result<StatusCode> {
    Ok(http
        .get(node.url("/v1/account"))
        .bearer_auth(key)
        .send()
        .await?
        .status())
}

async fn expect(
    http: &reqwest::Client,
    node: &Easel,
    key: &str,
    want: StatusCode,
) -> anyhow::Result<()> {
    let got = get_account(http, node, key).await?;
    anyhow::ensure!(got == want, "GET /v1/account: {got}, expected {want}");
    Ok(())
}

/// Asks `node` until it answers `want`.
async fn wait_for(
    http: &reqwest::Client,
    node: &Easel,
    key: &str,
    want: StatusCode,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + GIVE_UP;
    while get_account(http, node, key).await? != want {
        anyhow::ensure!(Instant::now() < deadline, "no {want} within {GIVE_UP:?}");
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Polls the database until `count_sql` counts a row.
async fn poll_db(db: &Db, count_sql: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + GIVE_UP;
    while db.int(count_sql).await? == 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{count_sql}: nothing within {GIVE_UP:?}"
        );
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}
