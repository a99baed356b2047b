//! `GET /v1/events`: state changes of the caller's mode, newest first.

use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_db::{NewGeneration, NewJob};
use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use crate::support::TestApp;

/// Creates a generation straight in the store (the generation API is not built yet).
async fn generation(app: &TestApp, account_id: &str, key_id: &str, mode: Mode) -> String {
    let now = easel_core::time::now_ms();
    let new = NewGeneration {
        id: IdKind::Generation.generate(),
        account_id: account_id.into(),
        api_key_id: key_id.into(),
        mode,
        model: "sandbox-image".into(),
        kind: easel_core::models::ModelKind::Image,
        input: json!({"prompt": "x"}),
        end_user: None,
        metadata: None,
        licence: "non_commercial".into(),
        credits_estimated: 0,
        spend_cap: None,
        max_open: None,
        job: NewJob {
            id: IdKind::Job.generate(),
            queue: "unserved".into(),
            kind: "run_generation".into(),
            payload: "{}".into(),
            max_attempts: 1,
            run_at: now,
            expires_at: None,
            now,
        },
    };
    app.state
        .store
        .create_generation(new, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .id
}

both_backends!(
    events_list_the_callers_mode_newest_first,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, live) = app.account("events@example.com", "live").await;
        let me = app.get("/v1/account", &live).await.expect(200);
        let key_id = me.body["caller"]["api_key_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let first = generation(&app, &account_id, &key_id, Mode::Live).await;
        let second = generation(&app, &account_id, &key_id, Mode::Live).await;
        generation(&app, &account_id, &key_id, Mode::Test).await;
        let res = app.get("/v1/events", &live).await.expect(200);
        let events = res.body["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), 3, "test-mode events stay out of live mode");
        assert_eq!(events[0]["type"], "generation.queued");
        assert_eq!(events[0]["data"]["id"], second.as_str());
        assert_eq!(events[1]["data"]["id"], first.as_str());
        assert_eq!(
            events[2]["type"], "key.created",
            "the live key's, first of all"
        );
        assert_eq!(events[2]["data"]["id"], key_id.as_str());
        assert_eq!(events[0]["livemode"], true);
        assert!(
            events[0]["id"]
                .as_str()
                .unwrap_or_default()
                .starts_with("evt_")
        );
        let page = app.get("/v1/events?limit=1", &live).await.expect(200);
        assert_eq!(page.body["has_more"], true);
        let cursor = page.body["next_cursor"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rest = app
            .get(&format!("/v1/events?starting_after={cursor}"), &live)
            .await
            .expect(200);
        assert_eq!(rest.body["data"][0]["data"]["id"], first.as_str());
        app.get(
            "/v1/events?starting_after=gen_01m864a045xwwke0zd48j6933p",
            &live,
        )
        .await
        .expect_error(400, "parameter_invalid");
        let narrow = app
            .post(
                "/v1/keys",
                &live,
                json!({"name": "n", "scopes": ["keys:read"]}),
            )
            .await
            .expect(201);
        app.get(
            "/v1/events",
            narrow.body["secret"].as_str().unwrap_or_default(),
        )
        .await
        .expect_error(403, "insufficient_scope");
        app.stop().await;
    }
);
