//! `easel admin engines check`: probes every configured model's backend and prints what it
//! found (reachable, version, checkpoints and nodes present), so an operator can tell a
//! working setup from a broken one before a customer does. Needs no database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Subcommand;
use serde::Serialize;

use crate::cli::output::emit;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum EnginesCommand {
    /// Probe every enabled model's backend. Exits non-zero when one is unreachable or
    /// reports a problem.
    Check {
        /// Only this model.
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct Checked {
    model: String,
    engine: String,
    reachable: bool,
    latency_ms: u64,
    version: Option<String>,
    facts: Vec<String>,
    problems: Vec<String>,
}

pub async fn run(config: &Config, command: EnginesCommand) -> anyhow::Result<()> {
    let EnginesCommand::Check { model, json } = command;
    let webhooks = Arc::new(crate::webhooks::Webhooks::new(config)?);
    let fetch = Arc::new(crate::engines::fetch::GuardedFetch(webhooks));
    let mut results = Vec::new();
    for (id, m) in config.models.iter().filter(|(_, m)| m.enabled) {
        if model.as_ref().is_some_and(|only| only != id) {
            continue;
        }
        let engine = crate::engines::build(
            config,
            id,
            m,
            Some(fetch.clone()),
            crate::engines::Secrets::Required,
        )
        .map_err(|e| anyhow::anyhow!("models.{id}.settings: {e}"))?;
        let started = Instant::now();
        let probed = tokio::time::timeout(Duration::from_secs(15), engine.probe()).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let checked = match probed {
            Ok(Ok(report)) => Checked {
                model: id.clone(),
                engine: m.engine.clone(),
                reachable: true,
                latency_ms,
                version: report.version,
                facts: report.facts,
                problems: report.problems,
            },
            Ok(Err(e)) => Checked {
                model: id.clone(),
                engine: m.engine.clone(),
                reachable: false,
                latency_ms,
                version: None,
                facts: Vec::new(),
                // The operator's own tool: the full detail is what they need here.
                problems: vec![e.to_string()],
            },
            Err(_) => Checked {
                model: id.clone(),
                engine: m.engine.clone(),
                reachable: false,
                latency_ms,
                version: None,
                facts: Vec::new(),
                problems: vec!["no answer within 15 s".to_owned()],
            },
        };
        results.push(checked);
    }
    if let Some(only) = &model
        && results.is_empty()
    {
        anyhow::bail!("no enabled model named `{only}`");
    }
    let failed = results
        .iter()
        .filter(|c| !c.reachable || !c.problems.is_empty())
        .count();
    emit(json, &results, || {
        let mut out = String::new();
        for c in &results {
            let state = if !c.reachable {
                "UNREACHABLE"
            } else if c.problems.is_empty() {
                "ok"
            } else {
                "PROBLEMS"
            };
            out.push_str(&format!(
                "{} ({}): {state}, {} ms{}\n",
                c.model,
                c.engine,
                c.latency_ms,
                c.version
                    .as_ref()
                    .map(|v| format!(", version {v}"))
                    .unwrap_or_default()
            ));
            for f in &c.facts {
                out.push_str(&format!("  - {f}\n"));
            }
            for p in &c.problems {
                out.push_str(&format!("  ! {p}\n"));
            }
        }
        out.trim_end().to_owned()
    })?;
    if failed > 0 {
        anyhow::bail!("{failed} model backend(s) unreachable or misconfigured");
    }
    Ok(())
}
