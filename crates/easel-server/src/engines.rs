//! The engines of the configured models, built once at start.
//!
//! Live generations run on their model's engine; test-mode generations always run on a
//! sandbox (spec, "Test mode"): the model's own engine when it is a sandbox (so a slow or
//! failing sandbox model behaves the same for test keys), otherwise a default sandbox.

use std::collections::HashMap;
use std::sync::Arc;

use easel_core::mode::Mode;
use easel_engines::{Engine, Sandbox, SandboxSettings};
use serde::Deserialize;

use crate::config::Config;

/// Parses a sandbox model's `settings` table; the error names the bad setting.
pub fn sandbox_settings(table: &toml::Table) -> Result<SandboxSettings, String> {
    SandboxSettings::deserialize(toml::Value::Table(table.clone())).map_err(|e| e.to_string())
}

/// Engines by model id.
pub struct Engines {
    live: HashMap<String, Arc<dyn Engine>>,
    test: HashMap<String, Arc<dyn Engine>>,
}

impl Engines {
    /// Builds every configured model's engine (the config was validated at load).
    pub fn new(config: &Config) -> Engines {
        let default_sandbox: Arc<dyn Engine> = Arc::new(Sandbox::default());
        let mut live = HashMap::new();
        let mut test = HashMap::new();
        for (id, model) in &config.models {
            let engine: Arc<dyn Engine> = match model.engine.as_str() {
                Sandbox::NAME => Arc::new(Sandbox::new(
                    sandbox_settings(&model.settings).unwrap_or_default(),
                )),
                _ => Arc::clone(&default_sandbox),
            };
            let for_test = if model.engine == Sandbox::NAME {
                Arc::clone(&engine)
            } else {
                Arc::clone(&default_sandbox)
            };
            live.insert(id.clone(), engine);
            test.insert(id.clone(), for_test);
        }
        Engines { live, test }
    }

    /// The engine that runs `model` in `mode`.
    pub fn get(&self, model: &str, mode: Mode) -> Option<Arc<dyn Engine>> {
        match mode {
            Mode::Live => self.live.get(model),
            Mode::Test => self.test.get(model),
        }
        .cloned()
    }
}

/// The queue a generation of `model` waits in. Test-mode generations of models that are
/// not sandboxes get their own queue, so free sandbox work never takes a GPU model's slots.
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

/// Every generation queue with its slots on this node.
pub fn queues(config: &Config) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (id, model) in config.models.iter().filter(|(_, m)| m.enabled) {
        let slots = model.concurrency as usize;
        out.push((queue_name(config, id, Mode::Live), slots));
        let test = queue_name(config, id, Mode::Test);
        if !out.iter().any(|(q, _)| *q == test) {
            out.push((test, slots));
        }
    }
    out
}
