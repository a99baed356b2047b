//! The operator console in a real browser (headless Chromium driven by playwright-core):
//! sign-in through the form, the session cookie's attributes as the browser stores them,
//! sign-out ending the session, and the Origin check refusing the same form served under
//! another origin. Screenshots land in `EASEL_TEST_SCREENSHOTS` for a person to look at.

use easel_test_utils::{Backend, TestDb};
use serde_json::Value;

use crate::developers::chromium;
use crate::support::TestApp;

/// Where playwright-core is installed: `EASEL_TEST_NODE_MODULES`. Never skipped.
fn node_modules() -> String {
    let dir = std::env::var("EASEL_TEST_NODE_MODULES").unwrap_or_default();
    assert!(
        std::path::Path::new(&dir).join("playwright-core").is_dir(),
        "playwright-core is required by the browser tests and is not under EASEL_TEST_NODE_MODULES ({dir:?}). \
         Run the tests through scripts/test, which installs it from npm."
    );
    dir
}

/// Runs a browser script (`tests/browser/NAME`) against `app` with `args` after the URL and
/// before the screenshot directory; returns the JSON object it printed.
pub(crate) async fn run_script(app: &TestApp, name: &str, args: &[&str]) -> Value {
    let chromium = chromium();
    let modules = node_modules();
    let shots = std::env::var("EASEL_TEST_SCREENSHOTS")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    std::fs::create_dir_all(&shots).unwrap_or_else(|e| panic!("{shots}: {e}"));
    let script = format!("{}/tests/browser/{name}", env!("CARGO_MANIFEST_DIR"));
    let run = tokio::process::Command::new("node")
        .arg(script)
        .arg(&app.url)
        .args(args)
        .arg(&shots)
        .env("EASEL_TEST_NODE_MODULES", &modules)
        .env("EASEL_TEST_CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("the browser script took more than 120 s"))
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(
        out.status.success(),
        "the browser script failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    eprintln!("browser saw {seen}; screenshots in {shots}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_and_out_in_headless_chromium() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let password = app.first.operator_password.clone();
    let seen = run_script(&app, "console_signin.cjs", &["admin", &password]).await;
    assert_eq!(seen["unsigned"], "/console/login", "{seen}");
    assert!(
        seen["wrong_password"]
            .as_str()
            .is_some_and(|t| t.contains("Wrong username or password")),
        "{seen}"
    );
    assert_eq!(seen["signed_in"], "/console", "{seen}");
    assert_eq!(
        seen["cookie"],
        serde_json::json!({"httpOnly": true, "sameSite": "Lax"}),
        "{seen}"
    );
    assert_eq!(seen["signed_out"], "/console/login", "{seen}");
    assert_eq!(seen["old_session"], "/console/login", "{seen}");
    assert_eq!(seen["cross_origin_status"], 403, "{seen}");
    assert_eq!(
        seen["a11y"],
        serde_json::json!({"login": [], "dashboard": []}),
        "axe-core: {seen}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_signs_up_and_makes_a_key_in_headless_chromium() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let args = ["maker@lumen.example", "velvet tractor sunrise 58"];
    let seen = run_script(&app, "console_signup.cjs", &args).await;
    assert_eq!(seen["signup_path"], "/console/signup", "{seen}");
    assert_eq!(seen["blocked_without_adult"], true, "{seen}");
    assert!(
        seen["welcome_title"]
            .as_str()
            .is_some_and(|t| t.contains("Lumen Labs")),
        "{seen}"
    );
    assert_eq!(
        seen["cookie"],
        serde_json::json!({"httpOnly": true, "sameSite": "Lax"}),
        "{seen}"
    );
    assert_eq!(seen["overview_has_testbar"], true, "{seen}");
    assert!(
        seen["live_blocked"]
            .as_str()
            .is_some_and(|t| t.contains("Live mode is not open yet")),
        "{seen}"
    );
    assert_eq!(seen["live_testbar"], false, "{seen}");
    assert_eq!(seen["key_rows"], 2, "{seen}");
    assert_eq!(seen["phone_overflow"], false, "{seen}");
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    // axe-core found no serious or critical violation on any page (and scanned them all).
    let scanned = seen["a11y"].as_object().cloned().unwrap_or_default();
    assert!(scanned.len() >= 20, "{seen}");
    // The generation the script made (and nothing else reached the API) is in the log.
    assert_eq!(seen["log_rows"], 1, "{seen}");
    assert_eq!(seen["webhook_secret_prefix"], "whsec_", "{seen}");
    for (page, violations) in &scanned {
        assert_eq!(violations, &serde_json::json!([]), "{page}: {violations}");
    }
    assert_eq!(seen["copied"], seen["created_secret"], "{seen}");
    assert_eq!(seen["usage_chart"], true, "{seen}");
    assert_eq!(seen["generation_status"], "succeeded", "{seen}");
    assert_eq!(seen["generation_rows"], 1, "{seen}");
    // The playground's generation, followed by the page's own refresh to its image.
    assert_eq!(seen["playground_status"], "succeeded", "{seen}");
    assert_eq!(seen["playground_image_width"], 256, "{seen}");
    // The generations just made (the key's and the playground's), in test mode: counted,
    // charged nothing.
    assert_eq!(seen["usage_by_model"], "sandbox-image 2 0 0.000", "{seen}");
    assert!(
        seen["usage_csv"]
            .as_str()
            .is_some_and(|h| h.starts_with("/console/usage.csv?start_date=")),
        "{seen}"
    );
    // Both secrets the browser read work at the API, with the scopes chosen.
    for (field, keys_read) in [("secret", 200), ("created_secret", 403)] {
        let secret = seen[field].as_str().unwrap_or_default();
        assert!(secret.starts_with("vs_test_"), "{seen}");
        app.get("/v1/models", secret).await.expect(200);
        assert_eq!(
            app.get("/v1/keys", secret).await.status,
            keys_read,
            "{field}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_buys_credits_through_stripe_in_headless_chromium() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (app, stripe) = crate::support::fake_stripe::app_with_stripe(&db, |_| {}).await;
    let (account_id, live) = app.account("payer@browser.example", "live").await;
    let owner = app.owner_id(&account_id).await;
    crate::console_pages::set_password(&app, &owner, "saffron glacier tunnel 82").await;
    let args = ["payer@browser.example", "saffron glacier tunnel 82"];
    let seen = run_script(&app, "console_billing.cjs", &args).await;
    assert_eq!(seen["available_before"], "0", "{seen}");
    assert!(
        seen["stripe_path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/c/pay/cs_test_")),
        "{seen}"
    );
    assert_eq!(seen["stripe_title"], "Pay €10.00", "{seen}");
    assert_eq!(seen["back"], "?checkout=success&session_id=…", "{seen}");
    assert!(
        seen["notice"]
            .as_str()
            .is_some_and(|n| n.contains("the payment went through")),
        "{seen}"
    );
    assert_eq!(seen["available_after"], "10000", "{seen}");
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["a11y"], serde_json::json!({"billing": []}), "{seen}");
    assert_eq!(stripe.deliveries(), [200]);
    let balance = app.get("/v1/balance", &live).await.expect(200).body;
    assert_eq!(balance["available"], 10_000, "{balance}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_invites_a_viewer_who_changes_nothing_in_headless_chromium() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mail_dir = db.dir.join("mail");
    let dir = mail_dir.display().to_string();
    let app = TestApp::start_with(&db, move |c| {
        c.mail.transport = easel_server::config::MailTransport::File;
        c.mail.dir = dir;
    })
    .await;
    let (account_id, _) = app.account("lead@members.example", "test").await;
    let owner = app.owner_id(&account_id).await;
    crate::console_pages::set_password(&app, &owner, "juniper comet anvil 46").await;
    let mail = mail_dir.display().to_string();
    let args = [
        "lead@members.example",
        "juniper comet anvil 46",
        mail.as_str(),
    ];
    let seen = run_script(&app, "console_members.cjs", &args).await;
    assert_eq!(
        seen["notice"], "Invitation sent to viewer@members.example as viewer.",
        "{seen}"
    );
    assert_eq!(seen["pending"], 1, "{seen}");
    assert!(
        seen["invite_title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Join Account of lead@members.example")),
        "{seen}"
    );
    assert!(
        seen["joined"]
            .as_str()
            .is_some_and(|t| t.starts_with("You joined")),
        "{seen}"
    );
    // A viewer gets no billing, keys or webhooks writes, no forms and no secrets anywhere.
    let forms = seen["viewer_forms"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(forms.len(), 10, "{seen}");
    for (page, found) in &forms {
        if page.ends_with(" secrets") {
            assert_eq!(found, 0, "{page}: {seen}");
        } else {
            assert_eq!(found, &serde_json::json!([]), "{page}: {seen}");
        }
    }
    for (page, violations) in seen["a11y"].as_object().cloned().unwrap_or_default() {
        assert_eq!(violations, serde_json::json!([]), "{page}: {violations}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_no_other_script_reaches_pass_axe_in_headless_chromium() {
    use serde_json::json;

    let db = TestDb::new(Backend::Sqlite).await;
    let mail_dir = db.dir.join("mail");
    let dir = mail_dir.display().to_string();
    let app = TestApp::start_with(&db, move |c| {
        crate::generations::with_test_models(c);
        c.mail.transport = easel_server::config::MailTransport::File;
        c.mail.dir = dir;
    })
    .await;
    let owner_email = "keeper@pages.example";
    let (account_id, live) = app.account(owner_email, "live").await;
    let owner = app.owner_id(&account_id).await;
    crate::console_pages::set_password(&app, &owner, "cobalt harbour ledger 64").await;
    let (reported, failed) = rows_to_show(&app, &account_id, &live).await;
    // Test mode: a webhook endpoint nothing listens at (port 9), for a failing delivery.
    let test_key = app.owner_key(&account_id, "test").await;
    let events = json!(["generation.succeeded"]);
    let (endpoint, _) =
        crate::webhooks::endpoint(&app, &test_key, "http://127.0.0.1:9/hook", events).await;
    let (in_force, next) = new_terms(&app, &db).await;

    let mail = mail_dir.display().to_string();
    let args = [
        owner_email,
        "cobalt harbour ledger 64",
        mail.as_str(),
        endpoint.as_str(),
        failed.as_str(),
        reported.as_str(),
    ];
    let seen = run_script(&app, "console_pages.cjs", &args).await;
    assert_eq!(seen["errors"], json!([]), "{seen}");
    // Every page the script photographed passed axe-core, and none was skipped.
    let scanned = seen["a11y"].as_object().cloned().unwrap_or_default();
    let mut pages: Vec<&str> = scanned.keys().map(String::as_str).collect();
    pages.sort_unstable();
    assert_eq!(
        pages,
        [
            "developer-end-users-struck",
            "developer-forgot-sent",
            "developer-generation-failed",
            "developer-generation-missing",
            "developer-overview-terms-notice",
            "developer-refused",
            "developer-reports-filed",
            "developer-reset",
            "developer-reset-done",
            "developer-terms",
            "developer-terms-accepted",
            "developer-verified",
            "developer-verify-sent",
            "developer-webhook-deliveries",
            "public-abuse-received",
        ],
        "{seen}"
    );
    for (page, violations) in &scanned {
        assert_eq!(violations, &json!([]), "{page}: {violations}");
    }
    // The abuse form took the report; the forgotten password was reset from the mailed link.
    let report_id = seen["report_id"].as_str().unwrap_or_default();
    assert!(report_id.starts_with("abr_"), "{seen}");
    assert_eq!(seen["forgot_sent"], true, "{seen}");
    assert_eq!(seen["reset_title"], "Password changed", "{seen}");
    // The terms in force come before any other page, until accepted through the form; the
    // next version is announced on every page meanwhile.
    assert_eq!(seen["after_sign_in"], "/console/terms", "{seen}");
    let title = format!("API terms, version {in_force}");
    assert_eq!(seen["terms_title"], title, "{seen}");
    assert_eq!(seen["keys_before_accepting"], "/console/terms", "{seen}");
    // The gate shows no sections: each would only lead back to it.
    assert_eq!(seen["nav_on_gate"], false, "{seen}");
    assert_eq!(seen["blocked_unticked"], true, "{seen}");
    assert_eq!(seen["after_accepting"], "/console", "{seen}");
    assert_eq!(
        seen["terms_accepted"], "You accepted this version.",
        "{seen}"
    );
    let notice = seen["terms_notice"].as_str().unwrap_or_default();
    assert!(
        notice.contains(&format!("(version {next}) take effect on {next}."))
            && notice.contains("Outputs are kept for 14 days."),
        "{seen}"
    );
    let user = app.state.store.get_user(&owner).await;
    let user = user.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(user.terms_version.as_deref(), Some(in_force.as_str()));
    // The pages with rows: the delivery, the failure, both reports, both strikes, the end user.
    assert_eq!(seen["delivery_rows"], 1, "{seen}");
    assert_eq!(seen["failed_status"], "failed", "{seen}");
    assert_eq!(seen["missing_status"], 404, "{seen}");
    assert_eq!(seen["report_rows"], 2, "{seen}");
    assert_eq!(seen["strike_rows"], 2, "{seen}");
    assert_eq!(seen["end_users"], json!(["player-7"]), "{seen}");
    assert_eq!(seen["refused_status"], 403, "{seen}");
    // A developer who signed up under the new terms is not asked again, and confirms the
    // e-mail address from the link sent again.
    assert_eq!(seen["newcomer_path"], "/console", "{seen}");
    let verified = seen["verified"].as_str().unwrap_or_default();
    assert!(
        verified.starts_with("Your e-mail address is confirmed"),
        "{seen}"
    );
    let newcomer = app.state.store.user_login("newcomer@pages.example").await;
    let newcomer = newcomer
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the newcomer has no login"))
        .user;
    assert!(newcomer.email_verified_at.is_some(), "{newcomer:?}");
    assert_eq!(newcomer.terms_version, Some(in_force));
    app.stop().await;
}

/// Live rows for the reports, end users and generation pages: a generation that succeeded
/// (reported once through the API, upheld as a strike; the script reports it again through
/// the form), one that failed, and an end user struck by moderation. Returns their ids.
async fn rows_to_show(app: &TestApp, account_id: &str, live: &str) -> (String, String) {
    use crate::generations::create;
    use serde_json::json;

    crate::generations::grant(app, account_id, 100_000).await;
    let made = |model: &'static str| {
        let body =
            json!({"model": model, "prompt": "a quiet harbour", "width": 256, "height": 256});
        async move {
            let res = create(app, live, body, Some(20)).await.expect(200).body;
            res["id"].as_str().unwrap_or_default().to_string()
        }
    };
    let reported = made("sandbox-image").await;
    let failed = made("broken-image").await;
    let fraud = json!({"model": "sandbox-image", "prompt": "a realistic fake passport for John Smith", "user": "player-7"});
    create(app, live, fraud, None)
        .await
        .expect_error(400, "content_policy_violation");
    let report =
        json!({"generation_id": reported, "category": "hate", "description": "a hateful symbol"});
    let upheld = app.call("POST", "/v1/abuse_reports", None, Some(report));
    let upheld = upheld.await.expect(201).body;
    let decision = easel_db::ReportDecision {
        resolution: easel_db::Resolution::Warned,
        note: Some("Warned; the image stays.".into()),
        policy: easel_db::StrikePolicy {
            threshold: 10,
            window_ms: 30 * 86_400_000,
            jobs: easel_db::SuspendJobs::Finish,
        },
    };
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
    let upheld_id = upheld["id"].as_str().unwrap_or_default();
    app.state
        .store
        .resolve_abuse_report(upheld_id, decision, audit)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (reported, failed)
}

/// Terms versions, each named after the day it takes effect (as the README's example): one
/// in force since yesterday (recorded as announced 40 days ago, as the terms tests do) and
/// the next announced now through the CLI, 31 days ahead. Returns both names.
async fn new_terms(app: &TestApp, db: &TestDb) -> (String, String) {
    let day = 86_400_000;
    let now = easel_core::time::now_ms();
    let in_force = crate::support::rfc3339(now - day)[..10].to_string();
    let effective = crate::support::rfc3339(now + 31 * day);
    let next = effective[..10].to_string();
    let version = easel_db::TermsVersion {
        version: in_force.clone(),
        effective_at: now - day,
        announced_at: now - 40 * day,
        summary: None,
    };
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
    app.state
        .store
        .announce_terms(version, audit)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let announce = [
        "terms",
        "announce",
        "--version",
        next.as_str(),
        "--effective",
        effective.as_str(),
        "--summary",
        "Outputs are kept for 14 days.",
    ];
    let out = crate::support::binary::admin_mailing(db, &announce);
    assert!(out.ok, "{}", out.stderr);
    (in_force, next)
}

/// The Plans page in Chromium, against the fake Stripe selling `starter` and `pro` (as the
/// plans tests sell them): subscribe through Checkout, switch, the billing portal and back;
/// then a failed renewal, and the past-due notice on the overview and on Plans. Every state
/// is photographed and passes axe-core; the compare table fits its card on a desktop and
/// scrolls inside it on a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_subscribes_switches_and_sees_a_failed_renewal_in_headless_chromium() {
    use serde_json::json;

    let db = TestDb::new(Backend::Sqlite).await;
    let (app, stripe) = crate::support::fake_stripe::app_with_stripe(&db, |c| {
        for (plan, price, eur, credits) in [
            ("starter", "price_1Starter", 19, 5_000),
            ("pro", "price_1Pro", 49, 20_000),
        ] {
            let p = c.plans.get_mut(plan);
            let p = p.unwrap_or_else(|| panic!("no plan {plan} in the default config"));
            p.stripe_price = Some(price.into());
            p.price_eur_month = Some(eur);
            p.monthly_credits = credits;
        }
    })
    .await;
    stripe.add_price("price_1Starter", 1900);
    stripe.add_price("price_1Pro", 4900);
    let (email, password) = ("owner@plans-browser.example", "copper meadow beacon 37");
    let (account_id, live) = app.account(email, "live").await;
    let owner = app.owner_id(&account_id).await;
    crate::console_pages::set_password(&app, &owner, password).await;

    let seen = run_script(&app, "console_plans.cjs", &["subscribe", email, password]).await;
    assert_eq!(seen["errors"], json!([]), "{seen}");
    // Free, with a Subscribe button on each sold plan.
    let free = &seen["free"];
    assert_eq!(free["heading"], "Your plan: free", "{seen}");
    assert_eq!(
        free["rows"],
        json!({
            "free": "Current plan",
            "starter": "subscribe-starter: Subscribe",
            "pro": "subscribe-pro: Subscribe",
            "enterprise": "Contact us",
        }),
        "{seen}"
    );
    assert_eq!(free["portal"], json!(null), "{seen}");
    // Checkout on Stripe's page, back to Plans, and the plan once the webhooks applied it.
    assert_eq!(seen["stripe_title"], "Pay €49.00", "{seen}");
    assert_eq!(seen["back"], "?checkout=success", "{seen}");
    let notice = seen["checkout_notice"].as_str().unwrap_or_default();
    assert!(notice.contains("the subscription is paid"), "{seen}");
    assert_eq!(seen["plan_after_paying"], "Your plan: pro", "{seen}");
    let pro = &seen["pro"];
    let state = pro["state"].as_str().unwrap_or_default();
    assert!(state.contains("Renews on"), "{seen}");
    assert_eq!(
        pro["rows"],
        json!({
            "free": "switch-free: Switch at period end",
            "starter": "switch-starter: Switch now",
            "pro": "Current plan",
            "enterprise": "Contact us",
        }),
        "{seen}"
    );
    assert_eq!(pro["portal"], "Manage billing on Stripe", "{seen}");
    // Switched at once; the plan follows Stripe's confirmation.
    assert_eq!(seen["switched_to"], "?changed=1", "{seen}");
    assert_eq!(seen["plan_after_switching"], "Your plan: starter", "{seen}");
    assert_eq!(
        seen["starter"]["rows"]["pro"], "switch-pro: Switch now",
        "{seen}"
    );
    // The billing portal, for the customer Checkout made, and its way back.
    let portal = seen["portal_path"].as_str().unwrap_or_default();
    assert!(portal.starts_with("/p/session/"), "{seen}");
    let customer = stripe.subscription_of(&account_id).unwrap_or_default()["customer"].clone();
    let title = seen["portal_title"].as_str().unwrap_or_default();
    assert_eq!(
        Some(title),
        customer
            .as_str()
            .map(|c| format!("Billing portal of {c}"))
            .as_deref(),
        "{seen}"
    );
    assert_eq!(seen["portal_back"], "/console/plans", "{seen}");
    assert_eq!(seen["plan_after_portal"], "Your plan: starter", "{seen}");
    // The table fits its card; its buttons sit in the middle of their rows, each label on
    // one line.
    for view in ["free", "pro", "starter"] {
        assert_eq!(seen[view]["table_overflow"], false, "{view}: {seen}");
        assert_eq!(seen[view]["page_overflow"], false, "{view}: {seen}");
        let off = seen[view]["button_off_middle"].as_i64();
        assert!(off.is_some_and(|px| px <= 4), "{view}: {seen}");
        let height = seen[view]["button_height"].as_i64();
        assert!(height.is_some_and(|px| px < 40), "{view}: {seen}");
    }
    assert_eq!(
        seen["a11y"],
        json!({"plans-free": [], "plans-pro": [], "plans-starter": []}),
        "axe-core: {seen}"
    );
    let account = app.get("/v1/account", &live).await.expect(200).body;
    assert_eq!(account["plan"], "starter", "{account}");
    assert_eq!(stripe.portals().len(), 1);
    assert!(
        stripe.deliveries().iter().all(|s| *s == 200),
        "{:?}",
        stripe.deliveries()
    );

    // A renewal fails: both pages say so, and when the account would be suspended.
    let sub = stripe.subscription_of(&account_id).unwrap_or_default()["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no subscription for {account_id}"))
        .to_string();
    stripe.fail_renewal(&sub).await;
    let seen = run_script(&app, "console_plans.cjs", &["past-due", email, password]).await;
    assert_eq!(seen["errors"], json!([]), "{seen}");
    assert_eq!(seen["overview_path"], "/console", "{seen}");
    for page in ["overview_past_due", "plans_past_due"] {
        let notice = seen[page].as_str().unwrap_or_default();
        assert!(
            notice.contains("payment failed on")
                && notice.contains("Update the payment method before"),
            "{page}: {seen}"
        );
    }
    let view = &seen["past_due_view"];
    assert_eq!(view["heading"], "Your plan: starter", "{seen}");
    assert_eq!(view["table_overflow"], false, "{seen}");
    assert_eq!(view["page_overflow"], false, "{seen}");
    // On a phone only the table's own box scrolls, not the page (a screen-reader label in
    // the table, absolutely positioned, once widened the page past the scrolling box).
    assert_eq!(seen["phone_view"]["table_overflow"], true, "{seen}");
    assert_eq!(seen["phone_view"]["main_overflow"], false, "{seen}");
    assert_eq!(seen["phone_view"]["page_overflow"], false, "{seen}");
    let height = seen["phone_view"]["button_height"].as_i64();
    assert!(height.is_some_and(|px| px < 40), "{seen}");
    assert_eq!(
        seen["a11y"],
        json!({"overview-past-due": [], "plans-past-due": [], "plans-phone": []}),
        "axe-core: {seen}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_exports_downloads_once_and_cancels_an_erasure_in_headless_chromium() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(&db).await;
    let (account_id, _) = app.account("keeper@rights.example", "live").await;
    let owner = app.owner_id(&account_id).await;
    crate::console_pages::set_password(&app, &owner, "amber kettle north 58").await;
    let args = [
        "keeper@rights.example",
        "amber kettle north 58",
        account_id.as_str(),
    ];
    let seen = run_script(&app, "console_data_rights.cjs", &args).await;
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    assert!(
        seen["asked"]
            .as_str()
            .is_some_and(|t| t.contains("being prepared")),
        "{seen}"
    );
    assert_eq!(seen["status_ready"], "ready", "{seen}");
    assert_eq!(seen["gzip"], true, "{seen}");
    assert!(seen["downloaded_bytes"].as_u64() > Some(100), "{seen}");
    assert!(
        seen["download_name"]
            .as_str()
            .is_some_and(|n| n.starts_with("easel-export-exp_") && n.ends_with(".tar.gz")),
        "{seen}"
    );
    // Downloaded once: no link any more.
    assert_eq!(seen["status_after"], "downloaded", "{seen}");
    assert_eq!(seen["links_after"], 0, "{seen}");
    assert!(
        seen["erasure"]
            .as_str()
            .is_some_and(|t| t.contains("will be erased on")),
        "{seen}"
    );
    assert!(
        seen["banner"]
            .as_str()
            .is_some_and(|t| t.contains("suspended")),
        "{seen}"
    );
    assert!(
        seen["canceled"]
            .as_str()
            .is_some_and(|t| t.contains("canceled")),
        "{seen}"
    );
    assert_eq!(seen["form_back"], true, "{seen}");
    let state = app
        .state
        .store
        .get_account(&account_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state.state, easel_core::account::AccountState::Active);
    for (page, violations) in seen["a11y"].as_object().cloned().unwrap_or_default() {
        assert_eq!(violations, serde_json::json!([]), "{page}: {violations}");
    }
    app.stop().await;
}
