//! `POST /v1/images/generations` and `POST /v1/images/edits`, driven by the official
//! `openai` Python SDK (a client nobody here wrote), and the endpoints' own edge cases over
//! plain HTTP.

use easel_core::mode::Mode;
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Res, TestApp};

both_backends!(
    the_official_openai_sdk_generates_images,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (_, key) = app.account("sdk@example.com", "test").await;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_images.py");
        let out = tokio::process::Command::new(easel_test_utils::python())
            .arg(script)
            .arg(&app.url)
            .arg(&key)
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run python: {e}"));
        assert!(
            out.status.success(),
            "the SDK script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(seen["b64_sizes"], json!([[256, 256], [256, 256]]), "{seen}");
        assert_eq!(seen["b64_distinct"], 2);
        assert!(seen["created"].as_i64().unwrap_or_default() > 1_700_000_000);
        assert_eq!(seen["url_content_type"], "image/png");
        assert_eq!(seen["url_size"], json!([512, 512]));
        assert_eq!(
            seen["bad_size"],
            json!({"status": 400, "code": "parameter_invalid", "param": "size"})
        );
        assert_eq!(
            seen["bad_model"],
            json!({"status": 404, "code": "model_not_found"})
        );
        assert_eq!(
            seen["bad_key"],
            json!({"status": 401, "code": "invalid_api_key"})
        );
        // They are ordinary generations too, with the end user recorded.
        let list = app
            .get("/v1/generations?limit=100", &key)
            .await
            .expect(200)
            .body;
        let data = list["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(data.len(), 2, "the two accepted calls: {list}");
        assert_eq!(data[1]["user"], "end-user-1");
        app.stop().await;
    }
);

both_backends!(openai_endpoint_edge_cases, |db: TestDb| async move {
    let app = TestApp::start_with(&db, |c| {
        crate::generations::with_test_models(c);
        c.generations.max_wait_seconds = 1;
    })
    .await;
    let (_, key) = crate::generations::funded(&app, "edge@example.com").await;
    let res = app
        .post(
            "/v1/images/generations",
            &key,
            json!({"prompt": "default model"}),
        )
        .await
        .expect(200);
    assert!(
        res.body["data"][0]["url"]
            .as_str()
            .is_some_and(|u| u.contains("/v1/outputs/"))
    );
    app.post(
        "/v1/images/generations",
        &key,
        json!({"prompt": "v", "model": "sandbox-video"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    app.post(
        "/v1/images/generations",
        &key,
        json!({"prompt": "v", "size": "big"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    app.post(
        "/v1/images/generations",
        &key,
        json!({"prompt": "v", "response_format": "gif"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    app.post(
        "/v1/images/generations",
        &key,
        json!({"prompt": "v", "model": "broken-image"}),
    )
    .await
    .expect_error(502, "generation_failed");
    let slow = app
        .post(
            "/v1/images/generations",
            &key,
            json!({"prompt": "v", "model": "slow-image"}),
        )
        .await;
    let slow = slow.expect_error(504, "generation_timeout");
    let message = slow.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let id = message
        .split_whitespace()
        .find(|w| w.starts_with("gen_"))
        .unwrap_or_default()
        .to_string();
    app.post(&format!("/v1/generations/{id}/cancel"), &key, json!({}))
        .await
        .expect(200);
    app.stop().await;
});

/// Runs `tests/python/<script>` with the server's URL, `key` and `args`; returns what it
/// printed.
async fn run_sdk_script(app: &TestApp, script: &str, key: &str, args: &[&str]) -> Value {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(easel_test_utils::python())
        .arg(&path)
        .arg(&app.url)
        .arg(key)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run python: {e}"));
    assert!(
        out.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The stored input image of a generation, as the engine will read it.
async fn stored_input(app: &TestApp, account_id: &str, mode: Mode, id: &str) -> Vec<u8> {
    let g = app
        .state
        .store
        .get_generation(account_id, mode, id)
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    let path = g.input["input_image"]["path"].as_str().unwrap_or_default();
    assert!(
        !path.is_empty(),
        "{id} has no stored input image: {}",
        g.input
    );
    app.state
        .outputs
        .get(path)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_vec()
}

both_backends!(
    the_official_openai_sdk_edits_images,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = app.account("sdk-edits@example.com", "test").await;
        let input = easel_test_utils::fakes::images::png(64, 48, 7);
        let sha256 = hex::encode(Sha256::digest(&input));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("input.png");
        std::fs::write(&file, &input).unwrap_or_else(|e| panic!("{e}"));
        let file = file.to_string_lossy().into_owned();
        let seen = run_sdk_script(&app, "openai_edits.py", &key, &[&file]).await;
        assert_eq!(seen["b64_sizes"], json!([[256, 256], [256, 256]]), "{seen}");
        assert_eq!(seen["b64_distinct"], 2);
        assert!(seen["created"].as_i64().unwrap_or_default() > 1_700_000_000);
        assert_eq!(seen["url_count"], 1);
        assert_eq!(seen["url_content_type"], "image/png");
        assert_eq!(seen["url_size"], json!([512, 512]));
        let invalid =
            |param: &str| json!({"status": 400, "code": "parameter_invalid", "param": param});
        assert_eq!(seen["mask"], invalid("mask"), "{seen}");
        assert_eq!(seen["two_images"], invalid("image"), "{seen}");
        assert_eq!(seen["not_an_image"], invalid("image"), "{seen}");
        assert_eq!(seen["bad_size"], invalid("size"), "{seen}");
        assert_eq!(
            seen["background"],
            json!({"status": 400, "code": "parameter_unknown", "param": "background"})
        );
        assert_eq!(
            seen["bad_model"],
            json!({"status": 404, "code": "model_not_found", "param": "model"})
        );
        assert_eq!(
            seen["bad_key"],
            json!({"status": 401, "code": "invalid_api_key"})
        );
        // The two accepted edits are ordinary generations that carry the uploaded image.
        let list = app
            .get("/v1/generations?limit=100", &key)
            .await
            .expect(200)
            .body;
        let data = list["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(data.len(), 2, "the two accepted calls: {list}");
        for g in &data {
            let id = g["id"].as_str().unwrap_or_default();
            let shown = app
                .get(&format!("/v1/generations/{id}"), &key)
                .await
                .expect(200);
            let image = &shown.body["input"]["input_image"];
            assert_eq!(image["sha256"], sha256.as_str(), "{}", shown.body);
            assert_eq!(image["content_type"], "image/png");
            assert_eq!(image["bytes"], input.len());
            assert_eq!(stored_input(&app, &account_id, Mode::Test, id).await, input);
        }
        let first = &data[1];
        assert_eq!(first["user"], "editor-1");
        assert_eq!(first["input"]["n"], 2);
        assert_eq!(first["input"]["prompt"], "the same lighthouse at dusk");
        app.stop().await;
    }
);

/// A `multipart/form-data` body with a fixed boundary, so the same parts make the same
/// bytes: `(name, file name, content)` per part.
fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(b"--XBOUNDARYX\r\n");
        let disposition = match file {
            Some(file) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XBOUNDARYX--\r\n");
    body
}

const FORM_TYPE: &str = "multipart/form-data; boundary=XBOUNDARYX";

/// Posts `body` as `content_type` to `/v1/images/edits` and checks the answer against the
/// OpenAPI document.
async fn post_edit(app: &TestApp, key: &str, content_type: &str, body: Vec<u8>) -> Res {
    let req = app
        .raw(reqwest::Method::POST, "/v1/images/edits")
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body);
    let res = app.send(req).await;
    app.check("POST", "/v1/images/edits", &res);
    res
}

/// A PNG whose `tEXt` chunk says `text` (where generators leave their prompts).
fn png_with_text(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 2, 2);
        encoder.set_color(png::ColorType::Grayscale);
        encoder
            .add_text_chunk("parameters".to_string(), text.to_string())
            .unwrap_or_else(|e| panic!("text chunk: {e}"));
        let mut writer = encoder
            .write_header()
            .unwrap_or_else(|e| panic!("header: {e}"));
        writer
            .write_image_data(&[0, 0, 0, 0])
            .unwrap_or_else(|e| panic!("data: {e}"));
    }
    bytes
}

/// A request the endpoint must refuse, and how.
struct Refused {
    what: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    param: Option<&'static str>,
}

/// A body refused as a whole (not a readable form).
fn unreadable(
    what: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
) -> Refused {
    Refused {
        what,
        content_type,
        body,
        status,
        code,
        param: None,
    }
}

/// A well-formed form refused for one field, with a 400.
fn field(what: &'static str, body: Vec<u8>, code: &'static str, param: &'static str) -> Refused {
    Refused {
        what,
        content_type: FORM_TYPE,
        body,
        status: 400,
        code,
        param: Some(param),
    }
}

both_backends!(edits_refuse_bad_forms_clearly, |db: TestDb| async move {
    let app = TestApp::start_with(&db, |c| {
        crate::generations::with_test_models(c);
        c.generations.max_input_image_bytes = 4096;
        c.http.max_body_bytes = 64 * 1024;
    })
    .await;
    let (account_id, key) = crate::generations::funded(&app, "edit-forms@example.com").await;
    let png = easel_test_utils::fakes::images::png(8, 8, 1);
    let image: (&str, Option<&str>, &[u8]) = ("image", Some("in.png"), &png);
    let prompt: (&str, Option<&str>, &[u8]) = ("prompt", None, b"a calm lake");
    let good = form(&[image, prompt]);
    let nameless = b"--XBOUNDARYX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XBOUNDARYX--\r\n";
    let invalid = "parameter_invalid";
    let refused = [
        unreadable(
            "json body",
            "application/json",
            br#"{"prompt":"x"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        unreadable(
            "text content type",
            "text/plain",
            good.clone(),
            415,
            "unsupported_media_type",
        ),
        unreadable(
            "no boundary",
            "multipart/form-data",
            good.clone(),
            400,
            "invalid_multipart",
        ),
        unreadable(
            "garbage",
            FORM_TYPE,
            b"this is not a form".to_vec(),
            400,
            "invalid_multipart",
        ),
        unreadable(
            "empty body",
            FORM_TYPE,
            Vec::new(),
            400,
            "invalid_multipart",
        ),
        unreadable(
            "truncated",
            FORM_TYPE,
            good[..60].to_vec(),
            400,
            "invalid_multipart",
        ),
        unreadable(
            "nameless part",
            FORM_TYPE,
            nameless.to_vec(),
            400,
            "invalid_multipart",
        ),
        unreadable(
            "body too large",
            FORM_TYPE,
            form(&[("image", Some("huge.png"), &vec![7; 100 * 1024]), prompt]),
            413,
            "body_too_large",
        ),
        field("no image", form(&[prompt]), "parameter_missing", "image"),
        field("no prompt", form(&[image]), "parameter_missing", "prompt"),
        field(
            "empty image",
            form(&[("image", Some("in.png"), b""), prompt]),
            invalid,
            "image",
        ),
        field(
            "not an image",
            form(&[("image", Some("a.txt"), b"hello there"), prompt]),
            invalid,
            "image",
        ),
        field(
            "image too large",
            form(&[("image", Some("big.png"), &vec![0x89; 5000]), prompt]),
            invalid,
            "image",
        ),
        field(
            "two images",
            form(&[image, prompt, ("image[]", Some("b.png"), &png)]),
            invalid,
            "image",
        ),
        field(
            "duplicated prompt",
            form(&[image, prompt, prompt]),
            invalid,
            "prompt",
        ),
        field(
            "mask",
            form(&[image, prompt, ("mask", Some("m.png"), &png)]),
            invalid,
            "mask",
        ),
        field(
            "unknown field",
            form(&[image, prompt, ("background", None, b"transparent")]),
            "parameter_unknown",
            "background",
        ),
        field(
            "control character",
            form(&[image, ("prompt", None, b"a \x1b[31m lake")]),
            invalid,
            "prompt",
        ),
        field(
            "control in user",
            form(&[image, prompt, ("user", None, b"u\x00")]),
            invalid,
            "user",
        ),
        field(
            "not UTF-8",
            form(&[image, ("prompt", None, b"caf\xe9")]),
            invalid,
            "prompt",
        ),
        field(
            "bad n",
            form(&[image, prompt, ("n", None, b"two")]),
            invalid,
            "n",
        ),
        field(
            "n too large",
            form(&[image, prompt, ("n", None, b"99")]),
            invalid,
            "n",
        ),
        field(
            "bad format",
            form(&[image, prompt, ("response_format", None, b"gif")]),
            invalid,
            "response_format",
        ),
        field(
            "bad size",
            form(&[image, prompt, ("size", None, b"big")]),
            invalid,
            "size",
        ),
        field(
            "video model",
            form(&[image, prompt, ("model", None, b"sandbox-video")]),
            invalid,
            "model",
        ),
    ];
    for r in refused {
        let res = post_edit(&app, &key, r.content_type, r.body).await;
        assert_eq!(
            (res.status, res.code()),
            (r.status, r.code),
            "{}: {}",
            r.what,
            res.body
        );
        if let Some(param) = r.param {
            assert_eq!(res.param(), param, "{}: {}", r.what, res.body);
        }
        let message = res.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.len() > 20,
            "{}: a message that explains: {message}",
            r.what
        );
    }
    // A streamed image (no Content-Length) is cut off once it outgrows the limit.
    let huge = form(&[("image", Some("huge.png"), &vec![7; 100 * 1024]), prompt]);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        huge.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let req = app
        .raw(reqwest::Method::POST, "/v1/images/edits")
        .bearer_auth(&key)
        .header("content-type", FORM_TYPE)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)));
    let res = app.send(req).await;
    app.check("POST", "/v1/images/edits", &res);
    assert_eq!(
        (res.status, res.code(), res.param()),
        (400, "parameter_invalid", "image"),
        "{}",
        res.body
    );
    // The image's metadata is moderated as the native `input_image`'s is.
    let flagged = png_with_text("masterpiece, fake passport, 8k");
    let res = post_edit(
        &app,
        &key,
        FORM_TYPE,
        form(&[("image", Some("f.png"), &flagged), prompt]),
    )
    .await;
    assert_eq!(
        (res.status, res.code()),
        (400, "content_policy_violation"),
        "{}",
        res.body
    );
    assert_eq!(res.param(), "image");
    // Nothing above was queued.
    let list = app.get("/v1/generations", &key).await.expect(200).body;
    assert_eq!(list["data"], json!([]), "{list}");

    // A good form; its image is the generation's stored input, byte for byte.
    let good = form(&[
        image,
        prompt,
        ("response_format", None, b"b64_json"),
        ("size", None, b"256x256"),
        ("user", None, b"edit-user"),
    ]);
    let send = |body: Vec<u8>| {
        app.raw(reqwest::Method::POST, "/v1/images/edits")
            .bearer_auth(&key)
            .header("content-type", FORM_TYPE)
            .header("idempotency-key", "edit-once")
            .body(body)
    };
    let first = app.send(send(good.clone())).await.expect(200);
    app.check("POST", "/v1/images/edits", &first);
    assert_eq!(first.body["data"].as_array().map(Vec::len), Some(1));
    let list = app.get("/v1/generations", &key).await.expect(200).body;
    let id = list["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(list["data"][0]["user"], "edit-user");
    assert_eq!(stored_input(&app, &account_id, Mode::Live, &id).await, png);
    // The same key and form again: the first answer, and no second generation.
    let again = app.send(send(good)).await.expect(200);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(again.body, first.body);
    let list = app.get("/v1/generations", &key).await.expect(200).body;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
    app.stop().await;
});

both_backends!(
    the_official_openai_sdk_screens_text_for_free,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = app.account("screen@example.com", "live").await;
        let seen = run_sdk_script(&app, "openai_moderations.py", &key, &[]).await;
        assert_eq!(
            seen["one"],
            json!({
                "id_prefix": "modr-", "model": "easel-policy", "results": 1, "flagged": false,
                "violence": false, "sexual_minors": false, "illicit_score": 0.0,
            }),
            "{seen}"
        );
        assert_eq!(
            seen["many"],
            json!({
                "flagged": [false, true], "illicit": true, "illicit_score": 1.0,
                "applied": ["text"], "easel_category": "fraud",
            }),
            "{seen}"
        );
        assert_eq!(
            seen["image"],
            json!({"status": 400, "code": "parameter_invalid", "param": "input[0]"})
        );
        // Free and without consequence: no credits moved, no strike recorded.
        let balance = app.get("/v1/balance", &key).await.expect(200);
        assert_eq!(balance.body["balance"], 0);
        let strikes = app
            .state
            .store
            .list_strikes(&account_id, easel_core::mode::Mode::Live, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(strikes.is_empty(), "{strikes:?}");
        // Without a key: 401, as OpenAI answers.
        let res = app
            .send(
                app.raw(reqwest::Method::POST, "/v1/moderations")
                    .json(&json!({"input": "x"})),
            )
            .await;
        assert_eq!(res.status, 401, "{}", res.body);
        app.stop().await;
    }
);
