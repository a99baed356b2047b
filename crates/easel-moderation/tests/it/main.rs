//! Integration tests: the built-in policy against evasions and look-alikes, and the
//! operator's configuration.

mod benign;
mod cases;
mod config;
mod evasions;
mod spacing;

use std::sync::OnceLock;

use easel_moderation::{Policy, PolicyConfig};

/// The built-in policy, built once for all tests.
fn builtin() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| Policy::new(&PolicyConfig::default()).expect("built-in policy builds"))
}

/// What a failing case needs to be debugged: the normalised text and every view.
fn explain(text: &str) -> String {
    format!(
        "normalised: {:?}\n      views: {:?}",
        easel_moderation::normalize(text),
        builtin().views(text)
    )
}
