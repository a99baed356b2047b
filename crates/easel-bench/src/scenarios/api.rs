//! The read path: authenticated `GET /v1/account` against a bare axum handler, limits on
//! Redis against in-process, console logins (argon2) beside API traffic, and the footprint
//! (memory at rest and under load, start to ready).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::ctx::Ctx;
use crate::easel::{Easel, Setup};
use crate::load::{self, Call, Load, MakeCall};
use crate::report::fmt;

/// Accounts the read load is spread over (each connection uses one account's key).
const TENANTS: usize = 16;

fn spread(keys: Vec<String>) -> MakeCall {
    let calls: Vec<Call> = keys
        .iter()
        .map(|k| Call::get("/v1/account").bearer(k))
        .collect();
    Arc::new(move |conn, _| calls[conn % calls.len()].clone())
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    ctx.log("api: bare axum vs GET /v1/account (SQLite), limits in memory vs Redis, logins");
    let bare = ctx.start_bench("bare-axum", &["bare"], "/").await?;
    let dir = ctx.work.join("api-sqlite");
    let setup = Setup::new(
        "api-sqlite",
        &format!("sqlite://{}/easel.db", dir.display()),
        &dir,
    );
    let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
    let redis_setup = Setup::new(
        "api-redis",
        &format!("sqlite://{}/easel.db", ctx.work.join("api-redis").display()),
        &ctx.work.join("api-redis"),
    )
    .env("EASEL_REDIS_URL", &ctx.redis_url);
    let redis = Easel::start(&ctx.easel_bin, &ctx.work, &redis_setup).await?;

    // Memory at rest: after start and one request (the first request's allocations are
    // part of being ready to serve).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = reqwest::Client::new()
        .get(easel.url("/v1/account"))
        .bearer_auth(&easel.test_key)
        .send()
        .await?;
    let idle_kib = easel.proc.rss_kib();
    ctx.report.add(
        "footprint.idle_rss",
        "footprint: RSS at rest",
        "MiB",
        idle_kib as f64 / 1024.0,
    );

    let account = spread(easel.tenants(TENANTS).await?);
    let redis_account = spread(redis.tenants(TENANTS).await?);
    let bare_call = load::same(Call::get("/v1/account"));
    let closed = Load::closed(ctx.connections, ctx.window);
    let mut rss_after = Vec::new();
    for run in 0..ctx.runs {
        ctx.log(&format!("api: run {}/{}", run + 1, ctx.runs));
        let b = ctx
            .window(
                "account.bare",
                "bare axum GET (no auth, no DB)",
                &bare,
                closed,
                bare_call.clone(),
                false,
            )
            .await?;
        let e = ctx
            .window(
                "account.sqlite",
                "Easel GET /v1/account, limits in memory",
                &easel.proc,
                closed,
                account.clone(),
                false,
            )
            .await?;
        ctx.report.add(
            "account.ratio",
            "GET /v1/account ÷ bare axum (max req/s)",
            "×",
            e.load.rps / b.load.rps,
        );
        let r = ctx
            .window(
                "account.redis",
                "Easel GET /v1/account, limits on Redis",
                &redis.proc,
                closed,
                redis_account.clone(),
                false,
            )
            .await?;
        ctx.report.add(
            "limits.ratio",
            "limits on Redis ÷ in memory (max req/s)",
            "×",
            r.load.rps / e.load.rps,
        );

        // Latency at a fixed arrival rate both can sustain: a third of the slower maximum.
        let rate = (b.load.rps.min(e.load.rps) / 3.0).max(100.0);
        let open = Load::open(rate, ctx.connections, ctx.window);
        let bo = ctx
            .measure(
                &bare,
                open,
                bare_call.clone(),
                false,
                "bare axum at a fixed rate",
            )
            .await?;
        let eo = ctx
            .measure(
                &easel.proc,
                open,
                account.clone(),
                false,
                "GET /v1/account at a fixed rate",
            )
            .await?;
        let r = &mut ctx.report;
        r.add(
            "account.open_rate",
            "fixed arrival rate (open model)",
            "req/s",
            rate,
        );
        r.add(
            "account.bare.open_p50",
            "bare axum at the fixed rate: p50",
            "ms",
            bo.load.p50_ms,
        );
        r.add(
            "account.bare.open_p99",
            "bare axum at the fixed rate: p99",
            "ms",
            bo.load.p99_ms,
        );
        r.add(
            "account.sqlite.open_p50",
            "GET /v1/account at the fixed rate: p50",
            "ms",
            eo.load.p50_ms,
        );
        r.add(
            "account.sqlite.open_p99",
            "GET /v1/account at the fixed rate: p99",
            "ms",
            eo.load.p99_ms,
        );
        r.add(
            "account.added_p99",
            "GET /v1/account p99 − bare axum p99 at the fixed rate",
            "ms",
            eo.load.p99_ms - bo.load.p99_ms,
        );

        rss_after.push(easel.proc.rss_kib());
    }
    for (i, kib) in rss_after.iter().enumerate() {
        ctx.report.add(
            &format!("footprint.rss_after_{}", i + 1),
            &format!("footprint: RSS after load round {}", i + 1),
            "MiB",
            *kib as f64 / 1024.0,
        );
    }
    let peak = rss_after.iter().copied().max().unwrap_or(0);
    ctx.report.add(
        "footprint.rss_ratio",
        "footprint: RSS after load ÷ at rest (worst round)",
        "×",
        peak as f64 / idle_kib.max(1) as f64,
    );
    if let (Some(first), Some(last)) = (rss_after.first(), rss_after.last()) {
        ctx.report.add(
            "footprint.rss_growth",
            "footprint: RSS growth from the first to the last load round",
            "%",
            (*last as f64 / (*first).max(1) as f64 - 1.0) * 100.0,
        );
    }
    // 25 console logins a second (argon2 on the blocking pool) beside the same traffic,
    // after the memory figures above: the logins' memory is reported on its own.
    for run in 0..ctx.runs {
        ctx.log(&format!("api: logins run {}/{}", run + 1, ctx.runs));
        let plain = ctx
            .measure(
                &easel.proc,
                closed,
                account.clone(),
                false,
                "GET /v1/account",
            )
            .await?;
        // 25 console logins a second (argon2 on the blocking pool) beside the same traffic.
        let logins = LoginLoad::start(&easel, 25.0);
        // The logins stop before a failed window is reported.
        let l = ctx
            .window(
                "logins.sqlite",
                "GET /v1/account beside 25 logins/s",
                &easel.proc,
                closed,
                account.clone(),
                false,
            )
            .await;
        let (done, failed) = logins.stop().await;
        let l = l?;
        ctx.report.add(
            "logins.ratio",
            "GET /v1/account beside 25 logins/s ÷ without",
            "×",
            l.load.rps / plain.load.rps,
        );
        ctx.report.add(
            "logins.rate",
            "console logins completed beside the load",
            "logins/s",
            done as f64 / (ctx.window + ctx.warmup).as_secs_f64(),
        );
        if failed > 0 {
            anyhow::bail!("{failed} console logins failed");
        }
        ctx.report.add(
            "logins.rss",
            "footprint: RSS after the logins round",
            "MiB",
            easel.proc.rss_kib() as f64 / 1024.0,
        );
    }
    redis.stop().await?;
    easel.stop().await?;
    drop(bare);

    // Start to ready on a database already migrated: the process starting, opening the
    // database, checking migrations, loading caches and binding.
    for _ in 0..ctx.runs.max(3) {
        let again = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
        ctx.report.add(
            "footprint.ready",
            "footprint: start to ready (migrated SQLite)",
            "ms",
            again.ready_after.as_secs_f64() * 1000.0,
        );
        again.stop().await?;
    }
    let idle = ctx.report.get("footprint.idle_rss").unwrap_or(f64::NAN);
    ctx.log(&format!("api: done, idle RSS {} MiB", fmt(idle)));
    Ok(())
}

/// The sign-in form's pre-session cookie (`name=value`) and CSRF token.
async fn login_form(client: &reqwest::Client, url: &str) -> Option<(String, String)> {
    let res = client.get(url).send().await.ok()?;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("easel_login="))?
        .split(';')
        .next()?
        .to_string();
    let html = res.text().await.ok()?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)?
        .split('"')
        .next()?;
    Some((cookie, csrf.to_string()))
}

/// Console logins at a steady rate in the background, each a real `POST /console/login`
/// with the operator's password (an argon2 verification).
struct LoginLoad {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl LoginLoad {
    fn start(easel: &Easel, per_second: f64) -> LoginLoad {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let url = easel.url("/console/login");
        let (user, password) = (easel.operator_user.clone(), easel.operator_password.clone());
        let (d, f) = (done.clone(), failed.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default();
            // The form's CSRF token, bound to its pre-session cookie, serves every login.
            let (cookie, csrf) = login_form(&client, &url).await.unwrap_or_default();
            let form = [("username", user), ("password", password), ("csrf", csrf)];
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = tick.tick() => {}
                }
                let (client, url, form, cookie, d, f) = (
                    client.clone(),
                    url.clone(),
                    form.clone(),
                    cookie.clone(),
                    d.clone(),
                    f.clone(),
                );
                tokio::spawn(async move {
                    // A good login answers with a redirect into the console and a session.
                    match client
                        .post(&url)
                        .header("cookie", cookie)
                        .form(&form)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_redirection() => d.fetch_add(1, Ordering::Relaxed),
                        _ => f.fetch_add(1, Ordering::Relaxed),
                    };
                });
            }
        });
        LoginLoad {
            stop,
            task,
            done,
            failed,
        }
    }

    async fn stop(self) -> (u64, u64) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        (
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}
