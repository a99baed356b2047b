//! The scenarios of `easel-bench run`, each filling in the report.

pub mod api;
pub mod console;
pub mod engines;
pub mod generations;
pub mod idle;
pub mod jobs;
pub mod nodes;
pub mod peer;
pub mod queue;
pub mod webhooks;
pub mod workers;
