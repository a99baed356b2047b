//! End-user compliance through HTTP: developers block their own end users, read and export
//! their request log, and anyone reports abuse (API with or without a key, or the public
//! form), which the operator resolves from the CLI with the reporter told by e-mail.

use std::time::Duration;

use easel_core::mode::Mode;
use easel_core::time::now_ms;
use easel_server::config::Config;
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::generations::{create, download, grant, text, until, with_test_models};
use crate::support::binary::{admin, admin_fails};
use crate::support::{TestApp, eventually};

fn image(prompt: &str, user: &str) -> Value {
    json!({"model": "sandbox-image", "prompt": prompt, "width": 256, "height": 256, "user": user})
}

/// How many logged requests `GET <path>` lists.
async fn logged(app: &TestApp, key: &str, path: &str) -> usize {
    app.get(path, key).await.expect(200).body["data"]
        .as_array()
        .map_or(0, Vec::len)
}

/// A live key of the account's owner with one scope.
async fn logs_key(app: &TestApp, account_id: &str, scope: &str) -> String {
    let members = app
        .state
        .store
        .list_members(account_id)
        .await
        .unwrap_or_else(|e| panic!("members: {e}"));
    app.key_for(account_id, &members[0].user_id, "live", Some(vec![scope]))
        .await
}

fn config(c: &mut Config) {
    with_test_models(c);
    c.moderation.strikes.threshold = 0;
}

both_backends!(
    developers_block_and_unblock_their_end_users,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (account_id, key) = app.account("blocker@example.com", "live").await;
        grant(&app, &account_id, 100_000).await;
        let test_key = app.owner_key(&account_id, "test").await;

        let blocked = app
            .post(
                "/v1/end_users/user%2042/block",
                &key,
                json!({"reason": "spam"}),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(
            (
                blocked["id"].as_str(),
                blocked["blocked"].as_bool(),
                blocked["blocked_reason"].as_str()
            ),
            (Some("user 42"), Some(true), Some("spam"))
        );
        let refused = create(&app, &key, image("a cat", "user 42"), None)
            .await
            .expect_error(403, "end_user_blocked");
        assert_eq!(refused.param(), "user");
        app.post(
            "/v1/images/generations",
            &key,
            json!({"model": "sandbox-image", "prompt": "a cat", "user": "user 42"}),
        )
        .await
        .expect_error(403, "end_user_blocked");
        // Other end users, requests without a user, and the other mode are unaffected.
        create(&app, &key, image("a cat", "user 43"), None)
            .await
            .expect(202);
        create(
            &app,
            &key,
            json!({"model": "sandbox-image", "prompt": "a cat"}),
            None,
        )
        .await
        .expect(202);
        create(&app, &test_key, image("a cat", "user 42"), None)
            .await
            .expect(202);

        // Blocking again keeps the first time; a body is optional.
        let again = app
            .call("POST", "/v1/end_users/user%2042/block", Some(&key), None)
            .await
            .expect(200)
            .body;
        assert_eq!(again["blocked_at"], blocked["blocked_at"]);
        app.post("/v1/end_users/other/block", &key, json!({}))
            .await
            .expect(200);

        let list = app
            .get("/v1/end_users?blocked=true", &key)
            .await
            .expect(200)
            .body;
        let ids: Vec<String> = list["data"]
            .as_array()
            .map(|d| d.iter().map(|u| text(&u["id"])).collect())
            .unwrap_or_default();
        assert_eq!(ids, ["other", "user 42"]);
        let page = app
            .get("/v1/end_users?limit=1", &key)
            .await
            .expect(200)
            .body;
        assert_eq!(
            (page["has_more"].as_bool(), page["next_cursor"].as_str()),
            (Some(true), Some("other"))
        );
        let rest = app
            .get("/v1/end_users?limit=1&starting_after=other", &key)
            .await
            .expect(200)
            .body;
        assert_eq!(rest["data"][0]["id"], "user 42");
        assert_eq!(
            app.get("/v1/end_users", &test_key).await.expect(200).body["data"],
            json!([])
        );

        let unblocked = app
            .post("/v1/end_users/user%2042/unblock", &key, json!({}))
            .await
            .expect(200)
            .body;
        assert_eq!(unblocked["blocked"], false);
        create(&app, &key, image("a cat", "user 42"), None)
            .await
            .expect(202);

        // Bad input.
        app.post("/v1/end_users/never-seen/unblock", &key, json!({}))
            .await
            .expect_error(404, "resource_missing");
        app.get("/v1/end_users/never-seen", &key)
            .await
            .expect_error(404, "resource_missing");
        let long = "x".repeat(300);
        app.post(&format!("/v1/end_users/{long}/block"), &key, json!({}))
            .await
            .expect_error(400, "parameter_invalid");
        app.post("/v1/end_users/a%0Ab/block", &key, json!({}))
            .await
            .expect_error(400, "parameter_invalid");
        app.post("/v1/end_users/x/block", &key, json!({"reason": 5}))
            .await
            .expect(400);
        app.get("/v1/end_users?limit=0", &key)
            .await
            .expect_error(400, "parameter_invalid");
        let viewer = logs_key(&app, &account_id, "logs:read").await;
        app.post("/v1/end_users/x/block", &viewer, json!({}))
            .await
            .expect_error(403, "insufficient_scope");
        app.get("/v1/end_users", &viewer).await.expect(200);

        let audit = admin(&db, &["audit", "--account", &account_id]);
        let actions: Vec<String> = audit
            .as_array()
            .map(|a| a.iter().map(|e| text(&e["action"])).collect())
            .unwrap_or_default();
        assert!(
            actions.iter().any(|a| a == "end_user.blocked"),
            "{actions:?}"
        );
        assert!(
            actions.iter().any(|a| a == "end_user.unblocked"),
            "{actions:?}"
        );
        app.stop().await;
    }
);

both_backends!(
    the_request_log_records_every_call_without_secrets,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (account_id, key) = app.account("logger@example.com", "live").await;
        grant(&app, &account_id, 100_000).await;
        let test_key = app.owner_key(&account_id, "test").await;
        app.get("/v1/account", &key).await.expect(200);
        create(&app, &key, image("secret prompt words", "alice"), None)
            .await
            .expect(202);
        create(
            &app,
            &key,
            json!({"model": "nope", "prompt": "x", "user": "bob"}),
            None,
        )
        .await
        .expect(404);
        app.get("/v1/generations/gen_01jab0c0d0e0f0g0h0j0k0m0n0", &key)
            .await
            .expect(404);
        app.get("/v1/account", &test_key).await.expect(200);

        let log = app
            .get("/v1/requests?limit=100", &key)
            .await
            .expect(200)
            .body;
        let data = log["data"].as_array().cloned().unwrap_or_default();
        let mine: Vec<&Value> = data
            .iter()
            .filter(|e| e["path"] != "/v1/requests")
            .collect();
        assert_eq!(mine.len(), 4, "{log}");
        // Newest first.
        assert_eq!(
            mine[0]["path"],
            "/v1/generations/gen_01jab0c0d0e0f0g0h0j0k0m0n0"
        );
        assert_eq!(mine[0]["status"], 404);
        assert_eq!(mine[0]["error_code"], "resource_missing");
        assert_eq!(
            (mine[1]["status"].as_u64(), mine[1]["user"].as_str()),
            (Some(404), Some("bob"))
        );
        assert_eq!(mine[1]["error_code"], "model_not_found");
        assert_eq!(
            (
                mine[2]["method"].as_str(),
                mine[2]["status"].as_u64(),
                mine[2]["user"].as_str()
            ),
            (Some("POST"), Some(202), Some("alice"))
        );
        assert_eq!(mine[3]["path"], "/v1/account");
        for e in &mine {
            assert_eq!(e["livemode"], true);
            assert!(text(&e["id"]).starts_with("rlog_"));
            assert!(text(&e["request_id"]).starts_with("req_"));
            assert!(e["latency_ms"].as_f64().is_some_and(|l| l > 0.0));
            assert_eq!(e["prompt"], Value::Null, "prompts are not kept by default");
        }
        let raw = log.to_string();
        assert!(!raw.contains(&key), "the log never holds a secret");
        assert!(!raw.contains("secret prompt words"));

        // Filters.
        assert_eq!(logged(&app, &key, "/v1/requests?failed=true").await, 2);
        assert_eq!(logged(&app, &key, "/v1/requests?user=bob").await, 1);
        assert_eq!(
            logged(&app, &key, "/v1/requests?method=post&status=202").await,
            1
        );
        let future = now_ms() / 1000 + 3600;
        let none = app
            .get(&format!("/v1/requests?since={future}"), &key)
            .await
            .expect(200)
            .body;
        assert_eq!(none["data"], json!([]));
        // The test key's one call, and none of the live key's.
        let test_log = app.get("/v1/requests", &test_key).await.expect(200).body;
        let test_log: Vec<Value> = test_log["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["path"] != "/v1/requests")
            .cloned()
            .collect();
        assert_eq!(test_log.len(), 1, "{test_log:?}");
        assert_eq!(
            (&test_log[0]["path"], &test_log[0]["livemode"]),
            (&json!("/v1/account"), &json!(false))
        );
        assert!(
            mine.iter().all(|e| e["id"] != test_log[0]["id"]),
            "the test call is not in the live log"
        );
        // Pages.
        assert_eq!(
            logged(&app, &key, "/v1/requests?limit=2&path=/v1/account").await,
            1
        );

        // CSV export.
        let res = app
            .raw(reqwest::Method::GET, "/v1/requests?format=csv&user=alice")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("csv: {e}"));
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .is_ok_and(|v| v.starts_with("text/csv"))
        );
        let csv = res.text().await.unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "id,created_at,request_id,method,path,status,latency_ms,api_key_id,user,error_code,prompt"
        );
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(
            lines[1].contains(",POST,/v1/generations,202,") && lines[1].contains(",alice,"),
            "{csv}"
        );

        // Bad input and scope.
        app.get("/v1/requests?format=xml", &key)
            .await
            .expect_error(400, "parameter_invalid");
        app.get("/v1/requests?status=42", &key)
            .await
            .expect_error(400, "parameter_invalid");
        app.get("/v1/requests?api_key_id=nope", &key)
            .await
            .expect_error(400, "parameter_invalid");
        app.get("/v1/requests?since=-5", &key)
            .await
            .expect_error(400, "parameter_invalid");
        app.get("/v1/requests?starting_after=gen_x", &key)
            .await
            .expect_error(400, "parameter_invalid");
        let no_logs = logs_key(&app, &account_id, "account:read").await;
        app.get("/v1/requests", &no_logs)
            .await
            .expect_error(403, "insufficient_scope");

        // Entries past the retention period are purged by the sweeper.
        let at = now_ms() - 91 * 86_400_000;
        let old = easel_db::RequestLogEntry {
            id: easel_core::ids::IdKind::RequestLog.generate_at(u64::try_from(at).unwrap_or(0)),
            request_id: "req_old".into(),
            account_id: account_id.clone(),
            mode: Mode::Live,
            api_key_id: "key_old".into(),
            method: "GET".into(),
            path: "/v1/ancient".into(),
            status: 200,
            end_user: None,
            latency_us: 5,
            error_code: None,
            prompt: None,
            created_at: at,
        };
        app.state
            .store
            .insert_request_logs(&[old])
            .await
            .unwrap_or_else(|e| panic!("insert: {e}"));
        let purged = eventually(10_000, || async {
            let body = app
                .get("/v1/requests?path=/v1/ancient", &key)
                .await
                .expect(200)
                .body;
            body["data"] == json!([])
        })
        .await;
        assert!(purged, "a 91-day-old entry is purged (retention 90 days)");
        app.stop().await;

        // The operator may keep prompts.
        let app = TestApp::start_with(&db, |c| {
            config(c);
            c.moderation.log_prompts = true;
        })
        .await;
        let key = app.owner_key(&account_id, "live").await;
        create(&app, &key, image("kept prompt", "carol"), None)
            .await
            .expect(202);
        let log = app
            .get("/v1/requests?user=carol", &key)
            .await
            .expect(200)
            .body;
        assert_eq!(log["data"][0]["prompt"], "kept prompt");
        app.stop().await;
    }
);

/// A succeeded generation of the account of `key`.
async fn generation(app: &TestApp, key: &str) -> Value {
    let g = create(app, key, image("a field of poppies", "eve"), None)
        .await
        .expect(202)
        .body;
    until(app, key, &text(&g["id"]), &["succeeded"]).await
}

fn mail_dir(db: &TestDb) -> std::path::PathBuf {
    db.dir.join("mail")
}

/// `easel admin <args> --json` with the file mailer (the CLI sends the reporter's mail).
fn admin_mailing(db: &TestDb, args: &[&str]) -> Value {
    crate::support::binary::admin_mailing(db, args).json()
}

fn mails(db: &TestDb) -> Vec<String> {
    std::fs::read_dir(mail_dir(db))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

both_backends!(
    abuse_reports_are_filed_listed_by_deadline_and_resolved,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (account_id, key) = app.account("reported@example.com", "live").await;
        grant(&app, &account_id, 100_000).await;
        let g = generation(&app, &key).await;
        let gen_id = text(&g["id"]);
        let url = text(&g["outputs"][0]["url"]);

        // Anonymous, by output URL.
        let anonymous = app
            .call(
                "POST",
                "/v1/abuse_reports",
                None,
                Some(json!({"output_url": url, "category": "violence", "description": "gore", "email": "Witness@Example.com"})),
            )
            .await
            .expect(201)
            .body;
        assert_eq!(
            (
                anonymous["status"].as_str(),
                anonymous["generation_id"].as_str()
            ),
            (Some("open"), Some(gen_id.as_str()))
        );
        let due = anonymous["response_due_at"].as_i64().unwrap_or(0)
            - anonymous["created_at"].as_i64().unwrap_or(0);
        assert!((86_399..=86_401).contains(&due), "24 h deadline, got {due}");
        assert!(
            anonymous.get("account_id").is_none(),
            "the reporter is not told who made it"
        );
        // Keyed, from another account, by id.
        let (_, other_key) = app.account("reporter@example.com", "live").await;
        let keyed = app
            .post("/v1/abuse_reports", &other_key, json!({"generation_id": gen_id, "category": "hate", "description": "slur in the image"}))
            .await
            .expect(201)
            .body;
        // A report about something that is not ours at all is filed too, without an account.
        app.call("POST", "/v1/abuse_reports", None, Some(json!({"output_url": "https://elsewhere.example/x.png", "category": "other", "description": "?"})))
            .await
            .expect(201);

        // Bad input.
        for (body, param) in [
            (
                json!({"generation_id": gen_id, "category": "weird", "description": "x"}),
                "category",
            ),
            (
                json!({"category": "hate", "description": "x"}),
                "generation_id",
            ),
            (
                json!({"generation_id": "gen_bad", "category": "hate", "description": "x"}),
                "generation_id",
            ),
            (
                json!({"generation_id": gen_id, "category": "hate", "description": "  "}),
                "description",
            ),
            (
                json!({"generation_id": gen_id, "category": "hate", "description": "x", "email": "not-an-email"}),
                "email",
            ),
        ] {
            let res = app
                .call("POST", "/v1/abuse_reports", None, Some(body))
                .await;
            assert_eq!((res.status, res.param()), (400, param), "{}", res.body);
        }
        app.call(
            "POST",
            "/v1/abuse_reports",
            Some("vs_live_bogus"),
            Some(json!({"generation_id": gen_id, "category": "hate", "description": "x"})),
        )
        .await
        .expect_error(401, "invalid_api_key");

        // The reported account hears of them (without the reporter's details).
        let events = app.get("/v1/events?limit=100", &key).await.expect(200).body;
        let received: Vec<&Value> = events["data"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter(|e| e["type"] == "abuse_report.received")
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(received.len(), 2);
        assert!(!events.to_string().contains("witness@example.com"));

        // The operator's queue: open reports, nearest deadline first.
        let open = admin(&db, &["abuse", "list"]);
        let ids: Vec<String> = open
            .as_array()
            .map(|a| a.iter().map(|r| text(&r["id"])).collect())
            .unwrap_or_default();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[0], text(&anonymous["id"]));
        assert_eq!(open[0]["reporter_email"], "witness@example.com");
        assert_eq!(open[0]["account_id"], account_id.as_str());
        assert_eq!(open[0]["overdue"], false);

        // Dismissed: no strike.
        let dismissed = admin(
            &db,
            &[
                "abuse",
                "resolve",
                &text(&keyed["id"]),
                "--action",
                "dismissed",
            ],
        );
        assert_eq!(dismissed["strike"], Value::Null);
        // Upheld with removal: a strike, the output gone, the reporter told.
        let resolved = admin_mailing(
            &db,
            &[
                "abuse",
                "resolve",
                &text(&anonymous["id"]),
                "--action",
                "output_removed",
                "--note",
                "removed, thanks",
            ],
        );
        assert_eq!(resolved["outputs_removed"], 1);
        assert_eq!(resolved["strike"]["strikes_in_window"], 1);
        assert_eq!(resolved["report"]["status"], "resolved");
        let (status, _, _) = download(&url).await;
        assert!(
            status == 404 || status == 410,
            "a removed output is no longer served: {status}"
        );
        let eve = app.get("/v1/end_users/eve", &key).await.expect(200).body;
        assert_eq!(
            eve["strikes"], 1,
            "the strike counts against the end user too"
        );
        let sent = mails(&db);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].contains("To: witness@example.com"), "{}", sent[0]);
        assert!(
            sent[0].contains("removed the content") && sent[0].contains("removed, thanks"),
            "{}",
            sent[0]
        );
        // Resolving twice is refused; unknown ids are not found.
        let twice = admin_fails(
            &db,
            &[
                "abuse",
                "resolve",
                &text(&anonymous["id"]),
                "--action",
                "warned",
            ],
        );
        assert!(twice.contains("already resolved"), "{twice}");
        let unknown = admin_fails(
            &db,
            &[
                "abuse",
                "resolve",
                "abr_01jab0c0d0e0f0g0h0j0k0m0n0",
                "--action",
                "warned",
            ],
        );
        assert!(unknown.contains("No such"), "{unknown}");
        let open = admin(&db, &["abuse", "list"]);
        assert_eq!(open.as_array().map(Vec::len), Some(1));
        let all = admin(&db, &["abuse", "list", "--all"]);
        assert_eq!(all.as_array().map(Vec::len), Some(3));
        let events = app.get("/v1/events?limit=100", &key).await.expect(200).body;
        assert!(
            events["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|e| e["type"] == "abuse_report.resolved"))
        );
        app.stop().await;
    }
);

both_backends!(
    an_upheld_report_can_suspend_the_account,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (account_id, key) = app.account("suspended-by-report@example.com", "live").await;
        grant(&app, &account_id, 100_000).await;
        let g = generation(&app, &key).await;
        // Open work when the account is suspended: one running (30 s), one queued behind it.
        let slow = json!({"model": "slow-image", "prompt": "still painting"});
        let running = create(&app, &key, slow.clone(), None)
            .await
            .expect(202)
            .body;
        let running = text(&running["id"]);
        until(&app, &key, &running, &["running"]).await;
        let queued = create(&app, &key, slow, None).await.expect(202).body;
        let queued = text(&queued["id"]);
        let report = app
            .call("POST", "/v1/abuse_reports", None, Some(json!({"generation_id": g["id"], "category": "sexual_minors", "description": "report"})))
            .await
            .expect(201)
            .body;
        // The configured default is `finish`, so only `--jobs cancel` can stop them.
        let out = crate::support::binary::easel()
            .args(["admin", "abuse", "resolve", &text(&report["id"])])
            .args([
                "--action",
                "account_suspended",
                "--jobs",
                "cancel",
                "--json",
            ])
            .env("EASEL_DATA_DIR", &db.dir)
            .env("EASEL_DATABASE_URL", &db.url)
            .env("EASEL_MODERATION__STRIKES__ON_SUSPEND", "finish")
            .output()
            .unwrap_or_else(|e| panic!("cannot run easel: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let resolved: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(resolved["suspended_account"], account_id.as_str());
        let refused = eventually(5_000, || async {
            app.get("/v1/account", &key).await.code() == "account_suspended"
        })
        .await;
        assert!(refused);
        // The running one ends when its worker hears of the cancellation.
        for id in [&running, &queued] {
            let canceled = eventually(5_000, || async {
                let g = app
                    .state
                    .store
                    .get_generation(&account_id, Mode::Live, id)
                    .await
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                g.status == easel_core::jobs::JobStatus::Canceled
            })
            .await;
            assert!(canceled, "{id} was not canceled by --jobs cancel");
        }
        // Their holds were released: nothing is held, and only the finished one was paid.
        let (balance, held) = crate::credits::assert_ledger_matches(&db, &account_id).await;
        assert_eq!(held, 0);
        assert_eq!(
            balance,
            100_000 - g["credits"]["charged"].as_i64().unwrap_or(-1)
        );
        app.stop().await;
    }
);

/// The form's hidden token, from its HTML.
fn token(html: &str) -> String {
    html.split("name=\"t\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

both_backends!(
    the_public_form_files_reports_and_turns_bots_away,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            config(c);
            c.abuse.form_min_seconds = 1;
        })
        .await;
        let (account_id, key) = app.account("form@example.com", "live").await;
        grant(&app, &account_id, 100_000).await;
        let g = generation(&app, &key).await;
        let client = reqwest::Client::new();
        let page = client
            .get(format!("{}/abuse", app.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("form: {e}"));
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(html.contains("<form method=\"post\" action=\"/abuse\">"));
        let t = token(&html);
        assert!(!t.is_empty());
        let post = |fields: Vec<(&'static str, String)>| {
            let client = client.clone();
            let url = format!("{}/abuse", app.url);
            async move {
                let res = client
                    .post(url)
                    .form(&fields)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("post: {e}"));
                (
                    res.status().as_u16(),
                    res.text().await.unwrap_or_else(|e| panic!("{e}")),
                )
            }
        };
        let fields = |t: &str, honeypot: &str| {
            vec![
                ("content", text(&g["id"])),
                ("category", "harassment".to_string()),
                ("description", "threatening text in the image".to_string()),
                ("email", String::new()),
                ("website", honeypot.to_string()),
                ("t", t.to_string()),
            ]
        };
        // Too fast (a script posting at once), forged, or with the honeypot filled.
        assert_eq!(post(fields(&t, "")).await.0, 400);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(post(fields(&t, "http://spam.example")).await.0, 400);
        assert_eq!(post(fields("123.abcd", "")).await.0, 400);
        assert_eq!(post(fields("", "")).await.0, 400);
        assert_eq!(
            admin(&db, &["abuse", "list"]).as_array().map(Vec::len),
            Some(0)
        );
        // A person, a second later.
        let (status, html) = post(fields(&t, "")).await;
        assert_eq!(status, 201, "{html}");
        assert!(html.contains("id=\"report-id\">abr_"), "{html}");
        let open = admin(&db, &["abuse", "list"]);
        assert_eq!(open[0]["source"], "form");
        assert_eq!(open[0]["account_id"], account_id.as_str());
        // Bad content is explained on the page (a new form: a token is good for one report).
        let html = client
            .get(format!("{}/abuse", app.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("form: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("form: {e}"));
        let t = token(&html);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let mut bad = fields(&t, "");
        bad[1].1 = "nonsense".into();
        let (status, html) = post(bad).await;
        assert_eq!(status, 400);
        assert!(html.contains("id=\"error\""), "{html}");
        assert!(
            !html.contains("could not be accepted"),
            "the content, not the token: {html}"
        );
        app.stop().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_abuse_form_renders_in_headless_chromium() {
    let chromium = crate::developers::chromium();
    let db = TestDb::new(easel_test_utils::Backend::Sqlite).await;
    let app = TestApp::start_with(&db, config).await;
    let dom = crate::developers::dump_dom(&chromium, &format!("{}/abuse", app.url)).await;
    for wanted in [
        "<form method=\"post\" action=\"/abuse\">",
        "name=\"content\"",
        "<option value=\"sexual_minors\">",
        "name=\"description\"",
        "name=\"website\"",
        "name=\"t\"",
        "within 24 hours",
    ] {
        assert!(
            dom.contains(wanted),
            "{wanted} missing from the rendered form:\n{dom}"
        );
    }
    assert!(!token(&dom).is_empty(), "the browser sees the form token");
    app.stop().await;
}

both_backends!(
    a_flood_of_anonymous_reports_is_throttled,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            config(c);
            c.abuse.anonymous_per_minute = 3;
            c.abuse.form_min_seconds = 0;
        })
        .await;
        let (account_id, key) = app.account("flooded@example.com", "live").await;
        grant(&app, &account_id, 100_000).await;
        let g = generation(&app, &key).await;
        let report = json!({"generation_id": g["id"], "category": "other", "description": "again"});
        for _ in 0..3 {
            app.call("POST", "/v1/abuse_reports", None, Some(report.clone()))
                .await
                .expect(201);
        }
        let refused = app
            .call("POST", "/v1/abuse_reports", None, Some(report.clone()))
            .await
            .expect_error(429, "rate_limit_exceeded");
        let retry: u64 = refused.headers["retry-after"]
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(
            (1..=20).contains(&retry),
            "one report comes back every 20 s: {retry}"
        );
        // The form shares the budget; a keyed report does not use it.
        let client = reqwest::Client::new();
        let page = client
            .get(format!("{}/abuse", app.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("form: {e}"));
        let t = token(&page.text().await.unwrap_or_else(|e| panic!("{e}")));
        let res = client
            .post(format!("{}/abuse", app.url))
            .form(&[
                ("content", text(&g["id"])),
                ("category", "other".into()),
                ("description", "x".into()),
                ("t", t),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("form: {e}"));
        assert_eq!(res.status(), 429);
        app.post("/v1/abuse_reports", &key, report)
            .await
            .expect(201);
        assert_eq!(
            admin(&db, &["abuse", "list"]).as_array().map(Vec::len),
            Some(4)
        );
        app.stop().await;
    }
);
