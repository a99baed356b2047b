//! Unit tests of the views: what each renders, and what it leaves out.

use super::{plain, views};

fn all(folded: &str) -> Vec<String> {
    views(folded, None)
        .into_iter()
        .map(|v| v.text.trim().to_owned())
        .collect()
}

#[test]
fn plain_view_is_words() {
    assert_eq!(plain("s.e.x, now!"), "s e x , now");
    assert_eq!(plain("assassin's creed"), "assassin s creed");
    assert_eq!(plain("12-year-old"), "12 year old");
    assert_eq!(plain("裸のchild"), "裸の child");
    assert_eq!(plain("  "), "");
    assert_eq!(
        plain("clean image, no watermark"),
        "clean image , no watermark"
    );
}

#[test]
fn views_cover_evasions() {
    for (folded, expected) in [
        ("s.e.x", "sex"),
        ("s e x", "sex"),
        ("n-u-d-e", "nude"),
        ("s_3_x", "sex"),
        ("nu.de", "nude"),
        ("p0rn", "porn"),
        ("1oli", "loli"),
        ("l0l1", "loli"),
        ("@ss", "ass"),
        ("a k i d", "a kid"),
        ("seeeex", "sex"),
        ("asssss", "ass"),
        ("k!d", "kid"),
        ("k i d   n u d e", "kid nude"),
        ("c.h.i.l.d p.o.r.n", "child porn"),
    ] {
        let found = all(folded);
        assert!(
            found.iter().any(|v| v == expected),
            "{folded:?} → {found:?}"
        );
    }
}

#[test]
fn numbers_stay_numbers() {
    // Mixed tokens become nonsense words, never real ones.
    let expected = [
        "1024x1024 , 35mm , f 1 8",
        "io2axio2a , esmm , f 1 8",
        "lo2axlo2a , esmm , f 1 8",
        "io2axio2a , esmm , fib",
        "lo2axlo2a , esmm , flb",
    ];
    assert_eq!(all("1024x1024, 35mm, f/1.8"), expected);
    let expected = [
        "8k uhd , 4k , 50 steps , seed 1234",
        "bk uhd , ak , 50 steps , seed 1234",
    ];
    assert_eq!(all("8k uhd, 4k, 50 steps, seed 1234"), expected);
}

#[test]
fn derived_views_keep_changed_tokens_with_context() {
    let text = "one two three four five six seven eight nine ten k1d eleven twelve \
        thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty";
    let found = all(text);
    assert_eq!(found.len(), 3, "plain, leet (1→i), leet (1→l)");
    let expected = "three four five six seven eight nine ten kid eleven twelve thirteen \
        fourteen fifteen sixteen seventeen eighteen";
    assert_eq!(found[1], expected);
}

#[test]
fn leetspeak_reads_t_g_and_the_bar() {
    for (folded, expected) in [
        ("7een", "teen"),
        ("a+tack", "attack"),
        ("9ore", "gore"),
        ("k|d", "kid"),
        ("l0|i", "loli"),
        ("n-aked", "naked"),
        ("na-ked", "naked"),
    ] {
        let found = all(folded);
        assert!(
            found.iter().any(|v| v == expected),
            "{folded:?} → {found:?}"
        );
    }
    // Two long pieces stay two words.
    assert_eq!(all("ultra-detailed"), ["ultra detailed"]);
}

#[test]
fn emoji_and_cjk_punctuation_separate_words() {
    assert_eq!(plain("kid🔥nude"), "kid nude");
    assert_eq!(plain("kid🔥 🔥nude"), "kid nude");
    assert_eq!(plain("kid。nude"), "kid , nude");
    assert_eq!(plain("kid、nude"), "kid , nude");
    assert_eq!(plain("fake. passport"), "fake , passport");
    assert_eq!(plain("fake: passport"), "fake , passport");
    assert_eq!(plain("fake… passport"), "fake , passport");
    assert_eq!(plain("fake:passport"), "fake passport");
    assert_eq!(plain("fake  passport"), "fake passport");
}

#[test]
fn a_clause_of_symbols_leaves_no_trailing_break() {
    assert_eq!(plain("kid, @@"), "kid");
}

#[test]
fn repeats_across_spaced_letters_are_squeezed() {
    for (folded, expected) in [("s e e e x", "sex"), ("n u u u d e", "nude")] {
        let found = all(folded);
        assert!(
            found.iter().any(|v| v == expected),
            "{folded:?} → {found:?}"
        );
    }
}

/// The 1→l view keeps only the tokens with a `1` or `|` (and their context): a far-off
/// token that only the 1→i view changes stays out of it.
#[test]
fn the_one_as_l_view_keeps_only_tokens_with_a_one() {
    let found = all("k1d one two three four five six seven eight nine ten 4ss");
    let expected = [
        "k1d one two three four five six seven eight nine ten 4ss",
        "kid one two three four five six seven eight nine ten ass",
        "kld one two three four five six seven eight",
    ];
    assert_eq!(found, expected);
}
