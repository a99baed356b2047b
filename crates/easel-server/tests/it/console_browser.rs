//! The operator console in a real browser (headless Chromium driven by playwright-core):
//! sign-in through the form, the session cookie's attributes as the browser stores them,
//! sign-out ending the session, and the Origin check refusing the same form served under
//! another origin. Screenshots land in `EASEL_TEST_SCREENSHOTS` for a person to look at.

use easel_test_utils::{Backend, TestDb};
use serde_json::Value;

use crate::developers::chromium;
use crate::support::TestApp;

/// Where playwright-core is installed: `EASEL_TEST_NODE_MODULES`. Never skipped.
fn node_modules() -> String {
    let dir = std::env::var("EASEL_TEST_NODE_MODULES").unwrap_or_default();
    assert!(
        std::path::Path::new(&dir).join("playwright-core").is_dir(),
        "playwright-core is required by the browser tests and is not under EASEL_TEST_NODE_MODULES ({dir:?}). \
         Run the tests through scripts/test, which installs it from npm."
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_and_out_in_headless_chromium() {
    let chromium = chromium();
    let modules = node_modules();
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let shots = std::env::var("EASEL_TEST_SCREENSHOTS")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    std::fs::create_dir_all(&shots).unwrap_or_else(|e| panic!("{shots}: {e}"));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/browser/console_signin.cjs"
    );
    let run = tokio::process::Command::new("node")
        .arg(script)
        .arg(&app.url)
        .arg("admin")
        .arg(&app.first.operator_password)
        .arg(&shots)
        .env("EASEL_TEST_NODE_MODULES", &modules)
        .env("EASEL_TEST_CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("the browser script took more than 120 s"))
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(
        out.status.success(),
        "the browser script failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    eprintln!("browser saw {seen}; screenshots in {shots}");
    assert_eq!(seen["unsigned"], "/console/login", "{seen}");
    assert!(
        seen["wrong_password"]
            .as_str()
            .is_some_and(|t| t.contains("Wrong username or password")),
        "{seen}"
    );
    assert_eq!(seen["signed_in"], "/console", "{seen}");
    assert_eq!(
        seen["cookie"],
        serde_json::json!({"httpOnly": true, "sameSite": "Lax"}),
        "{seen}"
    );
    assert_eq!(seen["signed_out"], "/console/login", "{seen}");
    assert_eq!(seen["old_session"], "/console/login", "{seen}");
    assert_eq!(seen["cross_origin_status"], 403, "{seen}");
    app.stop().await;
}
