//! What one member may do to another member's API keys (security findings 1 and 2): rotate
//! only your own (a rotation reveals the new secret), revoke others' only when your role
//! may manage theirs; and the audit log names the member behind a key.

use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::support::{Res, TestApp};

/// The id of the key whose secret is `secret`, as listed to `viewer_key`.
async fn key_id(app: &TestApp, viewer_key: &str, secret: &str) -> String {
    let listed = app.get("/v1/keys?limit=100", viewer_key).await.expect(200);
    let keys = listed.body["data"].as_array().cloned().unwrap_or_default();
    assert!(!keys.is_empty(), "no keys listed: {}", listed.body);
    keys.iter()
        .find(|k| {
            k["display_prefix"]
                .as_str()
                .is_some_and(|p| secret.starts_with(p))
        })
        .and_then(|k| k["id"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no listed key matches {secret}"))
}

/// An account with an owner, an admin, two developers and a viewer, each with a live key.
struct Org {
    owner: String,
    admin: String,
    developer: String,
    developer2: String,
    viewer: String,
}

async fn org(app: &TestApp, tag: &str) -> Org {
    let (account, owner) = app
        .account(&format!("owner-{tag}@example.com"), "live")
        .await;
    let member = |role: &'static str, n: u8| {
        let account = account.clone();
        async move {
            app.member_key(
                &account,
                &format!("{role}{n}-{tag}@example.com"),
                role,
                "live",
            )
            .await
            .1
        }
    };
    Org {
        admin: member("admin", 1).await,
        developer: member("developer", 1).await,
        developer2: member("developer", 2).await,
        viewer: member("viewer", 1).await,
        owner,
    }
}

#[track_caller]
fn refused(res: Res) {
    let res = res.expect_error(403, "key_of_another_member");
    assert!(
        res.body.get("secret").is_none() && res.body["error"].get("secret").is_none(),
        "a refusal carries no secret"
    );
}

both_backends!(
    no_member_can_rotate_another_members_key,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let o = org(&app, "rotate").await;
        let owner_key = key_id(&app, &o.owner, &o.owner).await;
        let admin_key = key_id(&app, &o.owner, &o.admin).await;
        let dev_key = key_id(&app, &o.owner, &o.developer).await;
        // Upwards (the probe's takeover), sideways and downwards: all refused.
        for (caller, target) in [
            (&o.developer, &owner_key),
            (&o.admin, &owner_key),
            (&o.developer, &admin_key),
            (&o.developer2, &dev_key),
            (&o.owner, &admin_key),
            (&o.owner, &dev_key),
            (&o.admin, &dev_key),
        ] {
            refused(
                app.post(&format!("/v1/keys/{target}/rotate"), caller, json!({}))
                    .await,
            );
        }
        // The owner's secret was never replaced: it works, and no grace period began.
        let me = app.get("/v1/account", &o.owner).await.expect(200);
        assert_eq!(me.body["caller"]["role"], "owner");
        let got = app
            .get(&format!("/v1/keys/{owner_key}"), &o.owner)
            .await
            .expect(200);
        assert_eq!(got.body["rotated_at"], Value::Null);
        // Rotating one's own key still works and returns its secret.
        let own = app
            .post(
                &format!("/v1/keys/{dev_key}/rotate"),
                &o.developer,
                json!({"grace_period_seconds": 0}),
            )
            .await
            .expect(200);
        assert!(
            own.body["secret"]
                .as_str()
                .is_some_and(|s| s.starts_with("vs_live_"))
        );
        // A viewer's keys never hold keys:write.
        app.post(
            &format!("/v1/keys/{owner_key}/rotate"),
            &o.viewer,
            json!({}),
        )
        .await
        .expect_error(403, "insufficient_scope");
        app.stop().await;
    }
);

both_backends!(
    revoking_another_members_key_needs_the_right_to_manage_them,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let o = org(&app, "revoke").await;
        let owner_key = key_id(&app, &o.owner, &o.owner).await;
        let admin_key = key_id(&app, &o.owner, &o.admin).await;
        let dev_key = key_id(&app, &o.owner, &o.developer).await;
        let dev2_key = key_id(&app, &o.owner, &o.developer2).await;
        let viewer_key = key_id(&app, &o.owner, &o.viewer).await;
        for (caller, target) in [
            (&o.developer, &owner_key),
            (&o.developer, &admin_key),
            (&o.developer, &dev2_key),
            (&o.developer, &viewer_key),
            (&o.admin, &owner_key),
        ] {
            refused(app.delete(&format!("/v1/keys/{target}"), caller).await);
        }
        // None of them was revoked.
        for secret in [&o.owner, &o.admin, &o.developer2, &o.viewer] {
            app.get("/v1/account", secret).await.expect(200);
        }
        // An admin may revoke a developer's key, the owner an admin's.
        let revoked = app
            .delete(&format!("/v1/keys/{dev2_key}"), &o.admin)
            .await
            .expect(200);
        assert_eq!(revoked.body["status"], "revoked");
        app.get("/v1/account", &o.developer2)
            .await
            .expect_error(401, "api_key_revoked");
        app.delete(&format!("/v1/keys/{admin_key}"), &o.owner)
            .await
            .expect(200);
        app.get("/v1/account", &o.admin)
            .await
            .expect_error(401, "api_key_revoked");
        // A developer may revoke their own key.
        app.delete(&format!("/v1/keys/{dev_key}"), &o.developer)
            .await
            .expect(200);
        app.stop().await;
    }
);

both_backends!(
    the_audit_log_names_the_member_behind_a_key,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account, owner) = app.account("audit-member@example.com", "live").await;
        let (dev_user, dev) = app
            .member_key(&account, "dev-audit@example.com", "developer", "live")
            .await;
        let created = app
            .post("/v1/keys", &dev, json!({"name": "mine"}))
            .await
            .expect(201);
        let new_id = created.body["id"].as_str().unwrap_or_default().to_string();
        let dev_key = key_id(&app, &owner, &dev).await;
        let log = app.get("/v1/audit_log?limit=100", &owner).await.expect(200);
        let entries = log.body["data"].as_array().cloned().unwrap_or_default();
        let entry = entries
            .iter()
            .find(|e| e["action"] == "key.created" && e["target"]["id"] == new_id.as_str())
            .unwrap_or_else(|| panic!("no key.created entry for {new_id}: {}", log.body));
        assert_eq!(entry["actor"]["type"], "api_key");
        assert_eq!(entry["actor"]["id"], dev_key.as_str());
        assert_eq!(entry["actor"]["user_id"], dev_user.as_str());
        // Entries by the operator name no member.
        let account_created = entries
            .iter()
            .find(|e| e["action"] == "account.created")
            .unwrap_or_else(|| panic!("no account.created entry: {}", log.body));
        assert_eq!(account_created["actor"]["user_id"], Value::Null);
        app.stop().await;
    }
);
