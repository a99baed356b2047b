//! Easel itself, as an operator runs it: the release `easel` binary, `easel serve` on a fresh
//! database, set up with `easel admin` (accounts, live keys, credits).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::procs::{self, Proc};

/// How an Easel server should run.
#[derive(Debug, Clone)]
pub struct Setup {
    pub name: String,
    pub database_url: String,
    pub data_dir: PathBuf,
    /// Extra EASEL_* variables.
    pub env: Vec<(String, String)>,
    /// The sandbox image model's `concurrency` and `delay_ms` (a model id with `-` can only
    /// be set in a config file).
    pub image_slots: u32,
    pub image_delay_ms: u64,
    /// More `[models.<id>]` tables for the config file (models on real engines).
    pub models: Vec<String>,
}

impl Setup {
    pub fn new(name: &str, database_url: &str, data_dir: &Path) -> Setup {
        Setup {
            name: name.to_string(),
            database_url: database_url.to_string(),
            data_dir: data_dir.to_path_buf(),
            env: Vec::new(),
            image_slots: 4,
            image_delay_ms: 0,
            models: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: impl ToString) -> Setup {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds a `[models.<id>]` table (with its settings) to the config file.
    pub fn model(mut self, toml: String) -> Setup {
        self.models.push(toml);
        self
    }

    /// A node whose GPUs are busy: one slot, and a job takes an hour, so accepted
    /// generations wait in the queue and the request path is measured alone.
    pub fn busy_gpu(mut self) -> Setup {
        self.image_slots = 1;
        self.image_delay_ms = 3_600_000;
        // Shutting down waits for running jobs up to the grace period; this one never ends.
        self.env("EASEL_HTTP__SHUTDOWN_GRACE_SECONDS", 1)
    }

    fn environment(&self) -> anyhow::Result<Vec<(String, String)>> {
        std::fs::create_dir_all(&self.data_dir)?;
        let config = self.data_dir.join("bench.toml");
        let mut text = format!(
            "[models.sandbox-image]\nconcurrency = {}\n\n[models.sandbox-image.settings]\ndelay_ms = {}\n",
            self.image_slots, self.image_delay_ms
        );
        for model in &self.models {
            text.push('\n');
            text.push_str(model);
        }
        std::fs::write(&config, text)?;
        let mut env: Vec<(String, String)> = [
            ("EASEL_LOG", log_filter("EASEL_BENCH_SERVER_LOG")),
            ("EASEL_CONFIG", config.display().to_string()),
            ("EASEL_DATA_DIR", self.data_dir.display().to_string()),
            ("EASEL_DATABASE_URL", self.database_url.clone()),
            // The highest quotas a plan may have, so that requests are admitted and do the
            // whole path: limits are still checked and counted on every request. Read loads
            // are spread over several accounts (see `tenants`) to stay under them.
            (
                "EASEL_PLANS__FREE__REQUESTS_PER_MINUTE",
                "1000000".to_string(),
            ),
            ("EASEL_PLANS__FREE__REQUESTS_PER_DAY", "1000000".to_string()),
            ("EASEL_PLANS__FREE__CONCURRENT_JOBS", "1000000".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(self.env.iter().cloned());
        Ok(env)
    }
}

/// A running Easel server.
pub struct Easel {
    pub proc: Proc,
    pub bin: PathBuf,
    pub env: Vec<(String, String)>,
    /// The demo account and its test key, printed on first start.
    pub account: String,
    pub test_key: String,
    pub operator_user: String,
    pub operator_password: String,
    /// From process start to `/readyz` answering 200.
    pub ready_after: Duration,
}

impl Easel {
    pub async fn start(bin: &Path, work: &Path, setup: &Setup) -> anyhow::Result<Easel> {
        let env = setup.environment()?;
        let addr = procs::free_addr()?;
        let started = Instant::now();
        let mut proc = Proc::spawn(
            &setup.name,
            bin,
            &["serve".into(), "--listen".into(), addr.to_string()],
            &env,
            &work.join(&setup.name),
            addr,
        )?;
        let ready_after = proc.wait_ready("/readyz", started).await?;
        let out = proc.stdout();
        let field = |label: &str| -> Option<String> {
            out.lines()
                .find_map(|l| l.trim_start().strip_prefix(label))
                .map(|v| v.trim().to_string())
        };
        let login = field("operator login:").unwrap_or_default();
        let (operator_user, operator_password) = login
            .split_once(" / ")
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .unwrap_or_default();
        let mut easel = Easel {
            proc,
            bin: bin.to_path_buf(),
            env,
            account: String::new(),
            test_key: field("test API key:").unwrap_or_default(),
            operator_user,
            operator_password,
            ready_after,
        };
        if let Some(demo) = field("demo account:") {
            easel.account = demo
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        } else {
            // Not the first start on this database: the demo account is the oldest.
            let list = easel.admin(&["account", "list"]).await?;
            easel.account = list
                .as_array()
                .and_then(|a| a.last())
                .and_then(|a| a["id"].as_str())
                .unwrap_or_default()
                .to_string();
        }
        Ok(easel)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.proc.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proc.addr)
    }

    /// `easel admin ARGS --json` on this server's database.
    pub async fn admin(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let bin = self.bin.display().to_string();
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = procs::run_command(&bin, &all, &self.env).await?;
        serde_json::from_str(&out).with_context(|| format!("easel admin {}: {out}", args.join(" ")))
    }

    /// `easel admin ARGS --json` with `input` on its stdin.
    pub async fn admin_with_stdin(
        &self,
        args: &[&str],
        input: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let bin = self.bin.display().to_string();
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = procs::run_command_with_input(&bin, &all, &self.env, Some(input)).await?;
        serde_json::from_str(&out).with_context(|| format!("easel admin {}: {out}", args.join(" ")))
    }

    /// A new key for `account` in `mode` (`test` or `live`).
    pub async fn key(&self, account: &str, mode: &str) -> anyhow::Result<String> {
        let key = self
            .admin(&[
                "key",
                "create",
                "--account",
                account,
                "--mode",
                mode,
                "--name",
                "bench",
            ])
            .await?;
        key["secret"]
            .as_str()
            .map(str::to_string)
            .context("key create: no secret")
    }

    pub async fn live_key(&self, account: &str) -> anyhow::Result<String> {
        self.key(account, "live").await
    }

    pub async fn grant(&self, account: &str, credits: i64) -> anyhow::Result<()> {
        self.admin(&[
            "credits",
            "grant",
            "--account",
            account,
            "--credits",
            &credits.to_string(),
            "--reason",
            "bench",
        ])
        .await?;
        Ok(())
    }

    /// (balance, held) of an account's live credits.
    pub async fn balance(&self, account: &str) -> anyhow::Result<(i64, i64)> {
        let b = self
            .admin(&["credits", "balance", "--account", account])
            .await?;
        Ok((
            b["balance"].as_i64().unwrap_or(-1),
            b["held"].as_i64().unwrap_or(-1),
        ))
    }

    /// `n` accounts (the demo account first) with a test key each: API traffic from many
    /// customers, which also keeps a fast read load under each account's quota (at most
    /// 1,000,000 requests a minute and a day).
    pub async fn tenants(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let mut keys = vec![self.test_key.clone()];
        for i in 1..n {
            let account = self.create_account(i).await?;
            keys.push(self.key(&account, "test").await?);
        }
        Ok(keys)
    }

    pub async fn create_account(&self, n: usize) -> anyhow::Result<String> {
        let a = self
            .admin(&[
                "account",
                "create",
                "--name",
                &format!("Bench {n}"),
                "--owner-email",
                &format!("bench{n}@example.com"),
                "--adult-attested",
            ])
            .await?;
        a["id"]
            .as_str()
            .map(str::to_string)
            .context("account create: no id")
    }

    /// A worker token allowed `models` (`easel admin worker create`, which prints it once).
    pub async fn worker_token(&self, name: &str, models: &[&str]) -> anyhow::Result<String> {
        let mut args = vec!["worker", "create", "--name", name];
        for model in models {
            args.extend_from_slice(&["--model", *model]);
        }
        let worker = self.admin(&args).await?;
        worker["token"]
            .as_str()
            .map(str::to_string)
            .context("worker create: no token")
    }

    /// Starts `easel worker --engine ENGINE --concurrency N` against this server with
    /// `token`, its output in `work/name`. It serves every model the token allows.
    pub fn spawn_worker(
        &self,
        work: &Path,
        name: &str,
        token: &str,
        engine: &str,
        concurrency: u32,
    ) -> anyhow::Result<Proc> {
        let args: Vec<String> = vec![
            "worker".into(),
            "--server".into(),
            self.url(""),
            "--engine".into(),
            engine.into(),
            "--concurrency".into(),
            concurrency.to_string(),
        ];
        // The token from the environment, as the README advises (a flag is visible in ps);
        // warnings only, like the server, so logging costs neither side anything.
        let env = [
            ("EASEL_WORKER_TOKEN".to_string(), token.to_string()),
            (
                "EASEL_LOG".to_string(),
                log_filter("EASEL_BENCH_WORKER_LOG"),
            ),
        ];
        Proc::spawn(name, &self.bin, &args, &env, &work.join(name), self.addr())
    }

    /// The value of an unlabelled figure of `/metrics` (the setup must set
    /// `EASEL_METRICS__TOKEN` to `token`).
    pub async fn metric(&self, token: &str, name: &str) -> anyhow::Result<f64> {
        let text = reqwest::Client::new()
            .get(self.url("/metrics"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("/metrics has no {name}"))
    }

    /// Stops the server gracefully, failing if it logged an error or a panic.
    pub async fn stop(self) -> anyhow::Result<()> {
        let dir = self.proc.dir.clone();
        self.proc.stop().await?;
        let err = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
        if let Some(line) = err
            .lines()
            .find(|l| l.contains("ERROR") || l.contains("panicked"))
        {
            anyhow::bail!("{}: the server logged: {line}", dir.display());
        }
        Ok(())
    }
}

/// The log filter of the processes under test: warnings only, so that logging costs them
/// nothing, unless `var` asks for more to find out where time goes (e.g.
/// `EASEL_BENCH_SERVER_LOG=warn,sqlx::query=debug`, with `EASEL_BENCH_KEEP=1` to read the
/// logs afterwards).
fn log_filter(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| "warn".into())
}
