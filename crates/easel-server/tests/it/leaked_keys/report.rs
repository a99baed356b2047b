//! `POST /v1/leaked_keys`: anyone may report; the answer never tells a real key apart.

use easel_core::mode::Mode;
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use super::{configure, key_object, mails};
use crate::support::{TestApp, eventually};

const PATH: &str = "/v1/leaked_keys";
const URL: &str = "https://pastebin.example/raw/abc123";

/// Posts a report and returns the status, the raw body bytes and the checked response.
async fn report(app: &TestApp, body: &Value) -> (u16, Vec<u8>) {
    let res = app
        .raw(reqwest::Method::POST, PATH)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = res.status().as_u16();
    let bytes = res
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"))
        .to_vec();
    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    app.check(
        "POST",
        PATH,
        &crate::support::Res {
            status,
            headers: Default::default(),
            body: parsed,
        },
    );
    (status, bytes)
}

both_backends!(
    plain_reports_answer_byte_identically_and_revoke_only_the_real_key,
    |db: TestDb| async move {
        let mail_dir = db.dir.join("mail-out");
        let app = TestApp::start_with(&db, |c| configure(c, None, &mail_dir)).await;
        let (account_id, leaked) = app.account("pasted@example.com", "live").await;
        let other = app.owner_key(&account_id, "live").await;
        let already = app.owner_key(&account_id, "live").await;
        let revoked = key_object(&app, &already, &already).await;
        app.delete(
            &format!("/v1/keys/{}", revoked["id"].as_str().unwrap_or_default()),
            &already,
        )
        .await
        .expect(200);
        let unknown = easel_core::api_key::generate("vs", Mode::Live).secret;
        let mut answers = Vec::new();
        for key in [leaked.as_str(), &unknown, "garbage", &already, "vs_live_"] {
            let (status, body) =
                report(&app, &json!({"key": key, "url": URL, "source": "paste"})).await;
            assert_eq!(status, 202, "{key}: {}", String::from_utf8_lossy(&body));
            answers.push(body);
        }
        assert!(!answers[0].is_empty());
        assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
        assert!(
            !String::from_utf8_lossy(&answers[0]).contains("req_"),
            "no request id in the body"
        );

        let gone = eventually(5_000, || {
            let (app, leaked) = (&app, leaked.clone());
            async move { app.get("/v1/account", &leaked).await.status == 401 }
        })
        .await;
        assert!(gone, "the reported key is revoked");
        app.get("/v1/account", &leaked)
            .await
            .expect_error(401, "api_key_revoked");
        app.get("/v1/account", &other).await.expect(200);
        let key = key_object(&app, &other, &leaked).await;
        assert_eq!(
            (key["revoked_reason"].clone(), key["leak"]["url"].clone()),
            (json!("leaked"), json!(URL))
        );
        assert_eq!(key["leak"]["source"], "paste");
        let mailed = eventually(3_000, || {
            let dir = mail_dir.clone();
            async move { mails(&dir).len() == 1 }
        })
        .await;
        assert!(mailed, "the owner is told");
        // The key revoked by its owner before stays as its owner left it.
        let before = key_object(&app, &other, &already).await;
        assert_eq!(before["revoked_reason"], Value::Null, "{before}");
        app.stop().await;
    }
);

both_backends!(
    plain_reports_validate_their_body_like_any_request,
    |db: TestDb| async move {
        let mail_dir = db.dir.join("mail-out");
        let app = TestApp::start_with(&db, |c| configure(c, None, &mail_dir)).await;
        let bad = [
            (json!({"key": 5, "url": URL}), "key"),
            (
                json!({"key": "vs_live_x", "url": "ftp://example.com/x"}),
                "url",
            ),
            (json!({"key": "vs_live_x", "url": "not a url"}), "url"),
            (
                json!({"key": "vs_live_x", "url": format!("https://e.com/{}", "a".repeat(2100))}),
                "url",
            ),
            (json!({"key": "x".repeat(300), "url": URL}), "key"),
            (json!({"key": "", "url": URL}), "key"),
            (
                json!({"key": "vs_live_x", "url": URL, "source": "s".repeat(65)}),
                "source",
            ),
            (json!({"key": "vs_live_x"}), "url"),
        ];
        for (body, param) in bad {
            let res = app.call("POST", PATH, None, Some(body.clone())).await;
            assert_eq!(res.status, 400, "{body}: {}", res.body);
            assert_eq!(res.param(), param, "{body}: {}", res.body);
        }
        let res = app
            .call(
                "POST",
                PATH,
                None,
                Some(json!({"key": "k", "url": URL, "extra": 1})),
            )
            .await;
        assert_eq!(res.status, 400, "{}", res.body);
        let raw = app
            .raw(reqwest::Method::POST, PATH)
            .header("content-type", "application/json")
            .body("{not json");
        app.send(raw).await.expect_error(400, "invalid_json");
        app.stop().await;
    }
);

both_backends!(
    plain_reports_are_limited_per_client_address,
    |db: TestDb| async move {
        let mail_dir = db.dir.join("mail-out");
        let app = TestApp::start_with(&db, |c| {
            configure(c, None, &mail_dir);
            c.secret_scanning.reports_per_ip_per_minute = 2;
        })
        .await;
        let body = json!({"key": "vs_live_guess", "url": URL});
        for _ in 0..2 {
            assert_eq!(report(&app, &body).await.0, 202);
        }
        let res = app.call("POST", PATH, None, Some(body)).await;
        let res = res.expect_error(429, "rate_limit_exceeded");
        let retry: u64 = res
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After: {:?}", res.headers));
        assert!((1..=30).contains(&retry), "{retry}");
        // Invalid bodies are refused as such, not counted against the budget first.
        let invalid = app
            .call("POST", PATH, None, Some(json!({"key": "", "url": URL})))
            .await;
        invalid.expect_error(400, "parameter_invalid");
        app.stop().await;
    }
);
