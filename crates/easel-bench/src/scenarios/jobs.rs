//! End to end: sandbox generations submitted with a funded live key, claimed by the node's
//! own workers, rendered (a 256x256 PNG, the cheapest the sandbox makes), stored, the hold
//! captured, the events written. A burst measures jobs/s; a steady half of that rate
//! measures how long a job waits to start when the node keeps up.

use std::time::{Duration, Instant};

use crate::ctx::Ctx;
use crate::db::{Db, quantile};
use crate::easel::{Easel, Setup};
use crate::load::{self, Load};
use crate::scenarios::generations::generation;

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let jobs: u64 = if ctx.quick { 400 } else { 1200 };
    for backend in ["sqlite", "postgres"] {
        ctx.log(&format!("jobs: end to end, {backend}, {jobs} per burst"));
        let dir = ctx.work.join(format!("jobs-{backend}"));
        let url = match backend {
            "sqlite" => format!("sqlite://{}/easel.db", dir.display()),
            _ => ctx.fresh_pg("easel_bench_jobs").await?,
        };
        let setup = Setup::new(&format!("jobs-{backend}"), &url, &dir);
        let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
        let key = easel.live_key(&easel.account).await?;
        easel.grant(&easel.account, 1_000_000_000).await?;
        let db = Db::open(&url).await?;
        for run in 0..ctx.runs {
            ctx.log(&format!("jobs {backend}: run {}/{}", run + 1, ctx.runs));
            let since = now_ms();
            let cpu0 = easel.proc.cpu();
            let burst = load::run(
                easel.addr(),
                Load::burst(ctx.connections, jobs),
                generation(&key),
            )
            .await?;
            burst.check_all_ok("burst of generations")?;
            drain(&db, since).await?;
            let cpu = easel.proc.cpu().since(cpu0);
            let rows = db
                .ints(&format!(
                    "SELECT created_at, started_at, finished_at, \
                     CAST(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END AS BIGINT) \
                     FROM generations WHERE created_at >= {since}"
                ))
                .await?;
            let failed = rows.iter().filter(|r| r[3] != 1).count();
            if rows.len() as u64 != jobs || failed > 0 {
                anyhow::bail!(
                    "jobs {backend}: {} generations for {jobs} submitted, {failed} not succeeded",
                    rows.len()
                );
            }
            let first = rows.iter().map(|r| r[0]).min().unwrap_or(0);
            let last = rows.iter().map(|r| r[2]).max().unwrap_or(0);
            let per_sec = jobs as f64 * 1000.0 / (last - first).max(1) as f64;
            let r = &mut ctx.report;
            r.add(
                &format!("jobs.{backend}.rate"),
                &format!("end-to-end jobs/s (burst), {backend}"),
                "jobs/s",
                per_sec,
            );
            r.add(
                &format!("jobs.{backend}.cpu"),
                &format!("end-to-end server CPU per job, {backend}"),
                "µs",
                cpu * 1e6 / jobs as f64,
            );

            // Half the burst rate, at a steady pace: time from submit to start.
            let rate = per_sec / 2.0;
            let since = now_ms();
            let paced = load::run(
                easel.addr(),
                Load::open(rate, 8, ctx.window),
                generation(&key),
            )
            .await?;
            paced.check_all_ok("generations at half load")?;
            drain(&db, since).await?;
            let rows = db
                .ints(&format!(
                    "SELECT started_at - created_at, finished_at - created_at FROM generations \
                     WHERE created_at >= {since}"
                ))
                .await?;
            let mut wait: Vec<i64> = rows.iter().map(|r| r[0]).collect();
            let mut done: Vec<i64> = rows.iter().map(|r| r[1]).collect();
            r.add(
                &format!("jobs.{backend}.half_rate"),
                &format!("half load: submitted, {backend}"),
                "jobs/s",
                rate,
            );
            r.add(
                &format!("jobs.{backend}.start_p50"),
                &format!("half load: submit to start p50, {backend}"),
                "ms",
                quantile(&mut wait, 0.5),
            );
            r.add(
                &format!("jobs.{backend}.start_p99"),
                &format!("half load: submit to start p99, {backend}"),
                "ms",
                quantile(&mut wait, 0.99),
            );
            r.add(
                &format!("jobs.{backend}.done_p50"),
                &format!("half load: submit to finished p50, {backend}"),
                "ms",
                quantile(&mut done, 0.5),
            );
        }
        db.close().await;
        easel.stop().await?;
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// Waits until every generation created since `since` has finished.
async fn drain(db: &Db, since: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let open = db
            .int(&format!(
                "SELECT COUNT(*) FROM generations WHERE created_at >= {since} \
                 AND status IN ('queued', 'running')"
            ))
            .await?;
        if open == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("{open} generations still open after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
