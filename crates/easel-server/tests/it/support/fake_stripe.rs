//! A fake Stripe for the console's "buy credits": it speaks the part of Stripe's wire format
//! Easel uses. `POST /v1/checkout/sessions` takes a form-encoded body with bracketed keys
//! and a secret key as bearer token, and answers a `checkout.session` object or Stripe's
//! error envelope (`{"error": {"type", "code", "message", "param"}}`) with Stripe's
//! statuses (401 for a bad key, 400 for a bad parameter). Its hosted page
//! (`/c/pay/{id}`) has a Pay button; paying redirects to the session's `success_url` (with
//! `{CHECKOUT_SESSION_ID}` filled in) and then, as Stripe does, delivers a signed
//! `checkout.session.completed` event to the webhook endpoint.

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

async fn create(State(inner): State<Shared>, headers: HeaderMap, body: String) -> Response {
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
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            None,
            &format!("Invalid API Key provided: {shown}****"),
        );
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            None,
            "Invalid request: the body must be application/x-www-form-urlencoded.",
        );
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
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
    let amount: i64 = field(&form, "line_items[0][price_data][unit_amount]")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let quantity: i64 = field(&form, "line_items[0][quantity]")
        .and_then(|q| q.parse().ok())
        .unwrap_or(0);
    let currency = field(&form, "line_items[0][price_data][currency]").unwrap_or("");
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
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_string(), json!(v)))
        })
        .collect();
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": amount * quantity,
        "amount_total": amount * quantity,
        "cancel_url": field(&form, "cancel_url"),
        "client_reference_id": field(&form, "client_reference_id"),
        "created": easel_core::time::now_ms() / 1000,
        "currency": currency,
        "customer": null,
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
    let (target, secret) = {
        let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        (guard.target.clone(), guard.webhook_secret.clone())
    };
    let event = json!({
        "id": format!("evt_1{:024x}", rand::random::<u128>() >> 32),
        "object": "event",
        "api_version": "2024-06-20",
        "created": easel_core::time::now_ms() / 1000,
        "data": {"object": s},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed",
    });
    // Stripe sends the customer back and delivers the event independently; here the
    // event follows a moment after the redirect.
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let body = serde_json::to_string_pretty(&event).unwrap_or_default();
        let t = easel_core::time::now_ms() / 1000;
        let status = reqwest::Client::new()
            .post(format!("{target}{PATH}"))
            .header("content-type", "application/json; charset=utf-8")
            .header("stripe-signature", signature(&secret, t, &body))
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
    });
    Redirect::to(&success).into_response()
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
