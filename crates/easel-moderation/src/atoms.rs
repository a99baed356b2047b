//! Splitting folded text into atoms (runs of letters, digits and leetspeak symbols) and
//! the separators between them; the character classes the views rely on.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Characters read as letters in leetspeak tokens (digits are handled separately).
pub(crate) const LEET_SYMBOLS: [char; 5] = ['@', '$', '!', '|', '+'];
/// Leet symbols that are ordinary punctuation at the start or end of a token ("nude!").
const EDGE_PUNCTUATION: [char; 3] = ['!', '|', '+'];
/// A single one of these between two atoms joins them in the collapsed views. (Not `:`,
/// which separates weights in prompt syntax: "(masterpiece:1.2)".)
const JOINERS: [char; 14] = [
    '.', '-', '_', '*', '~', '\'', '`', '·', '•', '^', '=', '#', '/', '\\',
];
/// Any of these in a separator makes it a clause break. Whitespace never does, newlines
/// and tabs included: "fake\npassport" is the phrase with a line break in it.
const BREAKS: [char; 24] = [
    ',', ';', '!', '?', '(', ')', '[', ']', '{', '}', '<', '>', '"', '|', '、', '。', '「', '」',
    '『', '』', '【', '】', '《', '》',
];

/// The widest separator (in characters) between two letters of a letter-spaced word:
/// room for a few whitespace characters of mixed kinds (" \t\n ") between letters, and a
/// wider gap between words.
const MAX_GAP: usize = 8;

/// What separates an atom from the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sep {
    /// The first atom.
    Start,
    /// One joiner character and nothing else ("nu.de").
    Joiner,
    /// Whitespace or other punctuation.
    Space,
    /// A clause break (comma, bracket, ". "…).
    Break,
}

/// A run of letters, digits and leet symbols, with what separates it from the previous one.
#[derive(Debug)]
pub(crate) struct Atom<'a> {
    pub(crate) text: &'a str,
    /// One character long.
    pub(crate) single: bool,
    /// Mixes ASCII letters with digits or leet symbols, so reads differently as leetspeak.
    pub(crate) mixed: bool,
    /// Has a run of 3+ identical letters.
    pub(crate) repeats: bool,
    pub(crate) sep: Sep,
    /// Width of the separator: whether it has whitespace, then its length in characters.
    pub(crate) sep_width: (bool, usize),
}

/// The atoms of `folded`, in order.
pub(crate) fn atoms(folded: &str) -> Vec<Atom<'_>> {
    let mut atoms: Vec<Atom<'_>> = Vec::with_capacity(folded.len() / 5 + 1);
    let mut prev_end = 0;
    let mut run_start = None;
    // Non-ASCII classification is a table search; text repeats few distinct characters.
    let mut seen: [(char, bool); 64] = [('\0', false); 64];
    let mut inside_atom = |c: char| {
        if c.is_ascii() {
            return c.is_ascii_alphanumeric() || LEET_SYMBOLS.contains(&c);
        }
        let slot = &mut seen[c as usize % 64];
        if slot.0 != c {
            *slot = (c, is_word_char(c));
        }
        slot.1
    };
    for (i, c) in folded
        .char_indices()
        .chain(std::iter::once((folded.len(), ' ')))
    {
        let inside = i < folded.len() && inside_atom(c);
        match (run_start, inside) {
            (None, true) => run_start = Some(i),
            (Some(start), false) => {
                run_start = None;
                // Edge "!", "|", "+" are punctuation, not letters: they go to the separators.
                let raw = &folded[start..i];
                let lead = raw.len() - raw.trim_start_matches(EDGE_PUNCTUATION).len();
                let text = raw[lead..].trim_end_matches(EDGE_PUNCTUATION);
                if text.is_empty() {
                    continue;
                }
                let sep = &folded[prev_end..start + lead];
                prev_end = start + lead + text.len();
                atoms.push(atom(text, sep, atoms.is_empty()));
            }
            _ => {}
        }
    }
    atoms
}

fn atom<'a>(text: &'a str, sep: &str, first: bool) -> Atom<'a> {
    // A CRLF is one line break, as wide as an LF.
    let mut sep_chars = sep.chars().count();
    if sep.contains('\r') {
        sep_chars -= sep.matches("\r\n").count();
    }
    let sep_kind = if first {
        Sep::Start
    } else if sep_chars == 1 && sep.starts_with(JOINERS) {
        Sep::Joiner
    } else if sep.contains(BREAKS) || (sep_chars > 1 && sep.contains(['.', ':', '…'])) {
        Sep::Break
    } else {
        Sep::Space
    };
    let mixed = is_mixed(text);
    Atom {
        text,
        single: text.chars().nth(1).is_none(),
        mixed,
        repeats: has_repeats(text, mixed),
        sep: sep_kind,
        sep_width: (sep.contains(char::is_whitespace), sep_chars),
    }
}

/// For each atom, whether it joins the previous one in the collapsed views: after a
/// single joiner character when either side is at most 3 characters ("nu.de", "se*x"),
/// or within a run of single characters ("s e x").
/// A run is cut where a separator is wider than the narrowest in the run (punctuation is
/// narrower than whitespace, one character narrower than three), so "k i d   n u d e"
/// and "c.h.i.l.d p.o.r.n" read as two words. With `keep_articles`, a run starting with
/// "a" or "i" leaves that letter apart ("a k i d" → "a kid").
pub(crate) fn merge_flags(atoms: &[Atom<'_>], keep_articles: bool) -> Vec<bool> {
    let pair = |i: usize| spaced_pair(atoms, i);
    let mut flags: Vec<bool> = (0..atoms.len()).map(|i| split_word(atoms, i)).collect();
    let mut i = 1;
    while i < atoms.len() {
        if !pair(i) {
            i += 1;
            continue;
        }
        // A run of single characters: atoms[start - 1..i].
        let start = i;
        while i < atoms.len() && pair(i) {
            i += 1;
        }
        let narrowest = atoms[start..i].iter().map(|a| a.sep_width).min();
        for (flag, atom) in flags[start..i].iter_mut().zip(&atoms[start..i]) {
            *flag = *flag || Some(atom.sep_width) == narrowest;
        }
    }
    if keep_articles {
        for i in 1..atoms.len() {
            let starts_run = i < 2 || !flags[i - 1];
            let article = matches!(atoms[i - 1].text, "a" | "i");
            if flags[i] && starts_run && article && atoms[i].sep != Sep::Joiner {
                // Also keeps the letter apart from a joiner-merged word: "a s.e.x" reads
                // "a sex" either way.
                flags[i] = false;
            }
        }
    }
    flags
}

/// For each atom, whether it joins the previous one when every letter-spaced run is
/// joined whole, whatever the widths of its gaps ("f a k e  p a s s p o r t" →
/// "fakepassport"), but not across a clause break wider than its gaps: for the
/// vocabulary to read, where the widths don't tell the words. `merged` is
/// [`merge_flags`] without articles.
pub(crate) fn loose_flags(atoms: &[Atom<'_>], merged: &[bool]) -> Vec<bool> {
    (0..atoms.len())
        .map(|i| {
            let flag = merged.get(i).copied().unwrap_or(false);
            flag || (spaced_pair(atoms, i) && atoms[i].sep != Sep::Break)
        })
        .collect()
}

/// Whether atom `i` and the one before it are single characters a letter gap apart.
fn spaced_pair(atoms: &[Atom<'_>], i: usize) -> bool {
    i > 0 && atoms[i - 1].single && atoms[i].single && atoms[i].sep_width.1 <= MAX_GAP
}

/// Whether atom `i` continues a word split by one joiner character. Joining across
/// punctuation is for a word split inside ("nu.de", "na-ked"), which leaves a short
/// piece; "ultra-detailed" and "snow-capped" stay apart.
fn split_word(atoms: &[Atom<'_>], i: usize) -> bool {
    let short = |a: &Atom<'_>| a.text.chars().nth(3).is_none();
    i > 0 && atoms[i].sep == Sep::Joiner && (short(&atoms[i - 1]) || short(&atoms[i]))
}

/// Letters, digits, and the combining marks of scripts that keep them (Devanagari
/// vowel signs and virama, Thai vowels…): part of a word. (One general-category look-up:
/// `char::is_alphanumeric` is several times slower on some scripts.)
pub(crate) fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    if matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}')
    {
        return true; // kana, Han, Hangul: the bulk of CJK prompts
    }
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number | GeneralCategoryGroup::Mark
    )
}

/// A token that mixes ASCII letters with digits or leet symbols: only those are read
/// as leetspeak, so "1024" or "35" stay numbers.
pub(crate) fn is_mixed(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().any(u8::is_ascii_alphabetic)
        && bytes
            .iter()
            .any(|&b| leet_letter(char::from(b), 'i').is_some())
}

/// The letter a leetspeak character stands for; `one` is what `1` reads as (`|` reads
/// as the other of i and l).
pub(crate) fn leet_letter(c: char, one: char) -> Option<char> {
    let other = if one == 'i' { 'l' } else { 'i' };
    Some(match c {
        '0' => 'o',
        '1' => one,
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '8' => 'b',
        '9' => 'g',
        '!' => 'i',
        '|' => other,
        _ => return None,
    })
}

/// Whether `text` has a run of 3+ identical letters (or leet characters, if `mixed`).
pub(crate) fn has_repeats(text: &str, mixed: bool) -> bool {
    let mut last = '\0';
    let mut run = 0;
    for c in text.chars() {
        run = if c == last { run + 1 } else { 1 };
        last = c;
        if run >= 3 && (c.is_alphabetic() || (mixed && leet_letter(c, 'i').is_some())) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{Sep, atoms, has_repeats, is_mixed, leet_letter, loose_flags, merge_flags};

    #[test]
    fn every_leet_character_reads_as_its_letter() {
        for (c, letter) in [
            ('0', 'o'),
            ('3', 'e'),
            ('4', 'a'),
            ('@', 'a'),
            ('5', 's'),
            ('$', 's'),
            ('7', 't'),
            ('+', 't'),
            ('8', 'b'),
            ('9', 'g'),
            ('!', 'i'),
        ] {
            assert_eq!(leet_letter(c, 'i'), Some(letter), "{c:?}");
            assert_eq!(leet_letter(c, 'l'), Some(letter), "{c:?}");
        }
        // `1` reads as asked; `|` as the other of i and l.
        assert_eq!(leet_letter('1', 'i'), Some('i'));
        assert_eq!(leet_letter('1', 'l'), Some('l'));
        assert_eq!(leet_letter('|', 'i'), Some('l'));
        assert_eq!(leet_letter('|', 'l'), Some('i'));
        for c in ['2', '6', 'x', '#', '.'] {
            assert_eq!(leet_letter(c, 'i'), None, "{c:?}");
        }
    }

    #[test]
    fn only_letters_mixed_with_leet_are_mixed_and_repeats_need_three() {
        assert!(is_mixed("k1d") && is_mixed("a+tack") && is_mixed("9ore"));
        assert!(!is_mixed("1024") && !is_mixed("kid") && !is_mixed("22"));
        assert!(has_repeats("seeex", false));
        assert!(!has_repeats("seex", false));
        assert!(!has_repeats("k111d", false));
        assert!(has_repeats("k111d", true));
        assert!(!has_repeats("k222d", true));
    }

    fn seps(folded: &str) -> Vec<Sep> {
        atoms(folded).iter().map(|a| a.sep).collect()
    }

    #[test]
    fn separators_are_classified() {
        use Sep::*;
        for (folded, expected) in [
            ("fake. passport", [Start, Break]),
            ("fake: passport", [Start, Break]),
            ("fake… passport", [Start, Break]),
            ("fake...passport", [Start, Break]),
            ("fake, passport", [Start, Break]),
            ("fake。passport", [Start, Break]),
            ("fake.passport", [Start, Joiner]),
            ("fake:passport", [Start, Space]),
            ("fake…passport", [Start, Space]),
            ("fake  passport", [Start, Space]),
            ("fake🔥passport", [Start, Space]),
            ("fake passport!", [Start, Space]),
        ] {
            assert_eq!(seps(folded), expected, "{folded:?}");
        }
    }

    #[test]
    fn separator_widths_count_a_crlf_as_one() {
        let widths = |folded: &str| -> Vec<(bool, usize)> {
            atoms(folded).iter().skip(1).map(|a| a.sep_width).collect()
        };
        assert_eq!(
            widths("a\r\nb\nc  d.e"),
            [(true, 1), (true, 1), (true, 2), (false, 1)]
        );
        assert_eq!(widths("a\r\n\r\nb\rc"), [(true, 2), (true, 1)]);
        let singles: Vec<bool> = atoms("a bc d").iter().map(|a| a.single).collect();
        assert_eq!(singles, [true, false, true]);
    }

    #[test]
    fn edge_bars_and_pluses_are_punctuation() {
        let texts = |folded: &str| -> Vec<String> {
            atoms(folded).iter().map(|a| a.text.to_owned()).collect()
        };
        assert_eq!(texts("|kid| +nude+ k|d"), ["kid", "nude", "k|d"]);
        assert_eq!(texts("!!! |"), Vec::<String>::new());
    }

    /// A word split by one joiner is joined when either piece is at most 3 characters
    /// ("n-aked", "nak-ed"), not when both are longer ("ultra-detailed").
    #[test]
    fn split_words_join_when_one_piece_is_short() {
        for (folded, expected) in [
            ("n-aked", [false, true]),
            ("nak-ed", [false, true]),
            ("nake-d", [false, true]),
            ("ultra-detailed", [false, false]),
            ("snow-capped", [false, false]),
            ("nude vids", [false, false]),
        ] {
            assert_eq!(merge_flags(&atoms(folded), false), expected, "{folded:?}");
        }
    }

    #[test]
    fn letter_spaced_runs_join_at_their_narrowest_gaps() {
        let flags = |folded: &str, articles: bool| merge_flags(&atoms(folded), articles);
        assert_eq!(
            flags("k i d   n u d e", false),
            [false, true, true, false, true, true, true]
        );
        assert_eq!(flags("a k i d", false), [false, true, true, true]);
        assert_eq!(flags("a k i d", true), [false, false, true, true]);
        assert_eq!(flags("i k i d", true), [false, false, true, true]);
        assert_eq!(flags("a s.e.x", true), [false, false, true, true]);
        assert_eq!(flags("o k i d", true), [false, true, true, true]);
        // Only the letter that starts a run is kept apart, wherever the run starts...
        assert_eq!(
            flags("the a k i d", true),
            [false, false, false, true, true]
        );
        // ...never an "i" inside one.
        assert_eq!(flags("k i d", true), [false, true, true]);
    }

    /// The loose grouping joins whole letter-spaced runs across wider gaps, but not
    /// across a clause break, and never joins words that aren't single letters.
    #[test]
    fn loose_runs_join_whole_runs_but_not_words_or_clauses() {
        let loose = |folded: &str| {
            let atoms = atoms(folded);
            loose_flags(&atoms, &merge_flags(&atoms, false))
        };
        assert_eq!(loose("f a  k e"), [false, true, true, true]);
        assert_eq!(loose("nude vids now"), [false, false, false]);
        assert_eq!(
            loose("k i d, n u d e"),
            [false, true, true, false, true, true, true]
        );
        assert_eq!(loose("x"), [false]);
    }
}
