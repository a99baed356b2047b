//! API key authentication on the request path, on a warm credential cache: the offline
//! format and CRC32 check alone (for a good key and for a mistyped one, refused before any
//! lookup), the secret → cached credential lookup (check, SHA-256, cache read), and the whole
//! `Authenticator::authenticate` the limits middleware runs on every keyed request.

use std::hint::black_box;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use criterion::{Criterion, criterion_group, criterion_main};
use easel_core::account::AccountState;
use easel_core::api_key;
use easel_core::mode::Mode;
use easel_core::roles::{Role, Scope};
use easel_db::{ApiKey, Credential, LimitOverrides};
use easel_server::auth::Authenticator;
use easel_server::auth::cache::CredentialCache;

const PREFIX: &str = "vs";
/// Credentials in the cache besides the one looked up, so the lookup reads a map of a busy
/// node's size rather than a one-entry map that always sits in the CPU cache.
const OTHER_KEYS: usize = 10_000;

/// A live key of an active account, as the store returns it.
fn credential(n: usize) -> Credential {
    Credential {
        key: ApiKey {
            id: format!("key_{n:026}"),
            account_id: format!("acct_{n:026}"),
            user_id: format!("user_{n:026}"),
            mode: Mode::Live,
            name: "production".into(),
            scopes: Scope::ALL.to_vec(),
            allowed_models: None,
            spend_cap: None,
            display_prefix: "vs_live_Ab3xQ9".into(),
            expires_at: None,
            revoked_at: None,
            rotated_at: None,
            previous_secret_expires_at: None,
            last_used_at: None,
            created_at: 1_700_000_000_000,
            cooldown_until: None,
            revoked_reason: None,
            leak: None,
        },
        secret_expires_at: None,
        role: Some(Role::Developer),
        account_state: AccountState::Active,
        account_suspended_until: None,
        account_plan: "free".into(),
        account_live_blocked: None,
        account_limits: LimitOverrides::default(),
    }
}

/// Fills `cache` with `OTHER_KEYS` credentials plus the returned secret's.
fn warm(cache: &CredentialCache) -> String {
    for n in 0..OTHER_KEYS {
        let other = api_key::generate(PREFIX, Mode::Live);
        cache.insert(other.hash, credential(n + 1), 0);
    }
    let key = api_key::generate(PREFIX, Mode::Live);
    cache.insert(key.hash, credential(0), 0);
    key.secret
}

/// The same key with its last checksum character changed: well formed, wrong checksum.
fn mistyped(secret: &str) -> String {
    let (head, last) = secret.split_at(secret.len() - 1);
    let swapped = if last == "a" { "b" } else { "a" };
    format!("{head}{swapped}")
}

/// Secret → cached credential, as `Authenticator::authenticate` does before its checks.
fn lookup(cache: &CredentialCache, secret: &str) -> bool {
    api_key::parse(PREFIX, secret).is_ok() && cache.get(&api_key::hash(secret)).is_some()
}

fn bench(c: &mut Criterion) {
    // The authenticator needs a store; on a warm cache it is never asked.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime starts");
    let store = runtime
        .block_on(easel_db::connect("sqlite::memory:", 1))
        .expect("an in-memory SQLite store opens");
    let auth = Authenticator::new(store, PREFIX.into());
    let secret = warm(&auth.cache);
    let bad = mistyped(&secret);
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {secret}")).expect("an ASCII header"),
    );
    let authenticate = || {
        // No await is reached on a hit, so a minimal executor measures the function alone.
        futures::executor::block_on(auth.authenticate(black_box(&headers), String::new()))
    };
    assert_eq!(api_key::parse(PREFIX, &secret), Ok(Mode::Live));
    assert_eq!(
        api_key::parse(PREFIX, &bad),
        Err(api_key::KeyFormatError::Checksum)
    );
    assert!(lookup(&auth.cache, &secret), "the key must be cached");
    assert!(authenticate().is_ok(), "the key must authenticate");
    assert_eq!(
        auth.db_lookups.load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    let mut group = c.benchmark_group("api_key");
    group.bench_function("parse_checksum", |b| {
        b.iter(|| api_key::parse(PREFIX, black_box(&secret)))
    });
    group.bench_function("reject_bad_checksum", |b| {
        b.iter(|| api_key::parse(PREFIX, black_box(&bad)))
    });
    group.bench_function("lookup_warm", |b| {
        b.iter(|| lookup(&auth.cache, black_box(&secret)))
    });
    group.bench_function("authenticate_warm", |b| b.iter(authenticate));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
