//! Control characters in client text: a NUL (or another refused control) in a query, a
//! path, a JSON body or a console form is a 400 naming the parameter on both databases,
//! never PostgreSQL's 500; two `Authorization` headers are refused; and serde's rejections
//! are told in the API's own words.

use easel_test_utils::{TestDb, both_backends};
use reqwest::Method;
use serde_json::json;

use crate::support::{Res, TestApp};

#[track_caller]
fn refused(res: Res, param: &str) {
    let res = res.expect_error(400, "parameter_invalid");
    assert_eq!(res.param(), param, "{}", res.body);
    let message = res.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("U+00"),
        "the message names the character: {message}"
    );
}

both_backends!(
    a_control_character_in_a_query_parameter_is_a_400_naming_it,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let key = app.first.test_key.clone();
        for (path, param) in [
            ("/v1/generations?model=%00", "model"),
            ("/v1/generations?status=queued%00", "status"),
            ("/v1/requests?user=%00", "user"),
            ("/v1/requests?path=%00", "path"),
            ("/v1/requests?method=%00", "method"),
            ("/v1/requests?user=a%01b", "user"),
            ("/v1/requests?user=%7F", "user"),
            ("/v1/requests?user=%C2%85", "user"),
            ("/v1/requests?limit=2&us%00er=x", "user"),
            ("/v1/events?type=a%1Bb", "type"),
        ] {
            refused(app.get(path, &key).await, param);
        }
        // Invalid UTF-8 after decoding is refused with the parameter too.
        let res = app
            .get("/v1/requests?user=%FF", &key)
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "user");
        // Tab, line feed and carriage return are text, and ordinary values still work.
        let res = app
            .get("/v1/requests?user=a%09b%0Ac%0D", &key)
            .await
            .expect(200);
        assert_eq!(res.body["data"].as_array().map(Vec::len), Some(0));
        app.get("/v1/generations?model=sandbox-image", &key)
            .await
            .expect(200);
        app.stop().await;
    }
);

both_backends!(
    a_control_character_in_a_path_parameter_is_a_400_naming_it,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let key = app.first.test_key.clone();
        for (method, path, param) in [
            ("GET", "/v1/generations/gen_%00", "id"),
            ("DELETE", "/v1/generations/%00", "id"),
            ("POST", "/v1/generations/gen_%00/cancel", "id"),
            ("GET", "/v1/keys/key_%00", "id"),
            ("GET", "/v1/end_users/a%00b", "user"),
            ("POST", "/v1/end_users/a%00b/block", "user"),
            ("GET", "/v1/webhook_endpoints/%01/deliveries", "id"),
            ("GET", "/v1/outputs/gen_1/%00.png", "file"),
            ("GET", "/v1/invoices/inv_%FF", "id"),
        ] {
            let body = (method == "POST").then(|| json!({}));
            let res = app.call(method, path, Some(&key), body).await;
            let res = res.expect_error(400, "parameter_invalid");
            assert_eq!(res.param(), param, "{method} {path}: {}", res.body);
        }
        app.stop().await;
    }
);

both_backends!(
    a_control_character_anywhere_in_a_json_body_is_a_400_naming_the_field,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let key = app.first.test_key.clone();
        let gen_body = |extra: serde_json::Value| {
            let mut body =
                json!({"model": "sandbox-image", "prompt": "a cat", "width": 256, "height": 256});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            body
        };
        for (extra, param) in [
            (json!({"prompt": "a\u{0}b"}), "prompt"),
            (json!({"model": "sandbox-image\u{0}"}), "model"),
            (json!({"negative_prompt": "x\u{7}"}), "negative_prompt"),
            (json!({"user": "end\u{0}user"}), "user"),
            (json!({"metadata": {"order": "a\u{0}b"}}), "metadata.order"),
            (
                json!({"metadata": {"deep": {"list": ["ok", "\u{1b}[2J"]}}}),
                "metadata.deep.list[1]",
            ),
            (json!({"metadata": {"k\u{0}": "v"}}), "metadata.k"),
            (json!({"metadata": {"c1": "\u{85}"}}), "metadata.c1"),
        ] {
            for path in ["/v1/generations", "/v1/generations/quote"] {
                refused(app.post(path, &key, gen_body(extra.clone())).await, param);
            }
        }
        refused(
            app.post("/v1/keys", &key, json!({"name": "k\u{0}"})).await,
            "name",
        );
        refused(
            app.post(
                "/v1/images/generations",
                &key,
                json!({"prompt": "x\u{0}", "size": "256x256"}),
            )
            .await,
            "prompt",
        );
        // The keyless abuse report of the probe.
        refused(
            app.call(
                "POST",
                "/v1/abuse_reports",
                None,
                Some(json!({"output_url": "a\u{0}b", "category": "other", "description": "x"})),
            )
            .await,
            "output_url",
        );
        // Nothing above was stored.
        let listed = app.get("/v1/generations", &key).await.expect(200);
        assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(0));
        let keys = app.get("/v1/keys", &key).await.expect(200);
        assert_eq!(keys.body["data"].as_array().map(Vec::len), Some(1));
        // Whitespace in free text, and an escaped backslash before `u0000`, are accepted.
        app.post(
            "/v1/generations",
            &key,
            gen_body(
                json!({"prompt": "line one\nline two\ttabbed\r\n", "metadata": {"raw": "\\u0000"}}),
            ),
        )
        .await
        .expect(202);
        app.stop().await;
    }
);

both_backends!(
    a_control_character_in_the_public_abuse_form_is_a_400_naming_the_field,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.abuse.form_min_seconds = 1).await;
        let client = reqwest::Client::new();
        let html = client
            .get(format!("{}/abuse", app.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("form: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("form body: {e}"));
        let token = html
            .split("name=\"t\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_string();
        assert!(!token.is_empty(), "the form carries a token");
        // Old enough that only the character can make the report fail.
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        for (field, value) in [
            ("content", "https://elsewhere.example/a\u{0}b.png"),
            ("description", "bad\u{0}"),
            ("email", "a\u{1}@example.com"),
        ] {
            let mut fields = vec![
                ("content", "https://elsewhere.example/x.png"),
                ("category", "other"),
                ("description", "a report"),
                ("email", ""),
                ("website", ""),
                ("t", token.as_str()),
            ];
            for f in &mut fields {
                if f.0 == field {
                    f.1 = value;
                }
            }
            let res = client
                .post(format!("{}/abuse", app.url))
                .form(&fields)
                .send()
                .await
                .unwrap_or_else(|e| panic!("post: {e}"));
            assert_eq!(res.status().as_u16(), 400, "{field}");
            let page = res.text().await.unwrap_or_else(|e| panic!("{e}"));
            assert!(page.contains(&format!("“{field}”")), "{field}: {page}");
        }
        let reports = crate::support::binary::admin(&db, &["abuse", "list"]);
        assert_eq!(reports.as_array().map(Vec::len), Some(0), "{reports}");
        app.stop().await;
    }
);

both_backends!(
    two_authorization_headers_are_refused,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let key = app.first.test_key.clone();
        let twice = |method: Method, path: &str, second: &str| {
            app.raw(method, path)
                .header("authorization", format!("Bearer {key}"))
                .header("authorization", second.to_string())
        };
        for second in [
            format!("Bearer {key}"),
            "Bearer vs_test_other".to_string(),
            "Basic eDp5".to_string(),
        ] {
            let res = app
                .send(twice(Method::GET, "/v1/account", &second))
                .await
                .expect_error(400, "multiple_authorization_headers");
            app.check("GET", "/v1/account", &res);
        }
        // Also where a key is optional, and on a write.
        app.send(
            twice(Method::POST, "/v1/abuse_reports", &format!("Bearer {key}"))
                .json(&json!({"output_url": "https://x.example/a.png", "category": "other", "description": "x"})),
        )
        .await
        .expect_error(400, "multiple_authorization_headers");
        app.send(
            twice(Method::POST, "/v1/keys", &format!("Bearer {key}"))
                .json(&json!({"name": "twice"})),
        )
        .await
        .expect_error(400, "multiple_authorization_headers");
        let keys = app.get("/v1/keys", &key).await.expect(200);
        assert_eq!(keys.body["data"].as_array().map(Vec::len), Some(1));
        app.stop().await;
    }
);
