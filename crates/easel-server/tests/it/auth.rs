//! Key authentication: every malformed or dead key, the checksum before any lookup, the
//! cache, revocation across nodes, batched last-used times.

use std::sync::atomic::Ordering;
use std::time::Duration;

use easel_test_utils::{TestDb, both_backends};
use reqwest::Method;
use serde_json::json;

use crate::support::{TestApp, eventually};

both_backends!(
    malformed_and_unknown_keys_are_refused_precisely,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let good = app.first.test_key.clone();
        let raw = |auth: Option<&str>| {
            let req = app.raw(Method::GET, "/v1/account");
            match auth {
                Some(a) => req.header("authorization", a.to_string()),
                None => req,
            }
        };
        app.send(raw(None))
            .await
            .expect_error(401, "api_key_missing");
        app.send(raw(Some("Basic dXNlcjpwdw==")))
            .await
            .expect_error(401, "invalid_authorization_header");
        app.send(raw(Some("Bearer")))
            .await
            .expect_error(401, "invalid_authorization_header");
        app.send(raw(Some(&format!("Token {good}"))))
            .await
            .expect_error(401, "invalid_authorization_header");
        let res = app
            .send(raw(Some(&format!(
                "Bearer {}",
                good.replacen("vs_", "sk_", 1)
            ))))
            .await
            .expect_error(401, "invalid_api_key");
        assert_eq!(res.body["error"]["type"], "authentication_error");
        app.send(raw(Some(&format!(
            "Bearer {}",
            good.replacen("_test_", "_prod_", 1)
        ))))
        .await
        .expect_error(401, "invalid_api_key");
        app.send(raw(Some(&format!("Bearer {}", &good[..good.len() - 1]))))
            .await
            .expect_error(401, "invalid_api_key");
        let mut flipped = good.clone().into_bytes();
        let i = flipped.len() - 10;
        flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap_or_default();
        let res = app
            .send(raw(Some(&format!("Bearer {flipped}"))))
            .await
            .expect_error(401, "invalid_api_key");
        assert!(
            res.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("checksum"),
            "{}",
            res.body
        );
        // Non-ASCII bytes in the header.
        let weird = reqwest::header::HeaderValue::from_bytes(b"Bearer vs_test_\xe9\xe9")
            .unwrap_or_else(|e| panic!("{e}"));
        app.send(
            app.raw(Method::GET, "/v1/account")
                .header("authorization", weird),
        )
        .await
        .expect_error(401, "invalid_authorization_header");
        // A well-formed key with a valid checksum that does not exist.
        let unknown = easel_core::api_key::generate("vs", easel_core::mode::Mode::Test).secret;
        let res = app
            .send(raw(Some(&format!("Bearer {unknown}"))))
            .await
            .expect_error(401, "invalid_api_key");
        assert!(
            res.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("no such key")
        );
        // And the real one works, case-insensitive scheme.
        app.send(raw(Some(&format!("bearer {good}"))))
            .await
            .expect(200);
        app.stop().await;
    }
);

both_backends!(
    bad_checksums_never_reach_the_database_and_known_keys_are_cached,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let lookups = || app.state.auth.db_lookups.load(Ordering::Relaxed);
        let (_, good) = app.account("cache@example.com", "test").await;
        // Let the change poller (every 100 ms in tests) see the account's creation first: a
        // change it has not seen yet rightly evicts entries loaded before it noticed.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let bad = format!("{}{}", &good[..good.len() - 6], "000000");
        let before = lookups();
        for _ in 0..20 {
            app.get("/v1/account", &bad)
                .await
                .expect_error(401, "invalid_api_key");
        }
        assert_eq!(
            lookups(),
            before,
            "a bad checksum must be refused before any lookup"
        );
        for _ in 0..20 {
            app.get("/v1/account", &good).await.expect(200);
        }
        assert_eq!(
            lookups(),
            before + 1,
            "a known key is looked up once, then served from the cache"
        );
        app.stop().await;
    }
);

both_backends!(
    revocation_is_immediate_here_and_within_a_second_elsewhere,
    |db: TestDb| async move {
        let a = TestApp::start(&db).await;
        let b = TestApp::start(&db).await;
        let (_, key) = a.account("rev@example.com", "live").await;
        let created = a
            .post("/v1/keys", &key, json!({"name": "to revoke"}))
            .await
            .expect(201);
        let (id, secret) = (
            created.body["id"].as_str().unwrap_or_default().to_string(),
            created.body["secret"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        a.get("/v1/account", &secret).await.expect(200);
        b.get("/v1/account", &secret).await.expect(200);
        let revoked = a.delete(&format!("/v1/keys/{id}"), &key).await.expect(200);
        assert_eq!(revoked.body["status"], "revoked");
        a.get("/v1/account", &secret)
            .await
            .expect_error(401, "api_key_revoked");
        let started = std::time::Instant::now();
        let seen = eventually(1_000, || async {
            b.get("/v1/account", &secret).await.status == 401
        })
        .await;
        assert!(
            seen,
            "node b still accepts a revoked key after {:?}",
            started.elapsed()
        );
        b.get("/v1/account", &secret)
            .await
            .expect_error(401, "api_key_revoked");
        // Revoking again is harmless and changes nothing.
        let again = a.delete(&format!("/v1/keys/{id}"), &key).await.expect(200);
        assert_eq!(again.body["revoked_at"], revoked.body["revoked_at"]);
        b.stop().await;
        a.stop().await;
    }
);

both_backends!(expired_keys_stop_working, |db: TestDb| async move {
    let app = TestApp::start(&db).await;
    let (_, key) = app.account("exp@example.com", "test").await;
    let soon = easel_core::time::now_ms() / 1000 + 2;
    let created = app
        .post(
            "/v1/keys",
            &key,
            json!({"name": "short", "expires_at": soon}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["expires_at"], soon);
    let secret = created.body["secret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    app.get("/v1/account", &secret).await.expect(200);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    app.get("/v1/account", &secret)
        .await
        .expect_error(401, "api_key_expired");
    let id = created.body["id"].as_str().unwrap_or_default();
    let shown = app.get(&format!("/v1/keys/{id}"), &key).await.expect(200);
    assert_eq!(shown.body["status"], "expired");
    for bad in [
        json!(1),
        json!(soon - 10),
        json!(i64::MAX),
        json!("tomorrow"),
    ] {
        let res = app
            .post("/v1/keys", &key, json!({"name": "x", "expires_at": bad}))
            .await
            .expect(400);
        assert_eq!(res.param(), "expires_at");
    }
    app.stop().await;
});

/// The stored `last_used_at` of the account's first key.
async fn stored_last_used(app: &TestApp, account_id: &str) -> Option<i64> {
    let keys = app
        .state
        .store
        .list_keys(account_id, None, easel_db::Page::first(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys[0].last_used_at
}

both_backends!(last_used_is_recorded_in_batches, |db: TestDb| async move {
    let app = TestApp::start(&db).await;
    let flushes = || app.state.auth.usage_flushes.load(Ordering::Relaxed);
    let (account_id, key) = app.account("used@example.com", "test").await;
    assert_eq!(stored_last_used(&app, &account_id).await, None);
    let before = easel_core::time::now_ms();
    let (started, first) = (std::time::Instant::now(), flushes());
    for _ in 0..50 {
        app.get("/v1/account", &key).await.expect(200);
    }
    // Not written per request: the flusher (every second in tests) records it.
    let recorded = eventually(3_000, || async {
        stored_last_used(&app, &account_id)
            .await
            .is_some_and(|t| t >= before - 1000)
    })
    .await;
    assert!(recorded, "last_used_at was not flushed");
    // 50 uses took at most one write per tick of the flusher while they were made, and
    // at least one.
    let (written, ticks) = (flushes() - first, started.elapsed().as_secs() + 2);
    assert!(
        (1..=ticks).contains(&written) && written < 50,
        "{written} flushes for 50 requests in {ticks} ticks"
    );
    let listed = app.get("/v1/keys", &key).await.expect(200);
    assert!(listed.body["data"][0]["last_used_at"].as_i64().is_some());
    app.stop().await;
});

both_backends!(
    last_used_is_written_only_when_flushed,
    |db: TestDb| async move {
        // The flusher's own ticks never come during the test: only explicit flushes write.
        let app = TestApp::start_with(&db, |c| c.api_keys.last_used_flush_seconds = 3_600).await;
        let flushes = || app.state.auth.usage_flushes.load(Ordering::Relaxed);
        let (account_id, key) = app.account("batched@example.com", "test").await;
        // Its first tick fires at start; let it pass with nothing to write.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let first = flushes();
        let before = easel_core::time::now_ms();
        for _ in 0..50 {
            app.get("/v1/account", &key).await.expect(200);
        }
        assert_eq!(flushes(), first, "no write before the flush");
        assert_eq!(
            stored_last_used(&app, &account_id).await,
            None,
            "50 requests wrote nothing by themselves"
        );
        app.state.auth.flush_usage().await;
        assert_eq!(flushes(), first + 1, "one write for 50 requests");
        let used = stored_last_used(&app, &account_id).await;
        let after = easel_core::time::now_ms();
        assert!(
            used.is_some_and(|t| (before..=after).contains(&t)),
            "{used:?} not within [{before}, {after}]"
        );
        // Nothing used since: a flush has nothing to write and skips the database.
        app.state.auth.flush_usage().await;
        assert_eq!(flushes(), first + 1);
        app.stop().await;
    }
);
