//! `/v1/account/members`: the permission matrix through the API, bad emails, duplicates.

use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use crate::support::TestApp;

both_backends!(
    owners_and_admins_manage_members_within_their_rights,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, owner) = app.account("boss@example.com", "test").await;
        let (_, admin) = app
            .member_key(&account_id, "admin@example.com", "admin", "test")
            .await;
        let (_, dev) = app
            .member_key(&account_id, "dev@example.com", "developer", "test")
            .await;
        let (_, viewer) = app
            .member_key(&account_id, "view@example.com", "viewer", "test")
            .await;

        let added = app
            .post(
                "/v1/account/members",
                &admin,
                json!({"email": " New@Example.com ", "role": "developer"}),
            )
            .await
            .expect(201);
        assert_eq!(added.body["email"], "new@example.com");
        assert_eq!(added.body["role"], "developer");
        let new_id = added.body["user_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // Developers and viewers hold no members:write.
        app.post(
            "/v1/account/members",
            &dev,
            json!({"email": "x@example.com", "role": "viewer"}),
        )
        .await
        .expect_error(403, "insufficient_scope");
        app.post(
            "/v1/account/members",
            &viewer,
            json!({"email": "x@example.com", "role": "viewer"}),
        )
        .await
        .expect_error(403, "insufficient_scope");
        // Admins cannot touch ownership; owners can.
        let res = app
            .post(
                "/v1/account/members",
                &admin,
                json!({"email": "o2@example.com", "role": "owner"}),
            )
            .await
            .expect_error(403, "insufficient_role");
        assert_eq!(res.param(), "role");
        app.call(
            "PATCH",
            &format!("/v1/account/members/{new_id}"),
            Some(&admin),
            Some(json!({"role": "owner"})),
        )
        .await
        .expect_error(403, "insufficient_role");
        let promoted = app
            .call(
                "PATCH",
                &format!("/v1/account/members/{new_id}"),
                Some(&owner),
                Some(json!({"role": "owner"})),
            )
            .await
            .expect(200);
        assert_eq!(promoted.body["role"], "owner");
        app.delete(&format!("/v1/account/members/{new_id}"), &admin)
            .await
            .expect_error(403, "insufficient_role");
        let removed = app
            .delete(&format!("/v1/account/members/{new_id}"), &owner)
            .await
            .expect(200);
        assert_eq!(removed.body["deleted"], true);
        let listed = app.get("/v1/account/members", &viewer).await.expect(200);
        assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(4));
        app.stop().await;
    }
);

both_backends!(
    bad_member_input_gets_precise_errors,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, owner) = app.account("own@example.com", "live").await;
        for email in [
            "",
            "no-at-sign",
            "a@b",
            "two@@example.com",
            "sp ace@example.com",
            "é@é",
        ] {
            let res = app
                .post(
                    "/v1/account/members",
                    &owner,
                    json!({"email": email, "role": "viewer"}),
                )
                .await
                .expect_error(400, "email_invalid");
            assert_eq!(res.param(), "email", "{email:?}");
        }
        let res = app
            .post(
                "/v1/account/members",
                &owner,
                json!({"email": "a@example.com", "role": "superuser"}),
            )
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "role");
        let res = app
            .post(
                "/v1/account/members",
                &owner,
                json!({"email": "a@example.com"}),
            )
            .await
            .expect_error(400, "parameter_missing");
        assert_eq!(res.param(), "role");
        app.post(
            "/v1/account/members",
            &owner,
            json!({"email": "twice@example.com", "role": "viewer"}),
        )
        .await
        .expect(201);
        let res = app
            .post(
                "/v1/account/members",
                &owner,
                json!({"email": "TWICE@example.com", "role": "admin"}),
            )
            .await
            .expect_error(409, "already_member");
        assert_eq!(res.param(), "email");
        // A person already known to the server (a member elsewhere) joins without a new user.
        let (_, other_owner) = app.account("elsewhere@example.com", "live").await;
        let joined = app
            .post(
                "/v1/account/members",
                &other_owner,
                json!({"email": "twice@example.com", "role": "viewer"}),
            )
            .await
            .expect(201);
        let here = app.get("/v1/account/members", &owner).await.expect(200);
        let twice_here = here.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["email"] == "twice@example.com")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            joined.body["user_id"], twice_here["user_id"],
            "the same user, two memberships"
        );
        // The last owner stays; unknown and foreign members are 404.
        let owner_id = here.body["data"][0]["user_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        app.call(
            "PATCH",
            &format!("/v1/account/members/{owner_id}"),
            Some(&owner),
            Some(json!({"role": "admin"})),
        )
        .await
        .expect_error(409, "last_owner");
        app.delete(&format!("/v1/account/members/{owner_id}"), &owner)
            .await
            .expect_error(409, "last_owner");
        app.delete(
            "/v1/account/members/user_01m864a045xwwke0zd48j6933p",
            &owner,
        )
        .await
        .expect_error(404, "resource_missing");
        app.delete("/v1/account/members/nonsense", &owner)
            .await
            .expect_error(404, "resource_missing");
        // The other account's owner: a real user id, a member there and not here.
        let foreign = member_by_email(&app, &other_owner, "elsewhere@example.com").await;
        assert_eq!(foreign["role"], "owner");
        let foreign_id = foreign["user_id"].as_str().unwrap_or_default().to_string();
        assert!(foreign_id.starts_with("user_"), "{foreign}");
        assert!(
            here.body["data"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|m| m["user_id"] != foreign_id.as_str()),
            "{}",
            here.body
        );
        app.call(
            "PATCH",
            &format!("/v1/account/members/{foreign_id}"),
            Some(&owner),
            Some(json!({"role": "viewer"})),
        )
        .await
        .expect_error(404, "resource_missing");
        app.delete(&format!("/v1/account/members/{foreign_id}"), &owner)
            .await
            .expect_error(404, "resource_missing");
        assert_eq!(
            member_by_email(&app, &other_owner, "elsewhere@example.com").await,
            foreign,
            "the other account's owner is untouched"
        );
        let _ = account_id;
        let log = app.get("/v1/audit_log", &owner).await.expect(200);
        let added = log.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["action"] == "member.added")
            .count();
        assert_eq!(
            added, 1,
            "failed attempts write nothing, the one success is audited"
        );
        app.stop().await;
    }
);

/// The member of the key's account with `email`, as `GET /v1/account/members` lists it.
async fn member_by_email(app: &TestApp, key: &str, email: &str) -> serde_json::Value {
    let listed = app.get("/v1/account/members", key).await.expect(200);
    listed.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["email"] == email)
        .cloned()
        .unwrap_or_else(|| panic!("no {email} in {}", listed.body))
}
