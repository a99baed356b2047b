//! A fake Stripe for the console's "buy credits": it speaks the part of Stripe's wire format
//! Easel uses. `POST /v1/checkout/sessions` takes a form-encoded body with bracketed keys
//! and a secret key as bearer token, and answers a `checkout.session` object or Stripe's
//! error envelope (`{"error": {"type", "code", "message", "param"}}`) with Stripe's
//! statuses (401 for a bad key, 400 for a bad parameter). Its hosted page
//! (`/c/pay/{id}`) has a Pay button; paying redirects to the session's `success_url` (with
//! `{CHECKOUT_SESSION_ID}` filled in) and then, as Stripe does, delivers a signed
//! `checkout.session.completed` event to the webhook endpoint.
//!
//! Plans: a session in `subscription` mode names a price the fake knows (else Stripe's
//! `resource_missing`); paying it creates the customer and the subscription (with the
//! session's `subscription_data[metadata]`) and delivers `invoice.paid` (in the 2025 API
//! shape, `parent.subscription_details`) before `checkout.session.completed`, as Stripe
//! may. `GET`/`POST /v1/subscriptions/{id}` read and update it (a new price, cancel at the
//! period end) and deliver `customer.subscription.updated`; `POST
//! /v1/billing_portal/sessions` opens a portal page for a known customer. The test drives
//! renewals, failed payments and deletions with [`FakeStripe::renew`] and friends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::stripe::{PATH, signature};

/// The secret key the fake accepts.
pub const SECRET_KEY: &str = "sk_test_fake_51Easel";

#[derive(Default)]
struct Inner {
    /// Where paid sessions' events go (the Easel under test).
    target: String,
    webhook_secret: String,
    /// Every session created, by id: the form as sent, and the object answered.
    sessions: HashMap<String, (Vec<(String, String)>, Value)>,
    /// Answer the next creation with this status and error body instead.
    fail_next: Option<(u16, Value)>,
    /// Statuses Easel answered to the events delivered.
    deliveries: Vec<u16>,
    /// Prices for subscriptions: id → cents a month.
    prices: HashMap<String, i64>,
    /// Subscriptions by id, as Stripe answers them.
    subscriptions: HashMap<String, Value>,
    /// Customers created (`cus_…`).
    customers: Vec<String>,
    /// Portal sessions opened: (customer, return_url).
    portals: Vec<(String, String)>,
}

/// A running fake.
#[derive(Clone)]
pub struct FakeStripe {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

fn error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: &str,
) -> Response {
    let mut body = json!({"error": {"type": kind, "message": message}});
    if let Some(code) = code {
        body["error"]["code"] = json!(code);
        body["error"]["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{code}"));
    }
    if let Some(param) = param {
        body["error"]["param"] = json!(param);
    }
    (status, axum::Json(body)).into_response()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl FakeStripe {
    /// Starts the fake; paid sessions are announced to `target` signed with `webhook_secret`
    /// (the target can be set later, once the server under test has its address).
    pub async fn start(webhook_secret: &str) -> FakeStripe {
        let inner = Arc::new(Mutex::new(Inner {
            webhook_secret: webhook_secret.to_string(),
            ..Inner::default()
        }));
        let router = axum::Router::new()
            .route("/v1/checkout/sessions", post(create))
            .route("/c/pay/{id}", get(page).post(pay))
            .route(
                "/v1/subscriptions/{id}",
                get(get_subscription).post(update_subscription),
            )
            .route("/v1/billing_portal/sessions", post(create_portal))
            .route("/p/session/{id}", get(portal_page))
            .with_state(inner.clone());
        let addr = super::serve_loopback(router).await;
        FakeStripe {
            url: format!("http://{addr}"),
            inner,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_target(&self, target: &str) {
        self.lock().target = target.to_string();
    }

    /// Makes the next session creation fail with `status` and Stripe's error `body`.
    pub fn fail_next(&self, status: u16, body: Value) {
        self.lock().fail_next = Some((status, body));
    }

    /// The forms of the sessions created so far.
    pub fn forms(&self) -> Vec<Vec<(String, String)>> {
        self.lock()
            .sessions
            .values()
            .map(|(f, _)| f.clone())
            .collect()
    }

    /// What Easel answered to each event delivered.
    pub fn deliveries(&self) -> Vec<u16> {
        self.lock().deliveries.clone()
    }
}

type Shared = Arc<Mutex<Inner>>;

/// Stripe's answer to a call without the secret key, or with a body not form-encoded.
fn refuse(headers: &HeaderMap, post: bool) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {SECRET_KEY}") {
        let shown = auth
            .strip_prefix("Bearer ")
            .unwrap_or("")
            .chars()
            .take(8)
            .collect::<String>();
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            None,
            &format!("Invalid API Key provided: {shown}****"),
        ));
    }
    if post
        && headers.get("content-type").and_then(|v| v.to_str().ok())
            != Some("application/x-www-form-urlencoded")
    {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            None,
            "Invalid request: the body must be application/x-www-form-urlencoded.",
        ));
    }
    None
}

fn parse_form(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

/// `prefix[key]` fields of a form as a metadata object.
fn metadata_of(form: &[(String, String)], prefix: &str) -> serde_json::Map<String, Value> {
    form.iter()
        .filter_map(|(k, v)| {
            let key = k
                .strip_prefix(prefix)?
                .strip_prefix('[')?
                .strip_suffix(']')?;
            Some((key.to_string(), json!(v)))
        })
        .collect()
}

fn now_s() -> i64 {
    easel_core::time::now_ms() / 1000
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}{:024x}", rand::random::<u128>() >> 32)
}

async fn create(State(inner): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if let Some(refused) = refuse(&headers, true) {
        return refused;
    }
    let form = parse_form(&body);
    let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((status, body)) = guard.fail_next.take() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, axum::Json(body)).into_response();
    }
    for required in ["mode", "success_url"] {
        if field(&form, required).is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_missing"),
                Some(required),
                &format!("Missing required param: {required}."),
            );
        }
    }
    let subscription = field(&form, "mode") == Some("subscription");
    let price = field(&form, "line_items[0][price]");
    let amount: i64 = match price {
        Some(p) => match guard.prices.get(p) {
            Some(cents) => *cents,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("resource_missing"),
                    Some("line_items[0][price]"),
                    &format!("No such price: '{p}'"),
                );
            }
        },
        None => field(&form, "line_items[0][price_data][unit_amount]")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0),
    };
    if subscription && price.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_missing"),
            Some("line_items[0][price]"),
            "In subscription mode, line items need a recurring `price`.",
        );
    }
    let quantity: i64 = field(&form, "line_items[0][quantity]")
        .and_then(|q| q.parse().ok())
        .unwrap_or(0);
    let currency = field(&form, "line_items[0][price_data][currency]").unwrap_or("eur");
    if amount * quantity < 50 {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("amount_too_small"),
            Some("line_items[0][price_data][unit_amount]"),
            "The Checkout Session's total amount due must add up to at least €0.50 eur",
        );
    }
    // The hosted page is the fake's own, at the address it was called on.
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let id = format!("cs_test_a1{:030x}", rand::random::<u128>() >> 8);
    let metadata = metadata_of(&form, "metadata");
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": amount * quantity,
        "amount_total": amount * quantity,
        "cancel_url": field(&form, "cancel_url"),
        "client_reference_id": field(&form, "client_reference_id"),
        "created": easel_core::time::now_ms() / 1000,
        "currency": currency,
        "customer": field(&form, "customer"),
        "customer_email": field(&form, "customer_email"),
        "livemode": false,
        "metadata": metadata,
        "mode": field(&form, "mode"),
        "payment_intent": null,
        "payment_status": "unpaid",
        "status": "open",
        "success_url": field(&form, "success_url"),
        "url": format!("http://{host}/c/pay/{id}"),
    });
    guard.sessions.insert(id, (form, session.clone()));
    (StatusCode::OK, axum::Json(session)).into_response()
}

fn session(inner: &Shared, id: &str) -> Option<Value> {
    let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    guard.sessions.get(id).map(|(_, s)| s.clone())
}

async fn page(State(inner): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(s) = session(&inner, &id) else {
        return (StatusCode::NOT_FOUND, Html("<h1>Something went wrong</h1>")).into_response();
    };
    let euros = s["amount_total"].as_i64().unwrap_or(0) as f64 / 100.0;
    Html(format!(
        "<!doctype html><html lang=en><title>Fake Stripe Checkout</title><link rel=icon href=\"data:,\"><h1>Pay €{euros:.2}</h1>\
         <form method=post><button id=pay type=submit>Pay</button></form>\
         <a id=cancel href=\"{}\">Back</a></html>",
        s["cancel_url"].as_str().unwrap_or("/")
    ))
    .into_response()
}

/// Signs and posts an event of `kind` about `object` to the server under test; returns its
/// answer's status (0 if it could not be reached), also kept in `deliveries`.
async fn deliver(inner: &Shared, kind: &str, object: Value, previous: Option<Value>) -> u16 {
    let (target, secret) = {
        let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        (guard.target.clone(), guard.webhook_secret.clone())
    };
    let mut data = json!({"object": object});
    if let Some(previous) = previous {
        data["previous_attributes"] = previous;
    }
    let event = json!({
        "id": random_id("evt_1"),
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": now_s(),
        "data": data,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind,
    });
    let body = serde_json::to_string_pretty(&event).unwrap_or_default();
    let status = reqwest::Client::new()
        .post(format!("{target}{PATH}"))
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature(&secret, now_s(), &body))
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    inner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .deliveries
        .push(status);
    status
}

/// An invoice of `sub` for `reason` (`subscription_create`, `subscription_cycle`), in the
/// 2025 API shape, paid or open (its payment failed).
fn invoice_of(sub: &Value, reason: &str, paid: bool) -> Value {
    let price = sub
        .pointer("/items/data/0/price/id")
        .cloned()
        .unwrap_or_default();
    let amount = sub
        .pointer("/items/data/0/price/unit_amount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    json!({
        "id": random_id("in_1"),
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": if paid { amount } else { 0 },
        "billing_reason": reason,
        "currency": "eur",
        "customer": sub["customer"],
        "lines": {"object": "list", "data": [{
            "id": random_id("il_1"),
            "object": "line_item",
            "amount": amount,
            "period": {"start": now_s(), "end": now_s() + 30 * 86_400},
            "pricing": {"type": "price_details", "price_details": {"price": price, "product": "prod_fake"}},
        }]},
        "parent": {"type": "subscription_details", "subscription_details": {
            "metadata": sub["metadata"],
            "subscription": sub["id"],
        }},
        "status": if paid { "paid" } else { "open" },
    })
}

async fn pay(State(inner): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(mut s) = session(&inner, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    s["payment_status"] = json!("paid");
    s["status"] = json!("complete");
    s["url"] = Value::Null;
    let success = s["success_url"]
        .as_str()
        .unwrap_or("/")
        .replace("{CHECKOUT_SESSION_ID}", &id);
    // Subscription mode: the customer and the subscription exist once paid.
    let mut first_invoice = None;
    if s["mode"] == "subscription" {
        let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        let form = guard
            .sessions
            .get(&id)
            .map(|(f, _)| f.clone())
            .unwrap_or_default();
        let customer = match field(&form, "customer") {
            Some(c) => c.to_string(),
            None => {
                let c = random_id("cus_");
                guard.customers.push(c.clone());
                c
            }
        };
        let price = field(&form, "line_items[0][price]").unwrap_or_default();
        let cents = guard.prices.get(price).copied().unwrap_or(0);
        let sub_id = random_id("sub_1");
        let sub = json!({
            "id": sub_id,
            "object": "subscription",
            "cancel_at_period_end": false,
            "customer": customer,
            "items": {"object": "list", "data": [{
                "id": random_id("si_"),
                "object": "subscription_item",
                "current_period_end": now_s() + 30 * 86_400,
                "current_period_start": now_s(),
                "price": {"id": price, "object": "price", "currency": "eur", "unit_amount": cents,
                          "recurring": {"interval": "month", "interval_count": 1}},
                "quantity": 1,
            }]},
            "metadata": metadata_of(&form, "subscription_data[metadata]"),
            "status": "active",
        });
        guard.subscriptions.insert(sub_id.clone(), sub.clone());
        s["customer"] = json!(customer);
        s["subscription"] = json!(sub_id);
        first_invoice = Some(invoice_of(&sub, "subscription_create", true));
    }
    // Stripe sends the customer back and delivers the events independently; here they
    // follow a moment after the redirect, the invoice first (Stripe does not promise order).
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if let Some(invoice) = first_invoice {
            deliver(&inner, "invoice.paid", invoice, None).await;
        }
        deliver(&inner, "checkout.session.completed", s, None).await;
    });
    Redirect::to(&success).into_response()
}

async fn get_subscription(
    State(inner): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse(&headers, false) {
        return refused;
    }
    let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    match guard.subscriptions.get(&id) {
        Some(sub) => (StatusCode::OK, axum::Json(sub.clone())).into_response(),
        None => no_such("subscription", &id),
    }
}

fn no_such(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
        &format!("No such {what}: '{id}'"),
    )
}

async fn update_subscription(
    State(inner): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(refused) = refuse(&headers, true) {
        return refused;
    }
    let form = parse_form(&body);
    let (sub, previous) = {
        let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        let price = field(&form, "items[0][price]").map(str::to_string);
        let cents = price.as_ref().map(|p| guard.prices.get(p).copied());
        if let (Some(p), Some(None)) = (&price, cents) {
            let p = p.clone();
            drop(guard);
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("resource_missing"),
                Some("items[0][price]"),
                &format!("No such price: '{p}'"),
            );
        }
        let Some(sub) = guard.subscriptions.get_mut(&id) else {
            drop(guard);
            return no_such("subscription", &id);
        };
        if sub["status"] == "canceled" {
            drop(guard);
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                None,
                "A canceled subscription can only update its cancellation_details and metadata.",
            );
        }
        let mut previous = serde_json::Map::new();
        if let (Some(price), Some(Some(cents))) = (price, cents) {
            if field(&form, "items[0][id]")
                != sub.pointer("/items/data/0/id").and_then(Value::as_str)
            {
                drop(guard);
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("resource_missing"),
                    Some("items[0][id]"),
                    "No such subscription item",
                );
            }
            previous.insert("items".into(), sub["items"].clone());
            sub["items"]["data"][0]["price"]["id"] = json!(price);
            sub["items"]["data"][0]["price"]["unit_amount"] = json!(cents);
        }
        if let Some(cancel) = field(&form, "cancel_at_period_end") {
            previous.insert(
                "cancel_at_period_end".into(),
                sub["cancel_at_period_end"].clone(),
            );
            sub["cancel_at_period_end"] = json!(cancel == "true");
        }
        for (k, v) in metadata_of(&form, "metadata") {
            sub["metadata"][k] = v;
        }
        (sub.clone(), Value::Object(previous))
    };
    let event = sub.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        deliver(
            &inner,
            "customer.subscription.updated",
            event,
            Some(previous),
        )
        .await;
    });
    (StatusCode::OK, axum::Json(sub)).into_response()
}

async fn create_portal(State(inner): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if let Some(refused) = refuse(&headers, true) {
        return refused;
    }
    let form = parse_form(&body);
    let customer = field(&form, "customer").unwrap_or_default().to_string();
    let return_url = field(&form, "return_url").unwrap_or_default().to_string();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    if !guard.customers.contains(&customer) {
        drop(guard);
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("resource_missing"),
            Some("customer"),
            &format!("No such customer: '{customer}'"),
        );
    }
    guard.portals.push((customer.clone(), return_url.clone()));
    let index = guard.portals.len() - 1;
    let id = random_id("bps_1");
    (
        StatusCode::OK,
        axum::Json(json!({
            "id": id,
            "object": "billing_portal.session",
            "created": now_s(),
            "customer": customer,
            "livemode": false,
            "return_url": return_url,
            "url": format!("http://{host}/p/session/{index}"),
        })),
    )
        .into_response()
}

async fn portal_page(State(inner): State<Shared>, Path(index): Path<usize>) -> Response {
    let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    let Some((customer, back)) = guard.portals.get(index).cloned() else {
        return (StatusCode::NOT_FOUND, Html("<h1>Something went wrong</h1>")).into_response();
    };
    Html(format!(
        "<!doctype html><html lang=en><title>Fake Stripe billing portal</title><link rel=icon href=\"data:,\">\
         <h1>Billing portal of {customer}</h1><a id=return href=\"{back}\">Return</a></html>"
    ))
    .into_response()
}

impl FakeStripe {
    /// Makes `price` (`price_…`) a monthly price of `cents`.
    pub fn add_price(&self, price: &str, cents: i64) {
        self.lock().prices.insert(price.to_string(), cents);
    }

    /// The subscription an account's checkout created.
    pub fn subscription_of(&self, account_id: &str) -> Option<Value> {
        self.lock()
            .subscriptions
            .values()
            .find(|s| s["metadata"]["account_id"] == account_id)
            .cloned()
    }

    /// The portal sessions opened: (customer, return URL).
    pub fn portals(&self) -> Vec<(String, String)> {
        self.lock().portals.clone()
    }

    /// A renewal: `invoice.paid` (`subscription_cycle`) for `sub`; returns the invoice and
    /// Easel's answer.
    pub async fn renew(&self, sub: &str) -> (Value, u16) {
        let Some(found) = self.lock().subscriptions.get(sub).cloned() else {
            panic!("no subscription {sub}");
        };
        let invoice = invoice_of(&found, "subscription_cycle", true);
        let status = deliver(&self.inner, "invoice.paid", invoice.clone(), None).await;
        (invoice, status)
    }

    /// A renewal whose charge fails: `invoice.payment_failed`, then the subscription
    /// `past_due`; returns the unpaid invoice.
    pub async fn fail_renewal(&self, sub: &str) -> Value {
        let found = {
            let mut guard = self.lock();
            let Some(found) = guard.subscriptions.get_mut(sub) else {
                panic!("no subscription {sub}");
            };
            found["status"] = json!("past_due");
            found.clone()
        };
        let invoice = invoice_of(&found, "subscription_cycle", false);
        let failed = deliver(&self.inner, "invoice.payment_failed", invoice.clone(), None).await;
        assert_eq!(failed, 200);
        let updated = deliver(
            &self.inner,
            "customer.subscription.updated",
            found,
            Some(json!({"status": "active"})),
        )
        .await;
        assert_eq!(updated, 200);
        invoice
    }

    /// The retry of a failed `invoice` succeeding: `invoice.paid`, then the subscription
    /// `active` again.
    pub async fn pay_invoice(&self, sub: &str, invoice: &Value) -> u16 {
        let found = {
            let mut guard = self.lock();
            let Some(found) = guard.subscriptions.get_mut(sub) else {
                panic!("no subscription {sub}");
            };
            found["status"] = json!("active");
            found.clone()
        };
        let mut paid = invoice.clone();
        paid["status"] = json!("paid");
        paid["amount_paid"] = paid["amount_due"].clone();
        let status = deliver(&self.inner, "invoice.paid", paid, None).await;
        deliver(
            &self.inner,
            "customer.subscription.updated",
            found,
            Some(json!({"status": "past_due"})),
        )
        .await;
        status
    }

    /// The subscription ends (canceled at the period's end, or by Stripe after failed
    /// retries): `customer.subscription.deleted`.
    pub async fn end(&self, sub: &str) -> u16 {
        let found = {
            let mut guard = self.lock();
            let Some(found) = guard.subscriptions.get_mut(sub) else {
                panic!("no subscription {sub}");
            };
            found["status"] = json!("canceled");
            found["ended_at"] = json!(now_s());
            found.clone()
        };
        deliver(&self.inner, "customer.subscription.deleted", found, None).await
    }

    /// Delivers any event (for wire-format edge cases); returns Easel's answer's status.
    pub async fn send_event(&self, kind: &str, object: Value) -> u16 {
        deliver(&self.inner, kind, object, None).await
    }
}

/// A server whose console sells credits through `fake`, with its public URL its own
/// address (Stripe sends the customer back there).
pub async fn app_with_stripe(
    db: &easel_test_utils::TestDb,
    tweak: impl FnOnce(&mut easel_server::config::Config),
) -> (super::TestApp, FakeStripe) {
    let fake = FakeStripe::start(crate::stripe::SECRET).await;
    // A free port, so that the public URL can name it before the server starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"));
    let addr = format!("127.0.0.1:{port}");
    let api_base = fake.url.clone();
    let app = super::TestApp::start_at(db, &addr, |c| {
        c.public_url = format!("http://{addr}");
        let stripe = &mut c.payments.stripe;
        stripe.webhook_secret = crate::stripe::SECRET.into();
        stripe.secret_key = SECRET_KEY.into();
        stripe.api_base = api_base;
        tweak(c);
    })
    .await;
    fake.set_target(&app.url);
    (app, fake)
}

/// The link the console's hand-over page follows to Stripe's page (Checkout or portal).
pub fn stripe_link(page: &super::console::Page) -> String {
    assert_eq!(page.status, 200, "{}", page.html);
    page.html
        .split("id=\"to-stripe\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(|s| s.replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("no link to Stripe: {}", page.html))
}

/// Pays on the fake's Checkout page as the member's browser would; returns where Stripe
/// sends them back (the 303's `Location`).
pub async fn pay_as_member(pay_page: &str) -> String {
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .post(pay_page)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(paid.status(), 303);
    paid.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
