//! Character-level folding: the first step of normalisation, before the text is split
//! into words and rendered as views (`views.rs`).
//!
//! In one pass, each character is
//! - decomposed by its Unicode compatibility decomposition (NFKD: the mappings NFKC
//!   applies, so fullwidth "ｎ", mathematical "𝓷", circled "ⓝ", ligatures "ﬁ" become plain
//!   letters, and accented letters become base letter + combining marks). Recomposing
//!   (the C of NFKC) would only rebuild the accents that the next step drops;
//! - dropped if it is invisible: general category Cf (zero-width space/joiners, soft hyphen,
//!   bidi controls, BOM, tags) or another default-ignorable (variation selectors, Hangul
//!   fillers), or a combining diacritic (the accents of "nüdé", Zalgo marks);
//! - case folded: lowercase, plus `ß`/`ẞ` → "ss" (the only full-case-folding difference
//!   that matters for Latin words; other scripts are lowercased by `decancer`);
//! - folded to its ASCII look-alike by `decancer`'s confusables table: Cyrillic "ѕех",
//!   Greek "ΝUDΕ", "🅽🆄🅳🅴", small capitals, Cherokee… Scripts that aren't look-alikes of
//!   Latin (Chinese, Japanese, Korean, Arabic, Hebrew, Indic, Thai…) and emoji are kept
//!   as they are, so prompts written in them stay intact (Han, kana and Hangul skip the
//!   tables altogether).
//!
//! ASCII-only text (the common case) skips the Unicode machinery: lowercase is all it needs.

use decancer::{Options, Translation};
use unicode_normalization::char::decompose_compatible;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Scripts `decancer` must leave alone: their letters are not Latin look-alikes, and
/// curing them would turn a benign Chinese or Arabic prompt into Latin gibberish.
/// Greek, Cyrillic, Armenian, Cherokee, Turkish letters and enclosed/styled Latin are
/// folded, since they are what homoglyph evasion uses.
fn decancer_options() -> Options {
    Options::default()
        .retain_hebrew()
        .retain_arabic()
        .retain_devanagari()
        .retain_bengali()
        .retain_gujarati()
        .retain_tamil()
        .retain_thai()
        .retain_lao()
        .retain_burmese()
        .retain_khmer()
        .retain_mongolian()
        .retain_chinese()
        .retain_japanese()
        .retain_korean()
        // Emoji stay emoji (they then act as separators): curing "🔥" to "o" would glue
        // it to the neighbouring word and hide that word ("kid🔥" → "kido").
        .retain_emojis()
}

/// Folds `text` character by character (see the module docs). Punctuation and
/// whitespace are kept; the views decide what they mean.
pub(crate) fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let options = decancer_options();
    let mut out = String::with_capacity(text.len());
    // Folding a character takes a few table look-ups (~100 ns), and natural text repeats
    // few distinct characters: remember the last folds, indexed by code point.
    let mut cache: [(char, String); CACHE_SLOTS] = std::array::from_fn(|_| ('\0', String::new()));
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if is_kept_script(c) {
            out.push(c);
        } else if c.is_whitespace() {
            // NBSP, U+2000..U+200A, U+2028/U+2029, ideographic space…: a space, like
            // the ASCII ones, whatever decancer or NFKD would make of it.
            out.push(' ');
        } else {
            let slot = &mut cache[c as usize % CACHE_SLOTS];
            if slot.0 == c {
                out.push_str(&slot.1);
            } else {
                let start = out.len();
                decompose_compatible(c, |part| fold_char(part, options, &mut out));
                slot.0 = c;
                slot.1.clear();
                slot.1.push_str(&out[start..]);
            }
        }
    }
    out
}

/// Size of the per-call cache of folded characters (a power of two, more than the
/// letters of an alphabet with both cases).
const CACHE_SLOTS: usize = 128;

/// Folds one character of the decomposition.
fn fold_char(c: char, options: Options, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    if is_diacritic(c) {
        return;
    }
    let category = c.general_category();
    if category == GeneralCategory::Format || is_ignorable(c) {
        return;
    }
    if matches!(
        category,
        GeneralCategory::NonspacingMark
            | GeneralCategory::SpacingMark
            | GeneralCategory::EnclosingMark
    ) {
        // Vowel signs, viramas, points of scripts that keep them: part of their words.
        out.push(c);
        return;
    }
    match c {
        'ß' | 'ẞ' => out.push_str("ss"),
        // Braille blank: an invisible look-alike of a space.
        '\u{2800}' => out.push(' '),
        _ => match decancer::cure_char(c, options) {
            Translation::Character(folded) if folded.is_whitespace() => out.push(' '),
            Translation::Character(folded) => out.extend(folded.to_lowercase()),
            Translation::String(folded) => out.push_str(&folded),
            // decancer has nothing for it (a control or unassigned character): drop it,
            // so it cannot split a word.
            Translation::None => {}
        },
    }
}

/// Han ideographs, kana and Hangul syllables: kept as they are (as `decancer` would with
/// the options above), without the table look-ups, since they make up whole prompts.
fn is_kept_script(c: char) -> bool {
    matches!(c,
        '\u{3001}'..='\u{303F}'       // CJK punctuation (not U+3000, a space)
        | '\u{3040}'..='\u{30FF}'     // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}'     // CJK Extension A
        | '\u{4E00}'..='\u{9FFF}'     // CJK Unified Ideographs
        | '\u{AC00}'..='\u{D7A3}'     // Hangul syllables
    )
}

/// Invisible characters outside general category Cf (which holds U+200B..U+200F,
/// U+2060..U+2064, U+FEFF, U+00AD, bidi controls U+202A..U+202E and U+2066..U+2069,
/// tags, U+180E…): the default-ignorable characters of other categories.
fn is_ignorable(c: char) -> bool {
    matches!(c,
        '\u{034F}'                      // combining grapheme joiner
        | '\u{115F}' | '\u{1160}'       // Hangul choseong/jungseong fillers
        | '\u{3164}' | '\u{FFA0}'       // Hangul fillers
        | '\u{180B}'..='\u{180F}'       // Mongolian variation selectors
        | '\u{FE00}'..='\u{FE0F}'       // variation selectors
        | '\u{E0100}'..='\u{E01EF}'     // variation selectors supplement
    )
}

/// Combining marks used as accents on Latin, Greek and Cyrillic letters (and by "Zalgo"
/// text). Combining marks of other scripts (Devanagari vowel signs, Hebrew points,
/// Japanese voicing marks) are part of their words and are kept.
fn is_diacritic(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{0483}'..='\u{0489}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}'
    )
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_evasions_to_ascii() {
        let cases = [
            ("ѕех", "sex"),                           // Cyrillic look-alikes
            ("ΝUDΕ", "nude"),                         // Greek capitals
            ("ｎｕｄｅ", "nude"),                     // fullwidth
            ("𝓷𝓾𝓭𝓮", "nude"),                         // math script
            ("𝐧𝐮𝐝𝐞", "nude"),                         // math bold
            ("ⓝⓤⓓⓔ", "nude"),                         // circled
            ("🅽🆄🅳🅴", "nude"),                         // negative squared
            ("ɴᴜᴅᴇ", "nude"),                         // small capitals
            ("nüdé", "nude"),                         // accents
            ("n\u{0308}u\u{0301}de", "nude"),         // combining accents
            ("n\u{200B}u\u{00AD}d\u{FEFF}e", "nude"), // zero-width, soft hyphen, BOM
            ("nu\u{2060}d\u{202E}e\u{200D}", "nude"), // word joiner, bidi, ZWJ
            ("NuDe", "nude"),                         // case
            ("Straße", "strasse"),                    // ß folds to ss
            ("ﬁre", "fire"),                          // ligature
            ("①②", "12"),                             // circled digits
            ("ｶﾞ", "カ\u{3099}"),                      // halfwidth kana: NFKD, not recomposed
        ];
        for (input, expected) in cases {
            assert_eq!(fold(input), expected, "{input:?}");
        }
    }

    /// Invisible characters outside category Cf vanish inside a word; the braille blank
    /// is a space; whitespace of other scripts is a space too.
    #[test]
    fn invisible_characters_vanish_and_blanks_are_spaces() {
        for invisible in [
            '\u{034F}',
            '\u{115F}',
            '\u{1160}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{180B}',
            '\u{FE0F}',
            '\u{E0100}',
        ] {
            assert_eq!(fold(&format!("nu{invisible}de")), "nude", "{invisible:?}");
        }
        assert_eq!(fold("kid\u{2800}nude"), "kid nude");
        assert_eq!(fold("kid\u{3000}nude\u{00A0}now"), "kid nude now");
        assert_eq!(fold("Kid\u{2003}NUDE"), "kid nude");
    }

    /// Emoji and CJK punctuation are kept as they are (the views treat them as separators
    /// and clause breaks): curing them would glue them to the words around them.
    #[test]
    fn keeps_emoji_and_cjk_punctuation() {
        for text in ["kid🔥nude", "kid。nude", "kid、nude", "「kid」"] {
            assert_eq!(fold(text), text, "{text:?}");
        }
        assert_eq!(fold("KID🔥NUDE"), "kid🔥nude");
    }

    #[test]
    fn repeated_characters_fold_the_same_every_time() {
        // The fold cache must give back what the first fold of a character gave.
        assert_eq!(fold("ÀÀÀ ѕѕѕ ÀѕÀѕ"), "aaa sss asas");
        // Two characters that share a cache slot (128 apart) don't get each other's fold.
        assert_eq!(fold("\u{00E0}\u{0160}\u{00E0}\u{0160}"), "asas");
    }

    #[test]
    fn keeps_other_scripts() {
        for text in [
            "猫が座っている",
            "한국어 문장",
            "مرحبا بالعالم",
            "नमस्ते दुनिया",
            "שלום",
            "一只猫🐱",
        ] {
            assert_eq!(fold(text), text, "{text:?}");
        }
    }
}
