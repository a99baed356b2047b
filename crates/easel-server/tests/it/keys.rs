//! `/v1/keys`: create, list, get, rotate, revoke; modes and accounts never mix; audit.

use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::support::TestApp;

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

both_backends!(
    create_shows_the_secret_once_and_lists_a_prefix,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (_, key) = app.account("keys@example.com", "live").await;
        let created = app
        .post("/v1/keys", &key, json!({"name": "  Production  ", "scopes": ["keys:read", "account:read"], "allowed_models": ["sdxl", "flux-dev"]}))
        .await
        .expect(201);
        let b = &created.body;
        assert_eq!(b["object"], "api_key");
        assert_eq!(b["name"], "Production");
        assert_eq!(b["livemode"], true);
        assert_eq!(b["scopes"], json!(["keys:read", "account:read"]));
        assert_eq!(b["allowed_models"], json!(["sdxl", "flux-dev"]));
        let secret = s(&b["secret"]);
        assert!(
            secret.starts_with("vs_live_") && secret.len() == 57,
            "{secret}"
        );
        assert!(secret.starts_with(&s(&b["display_prefix"])));
        let id = s(&b["id"]);
        let got = app.get(&format!("/v1/keys/{id}"), &key).await.expect(200);
        assert!(
            got.body.get("secret").is_none(),
            "the secret is never shown again"
        );
        assert_eq!(got.body["display_prefix"], b["display_prefix"]);
        let listed = app.get("/v1/keys", &key).await.expect(200);
        let listed = listed.body["data"].as_array().cloned().unwrap_or_default();
        // The owner's key and the new one: the list is not secret-free by being empty.
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.iter().any(|k| k["id"] == id.as_str()), "{listed:?}");
        assert!(
            listed.iter().all(|k| k.get("secret").is_none()),
            "{listed:?}"
        );
        // The new key works and carries its scopes.
        let me = app.get("/v1/account", &secret).await.expect(200);
        assert_eq!(
            me.body["caller"]["scopes"],
            json!(["keys:read", "account:read"])
        );
        // Bad names and scopes.
        for (body, param) in [
            (json!({"name": ""}), "name"),
            (json!({"name": "x".repeat(101)}), "name"),
            (json!({"name": "a\u{0}b"}), "name"),
            (
                json!({"name": "x", "scopes": ["keys:read", "root"]}),
                "scopes[1]",
            ),
            (json!({"name": "x", "scopes": []}), "scopes"),
            (
                json!({"name": "x", "allowed_models": ["has space"]}),
                "allowed_models[0]",
            ),
        ] {
            let res = app.post("/v1/keys", &key, body.clone()).await.expect(400);
            assert_eq!(res.param(), param, "{body}");
        }
        app.stop().await;
    }
);

both_backends!(
    test_and_live_and_other_accounts_never_mix,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, live) = app.account("mix@example.com", "live").await;
        let test = app.owner_key(&account_id, "test").await;
        let live_new = app
            .post("/v1/keys", &live, json!({"name": "live one"}))
            .await
            .expect(201);
        let test_new = app
            .post("/v1/keys", &test, json!({"name": "test one"}))
            .await
            .expect(201);
        assert_eq!(live_new.body["livemode"], true);
        assert_eq!(
            test_new.body["livemode"], false,
            "a key creates keys in its own mode only"
        );
        let (live_id, test_id) = (s(&live_new.body["id"]), s(&test_new.body["id"]));
        // Each mode lists its own two keys (the owner's and the new one) and never the
        // other mode's.
        for (key, livemode, mine, theirs) in [
            (&live, true, &live_id, &test_id),
            (&test, false, &test_id, &live_id),
        ] {
            let listed = app.get("/v1/keys", key).await.expect(200).body;
            let listed = listed["data"].as_array().cloned().unwrap_or_default();
            let ids: Vec<String> = listed.iter().map(|k| s(&k["id"])).collect();
            assert_eq!(ids.len(), 2, "livemode {livemode}: {listed:?}");
            assert!(ids.contains(mine), "livemode {livemode}: {ids:?}");
            assert!(!ids.contains(theirs), "livemode {livemode}: {ids:?}");
            assert!(
                listed.iter().all(|k| k["livemode"] == livemode),
                "{listed:?}"
            );
        }
        app.get(&format!("/v1/keys/{test_id}"), &live)
            .await
            .expect_error(404, "resource_missing");
        app.get(&format!("/v1/keys/{live_id}"), &test)
            .await
            .expect_error(404, "resource_missing");
        app.delete(&format!("/v1/keys/{test_id}"), &live)
            .await
            .expect_error(404, "resource_missing");
        app.call(
            "POST",
            &format!("/v1/keys/{test_id}/rotate"),
            Some(&live),
            None,
        )
        .await
        .expect_error(404, "resource_missing");
        // Another account's key is as invisible as a missing one.
        let (_, other) = app.account("other@example.com", "live").await;
        let res = app
            .get(&format!("/v1/keys/{live_id}"), &other)
            .await
            .expect_error(404, "resource_missing");
        assert_eq!(res.param(), "id");
        app.delete(&format!("/v1/keys/{live_id}"), &other)
            .await
            .expect_error(404, "resource_missing");
        app.get("/v1/account", &s(&live_new.body["secret"]))
            .await
            .expect(200);
        app.get("/v1/keys/not-an-id", &live)
            .await
            .expect_error(404, "resource_missing");
        app.get("/v1/keys/key_01m864a045xwwke0zd48j6933p", &live)
            .await
            .expect_error(404, "resource_missing");
        app.stop().await;
    }
);

both_backends!(
    rotation_keeps_the_old_secret_for_the_grace_period,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (_, key) = app.account("rot@example.com", "test").await;
        let created = app
            .post("/v1/keys", &key, json!({"name": "rotating"}))
            .await
            .expect(201);
        let (id, old) = (s(&created.body["id"]), s(&created.body["secret"]));
        app.get("/v1/account", &old).await.expect(200);
        // Default grace (24 h): both secrets work.
        let rotated = app
            .call("POST", &format!("/v1/keys/{id}/rotate"), Some(&key), None)
            .await
            .expect(200);
        let new = s(&rotated.body["secret"]);
        assert_ne!(new, old);
        assert_eq!(
            rotated.body["id"],
            id.as_str(),
            "rotation keeps the key, changes the secret"
        );
        let grace_end = rotated.body["previous_secret_expires_at"]
            .as_i64()
            .unwrap_or_default();
        let day = easel_core::time::now_ms() / 1000 + 24 * 3600;
        assert!(
            (day - 5..=day + 5).contains(&grace_end),
            "{grace_end} vs {day}"
        );
        app.get("/v1/account", &old).await.expect(200);
        app.get("/v1/account", &new).await.expect(200);
        // Rotating with no grace ends every older secret at once.
        let rotated = app
            .post(
                &format!("/v1/keys/{id}/rotate"),
                &key,
                json!({"grace_period_seconds": 0}),
            )
            .await
            .expect(200);
        let newest = s(&rotated.body["secret"]);
        app.get("/v1/account", &old)
            .await
            .expect_error(401, "api_key_expired");
        app.get("/v1/account", &new)
            .await
            .expect_error(401, "api_key_expired");
        app.get("/v1/account", &newest).await.expect(200);
        let res = app
            .post(
                &format!("/v1/keys/{id}/rotate"),
                &key,
                json!({"grace_period_seconds": 99_999_999}),
            )
            .await
            .expect(400);
        assert_eq!(res.param(), "grace_period_seconds");
        let res = app
            .post(
                &format!("/v1/keys/{id}/rotate"),
                &key,
                json!({"grace_period_seconds": -1}),
            )
            .await
            .expect(400);
        assert_eq!(res.param(), "grace_period_seconds");
        app.delete(&format!("/v1/keys/{id}"), &key)
            .await
            .expect(200);
        app.post(&format!("/v1/keys/{id}/rotate"), &key, json!({}))
            .await
            .expect_error(409, "key_already_revoked");
        app.stop().await;
    }
);

both_backends!(lists_paginate_newest_first, |db: TestDb| async move {
    let app = TestApp::start(&db).await;
    let (_, key) = app.account("pages@example.com", "test").await;
    for i in 0..24 {
        app.post("/v1/keys", &key, json!({"name": format!("k{i}")}))
            .await
            .expect(201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/keys?limit=10&starting_after={c}"),
            None => "/v1/keys?limit=10".into(),
        };
        let page = app.get(&path, &key).await.expect(200);
        let data = page.body["data"].as_array().cloned().unwrap_or_default();
        seen.extend(data.iter().map(|k| s(&k["id"])));
        if page.body["has_more"] == false {
            assert_eq!(page.body["next_cursor"], Value::Null);
            break;
        }
        assert_eq!(data.len(), 10);
        cursor = Some(s(&page.body["next_cursor"]));
    }
    assert_eq!(seen.len(), 25, "24 created plus the owner's key, each once");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
    app.stop().await;
});

both_backends!(concurrent_creations_all_land, |db: TestDb| async move {
    let app = std::sync::Arc::new(TestApp::start(&db).await);
    let (_, key) = app.account("busy@example.com", "test").await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (app, key) = (app.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            app.post("/v1/keys", &key, json!({"name": format!("c{i}")}))
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap_or_else(|e| panic!("{e}")), 201);
    }
    let listed = app.get("/v1/keys?limit=100", &key).await.expect(200);
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(61));
    let audit = app.get("/v1/audit_log?limit=100", &key).await.expect(200);
    let created = audit.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "key.created")
        .count();
    assert_eq!(created, 61, "one audit entry per key, written with it");
});

both_backends!(
    the_audit_log_records_who_did_what,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (_, key) = app.account("audit@example.com", "live").await;
        let created = app
            .post("/v1/keys", &key, json!({"name": "audited"}))
            .await
            .expect(201);
        let create_request = created.headers["x-request-id"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        let id = s(&created.body["id"]);
        app.post(
            &format!("/v1/keys/{id}/rotate"),
            &key,
            json!({"grace_period_seconds": 60}),
        )
        .await
        .expect(200);
        app.delete(&format!("/v1/keys/{id}"), &key)
            .await
            .expect(200);
        let log = app.get("/v1/audit_log", &key).await.expect(200);
        let entries = log.body["data"].as_array().cloned().unwrap_or_default();
        let actions: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert_eq!(&actions[..3], ["key.revoked", "key.rotated", "key.created"]);
        let created_entry = &entries[2];
        assert_eq!(created_entry["target"]["id"], id.as_str());
        assert_eq!(created_entry["actor"]["type"], "api_key");
        assert_eq!(created_entry["request_id"], create_request.as_str());
        assert_eq!(
            entries[1]["details"]["previous_secret_expires_at"]
                .as_i64()
                .map(|t| t > 0),
            Some(true)
        );
        assert!(actions.contains(&"account.created"));
        // Another account sees none of it.
        let (_, other) = app.account("audit2@example.com", "live").await;
        let theirs = app.get("/v1/audit_log", &other).await.expect(200);
        assert!(
            theirs.body["data"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|e| e["target"]["id"] != id.as_str())
        );
        let page = app.get("/v1/audit_log?limit=2", &key).await.expect(200);
        assert_eq!(page.body["has_more"], true);
        app.stop().await;
    }
);
