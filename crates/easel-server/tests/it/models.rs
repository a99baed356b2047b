//! `GET /v1/models`: the configured models with the exact price of every call shape.

use easel_test_utils::{TestDb, both_backends};
use serde_json::Value;

use crate::support::TestApp;

fn price<'a>(model: &'a Value, size: &str, key: &str, value: u64) -> &'a Value {
    model["prices"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["size"] == size && p[key] == value)
        .unwrap_or_else(|| panic!("no price for {size} {key}={value} in {model}"))
}

both_backends!(
    models_list_sizes_and_exact_prices,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            if let Some(video) = c.models.get_mut("sandbox-video") {
                video.plans = vec!["pro".into()];
            }
        })
        .await;
        let (account_id, key) = app.account("models@example.com", "live").await;
        let res = app.get("/v1/models", &key).await.expect(200);
        let models = res.body["data"].as_array().cloned().unwrap_or_default();
        let ids: Vec<&str> = models.iter().filter_map(|m| m["id"].as_str()).collect();
        assert_eq!(ids, ["sandbox-image", "sandbox-video"]);
        let (image, video) = (&models[0], &models[1]);
        assert_eq!(image["kind"], "image");
        assert_eq!(image["max_n"], 4);
        assert!(image.get("durations").is_none());
        // 10 credits/MP × 0.262144 MP × 1.5 = 3.93 → 4; four images 15.73 → 16 (one rounding).
        let one = price(image, "512x512", "n", 1);
        assert_eq!(
            (one["credits"].as_i64(), one["eur"].as_str()),
            (Some(4), Some("0.004"))
        );
        // Beside it the web price, before the markup: 2.62 → 3 credits, so the markup shows.
        assert_eq!(
            (one["web_credits"].as_i64(), one["web_eur"].as_str()),
            (Some(3), Some("0.003"))
        );
        assert_eq!(price(image, "512x512", "n", 4)["credits"], 16);
        assert_eq!(price(image, "512x512", "n", 4)["web_credits"], 11);
        assert_eq!(price(image, "1024x1024", "n", 1)["credits"], 16);
        assert_eq!(
            image["prices"].as_array().map(Vec::len),
            Some(6 * 4),
            "every size × n"
        );
        // 20 credits/MP-s × 0.2304 MP × 4 s × 1.5 = 27.65 → 28.
        assert_eq!(
            price(video, "640x360", "duration_seconds", 4)["credits"],
            28
        );
        assert_eq!(video["fps"], serde_json::json!([12, 24]));
        assert_eq!(image["available_on_plan"], true);
        assert_eq!(
            video["available_on_plan"], false,
            "the account is on free, the model is pro-only"
        );
        // The account's test keys see the same list, prices and plan availability included
        // (test mode is free, but the list shows what live calls will cost).
        let test_key = app.owner_key(&account_id, "test").await;
        let test = app.get("/v1/models", &test_key).await.expect(200);
        assert_eq!(test.body["data"], res.body["data"]);
        // A key without generations:read does not.
        let narrow = app
            .post(
                "/v1/keys",
                &key,
                serde_json::json!({"name": "n", "scopes": ["keys:read"]}),
            )
            .await
            .expect(201);
        app.get(
            "/v1/models",
            narrow.body["secret"].as_str().unwrap_or_default(),
        )
        .await
        .expect_error(403, "insufficient_scope");
        app.stop().await;
    }
);

both_backends!(disabled_models_are_not_listed, |db: TestDb| async move {
    let app = TestApp::start_with(&db, |c| {
        if let Some(video) = c.models.get_mut("sandbox-video") {
            video.enabled = false;
        }
    })
    .await;
    let res = app.get("/v1/models", &app.first.test_key).await.expect(200);
    let ids: Vec<&str> = res.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["sandbox-image"],
        "the enabled one stays, the disabled one goes"
    );
    app.stop().await;
});
