//! `Policy::check` on realistic 1,000-character prompts: a benign one (the common case),
//! one with an evasion near the end (every view is rendered and scanned), and one with
//! non-ASCII text (the Unicode folding path); then on 32,000-character adversarial
//! prompts built to make the views and the vocabulary reading work hardest (one run of
//! single letters, stretched letters, whitespace of every kind).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use easel_moderation::{Policy, PolicyConfig};

const BENIGN: &str = "(masterpiece:1.2), best quality, ultra-detailed, 8k uhd, RAW photo, \
    a sweeping cinematic landscape of an ancient mountain monastery at golden hour, \
    terraced rice fields stepping down the valley, mist curling between pine trees, \
    a narrow stone staircase winding up to red lacquered gates, prayer flags fluttering \
    in the wind, a lone monk in saffron robes carrying a lantern, soft volumetric light \
    rays through the clouds, distant snow-capped peaks, a river reflecting the orange \
    sky, flocks of cranes flying in formation, intricate wooden carvings on the eaves, \
    moss-covered statues of guardian lions, wet cobblestones after the rain, shallow \
    depth of field, 35mm lens, f/1.8, ISO 100, 1/250s, shot on a Fujifilm X-T4, \
    Kodak Portra 400 film grain, color graded teal and orange, trending on artstation, \
    by Greg Rutkowski and Makoto Shinkai, highly detailed matte painting, octane render, \
    unreal engine 5, ray tracing, global illumination, subsurface scattering, HDR, \
    sharp focus, award-winning photograph, national geographic, 4k wallpaper, epic scale";

const EVASION_TAIL: &str = ", and in the foreground a k1d, n.u.d.e";

const UNICODE: &str = "一只猫坐在窗台上，水彩画，柔和的光线，a café in Montmartre at dusk, \
    crème brûlée on a marble table, Straße in München bei Nacht, 富士山と桜、浮世絵風, \
    서울의 야경, 네온사인, ";

fn prompts() -> (String, String, String) {
    let benign = BENIGN.to_owned();
    let keep = benign.len() - EVASION_TAIL.len();
    let evasion = format!("{}{EVASION_TAIL}", &benign[..keep]);
    let mut unicode = UNICODE.to_owned();
    while unicode.chars().count() < 1000 {
        unicode.push_str(&BENIGN[..BENIGN.len().min(1000 - unicode.chars().count())]);
    }
    (benign, evasion, unicode)
}

/// 32,000-character prompts, each repeating one pattern: the limit of a prompt.
fn adversarial() -> Vec<(&'static str, String)> {
    let fill = |unit: &str| unit.repeat(32_000 / unit.chars().count());
    vec![
        // One run of 16,000 single letters, all covered by "a": the longest reading.
        ("letters_a", fill("a ")),
        // One run that no reading covers, with vocabulary words all along it.
        ("letters_spelling", fill("f a k e p a s s p o r t x ")),
        // Every word stretched, none of them a vocabulary word.
        ("stretched", fill("zzzaaabbb ")),
        // Every word a stretched vocabulary word.
        ("stretched_words", fill("faaake passsport ")),
        // Whitespace of every kind between letters.
        (
            "whitespace",
            fill("k\u{3000}i\u{00A0}d\r\nn\u{2028}u\td\u{205F}e "),
        ),
        // Leet and punctuation joiners.
        ("leet_joiners", fill("f.4.k.3-p_4_s_s ")),
    ]
}

fn bench(c: &mut Criterion) {
    let policy = Policy::new(&PolicyConfig::default()).expect("built-in policy builds");
    let (benign, evasion, unicode) = prompts();
    assert!(policy.check(&benign).is_none(), "benign prompt must pass");
    assert!(policy.check(&evasion).is_some(), "evasion must fire");
    assert!(policy.check(&unicode).is_none(), "unicode prompt must pass");

    let mut group = c.benchmark_group("check_1000_chars");
    group.bench_function("benign", |b| b.iter(|| policy.check(black_box(&benign))));
    group.bench_function("evasion_near_end", |b| {
        b.iter(|| policy.check(black_box(&evasion)))
    });
    group.bench_function("benign_unicode", |b| {
        b.iter(|| policy.check(black_box(&unicode)))
    });
    group.finish();

    let mut group = c.benchmark_group("check_32000_chars");
    for (name, prompt) in adversarial() {
        group.bench_function(name, |b| b.iter(|| policy.check(black_box(&prompt))));
    }
    group.finish();

    c.bench_function("policy_new", |b| {
        b.iter(|| Policy::new(black_box(&PolicyConfig::default())))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
