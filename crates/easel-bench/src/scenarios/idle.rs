//! An idle node: what it asks the database, and the CPU it uses, while nobody calls it, on
//! SQLite and on PostgreSQL. Statements are counted from sqlx's own statement log
//! (`sqlx::query=debug` on the node's stderr), so both databases are counted alike,
//! `BEGIN` and `COMMIT` included.

use std::time::Duration;

use crate::ctx::Ctx;
use crate::easel::{Easel, Setup};

/// Time for start-up writes (migrations, the demo account, the first sweep) to pass.
const SETTLE: Duration = Duration::from_secs(5);

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    // At least one housekeeping sweep (every 30 s) falls in any window this long.
    let window = if ctx.quick {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(60)
    };
    for backend in ["sqlite", "postgres"] {
        ctx.log(&format!(
            "idle: a node at rest for {} s, {backend}",
            window.as_secs()
        ));
        let dir = ctx.work.join(format!("idle-{backend}"));
        let url = match backend {
            "sqlite" => format!("sqlite://{}/easel.db", dir.display()),
            _ => ctx.fresh_pg("easel_bench_idle").await?,
        };
        let setup = Setup::new(&format!("idle-{backend}"), &url, &dir)
            .env("EASEL_LOG", "warn,sqlx::query=debug");
        let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
        tokio::time::sleep(SETTLE).await;
        let statements = || {
            easel
                .proc
                .stderr()
                .lines()
                .filter(|l| l.contains("sqlx::query"))
                .count()
        };
        let (before, cpu_before) = (statements(), easel.proc.cpu());
        tokio::time::sleep(window).await;
        let (after, cpu_after) = (statements(), easel.proc.cpu());
        let seconds = window.as_secs_f64();
        ctx.report.add(
            &format!("idle.{backend}.statements"),
            &format!("idle node: database statements/s, {backend}"),
            "/s",
            (after - before) as f64 / seconds,
        );
        ctx.report.add(
            &format!("idle.{backend}.cpu"),
            &format!("idle node: CPU, {backend}"),
            "% of a core",
            (cpu_after.0 - cpu_before.0) / seconds * 100.0,
        );
        easel.stop().await?;
    }
    Ok(())
}
