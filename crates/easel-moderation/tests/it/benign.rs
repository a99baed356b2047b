//! Benign prompts, many of them look-alikes of prohibited ones, that must pass.

use super::{builtin, explain};

use super::cases::BENIGN as CASES;

#[test]
fn benign_prompts_pass() {
    let policy = builtin();
    let mut failures = Vec::new();
    for &text in CASES {
        if let Some(violation) = policy.check(text) {
            failures.push(format!(
                "{text:?}: fired {violation}\n      {}",
                explain(text)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} benign cases fired:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn there_are_enough_benign_cases() {
    assert!(CASES.len() >= 110, "{}", CASES.len());
}

#[test]
fn other_scripts_survive_normalisation() {
    for text in [
        "一只猫坐在窗台上",
        "富士山と桜",
        "서울의 야경",
        "قطة تجلس",
        "एक सुंदर गाँव",
    ] {
        assert_eq!(easel_moderation::normalize(text), text);
    }
}

#[test]
fn normalize_gives_the_plain_view() {
    assert_eq!(
        easel_moderation::normalize("Ｎü\u{200B}DE, s.e.x!"),
        "nude , s e x"
    );
    assert_eq!(
        easel_moderation::normalize("Assassin's Creed"),
        "assassin s creed"
    );
}
