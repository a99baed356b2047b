//! Key and balance events end to end: `key.created|rotated|revoked` from the API and from
//! member removal, `key.expiring` from the sweep, `credits.low` from generations' holds,
//! each delivered once to a real receiver subscribed to it, carrying the key as
//! `GET /v1/keys/{id}` shows it (never a secret) or the balance as `GET /v1/balance` does.

use std::time::Duration;

use easel_core::time::now_ms;
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::credits::price;
use crate::generations::{create, grant, with_test_models};
use crate::support::TestApp;
use crate::webhooks::{Receiver, endpoint, quick};

/// The bodies the receiver got, after giving the dispatcher time to send any extra one.
async fn delivered(receiver: &Receiver, n: usize) -> Vec<Value> {
    receiver.wait_for(n, 10_000).await;
    // Several poll intervals (`quick`: 20 ms) for a duplicate to show up if there were one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bodies: Vec<Value> = receiver.hits().iter().map(|h| h.json()).collect();
    assert_eq!(bodies.len(), n, "each event once: {bodies:?}");
    bodies
}

fn of_type<'a>(bodies: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    bodies.iter().filter(|b| b["type"] == event_type).collect()
}

/// `data` without the field the event adds beside the key.
fn without(data: &Value, field: &str) -> Value {
    let mut data = data.clone();
    if let Some(map) = data.as_object_mut() {
        map.remove(field);
    }
    data
}

both_backends!(
    key_events_reach_a_subscribed_endpoint_once_as_the_api_shows_the_key,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, quick).await;
        let (account_id, owner_key) = app.account("key-events@example.com", "test").await;
        let receiver = Receiver::start(vec![]).await;
        endpoint(
            &app,
            &owner_key,
            &receiver.url,
            json!(["key.created", "key.rotated", "key.revoked"]),
        )
        .await;

        let created = app
            .post("/v1/keys", &owner_key, json!({"name": "ci"}))
            .await
            .expect(201)
            .body;
        let id = created["id"].as_str().unwrap_or_default().to_string();
        let secret = created["secret"].as_str().unwrap_or_default().to_string();
        let as_created = app
            .get(&format!("/v1/keys/{id}"), &owner_key)
            .await
            .expect(200)
            .body;
        let rotated = app
            .post(
                &format!("/v1/keys/{id}/rotate"),
                &owner_key,
                json!({"grace_period_seconds": 600}),
            )
            .await
            .expect(200)
            .body;
        let as_rotated = app
            .get(&format!("/v1/keys/{id}"), &owner_key)
            .await
            .expect(200)
            .body;
        let revoked = app
            .delete(&format!("/v1/keys/{id}"), &owner_key)
            .await
            .expect(200)
            .body;
        // A member's keys are revoked with them: one `key.revoked` each.
        let (member, _) = app
            .member_key(&account_id, "dev@example.com", "developer", "test")
            .await;
        app.delete(&format!("/v1/account/members/{member}"), &owner_key)
            .await
            .expect(200);

        let bodies = delivered(&receiver, 5).await;
        let text = serde_json::to_string(&bodies).unwrap_or_default();
        assert!(!text.contains(&secret), "never a secret");
        assert!(
            !text.contains(rotated["secret"].as_str().unwrap_or("none")),
            "never the rotated-in secret"
        );
        let created_events = of_type(&bodies, "key.created");
        assert_eq!(created_events.len(), 2, "the API's key and the member's");
        let ours = created_events
            .iter()
            .find(|b| b["data"]["id"] == id.as_str())
            .unwrap_or_else(|| panic!("no key.created for {id}: {bodies:?}"));
        assert_eq!(
            ours["data"], as_created,
            "the key as GET /v1/keys/{{id}} shows it"
        );
        let rotated_events = of_type(&bodies, "key.rotated");
        assert_eq!(rotated_events.len(), 1);
        assert_eq!(rotated_events[0]["data"], as_rotated);
        assert_eq!(
            rotated_events[0]["data"]["previous_secret_expires_at"],
            rotated["previous_secret_expires_at"],
            "when the old secret stops working"
        );
        let revoked_events = of_type(&bodies, "key.revoked");
        assert_eq!(revoked_events.len(), 2);
        let ours = revoked_events
            .iter()
            .find(|b| b["data"]["id"] == id.as_str())
            .unwrap_or_else(|| panic!("no key.revoked for {id}: {bodies:?}"));
        assert_eq!(ours["data"]["reason"], "requested");
        assert_eq!(without(&ours["data"], "reason"), revoked);
        let theirs = revoked_events
            .iter()
            .find(|b| b["data"]["id"] != id.as_str())
            .unwrap_or_else(|| panic!("no key.revoked for the member's key"));
        assert_eq!(theirs["data"]["reason"], "member_removed");
        assert_eq!(theirs["data"]["status"], "revoked");
        app.stop().await;
    }
);

both_backends!(
    key_expiring_is_delivered_once_even_when_sweeps_race,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            quick(c);
            c.api_keys.expiring_notice_days = 7;
        })
        .await;
        let (_, owner_key) = app.account("expiring@example.com", "test").await;
        let receiver = Receiver::start(vec![]).await;
        endpoint(&app, &owner_key, &receiver.url, json!(["key.expiring"])).await;
        let now_s = now_ms() / 1000;
        let soon = app
            .post(
                "/v1/keys",
                &owner_key,
                json!({"name": "soon", "expires_at": now_s + 2 * 86_400}),
            )
            .await
            .expect(201)
            .body;
        app.post(
            "/v1/keys",
            &owner_key,
            json!({"name": "later", "expires_at": now_s + 30 * 86_400}),
        )
        .await
        .expect(201);

        let sweep = || async {
            let mut last_run = i64::MIN / 2;
            easel_server::services::keys::sweep_expiring(&app.state, &mut last_run, now_ms()).await;
        };
        tokio::join!(sweep(), sweep());
        sweep().await;

        let bodies = delivered(&receiver, 1).await;
        assert_eq!(bodies[0]["type"], "key.expiring");
        assert_eq!(bodies[0]["data"]["id"], soon["id"]);
        assert_eq!(bodies[0]["data"]["expires_at"], now_s + 2 * 86_400);
        assert!(bodies[0]["data"].get("secret").is_none());
        app.stop().await;
    }
);

both_backends!(
    credits_low_is_delivered_once_per_crossing,
    |db: TestDb| async move {
        let receiver = Receiver::start_on("127.0.0.3", vec![]).await;
        let threshold = 1000;
        let app = TestApp::start_with(&db, |c| {
            with_test_models(c);
            quick(c);
            c.webhooks.allow = vec!["127.0.0.3/32".into()];
            c.credits.low_balance_credits = threshold;
        })
        .await;
        let (account_id, live) = app.account("low@example.com", "live").await;
        endpoint(&app, &live, &receiver.url, json!(["credits.low"])).await;
        let image = json!({"model": "sandbox-image", "prompt": "x", "width": 256, "height": 256});
        let cost = price(&app, &live, &image).await;
        assert!(cost > 0, "{cost}");
        // Exactly at the threshold after the first generation: at is not below.
        grant(&app, &account_id, threshold + cost).await;
        let generate = || async {
            create(&app, &live, image.clone(), Some(20))
                .await
                .expect(200);
        };
        generate().await; // the threshold left: not below
        generate().await; // below: told
        generate().await; // still below: not told again
        grant(&app, &account_id, 2 * cost).await; // back above
        generate().await; // below again: told again

        let bodies = delivered(&receiver, 2).await;
        for b in &bodies {
            assert_eq!(b["type"], "credits.low");
            assert_eq!(b["data"]["object"], "balance");
            assert_eq!(b["data"]["livemode"], true);
            assert_eq!(b["data"]["threshold"], threshold);
            assert_eq!(b["data"]["available"], threshold - cost);
            assert_eq!(b["data"]["held"], cost, "told when the hold was placed");
        }
        app.stop().await;
    }
);
