//! Request limits end to end, in memory and on Redis, on both databases: exact quotas under
//! a burst, truthful Retry-After, the RateLimit fields on every authenticated response, key
//! and account scopes, counted routes, cool-downs, concurrent jobs, two processes sharing
//! Redis, and Redis dying mid-test.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use easel_server::config::Config;
use easel_test_utils::{Backend, TestDb, both_backends};
use serde_json::json;

use crate::generations::{create, grant, text, until, with_test_models};
use crate::support::binary::admin;
use crate::support::{Res, TestApp, eventually};

#[derive(Clone, Copy, Debug)]
enum Store {
    Memory,
    Redis,
}

/// The free plan with the given per-minute and per-day quotas, and no cool-downs (the
/// bursts here are refused hundreds of times on purpose).
fn limited(config: &mut Config, per_minute: u32, per_day: u32) {
    config.limits.cooldown_rejections = 0;
    if let Some(free) = config.plans.get_mut("free") {
        free.requests_per_minute = per_minute;
        free.requests_per_day = per_day;
    }
}

async fn start(db: &TestDb, store: Store, tweak: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::start_with(db, |c| {
        with_test_models(c);
        tweak(c);
        if let Store::Redis = store {
            c.redis_url = easel_test_utils::redis_url();
        }
    })
    .await
}

fn header(res: &Res, name: &str) -> Option<String> {
    res.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Parses a RateLimit or RateLimit-Policy field: policy name → its parameters, checking
/// the RFC 9651 list syntax this server writes.
fn members(field: &str) -> Vec<(String, Vec<(String, String)>)> {
    field
        .split(", ")
        .map(|member| {
            let mut parts = member.split(';');
            let name = parts.next().unwrap_or_default();
            assert!(
                name.len() > 2 && name.starts_with('"') && name.ends_with('"'),
                "a policy name is a String: {field}"
            );
            let params = parts
                .map(|p| {
                    let (k, v) = p
                        .split_once('=')
                        .unwrap_or_else(|| panic!("param without value in {field}"));
                    (k.to_string(), v.to_string())
                })
                .collect();
            (name.trim_matches('"').to_string(), params)
        })
        .collect()
}

fn param(members: &[(String, Vec<(String, String)>)], policy: &str, key: &str) -> i64 {
    members
        .iter()
        .find(|(name, _)| name == policy)
        .and_then(|(_, params)| params.iter().find(|(k, _)| k == key))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no {policy}.{key} in {members:?}"))
}

/// Checks both fields are present and well-formed; returns RateLimit's members.
fn rate_limit(res: &Res) -> Vec<(String, Vec<(String, String)>)> {
    let policy = header(res, "ratelimit-policy")
        .unwrap_or_else(|| panic!("no RateLimit-Policy on a {} response", res.status));
    let current = header(res, "ratelimit")
        .unwrap_or_else(|| panic!("no RateLimit on a {} response", res.status));
    let policy = members(&policy);
    let current = members(&current);
    let names: Vec<&str> = policy.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["key-minute", "key-day", "account-minute", "account-day"]
    );
    for (name, params) in &policy {
        let keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["q", "w", "pk"], "{name}");
        let pk = &params[2].1;
        assert!(
            pk.len() > 2 && pk.starts_with(':') && pk.ends_with(':'),
            "pk is a Byte Sequence: {pk}"
        );
        let w = param(&policy, name, "w");
        assert_eq!(w, if name.ends_with("minute") { 60 } else { 86_400 });
    }
    for (name, params) in &current {
        let keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["r", "t", "pk"], "{name}");
        assert!(param(&current, name, "r") <= param(&policy, name, "q"));
    }
    current
}

fn retry_after(res: &Res) -> u64 {
    header(res, "retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After on {}: {}", res.status, res.body))
}

/// Fires `n` requests at once; returns the responses.
async fn burst(app: &TestApp, key: &str, path: &str, n: usize) -> Vec<Res> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        tasks.push(app.raw(reqwest::Method::GET, path).bearer_auth(key).send());
    }
    let mut out = Vec::new();
    for res in futures::future::join_all(tasks).await {
        let res = res.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.json().await.unwrap_or_else(|e| panic!("{e}"));
        out.push(Res {
            status,
            headers,
            body,
        });
    }
    out
}

fn count(responses: &[Res], status: u16) -> usize {
    responses.iter().filter(|r| r.status == status).count()
}

async fn exactly_the_quota_then_an_honest_retry_after(db: TestDb, store: Store) {
    let app = start(&db, store, |c| limited(c, 50, 1000)).await;
    let (_, key) = app.account("burst@example.com", "live").await;

    let responses = burst(&app, &key, "/v1/account", 300).await;
    assert_eq!(
        (count(&responses, 200), count(&responses, 429)),
        (50, 250),
        "exactly the minute's quota of 300 simultaneous requests"
    );
    for res in &responses {
        let current = rate_limit(res);
        if res.status == 429 {
            assert_eq!(res.body["error"]["code"], "rate_limit_exceeded");
            assert_eq!(res.body["error"]["type"], "rate_limit_error");
            let details = &res.body["error"]["details"];
            assert_eq!(details["limit"], "requests_per_minute");
            assert_eq!(details["quota"], 50);
            assert_eq!(details["window_seconds"], 60);
            assert_eq!(param(&current, "key-minute", "r"), 0);
            let wait = retry_after(res);
            assert!(
                (1..=2).contains(&wait),
                "one request comes back every 1.2 s: {wait}"
            );
            assert!(
                i64::try_from(wait).unwrap_or(0) >= param(&current, "key-minute", "t"),
                "Retry-After is never earlier than t"
            );
        }
    }
    // Refused now; admitted after waiting what Retry-After said.
    let refused = app.get("/v1/account", &key).await.expect(429);
    let wait = retry_after(&refused);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let ok = app.get("/v1/account", &key).await.expect(200);
    let current = rate_limit(&ok);
    assert_eq!(
        param(&current, "key-minute", "r"),
        0,
        "the unit just came back is used"
    );
    assert_eq!(
        param(&current, "key-day", "r"),
        1000 - 51,
        "the day counts every admitted request, and no refused one"
    );
    // Quota comes back as `t` says, one unit at a time.
    let refused = app.get("/v1/account", &key).await.expect(429);
    let t = param(&rate_limit(&refused), "key-minute", "t");
    tokio::time::sleep(Duration::from_secs(u64::try_from(t).unwrap_or(1))).await;
    app.get("/v1/account", &key).await.expect(200);

    // Errors after authentication carry the fields too; authentication failures do not.
    let missing = app
        .get("/v1/generations/gen_00000000000000000000000000", &key)
        .await;
    assert!(matches!(missing.status, 404 | 429), "{}", missing.body);
    rate_limit(&missing);
    let anonymous = app.call("GET", "/v1/account", None, None).await.expect(401);
    assert!(header(&anonymous, "ratelimit").is_none());
    app.stop().await;
}

both_backends!(exactly_the_quota_in_memory, |db: TestDb| {
    exactly_the_quota_then_an_honest_retry_after(db, Store::Memory)
});
both_backends!(exactly_the_quota_on_redis, |db: TestDb| {
    exactly_the_quota_then_an_honest_retry_after(db, Store::Redis)
});

async fn day_and_account_scopes(db: TestDb, store: Store) {
    let app = start(&db, store, |c| limited(c, 20, 30)).await;
    let (account_id, first) = app.account("scopes@example.com", "live").await;
    let second = app.owner_key(&account_id, "live").await;

    // The first key takes 12 of the account's 20 per minute; the second gets the other 8.
    let a = burst(&app, &first, "/v1/account", 12).await;
    assert_eq!(count(&a, 200), 12);
    let b = burst(&app, &second, "/v1/account", 20).await;
    assert_eq!(count(&b, 200), 8);
    let refused = b
        .iter()
        .find(|r| r.status == 429)
        .unwrap_or_else(|| panic!("none refused"));
    let details = &refused.body["error"]["details"];
    assert_eq!(details["scope"], "account", "{}", refused.body);
    assert_eq!(details["policy"], "account-minute");
    let current = rate_limit(refused);
    assert_eq!(param(&current, "account-minute", "r"), 0);
    assert_eq!(
        param(&current, "key-minute", "r"),
        12,
        "the second key's own quota is untouched"
    );
    // A test key of the same account has its own (test-mode) account quota.
    let test_key = app.owner_key(&account_id, "test").await;
    app.get("/v1/account", &test_key).await.expect(200);

    // The day, on another account whose operator override raises the minute: 30 a day.
    let (other_id, other) = app.account("day@example.com", "live").await;
    let overrides = easel_db::LimitOverrides {
        requests_per_minute: Some(1000),
        requests_per_day: Some(30),
        concurrent_jobs: None,
    };
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
    app.state
        .store
        .set_plan(&other_id, "free", overrides, audit)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.state.auth.invalidate_account(&other_id);
    let c = burst(&app, &other, "/v1/account", 50).await;
    assert_eq!((count(&c, 200), count(&c, 429)), (30, 20));
    let day_refusal = c
        .iter()
        .find(|r| r.status == 429)
        .unwrap_or_else(|| panic!("none refused"));
    assert_eq!(
        day_refusal.body["error"]["details"]["limit"],
        "requests_per_day"
    );
    assert_eq!(day_refusal.body["error"]["details"]["quota"], 30);
    let wait = retry_after(day_refusal);
    assert!(
        (2800..=2880).contains(&wait),
        "a day's unit comes back every 2880 s: {wait}"
    );
    let current = rate_limit(day_refusal);
    // 30 taken from the minute's 1000; it refills one every 60 ms, so a burst slowed
    // down by a busy machine may have earned a unit or two back.
    let minute_left = param(&current, "key-minute", "r");
    assert!(
        (1000 - 30..=1000 - 27).contains(&minute_left),
        "the minute bucket after 30 admitted: {minute_left}"
    );
    app.stop().await;
}

both_backends!(day_and_account_scopes_in_memory, |db: TestDb| {
    day_and_account_scopes(db, Store::Memory)
});
both_backends!(day_and_account_scopes_on_redis, |db: TestDb| {
    day_and_account_scopes(db, Store::Redis)
});

both_backends!(
    only_the_configured_requests_count,
    |db: TestDb| async move {
        let app = start(&db, Store::Memory, |c| {
            limited(c, 3, 100);
            c.limits.count = vec!["POST /v1/generations/quote".into()];
        })
        .await;
        let (_, key) = app.account("subset@example.com", "test").await;
        for _ in 0..10 {
            let res = app.get("/v1/account", &key).await.expect(200);
            assert_eq!(
                param(&rate_limit(&res), "key-minute", "r"),
                3,
                "not counted"
            );
        }
        let quote = json!({"model": "sandbox-image", "prompt": "x", "width": 256, "height": 256});
        for left in [2, 1, 0] {
            let res = app
                .post("/v1/generations/quote", &key, quote.clone())
                .await
                .expect(200);
            assert_eq!(param(&rate_limit(&res), "key-minute", "r"), left);
        }
        app.post("/v1/generations/quote", &key, quote)
            .await
            .expect_error(429, "rate_limit_exceeded");
        app.get("/v1/account", &key).await.expect(200);
        app.stop().await;
    }
);

both_backends!(
    persistent_violation_cools_the_key_down,
    |db: TestDb| async move {
        let app = start(&db, Store::Memory, |c| {
            limited(c, 60, 10_000);
            c.limits.cooldown_rejections = 3;
            c.limits.cooldown_seconds = 3;
        })
        .await;
        let (account_id, key) = app.account("cooldown@example.com", "live").await;
        let other = app.owner_key(&account_id, "live").await;

        let first = burst(&app, &key, "/v1/account", 64).await;
        assert_eq!(count(&first, 200), 60);
        assert_eq!(
            count(&first, 429),
            4,
            "four rejections: one past the threshold"
        );
        let cooled = app
            .get("/v1/account", &key)
            .await
            .expect_error(429, "key_cooldown");
        assert!((1..=3).contains(&retry_after(&cooled)));
        rate_limit(&cooled);
        let until = cooled.body["error"]["details"]["cooldown_until"]
            .as_i64()
            .unwrap_or_default();
        assert!(until > 0);
        // The account's other key is limited (the account's minute is used up) but not
        // cooled down.
        let refused = app.get("/v1/account", &other).await.expect(429);
        assert_eq!(refused.body["error"]["code"], "rate_limit_exceeded");

        // Once the cool-down is over (and a few requests came back): visible on the key,
        // as an event and in the audit log, and the key works again.
        tokio::time::sleep(Duration::from_millis(3_300)).await;
        let keys = app.get("/v1/keys", &other).await.expect(200).body;
        let cooled_key = keys["data"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["cooldown_until"].is_i64()).cloned())
            .unwrap_or_else(|| panic!("no key shows its cool-down: {keys}"));
        assert_eq!(cooled_key["cooldown_until"], until);
        let events = app.get("/v1/events", &other).await.expect(200).body;
        let event = events["data"]
            .as_array()
            .and_then(|e| {
                e.iter()
                    .find(|e| e["type"] == "api_key.cooldown_started")
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no cool-down event: {events}"));
        assert_eq!(event["data"]["cooldown_until"], until);
        assert_eq!(event["data"]["id"], cooled_key["id"]);
        let audit = admin(&db, &["audit", "--account", &account_id]);
        assert!(
            audit
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["action"] == "key.cooldown_started")),
            "{audit}"
        );
        app.get("/v1/account", &key).await.expect(200);
        app.stop().await;
    }
);

both_backends!(
    concurrent_jobs_are_exact_and_freed_when_a_job_ends,
    |db: TestDb| async move {
        let app = start(&db, Store::Memory, |c| {
            let mut failing = c.models["sandbox-image"].clone();
            failing
                .settings
                .insert("delay_ms".into(), toml::Value::Integer(1500));
            failing
                .settings
                .insert("fail_always".into(), toml::Value::Boolean(true));
            failing.max_attempts = 1;
            let mut brief = c.models["sandbox-image"].clone();
            brief
                .settings
                .insert("delay_ms".into(), toml::Value::Integer(1500));
            c.models.insert("slow-failing".into(), failing);
            c.models.insert("brief-success".into(), brief);
            if let Some(free) = c.plans.get_mut("free") {
                free.concurrent_jobs = 2;
            }
        })
        .await;
        let (account_id, key) = app.account("jobs@example.com", "live").await;
        grant(&app, &account_id, 1_000_000).await;
        let slow = json!({"model": "slow-image", "prompt": "slow", "width": 256, "height": 256});
        let failing =
            json!({"model": "slow-failing", "prompt": "fails", "width": 256, "height": 256});
        let a = create(&app, &key, slow.clone(), None)
            .await
            .expect(202)
            .body;
        let b = create(&app, &key, failing, None).await.expect(202).body;
        // The third is refused, with the limit named and nothing queued or held.
        let refused = create(&app, &key, slow.clone(), None)
            .await
            .expect_error(429, "rate_limit_exceeded");
        let details = &refused.body["error"]["details"];
        assert_eq!(details["limit"], "concurrent_jobs", "{}", refused.body);
        assert_eq!(details["scope"], "account");
        assert_eq!(details["quota"], 2);
        assert!(retry_after(&refused) >= 1);
        rate_limit(&refused);
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) FROM generations WHERE account_id = '{account_id}'"
            ))
            .await,
            2
        );
        // A failed job frees its slot the moment it ends.
        until(&app, &key, &text(&b["id"]), &["failed"]).await;
        let c = create(&app, &key, slow.clone(), None)
            .await
            .expect(202)
            .body;
        create(&app, &key, slow.clone(), None)
            .await
            .expect_error(429, "rate_limit_exceeded");
        // So does a canceled one.
        app.post(
            &format!("/v1/generations/{}/cancel", text(&a["id"])),
            &key,
            json!({}),
        )
        .await
        .expect(200);
        let d = create(&app, &key, slow.clone(), None)
            .await
            .expect(202)
            .body;
        // And one that succeeds.
        app.post(
            &format!("/v1/generations/{}/cancel", text(&c["id"])),
            &key,
            json!({}),
        )
        .await
        .expect(200);
        let brief =
            json!({"model": "brief-success", "prompt": "done soon", "width": 256, "height": 256});
        let e = create(&app, &key, brief, None).await.expect(202).body;
        create(&app, &key, slow.clone(), None)
            .await
            .expect_error(429, "rate_limit_exceeded");
        until(&app, &key, &text(&e["id"]), &["succeeded"]).await;
        let f = create(&app, &key, slow.clone(), None)
            .await
            .expect(202)
            .body;
        // Test mode has its own slots.
        let test_key = app.owner_key(&account_id, "test").await;
        create(&app, &test_key, slow.clone(), None)
            .await
            .expect(202);
        for g in [d, f] {
            app.post(
                &format!("/v1/generations/{}/cancel", text(&g["id"])),
                &key,
                json!({}),
            )
            .await
            .expect(200);
        }
        // Concurrent creations at the limit: exactly two of twenty get in.
        let mut tasks = Vec::new();
        for _ in 0..20 {
            tasks.push(create(&app, &key, slow.clone(), None));
        }
        let statuses: Vec<u16> = futures::future::join_all(tasks)
            .await
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 202).count(),
            2,
            "{statuses:?}"
        );
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 18);
        app.stop().await;
    }
);

/// A private Redis server, to kill and restart.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server must be installed (scripts/test installs it): {e}")
            });
        let ready = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(ready, "redis-server did not start on {port}");
        PrivateRedis {
            port,
            child: Some(child),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Fires `n` requests spread over `apps`; returns the statuses.
async fn spread(apps: &[&TestApp], key: &str, n: usize) -> Vec<u16> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = apps[i % apps.len()];
        tasks.push(
            app.raw(reqwest::Method::GET, "/v1/account")
                .bearer_auth(key)
                .send(),
        );
    }
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.map(|r| r.status().as_u16()).unwrap_or(0))
        .collect()
}

both_backends!(
    redis_dying_degrades_to_per_node_limits_and_recovers,
    |db: TestDb| async move {
        let mut redis = PrivateRedis::start(crate::process::free_port());
        let url = redis.url();
        let setup = |c: &mut Config| {
            limited(c, 40, 10_000);
            c.redis_url = url.clone();
            c.limits.redis_timeout_ms = 200;
            c.limits.redis_retry_ms = 300;
        };
        let one = start(&db, Store::Memory, setup).await;
        let two = start(&db, Store::Memory, setup).await;
        let (_, key) = one.account("redis-outage@example.com", "live").await;

        let shared = spread(&[&one, &two], &key, 100).await;
        assert_eq!(
            (
                shared.iter().filter(|s| **s == 200).count(),
                shared.iter().filter(|s| **s == 429).count()
            ),
            (40, 60),
            "two nodes share one quota through Redis"
        );

        redis.kill();
        let degraded = spread(&[&one, &two], &key, 100).await;
        assert!(
            degraded.iter().all(|s| *s == 200 || *s == 429),
            "never a 5xx while Redis is down: {degraded:?}"
        );
        let admitted = degraded.iter().filter(|s| **s == 200).count();
        assert!(
            (1..=80).contains(&admitted),
            "each node limits on its own (at most its quota): {admitted}"
        );
        assert!(
            one.state
                .limiter
                .metrics
                .redis_fallbacks
                .load(Ordering::Relaxed)
                > 0
        );
        assert!(one.state.limiter.redis_degraded());

        let _back = PrivateRedis::start(redis.port);
        // Once each node retries Redis, the quota is shared again.
        let recovered = eventually(10_000, || async {
            let _ = spread(&[&one, &two], &key, 2).await;
            !one.state.limiter.redis_degraded() && !two.state.limiter.redis_degraded()
        })
        .await;
        assert!(recovered, "both nodes went back to Redis");
        // The restarted Redis is empty: a new account shows the shared quota exactly.
        let (_, fresh) = one.account("after-outage@example.com", "live").await;
        let again = spread(&[&one, &two], &fresh, 100).await;
        assert_eq!(
            (
                again.iter().filter(|s| **s == 200).count(),
                again.iter().filter(|s| **s == 429).count()
            ),
            (40, 60),
            "shared again across both nodes"
        );
        one.stop().await;
        two.stop().await;
    }
);

#[test]
fn two_processes_share_one_quota_through_redis() {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let db = rt.block_on(TestDb::new(Backend::Postgres));
    let redis = easel_test_utils::redis_url();
    let env = [
        ("EASEL_REDIS_URL", redis.as_str()),
        ("EASEL_PLANS__FREE__REQUESTS_PER_MINUTE", "60"),
    ];
    let one = crate::process::Server::spawn(&db, &[], &env);
    let two = crate::process::Server::spawn(&db, &[], &env);
    let account = admin(
        &db,
        &[
            "account",
            "create",
            "--name",
            "Shared",
            "--owner-email",
            "shared@example.com",
            "--adult-attested",
        ],
    );
    let account_id = text(&account["id"]);
    let key = admin(
        &db,
        &[
            "key",
            "create",
            "--account",
            &account_id,
            "--mode",
            "live",
            "--name",
            "shared",
        ],
    );
    let key = text(&key["secret"]);
    let urls = [one.url.clone(), two.url.clone()];
    let statuses: Vec<u16> = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let url = format!("{}/v1/account", urls[i % 2]);
            tasks.push(client.get(url).bearer_auth(&key).send());
        }
        futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.map(|r| r.status().as_u16()).unwrap_or(0))
            .collect()
    });
    assert_eq!(
        (
            statuses.iter().filter(|s| **s == 200).count(),
            statuses.iter().filter(|s| **s == 429).count()
        ),
        (60, 140),
        "exactly 60 across both processes: {statuses:?}"
    );
}

both_backends!(
    the_account_shows_its_limits_and_metrics_count_refusals,
    |db: TestDb| async move {
        let app = start(&db, Store::Memory, |c| {
            limited(c, 2, 100);
            c.metrics.token = "scrape-token".into();
        })
        .await;
        let (_, key) = app.account("metrics@example.com", "live").await;
        let account = app.get("/v1/account", &key).await.expect(200).body;
        assert_eq!(account["limits"]["requests_per_minute"], 2);
        assert_eq!(account["limits"]["requests_per_day"], 100);
        let refused = burst(&app, &key, "/v1/account", 5).await;
        assert_eq!(count(&refused, 429), 4, "one was used by the first call");

        // As a remote scraper: relayed by a proxy, so loopback does not stand in for the token.
        let scrape = |token: Option<&str>| {
            let mut req = app
                .raw(reqwest::Method::GET, "/metrics")
                .header("x-forwarded-for", "203.0.113.4");
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            req.send()
        };
        let wrong = scrape(Some("nope")).await.map(|r| r.status().as_u16()).ok();
        assert_eq!(wrong, Some(401));
        assert_eq!(
            scrape(None).await.map(|r| r.status().as_u16()).ok(),
            Some(401)
        );
        let ok = scrape(Some("scrape-token"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.status().as_u16(), 200);
        assert_eq!(
            ok.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let body = ok.text().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            body.contains(
                "# TYPE easel_ratelimit_rejected_total counter\neasel_ratelimit_rejected_total 4\n"
            ),
            "{body}"
        );
        assert!(body.contains("easel_ratelimit_redis_degraded 0\n"));
        assert!(body.ends_with('\n'));
        app.stop().await;

        // Without a token the route does not exist for anyone but this machine.
        let closed = TestApp::start(&db).await;
        let res = closed
            .raw(reqwest::Method::GET, "/metrics")
            .header("x-forwarded-for", "203.0.113.4")
            .send()
            .await;
        assert_eq!(res.map(|r| r.status().as_u16()).ok(), Some(404));
        closed.stop().await;
    }
);

both_backends!(
    limits_switched_off_admit_everything_without_fields,
    |db: TestDb| async move {
        let app = start(&db, Store::Memory, |c| {
            limited(c, 2, 2);
            c.limits.enabled = false;
        })
        .await;
        let (_, key) = app.account("unlimited@example.com", "live").await;
        let responses = burst(&app, &key, "/v1/account", 20).await;
        assert_eq!(count(&responses, 200), 20);
        assert!(responses.iter().all(|r| header(r, "ratelimit").is_none()));
        app.stop().await;
    }
);

both_backends!(
    of_racing_nodes_exactly_one_starts_a_cooldown,
    |db: TestDb| async move {
        let app = start(&db, Store::Memory, |_| {}).await;
        let (account_id, _) = app.account("race-cooldown@example.com", "live").await;
        let keys = app
            .state
            .store
            .list_keys(&account_id, None, easel_db::Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let key_id = keys.first().map(|k| k.id.clone()).unwrap_or_default();
        let until = easel_core::time::now_ms() + 60_000;
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let store = std::sync::Arc::clone(&app.state.store);
            let (account_id, key_id) = (account_id.clone(), key_id.clone());
            tasks.push(tokio::spawn(async move {
                let audit = easel_db::AuditContext::new(easel_core::audit::Actor::system(), None);
                store
                    .start_key_cooldown(&account_id, &key_id, until, audit)
                    .await
            }));
        }
        let mut started = 0;
        for task in tasks {
            match task.await {
                Ok(Ok(Some(key))) => {
                    started += 1;
                    assert_eq!(key.cooldown_until, Some(until));
                }
                Ok(Ok(None)) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(started, 1);
        let entries = db
            .count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = 'key.cooldown_started' AND target_id = '{key_id}'"))
            .await;
        let events = db
            .count(&format!("SELECT COUNT(*) FROM events WHERE type = 'api_key.cooldown_started' AND account_id = '{account_id}'"))
            .await;
        assert_eq!((entries, events), (1, 1));
        // Another account's key: not found, nothing written.
        let (other_account, _) = app.account("race-other@example.com", "live").await;
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::system(), None);
        let err = app
            .state
            .store
            .start_key_cooldown(&other_account, &key_id, until, audit)
            .await;
        assert!(matches!(err, Err(easel_db::DbError::NotFound)), "{err:?}");
        app.stop().await;
    }
);
