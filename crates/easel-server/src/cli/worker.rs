//! `easel worker`: the reference pull worker. It runs on a GPU machine next to a backend
//! (ComfyUI, AUTOMATIC1111, an OpenAI-compatible API, or the sandbox), claims jobs from an
//! Easel server over HTTPS with a worker token, and runs them on the same engines the
//! server runs (`easel_engines::registry::build`), so a model behaves the same wherever it
//! runs. It needs neither the server's config file nor its database.
//!
//! [`client`] speaks the worker API, [`pool`] claims, [`lease`] works one lease with its
//! [`heartbeat`] beside it, and [`report`] ends it; [`retry`] and [`backoff`] say when to
//! try the server again.

mod backoff;
mod client;
mod error;
mod fetch;
mod heartbeat;
mod lease;
mod outcome;
mod pool;
mod report;
mod retry;
mod settings;
mod target;
mod token;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use clap::builder::PossibleValuesParser;
use easel_engines::Engine;
use easel_engines::registry::{self, BuildContext, Fetch, ModelRef, Secrets};

use crate::api::worker::dto::{WorkerInfo, WorkerModel};
use backoff::Outage;
use client::Client;
use pool::{Next, Plan, Signals};
use token::RawToken;

/// Longest wait for a backend's health probe at start.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Flags of `easel worker`.
#[derive(Debug, Args)]
#[command(
    next_help_heading = "Worker options",
    after_help = "Examples:\n  \
        EASEL_WORKER_TOKEN=vs_worker_… easel worker --server https://easel.example.com \\\n      \
        --engine comfyui --settings @comfyui.toml --model sdxl\n  \
        easel worker --server http://127.0.0.1:8080 --engine sandbox --setting delay_ms=2000 --concurrency 2\n\n\
        Logs go to stderr (EASEL_LOG=debug for more). SIGTERM or Ctrl-C stops claiming and lets running jobs \
        finish within --grace-seconds."
)]
pub struct WorkerArgs {
    /// The Easel server to work for, e.g. https://easel.example.com.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The worker token an operator created (`<prefix>_worker_…`). Prefer the environment
    /// variable: a flag is visible in the process list.
    #[arg(long, env = "EASEL_WORKER_TOKEN", hide_env_values = true, value_name = "TOKEN", value_parser = RawToken::arg)]
    token: RawToken,
    /// The engine that runs the jobs on this machine.
    #[arg(long, value_parser = PossibleValuesParser::new(registry::NAMES))]
    engine: String,
    /// One engine setting (repeatable), as in a model's `settings` table on the server.
    /// VALUE is read as JSON when it is JSON (`30`, `true`, `"x"`), else as text. Applied
    /// after --settings, so it overrides it.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    setting: Vec<String>,
    /// All engine settings at once: a JSON object, or @FILE to read a .json or .toml file.
    #[arg(long, value_name = "JSON|@FILE")]
    settings: Option<String>,
    /// Serve only this model (repeatable). Default: every model the token allows.
    #[arg(long = "model", value_name = "ID")]
    model: Vec<String>,
    /// Engine runs at once. A job's upload and completion go on beside the next run
    /// (at most four times this many jobs in all).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,
    /// On SIGTERM or Ctrl-C: how long running jobs may finish before they are stopped and
    /// reported interrupted (a second signal stops them at once).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    grace_seconds: u64,
    /// Where relative paths in the settings (a ComfyUI workflow file) are read from.
    /// Default: the current directory.
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
}

/// Runs the worker until SIGTERM or Ctrl-C (exit 0) or a refusal that makes claiming
/// pointless (an error naming it).
pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    work(args, Signals::listen()).await
}

/// [`run`] with its stops given (tests fire them instead of sending signals).
async fn work(args: WorkerArgs, signals: Signals) -> anyhow::Result<()> {
    let token = args
        .token
        .check()
        .map_err(|e| anyhow::anyhow!("--token (or EASEL_WORKER_TOKEN): {e}"))?;
    let base = target::server_url(&args.server).map_err(anyhow::Error::msg)?;
    let settings =
        settings::build(args.settings.as_deref(), &args.setting).map_err(anyhow::Error::msg)?;
    let config_dir = match &args.config_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let client = Client::new(base, token).map_err(anyhow::Error::msg)?;
    let info = tokio::select! {
        () = signals.stop_claiming.cancelled() => return Ok(()),
        info = introduce(&client) => info?,
    };
    let models = choose_models(&info, &args.model).map_err(anyhow::Error::msg)?;
    let max_output_bytes = usize::try_from(info.max_output_bytes).unwrap_or(usize::MAX);
    let engines = build_engines(
        &args.engine,
        &models,
        &settings,
        &config_dir,
        max_output_bytes,
    )
    .map_err(anyhow::Error::msg)?;
    tokio::select! {
        () = signals.stop_claiming.cancelled() => return Ok(()),
        () = probe_all(&engines) => {}
    }
    let plan = Plan {
        models: models.iter().map(|m| m.id.clone()).collect(),
        concurrency: args.concurrency,
        max_jobs_per_claim: info.max_jobs_per_claim,
        wait_ms: info.max_claim_wait_ms,
        version: format!("easel-worker/{} {}", env!("CARGO_PKG_VERSION"), args.engine),
        grace: Duration::from_secs(args.grace_seconds),
    };
    tracing::info!(worker.id = %info.id, worker.name = %info.name, server = %client.base(), engine = %args.engine, models = ?plan.models, concurrency = plan.concurrency, "easel worker ready; claiming jobs");
    let shared = Arc::new(lease::Shared {
        client,
        engines,
        max_output_bytes,
    });
    pool::serve(shared, plan, signals).await
}

/// `GET /me`, retried with backoff while the server is away (a worker started before its
/// server, or across a restart, just waits for it).
async fn introduce(client: &Client) -> anyhow::Result<WorkerInfo> {
    let mut outage = Outage::default();
    loop {
        let e = match client.me().await {
            Ok(info) => return Ok(info),
            Err(e) => e,
        };
        match pool::next_after(&e) {
            Next::Exit(why) => anyhow::bail!("{why}"),
            Next::Wait(pause) => {
                tracing::warn!(error = %e, pause_s = pause.as_secs(), "the server has quarantined this worker; waiting");
                tokio::time::sleep(pause).await;
            }
            Next::Retry => {
                let failure = outage.failed(e.retry_after());
                if failure.started {
                    tracing::warn!(error = %e, "the server is not answering yet; retrying with backoff");
                }
                tokio::time::sleep(failure.pause).await;
            }
        }
    }
}

/// The models to serve: `wanted` (each allowed by the token), or every allowed model.
fn choose_models(info: &WorkerInfo, wanted: &[String]) -> Result<Vec<WorkerModel>, String> {
    if info.models.is_empty() {
        return Err("the worker token allows no models; an operator must grant it some".to_owned());
    }
    if wanted.is_empty() {
        return Ok(info.models.clone());
    }
    let mut chosen: Vec<WorkerModel> = Vec::new();
    for id in wanted {
        let Some(model) = info.models.iter().find(|m| &m.id == id) else {
            let allowed: Vec<&str> = info.models.iter().map(|m| m.id.as_str()).collect();
            return Err(format!(
                "--model `{id}` is not allowed for this worker token; it allows: {}",
                allowed.join(", ")
            ));
        };
        if !chosen.iter().any(|m| &m.id == id) {
            chosen.push(model.clone());
        }
    }
    Ok(chosen)
}

/// One engine per model, built by the server's own registry; the error names the model.
fn build_engines(
    engine: &str,
    models: &[WorkerModel],
    settings: &serde_json::Value,
    config_dir: &Path,
    max_output_bytes: usize,
) -> Result<HashMap<String, Arc<dyn Engine>>, String> {
    let fetch: Arc<dyn Fetch> = Arc::new(fetch::CappedFetch::new()?);
    let ctx = BuildContext {
        config_dir: config_dir.to_path_buf(),
        fetch: Some(fetch),
        max_output_bytes,
        // Engine secrets come from the variables the settings name, on this machine.
        secrets: Secrets::Required,
    };
    let mut engines = HashMap::new();
    for model in models {
        let reference = ModelRef {
            id: &model.id,
            kind: model.kind,
        };
        let built = registry::build(engine, reference, settings, &ctx).map_err(|e| {
            format!(
                "model `{}` ({}) on the `{engine}` engine: {e}; pass --model to serve only some models",
                model.id,
                model.kind.as_str()
            )
        })?;
        engines.insert(model.id.clone(), built);
    }
    Ok(engines)
}

/// Asks each backend whether it is up, and says so: a worker whose backend is down still
/// starts (the backend may come up), but the operator learns it now, not from failed jobs.
async fn probe_all(engines: &HashMap<String, Arc<dyn Engine>>) {
    for (model, engine) in engines {
        match tokio::time::timeout(PROBE_TIMEOUT, engine.probe()).await {
            Ok(Ok(report)) if report.problems.is_empty() => {
                tracing::info!(model = %model, version = %report.version.as_deref().unwrap_or("not reported"), "backend ready");
            }
            Ok(Ok(report)) => {
                tracing::warn!(model = %model, problems = ?report.problems, "the backend is up but not set up as configured; jobs will fail");
            }
            Ok(Err(e)) => {
                tracing::warn!(model = %model, error = %e, "the backend does not answer its health probe; jobs will fail until it does");
            }
            Err(_) => {
                tracing::warn!(model = %model, "the backend's health probe timed out");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_core::models::ModelKind;

    fn info(models: &[(&str, ModelKind)]) -> WorkerInfo {
        WorkerInfo {
            id: "wrk_1".to_owned(),
            name: "gpu-1".to_owned(),
            models: models
                .iter()
                .map(|(id, kind)| WorkerModel {
                    id: (*id).to_owned(),
                    kind: *kind,
                    timeout_seconds: 300,
                })
                .collect(),
            lease_ms: 30_000,
            heartbeat_interval_ms: 10_000,
            max_claim_wait_ms: 25_000,
            max_jobs_per_claim: 4,
            max_output_bytes: 50_000_000,
        }
    }

    fn ids(models: &[WorkerModel]) -> Vec<&str> {
        models.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn models_default_to_the_tokens_and_must_be_allowed() {
        let me = info(&[("sdxl", ModelKind::Image), ("clip", ModelKind::Video)]);
        let all = choose_models(&me, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids(&all), ["sdxl", "clip"]);
        let some = choose_models(&me, &["clip".to_owned(), "clip".to_owned()])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids(&some), ["clip"]);
        let err = choose_models(&me, &["sdxl".to_owned(), "flux".to_owned()])
            .expect_err("flux is not allowed");
        assert!(
            err.contains("`flux`") && err.contains("sdxl, clip"),
            "{err}"
        );
        let err = choose_models(&info(&[]), &[]).expect_err("no models");
        assert!(err.contains("allows no models"), "{err}");
    }

    #[test]
    fn engines_are_built_by_the_registry_and_errors_name_the_model() {
        let dir = std::env::temp_dir();
        let models = choose_models(&info(&[("sandbox-img", ModelKind::Image)]), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let engines = build_engines(
            "sandbox",
            &models,
            &serde_json::json!({"delay_ms": 5}),
            &dir,
            1_000,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            engines.get("sandbox-img").map(|e| e.name()),
            Some("sandbox")
        );

        let err = build_engines(
            "sandbox",
            &models,
            &serde_json::json!({"delay": 5}),
            &dir,
            1_000,
        )
        .err()
        .unwrap_or_else(|| panic!("an unknown sandbox setting must be refused"));
        assert!(
            err.contains("sandbox-img") && err.contains("delay"),
            "{err}"
        );

        let video = choose_models(&info(&[("clip", ModelKind::Video)]), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let settings = serde_json::json!({"base_url": "https://api.example.com", "model": "gpt-image-1", "api_key_env": "EASEL_TEST_UNSET_KEY_VAR"});
        let err = build_engines("openai", &video, &settings, &dir, 1_000)
            .err()
            .unwrap_or_else(|| panic!("openai makes no videos"));
        assert!(err.contains("`clip` (video)"), "{err}");
    }
}
