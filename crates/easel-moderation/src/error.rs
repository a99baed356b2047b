//! Why a policy configuration was refused. Every message names the category or set and
//! the offending entry, so the operator can fix `easel.toml` from the startup error.

/// An invalid policy configuration, found by [`Policy::new`](crate::Policy::new).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// `disabled_categories` names a category that doesn't exist.
    #[error("disabled_categories: unknown category `{0}` (known: {1})")]
    UnknownCategory(String, String),
    /// A category or set name that isn't snake_case.
    #[error("{kind} name `{name}` must be snake_case (a-z, 0-9 and _, starting with a letter)")]
    InvalidName {
        /// "category" or "set".
        kind: &'static str,
        /// The name as configured.
        name: String,
    },
    /// A word, phrase, allow or set entry with nothing left after normalisation.
    #[error("{location}: {list} entry {entry:?} is empty after normalisation")]
    EmptyTerm {
        /// "category `x`" or "set `x`".
        location: String,
        /// The list it is in: "words", "phrases", "allow" or "terms".
        list: &'static str,
        /// The entry as configured.
        entry: String,
    },
    /// A regex (in `regexes`, or a `re:` set entry) that doesn't compile.
    #[error("{location}: invalid regex `{pattern}`: {source}")]
    BadRegex {
        /// "category `x`" or "set `x`".
        location: String,
        /// The pattern as configured.
        pattern: String,
        /// The compiler's complaint.
        source: Box<regex::Error>,
    },
    /// An `all_of` rule naming a set that doesn't exist.
    #[error("category `{category}`: all_of {rule:?} names unknown set `{set}`")]
    UnknownSet {
        /// The category the rule is in.
        category: String,
        /// The rule as configured.
        rule: Vec<String>,
        /// The unknown name.
        set: String,
    },
    /// An empty `all_of` rule (it would fire on every text).
    #[error("category `{0}`: all_of contains an empty combination")]
    EmptyAllOf(String),
    /// The matcher couldn't be built (too many or too large patterns).
    #[error("cannot build the moderation matcher: {0}")]
    Build(String),
    /// The embedded built-in policy doesn't parse (a bug, caught by the crate's tests).
    #[error("built-in moderation policy is invalid: {0}")]
    Builtin(String),
}
