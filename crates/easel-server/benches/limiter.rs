//! The per-request limit check with the in-process (memory) backend, as the limits
//! middleware runs it: the four policies of a key (two partition HMACs, four bucket names),
//! then one atomic check-and-take over their buckets. For one hot key, and for many keys
//! of many accounts taken in turn (a fresh map entry per bucket on the first round, then
//! lookups spread over every shard and a map too big for the CPU cache).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use easel_core::mode::Mode;
use easel_server::limits::{Limiter, Limits};

/// Distinct keys, each of its own account.
const KEYS: usize = 10_000;

/// Quotas no benchmark run can use up, so every check is admitted and takes a unit: the
/// arithmetic is the same as for a real quota, which a run of millions of checks would
/// exhaust within a second. (The config refuses quotas above a million per window.)
const LIMITS: Limits = Limits {
    requests_per_minute: u32::MAX,
    requests_per_day: u32::MAX,
    concurrent_jobs: 1,
};

/// One counted request of `key_id`; true if admitted.
fn check(limiter: &Limiter, key_id: &str, account_id: &str) -> bool {
    let (policies, buckets) = limiter.policies(key_id, account_id, Mode::Live, &LIMITS);
    // Without Redis nothing is awaited, so a minimal executor measures the check alone.
    futures::executor::block_on(limiter.check(account_id, policies, &buckets, true)).admitted
}

fn bench(c: &mut Criterion) {
    let config = easel_server::config::load(None, &[("redis_url", String::new())])
        .expect("the default config loads");
    let limiter = Limiter::new(&config, "bench instance secret").expect("the limiter builds");
    let keys: Vec<(String, String)> = (0..KEYS)
        .map(|n| (format!("key_{n:026}"), format!("acct_{n:026}")))
        .collect();

    let mut group = c.benchmark_group("limiter_check");
    group.bench_function("one_key", |b| {
        let (key_id, account_id) = &keys[0];
        b.iter(|| {
            let admitted = check(&limiter, black_box(key_id), black_box(account_id));
            assert!(admitted, "every check must be admitted");
        })
    });
    group.bench_function("many_keys", |b| {
        let mut next = keys.iter().cycle();
        b.iter(|| {
            let (key_id, account_id) = next.next().expect("a cycle never ends");
            let admitted = check(&limiter, black_box(key_id), black_box(account_id));
            assert!(admitted, "every check must be admitted");
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
