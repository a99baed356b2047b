//! Data rights (clause 13): an export holds a known set of records and no secret, and is
//! downloaded once from a signed URL; an erasure leaves no personal value of the account
//! anywhere in the database (every text column of every table, enumerated from the
//! database itself) or the object store, while its invoices and ledger still add up and
//! other accounts are untouched; the cooling-off period, its cancellation, and the erasure
//! of a terminated account after its retention.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use easel_core::time::now_ms;
use easel_server::config::MailTransport;
use easel_test_utils::{Backend, TestDb, both_backends};
use serde_json::{Value, json};

use crate::console_pages::set_password;
use crate::generations::{create, download, funded, grant, until};
use crate::support::binary::{admin, admin_fails};
use crate::support::console::Console;
use crate::support::{TestApp, eventually, mails};

/// The files of an export archive by name (without the folder), as text.
fn unpack(bytes: &[u8]) -> BTreeMap<String, String> {
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(gz);
    let mut files = BTreeMap::new();
    for entry in archive
        .entries()
        .unwrap_or_else(|e| panic!("not a tar: {e}"))
    {
        let mut entry = entry.unwrap_or_else(|e| panic!("entry: {e}"));
        let name = entry
            .path()
            .unwrap_or_else(|e| panic!("path: {e}"))
            .display()
            .to_string();
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (folder, file) = name
            .split_once('/')
            .unwrap_or_else(|| panic!("{name} is not in the export's folder"));
        assert!(folder.starts_with("exp_"), "{name}");
        files.insert(file.to_string(), text);
    }
    files
}

/// The records of one JSON-lines file.
fn records(files: &BTreeMap<String, String>, kind: &str) -> Vec<Value> {
    files
        .get(&format!("{kind}.jsonl"))
        .unwrap_or_else(|| panic!("no {kind}.jsonl in {:?}", files.keys()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{kind}: {e}: {l}")))
        .collect()
}

/// Polls an export until it is no longer being built; returns it.
pub async fn settled(app: &TestApp, key: &str, id: &str) -> Value {
    let path = format!("/v1/account/exports/{id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let last = app.get(&path, key).await.expect(200).body;
        if !matches!(last["status"].as_str(), Some("pending" | "building")) {
            return last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "export {id} never settled: {last}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.count(sql).await
}

both_backends!(
    an_export_holds_a_known_set_of_records_and_no_secret,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.mail.transport = MailTransport::File).await;
        let (account_id, owner_key) = funded(&app, "ada@export.example").await;
        let owner_id = app.owner_id(&account_id).await;
        let test_key = app.owner_key(&account_id, "test").await;
        let (_, dev_key) = app
            .member_key(&account_id, "dev@export.example", "developer", "live")
            .await;
        let (_, admin_key) = app
            .member_key(&account_id, "admin@export.example", "admin", "live")
            .await;
        let narrow = app
            .key_for(
                &account_id,
                &owner_id,
                "live",
                Some(vec!["account:read", "members:write"]),
            )
            .await;
        for prompt in ["a lighthouse at dusk", "a fox in the snow"] {
            let body = json!({"model": "sandbox-image", "prompt": prompt, "width": 256, "height": 256, "user": "enduser-export-1"});
            let done = create(&app, &owner_key, body, Some(20)).await.expect(200);
            assert_eq!(done.body["status"], "succeeded", "{}", done.body);
        }
        let receiver =
            crate::support::serve_loopback(axum::Router::new().fallback(|| async { "ok" })).await;
        let hook = app
            .post(
                "/v1/webhook_endpoints",
                &test_key,
                json!({"url": format!("http://{receiver}/hook")}),
            )
            .await
            .expect(201);
        let webhook_secret = hook.body["secret"].as_str().unwrap_or_default().to_string();
        assert!(webhook_secret.starts_with("whsec_"), "{}", hook.body);
        let console = Console::new(&app.url);
        set_password(&app, &owner_id, "harbour lantern grey 61").await;
        let session = console
            .sign_in("ada@export.example", "harbour lantern grey 61")
            .await;
        let session_token = session
            .cookie
            .split_once('=')
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let password_hash = db
            .fetch_text("SELECT password_hash FROM users WHERE id = $1", &owner_id)
            .await
            .unwrap_or_else(|| panic!("the owner has no password"));
        assert!(password_hash.starts_with("$argon2"), "{password_hash}");
        let logged = format!("SELECT COUNT(*) FROM request_log WHERE account_id = '{account_id}'");
        assert!(eventually(10_000, || async { count(&db, &logged).await > 0 }).await);

        // Only an owner, with a key that is not narrowed, may ask.
        // A developer's key lacks the route's scope; an admin's has it but is no owner.
        app.post("/v1/account/exports", &dev_key, json!({}))
            .await
            .expect_error(403, "insufficient_scope");
        app.post("/v1/account/exports", &admin_key, json!({}))
            .await
            .expect_error(403, "insufficient_role");
        app.post("/v1/account/exports", &narrow, json!({}))
            .await
            .expect_error(403, "insufficient_scope");
        app.get("/v1/account/exports", &dev_key)
            .await
            .expect_error(403, "insufficient_role");

        let logged_before = count(&db, &logged).await;
        let asked = app
            .post("/v1/account/exports", &owner_key, json!({}))
            .await
            .expect(202);
        let id = asked.body["id"].as_str().unwrap_or_default().to_string();
        assert!(id.starts_with("exp_"), "{}", asked.body);
        let ready = settled(&app, &owner_key, &id).await;
        assert_eq!(ready["status"], "ready", "{ready}");
        let listed = app.get("/v1/account/exports", &owner_key).await.expect(200);
        assert_eq!(listed.body["data"][0]["id"], id.as_str());
        // Another account's owner cannot see it.
        let (_, other_key) = funded(&app, "other@export.example").await;
        app.get(&format!("/v1/account/exports/{id}"), &other_key)
            .await
            .expect_error(404, "resource_missing");

        let url = ready["download_url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // A tampered or expired URL is refused, and takes nothing.
        let tampered = url.replace("signature=", "signature=00");
        let (status, _, body) = download(&tampered).await;
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            (status, &body["error"]["code"]),
            (403, &json!("signature_invalid"))
        );
        let now = now_ms();
        let path = format!("/v1/account/exports/{id}/download");
        let (old, _) = app
            .state
            .outputs
            .signed_url(&path, now - 7_200_000, now - 3_600_000);
        let (status, _, body) = download(&old).await;
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            (status, &body["error"]["code"]),
            (403, &json!("url_expired"))
        );

        let (status, content_type, bytes) = download(&url).await;
        assert_eq!((status, content_type.as_str()), (200, "application/gzip"));
        assert_eq!(ready["bytes"], bytes.len());
        // Once only.
        let (status, _, again) = download(&url).await;
        let again: Value = serde_json::from_slice(&again).unwrap_or_default();
        assert_eq!(
            (status, &again["error"]["code"]),
            (410, &json!("export_already_downloaded"))
        );
        let after = app
            .get(&format!("/v1/account/exports/{id}"), &owner_key)
            .await
            .expect(200);
        assert_eq!(after.body["status"], "downloaded");
        assert!(after.body["download_url"].is_null(), "{}", after.body);
        let object = db
            .dir
            .join(format!("outputs/{account_id}/exports/{id}.tar.gz"));
        assert!(
            eventually(5_000, || async { !object.exists() }).await,
            "the downloaded archive is deleted"
        );
        assert_eq!(mails(&db.dir.join("mail"), "ada@export.example", &id), 1);

        let files = unpack(&bytes);
        let manifest: Value = serde_json::from_str(&files["manifest.json"])
            .unwrap_or_else(|e| panic!("manifest: {e}"));
        assert_eq!(manifest["account_id"], account_id.as_str());
        assert_eq!(manifest["export_id"], id.as_str());
        // Every file is listed with its count, and holds exactly that many records.
        for file in manifest["files"].as_array().into_iter().flatten() {
            let name = file["name"].as_str().unwrap_or_default();
            let kind = name.trim_end_matches(".jsonl");
            assert_eq!(
                records(&files, kind).len() as u64,
                file["records"].as_u64().unwrap_or(u64::MAX),
                "{name}"
            );
            assert_eq!(manifest["counts"][kind], file["records"]);
        }
        assert_eq!(
            files.len(),
            manifest["files"].as_array().map_or(0, Vec::len) + 1
        );
        // The known set: what the database holds for the account now.
        let n =
            |table: &str| format!("SELECT COUNT(*) FROM {table} WHERE account_id = '{account_id}'");
        for (kind, table) in [
            ("members", "members"),
            ("api_keys", "api_keys"),
            ("generations", "generations"),
            ("ledger", "ledger_entries"),
            ("holds", "holds"),
            ("webhook_endpoints", "webhook_endpoints"),
            ("end_users", "end_users"),
            ("balances", "credit_balances"),
        ] {
            assert_eq!(
                manifest["counts"][kind].as_i64(),
                Some(count(&db, &n(table)).await),
                "{kind}"
            );
        }
        assert_eq!(manifest["counts"]["members"], 3);
        assert_eq!(manifest["counts"]["generations"], 2);
        assert_eq!(manifest["counts"]["webhook_endpoints"], 1);
        assert_eq!(manifest["counts"]["account"], 1);
        let logs = manifest["counts"]["request_log"].as_i64().unwrap_or(0);
        assert!(logs >= logged_before, "{logs} < {logged_before}");
        assert!(manifest["counts"]["sessions"].as_i64() >= Some(1));
        assert!(manifest["counts"]["events"].as_i64() >= Some(2));
        assert!(manifest["counts"]["audit_log"].as_i64() >= Some(3));
        let generations = records(&files, "generations");
        let g = &generations[0];
        assert_eq!(g["input"]["prompt"], "a lighthouse at dusk", "{g}");
        assert_eq!(g["end_user"], "enduser-export-1");
        assert_eq!(g["outputs"][0]["width"], 256, "outputs' metadata: {g}");
        let keys = records(&files, "api_keys");
        assert!(
            keys.iter()
                .all(|k| k["secrets"][0]["display_prefix"].is_string()),
            "{keys:?}"
        );
        let account = &records(&files, "account")[0];
        assert_eq!(account["id"], account_id.as_str());
        let members = records(&files, "members");
        assert!(members.iter().any(|m| m["email"] == "dev@export.example"));
        let sessions = records(&files, "sessions");
        assert!(sessions.iter().all(|s| s.get("id_hash").is_none()));

        // No secret anywhere in it, compressed or not.
        let text: String = files.values().cloned().collect();
        let hashes: Vec<String> = [&owner_key, &test_key, &dev_key, &admin_key, &narrow]
            .iter()
            .map(|k| easel_core::api_key::hash(k))
            .collect();
        let secrets = [
            owner_key.as_str(),
            test_key.as_str(),
            dev_key.as_str(),
            admin_key.as_str(),
            narrow.as_str(),
            webhook_secret.as_str(),
            webhook_secret.trim_start_matches("whsec_"),
            password_hash.as_str(),
            session_token.as_str(),
        ];
        for secret in secrets
            .iter()
            .copied()
            .chain(hashes.iter().map(String::as_str))
        {
            assert!(secret.len() > 16, "a real secret: {secret}");
            assert!(
                !text.contains(secret),
                "the export holds a secret: {secret}"
            );
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret),
                "the archive holds a secret: {secret}"
            );
        }
        app.stop().await;
    }
);

both_backends!(
    exports_expire_and_a_failed_build_says_why,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.data_rights.export_max_attempts = 1).await;
        let (account_id, key) = funded(&app, "expiry@export.example").await;
        let id = app
            .post("/v1/account/exports", &key, json!({}))
            .await
            .expect(202)
            .body["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ready = settled(&app, &key, &id).await;
        assert_eq!(ready["status"], "ready", "{ready}");
        let url = ready["download_url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let object = db
            .dir
            .join(format!("outputs/{account_id}/exports/{id}.tar.gz"));
        assert!(object.exists());
        // Nobody downloaded it in time: the sweep deletes it.
        let ttl = app.state.config.data_rights.export_ttl_ms();
        easel_server::data_rights::sweep(&app.state, now_ms() + ttl + 1).await;
        assert!(!object.exists(), "an expired export's archive is deleted");
        let expired = app
            .get(&format!("/v1/account/exports/{id}"), &key)
            .await
            .expect(200);
        assert_eq!(expired.body["status"], "expired");
        let (status, _, body) = download(&url).await;
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            (status, &body["error"]["code"]),
            (410, &json!("export_expired"))
        );

        // The archive cannot be stored (a file where its folder goes): the build fails,
        // and says so.
        std::fs::remove_dir_all(db.dir.join(format!("outputs/{account_id}/exports")))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(db.dir.join(format!("outputs/{account_id}/exports")), b"x")
            .unwrap_or_else(|e| panic!("{e}"));
        let id = app
            .post("/v1/account/exports", &key, json!({}))
            .await
            .expect(202)
            .body["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let failed = settled(&app, &key, &id).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert!(
            failed["failure_reason"]
                .as_str()
                .is_some_and(|r| r.contains("new export")),
            "{failed}"
        );
        assert!(failed["download_url"].is_null());
        let audit = format!(
            "SELECT COUNT(*) FROM audit_log WHERE account_id = '{account_id}' AND action = 'account.export_failed'"
        );
        assert_eq!(count(&db, &audit).await, 1);
        // A new one may be asked for at once.
        app.post("/v1/account/exports", &key, json!({}))
            .await
            .expect(202);
        app.stop().await;
    }
);

both_backends!(
    one_node_builds_an_export_and_another_takes_over_a_lapsed_lease,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, _) = funded(&app, "lease@export.example").await;
        app.stop().await;
        // The store alone, with no server's loop claiming beside the test.
        let store = easel_db::connect(&db.url, 4)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
        let id = easel_core::ids::IdKind::Export.generate();
        store
            .create_export(&id, &account_id, "cli", audit.another())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let second = store
            .create_export(
                &easel_core::ids::IdKind::Export.generate(),
                &account_id,
                "cli",
                audit.clone(),
            )
            .await;
        assert!(
            matches!(second, Err(easel_db::DbError::Rule(ref r)) if r.to_string().contains("already")),
            "one export at a time: {second:?}"
        );
        let now = now_ms();
        // Eight nodes claim at once: one gets it.
        let claims = futures::future::join_all((0..8).map(|i| {
            let store = std::sync::Arc::clone(&store);
            async move {
                store
                    .claim_export(&format!("node{i}"), now + 60_000, 3, now)
                    .await
            }
        }))
        .await;
        let won: Vec<_> = claims
            .into_iter()
            .filter_map(|c| c.unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_eq!(won.len(), 1, "{won:?}");
        assert_eq!(won[0].attempts, 1);
        let mut holder = None;
        for i in 0..8 {
            let node = format!("node{i}");
            if store
                .renew_export_lease(&id, &node, now + 60_000)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
            {
                holder = Some(node);
            }
        }
        let holder = holder.unwrap_or_else(|| panic!("nobody holds the lease"));
        // Its node died: once the lease lapses, another takes it over.
        assert!(
            store
                .claim_export("late", now + 120_000, 3, now + 1_000)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
        let taken = store
            .claim_export("late", now + 200_000, 3, now + 61_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("the lapsed lease is taken over"));
        assert_eq!(taken.attempts, 2);
        let outcome = easel_db::ExportOutcome::Failed { reason: "x".into() };
        assert!(
            !store
                .finish_export(&id, &holder, outcome.clone(), audit.another())
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            "the old holder can no longer finish it"
        );
        assert!(
            store
                .finish_export(&id, "late", outcome, audit.another())
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
    }
);

both_backends!(
    the_cli_exports_an_account_to_a_file,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = funded(&app, "cli@export.example").await;
        let body =
            json!({"model": "sandbox-image", "prompt": "a kite", "width": 256, "height": 256});
        create(&app, &key, body, Some(20)).await.expect(200);
        // More records than one page holds, in both modes: every one is exported, once.
        db.execute(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) \
             INSERT INTO request_log (id, request_id, account_id, mode, api_key_id, method, path, \
             status, latency_us, created_at) SELECT 'rlog_bulk' || CAST(i + 100000 AS TEXT), 'req_bulk', \
             '{account_id}', CASE WHEN i % 3 = 0 THEN 'test' ELSE 'live' END, 'key_bulk', 'GET', \
             '/v1/models', 200, 10, 1 FROM n"
        ))
        .await;
        let logged = count(
            &db,
            &format!("SELECT COUNT(*) FROM request_log WHERE account_id = '{account_id}'"),
        )
        .await;
        assert!(logged >= 2500, "{logged}");
        let out = db.dir.join("export.tar.gz");
        let out_arg = out.display().to_string();
        let v = admin(&db, &["account", "export", &account_id, "--out", &out_arg]);
        assert_eq!(v["account_id"], account_id.as_str());
        assert_eq!(v["counts"]["generations"], 1);
        let bytes = std::fs::read(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["bytes"], bytes.len());
        let files = unpack(&bytes);
        assert_eq!(records(&files, "generations").len(), 1);
        assert!(!String::from_utf8_lossy(&bytes).contains(&key));
        let logs = records(&files, "request_log");
        let ids: std::collections::BTreeSet<&str> =
            logs.iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(ids.len(), logs.len(), "no record twice");
        assert!(logs.len() as i64 >= logged, "{} of {logged}", logs.len());
        assert_eq!(v["counts"]["request_log"], logs.len());
        // It never overwrites a file, and names an unknown account.
        let e = admin_fails(&db, &["account", "export", &account_id, "--out", &out_arg]);
        assert!(e.contains("must not exist"), "{e}");
        let e = admin_fails(
            &db,
            &["account", "export", "acct_01m864a045xwwke0zd48j6933p"],
        );
        assert!(e.contains("resource_missing"), "{e}");
        let audit = format!(
            "SELECT COUNT(*) FROM audit_log WHERE account_id = '{account_id}' AND action = 'account.export_downloaded'"
        );
        assert_eq!(count(&db, &audit).await, 1);
        app.stop().await;
    }
);

/// Every personal value a rich account holds, each distinctive enough to be searched for.
const PERSONAL: &[&str] = &[
    "Zyxwv Widgets Ltd",
    "Zyxwv Widgets Limited",
    "billing-zyxwv@example.org",
    "+44 20 7946 0321",
    "17 Qwertyuiop Lane",
    "ada-zyxwv@example.org",
    "Ada Zyxwvson",
    "dev-zyxwv@example.org",
    "invitee-zyxwv@example.org",
    "enduser-zyxwv-7",
    "a portrait of the zyxwv cat",
    "zyxwvblur",
    "zyxwv-meta-value",
    "zyxwv laptop key",
    "/hooks/zyxwv-receiver",
    "203.0.113.77",
    "198.51.100.23",
    "ZyxwvBrowser/9.1",
];

/// The account's own values that must not be in the database (its id stays).
struct Rich {
    account_id: String,
    key: String,
    owner_id: String,
}

/// An account holding every kind of personal value: details, people (a member, an
/// invitation), console sessions from a known address and browser, keys, generations
/// with prompts, end users, metadata and an input image, webhooks, an invoice.
async fn rich_account(app: &TestApp, db: &TestDb) -> Rich {
    use easel_server::services::accounts::{self, AccountSpec, UserSpec};
    let spec = AccountSpec {
        name: "Zyxwv Widgets Ltd".into(),
        legal_name: Some("Zyxwv Widgets Limited".into()),
        contact_email: Some("billing-zyxwv@example.org".into()),
        contact_phone: Some("+44 20 7946 0321".into()),
        address: Some("17 Qwertyuiop Lane, Lisbon".into()),
        country: Some("PT".into()),
        owner: UserSpec {
            email: "ada-zyxwv@example.org".into(),
            name: Some("Ada Zyxwvson".into()),
            password: Some("harbour lantern grey 61".into()),
            adult_attested: true,
            terms_accepted: Some("2026-11-01".into()),
            terms_accepted_ip: Some("198.51.100.23".into()),
        },
        ..Default::default()
    };
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
    let (account, owner) = accounts::create(&app.state, spec, audit)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let account_id = account.id;
    grant(app, &account_id, 1_000_000).await;
    let key = app.owner_key(&account_id, "live").await;
    let test_key = app.owner_key(&account_id, "test").await;
    app.member_key(&account_id, "dev-zyxwv@example.org", "developer", "live")
        .await;
    // A named key.
    app.post("/v1/keys", &key, json!({"name": "zyxwv laptop key"}))
        .await
        .expect(201);
    // Generations: prompts, a negative prompt, an end user, metadata, an input image.
    let png = easel_test_utils::fakes::images::png(16, 16, 1);
    let image = base64::engine::general_purpose::STANDARD.encode(png);
    let bodies = [
        json!({"model": "sandbox-image", "prompt": "a portrait of the zyxwv cat", "negative_prompt": "zyxwvblur",
               "width": 256, "height": 256, "user": "enduser-zyxwv-7", "metadata": {"customer": "zyxwv-meta-value"}}),
        json!({"model": "sandbox-image", "prompt": "a portrait of the zyxwv cat, again", "width": 256, "height": 256,
               "user": "enduser-zyxwv-7", "input_image": image}),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        let res = create(app, &key, body, Some(20)).await.expect(200);
        ids.push(res.body["id"].as_str().unwrap_or_default().to_string());
    }
    app.post(
        "/v1/end_users/enduser-zyxwv-7/block",
        &key,
        json!({"reason": "zyxwv-meta-value"}),
    )
    .await
    .expect(200);
    // A webhook endpoint (test mode, loopback) and a delivery to it.
    let receiver =
        crate::support::serve_loopback(axum::Router::new().fallback(|| async { "ok" })).await;
    app.post(
        "/v1/webhook_endpoints",
        &test_key,
        json!({"url": format!("http://{receiver}/hooks/zyxwv-receiver"), "description": "zyxwv laptop key"}),
    )
    .await
    .expect(201);
    let body = json!({"model": "sandbox-image", "prompt": "a portrait of the zyxwv cat in test mode", "width": 256, "height": 256, "user": "enduser-zyxwv-7"});
    create(app, &test_key, body, Some(20)).await.expect(200);
    // The console: a session from a known address and browser, and an invitation.
    let console = Console::new(&app.url);
    let page = console
        .try_sign_in(
            "ada-zyxwv@example.org",
            "harbour lantern grey 61",
            &[
                ("x-forwarded-for", "203.0.113.77"),
                ("user-agent", "ZyxwvBrowser/9.1"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.html);
    let cookie = page.cookie(&console.cookie_name).unwrap_or_default();
    let csrf = console.get("/console/account", &[&cookie]).await.csrf();
    let invited = console
        .post(
            "/console/members/invite",
            &[&cookie],
            &[("origin", &app.url)],
            &[
                ("csrf", &csrf),
                ("email", "invitee-zyxwv@example.org"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert!(invited.html.contains("Invitation sent"), "{}", invited.html);
    // An issued invoice: the first generation moved into a closed month.
    use easel_server::services::invoices::Period;
    let now = now_ms();
    let period = Period::containing(now).previous().previous();
    let at = period.start_ms() + 86_400_000;
    db.execute(&format!(
        "UPDATE generations SET created_at = {at}, started_at = {at}, finished_at = {} WHERE id = '{}'",
        at + 1_000,
        ids[0]
    ))
    .await;
    easel_server::services::invoices::issue_period(&app.state, period, now)
        .await
        .unwrap_or_else(|e| panic!("issue: {e:?}"));
    let logged = format!(
        "SELECT COUNT(*) FROM request_log WHERE account_id = '{account_id}' AND end_user IS NOT NULL"
    );
    assert!(eventually(10_000, || async { count(db, &logged).await > 0 }).await);
    let sessions = "SELECT COUNT(*) FROM console_sessions WHERE ip = '203.0.113.77'";
    assert_eq!(
        count(db, sessions).await,
        1,
        "the session's address is recorded"
    );
    Rich {
        account_id,
        key,
        owner_id: owner.id,
    }
}

/// Every `table.column` (any text column of any table, enumerated from the database) whose
/// value contains `needle`, ignoring case.
async fn find_in_database(db: &TestDb, needle: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let mut hits = Vec::new();
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(tables.len() > 30, "{tables:?}");
            for (table,) in tables {
                let columns =
                    sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(&mut c)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                for column in columns {
                    let column: String = column.get(0);
                    let sql = format!(
                        "SELECT COUNT(*) FROM \"{table}\" WHERE instr(lower(CAST(\"{column}\" AS TEXT)), lower($1)) > 0"
                    );
                    let n: i64 = sqlx::query_scalar(&sql)
                        .bind(needle)
                        .fetch_one(&mut c)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                    if n > 0 {
                        hits.push(format!("{table}.{column} ({n})"));
                    }
                }
            }
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() \
                 AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')",
            )
            .fetch_all(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(columns.len() > 100, "{columns:?}");
            for (table, column) in columns {
                let sql = format!(
                    "SELECT COUNT(*) FROM \"{table}\" WHERE strpos(lower(\"{column}\"::text), lower($1)) > 0"
                );
                let n: i64 = sqlx::query_scalar(&sql)
                    .bind(needle)
                    .fetch_one(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                if n > 0 {
                    hits.push(format!("{table}.{column} ({n})"));
                }
            }
        }
    }
    hits
}

/// Every file under `dir` (the local object store), recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The account's invoices (number, subtotal) and whether its ledger sums to its balance.
async fn books(db: &TestDb, account_id: &str) -> (Vec<String>, bool) {
    let invoices = count(
        db,
        &format!("SELECT COUNT(*) FROM invoices WHERE account_id = '{account_id}'"),
    )
    .await;
    let mut numbers = Vec::new();
    for i in 0..invoices {
        let row = db
            .fetch_text(
                &format!("SELECT number || ':' || CAST(subtotal_credits AS TEXT) || ':' || subtotal_eur || ':' || CAST(issued_at AS TEXT) FROM invoices WHERE account_id = $1 ORDER BY id LIMIT 1 OFFSET {i}"),
                account_id,
            )
            .await
            .unwrap_or_else(|| panic!("invoice {i} of {account_id} is gone"));
        numbers.push(row);
    }
    let lines = count(db, &format!("SELECT CAST(COALESCE(SUM(l.amount_credits), 0) AS BIGINT) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.account_id = '{account_id}'")).await;
    numbers.push(format!("lines:{lines}"));
    let mut adds_up = true;
    for mode in ["test", "live"] {
        let sum = count(db, &format!("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entries WHERE account_id = '{account_id}' AND mode = '{mode}'")).await;
        let balance = count(db, &format!("SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM credit_balances WHERE account_id = '{account_id}' AND mode = '{mode}'")).await;
        adds_up &= sum == balance;
    }
    (numbers, adds_up)
}

/// Asserts that no personal value of the rich account is left in the database or the
/// object store (`outputs`), and that `other` (another account's value) still is.
async fn assert_erased(db: &TestDb, outputs: &Path, account_id: &str, other: &str) {
    let mut left = Vec::new();
    for value in PERSONAL {
        let hits = find_in_database(db, value).await;
        if !hits.is_empty() {
            left.push(format!("{value:?} in {}", hits.join(", ")));
        }
    }
    assert!(
        left.is_empty(),
        "personal data left in the database:\n{}",
        left.join("\n")
    );
    assert!(
        !find_in_database(db, other).await.is_empty(),
        "another account's data is untouched"
    );
    for file in files_under(outputs) {
        let rel = file
            .strip_prefix(outputs)
            .unwrap_or(&file)
            .display()
            .to_string();
        assert!(!rel.starts_with(account_id), "{rel} is still stored");
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        for value in PERSONAL {
            assert!(!text.contains(&value.to_lowercase()), "{value} in {rel}");
        }
    }
}

both_backends!(
    an_erasure_leaves_no_personal_value_and_keeps_the_books,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.console.forwarded_for_hops = 1).await;
        let rich = rich_account(&app, &db).await;
        // Another account, with a value of its own and a stored output.
        let (other_id, other_key) = funded(&app, "other-qqqjx@example.org").await;
        let body = json!({"model": "sandbox-image", "prompt": "the qqqjx harbour", "width": 256, "height": 256});
        let other_gen = create(&app, &other_key, body, Some(20)).await.expect(200);
        let outputs = db.dir.join("outputs");
        assert!(
            files_under(&outputs.join(&rich.account_id)).len() >= 3,
            "outputs and an input are stored"
        );
        for value in PERSONAL {
            assert!(
                !find_in_database(&db, value).await.is_empty()
                    || value.contains("113.77")
                    || value.contains("Browser"),
                "the set-up holds {value}"
            );
        }
        let (books_before, adds_up) = books(&db, &rich.account_id).await;
        assert!(adds_up, "the ledger sums to the balance before");
        assert!(
            books_before.len() >= 2 && !books_before[0].is_empty(),
            "{books_before:?}"
        );

        let erased = admin(&db, &["account", "erase", &rich.account_id, "--yes"]);
        assert_eq!(erased["status"], "done", "{erased}");
        assert_eq!(
            erased["counts"]["users"], 2,
            "the owner and the developer: {erased}"
        );

        assert_erased(&db, &outputs, &rich.account_id, "qqqjx").await;
        let (books_after, adds_up) = books(&db, &rich.account_id).await;
        // Termination issued the final invoice for this month's usage; the invoices
        // issued before are kept as they were.
        let issued = books_before.len() - 1;
        assert_eq!(
            books_after[..issued],
            books_before[..issued],
            "{books_after:?}"
        );
        assert_eq!(books_after.len(), books_before.len() + 1, "{books_after:?}");
        assert!(adds_up, "the ledger still sums to the balance");
        // The other account works and its output is still served.
        let url = other_gen.body["outputs"][0]["url"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(download(url).await.0, 200);
        app.get("/v1/account", &other_key).await.expect(200);
        assert!(
            files_under(&outputs.join(&other_id))
                .iter()
                .any(|f| f.extension().is_some_and(|e| e == "png"))
        );
        // The erased account's keys are dead; every step is in the global audit log.
        assert!(
            eventually(5_000, || async {
                app.get("/v1/account", &rich.key).await.status == 401
            })
            .await
        );
        let steps = admin(
            &db,
            &["audit", "--account", &rich.account_id, "--limit", "200"],
        );
        let actions: Vec<&str> = steps
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["action"].as_str())
            .collect();
        for step in [
            "account.erasure_requested",
            "account.erasure_started",
            "account.terminated",
            "account.erasure_objects_deleted",
            "account.erasure_records_deleted",
            "account.erased",
        ] {
            assert!(actions.contains(&step), "{step} missing from {actions:?}");
        }
        let user = db
            .fetch_text("SELECT email FROM users WHERE id = $1", &rich.owner_id)
            .await
            .unwrap_or_else(|| panic!("the owner's user is gone"));
        assert!(
            user.starts_with("erased-") && user.ends_with("@erased.invalid"),
            "{user}"
        );
        // Once.
        let e = admin_fails(&db, &["account", "erase", &rich.account_id, "--yes"]);
        assert!(e.contains("erased already"), "{e}");
        let e = admin_fails(&db, &["account", "erase", &other_id]);
        assert!(e.contains("--yes"), "{e}");
        app.stop().await;
    }
);

both_backends!(
    an_owners_request_waits_for_its_cooling_off_and_can_be_canceled,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.mail.transport = MailTransport::File).await;
        let (account_id, key) = funded(&app, "cool@erasure.example").await;
        let (_, admin_key) = app
            .member_key(&account_id, "admin@erasure.example", "admin", "live")
            .await;
        app.post(
            "/v1/account/erasure",
            &admin_key,
            json!({"confirm": account_id}),
        )
        .await
        .expect_error(403, "insufficient_role");
        app.post(
            "/v1/account/erasure",
            &key,
            json!({"confirm": "acct_01m864a045xwwke0zd48j6933p"}),
        )
        .await
        .expect_error(400, "parameter_invalid");
        let asked = app
            .post("/v1/account/erasure", &key, json!({"confirm": account_id}))
            .await
            .expect(202);
        let days = i64::from(app.state.config.data_rights.erasure_cooling_off_days);
        let due = asked.body["due_at"].as_i64().unwrap_or_default();
        assert!(
            (due - now_ms() / 1000 - days * 86_400).abs() < 60,
            "{}",
            asked.body
        );
        assert_eq!(asked.body["suspended"], true);
        assert_eq!(
            mails(
                &db.dir.join("mail"),
                "cool@erasure.example",
                "will be erased"
            ),
            1
        );
        // Suspended meanwhile.
        assert!(
            eventually(5_000, || async {
                app.get("/v1/account", &key).await.code() == "account_suspended"
            })
            .await
        );
        // Inside the period nothing is erased, however often the sweep runs.
        easel_server::data_rights::sweep(&app.state, now_ms() + (days - 1) * 86_400_000).await;
        let name = "SELECT name FROM accounts WHERE id = $1";
        assert_eq!(
            db.fetch_text(name, &account_id).await.as_deref(),
            Some("Account of cool@erasure.example")
        );
        // The owner cancels in the console: the suspension is lifted.
        let console = Console::new(&app.url);
        let session = crate::console_pages::owner_session(
            &app,
            &console,
            &account_id,
            "cool@erasure.example",
            "harbour lantern grey 61",
        )
        .await;
        let page = console.get("/console/account", &[&session.cookie]).await;
        assert!(page.html.contains("id=\"cancel-erasure\""), "{}", page.html);
        // Without the token, nothing happens.
        let forged = console
            .post(
                "/console/account/erasure/cancel",
                &[&session.cookie],
                &[("origin", &app.url)],
                &[],
            )
            .await;
        assert_eq!(forged.status, 403, "{}", forged.html);
        let canceled = console
            .post(
                "/console/account/erasure/cancel",
                &[&session.cookie],
                &[("origin", &app.url)],
                &[("csrf", &session.csrf)],
            )
            .await;
        assert!(canceled.html.contains("canceled"), "{}", canceled.html);
        assert!(
            eventually(5_000, || async {
                app.get("/v1/account", &key).await.status == 200
            })
            .await,
            "the account works again"
        );
        // Asked again from the console, it runs once the period is over.
        let asked = console
            .post(
                "/console/account/erasure",
                &[&session.cookie],
                &[("origin", &app.url)],
                &[("csrf", &session.csrf), ("confirm", &account_id)],
            )
            .await;
        assert!(asked.html.contains("will be erased on"), "{}", asked.html);
        easel_server::data_rights::sweep(&app.state, now_ms() + (days + 1) * 86_400_000).await;
        assert_eq!(
            db.fetch_text(name, &account_id).await.as_deref(),
            Some("Erased account")
        );
        let state = "SELECT state FROM account_erasures WHERE account_id = $1";
        assert_eq!(
            db.fetch_text(state, &account_id).await.as_deref(),
            Some("done")
        );
        app.stop().await;
    }
);

both_backends!(
    a_terminated_account_is_erased_when_its_retention_ends,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = funded(&app, "ended-zyxwq@erasure.example").await;
        let body = json!({"model": "sandbox-image", "prompt": "the zyxwq lake", "width": 256, "height": 256, "user": "enduser-zyxwq"});
        let g = create(&app, &key, body, Some(20)).await.expect(200);
        until(
            &app,
            &key,
            g.body["id"].as_str().unwrap_or_default(),
            &["succeeded"],
        )
        .await;
        admin(&db, &["account", "terminate", &account_id]);
        easel_server::data_rights::sweep(&app.state, now_ms()).await;
        let due = db
            .fetch_text(
                "SELECT CAST(due_at - (SELECT terminated_at FROM accounts WHERE id = $1) AS TEXT) FROM account_erasures WHERE account_id = $1",
                &account_id,
            )
            .await;
        let days = i64::from(app.state.config.data_rights.terminated_retention_days);
        assert_eq!(
            due,
            Some((days * 86_400_000).to_string()),
            "scheduled by the retention policy"
        );
        assert!(
            !find_in_database(&db, "zyxwq").await.is_empty(),
            "kept during the retention"
        );
        let shown = admin(&db, &["account", "show", &account_id]);
        assert_eq!(shown["erasure"]["status"], "scheduled", "{shown}");
        assert_eq!(shown["erasure"]["reason"], "terminated", "{shown}");
        easel_server::data_rights::sweep(&app.state, now_ms() + (days + 1) * 86_400_000).await;
        let state = "SELECT state FROM account_erasures WHERE account_id = $1";
        assert_eq!(
            db.fetch_text(state, &account_id).await.as_deref(),
            Some("done")
        );
        let left = find_in_database(&db, "zyxwq").await;
        assert!(left.is_empty(), "{left:?}");
        assert!(files_under(&db.dir.join(format!("outputs/{account_id}"))).is_empty());
        app.stop().await;
    }
);

both_backends!(exports_and_erasure_work_on_s3, |db: TestDb| async move {
    let prefix = format!("rights-{}", easel_core::ids::IdKind::Request.generate());
    let app = TestApp::start_with(&db, |c| crate::s3::s3_config(c, &prefix, None)).await;
    let (account_id, key) = funded(&app, "s3@rights.example").await;
    let body = json!({"model": "sandbox-image", "prompt": "a bucket", "width": 256, "height": 256});
    create(&app, &key, body, Some(20)).await.expect(200);
    let id = app
        .post("/v1/account/exports", &key, json!({}))
        .await
        .expect(202)
        .body["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ready = settled(&app, &key, &id).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let stored = app
        .state
        .outputs
        .list(&account_id)
        .await
        .unwrap_or_else(|e| panic!("list: {e:#}"));
    assert!(stored.iter().any(|p| p.ends_with(".tar.gz")), "{stored:?}");
    let (status, _, bytes) = download(ready["download_url"].as_str().unwrap_or_default()).await;
    assert_eq!(status, 200);
    assert_eq!(records(&unpack(&bytes), "generations").len(), 1);
    easel_server::data_rights::erasure::erase_now(&app.state, &account_id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let left = app
        .state
        .outputs
        .list(&account_id)
        .await
        .unwrap_or_else(|e| panic!("list: {e:#}"));
    assert!(left.is_empty(), "{left:?}");
    app.stop().await;
});
