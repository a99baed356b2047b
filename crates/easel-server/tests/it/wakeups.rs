//! Wake-ups instead of polling: another node learns of a change when it is made (the
//! database's notifications on PostgreSQL, the watched database file on SQLite), and a
//! notification that never arrives is caught by the slow safety-net poll.

use std::time::{Duration, Instant};

use easel_test_utils::{Backend, TestDb, both_backends};
use serde_json::json;
use sqlx::Connection;

use crate::support::{TestApp, eventually};

/// A key created through `a`, used once on `b` (so `b` has it cached): (id, secret).
async fn cached_on_both(a: &TestApp, b: &TestApp, admin_key: &str, n: usize) -> (String, String) {
    let created = a
        .post("/v1/keys", admin_key, json!({"name": format!("key {n}")}))
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    let secret = created.body["secret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    b.get("/v1/account", &secret).await.expect(200);
    (id, secret)
}

both_backends!(
    revocations_reach_another_node_without_waiting_for_its_poll,
    |db: TestDb| async move {
        // A safety net of 20 minutes: only the wake-up can tell `b` in time. On SQLite it
        // is the watch of the database file, every `invalidation_poll_ms` at most.
        let poll_ms = match db.backend {
            Backend::Postgres => 60_000,
            Backend::Sqlite => 100,
        };
        let a = TestApp::start_with(&db, |c| c.api_keys.invalidation_poll_ms = poll_ms).await;
        let b = TestApp::start_with(&db, |c| c.api_keys.invalidation_poll_ms = poll_ms).await;
        let (_, admin_key) = a.account("wake@example.com", "live").await;
        let mut seen_after = Vec::new();
        for n in 0..10 {
            let (id, secret) = cached_on_both(&a, &b, &admin_key, n).await;
            a.delete(&format!("/v1/keys/{id}"), &admin_key)
                .await
                .expect(200);
            let revoked = Instant::now();
            let seen = eventually(3_000, || async {
                b.get("/v1/account", &secret).await.status == 401
            })
            .await;
            assert!(
                seen,
                "node b still accepts key {n} 3 s after its revocation"
            );
            seen_after.push(revoked.elapsed());
        }
        seen_after.sort();
        let worst = seen_after[seen_after.len() - 1];
        // A generous bound for a busy test machine; BENCHMARKS.md has the real figure.
        assert!(
            worst < Duration::from_millis(1_000),
            "revocations reached the other node after {seen_after:?}"
        );
        b.stop().await;
        a.stop().await;
    }
);

#[tokio::test]
async fn a_lost_notification_is_caught_by_the_safety_net() {
    let db = TestDb::new(Backend::Postgres).await;
    // invalidation_poll_ms 100: a safety-net poll every 2 s (± 20%).
    let a = TestApp::start(&db).await;
    let b = TestApp::start(&db).await;
    let (_, admin_key) = a.account("lost@example.com", "live").await;
    let (id, secret) = cached_on_both(&a, &b, &admin_key, 0).await;
    // Revoked behind the nodes' backs with the triggers off: no notification is sent.
    let mut raw = sqlx::PgConnection::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let now = easel_core::time::now_ms();
    for sql in [
        "SET session_replication_role = replica".to_string(),
        format!("UPDATE api_keys SET revoked_at = {now}, updated_at = {now} WHERE id = '{id}'"),
    ] {
        sqlx::query(&sql)
            .execute(&mut raw)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let revoked = Instant::now();
    let seen = eventually(6_000, || async {
        b.get("/v1/account", &secret).await.status == 401
    })
    .await;
    assert!(seen, "the safety net never caught the silent revocation");
    assert!(
        revoked.elapsed() <= Duration::from_millis(3_500),
        "caught after {:?}, later than the 2 s (+20%) safety net",
        revoked.elapsed()
    );
    let _ = raw.close().await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_cancel_reaches_the_node_running_the_job_before_its_heartbeat() {
    let db = TestDb::new(Backend::Postgres).await;
    // Heartbeats every 20 s: only the notification can stop the job in time.
    let slow_heartbeats = |c: &mut easel_server::config::Config| {
        crate::generations::with_test_models(c);
        c.queue.heartbeat_ms = 20_000;
        c.queue.lease_ms = 60_000;
    };
    let runner = TestApp::start_with(&db, slow_heartbeats).await;
    let (_, key) = crate::generations::funded(&runner, "cancel@example.com").await;
    let created = runner
        .post(
            "/v1/generations",
            &key,
            json!({"model": "slow-image", "prompt": "a lighthouse"}),
        )
        .await
        .expect(202);
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    let running = eventually(5_000, || async {
        runner
            .get(&format!("/v1/generations/{id}"), &key)
            .await
            .body["status"]
            == "running"
    })
    .await;
    assert!(running, "the slow generation never started");
    // Another node, started after the job was claimed, is asked to cancel it.
    let other = TestApp::start_with(&db, slow_heartbeats).await;
    let asked = Instant::now();
    other
        .post(&format!("/v1/generations/{id}/cancel"), &key, json!({}))
        .await
        .expect(200);
    let canceled = eventually(5_000, || async {
        runner
            .get(&format!("/v1/generations/{id}"), &key)
            .await
            .body["status"]
            == "canceled"
    })
    .await;
    assert!(canceled, "the running job was not stopped");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "stopped after {:?}: at a heartbeat, not at the notification",
        asked.elapsed()
    );
    other.stop().await;
    runner.stop().await;
}

#[tokio::test]
async fn a_dropped_listening_connection_makes_the_node_look_again() {
    let db = TestDb::new(Backend::Postgres).await;
    // A 20-minute safety net: only the reconnection's wake-up can catch what was missed.
    let a = TestApp::start_with(&db, |c| c.api_keys.invalidation_poll_ms = 60_000).await;
    let b = TestApp::start_with(&db, |c| c.api_keys.invalidation_poll_ms = 60_000).await;
    let (_, admin_key) = a.account("dropped@example.com", "live").await;
    let (id, secret) = cached_on_both(&a, &b, &admin_key, 0).await;
    let mut raw = sqlx::PgConnection::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    // Revoked silently (triggers off), as if its notification were lost with the
    // connection; then b's listening connection is cut.
    let now = easel_core::time::now_ms();
    let node = b.state.store.node().unwrap_or_default();
    for sql in [
        "SET session_replication_role = replica".to_string(),
        format!("UPDATE api_keys SET revoked_at = {now}, updated_at = {now} WHERE id = '{id}'"),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'easel-listen {node}'"
        ),
    ] {
        sqlx::query(&sql)
            .execute(&mut raw)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let seen = eventually(3_000, || async {
        b.get("/v1/account", &secret).await.status == 401
    })
    .await;
    assert!(
        seen,
        "node b never looked again after losing its notifications"
    );
    let _ = raw.close().await;
    b.stop().await;
    a.stop().await;
}
