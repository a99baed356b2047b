//! Credits: holds placed with the generation, captured on success, released on every other
//! ending; 402 when short; exact under concurrency on two nodes; the ledger sums to the
//! balance; operator grants through the CLI.

use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::generations::{create, grant, start, text, until, with_test_models};
use crate::support::TestApp;
use crate::support::binary::{admin, admin_fails};

/// Asserts the ledger's invariants against the stored balance.
pub async fn assert_ledger_matches(db: &TestDb, account_id: &str) -> (i64, i64) {
    let balance = db
        .count(&format!("SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM credit_balances WHERE account_id = '{account_id}'"))
        .await;
    let held = db
        .count(&format!(
            "SELECT CAST(COALESCE(SUM(held), 0) AS BIGINT) FROM credit_balances WHERE account_id = '{account_id}'"
        ))
        .await;
    let sum = db
        .count(&format!("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entries WHERE account_id = '{account_id}'"))
        .await;
    let held_sum = db
        .count(&format!("SELECT CAST(COALESCE(SUM(held_change), 0) AS BIGINT) FROM ledger_entries WHERE account_id = '{account_id}'"))
        .await;
    assert_eq!(sum, balance, "the ledger sums to the balance");
    assert_eq!(
        held_sum, held,
        "the holds in the ledger sum to what is held"
    );
    assert!(balance >= 0 && held >= 0 && held <= balance);
    (balance, held)
}

pub async fn price(app: &TestApp, key: &str, body: &Value) -> i64 {
    let quote = app
        .post("/v1/generations/quote", key, body.clone())
        .await
        .expect(200)
        .body;
    quote["live_credits"].as_i64().unwrap_or_default()
}

both_backends!(
    holds_are_captured_on_success_and_released_otherwise,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("ledger@example.com", "live").await;
        grant(&app, &account_id, 1000).await;
        let image =
            json!({"model": "sandbox-image", "prompt": "paid", "width": 256, "height": 256});
        let cost = price(&app, &key, &image).await;
        assert!(cost > 0);

        let ok = create(&app, &key, image.clone(), Some(20))
            .await
            .expect(200)
            .body;
        assert_eq!(ok["credits"]["charged"], cost);
        let failed = create(
            &app,
            &key,
            json!({"model": "broken-image", "prompt": "x"}),
            None,
        )
        .await
        .expect(202)
        .body;
        let failed = until(&app, &key, &text(&failed["id"]), &["failed"]).await;
        assert_eq!(failed["credits"]["charged"], 0);
        let queued_slow = create(
            &app,
            &key,
            json!({"model": "slow-image", "prompt": "a"}),
            None,
        )
        .await
        .expect(202)
        .body;
        let behind = create(
            &app,
            &key,
            json!({"model": "slow-image", "prompt": "b"}),
            None,
        )
        .await
        .expect(202)
        .body;
        // While they wait, their holds are not available.
        let b = app.get("/v1/balance", &key).await.expect(200).body;
        let slow_cost = queued_slow["credits"]["estimated"]
            .as_i64()
            .unwrap_or_default();
        assert_eq!(b["held"], 2 * slow_cost);
        assert_eq!(b["available"], 1000 - cost - 2 * slow_cost);
        for g in [&behind, &queued_slow] {
            app.post(
                &format!("/v1/generations/{}/cancel", text(&g["id"])),
                &key,
                json!({}),
            )
            .await
            .expect(200);
        }
        let b = app.get("/v1/balance", &key).await.expect(200).body;
        assert_eq!(
            (b["balance"].as_i64(), b["held"].as_i64()),
            (Some(1000 - cost), Some(0)),
            "{b}"
        );
        assert_eq!(
            b["available_eur"],
            easel_core::models::credits_to_eur(1000 - cost)
        );
        let (balance, held) = assert_ledger_matches(&db, &account_id).await;
        assert_eq!((balance, held), (1000 - cost, 0));

        let ledger = app.get("/v1/ledger?limit=100", &key).await.expect(200).body;
        let types: Vec<String> = ledger["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| text(&e["type"]))
            .collect();
        assert_eq!(types.iter().filter(|t| *t == "hold").count(), 4);
        assert_eq!(types.iter().filter(|t| *t == "capture").count(), 1);
        assert_eq!(types.iter().filter(|t| *t == "release").count(), 3);
        assert_eq!(types.last().map(String::as_str), Some("grant"));
        let captures = app
            .get("/v1/ledger?type=capture", &key)
            .await
            .expect(200)
            .body;
        let capture = &captures["data"][0];
        assert_eq!(capture["amount"], -cost);
        assert_eq!(
            capture["reference"],
            json!({"type": "generation", "id": ok["id"]})
        );
        assert_eq!(capture["balance_after"], 1000 - cost);
        let future = app
            .get("/v1/ledger?from=4000000000", &key)
            .await
            .expect(200)
            .body;
        assert_eq!(future["data"], json!([]));
        let past = app.get("/v1/ledger?to=1", &key).await.expect(200).body;
        assert_eq!(past["data"], json!([]));
        app.get("/v1/ledger?type=gift", &key)
            .await
            .expect_error(400, "parameter_invalid");
        app.get("/v1/ledger?from=-5", &key)
            .await
            .expect_error(400, "parameter_invalid");
        app.stop().await;
    }
);

both_backends!(
    an_expired_generation_releases_its_hold,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("expiry-credits@example.com", "live").await;
        grant(&app, &account_id, 1000).await;
        let first = create(
            &app,
            &key,
            json!({"model": "brief-queue", "prompt": "a"}),
            None,
        )
        .await
        .expect(202)
        .body;
        until(&app, &key, &text(&first["id"]), &["running"]).await;
        let second = create(
            &app,
            &key,
            json!({"model": "brief-queue", "prompt": "b"}),
            None,
        )
        .await
        .expect(202)
        .body;
        until(&app, &key, &text(&second["id"]), &["expired"]).await;
        app.post(
            &format!("/v1/generations/{}/cancel", text(&first["id"])),
            &key,
            json!({}),
        )
        .await
        .expect(200);
        let (balance, held) = assert_ledger_matches(&db, &account_id).await;
        assert_eq!((balance, held), (1000, 0));
        app.stop().await;
    }
);

both_backends!(
    a_short_balance_is_402_and_queues_nothing,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("short@example.com", "live").await;
        let body = json!({"model": "sandbox-image", "prompt": "too dear", "width": 512, "height": 512, "n": 4});
        let cost = price(&app, &key, &body).await;
        grant(&app, &account_id, cost - 1).await;
        let refused = create(&app, &key, body.clone(), None)
            .await
            .expect_error(402, "insufficient_credits");
        assert_eq!(
            refused.body["error"]["details"],
            json!({"required": cost, "available": cost - 1})
        );
        assert_eq!(refused.body["error"]["type"], "billing_error");
        let quote = app
            .post("/v1/generations/quote", &key, body.clone())
            .await
            .expect(200)
            .body;
        assert_eq!(quote["allowed"], false);
        assert_eq!(quote["available_credits"], cost - 1);
        assert_eq!(quote["refusals"][0]["code"], "insufficient_credits");
        assert_eq!(
            app.get("/v1/generations", &key).await.expect(200).body["data"],
            json!([])
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM jobs").await,
            0,
            "nothing queued"
        );
        assert_eq!(db.count("SELECT COUNT(*) FROM holds").await, 0);
        // Test mode never touches credits, whatever the balance.
        let test = app.owner_key(&account_id, "test").await;
        let free = create(&app, &test, body, Some(20)).await.expect(200).body;
        assert_eq!(free["credits"], json!({"estimated": 0, "charged": 0}));
        assert_eq!(
            app.get("/v1/ledger", &test).await.expect(200).body["data"],
            json!([])
        );
        assert_eq!(
            app.get("/v1/balance", &test).await.expect(200).body["balance"],
            0
        );
        let (balance, _) = assert_ledger_matches(&db, &account_id).await;
        assert_eq!(balance, cost - 1);
        app.stop().await;
    }
);

both_backends!(
    concurrent_requests_on_two_nodes_spend_exactly_the_balance,
    |db: TestDb| async move {
        let one = start(&db).await;
        let two = TestApp::start_with(&db, with_test_models).await;
        let (account_id, key) = one.account("race@example.com", "live").await;
        let body = json!({"model": "sandbox-image", "prompt": "race", "width": 256, "height": 256});
        let cost = price(&one, &key, &body).await;
        let affordable = 23;
        grant(&one, &account_id, affordable * cost + cost - 1).await;
        let nodes = std::sync::Arc::new([one, two]);
        let mut tasks = Vec::new();
        for i in 0..200 {
            let nodes = std::sync::Arc::clone(&nodes);
            let (key, body) = (key.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let app = &nodes[i % 2];
                app.send(
                    app.raw(reqwest::Method::POST, "/v1/generations")
                        .bearer_auth(&key)
                        .json(&body),
                )
                .await
                .status
            }));
        }
        let mut statuses = std::collections::BTreeMap::new();
        for task in tasks {
            *statuses
                .entry(task.await.unwrap_or_else(|e| panic!("{e}")))
                .or_insert(0) += 1;
        }
        assert_eq!(
            statuses.get(&202).copied(),
            Some(affordable),
            "{statuses:?}"
        );
        assert_eq!(
            statuses.get(&402).copied(),
            Some(200 - affordable),
            "{statuses:?}"
        );
        let settled = crate::support::eventually(30_000, || async {
            db.count("SELECT COUNT(*) FROM generations WHERE status = 'succeeded'")
                .await
                == affordable
        })
        .await;
        assert!(settled);
        let (balance, held) = assert_ledger_matches(&db, &account_id).await;
        assert_eq!((balance, held), (cost - 1, 0));
        if let Ok(nodes) = std::sync::Arc::try_unwrap(nodes) {
            let [one, two] = nodes;
            one.stop().await;
            two.stop().await;
        }
    }
);

both_backends!(
    operators_grant_credits_from_the_cli,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = app.account("cli-credits@example.com", "live").await;
        let entry = admin(
            &db,
            &[
                "credits",
                "grant",
                "--account",
                &account_id,
                "--credits",
                "5000",
                "--reason",
                "welcome",
            ],
        );
        assert_eq!(entry["type"], "grant");
        assert_eq!(entry["amount"], 5000);
        assert_eq!(entry["balance_after"], 5000);
        assert_eq!(entry["reason"], "welcome");
        assert_eq!(entry["actor"]["type"], "operator");
        let b = admin(&db, &["credits", "balance", "--account", &account_id]);
        assert_eq!(
            (b["balance"].as_i64(), b["available"].as_i64()),
            (Some(5000), Some(5000))
        );
        for (credits, why) in [
            ("0", "credits"),
            ("-5", "credits"),
            ("1000000000001", "credits"),
            ("99999999999999999999", "credits"),
        ] {
            let err = admin_fails(
                &db,
                &[
                    "credits",
                    "grant",
                    "--account",
                    &account_id,
                    "--credits",
                    credits,
                    "--reason",
                    "x",
                ],
            );
            assert!(err.contains(why), "{credits}: {err}");
        }
        let err = admin_fails(
            &db,
            &[
                "credits",
                "grant",
                "--account",
                &account_id,
                "--credits",
                "5",
                "--reason",
                " ",
            ],
        );
        assert!(err.contains("reason"), "{err}");
        let err = admin_fails(
            &db,
            &[
                "credits",
                "grant",
                "--account",
                "acct_01m864a045xwwke0zd48j6933p",
                "--credits",
                "5",
                "--reason",
                "x",
            ],
        );
        assert!(err.contains("No such account"), "{err}");
        let (other, _) = app.account("gone@example.com", "live").await;
        admin(&db, &["account", "terminate", &other]);
        let err = admin_fails(
            &db,
            &[
                "credits",
                "grant",
                "--account",
                &other,
                "--credits",
                "5",
                "--reason",
                "x",
            ],
        );
        assert!(err.contains("terminated"), "{err}");
        // The API shows it, and the audit log and events record it.
        let ledger = app.get("/v1/ledger", &key).await.expect(200).body;
        assert_eq!(ledger["data"][0]["id"], entry["id"]);
        let audit = app.get("/v1/audit_log", &key).await.expect(200).body;
        assert!(
            audit["data"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["action"] == "credits.granted")),
            "{audit}"
        );
        let events = app.get("/v1/events", &key).await.expect(200).body;
        assert_eq!(events["data"][0]["type"], "credits.granted");
        assert_eq!(events["data"][0]["data"]["amount"], 5000);
        let (balance, _) = assert_ledger_matches(&db, &account_id).await;
        assert_eq!(balance, 5000);
        app.stop().await;
    }
);

both_backends!(
    a_key_spend_cap_counts_holds_and_stops_exactly_at_the_cap,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, owner_key) = app.account("caps@example.com", "live").await;
        grant(&app, &account_id, 1_000_000).await;
        let body =
            json!({"model": "sandbox-image", "prompt": "capped", "width": 256, "height": 256});
        let cost = price(&app, &owner_key, &body).await;
        let capped = app
            .post(
                "/v1/keys",
                &owner_key,
                json!({"name": "capped", "spend_cap": {"credits": 5 * cost, "period": "day"}}),
            )
            .await
            .expect(201)
            .body;
        assert_eq!(
            capped["spend_cap"],
            json!({"credits": 5 * cost, "period": "day"})
        );
        let key = text(&capped["secret"]);
        // A failed generation's hold is released and does not count.
        let failed = create(
            &app,
            &key,
            json!({"model": "broken-image", "prompt": "x", "width": 256, "height": 256}),
            None,
        )
        .await
        .expect(202)
        .body;
        until(&app, &key, &text(&failed["id"]), &["failed"]).await;
        let keys = std::sync::Arc::new(app);
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let (app, key, body) = (std::sync::Arc::clone(&keys), key.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let res = app
                    .send(
                        app.raw(reqwest::Method::POST, "/v1/generations")
                            .bearer_auth(&key)
                            .json(&body),
                    )
                    .await;
                (res.status, res.body)
            }));
        }
        let mut accepted = 0;
        let mut refusal = Value::Null;
        for task in tasks {
            let (status, body) = task.await.unwrap_or_else(|e| panic!("{e}"));
            match status {
                202 => accepted += 1,
                402 => refusal = body,
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(accepted, 5, "exactly the cap, under concurrency");
        assert_eq!(refusal["error"]["code"], "key_spend_cap_reached");
        assert_eq!(refusal["error"]["details"]["cap"], 5 * cost);
        assert_eq!(refusal["error"]["details"]["period"], "day");
        let app = std::sync::Arc::try_unwrap(keys).unwrap_or_else(|_| panic!("still shared"));
        // The account's other keys are not capped.
        create(&app, &owner_key, body.clone(), None)
            .await
            .expect(202);
        app.post(
            "/v1/keys",
            &owner_key,
            json!({"name": "zero", "spend_cap": {"credits": 0, "period": "day"}}),
        )
        .await
        .expect_error(400, "parameter_invalid");
        let weekly = app
            .post(
                "/v1/keys",
                &owner_key,
                json!({"name": "weekly", "spend_cap": {"credits": 5, "period": "week"}}),
            )
            .await;
        assert_eq!((weekly.status, weekly.param()), (400, "spend_cap.period"));
        let listed = admin(
            &db,
            &[
                "key",
                "create",
                "--account",
                &account_id,
                "--mode",
                "live",
                "--name",
                "cli",
                "--spend-cap",
                "70",
                "--spend-cap-period",
                "month",
            ],
        );
        assert_eq!(
            listed["spend_cap"],
            json!({"credits": 70, "period": "month"})
        );
        let err = admin_fails(
            &db,
            &[
                "key",
                "create",
                "--account",
                &account_id,
                "--mode",
                "live",
                "--name",
                "cli",
                "--spend-cap",
                "-1",
            ],
        );
        assert!(err.contains("spend cap"), "{err}");
        let settled = crate::support::eventually(20_000, || async {
            db.count("SELECT COUNT(*) FROM holds WHERE status = 'open'")
                .await
                == 0
        })
        .await;
        assert!(settled);
        assert_ledger_matches(&db, &account_id).await;
        app.stop().await;
    }
);

both_backends!(
    plan_allowances_are_granted_once_per_period,
    |db: TestDb| async move {
        let before = TestApp::start(&db).await;
        let (old_account, old_key) = before.account("old@example.com", "live").await;
        assert_eq!(
            before.get("/v1/balance", &old_key).await.expect(200).body["balance"],
            0
        );
        before.stop().await;
        let with_allowance = |c: &mut easel_server::config::Config| {
            if let Some(plan) = c.plans.get_mut("free") {
                plan.monthly_credits = 500;
            }
        };
        // Two nodes start with the allowance configured: each sweeps, the old account gets it once.
        let one = TestApp::start_with(&db, with_allowance).await;
        let two = TestApp::start_with(&db, with_allowance).await;
        let granted = crate::support::eventually(5_000, || async {
            one.get("/v1/balance", &old_key).await.body["balance"] == 500
        })
        .await;
        assert!(granted, "the sweep grants the current period's allowance");
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        // A new account on the plan has it from the start.
        let (new_account, new_key) = two.account("new@example.com", "live").await;
        assert_eq!(
            two.get("/v1/balance", &new_key).await.expect(200).body["balance"],
            500
        );
        let period = easel_server::services::credits::billing_period(easel_core::time::now_ms());
        for (account, key) in [(&old_account, &old_key), (&new_account, &new_key)] {
            let ledger = one
                .get("/v1/ledger?type=plan_allowance", key)
                .await
                .expect(200)
                .body;
            let entries = ledger["data"].as_array().cloned().unwrap_or_default();
            assert_eq!(
                entries.len(),
                1,
                "once per period, however many nodes: {ledger}"
            );
            assert_eq!(
                entries[0]["reference"],
                json!({"type": "plan_period", "id": period})
            );
            assert_eq!(entries[0]["actor"]["type"], "system");
            assert_ledger_matches(&db, account).await;
        }
        // Running the grant again for the same period changes nothing.
        let again = easel_server::services::credits::grant_plan_allowances(
            &one.state,
            easel_core::time::now_ms(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(again, 0);
        one.stop().await;
        two.stop().await;
    }
);

both_backends!(
    usage_reports_match_the_ledger_in_json_and_csv,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("usage@example.com", "live").await;
        grant(&app, &account_id, 100_000).await;
        let other = app
            .post("/v1/keys", &key, json!({"name": "second"}))
            .await
            .expect(201)
            .body;
        let other_key = text(&other["secret"]);
        let image = json!({"model": "sandbox-image", "prompt": "u", "width": 256, "height": 256});
        for k in [&key, &key, &other_key] {
            create(&app, k, image.clone(), Some(20)).await.expect(200);
        }
        create(
            &app,
            &key,
            json!({"model": "sandbox-video", "prompt": "v", "width": 320, "height": 240}),
            Some(30),
        )
        .await
        .expect(200);
        let failed = create(
            &app,
            &key,
            json!({"model": "broken-image", "prompt": "x"}),
            None,
        )
        .await
        .expect(202)
        .body;
        until(&app, &key, &text(&failed["id"]), &["failed"]).await;

        let usage = app.get("/v1/usage", &key).await.expect(200).body;
        let lines = usage["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(lines.len(), 3, "image × 2 keys, video × 1 key: {usage}");
        assert_eq!(
            usage["totals"]["generations"], 4,
            "failed generations are not usage"
        );
        let captured = -db
        .count(&format!("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entries WHERE account_id = '{account_id}' AND type = 'capture'"))
        .await;
        assert_eq!(
            usage["totals"]["credits"], captured,
            "the report's credits are the ledger's captures"
        );
        let today = easel_server::services::credits::billing_period(easel_core::time::now_ms());
        assert!(text(&lines[0]["date"]).starts_with(&today));

        let csv = app
            .raw(reqwest::Method::GET, "/v1/usage")
            .bearer_auth(&key)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            csv.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/csv"))
        );
        let csv = csv.text().await.unwrap_or_else(|e| panic!("{e}"));
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows[0], "date,model,api_key_id,generations,credits,eur");
        assert_eq!(rows.len(), 5, "{csv}");
        assert!(
            rows[4].starts_with(&format!("total,,,4,{captured},")),
            "{csv}"
        );
        let by_param = app
            .raw(reqwest::Method::GET, "/v1/usage?format=csv")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_param.text().await.unwrap_or_else(|e| panic!("{e}")), csv);

        let empty = app
            .get("/v1/usage?start_date=2020-01-01&end_date=2020-01-31", &key)
            .await
            .expect(200)
            .body;
        assert_eq!(
            (empty["data"].clone(), empty["totals"]["credits"].clone()),
            (json!([]), json!(0))
        );
        for (query, param) in [
            ("start_date=2026-02-30", "start_date"),
            ("end_date=yesterday", "end_date"),
            ("start_date=2026-11-02&end_date=2026-11-01", "end_date"),
            ("start_date=2020-01-01&end_date=2026-01-01", "end_date"),
            ("format=xml", "format"),
        ] {
            let res = app.get(&format!("/v1/usage?{query}"), &key).await;
            assert_eq!(
                (res.status, res.param()),
                (400, param),
                "{query}: {}",
                res.body
            );
        }
        let viewer = app
            .post(
                "/v1/keys",
                &key,
                json!({"name": "gens only", "scopes": ["generations:read"]}),
            )
            .await
            .expect(201)
            .body;
        app.get("/v1/usage", &text(&viewer["secret"]))
            .await
            .expect_error(403, "insufficient_scope");
        app.stop().await;
    }
);

both_backends!(
    invalid_requests_cost_the_configured_fee_once,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            with_test_models(c);
            c.pricing.invalid_input_fee = 3;
        })
        .await;
        let (account_id, key) = app.account("fees@example.com", "live").await;
        grant(&app, &account_id, 7).await;
        let bad = json!({"model": "sandbox-image", "prompt": "x", "n": 0});
        let first = create(&app, &key, bad.clone(), None)
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(
            first.body["error"]["details"],
            json!({"invalid_input_fee": 3})
        );
        assert_eq!(balance_of(&app, &key).await, 4);
        // An idempotent retry replays the answer without charging again.
        let post = |idem: &str| {
            app.send(
                app.raw(reqwest::Method::POST, "/v1/generations")
                    .bearer_auth(&key)
                    .header("idempotency-key", idem)
                    .json(&bad),
            )
        };
        post("fee-1").await.expect_error(400, "parameter_invalid");
        post("fee-1").await.expect_error(400, "parameter_invalid");
        assert_eq!(balance_of(&app, &key).await, 1);
        // Never below zero: the last credit is all there is to take.
        let capped = create(&app, &key, bad.clone(), None)
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(
            capped.body["error"]["details"],
            json!({"invalid_input_fee": 1})
        );
        let free = create(&app, &key, bad.clone(), None)
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(
            free.body["error"]["details"],
            json!({"invalid_input_fee": 0})
        );
        assert_eq!(balance_of(&app, &key).await, 0);
        let fees = app
            .get("/v1/ledger?type=invalid_input_fee", &key)
            .await
            .expect(200)
            .body;
        let fees = fees["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            fees.iter()
                .map(|f| f["amount"].as_i64().unwrap_or_default())
                .collect::<Vec<_>>(),
            [-1, -3, -3]
        );
        assert_eq!(
            fees[2]["reference"]["id"], first.body["error"]["request_id"],
            "each fee names its request"
        );
        // Test mode and other refusals (403, 404) cost nothing.
        let test = app.owner_key(&account_id, "test").await;
        let t = create(&app, &test, bad, None)
            .await
            .expect_error(400, "parameter_invalid");
        assert!(t.body["error"].get("details").is_none());
        assert_eq!(assert_ledger_matches(&db, &account_id).await, (0, 0));
        app.stop().await;
    }
);

async fn balance_of(app: &TestApp, key: &str) -> i64 {
    app.get("/v1/balance", key).await.expect(200).body["balance"]
        .as_i64()
        .unwrap_or(-1)
}
