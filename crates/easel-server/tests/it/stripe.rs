//! Credit top-ups through Stripe's webhook: deliveries signed the way Stripe signs them,
//! credited exactly once per Checkout Session whatever is redelivered or replayed, and
//! every forged, stale or unusable delivery refused with a 4xx and nothing written.

use easel_db::StateChange;
use easel_server::services::accounts;
use easel_test_utils::{TestDb, both_backends};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{Res, TestApp};

/// The webhook endpoint.
pub const PATH: &str = "/v1/payments/stripe/webhook";
/// The endpoint secret the tests configure.
pub const SECRET: &str = "whsec_test";

/// Unix seconds now.
pub fn now() -> i64 {
    easel_core::time::now_ms() / 1000
}

/// HMAC-SHA256 of `"{t}.{body}"` with the secret as is, hex: Stripe's `v1` scheme
/// (stripe-node's `generateTestHeaderString`, stripe-python's `WebhookSignature`).
pub fn v1(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|e| panic!("hmac key: {e}"));
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Stripe-Signature` header of `body` signed at `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", v1(secret, t, body))
}

/// A `checkout.session.completed` event shaped like a real one (test mode, API version
/// 2024-06-20), paying `amount_total` cents in `currency` for `account_id`.
pub fn checkout_event(
    event_id: &str,
    session_id: &str,
    account_id: Option<&str>,
    amount_total: Value,
    currency: &str,
) -> Value {
    let created = now();
    json!({
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "after_expiration": null,
                "allow_promotion_codes": null,
                "amount_subtotal": amount_total,
                "amount_total": amount_total,
                "automatic_tax": {"enabled": false, "liability": null, "status": null},
                "billing_address_collection": null,
                "cancel_url": "https://shop.example.com/credits",
                "client_reference_id": account_id,
                "consent": null,
                "created": created - 40,
                "currency": currency,
                "customer": null,
                "customer_creation": "if_required",
                "customer_details": {
                    "address": {"city": null, "country": "DE", "line1": null, "line2": null,
                                "postal_code": null, "state": null},
                    "email": "buyer@example.com",
                    "name": "Ada Buyer",
                    "phone": null,
                    "tax_exempt": "none",
                    "tax_ids": []
                },
                "customer_email": null,
                "expires_at": created + 86_360,
                "invoice": null,
                "livemode": false,
                "locale": null,
                "metadata": {},
                "mode": "payment",
                "payment_intent": "pi_3QAbCdEfGhIjKlMn0aBcDeFg",
                "payment_link": null,
                "payment_method_types": ["card"],
                "payment_status": "paid",
                "status": "complete",
                "success_url": "https://shop.example.com/credits/thanks",
                "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
                "url": null
            }
        },
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed"
    })
}

/// The body as Stripe sends it: pretty-printed, so a server that re-serialised the JSON
/// before checking the signature would fail.
pub fn body_of(event: &Value) -> String {
    serde_json::to_string_pretty(event).unwrap_or_else(|e| panic!("{e}"))
}

/// Posts `body` with `signature` (none: no header) and checks the answer against the
/// OpenAPI document.
pub async fn deliver(app: &TestApp, body: &str, signature: Option<String>) -> Res {
    let mut req = app
        .raw(Method::POST, PATH)
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .body(body.to_string());
    if let Some(signature) = signature {
        req = req.header("stripe-signature", signature);
    }
    let res = app.send(req).await;
    app.check("POST", PATH, &res);
    assert!(res.status < 500, "never a 5xx: {}", res.body);
    res
}

/// Signs `event` with the test secret now and delivers it.
pub async fn deliver_signed(app: &TestApp, event: &Value) -> Res {
    let body = body_of(event);
    let signature = signature(SECRET, now(), &body);
    deliver(app, &body, Some(signature)).await
}

async fn start(db: &TestDb) -> TestApp {
    TestApp::start_with(db, |c| {
        c.payments.stripe.webhook_secret = SECRET.into();
    })
    .await
}

/// Asserts a 200 receipt.
#[track_caller]
fn receipt(res: Res, credited: i64, duplicate: bool) {
    let res = res.expect(200);
    assert_eq!(
        res.body,
        json!({"received": true, "credited": credited, "duplicate": duplicate})
    );
}

async fn balance(app: &TestApp, key: &str) -> i64 {
    let b = app.get("/v1/balance", key).await.expect(200).body;
    b["balance"].as_i64().unwrap_or(-1)
}

async fn purchases(app: &TestApp, key: &str) -> Vec<Value> {
    let ledger = app
        .get("/v1/ledger?type=purchase&limit=100", key)
        .await
        .expect(200)
        .body;
    ledger["data"].as_array().cloned().unwrap_or_default()
}

both_backends!(
    a_paid_session_is_credited_exactly_once,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("buyer@example.com", "live").await;
        let session = "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ";
        let event = checkout_event(
            "evt_1QAbCdEfGhIjKlMnOpQrStUv",
            session,
            Some(&account_id),
            json!(1999),
            "eur",
        );
        let body = body_of(&event);
        let header = signature(SECRET, now(), &body);
        // €19.99 at 1000 credits per euro.
        receipt(
            deliver(&app, &body, Some(header.clone())).await,
            19_990,
            false,
        );
        assert_eq!(balance(&app, &key).await, 19_990);
        let entries = purchases(&app, &key).await;
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["amount"], 19_990);
        assert_eq!(
            entries[0]["reference"],
            json!({"type": "payment", "id": session})
        );
        let reason = entries[0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("evt_1QAbCdEfGhIjKlMnOpQrStUv"), "{reason}");

        // The same delivery again (a replay within the tolerance), and Stripe's redelivery
        // of the same event with a fresh signature: both duplicates, nothing written.
        receipt(deliver(&app, &body, Some(header)).await, 0, true);
        receipt(deliver_signed(&app, &event).await, 0, true);
        // Another event about the same session (e.g. a resend from the dashboard).
        let mut again = event.clone();
        again["id"] = json!("evt_1QZzYyXxWwVvUuTtSsRrQqPp");
        receipt(deliver_signed(&app, &again).await, 0, true);
        let mut late = again.clone();
        late["id"] = json!("evt_1QLateAsyncSucceeded0001");
        late["type"] = json!("checkout.session.async_payment_succeeded");
        receipt(deliver_signed(&app, &late).await, 0, true);

        assert_eq!(balance(&app, &key).await, 19_990);
        assert_eq!(purchases(&app, &key).await.len(), 1);
        let stored = db
            .count(&format!(
                "SELECT COUNT(*) FROM ledger_entries WHERE account_id = '{account_id}' AND type = 'purchase'"
            ))
            .await;
        assert_eq!(stored, 1);
        let audit = app.get("/v1/audit_log", &key).await.expect(200).body;
        let grant = audit["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["action"] == "credits.granted")
            .collect::<Vec<_>>();
        assert_eq!(grant.len(), 1, "{audit}");
        assert_eq!(
            grant[0]["actor"],
            json!({"type": "system", "id": "stripe", "user_id": null})
        );
        assert_eq!(
            grant[0]["details"]["stripe_event"],
            "evt_1QAbCdEfGhIjKlMnOpQrStUv"
        );
        let events = app.get("/v1/events", &key).await.expect(200).body;
        let granted = events["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["type"] == "credits.granted")
            .count();
        assert_eq!(granted, 1, "{events}");
        app.stop().await;
    }
);

both_backends!(
    metadata_names_the_credits_and_the_account,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("usd@example.com", "live").await;
        // A USD session with the credits it buys in its metadata (Stripe metadata values
        // are strings) and the account in metadata instead of client_reference_id.
        let mut event = checkout_event("evt_usd_1", "cs_test_usd_1", None, json!(500), "usd");
        event["data"]["object"]["metadata"] = json!({"account_id": account_id, "credits": "4500"});
        receipt(deliver_signed(&app, &event).await, 4500, false);
        // An integer works too; a EUR amount is ignored when metadata names the credits.
        let mut eur = checkout_event(
            "evt_eur_2",
            "cs_test_eur_2",
            Some(&account_id),
            json!(100),
            "eur",
        );
        eur["data"]["object"]["metadata"] = json!({"credits": 250});
        receipt(deliver_signed(&app, &eur).await, 250, false);
        assert_eq!(balance(&app, &key).await, 4750);
        assert_eq!(purchases(&app, &key).await.len(), 2);
        app.stop().await;
    }
);

both_backends!(
    signatures_are_verified_like_stripe_does,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("sig@example.com", "live").await;
        let event = checkout_event(
            "evt_sig_1",
            "cs_test_sig_1",
            Some(&account_id),
            json!(1000),
            "eur",
        );
        let body = body_of(&event);
        let t = now();

        let res = deliver(&app, &body, None).await;
        assert_eq!(res.param(), "Stripe-Signature");
        res.expect_error(400, "stripe_signature_invalid");
        deliver(&app, &body, Some(signature("whsec_other", t, &body)))
            .await
            .expect_error(400, "stripe_signature_invalid");
        deliver(&app, &body, Some(format!("t={t},v1=not-hex")))
            .await
            .expect_error(400, "stripe_signature_invalid");
        deliver(&app, &body, Some(format!("v1={}", v1(SECRET, t, &body))))
            .await
            .expect_error(400, "stripe_signature_invalid");
        // Signed, then tampered with: 10 euros become 10,000.
        let tampered = body.replace("1000", "1000000");
        assert_ne!(tampered, body);
        deliver(&app, &tampered, Some(signature(SECRET, t, &body)))
            .await
            .expect_error(400, "stripe_signature_invalid");
        // Compact JSON of the same event is other bytes: the signature covers the bytes.
        let compact = serde_json::to_string(&event).unwrap_or_default();
        deliver(&app, &compact, Some(signature(SECRET, t, &body)))
            .await
            .expect_error(400, "stripe_signature_invalid");
        // A correct signature made too long ago, or claiming the future.
        // From the time now, not `t`: a slow machine may have spent seconds since.
        let t = now();
        for stale in [t - 305, t - 86_400, t + 305] {
            deliver(&app, &body, Some(signature(SECRET, stale, &body)))
                .await
                .expect_error(400, "stripe_timestamp_out_of_tolerance");
        }
        assert_eq!(balance(&app, &key).await, 0, "nothing refused was credited");

        // While a secret is rolled Stripe sends one v1 per secret: any may match.
        let header = format!(
            "t={t},v1={},v1={},v0={}",
            v1("whsec_old_secret", t, &body),
            v1(SECRET, t, &body),
            v1("whsec_legacy", t, &body)
        );
        receipt(deliver(&app, &body, Some(header)).await, 10_000, false);
        assert_eq!(balance(&app, &key).await, 10_000);
        app.stop().await;
    }
);

both_backends!(
    events_that_pay_nothing_are_acknowledged,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("sepa@example.com", "live").await;
        // A SEPA debit: the session completes unpaid, and is paid days later.
        let mut unpaid = checkout_event(
            "evt_sepa_1",
            "cs_test_sepa_1",
            Some(&account_id),
            json!(2500),
            "eur",
        );
        unpaid["data"]["object"]["payment_status"] = json!("unpaid");
        receipt(deliver_signed(&app, &unpaid).await, 0, false);
        assert_eq!(balance(&app, &key).await, 0);
        let mut paid = unpaid.clone();
        paid["id"] = json!("evt_sepa_2");
        paid["type"] = json!("checkout.session.async_payment_succeeded");
        paid["data"]["object"]["payment_status"] = json!("paid");
        receipt(deliver_signed(&app, &paid).await, 25_000, false);

        // Event types this endpoint does not handle, and sessions that are not top-ups.
        let other = json!({
            "id": "evt_other_1", "object": "event", "api_version": "2024-06-20",
            "created": now(), "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_3QAbC", "object": "payment_intent", "amount": 2500}}
        });
        receipt(deliver_signed(&app, &other).await, 0, false);
        let mut subscription = checkout_event(
            "evt_sub_1",
            "cs_test_sub_1",
            Some(&account_id),
            json!(900),
            "eur",
        );
        // A subscription's checkout is about a plan (`console_plans`), never the balance.
        subscription["data"]["object"]["mode"] = json!("subscription");
        subscription["data"]["object"]["subscription"] = json!("sub_1Test");
        subscription["data"]["object"]["customer"] = json!("cus_Test");
        receipt(deliver_signed(&app, &subscription).await, 0, false);
        let mut free = checkout_event(
            "evt_free_1",
            "cs_test_free_1",
            Some(&account_id),
            json!(0),
            "eur",
        );
        free["data"]["object"]["payment_status"] = json!("no_payment_required");
        receipt(deliver_signed(&app, &free).await, 0, false);
        assert_eq!(balance(&app, &key).await, 25_000);
        assert_eq!(purchases(&app, &key).await.len(), 1);
        app.stop().await;
    }
);

both_backends!(
    unusable_events_are_refused_and_credit_nothing,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("bad@example.com", "live").await;
        let event = |id: &str, amount: Value, currency: &str| {
            checkout_event(
                id,
                &format!("cs_test_{id}"),
                Some(&account_id),
                amount,
                currency,
            )
        };

        let unknown = checkout_event(
            "evt_u",
            "cs_test_u",
            Some("acct_01m8nothere0000000000000000"),
            json!(1000),
            "eur",
        );
        deliver_signed(&app, &unknown)
            .await
            .expect_error(404, "resource_missing");
        let nobody = checkout_event("evt_n", "cs_test_n", None, json!(1000), "eur");
        deliver_signed(&app, &nobody)
            .await
            .expect_error(400, "stripe_event_invalid");
        for amount in [
            json!(0),
            json!(-100),
            json!(1e20),
            json!("1000"),
            json!(12.5),
            Value::Null,
        ] {
            let res = deliver_signed(&app, &event("evt_amount", amount.clone(), "eur")).await;
            assert_eq!(res.param(), "data.object.amount_total", "{amount}");
            res.expect_error(400, "stripe_event_invalid");
        }
        // Above the largest single purchase (a billion euros).
        deliver_signed(&app, &event("evt_huge", json!(i64::MAX / 10), "eur"))
            .await
            .expect_error(400, "stripe_event_invalid");
        deliver_signed(&app, &event("evt_usd", json!(1000), "usd"))
            .await
            .expect_error(400, "stripe_event_invalid");
        let mut bad_credits = event("evt_meta", json!(1000), "eur");
        bad_credits["data"]["object"]["metadata"] = json!({"credits": "-5"});
        deliver_signed(&app, &bad_credits)
            .await
            .expect_error(400, "stripe_event_invalid");
        // Signed garbage, signed JSON that is no event, unsigned garbage.
        for garbage in ["not json at all", "{\"id\": \"evt_1\"", "[]", "{}", ""] {
            deliver(&app, garbage, Some(signature(SECRET, now(), garbage)))
                .await
                .expect_error(400, "stripe_event_invalid");
        }
        deliver(&app, "\u{0}\u{1}garbage", Some("t=abc,v1=zz".into()))
            .await
            .expect_error(400, "stripe_signature_invalid");
        assert_eq!(balance(&app, &key).await, 0);

        // A terminated account takes no more credits.
        let operator = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
        accounts::change_state(&app.state, &account_id, StateChange::Terminate, operator)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        deliver_signed(&app, &event("evt_term", json!(1000), "eur"))
            .await
            .expect_error(409, "account_terminated");
        let stored = db
            .count(&format!(
                "SELECT COUNT(*) FROM ledger_entries WHERE account_id = '{account_id}'"
            ))
            .await;
        assert_eq!(stored, 0);
        app.stop().await;
    }
);

both_backends!(
    the_endpoint_is_off_without_a_secret,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, _key) = app.account("off@example.com", "live").await;
        let event = checkout_event(
            "evt_off",
            "cs_test_off",
            Some(&account_id),
            json!(1000),
            "eur",
        );
        let res = deliver_signed(&app, &event)
            .await
            .expect_error(404, "resource_missing");
        assert!(
            res.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not configured"),
            "{}",
            res.body
        );
        app.stop().await;
    }
);
