//! Plans sold as Stripe subscriptions, against a fake Stripe that speaks its wire format, on
//! both databases: subscribing through Checkout applies the plan and its monthly credits
//! (once per invoice, however often Stripe redelivers), switching, downgrading at the
//! period's end, keeping the plan and the billing portal go through Stripe and its
//! webhooks; a failed renewal is noticed three times and suspends the account once after
//! the grace period, and the payment succeeding reopens it; roles without billing rights
//! see the plans but change nothing; odd or foreign events change nothing.

use std::path::Path;

use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::console_pages::{owner_session, set_password};
use crate::support::console::{Console, Page, Session};
use crate::support::fake_stripe::{FakeStripe, app_with_stripe, pay_as_member, stripe_link};
use crate::support::{TestApp, eventually, mails};

const DAY_MS: i64 = 86_400_000;

/// Sells `starter` (€19, 5,000 credits a month) and `pro` (€49, 20,000) through Stripe;
/// `enterprise` (not sold) includes 1,000 a month by the calendar.
fn sell_plans(c: &mut easel_server::config::Config) {
    if let Some(p) = c.plans.get_mut("enterprise") {
        p.monthly_credits = 1_000;
    }
    for (plan, price, eur, credits) in [
        ("starter", "price_1Starter", 19, 5_000),
        ("pro", "price_1Pro", 49, 20_000),
    ] {
        if let Some(p) = c.plans.get_mut(plan) {
            p.stripe_price = Some(price.into());
            p.price_eur_month = Some(eur);
            p.monthly_credits = credits;
        }
    }
}

async fn start(db: &TestDb, mail_dir: Option<&Path>) -> (TestApp, FakeStripe) {
    let mail_dir = mail_dir.map(|d| d.display().to_string());
    let (app, stripe) = app_with_stripe(db, move |c| {
        sell_plans(c);
        if let Some(dir) = mail_dir {
            c.mail.transport = easel_server::config::MailTransport::File;
            c.mail.dir = dir;
        }
    })
    .await;
    stripe.add_price("price_1Starter", 1900);
    stripe.add_price("price_1Pro", 4900);
    (app, stripe)
}

async fn post(console: &Console, session: &Session, path: &str, plan: &str) -> Page {
    console
        .post(
            path,
            &[session.cookie.as_str()],
            &[],
            &[("csrf", session.csrf.as_str()), ("plan", plan)],
        )
        .await
}

async fn plan_of(app: &TestApp, key: &str) -> String {
    app.get("/v1/account", key).await.expect(200).body["plan"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn available(app: &TestApp, key: &str) -> i64 {
    app.get("/v1/balance", key).await.expect(200).body["available"]
        .as_i64()
        .unwrap_or(-1)
}

/// Subscribes the signed-in owner's account to `plan` and pays on Stripe's page; returns
/// the subscription's id once the plan applies.
async fn subscribe_and_pay(
    app: &TestApp,
    stripe: &FakeStripe,
    console: &Console,
    owner: &Session,
    account_id: &str,
    key: &str,
    plan: &str,
) -> String {
    let handed = post(console, owner, "/console/plans/subscribe", plan).await;
    assert_eq!(handed.header("cache-control"), Some("no-store"));
    let pay_page = stripe_link(&handed);
    let back = pay_as_member(&pay_page).await;
    assert_eq!(back, format!("{}/console/plans?checkout=success", app.url));
    let applied = eventually(10_000, || async { plan_of(app, key).await == plan }).await;
    assert!(applied, "plan {}", plan_of(app, key).await);
    stripe
        .subscription_of(account_id)
        .and_then(|s| s["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no subscription"))
}

both_backends!(
    a_plan_is_bought_renewed_switched_and_ended_through_stripe,
    |db: TestDb| async move {
        let (app, stripe) = start(&db, None).await;
        let (account_id, live) = app.account("owner@plans.example", "live").await;
        let console = Console::new(&app.url);
        let owner = owner_session(
            &app,
            &console,
            &account_id,
            "owner@plans.example",
            "velvet harbour signal 58",
        )
        .await;
        let cookies = [owner.cookie.as_str()];
        let page = console.get("/console/plans", &cookies).await;
        assert_eq!(page.status, 200, "{}", page.html);
        for shown in [
            "id=\"subscribe-pro\"",
            "id=\"subscribe-starter\"",
            "€49 a month",
            "Your plan: free",
            "Contact us",
        ] {
            assert!(page.html.contains(shown), "{shown}: {}", page.html);
        }
        assert!(!page.html.contains("id=\"portal\""), "{}", page.html);
        // Plans that are not sold, or do not exist, never reach Stripe.
        for plan in ["enterprise", "free", "platinum", ""] {
            let refused = post(&console, &owner, "/console/plans/subscribe", plan).await;
            assert_eq!(refused.status, 400, "{plan}: {}", refused.html);
            assert!(
                refused.html.contains("cannot be bought here"),
                "{}",
                refused.html
            );
        }
        assert!(stripe.forms().is_empty());

        let sub =
            subscribe_and_pay(&app, &stripe, &console, &owner, &account_id, &live, "pro").await;
        let forms = stripe.forms();
        let form: std::collections::HashMap<&str, &str> = forms[0]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(form.get("mode"), Some(&"subscription"));
        assert_eq!(form.get("line_items[0][price]"), Some(&"price_1Pro"));
        assert_eq!(
            form.get("subscription_data[metadata][account_id]"),
            Some(&account_id.as_str())
        );
        assert_eq!(form.get("client_reference_id"), Some(&account_id.as_str()));
        assert_eq!(form.get("customer_email"), Some(&"owner@plans.example"));
        // The first invoice brought the plan's monthly credits, once.
        let credited = eventually(5_000, || async { available(&app, &live).await == 20_000 }).await;
        assert!(credited, "available {}", available(&app, &live).await);
        assert!(
            stripe.deliveries().iter().all(|s| *s == 200),
            "{:?}",
            stripe.deliveries()
        );
        let page = console.get("/console/plans", &cookies).await;
        for shown in [
            "Your plan: pro",
            "Renews on",
            "id=\"switch-starter\"",
            "id=\"switch-free\"",
            "id=\"portal\"",
        ] {
            assert!(page.html.contains(shown), "{shown}: {}", page.html);
        }
        // A sold plan's credits come with its invoices, never by the calendar.
        let by_calendar = easel_server::services::credits::grant_plan_allowances(
            &app.state,
            easel_core::time::now_ms() + 31 * DAY_MS,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(by_calendar, 0);
        assert_eq!(available(&app, &live).await, 20_000);
        // A second subscription would bill twice.
        let twice = post(&console, &owner, "/console/plans/subscribe", "starter").await;
        assert_eq!(twice.status, 409, "{}", twice.html);
        assert!(
            twice.html.contains("already has a subscription"),
            "{}",
            twice.html
        );

        // A renewal credits again; the same invoice redelivered does not.
        let (invoice, status) = stripe.renew(&sub).await;
        assert_eq!(status, 200);
        assert_eq!(available(&app, &live).await, 40_000);
        assert_eq!(
            stripe.send_event("invoice.paid", invoice.clone()).await,
            200
        );
        assert_eq!(
            stripe
                .send_event("invoice.payment_succeeded", invoice)
                .await,
            200
        );
        assert_eq!(available(&app, &live).await, 40_000);

        // Switching applies when Stripe confirms it; a proration invoice brings no credits.
        let switched = post(&console, &owner, "/console/plans/change", "starter").await;
        assert_eq!(switched.status, 303, "{}", switched.html);
        assert_eq!(switched.location(), "/console/plans?changed=1");
        let applied = eventually(5_000, || async { plan_of(&app, &live).await == "starter" }).await;
        assert!(applied);
        let now_sub = stripe.subscription_of(&account_id).unwrap_or_default();
        assert_eq!(now_sub["items"]["data"][0]["price"]["id"], "price_1Starter");
        assert_eq!(available(&app, &live).await, 40_000);

        // Back to free when the period ends: the plan stays until then; it can be kept.
        let down = post(&console, &owner, "/console/plans/change", "free").await;
        assert_eq!(down.status, 303, "{}", down.html);
        let ending = eventually(5_000, || async {
            console
                .get("/console/plans", &cookies)
                .await
                .html
                .contains("id=\"resume\"")
        })
        .await;
        assert!(ending);
        let page = console.get("/console/plans", &cookies).await;
        assert!(page.html.contains("It ends on"), "{}", page.html);
        assert_eq!(plan_of(&app, &live).await, "starter");
        let kept = post(&console, &owner, "/console/plans/resume", "").await;
        assert_eq!(kept.status, 303, "{}", kept.html);
        let renewing = eventually(5_000, || async {
            console
                .get("/console/plans", &cookies)
                .await
                .html
                .contains("id=\"switch-free\"")
        })
        .await;
        assert!(renewing);

        // The billing portal opens for the account's Stripe customer.
        let portal = post(&console, &owner, "/console/plans/portal", "").await;
        let portal_url = stripe_link(&portal);
        assert!(
            portal_url.starts_with(&format!("{}/p/session/", stripe.url)),
            "{portal_url}"
        );
        let customer = now_sub["customer"].as_str().unwrap_or_default().to_string();
        assert_eq!(
            stripe.portals(),
            [(customer.clone(), format!("{}/console/plans", app.url))]
        );

        // The subscription ends: back to the default plan; subscribing again reuses the
        // Stripe customer.
        assert_eq!(stripe.end(&sub).await, 200);
        assert_eq!(plan_of(&app, &live).await, "free");
        let page = console.get("/console/plans", &cookies).await;
        assert!(page.html.contains("id=\"subscribe-pro\""), "{}", page.html);
        let again = post(&console, &owner, "/console/plans/subscribe", "pro").await;
        stripe_link(&again);
        let forms = stripe.forms();
        assert!(
            forms
                .iter()
                .any(|f| f.contains(&("customer".into(), customer.clone()))
                    && !f.iter().any(|(k, _)| k == "customer_email")),
            "{forms:?}"
        );

        // A viewer sees the plans and changes nothing.
        let (viewer_id, _) = app
            .member_key(&account_id, "viewer@plans.example", "viewer", "live")
            .await;
        set_password(&app, &viewer_id, "amber falcon meadow 21").await;
        let viewer = console
            .sign_in("viewer@plans.example", "amber falcon meadow 21")
            .await;
        let page = console
            .get("/console/plans", &[viewer.cookie.as_str()])
            .await;
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(
            page.html
                .contains("Owners and admins of the account change its plan"),
            "{}",
            page.html
        );
        assert!(!page.html.contains("id=\"subscribe-pro\""), "{}", page.html);
        for path in [
            "/console/plans/subscribe",
            "/console/plans/change",
            "/console/plans/portal",
        ] {
            let refused = post(&console, &viewer, path, "pro").await;
            assert_eq!(refused.status, 403, "{path}: {}", refused.html);
        }
        let audit = console.get("/console/audit", &cookies).await;
        for action in [
            "subscription.checkout_created",
            "subscription.change_requested",
            "account.plan_changed",
        ] {
            assert!(audit.html.contains(action), "{action}: {}", audit.html);
        }
        app.stop().await;
    }
);

both_backends!(
    a_failed_renewal_is_noticed_then_suspends_once_and_paying_reopens,
    |db: TestDb| async move {
        let mail_dir = db.dir.join("mail");
        let (app, stripe) = start(&db, Some(&mail_dir)).await;
        let email = "payer@plans.example";
        let (account_id, live) = app.account(email, "live").await;
        let console = Console::new(&app.url);
        let owner = owner_session(
            &app,
            &console,
            &account_id,
            email,
            "cobalt river lantern 90",
        )
        .await;
        let sub =
            subscribe_and_pay(&app, &stripe, &console, &owner, &account_id, &live, "pro").await;
        assert!(eventually(5_000, || async { available(&app, &live).await == 20_000 }).await);

        let invoice = stripe.fail_renewal(&sub).await;
        let row = app
            .state
            .store
            .get_subscription(&account_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no subscription"));
        let since = row
            .past_due_since
            .unwrap_or_else(|| panic!("not past due: {row:?}"));
        assert_eq!(row.status, "past_due");
        let overview = console.get("/console", &[owner.cookie.as_str()]).await;
        assert!(
            overview.html.contains("id=\"past-due\""),
            "{}",
            overview.html
        );
        assert!(
            overview.html.contains("Update the payment method before"),
            "{}",
            overview.html
        );
        // Still working during the grace period; no credits for the unpaid invoice.
        assert_eq!(available(&app, &live).await, 20_000);

        let sweep = |now: i64| {
            let state = app.state.clone();
            async move {
                let mut last = i64::MIN / 2;
                easel_server::services::subscriptions::sweep(&state, &mut last, now).await;
            }
        };
        let notices = || mails(&mail_dir, email, "Payment failed");
        sweep(since).await;
        sweep(since + 1000).await;
        assert_eq!(notices(), 1, "one notice at once, not one per sweep");
        sweep(since + 2 * DAY_MS).await;
        assert_eq!(notices(), 1);
        sweep(since + 3 * DAY_MS).await;
        assert_eq!(notices(), 2);
        sweep(since + 6 * DAY_MS).await;
        sweep(since + 6 * DAY_MS + 1).await;
        assert_eq!(notices(), 3);
        assert_eq!(app.get("/v1/balance", &live).await.status, 200);
        sweep(since + 7 * DAY_MS).await;
        app.get("/v1/balance", &live)
            .await
            .expect_error(403, "account_suspended");
        sweep(since + 8 * DAY_MS).await;
        assert_eq!(mails(&mail_dir, email, "Account suspended"), 1);
        assert_eq!(notices(), 3);
        let overview = console.get("/console", &[owner.cookie.as_str()]).await;
        assert!(
            overview.html.contains("so the account is suspended"),
            "{}",
            overview.html
        );

        // Stripe's retry succeeds: the account reopens and the period's credits arrive.
        assert_eq!(stripe.pay_invoice(&sub, &invoice).await, 200);
        assert_eq!(app.get("/v1/balance", &live).await.status, 200);
        assert_eq!(available(&app, &live).await, 40_000);
        let overview = console.get("/console", &[owner.cookie.as_str()]).await;
        assert!(
            !overview.html.contains("id=\"past-due\""),
            "{}",
            overview.html
        );
        sweep(since + 9 * DAY_MS).await;
        assert_eq!(app.get("/v1/balance", &live).await.status, 200);
        app.stop().await;
    }
);

/// An event as Stripe would sign it, created at `created` (Unix seconds).
fn event(kind: &str, created: i64, object: Value) -> Value {
    json!({
        "id": format!("evt_1{:024x}", rand::random::<u128>() >> 32),
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "data": {"object": object},
        "livemode": false,
        "type": kind,
    })
}

both_backends!(
    odd_late_and_foreign_subscription_events_change_nothing,
    |db: TestDb| async move {
        let (app, _stripe) = start(&db, None).await;
        let (account_id, live) = app.account("wire@plans.example", "live").await;
        let deliver = |e: Value| {
            let app = &app;
            async move { crate::stripe::deliver_signed(app, &e).await }
        };
        let t = crate::stripe::now();
        // The pre-2025 shape: `subscription` and `subscription_details` on the invoice,
        // `price.id` on its lines.
        let old_shape = json!({
            "id": "in_1OldShape", "object": "invoice", "billing_reason": "subscription_create",
            "customer": "cus_Old", "subscription": "sub_1Old", "status": "paid",
            "subscription_details": {"metadata": {"account_id": account_id, "plan": "pro"}},
            "lines": {"data": [{"price": {"id": "price_1Starter"}}]},
        });
        let res = deliver(event("invoice.paid", t, old_shape))
            .await
            .expect(200);
        assert_eq!(res.body["credited"], 5_000, "{}", res.body);
        assert_eq!(
            plan_of(&app, &live).await,
            "starter",
            "the price wins over metadata"
        );
        // An update from before the last applied event is late: nothing changes.
        let sub = |status: &str, price: &str| {
            json!({
                "id": "sub_1Old", "object": "subscription", "customer": "cus_Old", "status": status,
                "cancel_at_period_end": false, "current_period_end": t + 86_400,
                "metadata": {"account_id": account_id},
                "items": {"data": [{"id": "si_1", "price": {"id": price}}]},
            })
        };
        deliver(event(
            "customer.subscription.updated",
            t - 60,
            sub("active", "price_1Pro"),
        ))
        .await
        .expect(200);
        assert_eq!(plan_of(&app, &live).await, "starter");
        deliver(event(
            "customer.subscription.updated",
            t + 1,
            sub("active", "price_1Pro"),
        ))
        .await
        .expect(200);
        assert_eq!(plan_of(&app, &live).await, "pro");
        // A first invoice that fails is Checkout's business (no subscription yet): nothing
        // becomes past due.
        let first_failed = json!({
            "id": "in_1FirstFail", "object": "invoice", "billing_reason": "subscription_create",
            "customer": "cus_Old", "status": "open",
            "parent": {"subscription_details": {"subscription": "sub_1Old", "metadata": {"account_id": account_id}}},
        });
        deliver(event("invoice.payment_failed", t + 2, first_failed))
            .await
            .expect(200);
        let row = app
            .state
            .store
            .get_subscription(&account_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no subscription"));
        assert_eq!(row.past_due_since, None, "{row:?}");
        // Subscriptions and invoices Easel did not create are not its business.
        let foreign = json!({
            "id": "in_1Foreign", "object": "invoice", "billing_reason": "subscription_cycle",
            "customer": "cus_X", "status": "paid",
            "parent": {"subscription_details": {"subscription": "sub_1X", "metadata": {}}},
        });
        let res = deliver(event("invoice.paid", t + 2, foreign))
            .await
            .expect(200);
        assert_eq!(res.body["credited"], 0);
        // Malformed ids and missing times are refused, naming the field.
        let mut bad = sub("active", "price_1Pro");
        bad["id"] = json!("not-a-subscription");
        deliver(event("customer.subscription.updated", t + 3, bad))
            .await
            .expect_error(400, "stripe_event_invalid");
        deliver(event(
            "customer.subscription.updated",
            0,
            sub("active", "price_1Pro"),
        ))
        .await
        .expect_error(400, "stripe_event_invalid");
        let session = json!({
            "id": "cs_1", "object": "checkout.session", "mode": "subscription",
            "payment_status": "paid", "client_reference_id": account_id,
            "customer": "cus_Old", "subscription": null,
        });
        deliver(event("checkout.session.completed", t + 3, session))
            .await
            .expect_error(400, "stripe_event_invalid");
        // An unknown account is 404 (Stripe retries; the operator sees it).
        let mut stray = sub("active", "price_1Pro");
        stray["metadata"]["account_id"] = json!("acct_doesnotexist");
        stray["id"] = json!("sub_1Stray");
        deliver(event("customer.subscription.updated", t + 3, stray))
            .await
            .expect_error(404, "resource_missing");
        // A terminated account takes nothing, and Stripe is told the event arrived.
        app.state
            .store
            .change_account_state(
                &account_id,
                easel_db::StateChange::Terminate,
                easel_db::AuditContext::new(easel_core::audit::Actor::system(), None),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        deliver(event(
            "customer.subscription.deleted",
            t + 4,
            sub("canceled", "price_1Pro"),
        ))
        .await
        .expect(200);
        app.stop().await;
    }
);
