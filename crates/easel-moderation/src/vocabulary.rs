//! The policy's vocabulary: every word its rules are written with. It reads back the
//! words of disguises that spacing and stretching hide from a phrase: a letter-spaced
//! run with no wider gap between its words ("a f a k e p a s s p o r t" → "a fake
//! passport"), and words stretched each in their own way ("faaake passsport" → "fake
//! passport", where squeezing every run to one letter gives "pasport" and to two
//! "faake").
//!
//! A run is read as words only if vocabulary words cover all of it, so letter-spaced
//! initials, lists and ordinary words stay as they are ("a b c d", "g r a p e" is not "g
//! rape"); a stretched word is read as one vocabulary word, never split into several.
//! The matching is an Aho-Corasick scan over the run with repeated letters reduced to
//! one, then a shortest-path pass: linear in the length of the run.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use aho_corasick::AhoCorasick;

use crate::PolicyError;
use crate::atoms::{Atom, has_repeats, is_mixed, leet_letter};

/// Short words that glue the policy's terms into sentences, so that "a", "my" or "the"
/// inside a letter-spaced run don't leave it uncovered.
const FUNCTION_WORDS: [&str; 24] = [
    "a", "i", "an", "the", "my", "me", "of", "to", "in", "on", "at", "by", "for", "and", "or",
    "her", "his", "him", "it", "its", "this", "that", "with", "your",
];

/// Words taken from regexes are at least this long: shorter letter runs in a pattern are
/// mostly suffixes ("counterfeit(ed|ing)?"), and would let a run be covered by noise.
const MIN_REGEX_WORD: usize = 3;

/// A vocabulary word with its letters' run lengths ("passport": p1 a1 s2 p1 o1 r1 t1).
#[derive(Debug)]
struct Entry {
    word: String,
    runs: Vec<usize>,
}

/// The vocabulary, indexed by the words with repeated letters reduced to one, and as
/// written.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    automaton: AhoCorasick,
    /// Per automaton pattern, the words it stands for (most letters first).
    entries: Vec<Vec<Entry>>,
    /// The words as written, for runs where two words share a letter ("s n u f f f i l
    /// m": the run of three f's is "snuff" + "film", not a stretched letter).
    exact: AhoCorasick,
    words: Vec<String>,
}

impl Vocabulary {
    /// Builds the vocabulary from normalised words; words that aren't ASCII letters
    /// (numbers, other scripts) are left out.
    pub(crate) fn new(words: BTreeSet<String>) -> Result<Vocabulary, PolicyError> {
        // A one-letter word could cover a stray letter of a run ("g r a p e" as "g rape"):
        // only "a" and "i" are.
        let function_words = FUNCTION_WORDS.iter().map(|w| (*w).to_owned());
        let words: BTreeSet<String> = words
            .into_iter()
            .filter(|w| w.len() > 1 && w.bytes().all(|b| b.is_ascii_lowercase()))
            .chain(function_words)
            .collect();
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut entries: Vec<Vec<Entry>> = Vec::new();
        for word in &words {
            let (key, runs) = runs(word.as_bytes());
            let slot = *index.entry(key.clone()).or_insert_with(|| {
                keys.push(key);
                entries.push(Vec::new());
                entries.len() - 1
            });
            let word = word.clone();
            entries[slot].push(Entry { word, runs });
        }
        for list in &mut entries {
            list.sort_by_key(|e| std::cmp::Reverse(e.word.len()));
        }
        let build = |patterns: &[&[u8]]| {
            AhoCorasick::new(patterns).map_err(|e| PolicyError::Build(e.to_string()))
        };
        let automaton = build(&keys.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
        let words: Vec<String> = words.into_iter().collect();
        let exact = build(&words.iter().map(String::as_bytes).collect::<Vec<_>>())?;
        Ok(Vocabulary {
            automaton,
            entries,
            exact,
            words,
        })
    }

    /// For each group of atoms (as the collapsed view joins them), the words it reads as
    /// when that differs from how the collapsed view reads it: a run of single letters
    /// covered by vocabulary words, or a stretched word that is a vocabulary word.
    pub(crate) fn read(&self, atoms: &[Atom<'_>], groups: &[Range<usize>]) -> Vec<Option<String>> {
        let mut letters = String::new();
        groups
            .iter()
            .map(|group| {
                let group = &atoms[group.clone()];
                let spaced = group.len() > 1 && group.iter().all(|a| a.single);
                // Most words are neither: skip them before building anything.
                if !spaced && group.len() == 1 && !group[0].repeats {
                    return None;
                }
                letters.clear();
                group.iter().for_each(|a| letters.push_str(a.text));
                if is_mixed(&letters) {
                    letters = letters
                        .chars()
                        .map(|c| leet_letter(c, 'i').unwrap_or(c))
                        .collect();
                }
                let stretched = has_repeats(&letters, false);
                if !(spaced || stretched) || !letters.bytes().all(|b| b.is_ascii_lowercase()) {
                    return None;
                }
                let words = self.segment(&letters)?;
                let changed = match words[..] {
                    [word] => word != letters,
                    _ => spaced, // a stretched word is never split into several
                };
                changed.then(|| words.join(" "))
            })
            .collect()
    }

    /// Reads `letters` (lowercase ASCII) as a sequence of vocabulary words, each of whose
    /// letters may be stretched to 3 or more, using as few words as possible; None if no
    /// such reading covers all of it.
    pub(crate) fn segment(&self, letters: &str) -> Option<Vec<&str>> {
        let (key, counts) = runs(letters.as_bytes());
        let stretched = self
            .automaton
            .find_overlapping_iter(&key[..])
            .filter_map(|m| {
                let (start, end) = (m.start(), m.end());
                self.entries[m.pattern().as_usize()]
                    .iter()
                    .find(|e| fits(&e.runs, &counts[start..end]))
                    .map(|e| (start, end, e.word.as_str()))
            });
        shortest(key.len(), stretched).or_else(|| {
            let exact = self.exact.find_overlapping_iter(letters).map(|m| {
                let word = self.words[m.pattern().as_usize()].as_str();
                (m.start(), m.end(), word)
            });
            shortest(letters.len(), exact)
        })
    }
}

/// The fewest words that cover `0..n` exactly, from `(start, end, word)` candidates
/// given in order of `end` (as an Aho-Corasick scan reports them).
fn shortest<'v>(
    n: usize,
    candidates: impl Iterator<Item = (usize, usize, &'v str)>,
) -> Option<Vec<&'v str>> {
    // best[i]: the fewest words covering ..i, where the last of them starts, and which.
    let mut best: Vec<Option<(usize, usize, &str)>> = vec![None; n + 1];
    best[0] = Some((0, 0, ""));
    for (start, end, word) in candidates {
        let Some((words, _, _)) = best[start] else {
            continue;
        };
        if best[end].is_none_or(|(w, _, _)| words + 1 < w) {
            best[end] = Some((words + 1, start, word));
        }
    }
    let mut out = Vec::new();
    let mut at = n;
    while at > 0 {
        let (_, start, word) = best[at]?;
        out.push(word);
        at = start;
    }
    out.reverse();
    Some(out)
}

/// Whether a word's runs of letters can be written as `text`'s: each run as long, or
/// stretched to 3 or more letters.
fn fits(word: &[usize], text: &[usize]) -> bool {
    word.len() == text.len()
        && word
            .iter()
            .zip(text)
            .all(|(&w, &t)| w == t || (t >= 3 && w < t))
}

/// `letters` with every run of a repeated letter reduced to one, and the runs' lengths.
fn runs(letters: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut key: Vec<u8> = Vec::with_capacity(letters.len());
    let mut counts: Vec<usize> = Vec::with_capacity(letters.len());
    for &b in letters {
        match (key.last(), counts.last_mut()) {
            (Some(&last), Some(count)) if last == b => *count += 1,
            _ => {
                key.push(b);
                counts.push(1);
            }
        }
    }
    (key, counts)
}

/// The words a regex is written with: its runs of letters outside escapes and character
/// classes, plus each run without its last letter when that letter is optional
/// ("passports?" gives "passports" and "passport"). Crude, but it only has to find the
/// words that a disguised prompt could spell; a stray fragment is harmless.
pub(crate) fn regex_words(pattern: &str, out: &mut BTreeSet<String>) {
    let mut word = String::new();
    let mut chars = pattern.chars().peekable();
    let mut flush = |word: &mut String, optional: bool| {
        if optional && word.len() > MIN_REGEX_WORD {
            out.insert(word[..word.len() - 1].to_owned());
        }
        if word.len() >= MIN_REGEX_WORD {
            out.insert(std::mem::take(word));
        }
        word.clear();
    };
    while let Some(c) = chars.next() {
        if c.is_ascii_alphabetic() {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        flush(&mut word, c == '?');
        match c {
            '\\' => {
                chars.next();
            }
            '[' => {
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    flush(&mut word, false);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{Vocabulary, regex_words};

    fn vocabulary(words: &[&str]) -> Vocabulary {
        let words = words.iter().map(|w| (*w).to_owned()).collect();
        Vocabulary::new(words).expect("builds")
    }

    #[test]
    fn reads_spaced_and_stretched_words() {
        let v = vocabulary(&[
            "fake", "passport", "phishing", "page", "snuff", "film", "ass",
        ]);
        for (letters, expected) in [
            ("snufffilm", Some(vec!["snuff", "film"])),
            ("afakepassport", Some(vec!["a", "fake", "passport"])),
            ("faaakepasssport", Some(vec!["fake", "passport"])),
            ("phiiishingpaaage", Some(vec!["phishing", "page"])),
            ("asssss", Some(vec!["ass"])),
            ("fakepasport", None), // a missing letter is a misspelling, not a disguise
            ("faakepassport", None), // so is a doubled one: only 3 or more stretch
            ("zfakepassport", None),
            ("abcd", None),
            ("", Some(vec![])),
        ] {
            assert_eq!(v.segment(letters), expected, "{letters:?}");
        }
    }

    /// Backslash escapes and character classes are not words; a letter made optional is
    /// dropped only from words longer than the shortest kept.
    #[test]
    fn regex_words_leave_out_escapes_classes_and_short_stems() {
        for (pattern, expected) in [
            (r"\bcats", vec!["cats"]),
            (r"[wxyz]dogs", vec!["dogs"]),
            (r"[a-z]+ horse", vec!["horse"]),
            ("dog?", vec!["dog"]),
            ("dogs?", vec!["dog", "dogs"]),
        ] {
            let mut words = BTreeSet::new();
            regex_words(pattern, &mut words);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            assert_eq!(words, expected, "{pattern:?}");
        }
    }

    /// The fewest words win, whichever reading the scan finds first.
    #[test]
    fn the_reading_with_the_fewest_words_wins() {
        let v = vocabulary(&["fake", "pass", "port", "passport"]);
        assert_eq!(v.segment("fakepassport"), Some(vec!["fake", "passport"]));
        // At the last letter the scan reports "cde" (three words in all) before "de"
        // (two): the later, shorter reading must replace the first.
        let v = vocabulary(&["ab", "cde", "ababc", "de"]);
        assert_eq!(v.segment("ababcde"), Some(vec!["ababc", "de"]));
    }

    #[test]
    fn regex_words_skip_escapes_and_classes() {
        let mut words = BTreeSet::new();
        regex_words(
            r"\b(fake|forged?) (\w+ )?(passports?|licen[cs]es?)\b",
            &mut words,
        );
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_eq!(
            words,
            ["fake", "forge", "forged", "licen", "passport", "passports"]
        );
    }
}
