//! The developer console's pages for a member of an operator-created account, on both
//! databases: the usage page and its CSV are the API's own numbers, the credits card
//! refreshes from a partial with the API's balance, the embedded assets are served by
//! content hash with the CSP allowing only them, and a viewer sees but changes nothing.

use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use crate::generations::{create, start};
use crate::support::TestApp;
use crate::support::console::{Console, Session};

/// Gives `user_id` a console password.
pub async fn set_password(app: &TestApp, user_id: &str, password: &str) {
    let hash = easel_server::auth::passwords::hash(password.to_string())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::system(), None);
    app.state
        .store
        .set_user_password(user_id, &hash, audit)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Gives the account's owner (`email`) a console `password` and signs them in.
pub async fn owner_session(
    app: &TestApp,
    console: &Console,
    account_id: &str,
    email: &str,
    password: &str,
) -> Session {
    set_password(app, &app.owner_id(account_id).await, password).await;
    console.sign_in(email, password).await
}

both_backends!(
    usage_credits_and_assets_match_the_api,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, live) = app.account("owner@pages.example", "live").await;
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::system(), None);
        easel_server::services::credits::grant(&app.state, &account_id, 5_000, "test", audit)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let body = json!({"model": "sandbox-image", "prompt": "a lighthouse", "width": 256, "height": 256});
        let done = create(&app, &live, body, Some(20)).await.expect(200);
        assert_eq!(done.body["status"], "succeeded", "{}", done.body);
        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "owner@pages.example",
            "harbour lantern grey 61",
        )
        .await;
        let mode = console.switch_mode(&session, "live").await;
        let cookies = [session.cookie.as_str(), mode.as_str()];

        // The usage page: the model's row with the API's numbers; the CSV is the API's CSV.
        let api = app.get("/v1/usage", &live).await.expect(200).body;
        let page = console.get("/console/usage", &cookies).await;
        assert_eq!(page.status, 200, "{}", page.html);
        let credits = api["totals"]["credits"].as_i64().unwrap_or_default();
        assert!(credits > 0, "{api}");
        let row = format!("<tr><td>sandbox-image</td><td>1</td><td>{credits}</td>");
        assert!(page.html.contains(&row), "{row} not in {}", page.html);
        assert!(
            page.html.contains("id=\"usage-data\">{\"days\":"),
            "{}",
            page.html
        );
        let csv_link = page
            .html
            .split("href=\"")
            .find(|s| s.starts_with("/console/usage.csv"))
            .and_then(|s| s.split('"').next())
            .map(|s| s.replace("&amp;", "&"))
            .unwrap_or_else(|| panic!("no CSV link"));
        let console_csv = console.get(&csv_link, &cookies).await;
        assert_eq!(
            console_csv.header("content-type"),
            Some("text/csv; charset=utf-8")
        );
        let query = csv_link.trim_start_matches("/console/usage.csv?");
        let api_text = reqwest::Client::new()
            .get(format!("{}/v1/usage?{query}&format=csv", app.url))
            .bearer_auth(&live)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(console_csv.html, api_text);
        // A bad range is refused with the API's message, in the page.
        let bad = console
            .get(
                "/console/usage?start_date=2026-12-05&end_date=2026-12-01",
                &cookies,
            )
            .await;
        assert_eq!(bad.status, 400, "{}", bad.html);
        assert!(bad.html.contains("before `start_date`"), "{}", bad.html);

        // The credits card, alone, with the API's balance.
        let balance = app.get("/v1/balance", &live).await.expect(200).body;
        let card = console.get("/console/partials/credits", &cookies).await;
        assert_eq!(card.status, 200, "{}", card.html);
        let available = format!("id=\"available\">{}<", balance["available"]);
        assert!(
            card.html.contains(&available),
            "{available} not in {}",
            card.html
        );
        assert!(card.html.contains("hx-get=\"/console/partials/credits\""));

        // Scripts only from our own embedded files, each at its content hash, cached for good.
        let overview = console.get("/console", &cookies).await;
        let csp = overview
            .header("content-security-policy")
            .unwrap_or_default()
            .to_string();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        let htmx = overview
            .html
            .split("src=\"")
            .find(|s| s.starts_with("/console/assets/") && s.contains("htmx.min.js"))
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no htmx script: {}", overview.html))
            .to_string();
        let asset = console.get(&htmx, &[]).await;
        assert_eq!(asset.status, 200);
        assert_eq!(
            asset.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(
            asset.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert!(asset.html.len() > 40_000);
        let stale = htmx.replace("/console/assets/", "/console/assets/0");
        assert_eq!(console.get(&stale, &[]).await.status, 404);
        assert_eq!(
            console.get("/console/assets/abc/evil.js", &[]).await.status,
            404
        );
        app.stop().await;
    }
);

both_backends!(a_viewer_sees_but_changes_nothing, |db: TestDb| async move {
    let app = TestApp::start(&db).await;
    let (account_id, _) = app.account("boss@viewer.example", "test").await;
    let (viewer_id, _) = app
        .member_key(&account_id, "look@viewer.example", "viewer", "test")
        .await;
    set_password(&app, &viewer_id, "quiet meadow copper 28").await;
    let console = Console::new(&app.url);
    let session = console
        .sign_in("look@viewer.example", "quiet meadow copper 28")
        .await;
    let keys = console.get("/console/keys", &[&session.cookie]).await;
    assert_eq!(keys.status, 200, "{}", keys.html);
    assert!(!keys.html.contains("Create a key"), "{}", keys.html);
    assert!(!keys.html.contains("/revoke\""), "{}", keys.html);
    let refused = console
        .post(
            "/console/keys",
            &[&session.cookie],
            &[],
            &[("csrf", &session.csrf), ("name", "sneaky")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    assert!(refused.html.contains("viewer"), "{}", refused.html);
    let listed = app
        .state
        .store
        .list_keys(&account_id, None, easel_db::Page::first(10))
        .await;
    let names: Vec<String> = listed
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert!(!names.iter().any(|n| n == "sneaky"), "{names:?}");
    // Reading usage is a read scope: allowed.
    assert_eq!(
        console
            .get("/console/usage", &[&session.cookie])
            .await
            .status,
        200
    );
    app.stop().await;
});

both_backends!(
    billing_shows_the_ledger_and_the_apis_invoice_pdf,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, live) = crate::generations::funded(&app, "payer@pages.example").await;
        let body =
            json!({"model": "sandbox-image", "prompt": "a ledger", "width": 256, "height": 256});
        create(&app, &live, body, Some(20)).await.expect(200);
        // The generation moved into a closed month, and that month invoiced.
        let period =
            easel_server::services::invoices::Period::containing(easel_core::time::now_ms())
                .previous()
                .previous();
        let at = period.start_ms() + 3 * 86_400_000;
        db.execute(&format!(
        "UPDATE generations SET created_at = {at}, started_at = {at}, finished_at = {} WHERE account_id = '{account_id}'",
        at + 1_000
    ))
    .await;
        easel_server::services::invoices::issue_period(
            &app.state,
            period,
            easel_core::time::now_ms(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
        let invoices = app.get("/v1/invoices", &live).await.expect(200).body;
        let invoice_id = invoices["data"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let number = invoices["data"][0]["number"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(invoice_id.starts_with("inv_"), "{invoices}");

        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "payer@pages.example",
            "copper ledger window 73",
        )
        .await;
        let mode = console.switch_mode(&session, "live").await;
        let cookies = [session.cookie.as_str(), mode.as_str()];
        let page = console.get("/console/billing", &cookies).await;
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(page.html.contains(&number), "{}", page.html);
        // The ledger's newest line ends at the API's balance; grant, hold and capture are there.
        let balance = app.get("/v1/balance", &live).await.expect(200).body;
        let ledger = app.get("/v1/ledger?limit=1", &live).await.expect(200).body;
        let newest = format!(
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            ledger["data"][0]["amount"],
            ledger["data"][0]["held_change"],
            balance["balance"],
            balance["held"]
        );
        assert!(page.html.contains(&newest), "{newest} not in {}", page.html);
        for kind in ["grant", "hold", "capture"] {
            assert!(
                page.html.contains(&format!("<td>{kind}</td>")),
                "{kind}: {}",
                page.html
            );
        }
        // The PDF is the API's, byte for byte.
        let pdf_path = format!("/console/invoices/{invoice_id}/pdf");
        let from_console = reqwest::Client::new()
            .get(format!("{}{pdf_path}", app.url))
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_console.status(), 200);
        let console_pdf = from_console.bytes().await.unwrap_or_else(|e| panic!("{e}"));
        let api_pdf = reqwest::Client::new()
            .get(format!("{}/v1/invoices/{invoice_id}/pdf", app.url))
            .bearer_auth(&live)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(console_pdf.starts_with(b"%PDF"));
        assert_eq!(console_pdf, api_pdf);
        // Test mode has no invoices; another account's invoice is not found.
        let test_mode = console.switch_mode(&session, "test").await;
        let in_test = console.get(&pdf_path, &[&session.cookie, &test_mode]).await;
        assert_eq!(in_test.status, 404);
        // Another account's member cannot fetch it, in any mode.
        let (stranger, _) = crate::generations::funded(&app, "stranger@pages.example").await;
        let other = owner_session(
            &app,
            &console,
            &stranger,
            "stranger@pages.example",
            "other harbour stone 19",
        )
        .await;
        let other_live = console.switch_mode(&other, "live").await;
        let refused = console.get(&pdf_path, &[&other.cookie, &other_live]).await;
        assert_eq!(refused.status, 404);
        assert_eq!(
            console
                .get("/console/invoices/inv_nope/pdf", &cookies)
                .await
                .status,
            404
        );
        app.stop().await;
    }
);

both_backends!(
    webhook_endpoints_are_run_from_the_console,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, test_key) = app.account("hooks@pages.example", "test").await;
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (counter, seen) = (hits.clone(), bodies.clone());
        let receiver = axum::Router::new().fallback(move |body: String| {
            let (counter, seen) = (counter.clone(), seen.clone());
            async move {
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(body);
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                "thanks, got it"
            }
        });
        let addr = crate::support::serve_loopback(receiver).await;
        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "hooks@pages.example",
            "signal tower amber 40",
        )
        .await;
        let post = |path: String, fields: Vec<(&'static str, String)>| {
            let (console, session) = (&console, &session);
            async move {
                let mut form: Vec<(&str, &str)> = vec![("csrf", session.csrf.as_str())];
                form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
                console.post(&path, &[&session.cookie], &[], &form).await
            }
        };

        // A URL the API refuses is refused the same way, in the page.
        let bad = post(
            "/console/webhooks".into(),
            vec![("url", "ftp://example.com/x".into())],
        )
        .await;
        assert_eq!(bad.status, 400, "{}", bad.html);
        assert!(bad.html.contains("id=\"error\""), "{}", bad.html);

        let url = format!("http://{addr}/hook");
        let created = post(
            "/console/webhooks".into(),
            vec![
                ("url", url.clone()),
                ("events", "generation.succeeded".into()),
            ],
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.html);
        let first_secret = created
            .html
            .split("id=\"secret\" class=\"secret\" readonly value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string();
        assert!(first_secret.starts_with("whsec_"), "{}", created.html);
        let endpoints = app
            .get("/v1/webhook_endpoints", &test_key)
            .await
            .expect(200)
            .body;
        let endpoint = endpoints["data"][0].clone();
        let id = endpoint["id"].as_str().unwrap_or_default().to_string();
        assert_eq!(endpoint["url"], url.as_str());
        assert_eq!(endpoint["enabled_events"], json!(["generation.succeeded"]));
        // The list never shows a secret again.
        let listed = console.get("/console/webhooks", &[&session.cookie]).await;
        assert!(!listed.html.contains(&first_secret));

        // A generation: its delivery shows on the endpoint's page with the receiver's status.
        // (Generous waits: in the full suite on one shared PostgreSQL a first attempt once took
        // more than 10 s.)
        let body =
            json!({"model": "sandbox-image", "prompt": "a bell", "width": 256, "height": 256});
        create(&app, &test_key, body, Some(20)).await.expect(200);
        let page_path = format!("/console/webhooks/{id}");
        let delivered = crate::support::eventually(30_000, || async {
            let page = console.get(&page_path, &[&session.cookie]).await;
            page.html.contains("<td>succeeded</td>") && page.html.contains(": 200 in ")
        })
        .await;
        assert!(
            delivered,
            "{}",
            console.get(&page_path, &[&session.cookie]).await.html
        );
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);

        // Replay: one more attempt at once, marked as a replay.
        let deliveries = app
            .get(&format!("/v1/webhook_endpoints/{id}/deliveries"), &test_key)
            .await
            .expect(200)
            .body;
        let delivery_id = deliveries["data"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let replayed = post(
            format!("/console/webhook_deliveries/{delivery_id}/replay"),
            vec![],
        )
        .await;
        assert_eq!(replayed.status, 303, "{}", replayed.html);
        assert_eq!(replayed.location(), page_path);
        let again = crate::support::eventually(30_000, || async {
            hits.load(std::sync::atomic::Ordering::SeqCst) == 2
        })
        .await;
        assert!(again, "the replay did not arrive");

        // A test event reaches the endpoint although it subscribes to generations only.
        let tested = post(format!("/console/webhooks/{id}/test"), vec![]).await;
        assert_eq!(tested.status, 303, "{}", tested.html);
        let arrived = crate::support::eventually(30_000, || async {
            hits.load(std::sync::atomic::Ordering::SeqCst) == 3
        })
        .await;
        assert!(arrived, "the test event did not arrive");
        let last = bodies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
            .unwrap_or_default();
        let last: serde_json::Value =
            serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {last}"));
        assert_eq!(last["type"], "webhook_endpoint.test", "{last}");
        assert_eq!(last["data"]["id"], id.as_str(), "{last}");

        // Events, disable, rotate, delete: each as the API sees it afterwards.
        let saved = post(
            page_path.clone(),
            vec![("description", "orders".into()), ("events", "*".into())],
        )
        .await;
        assert_eq!(saved.status, 303, "{}", saved.html);
        let now = app
            .get(&format!("/v1/webhook_endpoints/{id}"), &test_key)
            .await
            .expect(200)
            .body;
        assert_eq!(now["enabled_events"], json!(["*"]));
        assert_eq!(now["description"], "orders");
        post(page_path.clone(), vec![("enabled", "false".into())]).await;
        let now = app
            .get(&format!("/v1/webhook_endpoints/{id}"), &test_key)
            .await
            .expect(200)
            .body;
        assert_eq!(now["status"], "disabled", "{now}");
        let refused = post(format!("{page_path}/test"), vec![]).await;
        assert_eq!(refused.status, 409, "{}", refused.html);
        post(page_path.clone(), vec![("enabled", "true".into())]).await;
        let now = app
            .get(&format!("/v1/webhook_endpoints/{id}"), &test_key)
            .await
            .expect(200)
            .body;
        assert_eq!(now["status"], "enabled", "{now}");
        let rotated = post(format!("{page_path}/rotate"), vec![]).await;
        assert_eq!(rotated.status, 200, "{}", rotated.html);
        assert!(rotated.html.contains("id=\"rotated\""));
        assert!(!rotated.html.contains(&first_secret));
        let deleted = post(format!("{page_path}/delete"), vec![]).await;
        assert_eq!(deleted.status, 303, "{}", deleted.html);
        app.get(&format!("/v1/webhook_endpoints/{id}"), &test_key)
            .await
            .expect_error(404, "resource_missing");
        assert_eq!(
            console.get(&page_path, &[&session.cookie]).await.status,
            404
        );
        app.stop().await;
    }
);

both_backends!(
    the_request_log_filters_and_exports_as_the_api_does,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = app.account("logs@pages.example", "test").await;
        app.get("/v1/models", &key).await.expect(200);
        app.get("/v1/generations/gen_00000000000000000000000000", &key)
            .await
            .expect_error(404, "resource_missing");
        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "logs@pages.example",
            "orchard window slate 55",
        )
        .await;

        let all = console.get("/console/logs", &[&session.cookie]).await;
        assert_eq!(all.status, 200, "{}", all.html);
        assert!(all.html.contains("<code>/v1/models</code>"), "{}", all.html);
        let failed = console
            .get(
                "/console/logs?failed=true&status=&path=",
                &[&session.cookie],
            )
            .await;
        assert_eq!(failed.status, 200, "{}", failed.html);
        assert!(failed.html.contains("resource_missing"), "{}", failed.html);
        assert!(
            !failed.html.contains("<code>/v1/models</code>"),
            "{}",
            failed.html
        );
        // A filter the API refuses is refused with its message.
        let bad = console
            .get("/console/logs?status=abc", &[&session.cookie])
            .await;
        assert_eq!(bad.status, 400, "{}", bad.html);
        assert!(bad.html.contains("HTTP status"), "{}", bad.html);

        // The export is the API's CSV for the same filter.
        let console_csv = console
            .get("/console/logs.csv?failed=true", &[&session.cookie])
            .await;
        assert_eq!(console_csv.status, 200);
        let api_csv = reqwest::Client::new()
            .get(format!("{}/v1/requests?failed=true&format=csv", app.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(console_csv.html, api_csv);
        assert_eq!(console_csv.html.lines().count(), 2, "{}", console_csv.html);

        // The audit log shows the member's own sign-in, under their user id.
        let audit = console.get("/console/audit", &[&session.cookie]).await;
        assert_eq!(audit.status, 200, "{}", audit.html);
        assert!(audit.html.contains("account.created"), "{}", audit.html);
        app.stop().await;
    }
);

both_backends!(
    end_users_are_blocked_and_unblocked_from_the_console,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("ends@pages.example", "test").await;
        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "ends@pages.example",
            "meadow kettle lamp 82",
        )
        .await;
        let form = |fields: Vec<(&'static str, &'static str)>| {
            let mut all = vec![("csrf", session.csrf.as_str())];
            all.extend(fields);
            all
        };
        // Block by id (an end user never seen before), with a reason.
        let blocked = console
            .post(
                "/console/end_users/block",
                &[&session.cookie],
                &[],
                &form(vec![("user", "player-7"), ("reason", "spam")]),
            )
            .await;
        assert_eq!(blocked.status, 303, "{}", blocked.html);
        let body = json!({"model": "sandbox-image", "prompt": "a kite", "width": 256, "height": 256, "user": "player-7"});
        create(&app, &key, body.clone(), None)
            .await
            .expect_error(403, "end_user_blocked");
        let page = console
            .get("/console/end_users?blocked=true", &[&session.cookie])
            .await;
        assert!(page.html.contains("<code>player-7</code>"), "{}", page.html);
        assert!(page.html.contains("spam"), "{}", page.html);
        // A bad id is refused with the API's message.
        let bad = console
            .post(
                "/console/end_users/block",
                &[&session.cookie],
                &[],
                &form(vec![("user", "")]),
            )
            .await;
        assert_eq!(bad.status, 400, "{}", bad.html);
        // Unblock: the end user's requests work again.
        let unblocked = console
            .post(
                "/console/end_users/player-7/unblock",
                &[&session.cookie],
                &[],
                &form(vec![]),
            )
            .await;
        assert_eq!(unblocked.status, 303, "{}", unblocked.html);
        create(&app, &key, body, Some(20)).await.expect(200);
        let api = app
            .get("/v1/end_users/player-7", &key)
            .await
            .expect(200)
            .body;
        assert_eq!(api["blocked"], false, "{api}");
        app.stop().await;
    }
);
