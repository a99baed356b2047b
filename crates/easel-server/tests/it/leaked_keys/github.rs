//! `POST /v1/secret_scanning/github`: signed deliveries act, everything else is refused.

use easel_core::mode::Mode;
use easel_test_utils::{TestDb, both_backends};
use serde_json::Value;

use super::{FakeGithub, KEY_ID, configure, key_object, listed, mails, matches, send, sha256};
use crate::support::TestApp;

const URL: &str = "https://github.com/acme/app/blob/0123abc/.env";

both_backends!(
    a_signed_github_report_of_a_live_key_revokes_it_once_and_tells_the_owner,
    |db: TestDb| async move {
        let github = FakeGithub::new();
        let mail_dir = db.dir.join("mail-out");
        let app = TestApp::start_with(&db, |c| configure(c, Some(&github), &mail_dir)).await;
        let (account_id, leaked) = app.account("leaky@example.com", "live").await;
        let own_reader = app.owner_key(&account_id, "live").await;
        let (_, reader) = app.account("other@example.com", "live").await;
        let unknown = easel_core::api_key::generate("vs", Mode::Live).secret;
        let garbage = "vs_live_thisisnotakey";
        let body = matches(&[&leaked, garbage, &unknown], URL);

        let res = github.deliver(&app, &body).await.expect(200);
        let labels: Vec<(String, String)> = res
            .body
            .as_array()
            .unwrap_or_else(|| panic!("{}", res.body))
            .iter()
            .map(|f| {
                (
                    f["token_hash"].as_str().unwrap_or_default().to_string(),
                    f["label"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(
            labels,
            vec![
                (sha256(&leaked), "true_positive".to_string()),
                (sha256(garbage), "false_positive".to_string()),
                (sha256(&unknown), "false_positive".to_string()),
            ]
        );
        assert!(
            !res.body.to_string().contains(&leaked),
            "the raw token is never echoed"
        );

        // Revoked at once for its holder; the account's other key and other accounts go on.
        app.get("/v1/account", &leaked)
            .await
            .expect_error(401, "api_key_revoked");
        app.get("/v1/account", &reader).await.expect(200);
        let key = key_object(&app, &own_reader, &leaked).await;
        assert_eq!(key["status"], "revoked", "{key}");
        assert_eq!(key["revoked_reason"], "leaked");
        assert_eq!(key["leak"]["url"], URL);
        assert_eq!(key["leak"]["source"], "content");
        assert!(key["leak"]["reported_at"].as_i64().is_some(), "{key}");

        // The event carries the key object and the reason; the audit log names it.
        let events = listed(&app, &own_reader, "/v1/events", "type", "key.revoked").await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["data"]["id"], key["id"]);
        assert_eq!(events[0]["data"]["object"], "api_key");
        assert_eq!(events[0]["data"]["reason"], "leaked");
        assert_eq!(events[0]["data"]["leak"]["url"], URL);
        let audit = listed(&app, &own_reader, "/v1/audit_log", "action", "key.revoked").await;
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0]["actor"]["type"], "system", "{audit:?}");

        let sent = mails(&mail_dir);
        assert_eq!(sent.len(), 1, "{sent:?}");
        let prefix = key["display_prefix"].as_str().unwrap_or_default();
        assert!(
            sent[0].contains("To: leaky@example.com")
                && sent[0].contains(URL)
                && sent[0].contains(prefix)
                && sent[0].contains("revoked"),
            "{}",
            sent[0]
        );

        // GitHub delivers again: still a true positive, but nothing happens twice.
        let again = github
            .deliver(&app, &matches(&[&leaked], URL))
            .await
            .expect(200);
        assert_eq!(again.body[0]["label"], "true_positive");
        assert_eq!(mails(&mail_dir).len(), 1);
        assert_eq!(
            listed(&app, &own_reader, "/v1/events", "type", "key.revoked")
                .await
                .len(),
            1
        );
        assert_eq!(
            listed(&app, &own_reader, "/v1/audit_log", "action", "key.revoked")
                .await
                .len(),
            1
        );
        app.stop().await;
    }
);

both_backends!(
    github_deliveries_not_signed_by_a_configured_key_are_refused_whole,
    |db: TestDb| async move {
        let github = FakeGithub::new();
        let impostor = FakeGithub::new();
        let mail_dir = db.dir.join("mail-out");
        let app = TestApp::start_with(&db, |c| {
            configure(c, Some(&github), &mail_dir);
            c.secret_scanning.max_matches = 3;
            c.secret_scanning.max_body_bytes = 2048;
        })
        .await;
        let (_, key) = app.account("careful@example.com", "test").await;
        let body = matches(&[&key], URL);
        let good = github.sign(body.as_bytes());
        let tampered = matches(&[&key], "https://github.com/acme/app/blob/0123abc/other");
        let refused: [(&str, Option<&str>, Option<String>); 6] = [
            (
                "tampered body",
                Some(KEY_ID),
                Some(github.sign(tampered.as_bytes())),
            ),
            (
                "wrong key id",
                Some("f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d"),
                Some(good.clone()),
            ),
            ("bad base64", Some(KEY_ID), Some("%%%not-base64%%%".into())),
            (
                "another key's signature",
                Some(KEY_ID),
                Some(impostor.sign(body.as_bytes())),
            ),
            ("no signature", Some(KEY_ID), None),
            ("no key id", None, Some(good.clone())),
        ];
        for (why, key_id, signature) in refused {
            let res = send(&app, &body, key_id, signature.as_deref()).await;
            assert_eq!(
                (res.status, res.code()),
                (403, "signature_invalid"),
                "{why}: {}",
                res.body
            );
        }
        // A signature over one body does not carry another.
        let res = send(&app, &tampered, Some(KEY_ID), Some(&good)).await;
        assert_eq!(res.status, 403, "{}", res.body);
        app.get("/v1/account", &key).await.expect(200);
        assert!(mails(&mail_dir).is_empty());

        // Signed but too big, too many, or not the documented shape: refused, nothing done.
        let many = matches(&[&key, "a", "b", "c"], URL);
        github
            .deliver(&app, &many)
            .await
            .expect_error(400, "parameter_invalid");
        let big = matches(
            &[&key],
            &format!("https://example.com/{}", "x".repeat(4096)),
        );
        github
            .deliver(&app, &big)
            .await
            .expect_error(413, "body_too_large");
        github
            .deliver(&app, r#"{"token": "x"}"#)
            .await
            .expect_error(400, "invalid_json");
        app.get("/v1/account", &key).await.expect(200);

        // The documented empty delivery is answered with an empty list.
        let empty = github.deliver(&app, "[]").await.expect(200);
        assert_eq!(empty.body, Value::Array(vec![]));
        app.stop().await;
    }
);

both_backends!(
    without_configured_github_keys_the_github_endpoint_is_not_found,
    |db: TestDb| async move {
        let github = FakeGithub::new();
        let mail_dir = db.dir.join("mail-out");
        let app = TestApp::start_with(&db, |c| configure(c, None, &mail_dir)).await;
        let (_, key) = app.account("unset@example.com", "live").await;
        github
            .deliver(&app, &matches(&[&key], URL))
            .await
            .expect_error(404, "resource_missing");
        app.get("/v1/account", &key).await.expect(200);
        app.stop().await;
    }
);

both_backends!(
    in_flag_mode_a_leaked_key_keeps_working_but_is_flagged_and_the_owner_told,
    |db: TestDb| async move {
        let github = FakeGithub::new();
        let mail_dir = db.dir.join("mail-out");
        let app = TestApp::start_with(&db, |c| {
            configure(c, Some(&github), &mail_dir);
            c.api_keys.on_leak = easel_server::config::OnLeak::Flag;
        })
        .await;
        let (_, key) = app.account("flagged@example.com", "test").await;
        for _ in 0..2 {
            let res = github
                .deliver(&app, &matches(&[&key], URL))
                .await
                .expect(200);
            assert_eq!(res.body[0]["label"], "true_positive");
        }
        app.get("/v1/account", &key).await.expect(200);
        let object = key_object(&app, &key, &key).await;
        assert_eq!(object["status"], "active", "{object}");
        assert_eq!(object["revoked_reason"], Value::Null);
        assert_eq!(object["leak"]["url"], URL);
        assert!(
            listed(&app, &key, "/v1/events", "type", "key.revoked")
                .await
                .is_empty()
        );
        assert_eq!(
            listed(&app, &key, "/v1/audit_log", "action", "key.leak_reported")
                .await
                .len(),
            1
        );
        let sent = mails(&mail_dir);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(
            sent[0].contains(URL) && sent[0].contains("still works"),
            "{}",
            sent[0]
        );
        app.stop().await;
    }
);
