//! "Buy credits" in the console, against a fake Stripe that speaks Stripe's wire format, on
//! both databases: the Checkout Session carries the account, the amount and the credits;
//! paying sends the member back and the webhook credits the live balance once; bad amounts,
//! test mode, roles without billing rights and Stripe's errors are refused with a page that
//! says why, and nothing is created or charged.

use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use crate::console_pages::{owner_session, set_password};
use crate::support::console::{Console, Page};
use crate::support::fake_stripe::{app_with_stripe, pay_as_member, stripe_link};
use crate::support::{TestApp, eventually};

async fn buy(console: &Console, cookies: &[&str], csrf: &str, eur: &str) -> Page {
    console
        .post(
            "/console/billing/checkout",
            cookies,
            &[],
            &[("csrf", csrf), ("eur", eur)],
        )
        .await
}

async fn live_available(app: &TestApp, key: &str) -> i64 {
    app.get("/v1/balance", key).await.expect(200).body["available"]
        .as_i64()
        .unwrap_or(-1)
}

both_backends!(
    credits_are_bought_through_stripe_checkout,
    |db: TestDb| async move {
        let (app, stripe) = app_with_stripe(&db, |_| {}).await;
        let (account_id, live) = app.account("buyer@checkout.example", "live").await;
        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "buyer@checkout.example",
            "copper kettle horizon 73",
        )
        .await;
        let test_cookies = [session.cookie.as_str()];
        // Test mode: the offer says to switch, and a forged form is refused.
        let billing = console.get("/console/billing", &test_cookies).await;
        assert!(
            billing.html.contains("Switch to live mode to buy"),
            "{}",
            billing.html
        );
        let refused = buy(&console, &test_cookies, &session.csrf, "10").await;
        assert_eq!(refused.status, 400, "{}", refused.html);
        assert!(
            refused.html.contains("switch to live mode"),
            "{}",
            refused.html
        );

        let mode = console.switch_mode(&session, "live").await;
        let cookies = [session.cookie.as_str(), mode.as_str()];
        let billing = console.get("/console/billing", &cookies).await;
        assert!(billing.html.contains("id=\"buy-50\""), "{}", billing.html);
        assert!(
            billing.html.contains("id=\"available\">0<"),
            "{}",
            billing.html
        );

        // Amounts outside the range, or not numbers, never reach Stripe.
        for (eur, says) in [
            ("3", "between €5 and €5000"),
            ("5001", "between €5"),
            ("ten", "whole euros"),
            ("", "whole euros"),
        ] {
            let page = buy(&console, &cookies, &session.csrf, eur).await;
            assert_eq!(page.status, 400, "{eur}: {}", page.html);
            assert!(page.html.contains(says), "{eur}: {}", page.html);
        }
        assert!(stripe.forms().is_empty());

        // Stripe failing (its own error envelope, a 5xx, a bad key) is a 502 page.
        stripe.fail_next(
            500,
            json!({"error": {"type": "api_error", "message": "An unknown error occurred"}}),
        );
        let down = buy(&console, &cookies, &session.csrf, "50").await;
        assert_eq!(down.status, 502, "{}", down.html);
        assert!(down.html.contains("nothing was charged"), "{}", down.html);
        stripe.fail_next(401, json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****"}}));
        assert_eq!(
            buy(&console, &cookies, &session.csrf, "50").await.status,
            502
        );

        let handed = buy(&console, &cookies, &session.csrf, "50").await;
        let pay_page = stripe_link(&handed);
        assert!(
            pay_page.starts_with(&format!("{}/c/pay/cs_test_", stripe.url)),
            "{pay_page}"
        );
        assert_eq!(handed.header("cache-control"), Some("no-store"));
        let forms = stripe.forms();
        assert_eq!(forms.len(), 1, "{forms:?}");
        let form: std::collections::HashMap<&str, &str> = forms[0]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(form.get("mode"), Some(&"payment"));
        assert_eq!(
            form.get("line_items[0][price_data][currency]"),
            Some(&"eur")
        );
        assert_eq!(
            form.get("line_items[0][price_data][unit_amount]"),
            Some(&"5000")
        );
        assert_eq!(form.get("line_items[0][quantity]"), Some(&"1"));
        assert_eq!(form.get("client_reference_id"), Some(&account_id.as_str()));
        assert_eq!(form.get("metadata[account_id]"), Some(&account_id.as_str()));
        assert_eq!(form.get("metadata[credits]"), Some(&"50000"));
        assert_eq!(form.get("customer_email"), Some(&"buyer@checkout.example"));
        let success = format!(
            "{}/console/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
            app.url
        );
        assert_eq!(form.get("success_url"), Some(&success.as_str()));

        // Paying: Stripe sends the member back, then its webhook credits the live balance.
        let back = pay_as_member(&pay_page).await;
        let session_id = pay_page.rsplit('/').next().unwrap_or_default();
        assert!(
            back.ends_with(&format!("checkout=success&session_id={session_id}")),
            "{back}"
        );
        let returned = console
            .get(back.trim_start_matches(&app.url), &cookies)
            .await;
        assert!(
            returned.html.contains("id=\"checkout-notice\""),
            "{}",
            returned.html
        );
        let credited = eventually(10_000, || async {
            live_available(&app, &live).await == 50_000
        })
        .await;
        assert!(credited, "balance {}", live_available(&app, &live).await);
        assert_eq!(stripe.deliveries(), [200]);
        let billing = console.get("/console/billing", &cookies).await;
        assert!(
            billing.html.contains("id=\"available\">50000<"),
            "{}",
            billing.html
        );
        assert!(
            billing.html.contains(session_id),
            "the ledger names the session: {}",
            billing.html
        );
        let audit = console.get("/console/audit", &cookies).await;
        assert!(
            audit.html.contains("credits.checkout_created"),
            "{}",
            audit.html
        );

        // A developer may see billing but not buy.
        let (dev_id, _) = app
            .member_key(&account_id, "dev@checkout.example", "developer", "live")
            .await;
        set_password(&app, &dev_id, "granite orchard pilot 35").await;
        let dev = console
            .sign_in("dev@checkout.example", "granite orchard pilot 35")
            .await;
        let dev_mode = console.switch_mode(&dev, "live").await;
        let dev_cookies = [dev.cookie.as_str(), dev_mode.as_str()];
        let page = console.get("/console/billing", &dev_cookies).await;
        assert!(
            page.html
                .contains("Owners and admins of the account buy credits"),
            "{}",
            page.html
        );
        let refused = buy(&console, &dev_cookies, &dev.csrf, "50").await;
        assert_eq!(refused.status, 403, "{}", refused.html);
        assert_eq!(stripe.forms().len(), 1);
        app.stop().await;
    }
);

both_backends!(
    buying_is_hidden_until_stripe_is_set_up,
    |db: TestDb| async move {
        // A webhook secret alone is not enough: without the API key no session can be made.
        let app = TestApp::start_with(&db, |c| {
            c.payments.stripe.webhook_secret = crate::stripe::SECRET.into();
        })
        .await;
        let (account_id, _) = app.account("plain@checkout.example", "live").await;
        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "plain@checkout.example",
            "marble lantern river 64",
        )
        .await;
        let mode = console.switch_mode(&session, "live").await;
        let cookies = [session.cookie.as_str(), mode.as_str()];
        let billing = console.get("/console/billing", &cookies).await;
        assert_eq!(billing.status, 200, "{}", billing.html);
        assert!(!billing.html.contains("id=\"buy\""), "{}", billing.html);
        let refused = buy(&console, &cookies, &session.csrf, "50").await;
        assert_eq!(refused.status, 503, "{}", refused.html);
        assert!(refused.html.contains("not set up"), "{}", refused.html);
        app.stop().await;
    }
);
