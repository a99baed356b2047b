//! The operator's policy configuration (`[moderation.input]` in `easel.toml`). It extends
//! the built-in policy (`builtin.toml`, which has the same shape) and never has to
//! repeat it. See the crate README for the meaning of each field.

use std::collections::BTreeMap;

/// Operator configuration: switches the policy off, switches built-in categories off,
/// extends built-in term sets and categories, or adds categories.
///
/// Deserializes from TOML; every field is optional, and `PolicyConfig::default()` is
/// what an empty table gives (policy enabled, nothing added).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Whether prompts are checked at all. Default true.
    pub enabled: bool,
    /// Categories switched off (built-in, or added in `categories`).
    pub disabled_categories: Vec<String>,
    /// Term sets for `all_of` rules; a set with a built-in name extends that set.
    pub sets: BTreeMap<String, Vec<String>>,
    /// Rules added to a built-in category, or a new category (snake_case name).
    pub categories: BTreeMap<String, CategoryRules>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            enabled: true,
            disabled_categories: Vec::new(),
            sets: BTreeMap::new(),
            categories: BTreeMap::new(),
        }
    }
}

/// The rules of one category. All lists are optional and add to the built-in ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CategoryRules {
    /// Whole words (or several words) matched after normalisation; a trailing `*` makes
    /// the last word a prefix (`"porn*"`).
    pub words: Vec<String>,
    /// Same matching as `words`; a separate list for readability.
    pub phrases: Vec<String>,
    /// Rust `regex` patterns matched against the normalised text (lowercase words
    /// separated by single spaces, clause breaks as a lone `,`), case-insensitively.
    pub regexes: Vec<String>,
    /// Combinations: each inner list names term sets that must all have a term in the
    /// text for the rule to fire.
    pub all_of: Vec<Vec<String>>,
    /// Exceptions: words/phrases (same syntax as `words`) inside which a hit of this
    /// category doesn't count ("nude lipstick", "oilseed rape").
    pub allow: Vec<String>,
}
