//! Monthly invoices end to end: generations moved into a past month, issued by the service,
//! the CLI and a node's sweep; lines per model and price that add up to the total and to
//! the usage report; sequential numbers; exactly once; 404 across accounts and modes; the
//! PDF read back with `pdftotext`.

use easel_core::time::now_ms;
use easel_server::config::Config;
use easel_server::services::invoices::{self, Period};
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::generations::{create, funded, until, with_test_models};
use crate::support::binary::{admin, admin_fails};
use crate::support::{TestApp, eventually};

const SELLER: &str = "Pixel Foundry GmbH";

/// The test models, a second priced image model, and a seller.
fn configured(config: &mut Config) {
    with_test_models(config);
    let mut second = config.models["sandbox-image"].clone();
    second.web_price = 1000;
    config.models.insert("second-image".into(), second);
    let inv = &mut config.invoicing;
    inv.seller_name = SELLER.into();
    inv.seller_address = "Torstraße 1\n10119 Berlin\nGermany".into();
    inv.seller_vat_id = "DE999999999".into();
    inv.seller_email = "billing@pixelfoundry.test".into();
    inv.number_prefix = "PXF".into();
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Unix ms as `YYYY-MM-DD`.
fn day(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

/// Makes succeeded generations (waiting for each), then moves every generation of the
/// account into `period`, as if they had run then.
/// The usage report of `period`, as `GET /v1/usage` gives it.
async fn month_usage(app: &TestApp, key: &str, period: Period) -> Value {
    let path = format!(
        "/v1/usage?start_date={}&end_date={}",
        day(period.start_ms()),
        day(period.end_ms() - 86_400_000)
    );
    app.get(&path, key).await.expect(200).body
}

async fn usage_in(
    app: &TestApp,
    db: &TestDb,
    account_id: &str,
    key: &str,
    period: Period,
    bodies: &[Value],
) {
    for body in bodies {
        create(app, key, body.clone(), Some(20)).await.expect(200);
    }
    let at = period.start_ms() + 3 * 86_400_000;
    db.execute(&format!(
        "UPDATE generations SET created_at = {at}, started_at = {at}, finished_at = {} \
         WHERE account_id = '{account_id}'",
        at + 1_000
    ))
    .await;
}

/// Another key of the account's owner, in `mode`.
async fn owner_key(app: &TestApp, account_id: &str, mode: &str) -> String {
    let members = app
        .state
        .store
        .list_members(account_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let owner = members
        .first()
        .map(|m| m.user_id.clone())
        .unwrap_or_default();
    app.key_for(account_id, &owner, mode, None).await
}

fn image(model: &str, size: u32) -> Value {
    json!({"model": model, "prompt": "invoiced", "width": size, "height": size})
}

/// `pdftotext` of a PDF, as UTF-8 text.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("invoice.pdf");
    std::fs::write(&path, pdf).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap_or_else(|e| {
            panic!("pdftotext is required (Debian package poppler-utils; scripts/test installs it): {e}")
        });
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

both_backends!(
    a_past_month_is_invoiced_once_by_model_with_totals_matching_usage,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, configured).await;
        // Two months back: closed, and never touched by the sweep (it issues last month).
        let period = Period::containing(now_ms()).previous().previous();
        let (account, key) = funded(&app, "buyer@example.com").await;
        db.execute(&format!(
            "UPDATE accounts SET legal_name = 'Müller & Söhne GmbH', address = 'Königsallee 1\n40212 Düsseldorf', \
             country = 'DE' WHERE id = '{account}'"
        ))
        .await;
        let bodies = [
            image("sandbox-image", 256),
            image("sandbox-image", 256),
            image("sandbox-image", 512),
            image("second-image", 256),
        ];
        // A failure in the same month bills nothing.
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
        usage_in(&app, &db, &account, &key, period, &bodies).await;
        let (other, other_key) = funded(&app, "other@example.com").await;
        usage_in(
            &app,
            &db,
            &other,
            &other_key,
            period,
            &[image("second-image", 512)],
        )
        .await;

        let report = invoices::issue_period(&app.state, period, now_ms())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut numbers: Vec<String> = report.issued.iter().map(|i| i.number.clone()).collect();
        numbers.sort();
        let year = Period::containing(now_ms()).to_string()[..4].to_string();
        assert_eq!(
            numbers,
            [format!("PXF-{year}-000001"), format!("PXF-{year}-000002")],
            "one invoice per account with usage, numbered in sequence: {report:?}"
        );

        let list = app.get("/v1/invoices", &key).await.expect(200).body;
        assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
        let id = text(&list["data"][0]["id"]);
        let invoice = app
            .get(&format!("/v1/invoices/{id}"), &key)
            .await
            .expect(200)
            .body;
        assert_eq!(list["data"][0], invoice);
        assert_eq!(invoice["period"], period.to_string());
        assert_eq!(invoice["currency"], "eur");
        assert_eq!(invoice["seller"]["name"], SELLER);
        assert_eq!(invoice["buyer"]["account_id"], account.as_str());
        assert_eq!(invoice["buyer"]["legal_name"], "Müller & Söhne GmbH");
        let lines = invoice["lines"].as_array().cloned().unwrap_or_default();
        let shape: Vec<(String, i64)> = lines
            .iter()
            .map(|l| {
                (
                    text(&l["model"]),
                    l["quantity"].as_i64().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("sandbox-image".to_string(), 2),
                ("sandbox-image".to_string(), 1),
                ("second-image".to_string(), 1)
            ],
            "per model and price: {invoice}"
        );
        let mut sum = 0;
        for l in &lines {
            let (q, unit, amount) = (
                l["quantity"].as_i64().unwrap_or_default(),
                l["unit_price_credits"].as_i64().unwrap_or_default(),
                l["amount_credits"].as_i64().unwrap_or_default(),
            );
            assert_eq!(q * unit, amount, "{l}");
            assert_eq!(l["amount_eur"], easel_core::models::credits_to_eur(amount));
            sum += amount;
        }
        assert_eq!(invoice["subtotal_credits"], sum);
        assert_eq!(invoice["total_credits"], sum);
        assert_eq!(
            invoice["total_eur"],
            easel_core::models::credits_to_eur(sum)
        );

        // The usage report of the same month says the same.
        let usage = month_usage(&app, &key, period).await;
        assert_eq!(usage["totals"]["credits"], sum, "{usage}");
        assert_eq!(usage["totals"]["eur"], invoice["total_eur"]);
        assert_eq!(usage["totals"]["generations"], 4);

        // Exactly once: again from the service and from the CLI, nothing new.
        let again = invoices::issue_period(&app.state, period, now_ms())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(again.issued.is_empty(), "{again:?}");
        assert_eq!(again.already_issued, 2);
        let cli = admin(&db, &["invoices", "issue", "--period", &period.to_string()]);
        assert_eq!(cli["issued"], json!([]), "{cli}");
        assert_eq!(cli["already_issued"], 2);
        let events = app.get("/v1/events?limit=100", &key).await.expect(200).body;
        let created: Vec<&Value> = events["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == "invoice.created")
            .collect();
        assert_eq!(created.len(), 1, "{events}");
        assert_eq!(created[0]["data"]["number"], invoice["number"]);

        // Another account, or the test world of this one, cannot see it.
        for k in [&other_key, &owner_key(&app, &account, "test").await] {
            app.get(&format!("/v1/invoices/{id}"), k)
                .await
                .expect_error(404, "resource_missing");
            app.get(&format!("/v1/invoices/{id}/pdf"), k)
                .await
                .expect_error(404, "resource_missing");
        }
        app.get("/v1/invoices/inv_nope", &key)
            .await
            .expect_error(404, "resource_missing");

        // The PDF.
        let res = app
            .raw(reqwest::Method::GET, &format!("/v1/invoices/{id}/pdf"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/pdf")
        );
        let pdf = res.bytes().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(pdf.starts_with(b"%PDF-"));
        let text_of_pdf = pdf_text(&pdf);
        for expected in [
            text(&invoice["number"]),
            format!("EUR {}", text(&invoice["total_eur"])),
            "Total excluding VAT".to_string(),
            SELLER.to_string(),
            "VAT ID: DE999999999".to_string(),
            "Müller & Söhne GmbH".to_string(),
            "Königsallee 1".to_string(),
            "Generations: second-image".to_string(),
            day(period.start_ms()),
        ] {
            assert!(
                text_of_pdf.contains(&expected),
                "the PDF lacks {expected:?}:\n{text_of_pdf}"
            );
        }
        app.stop().await;
    }
);

both_backends!(
    a_node_sweep_invoices_last_month_once_it_has_closed,
    |db: TestDb| async move {
        let no_delay = |c: &mut Config| {
            configured(c);
            c.invoicing.issue_delay_seconds = 0;
        };
        let first = TestApp::start_with(&db, no_delay).await;
        let last_month = Period::containing(now_ms()).previous();
        let (account, key) = funded(&first, "swept@example.com").await;
        usage_in(
            &first,
            &db,
            &account,
            &key,
            last_month,
            &[image("sandbox-image", 256)],
        )
        .await;
        // The first node's sweep already looked at last month (before it had usage); a
        // second node starting now finds it due and issues it.
        let second = TestApp::start_with(&db, no_delay).await;
        let issued = eventually(10_000, || async {
            let list = first.get("/v1/invoices", &key).await.expect(200).body;
            list["data"].as_array().is_some_and(|d| d.len() == 1)
        })
        .await;
        assert!(issued, "the sweep issued last month's invoice");
        let list = first.get("/v1/invoices", &key).await.expect(200).body;
        assert_eq!(list["data"][0]["period"], last_month.to_string());
        // More sweeps on both nodes change nothing.
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let count = db
            .count(&format!(
                "SELECT COUNT(*) FROM invoices WHERE account_id = '{account}'"
            ))
            .await;
        assert_eq!(count, 1);
        second.stop().await;
        first.stop().await;
    }
);

both_backends!(
    the_cli_refuses_months_that_are_malformed_or_still_open,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, configured).await;
        app.stop().await;
        let bad = admin_fails(&db, &["invoices", "issue", "--period", "2026-13"]);
        assert!(bad.contains("period"), "{bad}");
        let current = Period::containing(now_ms()).to_string();
        let open = admin_fails(&db, &["invoices", "issue", "--period", &current]);
        assert!(open.contains("has not closed yet"), "{open}");
        let past = Period::containing(now_ms())
            .previous()
            .previous()
            .to_string();
        let report = admin(&db, &["invoices", "issue", "--period", &past]);
        assert_eq!(report["period"], past.as_str());
        assert_eq!(report["issued"], json!([]), "nothing was used: {report}");
    }
);

both_backends!(
    termination_invoices_the_month_so_far_at_once_and_only_once,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, configured).await;
        let (account, key) = funded(&app, "leaving@example.com").await;
        // Usage this month, still open: normally invoiced only after it ends.
        for body in [image("sandbox-image", 256), image("second-image", 256)] {
            create(&app, &key, body, Some(20)).await.expect(200);
        }
        let period = Period::containing(now_ms());
        let usage = month_usage(&app, &key, period).await;
        let (_, other_key) = funded(&app, "staying@example.com").await;
        create(&app, &other_key, image("sandbox-image", 256), Some(20))
            .await
            .expect(200);

        // The operator terminates through the CLI (its own process): the invoice follows.
        admin(&db, &["account", "terminate", &account]);
        let invoices = app
            .state
            .store
            .list_invoices(
                &account,
                easel_core::mode::Mode::Live,
                easel_db::Page::first(10),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(invoices.len(), 1, "{invoices:?}");
        assert_eq!(invoices[0].period, period.to_string());
        assert_eq!(
            invoices[0].subtotal_credits,
            usage["totals"]["credits"].as_i64().unwrap_or(-1),
            "{usage}"
        );
        // The month-end run finds it invoiced; the account that stays waits for it.
        let again = invoices::issue(&app.state, &account, period, now_ms())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(
            matches!(again, easel_db::InvoiceIssue::AlreadyIssued(_)),
            "{again:?}"
        );
        let count = db.count("SELECT COUNT(*) FROM invoices").await;
        assert_eq!(count, 1, "only the terminated account is invoiced early");
        app.stop().await;
    }
);
