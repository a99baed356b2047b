//! Prohibited prompts, most of them disguised, and the category each must fire.

use super::{builtin, explain};

use super::cases::EVASIONS as CASES;
use super::cases::{FRAUD, SEXUAL_MINORS};

#[test]
fn evasions_fire_their_category() {
    let policy = builtin();
    let mut failures = Vec::new();
    for &(text, expected) in CASES {
        let found = policy.check(text);
        if found.as_ref().map(|v| v.category.as_str()) != Some(expected) {
            failures.push(format!(
                "{text:?}: expected {expected}, got {found:?}\n      {}",
                explain(text)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} evasion cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn there_are_enough_cases_for_every_category() {
    assert!(CASES.len() >= 110, "{}", CASES.len());
    for category in easel_moderation::BUILTIN_CATEGORIES {
        let count = CASES.iter().filter(|(_, c)| *c == category).count();
        assert!(count >= 8, "{category}: {count} cases");
    }
}

#[test]
fn violation_describes_the_rule() {
    let policy = builtin();
    let v = policy.check("a kid, n.u.d.e").expect("fires");
    assert_eq!(v.category, SEXUAL_MINORS);
    assert_eq!(
        v.rule,
        r#"all_of [minor, sexual]: "kid" + "nude" (as separated letters)"#
    );
    let v = policy.check("fake passport").expect("fires");
    assert_eq!(v.rule, "regex 1 matched \"fake passport\"");
    let v = policy.check("l0li").expect("fires");
    assert_eq!(v.rule, "word \"loli\" (as leetspeak)");
    assert_eq!(v.to_string(), "sexual_minors: word \"loli\" (as leetspeak)");
}

#[test]
fn check_all_reports_the_first_violating_text() {
    let policy = builtin();
    let texts = ["a quiet harbour", "blurry, lowres", "fake passport"];
    let v = policy.check_all(texts).expect("fires");
    assert_eq!(v.category, FRAUD);
    assert!(policy.check_all(["a quiet harbour", "lowres"]).is_none());
    assert!(policy.check_all(std::iter::empty()).is_none());
}
