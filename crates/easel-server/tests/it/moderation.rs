//! Output moderation through a real HTTP hook on loopback: flagged outputs are withheld and
//! settled by the configured policy, clean ones delivered, and a hook that cannot answer
//! fails the generation closed (or open, if configured).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use easel_core::credits::BlockedOutputPolicy;
use easel_server::config::ModerationFailure;
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::credits::{assert_ledger_matches, price};
use crate::generations::{create, grant, text, until, with_test_models};
use crate::support::TestApp;
use crate::support::binary::admin;

const TOKEN: &str = "hook-token-for-tests";

/// What the fake hook saw: each request's body and `Authorization` header.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(Value, String)>>>);

impl Seen {
    fn all(&self) -> Vec<(Value, String)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The request about one generation.
    fn about(&self, generation_id: &str) -> Option<(Value, String)> {
        self.all()
            .into_iter()
            .find(|(body, _)| body["generation"]["id"] == generation_id)
    }
}

/// The operator's hook, deciding by the prompt: `forbidden` is flagged, `hook-down`
/// answers 500, `hook-slow` never answers in time, `hook-garbage` answers non-JSON.
async fn hook(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let prompt = text(&body["generation"]["prompt"]);
    if let Ok(mut seen) = seen.0.lock() {
        seen.push((body, auth));
    }
    if prompt.contains("forbidden") {
        Json(json!({"flagged": true, "categories": ["violence", "hate"], "reason": "rule 7 matched"}))
            .into_response()
    } else if prompt.contains("hook-down") {
        (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response()
    } else if prompt.contains("hook-slow") {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Json(json!({"flagged": false})).into_response()
    } else if prompt.contains("hook-garbage") {
        "certainly, looks fine".into_response()
    } else {
        Json(json!({"flagged": false, "categories": []})).into_response()
    }
}

/// Starts the fake hook on loopback; returns its URL and what it sees.
async fn start_hook() -> (String, Seen) {
    let seen = Seen::default();
    let router = axum::Router::new()
        .route("/check", axum::routing::post(hook))
        .with_state(seen.clone());
    let addr = crate::support::serve_loopback(router).await;
    (format!("http://{addr}/check"), seen)
}

/// A server whose output moderation asks the fake hook.
async fn start_moderated(
    db: &TestDb,
    policy: BlockedOutputPolicy,
    on_error: ModerationFailure,
) -> (TestApp, Seen) {
    let (url, seen) = start_hook().await;
    let app = TestApp::start_with(db, |c| {
        with_test_models(c);
        c.moderation.output.hook_url = url;
        c.moderation.output.hook_token = TOKEN.into();
        c.moderation.output.timeout_ms = 500;
        c.moderation.output.on_error = on_error;
        c.pricing.blocked_output_policy = policy;
    })
    .await;
    (app, seen)
}

fn image(prompt: &str) -> Value {
    json!({"model": "sandbox-image", "prompt": prompt, "width": 256, "height": 256, "n": 2})
}

async fn balance(app: &TestApp, key: &str) -> i64 {
    let b = app.get("/v1/balance", key).await.expect(200).body;
    assert_eq!(b["held"], 0, "nothing stays held: {b}");
    b["balance"].as_i64().unwrap_or(-1)
}

/// The newest ledger entry of the key's mode.
async fn last_entry(app: &TestApp, key: &str) -> Value {
    app.get("/v1/ledger?limit=1", key).await.expect(200).body["data"][0].clone()
}

/// Runs a generation to its end.
async fn run(app: &TestApp, key: &str, body: Value) -> Value {
    let g = create(app, key, body, None).await.expect(202).body;
    until(app, key, &text(&g["id"]), &["succeeded", "failed"]).await
}

fn stored_files(db: &TestDb, account_id: &str, generation_id: &str) -> usize {
    std::fs::read_dir(db.dir.join("outputs").join(account_id).join(generation_id))
        .map(|d| d.count())
        .unwrap_or(0)
}

both_backends!(
    output_moderation_withholds_flagged_outputs_and_releases_the_hold,
    |db: TestDb| async move {
        let (app, seen) =
            start_moderated(&db, BlockedOutputPolicy::Release, ModerationFailure::Fail).await;
        let (account_id, key) = app.account("moderated@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        let cost = price(&app, &key, &image("a calm lake")).await;
        assert!(cost > 0);

        // Clean: delivered and charged; the hook saw both images, inline.
        let clean = run(&app, &key, image("a calm lake")).await;
        assert_eq!(clean["status"], "succeeded", "{clean}");
        assert_eq!(balance(&app, &key).await, 10_000 - cost);
        let (asked, auth) = seen
            .about(&text(&clean["id"]))
            .unwrap_or_else(|| panic!("the hook was asked about {}", clean["id"]));
        assert_eq!(auth, format!("Bearer {TOKEN}"));
        assert_eq!(asked["generation"]["prompt"], "a calm lake");
        assert_eq!(asked["generation"]["livemode"], true);
        assert_eq!(asked["generation"]["account_id"], account_id.as_str());
        assert_eq!(asked["generation"]["model"], "sandbox-image");
        let outputs = asked["outputs"].as_array().cloned().unwrap_or_default();
        assert_eq!(outputs.len(), 2);
        for (i, o) in outputs.iter().enumerate() {
            assert_eq!(o["index"], i);
            assert_eq!(o["content_type"], "image/png");
            assert_eq!(
                (o["width"].as_u64(), o["height"].as_u64()),
                (Some(256), Some(256))
            );
            let data = base64::engine::general_purpose::STANDARD
                .decode(text(&o["data"]))
                .unwrap_or_default();
            assert!(
                data.starts_with(b"\x89PNG\r\n\x1a\n"),
                "output {i} is the PNG"
            );
            assert_eq!(o["bytes"].as_u64(), Some(data.len() as u64));
            assert_eq!(
                clean["outputs"][i]["bytes"].as_u64(),
                Some(data.len() as u64),
                "the hook saw what was delivered"
            );
        }

        // Flagged: withheld, never stored, the whole hold released, the rule in the ledger.
        let blocked = run(&app, &key, image("something forbidden")).await;
        let id = text(&blocked["id"]);
        assert_eq!(blocked["status"], "failed", "{blocked}");
        assert_eq!(blocked["error"]["code"], "output_moderated");
        let message = text(&blocked["error"]["message"]);
        assert!(message.contains("violence, hate"), "{message}");
        assert!(
            !message.contains("rule 7"),
            "the hook's reason is for the operator"
        );
        assert_eq!(blocked["outputs"], json!([]));
        assert_eq!(blocked["credits"]["charged"], 0);
        assert_eq!(stored_files(&db, &account_id, &id), 0, "nothing stored");
        assert_eq!(
            balance(&app, &key).await,
            10_000 - cost,
            "the block cost nothing"
        );
        let entry = last_entry(&app, &key).await;
        assert_eq!(entry["type"], "release");
        assert_eq!(entry["amount"], 0);
        assert_eq!(entry["reference"]["id"], id.as_str());
        assert_eq!(
            entry["reason"],
            "output blocked by moderation (policy: release)"
        );
        assert_eq!(
            db.count(&format!("SELECT COUNT(*) FROM jobs WHERE id = (SELECT job_id FROM generations WHERE id = '{id}') AND attempts = 1 AND status = 'failed'")).await,
            1,
            "a blocked generation is not retried"
        );

        // The operator sees the flag, with the hook's reason.
        let audit = admin(&db, &["audit", "--account", &account_id]);
        let flag = audit
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|e| e["action"] == "generation.output_blocked")
            })
            .cloned()
            .unwrap_or_else(|| panic!("no output_blocked entry: {audit}"));
        assert_eq!(flag["target"]["id"], id.as_str());
        assert_eq!(flag["actor"]["type"], "system");
        assert_eq!(flag["details"]["categories"], json!(["violence", "hate"]));
        assert_eq!(flag["details"]["reason"], "rule 7 matched");
        assert_eq!(flag["details"]["policy"], "release");
        // And the developer's events say it failed.
        let events = app.get("/v1/events?limit=5", &key).await.expect(200).body;
        let failed = events["data"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["data"]["id"] == id.as_str()).cloned())
            .unwrap_or_default();
        assert_eq!(failed["type"], "generation.failed");
        assert_eq!(failed["data"]["error"]["code"], "output_moderated");

        // A hook that cannot answer fails the generation closed, unbilled, without retries.
        for prompt in [
            "hook-down please",
            "hook-slow please",
            "hook-garbage please",
        ] {
            let g = run(&app, &key, image(prompt)).await;
            assert_eq!(g["status"], "failed", "{prompt}: {g}");
            assert_eq!(g["error"]["code"], "moderation_unavailable", "{prompt}");
            assert_eq!(g["outputs"], json!([]));
            assert_eq!(stored_files(&db, &account_id, &text(&g["id"])), 0);
        }
        assert_eq!(balance(&app, &key).await, 10_000 - cost);

        // Test mode is moderated too (and never touches credits).
        let (_, test_key) = app.account("moderated-test@example.com", "test").await;
        let g = run(&app, &test_key, image("forbidden in test mode")).await;
        assert_eq!(g["error"]["code"], "output_moderated");
        assert_eq!(
            seen.about(&text(&g["id"]))
                .map(|(b, _)| b["generation"]["livemode"].clone()),
            Some(json!(false))
        );
        assert_ledger_matches(&db, &account_id).await;
    }
);

both_backends!(
    the_charge_policy_captures_a_blocked_generation,
    |db: TestDb| async move {
        let (app, _) =
            start_moderated(&db, BlockedOutputPolicy::Charge, ModerationFailure::Fail).await;
        let (account_id, key) = app.account("charged@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        let cost = price(&app, &key, &image("forbidden")).await;
        let blocked = run(&app, &key, image("forbidden")).await;
        assert_eq!(blocked["error"]["code"], "output_moderated");
        assert_eq!(blocked["credits"]["charged"], cost);
        assert_eq!(balance(&app, &key).await, 10_000 - cost);
        let entry = last_entry(&app, &key).await;
        assert_eq!(entry["type"], "capture");
        assert_eq!(entry["amount"], -cost);
        assert_eq!(
            entry["reason"],
            "output blocked by moderation (policy: charge)"
        );
        assert_eq!(
            stored_files(&db, &account_id, &text(&blocked["id"])),
            0,
            "charged or not, a blocked output is never stored"
        );
        // A hook outage is never charged, whatever the block policy.
        let down = run(&app, &key, image("hook-down")).await;
        assert_eq!(down["error"]["code"], "moderation_unavailable");
        assert_eq!(down["credits"]["charged"], 0);
        assert_eq!(balance(&app, &key).await, 10_000 - cost);
        assert_ledger_matches(&db, &account_id).await;
    }
);

both_backends!(
    a_hook_configured_to_fail_open_delivers_unchecked,
    |db: TestDb| async move {
        let (app, seen) =
            start_moderated(&db, BlockedOutputPolicy::Release, ModerationFailure::Allow).await;
        let (account_id, key) = app.account("open@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        let cost = price(&app, &key, &image("hook-down")).await;
        let g = run(&app, &key, image("hook-down")).await;
        assert_eq!(g["status"], "succeeded", "{g}");
        assert!(seen.about(&text(&g["id"])).is_some(), "the hook was asked");
        assert_eq!(stored_files(&db, &account_id, &text(&g["id"])), 2);
        assert_eq!(balance(&app, &key).await, 10_000 - cost);
        // Failing open does not let flagged outputs through.
        let flagged = run(&app, &key, image("forbidden")).await;
        assert_eq!(flagged["error"]["code"], "output_moderated");
        assert_ledger_matches(&db, &account_id).await;
    }
);
