//! The engines of the configured models, built once at start, with a breaker and a health
//! probe per backend.
//!
//! Live generations run on their model's engine; test-mode generations always run on a
//! sandbox (spec, "Test mode"): the model's own engine when it is a sandbox (so a slow or
//! failing sandbox model behaves the same for test keys), otherwise a default sandbox.
//! Every backend that is not a sandbox gets a [`Breaker`]: when it opens, the model's live
//! queue stops being claimed (see `jobs::start`) and [`Engines::supervise`] probes it.

pub mod fetch;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use easel_core::mode::Mode;
use easel_engines::breaker::{Breaker, Snapshot};
pub use easel_engines::registry::Secrets;
use easel_engines::registry::{self, BuildContext, Fetch, ModelRef};
use easel_engines::{Engine, Sandbox};

use crate::config::{Config, ModelConfig};

/// Builds `model`'s engine from its settings; the error names the problem. `fetch` is the
/// SSRF-guarded downloader (absent while the config is only being validated).
pub fn build(
    config: &Config,
    id: &str,
    model: &ModelConfig,
    fetch: Option<Arc<dyn Fetch>>,
    secrets: Secrets,
) -> Result<Arc<dyn Engine>, String> {
    let settings = serde_json::to_value(&model.settings).map_err(|e| e.to_string())?;
    let ctx = BuildContext {
        config_dir: config.config_dir.clone(),
        fetch,
        max_output_bytes: config.generations.max_output_bytes,
        secrets,
    };
    registry::build(
        &model.engine,
        ModelRef {
            id,
            kind: model.kind,
        },
        &settings,
        &ctx,
    )
}

/// One model's engines and breaker.
struct ModelEngines {
    /// Absent for a `worker` model: its live jobs run on remote workers.
    live: Option<Arc<dyn Engine>>,
    test: Arc<dyn Engine>,
    /// Present for backends that can be down (every engine but the sandbox).
    breaker: Option<Arc<Breaker>>,
    /// Runs that ended `Misconfigured` (the operator must act), for `/metrics`.
    misconfigured: AtomicU64,
}

/// Engines by model id.
pub struct Engines {
    models: HashMap<String, ModelEngines>,
}

impl Engines {
    /// Builds every enabled model's engine. `secrets` is [`Secrets::Required`] for a
    /// node that runs generations; admin commands, which never do, need only the names.
    pub fn new(
        config: &Config,
        fetch: Arc<dyn Fetch>,
        secrets: Secrets,
    ) -> anyhow::Result<Engines> {
        let default_sandbox: Arc<dyn Engine> = Arc::new(Sandbox::default());
        let mut models = HashMap::new();
        for (id, model) in config.models.iter().filter(|(_, m)| m.enabled) {
            let remote = model.engine == crate::workers::ENGINE;
            let live = if remote {
                None
            } else {
                Some(
                    build(config, id, model, Some(Arc::clone(&fetch)), secrets)
                        .map_err(|e| anyhow::anyhow!("models.{id}.settings: {e}"))?,
                )
            };
            let sandboxed = model.engine == Sandbox::NAME;
            let test = match (&live, sandboxed) {
                (Some(live), true) => Arc::clone(live),
                _ => Arc::clone(&default_sandbox),
            };
            // Remote workers have no breaker: whether one serves the model is presence.
            let breaker = (!sandboxed && !remote)
                .then(|| Arc::new(Breaker::new(id.clone(), config.engines.breaker())));
            models.insert(
                id.clone(),
                ModelEngines {
                    live,
                    test,
                    breaker,
                    misconfigured: AtomicU64::new(0),
                },
            );
        }
        Ok(Engines { models })
    }

    /// The engine that runs `model` in `mode`.
    pub fn get(&self, model: &str, mode: Mode) -> Option<Arc<dyn Engine>> {
        let m = self.models.get(model)?;
        match mode {
            Mode::Live => m.live.clone(),
            Mode::Test => Some(Arc::clone(&m.test)),
        }
    }

    /// The breaker guarding `model`'s backend in `mode` (test mode runs on the sandbox,
    /// which has none).
    pub fn breaker(&self, model: &str, mode: Mode) -> Option<Arc<Breaker>> {
        match mode {
            Mode::Live => self.models.get(model)?.breaker.clone(),
            Mode::Test => None,
        }
    }

    /// While `model`'s breaker holds its queue in `mode`: how long until its next probe.
    pub fn paused_for(&self, model: &str, mode: Mode) -> Option<std::time::Duration> {
        let snapshot = self.breaker(model, mode)?.snapshot();
        (snapshot.state == easel_engines::breaker::BreakerState::Open)
            .then(|| snapshot.retry_in.unwrap_or_default())
    }

    /// Counts a run of `model` that found its backend misconfigured.
    pub fn count_misconfigured(&self, model: &str) {
        if let Some(m) = self.models.get(model) {
            m.misconfigured.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every backend's state, by model id (sorted), for `/metrics`.
    pub fn health(&self) -> Vec<(String, Option<Snapshot>, u64)> {
        let mut out: Vec<_> = self
            .models
            .iter()
            .map(|(id, m)| {
                (
                    id.clone(),
                    m.breaker.as_ref().map(|b| b.snapshot()),
                    m.misconfigured.load(Ordering::Relaxed),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Starts a probe loop per backend until `stop`.
    pub fn supervise(&self, stop: &easel_engines::StopToken) {
        for m in self.models.values() {
            if let (Some(breaker), Some(live)) = (&m.breaker, &m.live) {
                tokio::spawn(easel_engines::breaker::supervise(
                    Arc::clone(breaker),
                    Arc::clone(live),
                    stop.clone(),
                ));
            }
        }
    }
}

/// The queue a generation of `model` waits in. Test-mode generations of models that are
/// not sandboxes get their own queue, so free sandbox work never takes a GPU model's slots
/// (and never waits behind an open breaker).
pub fn queue_name(config: &Config, model: &str, mode: Mode) -> String {
    let sandboxed = config
        .models
        .get(model)
        .is_some_and(|m| m.engine == Sandbox::NAME);
    match mode {
        Mode::Test if !sandboxed => format!("generation:{model}:test"),
        _ => format!("generation:{model}"),
    }
}

/// Every generation queue with its slots on this node, and the model and mode it serves.
/// The live queue of a `worker` model is not among them: remote workers claim it.
pub fn queues(config: &Config) -> Vec<(String, usize, String, Mode)> {
    let mut out: Vec<(String, usize, String, Mode)> = Vec::new();
    for (id, model) in config.models.iter().filter(|(_, m)| m.enabled) {
        let slots = model.slots() as usize;
        if model.engine != crate::workers::ENGINE {
            out.push((
                queue_name(config, id, Mode::Live),
                slots,
                id.clone(),
                Mode::Live,
            ));
        }
        let test = queue_name(config, id, Mode::Test);
        if !out.iter().any(|(q, ..)| *q == test) {
            out.push((test, slots, id.clone(), Mode::Test));
        }
    }
    out
}
