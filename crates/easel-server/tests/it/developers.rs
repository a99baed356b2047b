//! `GET /developers`: the public pricing page. Its prices are the ones `GET /v1/models`
//! charges, descriptions are escaped, disabled models are absent; and it renders in a real
//! headless Chromium.

use std::time::{Duration, Instant};

use easel_test_utils::{Backend, TestDb, both_backends};
use serde_json::Value;

use crate::support::TestApp;

/// The plans as shipped (the test configuration raises every limit out of the way).
fn spec_plans(config: &mut easel_server::config::Config) {
    if let Ok(defaults) = easel_server::config::load(None, &[]) {
        config.plans = defaults.plans;
    }
}

/// The page's HTML, after checking its status and headers.
async fn page(app: &TestApp) -> String {
    let res = app
        .send(app.raw(reqwest::Method::GET, "/developers"))
        .await
        .expect(200);
    let header = |name: &str| {
        res.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert_eq!(header("cache-control"), "public, max-age=60");
    app.raw(reqwest::Method::GET, "/developers")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /developers: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET /developers body: {e}"))
}

/// The text of each cell of the table row with `id`, tags stripped.
fn row_cells(html: &str, id: &str) -> Vec<String> {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no row {id} in the page:\n{html}"));
    let row = &html[start..];
    let row = &row[..row.find("</tr>").unwrap_or(row.len())];
    row.split("<td")
        .skip(1)
        .map(|cell| {
            let cell = &cell[cell.find('>').map_or(0, |i| i + 1)..];
            let mut text = String::new();
            let mut in_tag = false;
            for c in cell.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.trim().to_string()
        })
        .collect()
}

/// The `prices` row of `model` in `GET /v1/models` for `size` and `key` = `value`.
fn api_price<'a>(models: &'a [Value], model: &str, size: &str, key: &str, value: u64) -> &'a Value {
    models
        .iter()
        .find(|m| m["id"] == model)
        .and_then(|m| m["prices"].as_array())
        .into_iter()
        .flatten()
        .find(|p| p["size"] == size && p[key] == value)
        .unwrap_or_else(|| panic!("no price for {model} {size} {key}={value}"))
}

both_backends!(
    developers_page_shows_models_prices_and_plans,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, spec_plans).await;
        let html = page(&app).await;
        let config = &app.state.config;
        for (id, _) in config.models.iter().filter(|(_, m)| m.enabled) {
            assert!(
                html.contains(&format!("id=\"model-{id}\"")),
                "model {id} missing"
            );
        }
        for name in config.plans.keys() {
            assert!(
                html.contains(&format!("id=\"plan-{name}\"")),
                "plan {name} missing"
            );
        }
        assert!(html.contains("href=\"/openapi.json\""));
        assert!(html.contains("1 credit = €0.001"));

        // The page's prices are the API's, row for row.
        let (_, key) = app.account("developers@example.com", "live").await;
        let models = app.get("/v1/models", &key).await.expect(200).body["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut compared = 0;
        for model in &models {
            let id = model["id"].as_str().unwrap_or_default();
            for p in model["prices"].as_array().into_iter().flatten() {
                let size = p["size"].as_str().unwrap_or_default();
                let (anchor, shape) = match (p["n"].as_u64(), p["duration_seconds"].as_u64()) {
                    (Some(n), _) => (format!("n{n}"), n.to_string()),
                    (None, Some(s)) => (format!("{s}s"), format!("{s} s")),
                    (None, None) => panic!("a price with neither n nor seconds: {p}"),
                };
                let cells = row_cells(&html, &format!("price-{id}-{size}-{anchor}"));
                let credits = p["credits"].as_i64().unwrap_or(-1);
                assert_eq!(
                    cells,
                    [
                        size.to_string(),
                        shape,
                        format!(
                            "{} (€{})",
                            p["web_credits"].as_i64().unwrap_or(-1),
                            p["web_eur"].as_str().unwrap_or_default()
                        ),
                        credits.to_string(), // below 1,000 in the default config
                        format!("€{}", p["eur"].as_str().unwrap_or_default()),
                    ],
                    "{id} {size} {anchor}"
                );
                compared += 1;
            }
        }
        assert_eq!(
            compared,
            6 * 4 + 3 * 2,
            "every call shape of both sandbox models"
        );
        // The example the spec's reader would check: two 512x512 images.
        let two = api_price(&models, "sandbox-image", "512x512", "n", 2);
        assert_eq!(
            row_cells(&html, "price-sandbox-image-512x512-n2")[3],
            two["credits"].to_string()
        );

        // The plans table, licences in words.
        assert_eq!(
            row_cells(&html, "plan-free"),
            [
                "free",
                "10",
                "100",
                "2",
                "Non-commercial (development and testing only)",
                "7",
                "0"
            ]
        );
        assert_eq!(row_cells(&html, "plan-pro")[2], "10,000");
        assert_eq!(
            row_cells(&html, "plan-starter")[4],
            "Commercial, with attribution"
        );
        assert_eq!(
            row_cells(&html, "plan-enterprise")[4],
            "Commercial, white-label"
        );
        app.stop().await;
    }
);

both_backends!(
    developers_page_escapes_descriptions_and_hides_disabled_models,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            spec_plans(c);
            if let Some(image) = c.models.get_mut("sandbox-image") {
                image.description = "<script>alert('x')</script> & <b>bold</b>".into();
                image.plans = vec!["pro".into(), "enterprise".into()];
            }
            if let Some(video) = c.models.get_mut("sandbox-video") {
                video.enabled = false;
            }
        })
        .await;
        let html = page(&app).await;
        assert!(
            !html.contains("<script"),
            "the description is not escaped:\n{html}"
        );
        assert!(!html.contains("<b>bold"), "the description is not escaped");
        assert!(html.contains("&lt;script&gt;alert("), "{html}");
        assert!(html.contains("&amp; &lt;b&gt;bold"), "{html}");
        assert!(html.contains("id=\"model-sandbox-image\""));
        assert!(
            !html.contains("sandbox-video"),
            "a disabled model is listed"
        );
        let plans = html
            .split("<th scope=\"row\">Plans</th><td>")
            .nth(1)
            .and_then(|rest| rest.split("</td>").next());
        assert_eq!(plans, Some("pro, enterprise"));
        app.stop().await;
    }
);

/// The Chromium binary: `EASEL_TEST_CHROMIUM`, else `/usr/bin/chromium`. Never skipped.
pub fn chromium() -> String {
    let path = std::env::var("EASEL_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).is_file(),
        "Chromium is required by the browser test and is not at {path} (EASEL_TEST_CHROMIUM). \
         Run the tests through scripts/test, which installs it (Debian package chromium), \
         or set EASEL_TEST_CHROMIUM to a Chromium binary."
    );
    path
}

/// The DOM Chromium builds from `url`, serialized.
pub async fn dump_dom(chromium: &str, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary profile: {e}"));
    let mut command = tokio::process::Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .unwrap_or_else(|_| panic!("{chromium} --dump-dom {url} took more than 90 s"))
        .unwrap_or_else(|e| panic!("cannot run {chromium}: {e}"));
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && dom.contains("</html>"),
        "{chromium} --dump-dom {url} failed ({}); stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    dom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developers_page_renders_in_headless_chromium() {
    let chromium = chromium();
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start_with(&db, spec_plans).await;
    let (_, key) = app.account("chromium@example.com", "live").await;
    let models = app.get("/v1/models", &key).await.expect(200).body["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let credits = api_price(&models, "sandbox-image", "512x512", "n", 2)["credits"].to_string();

    let started = Instant::now();
    let dom = dump_dom(&chromium, &format!("{}/developers", app.url)).await;
    eprintln!("chromium --dump-dom took {:?}", started.elapsed());

    // The browser parsed the page: the title is in the DOM and the tables are there.
    assert!(
        dom.contains("<title>Models and prices · Easel API</title>"),
        "{dom}"
    );
    assert!(
        dom.contains("id=\"plans-table\""),
        "no plans table in the DOM:\n{dom}"
    );
    assert_eq!(
        row_cells(&dom, "plan-free"),
        [
            "free",
            "10",
            "100",
            "2",
            "Non-commercial (development and testing only)",
            "7",
            "0"
        ]
    );
    let cells = row_cells(&dom, "price-sandbox-image-512x512-n2");
    assert_eq!(
        cells[..4],
        [
            "512x512".to_string(),
            "2".to_string(),
            "6 (€0.006)".to_string(),
            credits
        ]
    );
    app.stop().await;
}
