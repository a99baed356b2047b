//! The operator's configuration: extending, adding, disabling, and refusing bad config.

use easel_moderation::{BUILTIN_CATEGORIES, Policy, PolicyConfig, PolicyError};

use super::builtin;

fn config(toml: &str) -> PolicyConfig {
    toml::from_str(toml).expect("config parses")
}

fn build(toml: &str) -> Result<Policy, PolicyError> {
    Policy::new(&config(toml))
}

fn category(policy: &Policy, text: &str) -> Option<String> {
    policy.check(text).map(|v| v.category)
}

#[test]
fn default_is_an_empty_table() {
    assert_eq!(config(""), PolicyConfig::default());
    assert!(PolicyConfig::default().enabled);
    assert_eq!(builtin().categories(), BUILTIN_CATEGORIES);
}

#[test]
fn unknown_fields_are_refused() {
    assert!(toml::from_str::<PolicyConfig>("enable = true").is_err());
    assert!(toml::from_str::<PolicyConfig>("[categories.fraud]\nword = ['x']").is_err());
}

#[test]
fn extends_a_builtin_category_with_normalised_words() {
    let policy = build(
        r#"
        [categories.fraud]
        words = ["FakeID", "Ｐｒｏｐ-Ｍｏｎｅｙ Printer"]
        phrases = ["fake utility bill"]
        regexes = ['\bssn \d{3}']
        "#,
    )
    .expect("builds");
    for text in [
        "buy a fakeid",
        "f4ke1d",
        "a prop money printer",
        "PROP MONEY PRINTER",
        "fake utility bill",
        "ssn 123 45 6789",
    ] {
        assert_eq!(category(&policy, text).as_deref(), Some("fraud"), "{text}");
    }
    // The built-in rules are still there.
    assert_eq!(category(&policy, "fake passport").as_deref(), Some("fraud"));
    assert_eq!(category(&policy, "a fake idea"), None);
}

#[test]
fn adds_a_category_with_its_own_sets() {
    let policy = build(
        r#"
        [sets]
        weapon = ["ghost gun", "auto sear*"]
        instructions = ["how to", "blueprint*", "step by step"]

        [categories.weapons]
        phrases = ["3d printed glock"]
        all_of = [["weapon", "instructions"]]
        "#,
    )
    .expect("builds");
    assert_eq!(policy.categories().last(), Some(&"weapons"));
    assert_eq!(
        category(&policy, "3D-printed Glock").as_deref(),
        Some("weapons")
    );
    let v = policy
        .check("blueprints for auto sears, very detailed")
        .expect("fires");
    assert_eq!(v.category, "weapons");
    assert_eq!(
        v.rule,
        r#"all_of [weapon, instructions]: "auto sears" + "blueprints""#
    );
    assert_eq!(category(&policy, "a ghost gun in a sci-fi game"), None);
}

#[test]
fn extends_a_builtin_set() {
    let policy = build("[sets]\nminor = ['youngling', 're:\\bgrade ?[1-6]\\b']").expect("builds");
    assert_eq!(
        category(&policy, "youngling, nude").as_deref(),
        Some("sexual_minors")
    );
    assert_eq!(
        category(&policy, "grade 3 student, nsfw").as_deref(),
        Some("sexual_minors")
    );
    assert_eq!(category(builtin(), "youngling, nude"), None);
}

/// A regex hit is placed exactly where it matched: an allow entry covering just that
/// match masks it, at the start of the text and after other words alike.
#[test]
fn allow_masks_a_regex_hit_it_covers_exactly() {
    let policy =
        build("[categories.gadgets]\nregexes = ['zorb (quux|blat)']\nallow = ['zorb quux']")
            .expect("builds");
    assert_eq!(category(&policy, "zorb quux"), None);
    assert_eq!(category(&policy, "a zorb quux"), None);
    assert_eq!(category(&policy, "zorb blat").as_deref(), Some("gadgets"));
    let v = policy.check("a zorb blat").expect("fires");
    assert_eq!(v.rule, "regex 1 matched \"zorb blat\"");
}

#[test]
fn allow_masks_hits_of_its_category() {
    let policy = build("[categories.violence]\nallow = ['school shooting game*']").expect("builds");
    assert_eq!(category(&policy, "a school shooting game poster"), None);
    assert_eq!(
        category(&policy, "school shooting").as_deref(),
        Some("violence")
    );
}

#[test]
fn terms_in_scripts_without_spaces_match_as_substrings() {
    let policy = build("[categories.custom]\nwords = ['裸体']").expect("builds");
    assert_eq!(category(&policy, "一个裸体的人").as_deref(), Some("custom"));
    assert_eq!(category(&policy, "一只猫"), None);
}

#[test]
fn disables_a_builtin_category() {
    let policy = build("disabled_categories = ['intellectual_property']").expect("builds");
    assert_eq!(category(&policy, "remove watermark"), None);
    assert_eq!(category(&policy, "fake passport").as_deref(), Some("fraud"));
    assert!(!policy.categories().contains(&"intellectual_property"));
    assert_eq!(policy.categories().len(), BUILTIN_CATEGORIES.len() - 1);
}

#[test]
fn disabled_policy_checks_nothing() {
    let policy = build("enabled = false").expect("builds");
    assert_eq!(policy.check("fake passport"), None);
    assert_eq!(policy.check_all(["loli", "kill yourself"]), None);
    assert!(policy.categories().is_empty());
    // A disabled policy is still validated, so a mistake shows before it is switched on.
    assert!(build("enabled = false\n[categories.fraud]\nregexes = ['(']").is_err());
}

#[test]
fn refuses_an_unknown_disabled_category() {
    let err = build("disabled_categories = ['ip']").expect_err("refused");
    assert!(
        matches!(err, PolicyError::UnknownCategory(ref name, _) if name == "ip"),
        "{err:?}"
    );
    assert!(err.to_string().contains("unknown category `ip`"), "{err}");
    assert!(err.to_string().contains("intellectual_property"), "{err}");
}

#[test]
fn refuses_a_bad_regex_naming_it() {
    let err = build("[categories.fraud]\nregexes = ['fake (passport']").expect_err("refused");
    assert!(matches!(err, PolicyError::BadRegex { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("category `fraud`: invalid regex `fake (passport`"),
        "{message}"
    );

    let err = build("[sets]\nminor = ['re:[a-']").expect_err("refused");
    assert!(
        err.to_string()
            .starts_with("set `minor`: invalid regex `[a-`"),
        "{err}"
    );
}

#[test]
fn refuses_an_unknown_set() {
    let err = build("[categories.weapons]\nall_of = [['weapon', 'minor']]").expect_err("refused");
    assert!(
        matches!(err, PolicyError::UnknownSet { ref set, .. } if set == "weapon"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"category `weapons`: all_of ["weapon", "minor"] names unknown set `weapon`"#
    );
    let err = build("[categories.weapons]\nall_of = [[]]").expect_err("refused");
    assert!(
        matches!(err, PolicyError::EmptyAllOf(ref c) if c == "weapons"),
        "{err:?}"
    );
}

#[test]
fn refuses_empty_terms() {
    for (toml, location, list) in [
        (
            "[categories.fraud]\nwords = ['  ']",
            "category `fraud`",
            "words",
        ),
        (
            "[categories.hate]\nphrases = ['!!!']",
            "category `hate`",
            "phrases",
        ),
        (
            "[categories.hate]\nallow = ['*']",
            "category `hate`",
            "allow",
        ),
        ("[sets]\nminor = ['']", "set `minor`", "terms"),
    ] {
        let err = build(toml).expect_err(toml);
        assert!(
            matches!(err, PolicyError::EmptyTerm { location: ref l, list: li, .. } if l == location && li == list),
            "{toml}: {err:?}"
        );
    }
}

#[test]
fn refuses_names_that_are_not_snake_case() {
    for toml in [
        "[categories.Weapons]",
        "[categories.my-weapons]",
        "[sets]\n2fast = ['x']",
    ] {
        let err = build(toml).expect_err(toml);
        assert!(
            matches!(err, PolicyError::InvalidName { .. }),
            "{toml}: {err:?}"
        );
    }
}

/// Digits are allowed after the first letter: `tier2` and `set2` are snake_case names, and
/// the category they make fires under that name.
#[test]
fn names_with_digits_are_snake_case() {
    let policy = build(
        "[sets]\nset2 = ['zorblax']\n[categories.tier2]\nwords = ['quuxword']\n\
         [categories.t2_combo]\nall_of = [['set2', 'minor']]",
    )
    .expect("builds");
    assert_eq!(
        category(&policy, "a quuxword here").as_deref(),
        Some("tier2")
    );
    assert_eq!(
        category(&policy, "zorblax kid").as_deref(),
        Some("t2_combo")
    );
    assert_eq!(category(&policy, "zorblax alone"), None);
    for toml in [
        "[categories.2tier]",
        "[categories.tier-2]",
        "[sets]\nSet2 = ['x']",
    ] {
        let err = build(toml).expect_err(toml);
        assert!(
            matches!(err, PolicyError::InvalidName { .. }),
            "{toml}: {err:?}"
        );
    }
}

#[test]
fn readme_example_builds() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("README has a TOML example") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("closed");
    let document: toml::Table = toml::from_str(&readme[start..end]).expect("README TOML parses");
    let input = document["moderation"]["input"].clone();
    let config: PolicyConfig = input.try_into().expect("README example is a PolicyConfig");
    let policy = Policy::new(&config).expect("README example builds");
    assert_eq!(
        category(&policy, "step by step ghost gun").as_deref(),
        Some("weapons")
    );
    assert_eq!(category(&policy, "remove watermark"), None);
}

#[test]
fn policy_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Policy>();
}
