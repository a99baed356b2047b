//! `GET /v1/account`, account states (suspend, lapse, unsuspend, terminate) and roles.

use std::time::Duration;

use easel_core::time::now_ms;
use easel_db::StateChange;
use easel_server::services::accounts;
use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use crate::support::{TestApp, eventually};

fn operator() -> easel_db::AuditContext {
    easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None)
}

both_backends!(
    get_account_describes_the_org_and_the_caller,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = app.account("ada@example.com", "live").await;
        let (viewer_id, viewer_key) = app
            .member_key(&account_id, "vic@example.com", "viewer", "live")
            .await;
        let res = app.get("/v1/account", &key).await.expect(200);
        let body = &res.body;
        assert_eq!(body["object"], "account");
        assert_eq!(body["id"], account_id.as_str());
        assert_eq!(body["state"], "active");
        assert_eq!(body["plan"], "free");
        assert_eq!(body["livemode"], true);
        assert_eq!(body["contact"]["email"], "ada@example.com");
        assert_eq!(body["caller"]["role"], "owner");
        assert_eq!(body["members"].as_array().map(Vec::len), Some(2));
        let res = app.get("/v1/account", &viewer_key).await.expect(200);
        assert_eq!(res.body["caller"]["user_id"], viewer_id.as_str());
        assert_eq!(res.body["caller"]["role"], "viewer");
        // Exactly the read scopes: no write scope, and none of the reads missing.
        assert_eq!(
            res.body["caller"]["scopes"],
            json!([
                "generations:read",
                "keys:read",
                "webhooks:read",
                "billing:read",
                "logs:read",
                "account:read"
            ]),
            "viewers only read"
        );
        // The demo account of the first start is separate and in test mode.
        let demo = app
            .get("/v1/account", &app.first.test_key)
            .await
            .expect(200);
        assert_eq!(demo.body["livemode"], false);
        assert_ne!(demo.body["id"], account_id.as_str());
        app.stop().await;
    }
);

both_backends!(
    suspension_blocks_every_call_until_lifted,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = app.account("sus@example.com", "test").await;
        app.get("/v1/keys", &key).await.expect(200);
        let change = StateChange::Suspend {
            reason: "chargeback".into(),
            until: None,
            jobs: easel_db::SuspendJobs::Finish,
        };
        accounts::change_state(&app.state, &account_id, change, operator())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        for path in ["/v1/account", "/v1/keys", "/v1/audit_log"] {
            let res = app
                .get(path, &key)
                .await
                .expect_error(403, "account_suspended");
            assert_eq!(res.body["error"]["type"], "permission_error");
        }
        app.post("/v1/keys", &key, json!({"name": "x"}))
            .await
            .expect_error(403, "account_suspended");
        accounts::change_state(&app.state, &account_id, StateChange::Unsuspend, operator())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        app.get("/v1/account", &key).await.expect(200);
        let again =
            accounts::change_state(&app.state, &account_id, StateChange::Unsuspend, operator())
                .await;
        assert_eq!(
            again.err().map(|e| e.code.status().as_u16()),
            Some(409),
            "unsuspending an active account is a conflict"
        );
        app.stop().await;
    }
);

both_backends!(
    a_suspension_with_an_end_lapses_by_itself,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = app.account("lapse@example.com", "test").await;
        let until = now_ms() + 1_500;
        let change = StateChange::Suspend {
            reason: "cool off".into(),
            until: Some(until),
            jobs: easel_db::SuspendJobs::Finish,
        };
        let account = accounts::change_state(&app.state, &account_id, change, operator())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(account.suspended_until, Some(until));
        app.get("/v1/account", &key)
            .await
            .expect_error(403, "account_suspended");
        tokio::time::sleep(Duration::from_millis(1_700)).await;
        app.get("/v1/account", &key).await.expect(200);
        app.stop().await;
    }
);

both_backends!(
    termination_revokes_every_key_and_is_final,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = app.account("term@example.com", "live").await;
        let test_key = app.owner_key(&account_id, "test").await;
        accounts::change_state(&app.state, &account_id, StateChange::Terminate, operator())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        app.get("/v1/account", &key)
            .await
            .expect_error(401, "api_key_revoked");
        app.get("/v1/account", &test_key)
            .await
            .expect_error(401, "api_key_revoked");
        let keys = app
            .state
            .store
            .list_keys(&account_id, None, easel_db::Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys.len(), 2, "the live and the test key: {keys:?}");
        assert!(
            keys.iter().all(|k| k.revoked_at.is_some()),
            "every key is revoked in storage too"
        );
        let back =
            accounts::change_state(&app.state, &account_id, StateChange::Unsuspend, operator())
                .await;
        assert_eq!(
            back.err().map(|e| format!("{:?}", e.code)),
            Some("account_terminated".into())
        );
        app.stop().await;
    }
);

both_backends!(
    another_node_sees_a_suspension_within_a_second,
    |db: TestDb| async move {
        let a = TestApp::start(&db).await;
        let b = TestApp::start(&db).await;
        let (account_id, key) = a.account("nodes@example.com", "test").await;
        a.get("/v1/account", &key).await.expect(200);
        b.get("/v1/account", &key).await.expect(200);
        let change = StateChange::Suspend {
            reason: "abuse".into(),
            until: None,
            jobs: easel_db::SuspendJobs::Finish,
        };
        accounts::change_state(&a.state, &account_id, change, operator())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        a.get("/v1/account", &key)
            .await
            .expect_error(403, "account_suspended");
        let seen = eventually(1_000, || async {
            b.get("/v1/account", &key).await.status == 403
        })
        .await;
        assert!(
            seen,
            "node b still accepts the suspended account's key after 1 s"
        );
        b.stop().await;
        a.stop().await;
    }
);

both_backends!(roles_and_scopes_are_enforced, |db: TestDb| async move {
    let app = TestApp::start(&db).await;
    let (account_id, owner_key) = app.account("roles@example.com", "test").await;
    let (_, viewer_key) = app
        .member_key(&account_id, "viewer@example.com", "viewer", "test")
        .await;
    let (dev_id, dev_key) = app
        .member_key(&account_id, "dev@example.com", "developer", "test")
        .await;
    // A viewer reads but cannot create keys.
    app.get("/v1/keys", &viewer_key).await.expect(200);
    let res = app
        .post("/v1/keys", &viewer_key, json!({"name": "mine"}))
        .await
        .expect_error(403, "insufficient_scope");
    assert_eq!(res.body["error"]["type"], "permission_error");
    // A developer creates keys, but only with scopes they hold: their role lacks
    // members:write, so a key cannot get it from them, even beside a scope they do hold.
    let res = app
        .post(
            "/v1/keys",
            &dev_key,
            json!({"name": "escalate", "scopes": ["members:write"]}),
        )
        .await
        .expect_error(403, "insufficient_scope");
    assert_eq!(res.param(), "scopes[0]");
    let res = app
        .post(
            "/v1/keys",
            &dev_key,
            json!({"name": "escalate", "scopes": ["keys:read", "members:write"]}),
        )
        .await
        .expect_error(403, "insufficient_scope");
    assert_eq!(res.param(), "scopes[1]");
    let ci = app
        .post(
            "/v1/keys",
            &dev_key,
            json!({"name": "ci", "scopes": ["keys:read", "keys:write"]}),
        )
        .await
        .expect(201);
    assert_eq!(ci.body["scopes"], json!(["keys:read", "keys:write"]));
    // A key passes on no more than it carries, though its member's role holds more.
    let ci_secret = ci.body["secret"].as_str().unwrap_or_default().to_string();
    let res = app
        .post(
            "/v1/keys",
            &ci_secret,
            json!({"name": "wider", "scopes": ["keys:read", "generations:write"]}),
        )
        .await
        .expect_error(403, "insufficient_scope");
    assert_eq!(res.param(), "scopes[1]");
    // Left out, scopes default to what the developer holds: everything but members:write.
    let default = app
        .post("/v1/keys", &dev_key, json!({"name": "default"}))
        .await
        .expect(201);
    let scopes = default.body["scopes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(scopes.len(), 9, "{scopes:?}");
    assert!(!scopes.contains(&json!("members:write")), "{scopes:?}");
    // None of the refused requests created a key.
    let names: Vec<String> = app
        .state
        .store
        .list_keys(&account_id, None, easel_db::Page::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert!(
        !names.iter().any(|n| n == "escalate" || n == "wider"),
        "{names:?}"
    );
    // A key without account:read cannot read the account.
    let narrow = app
        .post(
            "/v1/keys",
            &owner_key,
            json!({"name": "narrow", "scopes": ["keys:read"]}),
        )
        .await
        .expect(201);
    let narrow_secret = narrow.body["secret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    app.get("/v1/account", &narrow_secret)
        .await
        .expect_error(403, "insufficient_scope");
    let res = app
        .post("/v1/keys", &narrow_secret, json!({"name": "escalate"}))
        .await
        .expect_error(403, "insufficient_scope");
    assert!(
        res.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("keys:write")
    );
    // Demoting the developer to viewer narrows their existing key at once.
    accounts::set_role(
        &app.state,
        &account_id,
        &dev_id,
        easel_core::roles::Role::Viewer,
        operator(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    app.post("/v1/keys", &dev_key, json!({"name": "after demotion"}))
        .await
        .expect_error(403, "insufficient_role");
    app.get("/v1/keys", &dev_key).await.expect(200);
    // Removing the member revokes their keys.
    accounts::remove_member(&app.state, &account_id, &dev_id, operator())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    app.get("/v1/keys", &dev_key)
        .await
        .expect_error(401, "api_key_revoked");
    app.stop().await;
});

both_backends!(the_last_owner_stays, |db: TestDb| async move {
    let app = TestApp::start(&db).await;
    let (account_id, _) = app.account("solo@example.com", "test").await;
    let members = app
        .state
        .store
        .list_members(&account_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let owner = &members[0].user_id;
    let demote = accounts::set_role(
        &app.state,
        &account_id,
        owner,
        easel_core::roles::Role::Admin,
        operator(),
    )
    .await;
    assert_eq!(
        demote.err().map(|e| format!("{:?}", e.code)),
        Some("last_owner".into())
    );
    let remove = accounts::remove_member(&app.state, &account_id, owner, operator()).await;
    assert_eq!(
        remove.err().map(|e| format!("{:?}", e.code)),
        Some("last_owner".into())
    );
    // With a second owner, the first may step down.
    let (second, _) = app
        .member_key(&account_id, "co@example.com", "owner", "test")
        .await;
    accounts::set_role(
        &app.state,
        &account_id,
        owner,
        easel_core::roles::Role::Admin,
        operator(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    let members = app
        .state
        .store
        .list_members(&account_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        members
            .iter()
            .any(|m| m.user_id == second && m.role == easel_core::roles::Role::Owner)
    );
    app.stop().await;
});

both_backends!(
    another_node_sees_member_changes_within_a_second,
    |db: TestDb| async move {
        let a = TestApp::start(&db).await;
        let b = TestApp::start(&db).await;
        let (account_id, key) = a.account("view@example.com", "test").await;
        let count = |body: &serde_json::Value| body["members"].as_array().map_or(0, Vec::len);
        assert_eq!(count(&b.get("/v1/account", &key).await.expect(200).body), 1);
        // Added on node a: node b's cached view follows.
        let added = a
            .post(
                "/v1/account/members",
                &key,
                json!({"email": "nokeys@example.com", "role": "viewer"}),
            )
            .await
            .expect(201);
        let user = added.body["user_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let seen = eventually(1_000, || async {
            count(&b.get("/v1/account", &key).await.body) == 2
        })
        .await;
        assert!(seen, "node b does not show the new member after 1 s");
        // Removed on node a (a member without keys: a deleted row, nothing else changes).
        a.delete(&format!("/v1/account/members/{user}"), &key)
            .await
            .expect(200);
        let seen = eventually(1_000, || async {
            count(&b.get("/v1/account", &key).await.body) == 1
        })
        .await;
        assert!(seen, "node b still shows the removed member after 1 s");
        // And this node never serves its own stale view.
        assert_eq!(count(&a.get("/v1/account", &key).await.expect(200).body), 1);
        let _ = account_id;
        b.stop().await;
        a.stop().await;
    }
);
