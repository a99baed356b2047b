//! The `webhook-signature` value of one delivery attempt over a ~1 KiB event body: with the
//! endpoint's one secret (the common case), and with two during a rotation's overlap.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use easel_server::webhooks::deliver::payload;
use easel_server::webhooks::signature::{Secret, header};

const EVENT_ID: &str = "evt_01JQ8Z3K4M5N6P7Q8R9S0T1V2W";
const TIMESTAMP: i64 = 1_767_225_600;

/// A `generation.succeeded` body of about 1 KiB, built as deliveries build theirs.
fn body() -> String {
    let data = serde_json::json!({
        "object": "generation",
        "id": "gen_01JQ8Z3K4M5N6P7Q8R9S0T1V2W",
        "status": "succeeded",
        "mode": "live",
        "model": "sdxl-turbo",
        "prompt": "a sweeping cinematic landscape of an ancient mountain monastery at golden \
            hour, terraced rice fields stepping down the valley, mist curling between pine \
            trees, a lone monk in saffron robes carrying a lantern, soft volumetric light",
        "negative_prompt": "blurry, low quality, deformed hands, extra fingers, watermark, \
            text, signature, jpeg artifacts, oversaturated, cropped",
        "engine": "comfyui",
        "request_id": "req_01JQ8Z3K4M5N6P7Q8R9S0T1V2W",
        "duration_ms": 8_734,
        "width": 1024,
        "height": 1024,
        "seed": 1_234_567_890,
        "cost": {"credits": 40, "held": 40},
        "outputs": [
            {"url": "https://easel.example.com/v1/outputs/gen_01JQ8Z3K4M5N6P7Q8R9S0T1V2W/0.png?expires=1767229200&signature=Zm9vYmFyYmF6cXV4", "content_type": "image/png", "bytes": 1_482_113},
        ],
        "metadata": {"customer": "cus_8f2a9c", "campaign": "spring-2026"},
        "created_at": 1_767_225_590,
        "completed_at": 1_767_225_599,
    })
    .to_string();
    payload("generation.succeeded", 1_767_225_599_000, &data)
}

fn bench(c: &mut Criterion) {
    let body = body();
    assert!(
        (960..=1100).contains(&body.len()),
        "the body is about 1 KiB ({} bytes)",
        body.len()
    );
    let (current, previous) = (Secret::generate(), Secret::generate());
    let one = [&current];
    let two = [&current, &previous];
    assert_eq!(
        header(&two, EVENT_ID, TIMESTAMP, body.as_bytes()).len(),
        2 * 47 + 1
    );

    let mut group = c.benchmark_group("webhook_signature_1kib");
    group.bench_function("one_secret", |b| {
        b.iter(|| {
            header(
                black_box(&one),
                EVENT_ID,
                TIMESTAMP,
                black_box(body.as_bytes()),
            )
        })
    });
    group.bench_function("two_secrets", |b| {
        b.iter(|| {
            header(
                black_box(&two),
                EVENT_ID,
                TIMESTAMP,
                black_box(body.as_bytes()),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
