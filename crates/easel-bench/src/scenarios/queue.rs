//! Queue depth: the production claim against 1k queued jobs and against a deep table
//! (1M queued + 5M finished; `--quick`: 100k + 500k), on both databases.

use crate::ctx::Ctx;
use crate::queue_depth;

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let (queued, finished) = if ctx.quick {
        (100_000, 500_000)
    } else {
        (1_000_000, 5_000_000)
    };
    let claims = if ctx.quick { 300 } else { 1000 };
    for backend in ["sqlite", "postgres"] {
        for (case, q, f) in [("shallow", 1_000, 0), ("deep", queued, finished)] {
            ctx.log(&format!(
                "queue {backend}: {q} queued + {f} finished, {claims} claims"
            ));
            let url = match backend {
                "sqlite" => {
                    let path = ctx.work.join(format!("queue-{backend}-{case}.db"));
                    format!("sqlite://{}", path.display())
                }
                _ => ctx.fresh_pg("easel_bench_queue").await?,
            };
            let r = queue_depth::measure(&url, q, f, claims).await?;
            let label = format!("{backend}, {q} queued + {f} finished");
            let report = &mut ctx.report;
            report.add(
                &format!("queue.{backend}.{case}.rate"),
                &format!("claims/s, {label}"),
                "claims/s",
                r.claims_per_sec,
            );
            report.add(
                &format!("queue.{backend}.{case}.p99"),
                &format!("claim p99, {label}"),
                "ms",
                r.p99_ms,
            );
            report.add(
                &format!("queue.{backend}.{case}.p50"),
                &format!("claim p50, {label}"),
                "ms",
                r.p50_ms,
            );
            report.add(
                &format!("queue.{backend}.{case}.seed"),
                &format!("seeding, {label}"),
                "s",
                r.seed_seconds,
            );
            if backend == "sqlite" {
                let _ = std::fs::remove_file(url.trim_start_matches("sqlite://"));
            }
        }
        let (Some(deep), Some(shallow)) = (
            ctx.report.get(&format!("queue.{backend}.deep.rate")),
            ctx.report.get(&format!("queue.{backend}.shallow.rate")),
        ) else {
            continue;
        };
        ctx.report.add(
            &format!("queue.{backend}.rate_ratio"),
            &format!("claims/s deep ÷ shallow, {backend}"),
            "×",
            deep / shallow,
        );
        if let (Some(deep), Some(shallow)) = (
            ctx.report.get(&format!("queue.{backend}.deep.p99")),
            ctx.report.get(&format!("queue.{backend}.shallow.p99")),
        ) {
            ctx.report.add(
                &format!("queue.{backend}.p99_ratio"),
                &format!("claim p99 deep ÷ shallow, {backend}"),
                "×",
                deep / shallow,
            );
        }
    }
    Ok(())
}
