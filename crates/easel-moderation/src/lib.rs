#![doc = include_str!("../README.md")]

mod atoms;
mod compile;
mod config;
mod error;
mod normalize;
mod policy;
mod views;
mod vocabulary;

pub use config::{CategoryRules, PolicyConfig};
pub use error::PolicyError;
pub use policy::Policy;

/// The built-in categories, in checking order. These names are stable: they appear in
/// API errors (`content_policy_violation`) and in the operator's config.
pub const BUILTIN_CATEGORIES: [&str; 7] = [
    "sexual_minors",
    "non_consensual_imagery",
    "violence",
    "hate",
    "harassment",
    "fraud",
    "intellectual_property",
];

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The category's stable snake_case name, e.g. `sexual_minors`.
    pub category: String,
    /// What fired, for the operator's audit log (not for the end user): e.g.
    /// `phrase "fake passport"`, `regex 1 matched "gas the jews"`,
    /// `all_of [minor, sexual]: "kid" + "nude" (as leetspeak)`.
    pub rule: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.category, self.rule)
    }
}

/// The primary normalised view of `text`: folded (NFKC, case, invisible characters,
/// accents, homoglyphs) and reduced to lowercase words separated by single spaces, with a
/// lone `,` for clause breaks. "Ｎü\u{200B}DE, s.e.x!" → "nude , s e x".
///
/// Configured words are normalised with this same function.
pub fn normalize(text: &str) -> String {
    views::plain(&normalize::fold(text))
}

/// Every view of `text` that rules are matched against (plain first, then leetspeak,
/// collapsed separators, squeezed repeats; duplicates removed), except the one read with
/// a policy's vocabulary ([`Policy::views`] has it). For tests and debugging.
pub fn views(text: &str) -> Vec<String> {
    views::views(&normalize::fold(text), None)
        .into_iter()
        .map(|view| view.text.trim().to_owned())
        .collect()
}
