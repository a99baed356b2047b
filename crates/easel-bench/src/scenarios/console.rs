//! The developer console's pages for a big account, on SQLite and on PostgreSQL: 10,000
//! generations made through the API (with their events, holds and captures), 100,000
//! ledger entries and 1,000,000 request-log rows (written straight into the database, spread
//! over the last 30 days), then every page fetched one after another by a signed-in owner in
//! live mode. The figure is each page's p99 over loopback (the server's time plus well
//! under a millisecond of HTTP); the goal is 50 ms for every page.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use easel_core::ids::IdKind;
use futures::StreamExt;

use crate::ctx::Ctx;
use crate::db::quantile;
use crate::easel::{Easel, Setup};

const EMAIL: &str = "owner@console.bench";
const PASSWORD: &str = "bench copper lantern 61";
const DAY_MS: i64 = 86_400_000;
/// Rows per INSERT statement when seeding.
const BATCH: usize = 1000;

/// The pages measured, as (report key, path); `{gen}` is the newest generation.
const PAGES: &[(&str, &str)] = &[
    ("overview", "/console"),
    ("credits_card", "/console/partials/credits"),
    ("usage", "/console/usage"),
    ("billing", "/console/billing"),
    ("plans", "/console/plans"),
    ("keys", "/console/keys"),
    ("generations", "/console/generations"),
    ("generations_failed", "/console/generations?status=failed"),
    ("generation", "/console/generations/{gen}"),
    ("playground", "/console/playground"),
    ("logs", "/console/logs"),
    ("logs_errors", "/console/logs?failed=true"),
    ("audit", "/console/audit"),
    ("webhooks", "/console/webhooks"),
    ("end_users", "/console/end_users"),
    ("reports", "/console/reports"),
    ("account", "/console/account"),
];

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let (generations, ledger, logs, samples) = if ctx.quick {
        (1_000, 10_000, 100_000, 50)
    } else {
        (10_000, 100_000, 1_000_000, 200)
    };
    for backend in ["sqlite", "postgres"] {
        let dir = ctx.work.join(format!("console-{backend}"));
        let url = match backend {
            "sqlite" => format!("sqlite://{}/easel.db", dir.display()),
            _ => ctx.fresh_pg("easel_bench_console").await?,
        };
        let setup = Setup::new(&format!("console-{backend}"), &url, &dir);
        let easel = Easel::start(&ctx.easel_bin, &ctx.work, &setup).await?;
        let account = easel
            .admin_with_stdin(
                &[
                    "account",
                    "create",
                    "--name",
                    "Console bench",
                    "--owner-email",
                    EMAIL,
                    "--adult-attested",
                    "--owner-password-stdin",
                ],
                PASSWORD,
            )
            .await?["id"]
            .as_str()
            .map(str::to_string)
            .context("account create: no id")?;
        easel.grant(&account, 1_000_000_000).await?;
        let key = easel.live_key(&account).await?;
        ctx.log(&format!(
            "console: {generations} generations through the API, {backend}"
        ));
        let newest = make_generations(&easel, &key, generations).await?;
        ctx.log(&format!(
            "console: {ledger} ledger entries and {logs} request-log rows, {backend}"
        ));
        let seed = Seed::open(&url).await?;
        seed.ledger(&account, ledger).await?;
        seed.request_log(&account, logs).await?;
        // A settled database has its statistics: without this, PostgreSQL's autovacuum
        // analyses the new million rows in the middle of the measurement.
        seed.analyze().await?;
        seed.close().await;

        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let cookies = sign_in(&client, &easel).await?;
        let mut worst: f64 = 0.0;
        for (name, template) in PAGES {
            let path = template.replace("{gen}", &newest);
            let mut micros = Vec::with_capacity(samples);
            for i in 0..samples + 10 {
                let started = Instant::now();
                let res = client
                    .get(easel.url(&path))
                    .header("cookie", &cookies)
                    .send()
                    .await?;
                let status = res.status();
                res.bytes().await?;
                anyhow::ensure!(status.is_success(), "{path} answered {status}");
                // The first ten warm caches and connections.
                if i >= 10 {
                    micros.push(i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX));
                }
            }
            let p99 = quantile(&mut micros, 0.99) / 1000.0;
            let p50 = quantile(&mut micros, 0.50) / 1000.0;
            worst = worst.max(p99);
            ctx.report.add(
                &format!("console.{backend}.{name}.p99"),
                &format!("console page {template}: p99, {backend}"),
                " ms",
                p99,
            );
            ctx.report.add(
                &format!("console.{backend}.{name}.p50"),
                &format!("console page {template}: p50, {backend}"),
                " ms",
                p50,
            );
        }
        ctx.report.add(
            &format!("console.{backend}.worst_p99"),
            &format!("console pages: slowest page's p99, {backend}"),
            " ms",
            worst,
        );
        easel.stop().await?;
    }
    Ok(())
}

/// `n` live generations of the sandbox model through the API, 32 at a time; returns the
/// id of the last one made.
async fn make_generations(easel: &Easel, key: &str, n: usize) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let url = easel.url("/v1/generations");
    let body =
        r#"{"model":"sandbox-image","prompt":"a lighthouse at dusk","width":256,"height":256}"#;
    let made: Vec<anyhow::Result<String>> = futures::stream::iter(0..n)
        .map(|_| {
            let (client, url) = (&client, &url);
            async move {
                loop {
                    let res = client
                        .post(url.as_str())
                        .bearer_auth(key)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    let status = res.status();
                    let answer: serde_json::Value = res.json().await?;
                    if status.as_u16() == 429 || status.as_u16() == 503 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    anyhow::ensure!(status.is_success(), "generation: {status} {answer}");
                    return answer["id"]
                        .as_str()
                        .map(str::to_string)
                        .context("generation without id");
                }
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut ids = made.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    ids.sort();
    ids.pop().context("no generation made")
}

/// Signs the owner in and switches to live mode; the `Cookie` header to send.
async fn sign_in(client: &reqwest::Client, easel: &Easel) -> anyhow::Result<String> {
    let form = client.get(easel.url("/console/login")).send().await?;
    let login_cookie = cookie(&form, "easel_login")?;
    let token = csrf(&form.text().await?)?;
    let signed = client
        .post(easel.url("/console/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("username", EMAIL),
            ("password", PASSWORD),
            ("csrf", &token),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        signed.status().as_u16() == 303,
        "sign-in: {}",
        signed.status()
    );
    let session = cookie(&signed, "easel_session")?;
    let home = client
        .get(easel.url("/console"))
        .header("cookie", &session)
        .send()
        .await?;
    let token = csrf(&home.text().await?)?;
    let switched = client
        .post(easel.url("/console/switch"))
        .header("cookie", &session)
        .form(&[("mode", "live"), ("csrf", &token)])
        .send()
        .await?;
    let mode = cookie(&switched, "easel_mode")?;
    Ok(format!("{session}; {mode}"))
}

fn cookie(res: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
        .with_context(|| format!("no {name} cookie"))
}

fn csrf(html: &str) -> anyhow::Result<String> {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
        .context("no csrf field")
}

/// Writes rows straight into the server's database, beside the running server.
enum Seed {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Seed {
    async fn open(url: &str) -> anyhow::Result<Seed> {
        Ok(if url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .busy_timeout(Duration::from_secs(60));
            Seed::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?,
            )
        } else {
            Seed::Postgres(sqlx::PgPool::connect(url).await?)
        })
    }

    async fn analyze(&self) -> anyhow::Result<()> {
        match self {
            Seed::Sqlite(p) => {
                sqlx::query("ANALYZE").execute(p).await?;
            }
            Seed::Postgres(p) => {
                sqlx::query("ANALYZE").execute(p).await?;
            }
        }
        Ok(())
    }

    async fn close(self) {
        match self {
            Seed::Sqlite(p) => p.close().await,
            Seed::Postgres(p) => p.close().await,
        }
    }

    /// Runs `sql` (a multi-row INSERT with `$n` placeholders) with `values`, all text or
    /// integers.
    async fn insert(&self, sql: &str, values: &[Value]) -> anyhow::Result<()> {
        macro_rules! bind_all {
            ($pool:expr) => {{
                let mut q = sqlx::query(sql);
                for v in values {
                    q = match v {
                        Value::Text(s) => q.bind(s.clone()),
                        Value::Int(i) => q.bind(*i),
                        Value::Null => q.bind(None::<String>),
                    };
                }
                q.execute($pool).await?;
            }};
        }
        match self {
            Seed::Sqlite(p) => bind_all!(p),
            Seed::Postgres(p) => bind_all!(p),
        }
        Ok(())
    }

    /// Batched inserts of `n` rows of `columns`, each made by `row(i)`.
    async fn rows(
        &self,
        table: &str,
        columns: &[&str],
        n: usize,
        row: impl Fn(usize) -> Vec<Value>,
    ) -> anyhow::Result<()> {
        let mut start = 0;
        while start < n {
            let end = (start + BATCH).min(n);
            let mut values = Vec::with_capacity((end - start) * columns.len());
            let mut tuples = Vec::with_capacity(end - start);
            for i in start..end {
                let base = values.len();
                values.extend(row(i));
                let marks: Vec<String> = (1..=columns.len())
                    .map(|k| format!("${}", base + k))
                    .collect();
                tuples.push(format!("({})", marks.join(", ")));
            }
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {}",
                columns.join(", "),
                tuples.join(", ")
            );
            self.insert(&sql, &values).await?;
            start = end;
        }
        Ok(())
    }

    /// `n` ledger adjustments of the live balance over the last 30 days (they do not move
    /// the balance itself: the pages only list them).
    async fn ledger(&self, account: &str, n: usize) -> anyhow::Result<()> {
        let now = easel_core::time::now_ms();
        let columns = [
            "id",
            "account_id",
            "mode",
            "type",
            "amount",
            "held_change",
            "balance_after",
            "held_after",
            "actor_type",
            "actor_id",
            "reason",
            "created_at",
        ];
        self.rows("ledger_entries", &columns, n, |i| {
            let at = now - 30 * DAY_MS + (i as i64) * (30 * DAY_MS / n as i64);
            vec![
                Value::Text(IdKind::LedgerEntry.generate_at(at as u64)),
                Value::Text(account.to_string()),
                Value::Text("live".into()),
                Value::Text("adjustment".into()),
                Value::Int(0),
                Value::Int(0),
                Value::Int(1_000_000),
                Value::Int(0),
                Value::Text("operator".into()),
                Value::Text("bench".into()),
                Value::Text("bench".into()),
                Value::Int(at),
            ]
        })
        .await
    }

    /// `n` logged requests over the last 30 days, one in fifty an error.
    async fn request_log(&self, account: &str, n: usize) -> anyhow::Result<()> {
        let now = easel_core::time::now_ms();
        let columns = [
            "id",
            "request_id",
            "account_id",
            "mode",
            "api_key_id",
            "method",
            "path",
            "status",
            "end_user",
            "latency_us",
            "error_code",
            "prompt",
            "created_at",
        ];
        self.rows("request_log", &columns, n, |i| {
            let at = now - 30 * DAY_MS + (i as i64) * (30 * DAY_MS / n as i64);
            let failed = i % 50 == 0;
            vec![
                Value::Text(IdKind::RequestLog.generate_at(at as u64)),
                Value::Text(format!("req_bench{i}")),
                Value::Text(account.to_string()),
                Value::Text("live".into()),
                Value::Text("key_bench".into()),
                Value::Text("POST".into()),
                Value::Text("/v1/generations".into()),
                Value::Int(if failed { 400 } else { 202 }),
                Value::Text(format!("user-{}", i % 1000)),
                Value::Int(1500),
                if failed {
                    Value::Text("invalid_request".into())
                } else {
                    Value::Null
                },
                Value::Null,
                Value::Int(at),
            ]
        })
        .await
    }
}

enum Value {
    Text(String),
    Int(i64),
    Null,
}
