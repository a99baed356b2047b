//! Views: the folded text (`normalize.rs`) rendered as words, several ways.
//!
//! A view is lowercase words separated by single spaces, with a space at each end
//! (`" fake passport "`), so that a whole-word match is a match with a space on each side.
//! Whitespace of every kind (newlines, tabs, Unicode spaces, runs of them) is one space.
//! Punctuation disappears, except that a clause break (a comma, semicolon, bracket, quote,
//! sentence-ending period…) is kept as a lone `,` token: a phrase or a regex can't match
//! across it, which keeps "clean image, no watermark" away from "… watermark" rules.
//! Combinations (`all_of`) look at the whole text regardless.
//!
//! The views, each produced only when it can differ from the plain one:
//! - **plain**: the words as written ("s.e.x" → "s e x", "k1d" → "k1d");
//! - **leet**: inside tokens that mix letters with digits or `@$!|+`, those are read as
//!   letters (0→o 1→i 3→e 4→a 5→s 7→t 8→b 9→g @→a $→s !→i |→l +→t); plain numbers
//!   ("1024", "35", "8") are left alone, and "4k"/"35mm" only become nonsense words;
//! - **leet-alt**: the same with 1→l and |→i ("1oli");
//! - **collapsed**: runs of single characters are joined ("s e x", "n-u-d-e", "s_3_x" →
//!   "sex"), as are words split by one punctuation character ("nu.de", "se*x"), then read
//!   as leetspeak; a variant keeps a leading "a"/"i" apart ("a k i d" → "a kid");
//! - **squeezed**: letters repeated 3+ times squeezed to one and to two ("seeeex",
//!   "nuuude", "asssss");
//! - **words**: the collapsed view where the policy's vocabulary reads a letter-spaced run
//!   as the words it spells ("a f a k e p a s s p o r t" → "a fake passport") and each
//!   stretched word as the word it stretches ("faaake passsport" → "fake passport"); see
//!   `vocabulary.rs`. Once with runs cut as the collapsed view cuts them, once with runs
//!   joined whole whatever their gaps ("f a  k e p a s s p o r t").
//!
//! A rule fires if it matches in any view. Only the plain view holds the whole text: the
//! others hold the tokens they change plus [`CONTEXT`] tokens on each side (runs of kept
//! tokens separated by `,`), since a match that doesn't touch a changed token is already
//! in the plain view. That keeps a benign prompt with a few "8k"s and "x-t4"s cheap.

use std::ops::Range;

use crate::atoms::{
    Atom, LEET_SYMBOLS, Sep, atoms, has_repeats, is_mixed, leet_letter, loose_flags, merge_flags,
};
use crate::vocabulary::Vocabulary;

/// Tokens kept on each side of a changed token in the derived views: a phrase or regex
/// match of up to `CONTEXT + 1` words that includes a disguised word is still seen.
pub(crate) const CONTEXT: usize = 8;

/// One rendering of the text; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ViewKind {
    Plain,
    Leet,
    LeetAlt,
    Collapsed,
    CollapsedAlt,
    CollapsedArticle,
    SqueezedOne,
    SqueezedTwo,
    Words,
}

impl ViewKind {
    /// How the view is named in violation descriptions.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ViewKind::Plain => "plain",
            ViewKind::Leet | ViewKind::LeetAlt => "leetspeak",
            ViewKind::Collapsed | ViewKind::CollapsedAlt | ViewKind::CollapsedArticle => {
                "separated letters"
            }
            ViewKind::SqueezedOne | ViewKind::SqueezedTwo => "repeated letters",
            ViewKind::Words => "spaced or stretched words",
        }
    }
}

/// A rendered view: `text` starts and ends with a space.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) kind: ViewKind,
    pub(crate) text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Render {
    /// Join atoms (see `merge_flags`); `keep_articles` for the article variant.
    collapse: bool,
    keep_articles: bool,
    /// What `1` reads as (`|` reads as the other of i/l); None: no leet.
    leet_one: Option<char>,
    /// Squeeze runs of 3+ identical letters to this many.
    squeeze: Option<usize>,
}

const PLAIN: Render = Render {
    collapse: false,
    keep_articles: false,
    leet_one: None,
    squeeze: None,
};

const LEET: Render = Render {
    leet_one: Some('i'),
    ..PLAIN
};
const LEET_ALT: Render = Render {
    leet_one: Some('l'),
    ..PLAIN
};
const COLLAPSED: Render = Render {
    collapse: true,
    ..LEET
};
const COLLAPSED_ALT: Render = Render {
    collapse: true,
    ..LEET_ALT
};
const COLLAPSED_ARTICLE: Render = Render {
    keep_articles: true,
    ..COLLAPSED
};
const SQUEEZED_ONE: Render = Render {
    squeeze: Some(1),
    ..COLLAPSED
};
const SQUEEZED_TWO: Render = Render {
    squeeze: Some(2),
    ..COLLAPSED
};

/// The plain view of `folded` without its outer spaces.
pub(crate) fn plain(folded: &str) -> String {
    render(&atoms(folded), PLAIN, &[], &[]).trim().to_owned()
}

/// Every distinct view of the folded text, plain first; the words view only with a
/// vocabulary.
pub(crate) fn views(folded: &str, vocabulary: Option<&Vocabulary>) -> Vec<View> {
    let atoms = atoms(folded);
    let mut out = vec![View {
        kind: ViewKind::Plain,
        text: render(&atoms, PLAIN, &[], &[]),
    }];
    let mixed = atoms.iter().any(|a| a.mixed);
    let ones = atoms.iter().any(|a| a.text.contains(['1', '|']));
    let merged = merge_flags(&atoms, false);
    let collapses = merged.contains(&true);
    let articles = if collapses {
        merge_flags(&atoms, true)
    } else {
        Vec::new()
    };
    let articles = if articles != merged {
        articles
    } else {
        Vec::new()
    };
    let repeats = collapses || atoms.iter().any(|a| a.repeats);

    let candidates = [
        (ViewKind::Leet, LEET, mixed),
        (ViewKind::LeetAlt, LEET_ALT, mixed && ones),
        (ViewKind::Collapsed, COLLAPSED, collapses),
        (ViewKind::CollapsedAlt, COLLAPSED_ALT, collapses && ones),
        (
            ViewKind::CollapsedArticle,
            COLLAPSED_ARTICLE,
            !articles.is_empty(),
        ),
        (ViewKind::SqueezedOne, SQUEEZED_ONE, repeats),
        (ViewKind::SqueezedTwo, SQUEEZED_TWO, repeats),
    ];
    for (kind, how, wanted) in candidates {
        if !wanted {
            continue;
        }
        let flags = match (how.collapse, how.keep_articles) {
            (false, _) => &[][..],
            (true, false) => &merged[..],
            (true, true) => &articles[..],
        };
        let text = render(&atoms, how, flags, &[]);
        if text.len() > 1 && !out.iter().any(|v| v.text == text) {
            out.push(View { kind, text });
        }
    }
    if let Some(vocabulary) = vocabulary.filter(|_| repeats) {
        // Letter-spaced runs cut where the gap widens, then whole: "f a k e  p a s s p o r
        // t x" is read from the first, "f a  k e p a s s p o r t" from the second.
        let loose = loose_flags(&atoms, &merged);
        let groupings = if loose == merged {
            vec![&merged]
        } else {
            vec![&merged, &loose]
        };
        for flags in groupings {
            let words = vocabulary.read(&atoms, &groups(&atoms, flags));
            if !words.iter().any(Option::is_some) {
                continue;
            }
            let text = render(&atoms, COLLAPSED, flags, &words);
            if !out.iter().any(|v| v.text == text) {
                let kind = ViewKind::Words;
                out.push(View { kind, text });
            }
        }
    }
    out
}

/// The atoms grouped as `flags` joins them.
pub(crate) fn groups(atoms: &[Atom<'_>], flags: &[bool]) -> Vec<Range<usize>> {
    let mut groups: Vec<Range<usize>> = Vec::with_capacity(atoms.len());
    for i in 0..atoms.len() {
        match groups.last_mut() {
            Some(group) if flags.get(i).copied().unwrap_or(false) => group.end = i + 1,
            _ => groups.push(i..i + 1),
        }
    }
    groups
}

/// Renders the atoms, joined where `flags` says so, each group replaced by its `words`
/// where there are some. Views other than the plain one keep only the tokens they change
/// and their context (see the module docs).
fn render(atoms: &[Atom<'_>], how: Render, flags: &[bool], words: &[Option<String>]) -> String {
    let groups = groups(atoms, flags);
    let mut scratch = String::new();
    let keep = if how == PLAIN {
        vec![true; groups.len()]
    } else if !words.is_empty() {
        within_context(&words.iter().map(Option::is_some).collect::<Vec<_>>())
    } else {
        let dirty: Vec<bool> = groups
            .iter()
            .map(|g| changes(atoms, g, how, &mut scratch))
            .collect();
        within_context(&dirty)
    };

    let mut out = String::with_capacity(atoms.iter().map(|a| a.text.len() + 3).sum::<usize>() + 2);
    out.push(' ');
    let mut previous: Option<usize> = None;
    for (index, group) in groups.iter().enumerate() {
        if !keep[index] {
            continue;
        }
        let gap = previous.is_some_and(|p| p + 1 != index);
        let clause = previous.is_some() && atoms[group.start].sep == Sep::Break;
        if (gap || clause) && !out.ends_with(", ") {
            out.push_str(", ");
        }
        previous = Some(index);
        if let Some(Some(read)) = words.get(index) {
            out.push_str(read);
            out.push(' ');
        } else if group.len() == 1 {
            let atom = &atoms[group.start];
            emit(atom.text, how.leet_one.filter(|_| atom.mixed), &mut out);
        } else {
            scratch.clear();
            atoms[group.clone()]
                .iter()
                .for_each(|a| scratch.push_str(a.text));
            emit(
                &scratch,
                how.leet_one.filter(|_| is_mixed(&scratch)),
                &mut out,
            );
        }
    }
    if out.ends_with(", ") {
        out.truncate(out.len() - 2);
    }
    match how.squeeze {
        Some(max) => squeeze(&out, max),
        None => out,
    }
}

/// Whether a group reads differently in this view than in the views before it.
fn changes(atoms: &[Atom<'_>], group: &Range<usize>, how: Render, scratch: &mut String) -> bool {
    let (text, mixed, repeats) = if group.len() == 1 {
        let atom = &atoms[group.start];
        (atom.text, atom.mixed, atom.repeats)
    } else {
        scratch.clear();
        atoms[group.clone()]
            .iter()
            .for_each(|a| scratch.push_str(a.text));
        let mixed = is_mixed(scratch);
        (scratch.as_str(), mixed, has_repeats(scratch, mixed))
    };
    let merged = group.len() > 1;
    if how.squeeze.is_some() {
        repeats
    } else if how.leet_one == Some('l') {
        // 1→l only changes what 1→i didn't already show.
        (merged || mixed) && text.contains(['1', '|'])
    } else {
        merged || (how.leet_one.is_some() && mixed)
    }
}

/// Marks every group within `CONTEXT` groups of a changed one.
fn within_context(dirty: &[bool]) -> Vec<bool> {
    let mut keep = vec![false; dirty.len()];
    let mut last: Option<usize> = None;
    for (i, &d) in dirty.iter().enumerate() {
        if d {
            last = Some(i);
        }
        keep[i] = last.is_some_and(|l| i - l <= CONTEXT);
    }
    let mut next: Option<usize> = None;
    for (i, &d) in dirty.iter().enumerate().rev() {
        if d {
            next = Some(i);
        }
        keep[i] |= next.is_some_and(|n| n - i <= CONTEXT);
    }
    keep
}

/// Appends the words of one chunk (an atom, or atoms joined by collapsing), each
/// followed by a space; `leet_one`: read it as leetspeak.
fn emit(chunk: &str, leet_one: Option<char>, out: &mut String) {
    let mut in_word: Option<bool> = None; // Some(is_ascii) of the last character
    for c in chunk.chars() {
        let c = leet_one.and_then(|one| leet_letter(c, one)).unwrap_or(c);
        // Atoms hold only word characters and leet symbols: a symbol not read as a letter
        // is what splits words here.
        if LEET_SYMBOLS.contains(&c) {
            if in_word.take().is_some() {
                out.push(' ');
            }
            continue;
        }
        if in_word.is_some_and(|ascii| ascii != c.is_ascii()) {
            // A script change is a word boundary ("裸のchild").
            out.push(' ');
        }
        in_word = Some(c.is_ascii());
        out.push(c);
    }
    if in_word.is_some() {
        out.push(' ');
    }
}

/// Squeezes every run of 3 or more identical letters to `max` letters.
fn squeeze(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.next_if_eq(&c).is_some() {
            run += 1;
        }
        let keep = if run >= 3 && c.is_alphabetic() {
            max
        } else {
            run
        };
        out.extend(std::iter::repeat_n(c, keep));
    }
    out
}

#[cfg(test)]
mod tests;
