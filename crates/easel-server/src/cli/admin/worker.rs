//! `easel admin worker create|list|revoke`: remote pull workers' tokens.
//!
//! A token is shown once, at creation, and stored only as its SHA-256. A node reuses a
//! token's lookup for at most a second, so a revocation holds on every node within a
//! second.

use clap::Subcommand;
use easel_core::ids::IdKind;
use easel_core::time::now_ms;
use easel_db::{NewWorker, Worker};
use serde::Serialize;

use super::audit;
use crate::app::App;
use crate::cli::output::{emit, when};

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Register a worker and print its token (once).
    Create {
        /// A unique name (`gpu-box-1`).
        #[arg(long)]
        name: String,
        /// A model the worker may claim (a model with `engine = "worker"`); repeat for more.
        #[arg(long = "model", required = true)]
        models: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every worker: models, last seen, version, jobs done and failed, leases lost, state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a worker's token (by id or name); it can claim nothing from its next call.
    Revoke {
        worker: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct WorkerView {
    id: String,
    name: String,
    token_prefix: String,
    models: Vec<String>,
    serving: Vec<String>,
    version: Option<String>,
    /// `online`, `offline`, `quarantined` or `revoked`.
    state: &'static str,
    last_seen_at: Option<i64>,
    quarantined_until: Option<i64>,
    jobs_done: u64,
    jobs_failed: u64,
    leases_lost: u64,
    created_at: i64,
    revoked_at: Option<i64>,
    /// Only at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

pub async fn run(app: &App, command: WorkerCommand) -> anyhow::Result<()> {
    match command {
        WorkerCommand::Create { name, models, json } => create(app, name, models, json).await,
        WorkerCommand::List { json } => {
            let views: Vec<WorkerView> = app
                .store
                .list_workers()
                .await?
                .into_iter()
                .map(|w| view(app, w, None))
                .collect();
            emit(json, &views, || {
                if views.is_empty() {
                    return "no workers; add one with `easel admin worker create --name NAME --model MODEL`".into();
                }
                views.iter().map(describe).collect::<Vec<_>>().join("\n")
            })
        }
        WorkerCommand::Revoke { worker, json } => {
            let w = match app.store.revoke_worker(&worker, audit(), now_ms()).await {
                Ok(w) => w,
                Err(easel_db::DbError::NotFound) => {
                    anyhow::bail!("no worker with id or name {worker:?}")
                }
                Err(e) => return Err(e.into()),
            };
            let v = view(app, w, None);
            emit(json, &v, || format!("revoked {}", describe(&v)))
        }
    }
}

async fn create(app: &App, name: String, models: Vec<String>, json: bool) -> anyhow::Result<()> {
    let name_ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        anyhow::bail!("a worker name is 1 to 64 letters, digits, `.`, `_` and `-`; got {name:?}");
    }
    for model in &models {
        match app.config.models.get(model) {
            Some(m) if m.engine == crate::workers::ENGINE => {}
            Some(m) => anyhow::bail!(
                "the model {model:?} runs on the `{}` engine in this node; only models with engine = \"worker\" are claimed by workers",
                m.engine
            ),
            None => anyhow::bail!("no model {model:?} in the config"),
        }
    }
    let mut models = models;
    models.sort();
    models.dedup();
    let token = easel_core::worker_token::generate(&app.config.api_keys.prefix);
    let new = NewWorker {
        id: IdKind::Worker.generate(),
        name: name.clone(),
        token_hash: token.hash,
        display_prefix: token.display_prefix,
        models,
        now: now_ms(),
    };
    let worker = match app.store.create_worker(new, audit()).await {
        Ok(w) => w,
        Err(easel_db::DbError::Conflict(_)) => {
            anyhow::bail!("a worker named {name:?} exists already")
        }
        Err(e) => return Err(e.into()),
    };
    let v = view(app, worker, Some(token.secret));
    emit(json, &v, || {
        format!(
            "{}\ntoken (shown once; give it to `easel worker --token`): {}",
            describe(&v),
            v.token.as_deref().unwrap_or_default()
        )
    })
}

fn view(app: &App, w: Worker, token: Option<String>) -> WorkerView {
    let now = now_ms();
    let presence_ms = (app.config.workers.presence_seconds as i64) * 1000;
    let state = if w.revoked_at.is_some() {
        "revoked"
    } else if w.quarantined_until.is_some_and(|u| u > now) {
        "quarantined"
    } else if w.last_seen_at.is_some_and(|at| at >= now - presence_ms) {
        "online"
    } else {
        "offline"
    };
    WorkerView {
        id: w.id,
        name: w.name,
        token_prefix: w.display_prefix,
        models: w.models,
        serving: w.serving,
        version: w.version,
        state,
        last_seen_at: w.last_seen_at.map(|ms| ms.div_euclid(1000)),
        quarantined_until: w.quarantined_until.map(|ms| ms.div_euclid(1000)),
        jobs_done: w.jobs_done,
        jobs_failed: w.jobs_failed,
        leases_lost: w.leases_lost,
        created_at: w.created_at.div_euclid(1000),
        revoked_at: w.revoked_at.map(|ms| ms.div_euclid(1000)),
        token,
    }
}

fn describe(v: &WorkerView) -> String {
    format!(
        "{} {} ({}…) {} models={} last_seen={} version={} done={} failed={} leases_lost={}{}",
        v.id,
        v.name,
        v.token_prefix,
        v.state,
        v.models.join(","),
        when(v.last_seen_at),
        v.version.as_deref().unwrap_or("-"),
        v.jobs_done,
        v.jobs_failed,
        v.leases_lost,
        match v.quarantined_until {
            Some(until) if v.state == "quarantined" =>
                format!(" quarantined_until={}", when(Some(until))),
            _ => String::new(),
        }
    )
}
