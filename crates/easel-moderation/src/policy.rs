//! The compiled policy and the check itself: fold the text, render its views, scan every
//! view once with the automaton and once with the regex set, then decide category by
//! category (direct rules first, then combinations), skipping hits that an `allow`
//! entry of the category covers.

use aho_corasick::AhoCorasick;
use regex::bytes::{Regex, RegexSet};

use crate::views::{View, ViewKind, views};
use crate::vocabulary::Vocabulary;
use crate::{PolicyConfig, PolicyError, Violation, normalize::fold};

/// What a pattern or regex match means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A word, phrase or regex rule of a category (index into `Policy::rules`).
    Rule(usize),
    /// A term of a set (index into `Policy::set_names`).
    SetTerm(usize),
    /// An `allow` entry of a category (index into `Policy::categories`).
    Allow(usize),
}

/// The targets of one automaton pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    /// Entries that must end on a word boundary.
    pub(crate) exact: Vec<Target>,
    /// Entries written with a trailing `*`.
    pub(crate) prefix: Vec<Target>,
    /// Whether the pattern starts (ends) with an ASCII letter or digit, so needs a word
    /// boundary there. Terms in scripts without spaces between words (Chinese, Thai…)
    /// match as substrings.
    bounded_start: bool,
    bounded_end: bool,
}

impl Pattern {
    pub(crate) fn new(bounded_start: bool, bounded_end: bool) -> Self {
        Pattern {
            exact: Vec::new(),
            prefix: Vec::new(),
            bounded_start,
            bounded_end,
        }
    }
}

/// A word, phrase or regex rule, for the violation description.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) category: usize,
    pub(crate) description: String,
    /// Whether the description should quote what matched (regexes and prefixes).
    pub(crate) show_match: bool,
}

/// An enabled category.
#[derive(Debug)]
pub(crate) struct Category {
    pub(crate) name: String,
    /// Combination rules, as indices into `Policy::set_names`.
    pub(crate) all_of: Vec<Vec<usize>>,
}

/// A match in one view.
#[derive(Debug, Clone, Copy)]
struct Hit {
    view: usize,
    start: usize,
    end: usize,
    target: Target,
}

/// The moderation policy: built once at startup from the operator's config, then shared
/// (it is `Send + Sync`; wrap it in an `Arc`).
#[derive(Debug)]
pub struct Policy {
    pub(crate) enabled: bool,
    pub(crate) categories: Vec<Category>,
    pub(crate) set_names: Vec<String>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) automaton: AhoCorasick,
    pub(crate) patterns: Vec<Pattern>,
    pub(crate) regex_set: RegexSet,
    pub(crate) regexes: Vec<(Regex, Target)>,
    /// The words of every rule, to read spaced and stretched words back.
    pub(crate) vocabulary: Vocabulary,
}

impl Policy {
    /// Builds the built-in policy extended by `config`.
    ///
    /// Fails, naming the category or set and the entry, on an unknown category in
    /// `disabled_categories`, a name that isn't snake_case, an entry that normalises to
    /// nothing, an invalid regex, or an `all_of` rule that is empty or names an unknown set.
    pub fn new(config: &PolicyConfig) -> Result<Policy, PolicyError> {
        crate::compile::build(config)
    }

    /// The first violation in `text` (categories in order: the built-in ones as listed
    /// in [`BUILTIN_CATEGORIES`](crate::BUILTIN_CATEGORIES), then the operator's), or
    /// None if it passes. Always None when the policy is disabled.
    pub fn check(&self, text: &str) -> Option<Violation> {
        if !self.enabled {
            return None;
        }
        let views = views(&fold(text), Some(&self.vocabulary));
        let mut hits = Vec::new();
        for (index, view) in views.iter().enumerate() {
            self.scan(index, &view.text, &mut hits);
        }
        if hits.is_empty() {
            return None;
        }
        (0..self.categories.len()).find_map(|category| self.decide(category, &views, &hits))
    }

    /// The first violation in any of `texts` (prompt, negative prompt, metadata…).
    pub fn check_all<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Option<Violation> {
        texts.into_iter().find_map(|text| self.check(text))
    }

    /// Every view of `text` that this policy matches rules against, plain first (see
    /// [`views`](crate::views); this adds the view read with the policy's vocabulary).
    /// For tests and debugging.
    pub fn views(&self, text: &str) -> Vec<String> {
        views(&fold(text), Some(&self.vocabulary))
            .into_iter()
            .map(|view| view.text.trim().to_owned())
            .collect()
    }

    /// The names of the categories enforced, in checking order; empty when the policy
    /// is disabled.
    pub fn categories(&self) -> Vec<&str> {
        if !self.enabled {
            return Vec::new();
        }
        self.categories.iter().map(|c| c.name.as_str()).collect()
    }

    fn scan(&self, view: usize, text: &str, hits: &mut Vec<Hit>) {
        let bytes = text.as_bytes();
        for m in self.automaton.find_overlapping_iter(text) {
            let pattern = &self.patterns[m.pattern().as_usize()];
            let (start, end) = (m.start(), m.end());
            let start_ok = !pattern.bounded_start || start == 0 || bytes[start - 1] == b' ';
            if !start_ok {
                continue;
            }
            let end_ok = !pattern.bounded_end || bytes.get(end).is_none_or(|&b| b == b' ');
            if end_ok {
                for &target in &pattern.exact {
                    hits.push(Hit {
                        view,
                        start,
                        end,
                        target,
                    });
                }
            }
            if !pattern.prefix.is_empty() {
                // A prefix hit covers the rest of its word ("porn*" → "pornographic").
                let word_end = text[end..].find(' ').map_or(text.len(), |i| end + i);
                for &target in &pattern.prefix {
                    hits.push(Hit {
                        view,
                        start,
                        end: word_end,
                        target,
                    });
                }
            }
        }
        // Regexes see the view without its outer spaces, so `^` and `$` work.
        let Some(inner) = text.get(1..text.len().saturating_sub(1)) else {
            return;
        };
        for index in self.regex_set.matches(inner.as_bytes()).iter() {
            let (regex, target) = &self.regexes[index];
            for m in regex.find_iter(inner.as_bytes()) {
                hits.push(Hit {
                    view,
                    start: m.start() + 1,
                    end: m.end() + 1,
                    target: *target,
                });
            }
        }
    }

    fn decide(&self, category: usize, views: &[View], hits: &[Hit]) -> Option<Violation> {
        let allowed = |hit: &Hit| {
            hits.iter().any(|a| {
                a.target == Target::Allow(category)
                    && a.view == hit.view
                    && a.start <= hit.start
                    && hit.end <= a.end
            })
        };
        let name = &self.categories[category].name;
        for hit in hits {
            if let Target::Rule(rule) = hit.target
                && self.rules[rule].category == category
                && !allowed(hit)
            {
                let rule = &self.rules[rule];
                let view = &views[hit.view];
                let mut description = rule.description.clone();
                if rule.show_match {
                    description.push_str(&format!(" matched {:?}", matched(view, hit)));
                }
                if view.kind != ViewKind::Plain {
                    description.push_str(&format!(" (as {})", view.kind.name()));
                }
                return Some(Violation {
                    category: name.clone(),
                    rule: description,
                });
            }
        }
        'rules: for sets in &self.categories[category].all_of {
            let mut terms = Vec::with_capacity(sets.len());
            for &wanted in sets {
                let found = hits
                    .iter()
                    .find(|h| h.target == Target::SetTerm(wanted) && !allowed(h));
                match found {
                    Some(hit) => terms.push(describe_match(views, hit)),
                    None => continue 'rules,
                }
            }
            let names: Vec<&str> = sets.iter().map(|&s| self.set_names[s].as_str()).collect();
            let rule = format!("all_of [{}]: {}", names.join(", "), terms.join(" + "));
            return Some(Violation {
                category: name.clone(),
                rule,
            });
        }
        None
    }
}

/// The matched words as they read in their view.
fn matched<'v>(view: &'v View, hit: &Hit) -> &'v str {
    view.text.get(hit.start..hit.end).unwrap_or_default().trim()
}

/// The matched words, quoted, and the view if it isn't the plain one.
fn describe_match(views: &[View], hit: &Hit) -> String {
    let view = &views[hit.view];
    match view.kind {
        ViewKind::Plain => format!("{:?}", matched(view, hit)),
        kind => format!("{:?} (as {})", matched(view, hit), kind.name()),
    }
}
