//! Generations by model and status, and job run times by model.
//!
//! Counters of transitions, not current counts: each node counts the changes it made (a
//! generation created here, ended by a job that ran here, canceled through this node), so
//! `sum by (model, status)` over the nodes is the cluster's, `rate()` gives throughput and
//! error ratios, and counting costs an atomic addition. Current counts by status would be
//! a count over the whole generations table; the ones that matter live (queued, running)
//! are the queue gauges, read from partial indexes.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use easel_core::jobs::JobStatus;

use super::text::{self, Histogram, RUN_BUCKETS};

const STATUSES: [JobStatus; 6] = [
    JobStatus::Queued,
    JobStatus::Running,
    JobStatus::Succeeded,
    JobStatus::Failed,
    JobStatus::Canceled,
    JobStatus::Expired,
];

struct ModelStats {
    transitions: [AtomicU64; STATUSES.len()],
    run: Histogram,
}

impl ModelStats {
    fn new() -> ModelStats {
        ModelStats {
            transitions: Default::default(),
            run: Histogram::new(RUN_BUCKETS),
        }
    }
}

/// Per model: transitions and run times. Seeded with the configured models, so their
/// series exist (at 0) from the start; a generation of a model since removed from the
/// config is added when it first changes (the label values stay bounded by the models
/// ever configured).
pub struct GenerationMetrics {
    models: RwLock<HashMap<Box<str>, ModelStats>>,
}

impl GenerationMetrics {
    pub fn new<'a>(models: impl IntoIterator<Item = &'a str>) -> GenerationMetrics {
        let models = models
            .into_iter()
            .map(|m| (m.into(), ModelStats::new()))
            .collect();
        GenerationMetrics {
            models: RwLock::new(models),
        }
    }

    fn with(&self, model: &str, f: impl FnOnce(&ModelStats)) {
        {
            let models = match self.models.read() {
                Ok(models) => models,
                Err(poisoned) => poisoned.into_inner(),
            };
            if let Some(stats) = models.get(model) {
                f(stats);
                return;
            }
        }
        let mut models = match self.models.write() {
            Ok(models) => models,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(models.entry(model.into()).or_insert_with(ModelStats::new));
    }

    /// A generation of `model` entered `status` through this node.
    pub fn entered(&self, model: &str, status: JobStatus) {
        let i = STATUSES.iter().position(|s| *s == status).unwrap_or(0);
        self.with(model, |stats| {
            if let Some(n) = stats.transitions.get(i) {
                n.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// A run of `model` produced its outputs and they were stored, `took` after it started.
    pub fn ran(&self, model: &str, took: Duration) {
        self.with(model, |stats| stats.run.observe(took));
    }

    pub fn render(&self, out: &mut String) {
        let models = match self.models.read() {
            Ok(models) => models,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut names: Vec<&str> = models.keys().map(|k| &**k).collect();
        names.sort_unstable();
        let name = "easel_generations_total";
        text::family(
            out,
            name,
            "counter",
            "Generations that entered a status through this node (queued: created here), by model.",
        );
        for model in &names {
            if let Some(stats) = models.get(*model) {
                for (status, n) in STATUSES.iter().zip(&stats.transitions) {
                    let labels = [("model", *model), ("status", status.as_str())];
                    text::sample(out, name, &labels, n.load(Ordering::Relaxed));
                }
            }
        }
        let name = "easel_job_run_seconds";
        text::family(
            out,
            name,
            "histogram",
            "Successful runs finished by this node, from the engine's start (a remote worker's claim) to the outputs stored, by model.",
        );
        for model in &names {
            if let Some(stats) = models.get(*model) {
                stats.run.render(out, name, &[("model", model)]);
            }
        }
    }
}

/// Whether `g` was changed by the store call made at `now`: calls that end (or start) a
/// generation return it unchanged when another call got there first, and the change
/// stamps its time.
pub fn changed_at(stamp: Option<i64>, now: i64) -> bool {
    stamp == Some(now)
}
