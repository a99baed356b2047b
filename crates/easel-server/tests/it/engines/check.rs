//! `easel admin engines check`: the real binary probes every configured backend, prints
//! what it found and fails when one is down or missing what the model needs.

use easel_test_utils::fakes::openai::{self as fake, FakeOpenAiConfig};
use serde_json::Value;

use crate::support::binary::easel;

/// Runs `easel admin engines check --json` with `config` as the config file.
async fn check(config: String) -> (bool, Value, String) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("easel.toml");
        std::fs::write(&path, config).unwrap_or_else(|e| panic!("{e}"));
        let out = easel()
            .args(["admin", "engines", "check", "--json"])
            .env("EASEL_CONFIG", &path)
            .env("EASEL_DATA_DIR", dir.path())
            .output()
            .unwrap_or_else(|e| panic!("easel: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (
            out.status.success(),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn openai_model(id: &str, base_url: &str, upstream: &str) -> String {
    format!(
        "[models.{id}]\nkind = \"image\"\nengine = \"openai\"\nweb_price = 10\nsizes = [\"1024x1024\"]\n\
         [models.{id}.settings]\nbase_url = \"{base_url}\"\napi_key_env = \"PATH\"\nmodel = \"{upstream}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn engines_check_reports_each_backend_and_fails_when_one_is_down() {
    let key = std::env::var("PATH").unwrap_or_else(|_| panic!("PATH is set"));
    let (_, up) = fake::start(FakeOpenAiConfig::with_key(&key))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (ok, json, stderr) = check(openai_model("gpt-up", &up.base_url(), "gpt-image-1")).await;
    assert!(ok, "{stderr}");
    let gpt = json
        .as_array()
        .and_then(|all| all.iter().find(|m| m["model"] == "gpt-up"))
        .cloned()
        .unwrap_or_else(|| panic!("gpt-up is reported: {json}"));
    assert_eq!(
        (gpt["engine"].as_str(), gpt["reachable"].as_bool()),
        (Some("openai"), Some(true)),
        "{gpt}"
    );
    assert!(
        gpt["problems"].as_array().is_some_and(Vec::is_empty),
        "{gpt}"
    );
    assert!(
        !stderr.contains(&key) && !json.to_string().contains(&key),
        "the key never shows"
    );

    // An upstream model the backend does not list is a problem; a closed port is down.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("{e}"));
    let config = format!(
        "{}{}",
        openai_model("gpt-unknown", &up.base_url(), "gpt-image-9"),
        openai_model("gpt-down", &format!("http://{closed}/v1"), "gpt-image-1"),
    );
    let (ok, json, stderr) = check(config).await;
    assert!(!ok, "a failed check exits non-zero: {json}");
    assert!(stderr.contains("unreachable or misconfigured"), "{stderr}");
    let find = |id: &str| {
        json.as_array()
            .and_then(|all| all.iter().find(|m| m["model"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} is reported: {json}"))
    };
    let unknown = find("gpt-unknown");
    assert!(
        unknown["problems"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{unknown}"
    );
    assert_eq!(find("gpt-down")["reachable"], false);
}
