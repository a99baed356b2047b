//! Rejections of malformed JSON bodies, query strings and path parameters are told in the
//! API's words, naming the parameter, and never in Rust's ("struct", "enum", "variant",
//! type names such as `CreateGenerationRequest` or `u32`).

use easel_test_utils::{Backend, TestDb};
use reqwest::Method;

use crate::support::{Res, TestApp};

const RUST_WORDS: [&str; 12] = [
    "struct",
    "enum",
    "variant",
    "Request",
    "Params",
    "u32",
    "u16",
    "i64",
    "usize",
    "Option",
    "::",
    "identifier",
];

/// Route, body, expected code, param and a phrase of the message.
type BodyCase = (
    &'static str,
    &'static [u8],
    &'static str,
    Option<&'static str>,
    &'static str,
);

#[track_caller]
fn speaks_api(res: &Res, code: &str, param: Option<&str>, wanted: &str) {
    assert_eq!(res.code(), code, "{}", res.body);
    if let Some(param) = param {
        assert_eq!(res.param(), param, "{}", res.body);
    }
    let message = res.body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{}", res.body);
    for word in RUST_WORDS {
        assert!(!message.contains(word), "`{word}` in {message:?}");
    }
    assert!(
        message.contains(wanted),
        "{message:?} does not say {wanted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_query_rejections_speak_the_api_not_rust() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let key = app.first.test_key.clone();
    let post = |path: &str, body: &[u8]| {
        app.raw(Method::POST, path)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.to_vec())
    };
    let g = "/v1/generations";
    let bodies: [BodyCase; 14] = [
        (
            g,
            b"[]",
            "parameter_invalid",
            None,
            "The request body must be a JSON object, not an array.",
        ),
        (
            g,
            b"[\"sandbox-image\", \"a\"]",
            "parameter_invalid",
            None,
            "must be a JSON object",
        ),
        (
            g,
            b"42",
            "parameter_invalid",
            None,
            "must be a JSON object, not an integer",
        ),
        (
            g,
            b"\"x\"",
            "parameter_invalid",
            None,
            "must be a JSON object, not a string",
        ),
        (
            g,
            br#"{"model":"sandbox-image","prompt":"a","n":"two"}"#,
            "parameter_invalid",
            Some("n"),
            "`n` must be a non-negative integer, not a string.",
        ),
        (
            g,
            br#"{"model":"sandbox-image","prompt":"a","n":-1}"#,
            "parameter_invalid",
            Some("n"),
            "`n` is out of range",
        ),
        (
            g,
            br#"{"model":"sandbox-image","prompt":"a","seed":1.5}"#,
            "parameter_invalid",
            Some("seed"),
            "`seed` must be an integer, not a decimal number.",
        ),
        (
            g,
            br#"{"model":"sandbox-image","prompt":null}"#,
            "parameter_invalid",
            Some("prompt"),
            "`prompt` must be a string, not null.",
        ),
        (
            g,
            br#"{"model":"sandbox-image","prompt":"a","metadata":[1]}"#,
            "parameter_invalid",
            Some("metadata"),
            "must be an object",
        ),
        (
            g,
            br#"{"model":"sandbox-image"}"#,
            "parameter_missing",
            Some("prompt"),
            "Missing required parameter `prompt`.",
        ),
        (
            g,
            br#"{"model":"sandbox-image","prompt":"a","nmae":1}"#,
            "parameter_unknown",
            Some("nmae"),
            "Unknown parameter `nmae`.",
        ),
        (
            g,
            br#"{"model":"sandbox-image","prompt":"a","prompt":"b"}"#,
            "parameter_invalid",
            Some("prompt"),
            "more than once",
        ),
        (
            "/v1/images/generations",
            br#"{"prompt":"a","response_format":"jpeg"}"#,
            "parameter_invalid",
            Some("response_format"),
            "must be `url` or `b64_json`; got `jpeg`.",
        ),
        (
            g,
            br#"{"model":"sandbox-image","prompt":"a"} {}"#,
            "invalid_json",
            None,
            "trailing characters",
        ),
    ];
    for (path, body, code, param, wanted) in bodies {
        let res = app.send(post(path, body)).await;
        assert_eq!(
            res.status,
            400,
            "{}: {}",
            String::from_utf8_lossy(body),
            res.body
        );
        speaks_api(&res, code, param, wanted);
    }
    let res = app.send(post(g, b"{\"prompt\": \"\xff\"}")).await;
    speaks_api(&res, "invalid_json", None, "not valid UTF-8");
    let deep = format!(
        r#"{{"model":"sandbox-image","prompt":"a","metadata":{{"a":{}{}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let res = app.send(post(g, deep.as_bytes())).await;
    speaks_api(&res, "invalid_json", None, "nested too deeply");
    let res = app.send(post(g, b"{\"model\": ")).await;
    speaks_api(
        &res,
        "invalid_json",
        None,
        "ends before the JSON value is complete",
    );

    let queries = [
        (
            "/v1/requests?limit=abc",
            "parameter_invalid",
            "limit",
            "`limit` must be an integer.",
        ),
        (
            "/v1/requests?status=99999",
            "parameter_invalid",
            "status",
            "`status` must be an integer within range.",
        ),
        (
            "/v1/requests?failed=maybe",
            "parameter_invalid",
            "failed",
            "`failed` must be `true` or `false`.",
        ),
        (
            "/v1/requests?nmae=x",
            "parameter_unknown",
            "nmae",
            "Unknown parameter `nmae`.",
        ),
        (
            "/v1/requests?limit=1&limit=2",
            "parameter_invalid",
            "limit",
            "more than once",
        ),
        (
            "/v1/requests?since=",
            "parameter_invalid",
            "since",
            "`since` must be an integer.",
        ),
    ];
    for (path, code, param, wanted) in queries {
        let res = app.get(path, &key).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body);
        speaks_api(&res, code, Some(param), wanted);
    }
    // Path parameters: ids are strings, so only bytes that are not text can fail them.
    let res = app.get("/v1/generations/gen_%C3%28", &key).await;
    assert_eq!(res.status, 400, "{}", res.body);
    speaks_api(
        &res,
        "parameter_invalid",
        Some("id"),
        "`id` is not valid UTF-8",
    );
    app.stop().await;
}
