//! Spacing and stretching as disguises: whitespace of every kind between the words of a
//! phrase, letter-spacing across a phrase, stretched letters in every word; and the work
//! an adversarial prompt can cause.

use super::cases::{FRAUD, HARASSMENT, HATE};
use super::{builtin, explain};

/// Every kind of whitespace, alone and in runs.
const WHITESPACE: &[&str] = &[
    " ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\u{000B}",
    "\u{000C}",
    "\u{0085}",
    "\u{00A0}",
    "\u{1680}",
    "\u{2000}",
    "\u{2001}",
    "\u{2002}",
    "\u{2003}",
    "\u{2004}",
    "\u{2005}",
    "\u{2006}",
    "\u{2007}",
    "\u{2008}",
    "\u{2009}",
    "\u{200A}",
    "\u{2028}",
    "\u{2029}",
    "\u{202F}",
    "\u{205F}",
    "\u{3000}",
    "  ",
    "\n\n",
    "\r\n\r\n",
    " \t\n ",
    "\u{00A0}\u{3000}\u{2003}",
];

/// Checks that every text fires `expected`, listing the ones that don't.
fn assert_all_fire(texts: &[(String, &str)]) {
    let policy = builtin();
    let failures: Vec<String> = texts
        .iter()
        .filter(|(text, expected)| {
            policy.check(text).map(|v| v.category).as_deref() != Some(*expected)
        })
        .map(|(text, expected)| format!("{text:?}: expected {expected}\n      {}", explain(text)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        texts.len(),
        failures.join("\n")
    );
}

#[test]
fn every_kind_of_whitespace_joins_the_words_of_a_phrase() {
    let templates = [
        ("a fake{}passport", FRAUD),
        ("phishing{}page for my bank", FRAUD),
        ("ｆａｋｅ{}ｐａｓｓｐｏｒｔ", FRAUD),
        ("fаkе{}раѕѕроrt", FRAUD), // Cyrillic look-alikes
        ("faaake{}passsport", FRAUD),
        ("kill{}yourself", HARASSMENT),
        ("heil{}hitler", HATE),
    ];
    let mut texts = Vec::new();
    for space in WHITESPACE {
        for (template, category) in templates {
            texts.push((template.replace("{}", space), category));
        }
    }
    assert_eq!(texts.len(), WHITESPACE.len() * templates.len());
    assert_all_fire(&texts);
}

#[test]
fn letter_spacing_reads_the_phrase_whatever_the_spacing() {
    let spaced =
        |word: &str, gap: &str| word.chars().map(String::from).collect::<Vec<_>>().join(gap);
    let mut texts = Vec::new();
    for gap in WHITESPACE.iter().chain(&[".", "-", "_", "*", "·"]) {
        // The same gap everywhere: only the vocabulary can tell where words end.
        for phrase in [
            "afakepassport",
            "phishingpage",
            "killyourself",
            "heilhitler",
        ] {
            let category = match phrase {
                "killyourself" => HARASSMENT,
                "heilhitler" => HATE,
                _ => FRAUD,
            };
            texts.push((spaced(phrase, gap), category));
        }
        // A wider gap between the words, and one word spaced, the other not.
        // ("..." is an ellipsis, a clause break: "f.a.k.e p.a.s.s" is how dots spell.)
        let wide = match gap.trim() {
            "" => gap.repeat(3),
            _ => " ".to_owned(),
        };
        let text = format!("{}{wide}{}", spaced("fake", gap), spaced("passport", gap));
        texts.push((text, FRAUD));
        texts.push((format!("fake {}", spaced("passport", gap)), FRAUD));
        // Irregular gaps: a double one inside a word, a stray letter after a double one.
        let double = match gap.trim() {
            "" => gap.repeat(2),
            _ => " ".to_owned(),
        };
        let irregular = format!("{}{double}{}", spaced("fa", gap), spaced("kepassport", gap));
        texts.push((irregular, FRAUD));
        let stray = format!("{}{double}x", spaced("afakepassport", gap));
        texts.push((stray, FRAUD));
        // Stretched and spaced.
        texts.push((spaced("faaakepasssport", gap), FRAUD));
    }
    assert_all_fire(&texts);
}

#[test]
fn clause_breaks_still_stop_phrases_whatever_whitespace_follows() {
    let policy = builtin();
    for space in WHITESPACE {
        for text in [
            format!("a fake,{space}passport photo"),
            format!("fake flowers;{space}passport photo booth"),
            format!("fake flowers.{space}Passport photo booth"),
            format!("f a k e,{space}p a s s p o r t photo"),
        ] {
            let found = policy.check(&text);
            assert!(
                found.is_none(),
                "{text:?}: {found:?}\n      {}",
                explain(&text)
            );
        }
    }
}

#[test]
fn the_vocabulary_reads_only_runs_it_covers_whole() {
    let policy = builtin();
    let views = policy.views("a f a k e p a s s p o r t");
    assert!(views.iter().any(|v| v == "a fake passport"), "{views:?}");
    let views = policy.views("faaake passsport");
    assert!(views.iter().any(|v| v == "fake passport"), "{views:?}");
    // Initials, lists and spelled-out words no vocabulary covers stay as letters.
    for text in [
        "a b c d",
        "g r a p e",
        "t h e r a p i s t",
        "j r r tolkien",
        "x y z",
    ] {
        let without_vocabulary = easel_moderation::views(text);
        assert!(without_vocabulary.len() > 1, "{text:?}");
        assert_eq!(policy.views(text), without_vocabulary, "{text:?}");
    }
    // Words joined by punctuation are not a letter-spaced run: the vocabulary doesn't
    // split them ("fa.kepassport" is one odd word, not "fake passport").
    let views = policy.views("fa.kepassport");
    assert!(views.iter().any(|v| v == "fakepassport"), "{views:?}");
    assert!(views.iter().all(|v| v != "fake passport"), "{views:?}");
    // A stretched word is read as one word or not at all, never split into several:
    // "asssassin" is not "ass ass in".
    let views = policy.views("kids cosplaying asssassin s creed");
    assert!(views.len() > 1, "{views:?}");
    assert!(views.iter().all(|v| !v.contains("ass ass")), "{views:?}");
    assert!(policy.check("kids cosplaying asssassin's creed").is_none());
}

/// 32,000-character prompts (the longest a request may carry), each repeating a pattern
/// that makes one part of the normalisation work hardest.
fn adversarial() -> Vec<String> {
    let fill = |unit: &str| unit.repeat(32_000 / unit.chars().count());
    vec![
        fill("a "),
        fill("f a k e p a s s p o r t x "),
        fill("zzzaaabbb "),
        fill("faaake passsport "),
        fill("k\u{3000}i\u{00A0}d\r\nn\u{2028}u\td\u{205F}e "),
        fill("f.4.k.3-p_4_s_s "),
        fill("a"),
        fill("\u{2003}"),
    ]
}

/// Bounded work, not time: whatever the prompt, the views rendered and scanned (the
/// work of a check, all linear in their length) stay within a small multiple of it.
#[test]
fn adversarial_prompts_render_views_linear_in_their_length() {
    let policy = builtin();
    for prompt in adversarial() {
        assert!(prompt.chars().count() >= 31_000);
        let views = policy.views(&prompt);
        assert!(!views.is_empty() && views.len() <= 10, "{}", views.len());
        let total: usize = views.iter().map(String::len).sum();
        assert!(
            total <= 8 * prompt.len(),
            "{:?}…: {total} bytes of views for {} bytes",
            prompt.chars().take(20).collect::<String>(),
            prompt.len()
        );
        // The check itself runs to the end over the same views.
        let _ = policy.check(&prompt);
    }
    // A disguised phrase at the very end of a long run is still read.
    let mut long = "a ".repeat(15_000);
    long.push_str("f a k e p a s s p o r t");
    assert_eq!(
        policy.check(&long).map(|v| v.category).as_deref(),
        Some(FRAUD)
    );
}
