//! Request ids, the error envelope for every kind of bad request, health, OpenAPI.

use easel_test_utils::{TestDb, both_backends};
use reqwest::Method;
use serde_json::json;

use crate::support::TestApp;

both_backends!(
    request_ids_are_echoed_or_assigned,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let res = app
            .send(
                app.raw(Method::GET, "/healthz")
                    .header("x-request-id", "client-abc.123"),
            )
            .await;
        assert_eq!(res.headers["x-request-id"], "client-abc.123");
        let res = app
            .send(
                app.raw(Method::GET, "/healthz")
                    .header("x-request-id", "bad id <script>"),
            )
            .await;
        let id = res.headers["x-request-id"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            id.starts_with("req_") && id.len() == 30,
            "insane inbound ids are replaced: {id}"
        );
        let res = app
            .send(
                app.raw(Method::GET, "/nope")
                    .header("x-request-id", "trace-7"),
            )
            .await
            .expect_error(404, "route_not_found");
        assert_eq!(res.body["error"]["request_id"], "trace-7");
        app.stop().await;
    }
);

both_backends!(
    every_kind_of_bad_request_gets_the_envelope,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.http.max_body_bytes = 64 * 1024).await;
        let key = app.first.test_key.clone();
        let post = |body: reqwest::Body, ct: &str| {
            app.raw(Method::POST, "/v1/keys")
                .bearer_auth(&key)
                .header("content-type", ct.to_string())
                .body(body)
        };
        app.send(app.raw(Method::GET, "/v2/account"))
            .await
            .expect_error(404, "route_not_found");
        let res = app
            .send(app.raw(Method::PATCH, "/v1/account").bearer_auth(&key))
            .await
            .expect_error(405, "method_not_allowed");
        assert!(res.headers.contains_key("allow"));
        for chunked in [false, true] {
            let (status, body) = oversized_post(&app, &key, 10 * 1024 * 1024, chunked).await;
            assert_eq!(status, 413, "chunked={chunked}: {body}");
            assert_eq!(body["error"]["code"], "body_too_large", "chunked={chunked}");
        }
        app.send(post("name=x".into(), "application/x-www-form-urlencoded"))
            .await
            .expect_error(415, "unsupported_media_type");
        app.send(post("{\"name\": \"x\"}".into(), "text/plain"))
            .await
            .expect_error(415, "unsupported_media_type");
        let res = app
            .send(post("{\"name\": ".into(), "application/json"))
            .await
            .expect_error(400, "invalid_json");
        assert!(
            res.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("line 1"),
            "{}",
            res.body
        );
        app.send(post("".into(), "application/json"))
            .await
            .expect_error(400, "invalid_json");
        app.send(post("[1,2]".into(), "application/json"))
            .await
            .expect_error(400, "parameter_invalid");
        app.send(post("{\"name\":\"a\"} x".into(), "application/json"))
            .await
            .expect_error(400, "invalid_json");
        let res = app
            .send(post(
                b"{\"name\": \"\xff\xfe\"}".to_vec().into(),
                "application/json",
            ))
            .await
            .expect_error(400, "invalid_json");
        assert!(
            res.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("UTF-8"),
            "{}",
            res.body
        );
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(
            app.send(post(deep.into(), "application/json")).await.status,
            400
        );
        let res = app
            .post(
                "/v1/keys",
                &key,
                json!({"name": "x", "scopes": "keys:read"}),
            )
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "scopes");
        let res = app
            .post("/v1/keys", &key, json!({"name": 5}))
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "name");
        let res = app
            .post("/v1/keys", &key, json!({"nmae": "x"}))
            .await
            .expect_error(400, "parameter_unknown");
        assert_eq!(res.param(), "nmae");
        let res = app
            .post("/v1/keys", &key, json!({"scopes": []}))
            .await
            .expect_error(400, "parameter_missing");
        assert_eq!(res.param(), "name");
        let res = app
            .get("/v1/keys?limit=0", &key)
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "limit");
        let res = app
            .get("/v1/keys?limit=abc", &key)
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "limit");
        let res = app
            .get("/v1/keys?colour=red", &key)
            .await
            .expect_error(400, "parameter_unknown");
        assert_eq!(res.param(), "colour");
        let res = app
            .get("/v1/keys?starting_after=acct_01", &key)
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "starting_after");
        // Nothing above created a key: only the demo key exists.
        let keys = app.get("/v1/keys", &key).await.expect(200);
        assert_eq!(keys.body["data"].as_array().map(Vec::len), Some(1));
        app.stop().await;
    }
);

/// Posts a `size`-byte JSON body over a raw socket (so the early 413 cannot race the upload)
/// and returns the status and envelope.
async fn oversized_post(
    app: &TestApp,
    key: &str,
    size: usize,
    chunked: bool,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {size}")
    };
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(head.as_bytes()).await;
    // Keep sending until the server answers and closes; it must not read all 10 MB first.
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < size {
        let piece = if chunked {
            [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk.clone(),
                b"\r\n".to_vec(),
            ]
            .concat()
        } else {
            chunk.clone()
        };
        if stream.write_all(&piece).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body = if chunked || text.to_lowercase().contains("transfer-encoding: chunked") {
        body.lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_default()
            .to_string()
    } else {
        body.to_string()
    };
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

both_backends!(
    a_client_that_sends_the_whole_body_first_still_reads_the_413,
    |db: TestDb| async move {
        // Python's `requests` and `httpx` (so the OpenAI SDK) and `reqwest` write the whole
        // body before reading: a server that answers and closes without reading it resets
        // the connection, and the client sees a broken pipe instead of the envelope.
        let app = TestApp::start_with(&db, |c| c.http.max_body_bytes = 64 * 1024).await;
        let key = app.first.test_key.clone();
        for _ in 0..3 {
            let (written, status, body) = send_everything_then_read(&app, &key, 5 << 20).await;
            assert!(
                written,
                "every byte of the body was accepted by the connection"
            );
            assert_eq!(status, 413, "{body}");
            assert_eq!(body["error"]["code"], "body_too_large");
        }
        // A client that waits for `100 Continue` is answered without sending the body.
        let (status, _) = expect_continue(&app, &key, 5 << 20).await;
        assert_eq!(status, 413);
        app.stop().await;
    }
);

/// Sends a `Content-Length: size` POST in full, then reads the answer: (whether every
/// write succeeded, the status, the JSON body).
async fn send_everything_then_read(
    app: &TestApp,
    key: &str,
    size: usize,
) -> (bool, u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    let mut written = stream.write_all(head.as_bytes()).await.is_ok();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while written && sent < size {
        written = stream.write_all(&chunk).await.is_ok();
        sent += chunk.len();
    }
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    assert!(
        read.is_ok() || !text.is_empty(),
        "the answer was lost: {read:?}"
    );
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (
        written,
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Sends only the head of a `Content-Length: size` POST with `Expect: 100-continue` and
/// reads the first answer's status.
async fn expect_continue(app: &TestApp, key: &str, size: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut first = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut first))
        .await
        .unwrap_or_else(|_| panic!("no answer within 5 s: the server waits for the body"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&first[..n]).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

both_backends!(health_and_readiness, |db: TestDb| async move {
    let app = TestApp::start(&db).await;
    let res = app.send(app.raw(Method::GET, "/healthz")).await.expect(200);
    assert_eq!(res.body["status"], "ok");
    let res = app.send(app.raw(Method::GET, "/readyz")).await.expect(200);
    assert_eq!(
        res.body["database"],
        if db.backend == easel_test_utils::Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    assert_eq!(res.body["object_store"], "ok");
    assert!(
        res.body.get("redis").is_none(),
        "no Redis configured: {}",
        res.body
    );
    app.stop().await;
});

both_backends!(
    readiness_reports_redis_without_failing_on_it,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.redis_url = easel_test_utils::redis_url()).await;
        let res = app.send(app.raw(Method::GET, "/readyz")).await.expect(200);
        assert_eq!(res.body["redis"], "ok", "{}", res.body);
        app.stop().await;
        // Redis away: still ready (limits count on this node), and says so.
        let app = TestApp::start_with(&db, |c| {
            c.redis_url = "redis://127.0.0.1:1".into();
            c.limits.redis_timeout_ms = 200;
        })
        .await;
        let res = app.send(app.raw(Method::GET, "/readyz")).await.expect(200);
        assert_eq!(res.body["redis"], "degraded", "{}", res.body);
        app.stop().await;
    }
);

#[tokio::test]
async fn openapi_document_is_3_1_and_committed() {
    let (_, doc) = easel_server::router::api();
    let doc = serde_json::to_value(&doc).unwrap_or_default();
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let rendered = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");
    if std::env::var_os("EASEL_TEST_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &rendered).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == rendered,
        "openapi.json is stale: run `EASEL_TEST_UPDATE_OPENAPI=1 cargo test -p easel-server openapi` and commit it"
    );
}

#[tokio::test]
async fn served_openapi_matches_the_generated_one() {
    let db = TestDb::new(easel_test_utils::Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let res = app
        .send(app.raw(Method::GET, "/openapi.json"))
        .await
        .expect(200);
    let (_, doc) = easel_server::router::api();
    assert_eq!(res.body, serde_json::to_value(&doc).unwrap_or_default());
    app.stop().await;
}

both_backends!(
    every_documented_operation_answers_as_documented,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, crate::workers::support::config).await;
        let key = app.first.test_key.clone();
        worker_tour(&app).await;
        app.get("/v1/account", &key).await.expect(200);
        app.get("/v1/keys", &key).await.expect(200);
        let created = app
            .post("/v1/keys", &key, json!({"name": "tour"}))
            .await
            .expect(201);
        let id = created.body["id"].as_str().unwrap_or_default().to_string();
        app.get(&format!("/v1/keys/{id}"), &key).await.expect(200);
        app.post(&format!("/v1/keys/{id}/rotate"), &key, json!({}))
            .await
            .expect(200);
        app.delete(&format!("/v1/keys/{id}"), &key)
            .await
            .expect(200);
        app.get("/v1/audit_log", &key).await.expect(200);
        app.get("/v1/account/members", &key).await.expect(200);
        app.get("/v1/models", &key).await.expect(200);
        app.get("/v1/events", &key).await.expect(200);
        app.get("/v1/ledger", &key).await.expect(200);
        app.get("/v1/balance", &key).await.expect(200);
        // Stripe payments are not configured here: a signed delivery is a documented 404.
        let tour_event = crate::stripe::checkout_event(
            "evt_tour",
            "cs_test_tour",
            Some(&app.first.demo_account_id),
            json!(1000),
            "eur",
        );
        crate::stripe::deliver_signed(&app, &tour_event)
            .await
            .expect_error(404, "resource_missing");
        app.get("/v1/usage", &key).await.expect(200);
        app.get("/v1/invoices", &key).await.expect(200);
        let no_invoice = "/v1/invoices/inv_01m864a045xwwke0zd48j6933p";
        app.get(no_invoice, &key).await.expect(404);
        app.get(&format!("{no_invoice}/pdf"), &key)
            .await
            .expect(404);
        let member = app
            .post(
                "/v1/account/members",
                &key,
                json!({"email": "tour@example.com", "role": "viewer"}),
            )
            .await
            .expect(201);
        let user = member.body["user_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let path = format!("/v1/account/members/{user}");
        app.call(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"role": "developer"})),
        )
        .await
        .expect(200);
        app.delete(&path, &key).await.expect(200);
        let gen_body =
            json!({"model": "sandbox-image", "prompt": "tour", "width": 256, "height": 256});
        app.post("/v1/generations/quote", &key, gen_body.clone())
            .await
            .expect(200);
        let g = app
            .post("/v1/generations", &key, gen_body)
            .await
            .expect(202);
        let gen_id = g.body["id"].as_str().unwrap_or_default().to_string();
        app.get("/v1/generations", &key).await.expect(200);
        app.post(
            "/v1/images/generations",
            &key,
            json!({"prompt": "tour", "size": "256x256"}),
        )
        .await
        .expect(200);
        app.post("/v1/moderations", &key, json!({"input": ["tour"]}))
            .await
            .expect(200);
        let tour_png = easel_test_utils::fakes::images::png(16, 16, 1);
        let edit = reqwest::multipart::Form::new()
            .text("prompt", "tour")
            .text("size", "256x256")
            .part(
                "image",
                reqwest::multipart::Part::bytes(tour_png).file_name("tour.png"),
            );
        let res = app
            .send(
                app.raw(Method::POST, "/v1/images/edits")
                    .bearer_auth(&key)
                    .multipart(edit),
            )
            .await
            .expect(200);
        app.check("POST", "/v1/images/edits", &res);
        let done = crate::generations::until(&app, &key, &gen_id, &["succeeded"]).await;
        let url = done["outputs"][0]["url"].as_str().unwrap_or_default();
        let path = url
            .trim_start_matches(&app.url)
            .replace("signature=", "signature=0");
        app.call("GET", &path, None, None).await.expect(403);
        app.post(&format!("/v1/generations/{gen_id}/cancel"), &key, json!({}))
            .await
            .expect(409);
        app.delete(&format!("/v1/generations/{gen_id}"), &key)
            .await
            .expect(200);
        app.post(
            "/v1/end_users/tour-user/block",
            &key,
            json!({"reason": "tour"}),
        )
        .await
        .expect(200);
        app.get("/v1/end_users", &key).await.expect(200);
        app.get("/v1/end_users/tour-user", &key).await.expect(200);
        app.post("/v1/end_users/tour-user/unblock", &key, json!({}))
            .await
            .expect(200);
        app.get("/v1/requests", &key).await.expect(200);
        app.call(
            "POST",
            "/v1/abuse_reports",
            None,
            Some(json!({"generation_id": gen_id, "category": "other", "description": "tour"})),
        )
        .await
        .expect(201);
        // Leaked keys: a keyless report, and GitHub's route (off without GitHub's keys).
        app.call(
            "POST",
            "/v1/leaked_keys",
            None,
            Some(json!({"key": "vs_test_tour", "url": "https://example.com/tour"})),
        )
        .await
        .expect(202);
        app.call("POST", "/v1/secret_scanning/github", None, Some(json!([])))
            .await
            .expect(404);
        // Webhooks: an endpoint on a loopback receiver (test mode).
        let receiver =
            crate::support::serve_loopback(axum::Router::new().fallback(|| async { "ok" })).await;
        let hook = app
            .post(
                "/v1/webhook_endpoints",
                &key,
                json!({"url": format!("http://{receiver}/hook")}),
            )
            .await
            .expect(201);
        let hook_id = hook.body["id"].as_str().unwrap_or_default().to_string();
        let hook_path = format!("/v1/webhook_endpoints/{hook_id}");
        app.get("/v1/webhook_endpoints", &key).await.expect(200);
        app.get(&hook_path, &key).await.expect(200);
        app.call(
            "PATCH",
            &hook_path,
            Some(&key),
            Some(json!({"description": "tour"})),
        )
        .await
        .expect(200);
        app.post(&format!("{hook_path}/rotate_secret"), &key, json!({}))
            .await
            .expect(200);
        app.get(&format!("{hook_path}/deliveries"), &key)
            .await
            .expect(200);
        // Deliveries: their 404s are documented answers (the webhook tests cover the rest).
        app.get(
            "/v1/webhook_deliveries/whd_01m864a045xwwke0zd48j6933p",
            &key,
        )
        .await
        .expect(404);
        app.post(
            "/v1/webhook_deliveries/whd_01m864a045xwwke0zd48j6933p/replay",
            &key,
            json!({}),
        )
        .await
        .expect(404);
        app.delete(&hook_path, &key).await.expect(200);
        // Data rights: an export (a tampered download URL is refused), and an erasure
        // request refused for its confirmation (a real one would suspend the account).
        let export = app
            .post("/v1/account/exports", &key, json!({}))
            .await
            .expect(202);
        let export_id = export.body["id"].as_str().unwrap_or_default().to_string();
        app.get("/v1/account/exports", &key).await.expect(200);
        let ready = crate::data_rights::settled(&app, &key, &export_id).await;
        assert_eq!(ready["status"], "ready", "{ready}");
        let url = ready["download_url"].as_str().unwrap_or_default();
        let tampered = url
            .trim_start_matches(&app.url)
            .replace("signature=", "signature=0");
        app.call("GET", &tampered, None, None).await.expect(403);
        app.post(
            "/v1/account/erasure",
            &key,
            json!({"confirm": "acct_01m864a045xwwke0zd48j6933p"}),
        )
        .await
        .expect(400);
        // Errors are documented too: each operation's 4XX is checked as well.
        app.get("/v1/keys/key_01m864a045xwwke0zd48j6933p", &key)
            .await
            .expect(404);
        let mut covered = app.covered();
        covered.sort();
        let (_, doc) = easel_server::router::api();
        let checker =
            crate::support::openapi::Checker::new(serde_json::to_value(&doc).unwrap_or_default());
        let mut documented = checker.operations();
        documented.sort();
        assert_eq!(
            covered, documented,
            "every documented operation is exercised (and no other)"
        );
        app.stop().await;
    }
);

/// Every worker operation once, each answer checked against the document.
async fn worker_tour(app: &TestApp) {
    use crate::workers::support::{Client, image_body, register};
    let (_, token) = register(app, "tour", &["gpu-image"]).await;
    let w = Client { app, token };
    let (_, live) = crate::generations::funded(app, "tour-worker@example.com").await;
    app.call("GET", "/worker/v1/me", Some(&w.token), None)
        .await
        .expect(200);
    w.claim(&["gpu-image"], 0).await.expect(204);
    crate::generations::create(app, &live, image_body(1), None)
        .await
        .expect(202);
    let lease = w.lease(&["gpu-image"]).await;
    w.heartbeat(&lease, json!({"progress": 0.1}))
        .await
        .expect(200);
    let input = format!(
        "/worker/v1/leases/{}/input",
        lease["lease_id"].as_str().unwrap_or_default()
    );
    app.call("GET", &input, Some(&w.token), None)
        .await
        .expect_error(404, "resource_missing");
    let done = w.produce(&lease).await;
    w.complete(&lease, done).await.expect(200);
    w.fail(&lease, json!({"kind": "transient", "message": "tour"}))
        .await
        .expect_error(409, "lease_lost");
}

both_backends!(
    a_request_that_takes_too_long_gets_408,
    |db: TestDb| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = TestApp::start_with(&db, |c| c.http.request_timeout_seconds = 1).await;
        let addr = app.url.trim_start_matches("http://").to_string();
        let key = app.first.test_key.clone();
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Headers and a first byte of the body, then nothing: the handler waits for the rest.
        let head = format!(
            "POST /v1/keys HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{{"
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let started = std::time::Instant::now();
        let mut response = String::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_string(&mut response),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(
            response.contains("\"code\":\"request_timeout\""),
            "{response}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        app.stop().await;
    }
);

both_backends!(
    readiness_fails_when_migrations_are_missing,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        app.send(app.raw(Method::GET, "/readyz")).await.expect(200);
        // Forget the applied migration, as a database restored from an older backup would.
        db.execute("DELETE FROM _sqlx_migrations").await;
        let res = app
            .send(app.raw(Method::GET, "/readyz"))
            .await
            .expect_error(503, "service_unavailable");
        assert!(
            res.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("migrations"),
            "{}",
            res.body
        );
        assert_eq!(res.headers["retry-after"], "1");
        app.send(app.raw(Method::GET, "/healthz")).await.expect(200);
        app.stop().await;
    }
);
