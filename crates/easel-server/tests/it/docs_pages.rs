//! The public front pages: `/` (landing), `/docs` (the getting-started guide) and
//! `/docs/api` (the OpenAPI reference rendered by the vendored redoc bundle). Public HTML
//! with a CSP and nosniff, no key needed (and a bad one changes nothing), HEAD as GET; the
//! bundle served byte for byte with a year's cache; every link on the pages leads
//! somewhere; and the guide says what the server really does: its error example is the real
//! answer, every error code and type it names exists, the headers it names are sent, and
//! its Node.js signature check accepts Easel's own webhook signatures (and nothing else).

use std::collections::BTreeSet;

use easel_test_utils::{Backend, TestDb, both_backends};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::TestApp;

/// A raw answer: status, headers, body.
struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn fetch(app: &TestApp, method: Method, path: &str, key: Option<&str>) -> Raw {
    let mut req = app.raw(method.clone(), path);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await.unwrap_or_else(|e| panic!("{e}")).to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

const PAGES: [&str; 3] = ["/", "/docs", "/docs/api"];

/// The CSP's directives, by name.
fn directives(csp: &str) -> std::collections::BTreeMap<String, String> {
    csp.split(';')
        .filter_map(|d| {
            let d = d.trim();
            let (name, value) = d.split_once(' ').unwrap_or((d, ""));
            (!name.is_empty()).then(|| (name.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// Every `attr="…"` value in `html`, in order.
fn attrs(html: &str, attr: &str) -> Vec<String> {
    html.split(&format!(" {attr}=\""))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|v| v.replace("&amp;", "&"))
        .collect()
}

/// The text of every `<code class="CLASS">…</code>` in `html`.
fn marked(html: &str, class: &str) -> BTreeSet<String> {
    html.split(&format!("<code class=\"{class}\">"))
        .skip(1)
        .filter_map(|rest| rest.split("</code>").next())
        .map(str::to_string)
        .collect()
}

/// The text inside `<pre id="ID" …><code>…</code></pre>`, entities decoded.
fn pre_block(html: &str, id: &str) -> String {
    let start = format!("<pre id=\"{id}\"");
    let rest = html
        .split(&start)
        .nth(1)
        .and_then(|rest| rest.split_once("<code>"))
        .unwrap_or_else(|| panic!("no {start} in the page"))
        .1;
    let code = rest.split("</code></pre>").next().unwrap_or_default();
    code.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

both_backends!(
    front_pages_are_public_html_with_a_csp_and_answer_head,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        for path in PAGES {
            let page = fetch(&app, Method::GET, path, None).await;
            assert_eq!(page.status, 200, "{path}: {}", page.text());
            assert_eq!(
                page.header("content-type"),
                "text/html; charset=utf-8",
                "{path}"
            );
            assert_eq!(page.header("x-content-type-options"), "nosniff", "{path}");
            assert_eq!(page.header("cache-control"), "public, max-age=60", "{path}");
            assert!(
                page.headers.get("set-cookie").is_none(),
                "{path} sets a cookie"
            );
            let csp = directives(page.header("content-security-policy"));
            assert_eq!(
                csp.get("default-src").map(String::as_str),
                Some("'none'"),
                "{path}"
            );
            assert_eq!(
                csp.get("frame-ancestors").map(String::as_str),
                Some("'none'"),
                "{path}"
            );
            // Scripts only on the reference, and only files of our own origin.
            let scripts = csp.get("script-src").map(String::as_str);
            let want = (path == "/docs/api").then_some("'self'");
            assert_eq!(scripts, want, "{path}: {csp:?}");
            assert!(
                !page
                    .header("content-security-policy")
                    .contains("unsafe-eval")
            );
            let html = page.text();
            assert!(html.starts_with("<!doctype html>"), "{path}");
            assert!(!html.contains("<script>"), "{path} has an inline script");
            for src in attrs(&html, "src") {
                assert!(src.starts_with("/console/assets/"), "{path} loads {src}");
            }

            // A key is not needed, and a bad one is not even looked at.
            let with_bad_key = fetch(&app, Method::GET, path, Some("vs_test_nope")).await;
            assert_eq!(with_bad_key.status, 200, "{path}");
            assert_eq!(with_bad_key.body, page.body, "{path}");

            let head = fetch(&app, Method::HEAD, path, None).await;
            assert_eq!(head.status, 200, "HEAD {path}");
            assert!(head.body.is_empty(), "HEAD {path} has a body");
            assert_eq!(head.header("content-type"), "text/html; charset=utf-8");
            assert_eq!(
                head.header("content-security-policy"),
                page.header("content-security-policy")
            );

            let post = fetch(&app, Method::POST, path, None).await;
            assert_eq!(post.status, 405, "POST {path}");
        }
        let reference = fetch(&app, Method::GET, "/docs/api", None).await;
        let csp = directives(reference.header("content-security-policy"));
        // Redoc builds its search index in a worker started from a blob: URL, and fetches
        // the document from our origin.
        assert_eq!(csp.get("worker-src").map(String::as_str), Some("blob:"));
        assert_eq!(csp.get("connect-src").map(String::as_str), Some("'self'"));
        let html = reference.text();
        assert!(html.contains("data-spec-url=\"/openapi.json\""), "{html}");
        // Without JavaScript the page still leads to the document and the guide.
        for href in ["/openapi.json", "/docs"] {
            assert!(attrs(&html, "href").iter().any(|h| h == href), "{href}");
        }
        app.stop().await;
    }
);

#[tokio::test]
async fn the_reference_bundle_is_served_byte_for_byte_with_a_long_cache() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let html = fetch(&app, Method::GET, "/docs/api", None).await.text();
    let scripts = attrs(&html, "src");
    assert_eq!(scripts.len(), 2, "{scripts:?}");
    let vendor = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/console/assets/vendor/redoc-2.5.4"
    );
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/src/console/assets");
    for (src, file) in scripts.iter().zip([
        format!("{vendor}/redoc.standalone.js"),
        format!("{assets}/docs.js"),
    ]) {
        let on_disk = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        // The one change made as it is embedded: Redocly's logo is not fetched from its CDN.
        let logo = r#"src:"https://cdn.redoc.ly/redoc/logo-mini.svg""#;
        let want = on_disk.replacen(logo, r#"src:"""#, 1);
        assert_eq!(
            file.ends_with("redoc.standalone.js"),
            want != on_disk,
            "{file}"
        );
        let asset = fetch(&app, Method::GET, src, None).await;
        assert_eq!(asset.status, 200, "{src}");
        assert!(asset.text() == want, "{src} is not {file}");
        assert!(!asset.text().contains("https://cdn."), "{src}");
        assert_eq!(
            asset.header("content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            asset.header("cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(asset.header("x-content-type-options"), "nosniff");
        let head = fetch(&app, Method::HEAD, src, None).await;
        assert_eq!(head.status, 200, "HEAD {src}");
        assert!(head.body.is_empty());
        // Another build's URL (another hash) is not this file.
        let name = src.rsplit('/').next().unwrap_or_default();
        let stale = format!("/console/assets/0123456789abcdef/{name}");
        assert_eq!(fetch(&app, Method::GET, &stale, None).await.status, 404);
    }
    // The bundle is the package as published, with its licences beside it.
    let redoc = std::fs::read_to_string(format!("{vendor}/redoc.standalone.js"));
    let redoc = redoc.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        redoc.starts_with(
            "/*! For license information please see redoc.standalone.js.LICENSE.txt */"
        )
    );
    for licence in ["LICENSE", "redoc.standalone.js.LICENSE.txt"] {
        let text = std::fs::read_to_string(format!("{vendor}/{licence}"));
        assert!(
            text.is_ok_and(|t| t.contains("MIT") || t.contains("Permission is hereby granted"))
        );
    }
    // Nothing in the boot file reaches beyond our origin.
    let boot = std::fs::read_to_string(format!("{assets}/docs.js")).unwrap_or_default();
    assert!(!boot.contains("http"), "{boot}");
    app.stop().await;
}

#[tokio::test]
async fn every_link_on_the_front_pages_leads_somewhere() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let home = fetch(&app, Method::GET, "/", None).await.text();
    let home_links: BTreeSet<String> = attrs(&home, "href").into_iter().collect();
    for wanted in ["/console", "/docs", "/docs/api", "/status", "/developers"] {
        assert!(
            home_links.contains(wanted),
            "{wanted} not linked: {home_links:?}"
        );
    }
    for page in PAGES {
        let html = fetch(&app, Method::GET, page, None).await.text();
        let ids: BTreeSet<String> = attrs(&html, "id").into_iter().collect();
        for href in attrs(&html, "href") {
            if href.starts_with("http") || href.starts_with("data:") {
                continue;
            }
            let (path, anchor) = href.split_once('#').unwrap_or((href.as_str(), ""));
            if path.is_empty() {
                assert!(ids.contains(anchor), "{page}: #{anchor} is not on the page");
                continue;
            }
            let target = fetch(&app, Method::GET, path, None).await;
            // The console sends a visitor without a session to its sign-in page.
            assert!(
                target.status == 200 || (path == "/console" && target.status == 303),
                "{page} links {href}: {}",
                target.status
            );
            if !anchor.is_empty() {
                let target_ids = attrs(&target.text(), "id");
                assert!(target_ids.iter().any(|i| i == anchor), "{page}: {href}");
            }
        }
    }
    app.stop().await;
}

both_backends!(
    the_guide_says_what_the_server_does,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let guide = fetch(&app, Method::GET, "/docs", None).await.text();
        assert!(
            guide.contains(&format!("{}/v1/account", app.url)),
            "public URL"
        );
        assert!(
            guide.contains("<code>vs_test_…</code>") && guide.contains("<code>vs_live_…</code>")
        );

        // The error example is the server's own answer to a request without a key.
        let real = fetch(&app, Method::GET, "/v1/account", None).await;
        assert_eq!(real.status, 401);
        let body: Value = serde_json::from_slice(&real.body).unwrap_or_default();
        let example = pre_block(&guide, "error-example");
        assert!(example.contains("HTTP/1.1 401 Unauthorized"), "{example}");
        for field in ["type", "code", "message"] {
            let value = body["error"][field].as_str().unwrap_or_default();
            assert!(!value.is_empty(), "{body}");
            let quoted = serde_json::to_string(value).unwrap_or_default();
            assert!(
                example.contains(&format!("\"{field}\": {quoted}")),
                "the guide's {field} is not {quoted}: {example}"
            );
        }
        assert!(body["error"]["param"].is_null());
        let id = real.header("x-request-id");
        assert!(
            id.starts_with("req_") && body["error"]["request_id"] == id,
            "{body}"
        );

        // Every error code and type the guide names is one the API has.
        let doc = fetch(&app, Method::GET, "/openapi.json", None).await;
        let doc: Value = serde_json::from_slice(&doc.body).unwrap_or_default();
        let schemas = &doc["components"]["schemas"];
        let words = |schema: &str| -> BTreeSet<String> {
            schemas[schema]["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let codes = words("ErrorCode");
        let types = words("ErrorType");
        assert!(codes.len() > 50 && types.len() > 5, "{schemas}");
        let named_codes = marked(&guide, "ec");
        let named_types = marked(&guide, "et");
        assert!(named_codes.len() >= 12, "{named_codes:?}");
        assert_eq!(
            named_types, types,
            "the guide names every type, and only those"
        );
        let unknown: Vec<_> = named_codes.difference(&codes).collect();
        assert!(
            unknown.is_empty(),
            "codes the API does not have: {unknown:?}"
        );

        // The headers it names are the ones the API sends.
        let key = app.first.test_key.clone();
        let account = fetch(&app, Method::GET, "/v1/account", Some(&key)).await;
        assert_eq!(account.status, 200);
        let mut sent: BTreeSet<String> = account.headers.keys().map(|h| h.to_string()).collect();
        let create = || {
            app.raw(Method::POST, "/v1/keys")
                .bearer_auth(&key)
                .header("idempotency-key", "guide-check")
                .json(&json!({"name": "guide"}))
        };
        let first = app.send(create()).await.expect(201);
        assert!(!first.headers.contains_key("idempotent-replayed"));
        let again = app.send(create()).await.expect(201);
        assert_eq!(again.body["id"], first.body["id"], "replayed");
        sent.extend(again.headers.keys().map(|h| h.to_string()));
        for header in marked(&guide, "hd") {
            assert!(
                sent.contains(&header.to_ascii_lowercase()),
                "the guide names {header}, which the API did not send: {sent:?}"
            );
        }
        app.stop().await;
    }
);

#[tokio::test]
async fn the_guide_follows_the_configuration() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start_with(&db, |c| {
        c.api_keys.prefix = "acme".into();
        c.limits.enabled = false;
        c.generations.idempotency_hours = 48;
        c.webhooks.retry_seconds = vec![5, 300, 7200];
    })
    .await;
    let guide = fetch(&app, Method::GET, "/docs", None).await.text();
    assert!(guide.contains("<code>acme_test_…</code>"), "{guide}");
    assert!(guide.contains("<code>acme_live_…</code>"));
    assert!(!guide.contains("vs_test_"));
    assert!(guide.contains("within 48 hours"));
    assert!(guide.contains("retried after 5 s, 5 min, 2 h;"), "{guide}");
    // No RateLimit fields are sent, so the guide does not promise them.
    assert!(!guide.contains("RateLimit-Policy"), "{guide}");
    assert!(guide.contains("answers carry no"));
    app.stop().await;
}

/// The guide's hand-written Node.js check against Easel's own signatures: a delivery signed
/// with the endpoint's secret, during a rotation's overlap with either secret, passes; a
/// changed body, id or timestamp, another secret, a stale timestamp and a non-`v1`
/// signature fail.
#[tokio::test]
async fn the_guides_node_signature_check_accepts_easels_signatures_only() {
    use easel_server::webhooks::signature::{Secret, header};

    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let guide = fetch(&app, Method::GET, "/docs", None).await.text();
    app.stop().await;
    let snippet = pre_block(&guide, "verify-node");

    let (new, old, stranger) = (Secret::generate(), Secret::generate(), Secret::generate());
    let id = "evt_01jdocsguide";
    let ts: i64 = 1_790_000_000;
    let body = r#"{"type":"generation.succeeded","timestamp":1790000000,"data":{"id":"gen_1","prompt":"ünïcode ✓"}}"#;
    let one = header(&[&new], id, ts, body.as_bytes());
    let both = header(&[&new, &old], id, ts, body.as_bytes());
    let v2 = one.replacen("v1,", "v2,", 1);
    // [secret, id, timestamp, signature header, body, now] → expected
    let cases = json!([
        [new.expose(), id, ts, one, body, ts, true],
        [new.expose(), id, ts, both, body, ts + 299, true],
        [old.expose(), id, ts, both, body, ts - 299, true],
        [stranger.expose(), id, ts, both, body, ts, false],
        [new.expose(), id, ts, one, format!("{body} "), ts, false],
        [new.expose(), "evt_other", ts, one, body, ts, false],
        [new.expose(), id, ts + 1, one, body, ts + 1, false],
        [new.expose(), id, ts, one, body, ts + 301, false],
        [new.expose(), id, ts, v2, body, ts, false],
        [new.expose(), id, ts, "", body, ts, false],
        [new.expose(), id, ts, "v1,", body, ts, false],
        [new.expose(), id, ts, "v1", body, ts, false],
    ]);
    let program = format!(
        "{snippet}\nconst cases = {cases};\nprocess.stdout.write(JSON.stringify(cases.map(([secret, id, ts, sig, body, now]) =>\n  verifyEasel(secret, {{'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sig}}, Buffer.from(body, 'utf8'), now))));\n"
    );
    let out = tokio::process::Command::new("node")
        .args(["-e", &program])
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(
        out.status.success(),
        "{}\n{program}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let want: Vec<Value> = cases
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c[6].clone())
        .collect();
    assert_eq!(
        said,
        Value::Array(want),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `/docs/api` in headless Chromium with every request beyond the test server aborted:
/// redoc renders the operations from what the binary embeds, its search (a worker from a
/// `blob:` URL) answers, nothing is fetched from elsewhere and nothing is logged as an
/// error. The landing page and the guide pass axe-core and fit a phone; the reference's own
/// axe findings are redoc's (its menu) and are printed, not required to be empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_renders_offline_in_headless_chromium() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let seen = crate::console_browser::run_script(&app, "docs.cjs", &[]).await;
    app.stop().await;
    assert_eq!(
        seen["elsewhere"],
        json!([]),
        "requests beyond the server: {seen}"
    );
    assert_eq!(seen["errors"], json!([]), "{seen}");
    // What the pages loaded: the pages themselves, the two embedded files, the document.
    assert_eq!(
        seen["requests"],
        json!([
            "/",
            "/console/assets/HASH/docs.js",
            "/console/assets/HASH/redoc.standalone.js",
            "/docs",
            "/docs/api",
            "/openapi.json"
        ]),
        "{seen}"
    );
    let doc = serde_json::to_value(easel_server::router::api().1).unwrap_or_default();
    let mut operations = 0;
    for methods in doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        operations += methods.as_object().map_or(0, |m| m.len());
    }
    for view in ["desktop", "phone"] {
        let v = &seen[view];
        assert_eq!(v["title"], "API reference · Easel API", "{view}");
        assert_eq!(v["placeholder_left"], 0, "{view}: redoc did not replace it");
        assert_eq!(
            v["create_path"], true,
            "{view}: POST /v1/generations under its heading"
        );
        assert_eq!(v["overflow"], false, "{view}");
        let headings: Vec<&str> = v["headings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for summary in [
            "Create a generation",
            "List generations",
            "Create a webhook endpoint",
            "Retrieve the account",
            "Create an API key",
        ] {
            assert!(
                headings.contains(&summary),
                "{view}: no {summary} in {headings:?}"
            );
        }
        // One heading per operation, plus one per tag.
        assert!(
            headings.len() > operations,
            "{view}: {} of {operations}",
            headings.len()
        );
    }
    let results = seen["search_results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        results.iter().any(|r| r == "List an endpoint's deliveries"),
        "search found {results:?}"
    );
    for (page, violations) in seen["a11y"].as_object().cloned().unwrap_or_default() {
        assert_eq!(violations, json!([]), "{page}: {violations}");
    }
    for (page, overflow) in seen["overflow"].as_object().cloned().unwrap_or_default() {
        assert_eq!(overflow, false, "{page} is wider than the window");
    }
    eprintln!("axe-core on redoc's reference: {}", seen["reference_a11y"]);
}
