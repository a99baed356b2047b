//! Input moderation through HTTP: prohibited prompts, negative prompts and image metadata
//! are refused before anything is held or queued, and each refusal is a strike; the
//! OpenAI-compatible classifier is a real fake server on loopback (flagged, clean, timeout,
//! 500); strikes past the threshold suspend the account, whose in-flight job then finishes
//! or is canceled as the operator chose.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use easel_server::config::{Config, ModerationFailure, SuspendJobsChoice};
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::credits::assert_ledger_matches;
use crate::generations::{create, grant, sandbox_model, text, until, with_test_models};
use crate::support::binary::admin;
use crate::support::{TestApp, eventually};

/// Banned by the built-in fraud rules.
const FRAUD: &str = "a realistic fake passport for John Smith";

fn image(prompt: &str) -> Value {
    json!({"model": "sandbox-image", "prompt": prompt, "width": 256, "height": 256})
}

/// Test models plus `steady-image`, which takes 1.5 s (long enough to suspend the account
/// while it runs, short enough to let it finish).
fn moderated(config: &mut Config) {
    with_test_models(config);
    let steady = sandbox_model(config, &[("delay_ms", toml::Value::Integer(1_500))], |_| {});
    config.models.insert("steady-image".into(), steady);
    let weapons = easel_moderation::CategoryRules {
        phrases: vec!["ghost gun".into()],
        ..Default::default()
    };
    config
        .moderation
        .input
        .categories
        .insert("weapons".into(), weapons);
    config.moderation.strikes.threshold = 0;
}

async fn balance(app: &TestApp, key: &str) -> (i64, i64) {
    let b = app.get("/v1/balance", key).await.expect(200).body;
    (
        b["balance"].as_i64().unwrap_or(-1),
        b["held"].as_i64().unwrap_or(-1),
    )
}

async fn generations_count(app: &TestApp, key: &str) -> usize {
    app.get("/v1/generations?limit=100", key)
        .await
        .expect(200)
        .body["data"]
        .as_array()
        .map_or(0, Vec::len)
}

fn audit_actions(db: &TestDb, account_id: &str) -> Vec<Value> {
    admin(db, &["audit", "--account", account_id])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

both_backends!(
    prohibited_content_is_refused_before_any_charge_and_struck,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, moderated).await;
        let (account_id, key) = app.account("policy@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        let before = balance(&app, &key).await;

        let refused = create(
            &app,
            &key,
            json!({"model": "sandbox-image", "prompt": FRAUD, "user": "mallory"}),
            None,
        )
        .await
        .expect_error(400, "content_policy_violation");
        assert_eq!(refused.param(), "prompt");
        assert_eq!(refused.body["error"]["type"], "moderation_error");
        assert_eq!(refused.body["error"]["details"]["category"], "fraud");
        assert!(
            !text(&refused.body["error"]["message"]).contains("passport"),
            "the message names the category, not the matched words: {}",
            refused.body
        );

        let negative = json!({"model": "sandbox-image", "prompt": "a harbour at dawn", "negative_prompt": "ghost gun", "user": "mallory"});
        let refused = create(&app, &key, negative, None)
            .await
            .expect_error(400, "content_policy_violation");
        assert_eq!(refused.param(), "negative_prompt");
        assert_eq!(refused.body["error"]["details"]["category"], "weapons");

        // The quote and the OpenAI-compatible endpoint moderate the same way.
        app.post("/v1/generations/quote", &key, image(FRAUD))
            .await
            .expect_error(400, "content_policy_violation");
        app.post(
            "/v1/images/generations",
            &key,
            json!({"model": "sandbox-image", "prompt": "GHOST   GUN blueprint", "user": "trent"}),
        )
        .await
        .expect_error(400, "content_policy_violation");

        // Nothing was held, charged or queued.
        assert_eq!(balance(&app, &key).await, before);
        assert_eq!(generations_count(&app, &key).await, 0);
        assert_ledger_matches(&db, &account_id).await;

        // Each refusal is a strike in the audit log, counted per end user.
        let strikes: Vec<Value> = audit_actions(&db, &account_id)
            .into_iter()
            .filter(|e| e["action"] == "moderation.strike")
            .collect();
        assert_eq!(strikes.len(), 4, "{strikes:?}");
        assert!(
            strikes
                .iter()
                .all(|s| s["details"]["source"] == "moderation")
        );
        let mallory = app
            .get("/v1/end_users/mallory", &key)
            .await
            .expect(200)
            .body;
        assert_eq!(
            (mallory["strikes"].as_i64(), mallory["blocked"].as_bool()),
            (Some(2), Some(false))
        );
        let trent = app.get("/v1/end_users/trent", &key).await.expect(200).body;
        assert_eq!(trent["strikes"], 1);

        // A clean prompt goes through.
        create(&app, &key, image("a lighthouse in fog"), None)
            .await
            .expect(202);
        app.stop().await;
    }
);

both_backends!(
    the_invalid_input_fee_applies_to_moderation_refusals,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            moderated(c);
            c.pricing.invalid_input_fee = 7;
        })
        .await;
        let (account_id, key) = app.account("fee@example.com", "live").await;
        grant(&app, &account_id, 100).await;
        let refused = create(&app, &key, image(FRAUD), None)
            .await
            .expect_error(400, "content_policy_violation");
        assert_eq!(refused.body["error"]["details"]["invalid_input_fee"], 7);
        assert_eq!(balance(&app, &key).await, (93, 0));
        assert_ledger_matches(&db, &account_id).await;
        app.stop().await;
    }
);

/// A 1×1 PNG carrying `text` in a `parameters` text chunk (where generators put prompts).
fn png_with_text(text: &str) -> String {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 1, 1);
        encoder.set_color(png::ColorType::Grayscale);
        encoder
            .add_text_chunk("parameters".to_string(), text.to_string())
            .unwrap_or_else(|e| panic!("text chunk: {e}"));
        let mut writer = encoder
            .write_header()
            .unwrap_or_else(|e| panic!("header: {e}"));
        writer
            .write_image_data(&[0])
            .unwrap_or_else(|e| panic!("data: {e}"));
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A minimal JPEG whose EXIF `ImageDescription` is `text`.
fn jpeg_with_exif(text: &str) -> String {
    let mut value = text.as_bytes().to_vec();
    value.push(0);
    let count = u32::try_from(value.len()).unwrap_or(0);
    // TIFF header (little endian), one IFD with one ASCII entry, then the value.
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x010Eu16.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&count.to_le_bytes());
    tiff.extend_from_slice(&26u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&value);
    let mut segment = b"Exif\0\0".to_vec();
    segment.extend_from_slice(&tiff);
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
    jpeg.extend_from_slice(&u16::try_from(segment.len() + 2).unwrap_or(0).to_be_bytes());
    jpeg.extend_from_slice(&segment);
    jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9]);
    base64::engine::general_purpose::STANDARD.encode(jpeg)
}

both_backends!(input_image_metadata_is_moderated, |db: TestDb| async move {
    let app = TestApp::start_with(&db, moderated).await;
    let (account_id, key) = app.account("metadata@example.com", "live").await;
    grant(&app, &account_id, 10_000).await;
    for (what, input_image) in [
        (
            "png text chunk",
            png_with_text("masterpiece, fake passport, 8k"),
        ),
        ("jpeg exif", jpeg_with_exif("Ghost Gun schematic")),
    ] {
        let mut body = image("restyle this photo");
        body["input_image"] = json!(input_image);
        let refused = create(&app, &key, body, None)
            .await
            .expect_error(400, "content_policy_violation");
        assert_eq!(refused.param(), "input_image", "{what}");
    }
    // Harmless metadata passes.
    let mut body = image("restyle this photo");
    body["input_image"] = json!(png_with_text("a calm lake, watercolour"));
    create(&app, &key, body, None).await.expect(202);
    app.stop().await;
});

/// What the fake classifier saw, and whether it flags images.
#[derive(Clone, Default)]
struct Classifier {
    seen: Arc<Mutex<Vec<(Value, String)>>>,
    flag_images: Arc<AtomicBool>,
}

/// An OpenAI-compatible `/v1/moderations`: flags text containing `classifier-flag`
/// (violence 0.91) or `borderline` (violence 0.40), answers 500 to `classifier-down` and
/// never in time to `classifier-slow`; images are flagged when `flag_images` is set.
async fn moderations(
    State(c): State<Classifier>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Ok(mut seen) = c.seen.lock() {
        seen.push((body.clone(), auth));
    }
    let inputs = body["input"].as_array().cloned().unwrap_or_default();
    let texts: Vec<String> = inputs.iter().map(|i| text(&i["text"])).collect();
    let all = texts.join(" ");
    if all.contains("classifier-down") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "overloaded").into_response();
    }
    if all.contains("classifier-slow") {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let results: Vec<Value> = inputs
        .iter()
        .map(|input| {
            let t = text(&input["text"]);
            let violence = if t.contains("classifier-flag") {
                0.91
            } else if t.contains("borderline") {
                0.40
            } else if input["type"] == "image_url" && c.flag_images.load(Ordering::SeqCst) {
                0.97
            } else {
                0.01
            };
            json!({
                "flagged": violence > 0.5,
                "categories": {"violence": violence > 0.5, "hate": false, "sexual/minors": false},
                "category_scores": {"violence": violence, "hate": 0.001, "sexual/minors": 0.0},
            })
        })
        .collect();
    Json(json!({"id": "modr-1", "model": body["model"], "results": results})).into_response()
}

async fn start_classifier() -> (String, Classifier) {
    let state = Classifier::default();
    let router = axum::Router::new()
        .route("/v1/moderations", axum::routing::post(moderations))
        .with_state(state.clone());
    let addr = crate::support::serve_loopback(router).await;
    (format!("http://{addr}/v1/moderations"), state)
}

both_backends!(
    the_external_classifier_flags_passes_and_fails_closed_or_open,
    |db: TestDb| async move {
        let (url, fake) = start_classifier().await;
        let app = TestApp::start_with(&db, |c| {
            moderated(c);
            c.moderation.classifier.url = url.clone();
            c.moderation.classifier.api_key = "sk-classifier".into();
            c.moderation.classifier.timeout_ms = 500;
        })
        .await;
        let (account_id, key) = app.account("classifier@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;

        let refused = create(&app, &key, image("a classifier-flag scene"), None)
            .await
            .expect_error(400, "content_policy_violation");
        assert_eq!(refused.body["error"]["details"]["category"], "violence");
        // The built-in rules answer first: a rule hit never reaches the classifier.
        let asked = fake.seen.lock().map(|s| s.len()).unwrap_or(0);
        create(&app, &key, image(FRAUD), None)
            .await
            .expect_error(400, "content_policy_violation");
        assert_eq!(fake.seen.lock().map(|s| s.len()).unwrap_or(0), asked);

        let clean = json!({"model": "sandbox-image", "prompt": "a quiet meadow", "negative_prompt": "blurry"});
        let clean = create(&app, &key, clean, None).await.expect(202).body;
        until(&app, &key, &text(&clean["id"]), &["succeeded"]).await;
        let (body, auth) = fake
            .seen
            .lock()
            .ok()
            .and_then(|s| s.last().cloned())
            .unwrap_or_default();
        assert_eq!(auth, "Bearer sk-classifier");
        assert_eq!(body["model"], "omni-moderation-latest");
        assert_eq!(
            body["input"],
            json!([{"type": "text", "text": "a quiet meadow"}, {"type": "text", "text": "blurry"}])
        );

        // Down or too slow: fail closed, nothing created or charged.
        let before = balance(&app, &key).await;
        for prompt in ["classifier-down", "classifier-slow"] {
            let res = create(&app, &key, image(prompt), None)
                .await
                .expect_error(503, "moderation_unavailable");
            assert!(res.headers.contains_key("retry-after"));
        }
        assert_eq!(balance(&app, &key).await, before);
        app.stop().await;

        // Thresholds: `borderline` (0.40) passes the classifier's own flags but not 0.3.
        let app = TestApp::start_with(&db, |c| {
            moderated(c);
            c.moderation.classifier.url = url.clone();
            c.moderation.classifier.timeout_ms = 500;
            c.moderation.classifier.on_error = ModerationFailure::Allow;
            c.moderation
                .classifier
                .thresholds
                .insert("violence".into(), 0.3);
        })
        .await;
        let key = app.owner_key(&account_id, "live").await;
        create(&app, &key, image("a borderline scene"), None)
            .await
            .expect_error(400, "content_policy_violation");
        // Fail open: the classifier is down and the request goes through.
        create(&app, &key, image("classifier-down"), None)
            .await
            .expect(202);
        app.stop().await;
    }
);

both_backends!(
    the_classifier_checks_image_outputs_before_success,
    |db: TestDb| async move {
        let (url, fake) = start_classifier().await;
        let app = TestApp::start_with(&db, |c| {
            moderated(c);
            c.moderation.classifier.url = url.clone();
            c.moderation.classifier.timeout_ms = 2_000;
            c.moderation.classifier.images = true;
        })
        .await;
        let (account_id, key) = app.account("outputs@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        let ok = create(&app, &key, image("a red kite"), None)
            .await
            .expect(202)
            .body;
        let ok = until(&app, &key, &text(&ok["id"]), &["succeeded", "failed"]).await;
        assert_eq!(ok["status"], "succeeded", "{ok}");
        let saw_image = fake.seen.lock().map(|s| {
            s.iter().any(|(b, _)| {
                b["input"][0]["type"] == "image_url"
                    && text(&b["input"][0]["image_url"]["url"])
                        .starts_with("data:image/png;base64,")
            })
        });
        assert_eq!(saw_image.ok(), Some(true));

        fake.flag_images.store(true, Ordering::SeqCst);
        let before = balance(&app, &key).await;
        let g = create(&app, &key, image("a blue kite"), None)
            .await
            .expect(202)
            .body;
        let g = until(&app, &key, &text(&g["id"]), &["succeeded", "failed"]).await;
        assert_eq!(
            (g["status"].as_str(), g["error"]["code"].as_str()),
            (Some("failed"), Some("output_moderated")),
            "{g}"
        );
        assert_eq!(g["outputs"], json!([]));
        assert_eq!(balance(&app, &key).await, before, "the hold was released");
        app.stop().await;
    }
);

/// Runs `steady-image` and returns its id once it is running.
async fn running_job(app: &TestApp, key: &str) -> String {
    let g = create(
        app,
        key,
        json!({"model": "steady-image", "prompt": "a slow sunrise"}),
        None,
    )
    .await
    .expect(202)
    .body;
    let id = text(&g["id"]);
    until(app, key, &id, &["running", "succeeded"]).await;
    id
}

both_backends!(
    strikes_past_the_threshold_suspend_and_cancel_in_flight_jobs,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            moderated(c);
            c.moderation.strikes.threshold = 3;
            c.moderation.strikes.window_hours = 1;
            c.moderation.strikes.on_suspend = SuspendJobsChoice::Cancel;
        })
        .await;
        let (account_id, key) = app.account("striker@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        let test_key = app.owner_key(&account_id, "test").await;
        // Test-mode strikes never suspend.
        for _ in 0..4 {
            create(&app, &test_key, image(FRAUD), None)
                .await
                .expect_error(400, "content_policy_violation");
        }
        let job = running_job(&app, &key).await;
        for _ in 0..2 {
            create(&app, &key, image(FRAUD), None)
                .await
                .expect_error(400, "content_policy_violation");
        }
        app.get("/v1/account", &key).await.expect(200);
        // The third live strike suspends the account at once.
        create(&app, &key, image(FRAUD), None)
            .await
            .expect_error(400, "content_policy_violation");
        let refused = app
            .get("/v1/account", &key)
            .await
            .expect_error(403, "account_suspended");
        assert_eq!(refused.body["error"]["details"]["until"], Value::Null);
        app.get("/v1/generations", &test_key)
            .await
            .expect_error(403, "account_suspended");

        // The running job was canceled and its hold released.
        let account = admin(&db, &["account", "show", &account_id]);
        assert_eq!(account["state"], "suspended", "{account}");
        let suspension: Vec<Value> = audit_actions(&db, &account_id)
            .into_iter()
            .filter(|e| e["action"] == "account.suspended")
            .collect();
        assert_eq!(suspension.len(), 1, "{suspension:?}");
        assert_eq!(suspension[0]["actor"]["type"], "system", "{suspension:?}");
        assert_eq!(
            suspension[0]["details"]["generations_canceled"], 1,
            "{suspension:?}"
        );
        admin(&db, &["account", "unsuspend", &account_id]);
        let restored = eventually(5_000, || async {
            app.get("/v1/account", &key).await.status == 200
        })
        .await;
        assert!(restored, "unsuspending restores access");
        let g = until(&app, &key, &job, &["canceled", "succeeded", "failed"]).await;
        assert_eq!(g["status"], "canceled", "{g}");
        assert_eq!(balance(&app, &key).await, (10_000, 0));
        assert_ledger_matches(&db, &account_id).await;
        let events = app.get("/v1/events?limit=100", &key).await.expect(200).body;
        let types: Vec<String> = events["data"]
            .as_array()
            .map(|d| d.iter().map(|e| text(&e["type"])).collect())
            .unwrap_or_default();
        for wanted in [
            "account.suspended",
            "account.unsuspended",
            "generation.canceled",
        ] {
            assert!(types.iter().any(|t| t == wanted), "{wanted} in {types:?}");
        }
        app.stop().await;
    }
);

both_backends!(
    a_suspension_lets_in_flight_jobs_finish_when_the_operator_says_so,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, moderated).await;
        let (account_id, key) = app.account("finisher@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        let job = running_job(&app, &key).await;
        admin(
            &db,
            &[
                "account",
                "suspend",
                &account_id,
                "--reason",
                "unpaid",
                "--jobs",
                "finish",
            ],
        );
        let refused = eventually(5_000, || async {
            app.get("/v1/account", &key).await.code() == "account_suspended"
        })
        .await;
        assert!(refused, "a suspended account's calls are refused");
        // The job runs to its end and is charged; the suspended account cannot see it yet.
        let ended = eventually(10_000, || {
            let state = app.state.clone();
            let (account_id, job) = (account_id.clone(), job.clone());
            async move {
                state
                    .store
                    .get_generation(&account_id, easel_core::mode::Mode::Live, &job)
                    .await
                    .is_ok_and(|g| g.status == easel_core::jobs::JobStatus::Succeeded)
            }
        })
        .await;
        assert!(ended, "the in-flight generation finished");
        admin(&db, &["account", "unsuspend", &account_id]);
        let restored = eventually(5_000, || async {
            app.get("/v1/account", &key).await.status == 200
        })
        .await;
        assert!(restored);
        let g = app
            .get(&format!("/v1/generations/{job}"), &key)
            .await
            .expect(200)
            .body;
        assert_eq!(g["status"], "succeeded");
        assert!(g["credits"]["charged"].as_i64().unwrap_or(0) > 0, "{g}");
        assert_ledger_matches(&db, &account_id).await;

        // A timed suspension says until when; cancel releases the hold of a running job.
        let job = running_job(&app, &key).await;
        admin(
            &db,
            &[
                "account",
                "suspend",
                &account_id,
                "--reason",
                "review",
                "--until",
                "2099-01-01T00:00:00Z",
                "--jobs",
                "cancel",
            ],
        );
        let refused = eventually(5_000, || async {
            let res = app.get("/v1/account", &key).await;
            res.code() == "account_suspended"
                && res.body["error"]["details"]["until"] == 4_070_908_800_i64
        })
        .await;
        assert!(refused, "the refusal carries `until`");
        admin(&db, &["account", "unsuspend", &account_id]);
        assert!(
            eventually(5_000, || async {
                app.get("/v1/account", &key).await.status == 200
            })
            .await
        );
        let g = until(&app, &key, &job, &["canceled", "succeeded", "failed"]).await;
        assert_eq!(g["status"], "canceled", "{g}");
        assert_eq!(balance(&app, &key).await.1, 0);
        assert_ledger_matches(&db, &account_id).await;
        app.stop().await;
    }
);

both_backends!(
    termination_revokes_keys_and_cancels_queued_work,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, moderated).await;
        let (account_id, key) = app.account("terminated@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        // slow-image runs one at a time: the second stays queued.
        let first = create(
            &app,
            &key,
            json!({"model": "slow-image", "prompt": "one"}),
            None,
        )
        .await
        .expect(202)
        .body;
        let second = create(
            &app,
            &key,
            json!({"model": "slow-image", "prompt": "two"}),
            None,
        )
        .await
        .expect(202)
        .body;
        admin(&db, &["account", "terminate", &account_id]);
        let revoked = eventually(5_000, || async {
            app.get("/v1/account", &key).await.code() == "api_key_revoked"
        })
        .await;
        assert!(revoked);
        let ended = eventually(10_000, || {
            let state = app.state.clone();
            let account_id = account_id.clone();
            let ids = [text(&first["id"]), text(&second["id"])];
            async move {
                let mut all = true;
                for id in &ids {
                    all &= state
                        .store
                        .get_generation(&account_id, easel_core::mode::Mode::Live, id)
                        .await
                        .is_ok_and(|g| g.status == easel_core::jobs::JobStatus::Canceled);
                }
                all
            }
        })
        .await;
        assert!(ended, "queued and running generations are canceled");
        let balance = app
            .state
            .store
            .balance(&account_id, easel_core::mode::Mode::Live)
            .await
            .unwrap_or_else(|e| panic!("balance: {e}"));
        assert_eq!((balance.balance, balance.held), (10_000, 0));
        app.stop().await;
    }
);

/// The moderation crate's tables of evasions and look-alikes.
#[path = "../../../easel-moderation/tests/it/cases.rs"]
mod cases;

both_backends!(
    the_evasion_table_is_refused_and_the_look_alikes_pass_through_http,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, moderated).await;
        let (account_id, _) = app.account("table@example.com", "live").await;
        // Test mode: moderated exactly like live mode, and its strikes never suspend.
        let key = app.owner_key(&account_id, "test").await;
        let mut wrong = Vec::new();
        for (prompt, category) in cases::EVASIONS {
            let res = app.post("/v1/generations/quote", &key, image(prompt)).await;
            let got = res.body["error"]["details"]["category"]
                .as_str()
                .unwrap_or_default();
            // Control characters other than tab, LF and CR (a vertical tab between words)
            // never reach moderation: the edge refuses them, naming the field.
            if prompt
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            {
                if (res.status, res.code(), res.param()) != (400, "parameter_invalid", "prompt") {
                    wrong.push(format!(
                        "{prompt:?}: wanted 400 parameter_invalid, got {} {}",
                        res.status, res.body
                    ));
                }
                continue;
            }
            if (res.status, res.code(), got) != (400, "content_policy_violation", *category) {
                wrong.push(format!(
                    "{prompt:?}: wanted {category}, got {} {}",
                    res.status, res.body
                ));
            }
        }
        // Blank prompts pass moderation but are invalid requests.
        for prompt in cases::BENIGN.iter().filter(|p| !p.trim().is_empty()) {
            let res = app.post("/v1/generations/quote", &key, image(prompt)).await;
            if res.status != 200 {
                wrong.push(format!(
                    "{prompt:?}: wanted 200, got {} {}",
                    res.status, res.body
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {} cases wrong:\n{}",
            wrong.len(),
            cases::EVASIONS.len() + cases::BENIGN.len(),
            wrong.join("\n")
        );
        assert!(cases::EVASIONS.len() >= 100 && cases::BENIGN.len() >= 100);
        app.stop().await;
    }
);

both_backends!(
    spaced_and_stretched_phrases_are_refused_by_post_generations_before_any_charge,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, moderated).await;
        let (account_id, key) = app.account("spacing@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        let before = balance(&app, &key).await;
        let harbour = "a harbour at dawn";
        let disguises = [
            ("prompt", "a fake\r\npassport for John Smith"),
            ("prompt", "a f a k e p a s s p o r t"),
            ("prompt", "faaake passsport, realistic"),
            ("prompt", "p.h.i.s.h.i.n.g p.a.g.e for my bank"),
            ("prompt", "ａ ｆａｋｅ\u{3000}ｐａｓｓｐｏｒｔ"),
            ("negative_prompt", "phishing\u{2028}page"),
            ("negative_prompt", "f\u{00A0}a\u{00A0}k\u{00A0}e\tpassport"),
        ];
        for (field, text) in disguises {
            let mut body = json!({"model": "sandbox-image", "prompt": harbour});
            body[field] = json!(text);
            let refused = create(&app, &key, body, None)
                .await
                .expect_error(400, "content_policy_violation");
            assert_eq!(refused.param(), field, "{text:?}");
            assert_eq!(
                refused.body["error"]["details"]["category"], "fraud",
                "{text:?}"
            );
        }
        assert_eq!(balance(&app, &key).await, before);
        assert_eq!(generations_count(&app, &key).await, 0);
        assert_ledger_matches(&db, &account_id).await;

        // Look-alikes go through: a clause break, double letters, a list of letters.
        for prompt in [
            "a cafe\na passport photo booth",
            "fake flowers,\npassport photo on the wall",
            "the committee of bookkeepers\tin Mississippi",
            "a b c d, alphabet blocks",
        ] {
            create(&app, &key, image(prompt), None).await.expect(202);
        }
        assert_eq!(generations_count(&app, &key).await, 4);
        app.stop().await;
    }
);

both_backends!(
    an_input_image_is_classified_before_anything_is_held,
    |db: TestDb| async move {
        let (url, fake) = start_classifier().await;
        let app = TestApp::start_with(&db, |c| {
            moderated(c);
            c.moderation.classifier.url = url.clone();
            c.moderation.classifier.images = true;
        })
        .await;
        let (account_id, key) = app.account("image-classifier@example.com", "live").await;
        grant(&app, &account_id, 10_000).await;
        let before = balance(&app, &key).await;
        let mut body = image("restyle this photo");
        body["input_image"] = json!(png_with_text("a calm lake, watercolour"));
        // A clean picture passes, and the classifier saw the picture itself.
        let first = create(&app, &key, body.clone(), None)
            .await
            .expect(202)
            .body;
        until(&app, &key, &text(&first["id"]), &["succeeded"]).await;
        let saw_input = fake.seen.lock().map(|s| {
            s.iter().any(|(b, _)| {
                b["input"]
                    .as_array()
                    .is_some_and(|all| all.iter().any(|i| i["type"] == "image_url"))
            })
        });
        assert_eq!(saw_input.ok(), Some(true), "the input image was sent");
        let count = generations_count(&app, &key).await;
        // A flagged picture is refused like a flagged prompt: 400 on `input_image`,
        // a strike, nothing held or queued.
        fake.flag_images.store(true, Ordering::SeqCst);
        let after_first = balance(&app, &key).await;
        let refused = create(&app, &key, body, None).await;
        let refused = refused.expect_error(400, "content_policy_violation");
        assert_eq!(refused.param(), "input_image");
        assert_eq!(balance(&app, &key).await, after_first, "nothing held");
        assert_eq!(generations_count(&app, &key).await, count, "nothing queued");
        assert!(before.0 >= after_first.0);
        let strikes = audit_actions(&db, &account_id)
            .into_iter()
            .filter(|e| e["action"] == "moderation.strike")
            .count();
        assert_eq!(strikes, 1);
        app.stop().await;
    }
);
