//! End to end: sandbox generations submitted with a funded live key, claimed by the node's
//! own workers, rendered (a 256x256 PNG, the cheapest the sandbox makes), stored, the hold
//! captured, the events written. A burst measures jobs/s; a steady half of that rate
//! measures how long a job waits to start when the node keeps up.

use std::time::{Duration, Instant};

use crate::ctx::Ctx;
use crate::db::{Db, quantile};
use crate::easel::{Easel, Setup};
use crate::load::{self, Load, MakeCall};
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
            let b = burst(ctx, &easel, &db, generation(&key), jobs).await?;
            let r = &mut ctx.report;
            r.add(
                &format!("jobs.{backend}.rate"),
                &format!("end-to-end jobs/s (burst), {backend}"),
                "jobs/s",
                b.per_sec,
            );
            r.add(
                &format!("jobs.{backend}.cpu"),
                &format!("end-to-end server CPU per job, {backend}"),
                "µs",
                b.cpu_us,
            );

            // Half the burst rate, at a steady pace: time from submit to start.
            let rate = b.per_sec / 2.0;
            let mut paced = paced(ctx, &easel, &db, generation(&key), rate).await?;
            let r = &mut ctx.report;
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
                quantile(&mut paced.start_ms, 0.5),
            );
            r.add(
                &format!("jobs.{backend}.start_p99"),
                &format!("half load: submit to start p99, {backend}"),
                "ms",
                quantile(&mut paced.start_ms, 0.99),
            );
            r.add(
                &format!("jobs.{backend}.done_p50"),
                &format!("half load: submit to finished p50, {backend}"),
                "ms",
                quantile(&mut paced.done_ms, 0.5),
            );
        }
        db.close().await;
        easel.stop().await?;
    }
    Ok(())
}

/// What a burst of jobs did.
pub struct Burst {
    /// Jobs from the first created to the last finished, per second.
    pub per_sec: f64,
    /// The server's CPU time per job, from the first submit until every job had finished.
    pub cpu_us: f64,
}

/// Submits `jobs` generations as fast as `ctx.connections` connections can, waits until
/// every one has finished, and checks they all succeeded.
pub async fn burst(
    ctx: &Ctx,
    easel: &Easel,
    db: &Db,
    make: MakeCall,
    jobs: u64,
) -> anyhow::Result<Burst> {
    let since = now_ms();
    let cpu0 = easel.proc.cpu();
    let sent = load::run(easel.addr(), Load::burst(ctx.connections, jobs), make).await?;
    sent.check_all_ok("burst of generations")?;
    drain(db, since).await?;
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
            "{} generations for {jobs} submitted, {failed} not succeeded",
            rows.len()
        );
    }
    let first = rows.iter().map(|r| r[0]).min().unwrap_or(0);
    let last = rows.iter().map(|r| r[2]).max().unwrap_or(0);
    Ok(Burst {
        per_sec: jobs as f64 * 1000.0 / (last - first).max(1) as f64,
        cpu_us: cpu * 1e6 / jobs as f64,
    })
}

/// Each job of a steady run, from the server's own timestamps (milliseconds).
pub struct Paced {
    /// Submit (created) to started.
    pub start_ms: Vec<i64>,
    /// Submit (created) to finished.
    pub done_ms: Vec<i64>,
}

/// Submits generations at `rate` per second for one window, waits until they have all
/// finished and checks they succeeded.
pub async fn paced(
    ctx: &Ctx,
    easel: &Easel,
    db: &Db,
    make: MakeCall,
    rate: f64,
) -> anyhow::Result<Paced> {
    let since = now_ms();
    let sent = load::run(easel.addr(), Load::open(rate, 8, ctx.window), make).await?;
    sent.check_all_ok("generations at a steady rate")?;
    drain(db, since).await?;
    let rows = db
        .ints(&format!(
            "SELECT started_at - created_at, finished_at - created_at, \
             CAST(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END AS BIGINT) \
             FROM generations WHERE created_at >= {since}"
        ))
        .await?;
    let failed = rows.iter().filter(|r| r[2] != 1).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} generations did not succeed", rows.len());
    }
    Ok(Paced {
        start_ms: rows.iter().map(|r| r[0]).collect(),
        done_ms: rows.iter().map(|r| r[1]).collect(),
    })
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
