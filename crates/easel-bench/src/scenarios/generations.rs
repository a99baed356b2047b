//! The write path: `POST /v1/generations` → 202 with a funded live key (validation,
//! moderation, the credit hold, the enqueue) against an axum handler doing one INSERT, on
//! SQLite and PostgreSQL; pgbench TPC-B on the same PostgreSQL; one hot account against the
//! same load spread over many accounts, with every balance checked to the credit.

use std::sync::Arc;

use anyhow::Context;
use sqlx::Row;

use crate::ctx::Ctx;
use crate::easel::{Easel, Setup};
use crate::load::{Call, Load, MakeCall};
use crate::procs;

/// Credits granted to every benchmark account: far more than any run can hold.
const GRANT: i64 = 1_000_000_000;

/// Prompts as customers write them, taken in turn. No request numbers in them: moderation
/// reads digits too (a request numbered 14-88 was refused as a hate symbol, rightly).
const PROMPTS: &[&str] = &[
    "a lighthouse on a cliff at dusk, oil painting, warm light, crashing waves",
    "isometric illustration of a tiny bakery with a striped awning, soft pastel colours",
    "a red fox curled up asleep in fresh snow, wildlife photography, shallow depth of field",
    "art deco poster of a night train crossing a bridge over a river, gold and navy",
    "a bowl of ramen on a wooden table, steam rising, studio food photography",
    "watercolour map of an imaginary island with mountains, forests and a harbour",
    "a cozy reading nook by a rainy window, plants and a cat, cinematic lighting",
    "low poly render of a hot air balloon over green hills at sunrise",
];

fn body(n: u64) -> String {
    body_for("sandbox-image", n)
}

fn body_for(model: &str, n: u64) -> String {
    let prompt = PROMPTS[(n % PROMPTS.len() as u64) as usize];
    format!(r#"{{"model":"{model}","prompt":"{prompt}","width":256,"height":256}}"#)
}

/// A generation request as a customer sends it.
pub fn generation(key: &str) -> MakeCall {
    let key = key.to_string();
    Arc::new(move |_, n| Call::post_json("/v1/generations", body(n)).bearer(&key))
}

/// The same requests spread over `models`, taken in turn across all connections.
pub fn generation_over(key: &str, models: Vec<String>) -> MakeCall {
    let key = key.to_string();
    let count = models.len().max(1);
    Arc::new(move |conn, n| {
        // Connections and their request numbers interleave so that each model gets an
        // equal share however many connections there are.
        let model = models
            .get((conn + n as usize) % count)
            .map_or("sandbox-image", String::as_str);
        Call::post_json("/v1/generations", body_for(model, n)).bearer(&key)
    })
}

/// The same bodies to the one-INSERT handler.
fn insert_row() -> MakeCall {
    Arc::new(|_, n| Call::post_json("/rows", body(n)))
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    sqlite(ctx).await?;
    postgres(ctx).await?;
    hot_account(ctx).await
}

async fn sqlite(ctx: &mut Ctx) -> anyhow::Result<()> {
    ctx.log("generations: POST /v1/generations vs one INSERT, SQLite");
    let insert_url = format!("sqlite://{}/insert.db", ctx.work.display());
    let insert = ctx
        .start_bench(
            "insert-sqlite",
            &["insert", "--database-url", &insert_url],
            "/readyz",
        )
        .await?;
    let dir = ctx.work.join("gen-sqlite");
    let setup = Setup::new(
        "gen-sqlite",
        &format!("sqlite://{}/easel.db", dir.display()),
        &dir,
    )
    .busy_gpu();
    let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
    let key = easel.live_key(&easel.account).await?;
    easel.grant(&easel.account, GRANT).await?;
    let closed = Load::closed(ctx.connections, ctx.window);
    for run in 0..ctx.runs {
        ctx.log(&format!("generations sqlite: run {}/{}", run + 1, ctx.runs));
        let i = ctx
            .window(
                "insert.sqlite",
                "one-INSERT handler, SQLite",
                &insert,
                closed,
                insert_row(),
                false,
            )
            .await?;
        let e = ctx
            .window(
                "generations.sqlite",
                "Easel POST /v1/generations, SQLite",
                &easel.proc,
                closed,
                generation(&key),
                false,
            )
            .await?;
        ctx.report.add(
            "generations.sqlite.ratio",
            "POST /v1/generations ÷ one INSERT, SQLite",
            "×",
            e.load.rps / i.load.rps,
        );
        at_half_rate(ctx, "sqlite", &insert, &easel, &key, e.load.rps).await?;
    }
    easel.stop().await?;
    drop(insert);
    Ok(())
}

/// Latency at a fixed arrival rate, half of what Easel reached: the one-INSERT handler and
/// Easel at the same rate.
async fn at_half_rate(
    ctx: &mut Ctx,
    backend: &str,
    insert: &crate::procs::Proc,
    easel: &Easel,
    key: &str,
    easel_rps: f64,
) -> anyhow::Result<()> {
    let rate = (easel_rps / 2.0).max(10.0);
    let open = Load::open(rate, ctx.connections, ctx.window);
    let i = ctx
        .measure(
            insert,
            open,
            insert_row(),
            false,
            "one-INSERT handler at a fixed rate",
        )
        .await?;
    let e = ctx
        .measure(
            &easel.proc,
            open,
            generation(key),
            false,
            "POST /v1/generations at a fixed rate",
        )
        .await?;
    let r = &mut ctx.report;
    r.add(
        &format!("generations.{backend}.open_rate"),
        &format!("fixed arrival rate (half of Easel's maximum), {backend}"),
        "req/s",
        rate,
    );
    for (who, m) in [("insert", &i), ("generations", &e)] {
        let label = match who {
            "insert" => format!("one-INSERT handler at the fixed rate, {backend}"),
            _ => format!("POST /v1/generations at the fixed rate, {backend}"),
        };
        r.add(
            &format!("{who}.{backend}.open_p50"),
            &format!("{label}: p50"),
            "ms",
            m.load.p50_ms,
        );
        r.add(
            &format!("{who}.{backend}.open_p99"),
            &format!("{label}: p99"),
            "ms",
            m.load.p99_ms,
        );
    }
    Ok(())
}

/// pgbench's TPC-B-like script on the same PostgreSQL, for `seconds`: transactions/s.
pub async fn pgbench(ctx: &Ctx, seconds: u64) -> anyhow::Result<f64> {
    let url = ctx.pg_url("easel_bench_pgbench");
    let out = procs::run_command(
        "pgbench",
        &[
            "-n",
            "-c",
            &ctx.connections.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            &url,
        ],
        &[],
    )
    .await?;
    out.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("pgbench printed no tps:\n{out}"))
}

async fn postgres(ctx: &mut Ctx) -> anyhow::Result<()> {
    ctx.log("generations: POST /v1/generations vs one INSERT vs pgbench, PostgreSQL");
    let pgbench_url = ctx.fresh_pg("easel_bench_pgbench").await?;
    // Scale 10: a million accounts rows, more branches than clients, so TPC-B's own
    // hot-row contention stays small.
    procs::run_command("pgbench", &["-i", "-q", "-s", "10", &pgbench_url], &[]).await?;
    let insert_url = ctx.fresh_pg("easel_bench_insert").await?;
    let insert = ctx
        .start_bench(
            "insert-postgres",
            &["insert", "--database-url", &insert_url],
            "/readyz",
        )
        .await?;
    let url = ctx.fresh_pg("easel_bench_gen").await?;
    let setup = Setup::new("gen-postgres", &url, &ctx.work.join("gen-postgres")).busy_gpu();
    let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
    let key = easel.live_key(&easel.account).await?;
    easel.grant(&easel.account, GRANT).await?;
    let closed = Load::closed(ctx.connections, ctx.window);
    for run in 0..ctx.runs {
        ctx.log(&format!(
            "generations postgres: run {}/{}",
            run + 1,
            ctx.runs
        ));
        let tps = pgbench(ctx, ctx.window.as_secs().max(1)).await?;
        ctx.report
            .add("pgbench.tps", "pgbench TPC-B (same clients)", "TPS", tps);
        let i = ctx
            .window(
                "insert.postgres",
                "one-INSERT handler, PostgreSQL",
                &insert,
                closed,
                insert_row(),
                true,
            )
            .await?;
        let e = ctx
            .window(
                "generations.postgres",
                "Easel POST /v1/generations, PostgreSQL",
                &easel.proc,
                closed,
                generation(&key),
                true,
            )
            .await?;
        let r = &mut ctx.report;
        r.add(
            "generations.postgres.ratio",
            "POST /v1/generations ÷ one INSERT, PostgreSQL",
            "×",
            e.load.rps / i.load.rps,
        );
        r.add(
            "generations.postgres.pgbench_ratio",
            "POST /v1/generations ÷ pgbench TPC-B TPS",
            "×",
            e.load.rps / tps,
        );
        at_half_rate(ctx, "postgres", &insert, &easel, &key, e.load.rps).await?;
    }
    easel.stop().await?;
    drop(insert);
    Ok(())
}

/// Every connection on one account, then the same load spread over `accounts` accounts, on
/// PostgreSQL (where concurrent writers really run in parallel, and an account's holds are
/// serialised by its row lock). Afterwards every account's held credits must equal its
/// generations × the price, and its balance what was granted.
async fn hot_account(ctx: &mut Ctx) -> anyhow::Result<()> {
    const ACCOUNTS: usize = 16;
    ctx.log("generations: one hot account vs 16 accounts, PostgreSQL");
    let url = ctx.fresh_pg("easel_bench_hot").await?;
    let setup = Setup::new("hot-postgres", &url, &ctx.work.join("hot-postgres")).busy_gpu();
    let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
    let mut accounts = vec![easel.account.clone()];
    for n in 1..ACCOUNTS {
        accounts.push(easel.create_account(n).await?);
    }
    let mut keys = Vec::new();
    for a in &accounts {
        keys.push(easel.live_key(a).await?);
        easel.grant(a, GRANT).await?;
    }
    let hot = generation(&keys[0]);
    let spread: MakeCall = {
        let makers: Vec<MakeCall> = keys.iter().map(|k| generation(k)).collect();
        Arc::new(move |conn, n| makers[conn % makers.len()](conn, n))
    };
    let closed = Load::closed(ctx.connections, ctx.window);
    let mut accepted = 0;
    for run in 0..ctx.runs {
        ctx.log(&format!("hot account: run {}/{}", run + 1, ctx.runs));
        let h = ctx
            .window(
                "hot.one",
                "POST /v1/generations, one hot account, PostgreSQL",
                &easel.proc,
                closed,
                hot.clone(),
                true,
            )
            .await?;
        let s = ctx
            .window(
                "hot.spread",
                "POST /v1/generations, 16 accounts, PostgreSQL",
                &easel.proc,
                closed,
                spread.clone(),
                true,
            )
            .await?;
        ctx.report.add(
            "hot.ratio",
            "one hot account ÷ 16 accounts (max req/s)",
            "×",
            h.load.rps / s.load.rps,
        );
        accepted += h.load.ok + s.load.ok;
    }
    // Exactness: the database's generations (warm-ups included) against the load
    // generator's count of 202s, and each account's hold against its generations.
    let pool = sqlx::PgPool::connect(&url).await?;
    let rows = sqlx::query(
        "SELECT account_id, COUNT(*) AS total, \
         COUNT(*) FILTER (WHERE status IN ('queued', 'running')) AS n \
         FROM generations GROUP BY account_id",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    let mut total: i64 = 0;
    let mut price: Option<i64> = None;
    let mut exact = true;
    for row in rows {
        let account: String = row.try_get("account_id")?;
        // Only open generations hold credits (a job that timed out released its hold).
        let n: i64 = row.try_get("n")?;
        total += row.try_get::<i64, _>("total")?;
        let (balance, held) = easel.balance(&account).await?;
        let each = held / n.max(1);
        if balance != GRANT || held != each * n || *price.get_or_insert(each) != each {
            exact = false;
            ctx.report.note(format!(
                "hot account: {account} has {n} generations, balance {balance}, held {held}: not exact"
            ));
        }
    }
    let measured_202 = i64::try_from(accepted)?;
    if total < measured_202 {
        exact = false;
        ctx.report.note(format!(
            "hot account: {measured_202} answered 202 in measured windows, but only {total} generations exist"
        ));
    }
    ctx.report.add(
        "hot.exact",
        "balances exact after the hot-account runs (1 = yes)",
        "",
        if exact { 1.0 } else { 0.0 },
    );
    ctx.report.note(format!(
        "hot account: {total} generations over {ACCOUNTS} accounts, each account's hold = its generations × {} credits, balances untouched (nothing captured while queued)",
        price.unwrap_or(0)
    ));
    easel.stop().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spread_evenly_over_the_models() {
        let models: Vec<String> = (0..4).map(|i| format!("engine-{i}")).collect();
        let make = generation_over("sk_live_x", models.clone());
        let mut counts = std::collections::BTreeMap::new();
        for conn in 0..32 {
            for n in 0..10 {
                let body = String::from_utf8(make(conn, n).body.to_vec()).unwrap();
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                *counts
                    .entry(json["model"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
        }
        assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), models);
        assert!(counts.values().all(|&c| c == 80), "{counts:?}");
    }
}
