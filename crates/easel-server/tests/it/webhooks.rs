//! Webhooks end to end: endpoints through the API, real deliveries to real HTTP receivers
//! on loopback (verified by the official `standardwebhooks` package), retries with the
//! same `webhook-id`, timeouts, auto-disable, replay, secret rotation, a restart in the
//! middle of a retry, and SSRF attempts refused in live mode.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use easel_core::mode::Mode;
use easel_server::config::Config;
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::support::{TestApp, eventually};
use crate::webhook_signatures::verify;

/// What a receiver does with one request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Status(u16),
    /// Answers 200 after this many milliseconds.
    Sleep(u64),
    /// A 302 to this location.
    Redirect(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Hit {
    at: Instant,
    headers: HeaderMap,
    body: String,
}

impl Hit {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body {}: {e}", self.body))
    }
}

/// A webhook receiver on loopback: records every request and answers from a script
/// (200 once the script is used up).
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    pub(crate) async fn start(script: Vec<Reply>) -> Receiver {
        Receiver::start_on("127.0.0.1", script).await
    }

    pub(crate) async fn start_on(ip: &str, script: Vec<Reply>) -> Receiver {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (h, s) = (Arc::clone(&hits), Arc::clone(&script));
        let router = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let (hits, script) = (Arc::clone(&h), Arc::clone(&s));
            async move {
                let reply = script.lock().ok().and_then(|mut s| s.pop_front());
                if let Ok(mut hits) = hits.lock() {
                    hits.push(Hit {
                        at: Instant::now(),
                        headers,
                        body,
                    });
                }
                match reply {
                    None => (StatusCode::OK, "ok").into_response(),
                    Some(Reply::Status(code)) => (
                        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
                        format!("scripted {code} {}", "x".repeat(2000)),
                    )
                        .into_response(),
                    Some(Reply::Sleep(ms)) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        (StatusCode::OK, "late").into_response()
                    }
                    Some(Reply::Redirect(to)) => {
                        (StatusCode::FOUND, [("location", to)], "moved").into_response()
                    }
                }
            }
        });
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url: format!("http://{addr}/hooks"),
            hits,
        }
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        // A poisoned lock must fail the test, never read as "nothing arrived".
        self.hits
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|e| panic!("the receiver's log: {e}"))
    }

    /// Waits for at least `n` requests.
    pub(crate) async fn wait_for(&self, n: usize, timeout_ms: u64) -> Vec<Hit> {
        let ok = eventually(timeout_ms, || async { self.hits().len() >= n }).await;
        let hits = self.hits();
        assert!(ok, "expected {n} deliveries, got {}", hits.len());
        hits
    }
}

/// Quick timing: retries after 1 s and 2 s (±10%), attempts time out after 1 s.
pub(crate) fn quick(c: &mut Config) {
    c.webhooks.retry_seconds = vec![1, 2];
    c.webhooks.poll_ms = 20;
    c.webhooks.timeout_ms = 1_000;
}

async fn start(db: &TestDb) -> TestApp {
    TestApp::start_with(db, quick).await
}

/// Creates an endpoint through the API; returns (id, secret).
pub(crate) async fn endpoint(
    app: &TestApp,
    key: &str,
    url: &str,
    events: Value,
) -> (String, String) {
    let res = app
        .post(
            "/v1/webhook_endpoints",
            key,
            json!({"url": url, "enabled_events": events, "description": "test receiver"}),
        )
        .await
        .expect(201);
    let secret = res.body["secret"].as_str().unwrap_or_default().to_string();
    assert!(secret.starts_with("whsec_"), "{}", res.body);
    (
        res.body["id"].as_str().unwrap_or_default().to_string(),
        secret,
    )
}

/// A `credits.granted` event in `mode` for the account.
pub(crate) async fn credit_event(app: &TestApp, account_id: &str, mode: Mode) {
    app.state
        .store
        .add_credits(easel_db::NewCredit {
            account_id: account_id.into(),
            mode,
            entry_type: easel_core::credits::LedgerType::Purchase,
            amount: 5,
            reference: None,
            reason: None,
            audit: easel_db::AuditContext::new(easel_core::audit::Actor::system(), None),
        })
        .await
        .unwrap_or_else(|e| panic!("credit: {e}"));
}

/// How many objects of the first page of the list at `path` have `field` = `value`.
async fn listed(app: &TestApp, key: &str, path: &str, field: &str, value: &str) -> usize {
    let res = app.get(path, key).await.expect(200);
    res.body["data"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|o| o[field] == value).count())
}

/// The endpoint's delivery log, newest first (up to 100).
async fn deliveries(app: &TestApp, key: &str, endpoint_id: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/webhook_endpoints/{endpoint_id}/deliveries?limit=100"),
            key,
        )
        .await
        .expect(200);
    res.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("a list without data: {}", res.body))
}

/// Waits until a control endpoint has at least `n` deliveries and every one of them
/// succeeded; returns them. An attempt is recorded only after its request was answered,
/// so once the control's deliveries are all through, whatever was due alongside them has
/// been sent too: a check that another endpoint got nothing, made after this, is made
/// after the system provably had the time to send it (no fixed sleep).
async fn settled(app: &TestApp, key: &str, endpoint_id: &str, n: usize) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..400 {
        last = deliveries(app, key, endpoint_id).await;
        if last.len() >= n && last.iter().all(|d| d["status"] == "succeeded") {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the control endpoint never got {n} deliveries through: {last:?}");
}

/// The `event_type` of each delivery.
fn types(deliveries: &[Value]) -> Vec<&str> {
    deliveries
        .iter()
        .map(|d| d["event_type"].as_str().unwrap_or_default())
        .collect()
}

/// Waits until the endpoint's newest delivery satisfies `done`; returns it.
pub(crate) async fn delivery_until(
    app: &TestApp,
    key: &str,
    endpoint_id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        if let Some(d) = deliveries(app, key, endpoint_id).await.first() {
            if done(d) {
                return d.clone();
            }
            last = d.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the delivery never got there: {last}");
}

both_backends!(
    a_generation_event_arrives_signed_and_standardwebhooks_verifies_it,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, key) = app.account("hooks@example.com", "test").await;
        let receiver = Receiver::start(vec![]).await;
        let (endpoint_id, secret) =
            endpoint(&app, &key, &receiver.url, json!(["generation.succeeded"])).await;
        // The positive control: takes every type, in the same account and mode.
        let everything = Receiver::start(vec![]).await;
        let (everything_id, _) = endpoint(&app, &key, &everything.url, json!(["*"])).await;
        let g = app
            .post(
                "/v1/generations",
                &key,
                json!({"model": "sandbox-image", "prompt": "a lighthouse", "width": 256, "height": 256}),
            )
            .await;
        assert!(matches!(g.status, 200 | 202), "{}", g.body);
        let generation_id = g.body["id"].as_str().unwrap_or_default().to_string();
        let hits = receiver.wait_for(1, 10_000).await;
        let hit = &hits[0];
        let payload = hit.json();
        assert_eq!(payload["type"], "generation.succeeded");
        assert_eq!(payload["data"]["id"], generation_id.as_str());
        assert_eq!(payload["data"]["status"], "succeeded");
        assert!(
            payload["timestamp"]
                .as_str()
                .unwrap_or_default()
                .ends_with('Z'),
            "{payload}"
        );
        assert_eq!(hit.header("content-type"), "application/json");
        let id = hit.header("webhook-id");
        assert!(id.starts_with("evt_"), "{id}");
        let ts: i64 = hit.header("webhook-timestamp").parse().unwrap_or_default();
        let now = easel_core::time::now_ms() / 1000;
        assert!((now - 5..=now).contains(&ts), "{ts} vs {now}");
        let sig = hit.header("webhook-signature");
        assert!(sig.starts_with("v1,") && !sig.contains(' '), "{sig}");
        // The official verifier accepts it, and refuses a stranger's secret and a body
        // changed on the way.
        let stranger = easel_server::webhooks::signature::Secret::generate().expose();
        assert_eq!(
            verify(&[secret.clone(), stranger], &id, ts, &hit.body, &sig).await,
            ["ok", "refused: WebhookVerificationError"]
        );
        let tampered = hit.body.replace("succeeded", "failed");
        assert_eq!(
            verify(std::slice::from_ref(&secret), &id, ts, &tampered, &sig).await,
            ["refused: WebhookVerificationError"]
        );
        // Only the subscribed type came (not queued or running), and the log shows it: the
        // control got queued and running in the same window, this endpoint has no delivery
        // of them and was called once.
        let got = settled(&app, &key, &everything_id, 3).await;
        for t in [
            "generation.queued",
            "generation.running",
            "generation.succeeded",
        ] {
            assert!(types(&got).contains(&t), "the control missed {t}: {got:?}");
        }
        assert_eq!(receiver.hits().len(), 1);
        assert_eq!(
            types(&deliveries(&app, &key, &endpoint_id).await),
            ["generation.succeeded"]
        );
        let d = delivery_until(&app, &key, &endpoint_id, |d| d["status"] == "succeeded").await;
        assert_eq!(
            (d["event_id"].as_str(), d["event_type"].as_str()),
            (Some(id.as_str()), Some("generation.succeeded"))
        );
        assert_eq!(d["attempt_count"], 1);
        let attempt = &d["attempts"][0];
        // An answer from loopback is never kept (it could be a local service's).
        assert_eq!(
            (
                attempt["status_code"].as_u64(),
                attempt["response_body"].clone()
            ),
            (Some(200), Value::Null)
        );
        assert!(
            attempt["latency_ms"]
                .as_i64()
                .is_some_and(|l| (0..5_000).contains(&l)),
            "{attempt}"
        );
        let one = app
            .get(
                &format!(
                    "/v1/webhook_deliveries/{}",
                    d["id"].as_str().unwrap_or_default()
                ),
                &key,
            )
            .await
            .expect(200);
        assert_eq!(one.body["id"], d["id"]);
        app.stop().await;
    }
);

both_backends!(
    failures_are_retried_with_the_same_id_and_growing_backoff,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("retry@example.com", "test").await;
        let receiver = Receiver::start(vec![Reply::Status(500), Reply::Status(503)]).await;
        let (endpoint_id, secret) =
            endpoint(&app, &key, &receiver.url, json!(["credits.granted"])).await;
        credit_event(&app, &account_id, Mode::Test).await;
        let hits = receiver.wait_for(3, 15_000).await;
        let ids: Vec<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
        assert!(
            ids.iter().all(|id| *id == ids[0]),
            "one webhook-id on every retry: {ids:?}"
        );
        assert!(
            hits.iter().all(|h| h.body == hits[0].body),
            "the same bytes every time"
        );
        let first_wait = hits[1].at - hits[0].at;
        let second_wait = hits[2].at - hits[1].at;
        assert!(first_wait >= Duration::from_millis(850), "{first_wait:?}");
        assert!(
            second_wait >= Duration::from_millis(1_750),
            "{second_wait:?}"
        );
        assert!(
            second_wait > first_wait,
            "backoff grows: {first_wait:?} then {second_wait:?}"
        );
        for h in &hits {
            let ts: i64 = h.header("webhook-timestamp").parse().unwrap_or_default();
            assert_eq!(
                verify(
                    std::slice::from_ref(&secret),
                    &ids[0],
                    ts,
                    &h.body,
                    &h.header("webhook-signature")
                )
                .await,
                ["ok"]
            );
        }
        let d = delivery_until(&app, &key, &endpoint_id, |d| d["status"] == "succeeded").await;
        assert_eq!(d["attempt_count"], 3);
        let log: Vec<(Option<u64>, bool)> = d["attempts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| (x["status_code"].as_u64(), x["error"].is_null()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            log,
            [(Some(500), false), (Some(503), false), (Some(200), true)]
        );
        // The receiver is on loopback: no excerpt (`webhook_urls` checks the cap elsewhere).
        assert_eq!(d["attempts"][0]["response_body"], Value::Null);
        assert_eq!(d["attempts"][0]["error"], "the endpoint answered HTTP 500");
        // The endpoint's failure streak ended with the success.
        let e = app
            .get(&format!("/v1/webhook_endpoints/{endpoint_id}"), &key)
            .await
            .expect(200);
        assert_eq!(
            (e.body["status"].as_str(), e.body["failing_since"].as_i64()),
            (Some("enabled"), None)
        );
        assert!(
            e.body.get("secret").is_none(),
            "the secret is shown only once: {}",
            e.body
        );
        app.stop().await;
    }
);

both_backends!(
    a_timing_out_endpoint_is_retried_and_never_delays_a_healthy_one,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            quick(c);
            c.webhooks.retry_seconds = vec![30];
            c.webhooks.per_endpoint_concurrency = 2;
        })
        .await;
        let (account_id, key) = app.account("slow@example.com", "test").await;
        let slow = Receiver::start(vec![Reply::Sleep(3_000); 20]).await;
        let healthy = Receiver::start(vec![]).await;
        let (slow_id, _) = endpoint(&app, &key, &slow.url, json!(["credits.granted"])).await;
        endpoint(&app, &key, &healthy.url, json!(["credits.granted"])).await;
        let started = Instant::now();
        for _ in 0..10 {
            credit_event(&app, &account_id, Mode::Test).await;
        }
        // Ten events each: the healthy endpoint has all ten long before the slow one's
        // first attempt times out.
        healthy.wait_for(10, 5_000).await;
        let healthy_done = started.elapsed();
        assert!(
            healthy_done < Duration::from_millis(900),
            "healthy endpoint delayed: {healthy_done:?}"
        );
        // Its share (2) is tried at once and both attempts time out together.
        let attempted = eventually(5_000, || async {
            deliveries(&app, &key, &slow_id)
                .await
                .iter()
                .filter(|d| d["attempt_count"] == 1)
                .count()
                >= 2
        })
        .await;
        assert!(
            attempted,
            "two attempts to the slow endpoint were not recorded"
        );
        let all = deliveries(&app, &key, &slow_id).await;
        assert_eq!(all.len(), 10, "one delivery per event");
        let (tried, untried): (Vec<&Value>, Vec<&Value>) =
            all.iter().partition(|d| d["attempt_count"] == 1);
        for t in &tried {
            assert_eq!(t["attempts"][0]["error"], "timed out after 1000 ms", "{t}");
            assert_eq!(t["attempts"][0]["status_code"], Value::Null);
            assert_eq!(t["status"], "pending");
        }
        // The circuit breaker held the other eight back for the retry wait (30 s, ±10%)
        // instead of timing out on each of the ten: the stored schedule says so.
        assert_eq!(tried.len(), 2, "{} tried", tried.len());
        let soon = easel_core::time::now_ms() / 1000 + 20;
        for d in &untried {
            assert_eq!(
                (d["attempt_count"].as_u64(), d["status"].as_str()),
                (Some(0), Some("pending")),
                "{d}"
            );
            assert!(
                d["next_attempt_at"].as_i64().is_some_and(|at| at > soon),
                "not held back: {d}"
            );
        }
        // And none was sent: an event of another account goes through in the same window
        // (an event of this one would get a delivery to the slow endpoint, due at once).
        let (other_account, other_key) = app.account("slow-control@example.com", "test").await;
        let control = Receiver::start(vec![]).await;
        let (control_id, _) =
            endpoint(&app, &other_key, &control.url, json!(["credits.granted"])).await;
        credit_event(&app, &other_account, Mode::Test).await;
        settled(&app, &other_key, &control_id, 1).await;
        assert_eq!(
            slow.hits().len(),
            2,
            "attempts to the dead endpoint past its share"
        );
        app.stop().await;
    }
);

both_backends!(
    slow_attempts_give_their_slots_to_healthy_endpoints,
    |db: TestDb| async move {
        // Two slots for the whole node, both soon taken by a hanging endpoint's share: an
        // attempt still waiting after a moment hands its slot on, so the healthy endpoint's
        // ten deliveries go long before the hanging ones time out (1 s).
        let app = TestApp::start_with(&db, |c| {
            quick(c);
            c.webhooks.retry_seconds = vec![30];
            c.webhooks.concurrency = 2;
            c.webhooks.per_endpoint_concurrency = 2;
        })
        .await;
        let (account_id, key) = app.account("starved@example.com", "test").await;
        let slow = Receiver::start(vec![Reply::Sleep(3_000); 20]).await;
        let healthy = Receiver::start(vec![]).await;
        endpoint(&app, &key, &slow.url, json!(["credits.granted"])).await;
        endpoint(&app, &key, &healthy.url, json!(["credits.granted"])).await;
        let started = Instant::now();
        for _ in 0..10 {
            credit_event(&app, &account_id, Mode::Test).await;
        }
        healthy.wait_for(10, 5_000).await;
        let healthy_done = started.elapsed();
        assert!(
            healthy_done < Duration::from_millis(900),
            "healthy endpoint starved of slots: {healthy_done:?}"
        );
        // The hanging endpoint still got no more than its share at once.
        assert!(
            slow.hits().len() <= 2,
            "{} attempts to the slow endpoint",
            slow.hits().len()
        );
        app.stop().await;
    }
);

both_backends!(
    an_endpoint_failing_past_the_window_is_disabled_and_its_owner_told,
    |db: TestDb| async move {
        let mail_dir = db.dir.join("mail-out");
        let dir = mail_dir.clone();
        let app = TestApp::start_with(&db, move |c| {
            quick(c);
            c.webhooks.retry_seconds = vec![1, 1, 1, 1, 1, 1];
            c.webhooks.disable_after_seconds = 2;
            c.mail.transport = easel_server::config::MailTransport::File;
            c.mail.dir = dir.display().to_string();
        })
        .await;
        let (account_id, key) = app.account("dead@example.com", "test").await;
        let dead = Receiver::start(vec![Reply::Status(500); 50]).await;
        let watcher = Receiver::start(vec![]).await;
        let control = Receiver::start(vec![]).await;
        let (dead_id, _) = endpoint(&app, &key, &dead.url, json!(["credits.granted"])).await;
        let (control_id, _) = endpoint(&app, &key, &control.url, json!(["credits.granted"])).await;
        endpoint(
            &app,
            &key,
            &watcher.url,
            json!(["webhook_endpoint.disabled"]),
        )
        .await;
        credit_event(&app, &account_id, Mode::Test).await;
        // Attempts at 0, ~1 and ~2 s: the third finds it failing for 2 s and disables it.
        let notice = watcher.wait_for(1, 10_000).await;
        let payload = notice[0].json();
        assert_eq!(payload["type"], "webhook_endpoint.disabled");
        assert_eq!(payload["data"]["id"], dead_id.as_str());
        let e = app
            .get(&format!("/v1/webhook_endpoints/{dead_id}"), &key)
            .await
            .expect(200);
        assert_eq!(e.body["status"], "disabled", "{}", e.body);
        assert!(
            e.body["disabled_reason"]
                .as_str()
                .unwrap_or_default()
                .contains("failed"),
            "{}",
            e.body
        );
        let attempts = dead.hits().len();
        assert!((3..=4).contains(&attempts), "{attempts} attempts");
        let d = delivery_until(&app, &key, &dead_id, |d| d["status"] == "failed").await;
        assert_eq!(d["last_error"], "the endpoint was disabled");
        // Nothing more goes to it: the next event reaches the control endpoint, and the
        // disabled one neither gets a delivery for it nor a request.
        credit_event(&app, &account_id, Mode::Test).await;
        assert_eq!(settled(&app, &key, &control_id, 2).await.len(), 2);
        assert_eq!(control.hits().len(), 2);
        assert_eq!(dead.hits().len(), attempts);
        assert_eq!(deliveries(&app, &key, &dead_id).await.len(), 1);
        // The event is listed, the audit log has it, and the owner got a mail.
        let disabled = "webhook_endpoint.disabled";
        assert!(listed(&app, &key, "/v1/events", "type", disabled).await > 0);
        assert!(listed(&app, &key, "/v1/audit_log", "action", disabled).await > 0);
        let mailed = eventually(3_000, || {
            let (dir, dead_id) = (mail_dir.clone(), dead_id.clone());
            async move {
                std::fs::read_dir(&dir)
                    .map(|entries| {
                        entries.flatten().any(|e| {
                            std::fs::read_to_string(e.path()).is_ok_and(|m| {
                                m.contains("To: dead@example.com")
                                    && m.contains(&dead_id)
                                    && m.contains("disabled")
                            })
                        })
                    })
                    .unwrap_or(false)
            }
        })
        .await;
        assert!(mailed, "no mail to the owner in {}", mail_dir.display());
        // Replaying to a disabled endpoint is refused until it is enabled again.
        let did = d["id"].as_str().unwrap_or_default().to_string();
        app.post(
            &format!("/v1/webhook_deliveries/{did}/replay"),
            &key,
            json!({}),
        )
        .await
        .expect_error(409, "webhook_endpoint_disabled");
        app.stop().await;
    }
);

both_backends!(
    a_replay_sends_the_same_message_again_as_a_manual_attempt,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("replay@example.com", "test").await;
        let receiver = Receiver::start(vec![]).await;
        let (endpoint_id, secret) = endpoint(&app, &key, &receiver.url, json!(["*"])).await;
        credit_event(&app, &account_id, Mode::Test).await;
        receiver.wait_for(1, 5_000).await;
        let d = delivery_until(&app, &key, &endpoint_id, |d| d["status"] == "succeeded").await;
        let did = d["id"].as_str().unwrap_or_default().to_string();
        let res = app
            .post(
                &format!("/v1/webhook_deliveries/{did}/replay"),
                &key,
                json!({}),
            )
            .await
            .expect(202);
        assert_eq!(res.body["status"], "pending");
        let hits = receiver.wait_for(2, 5_000).await;
        assert_eq!(hits[1].header("webhook-id"), hits[0].header("webhook-id"));
        assert_eq!(hits[1].body, hits[0].body);
        let ts: i64 = hits[1]
            .header("webhook-timestamp")
            .parse()
            .unwrap_or_default();
        assert_eq!(
            verify(
                &[secret],
                &hits[1].header("webhook-id"),
                ts,
                &hits[1].body,
                &hits[1].header("webhook-signature")
            )
            .await,
            ["ok"]
        );
        let d = delivery_until(&app, &key, &endpoint_id, |d| {
            d["status"] == "succeeded" && d["attempts"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
        assert_eq!(d["attempt_count"], 1, "a replay is not a scheduled attempt");
        assert_eq!(
            d["attempts"]
                .as_array()
                .map(|a| a.iter().map(|x| x["manual"] == true).collect::<Vec<_>>()),
            Some(vec![false, true])
        );
        // Strangers, other modes and malformed ids get 404s; the replay is audited.
        let (_, other) = app.account("other@example.com", "test").await;
        app.post(
            &format!("/v1/webhook_deliveries/{did}/replay"),
            &other,
            json!({}),
        )
        .await
        .expect_error(404, "resource_missing");
        let live = app.owner_key(&account_id, "live").await;
        app.get(&format!("/v1/webhook_deliveries/{did}"), &live)
            .await
            .expect_error(404, "resource_missing");
        app.post(
            "/v1/webhook_deliveries/whd_nonsense/replay",
            &key,
            json!({}),
        )
        .await
        .expect_error(404, "resource_missing");
        let replayed = "webhook_delivery.replayed";
        assert!(listed(&app, &key, "/v1/audit_log", "action", replayed).await > 0);
        app.stop().await;
    }
);

both_backends!(
    a_rotated_secret_signs_alongside_the_new_one_until_the_overlap_ends,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("rotate@example.com", "test").await;
        let receiver = Receiver::start(vec![]).await;
        let (endpoint_id, old) =
            endpoint(&app, &key, &receiver.url, json!(["credits.granted"])).await;
        let res = app
            .post(
                &format!("/v1/webhook_endpoints/{endpoint_id}/rotate_secret"),
                &key,
                json!({"overlap_seconds": 3600}),
            )
            .await
            .expect(200);
        let new = res.body["secret"].as_str().unwrap_or_default().to_string();
        assert!(new.starts_with("whsec_") && new != old, "{}", res.body);
        assert!(
            res.body["previous_secret_expires_at"].as_i64().is_some(),
            "{}",
            res.body
        );
        credit_event(&app, &account_id, Mode::Test).await;
        let hit = receiver.wait_for(1, 5_000).await.remove(0);
        let (id, sig) = (hit.header("webhook-id"), hit.header("webhook-signature"));
        let ts: i64 = hit.header("webhook-timestamp").parse().unwrap_or_default();
        assert_eq!(
            sig.split(' ').count(),
            2,
            "two signatures during the overlap: {sig}"
        );
        assert_eq!(
            verify(&[new.clone(), old.clone()], &id, ts, &hit.body, &sig).await,
            ["ok", "ok"]
        );

        // A rotation without overlap: only the newest secret signs.
        let res = app
            .post(
                &format!("/v1/webhook_endpoints/{endpoint_id}/rotate_secret"),
                &key,
                json!({"overlap_seconds": 0}),
            )
            .await
            .expect(200);
        let newest = res.body["secret"].as_str().unwrap_or_default().to_string();
        assert_eq!(res.body["previous_secret_expires_at"], Value::Null);
        credit_event(&app, &account_id, Mode::Test).await;
        let hit = receiver.wait_for(2, 5_000).await.remove(1);
        let sig = hit.header("webhook-signature");
        let ts: i64 = hit.header("webhook-timestamp").parse().unwrap_or_default();
        assert!(!sig.contains(' '), "{sig}");
        assert_eq!(
            verify(
                &[newest, new, old],
                &hit.header("webhook-id"),
                ts,
                &hit.body,
                &sig
            )
            .await,
            [
                "ok",
                "refused: WebhookVerificationError",
                "refused: WebhookVerificationError"
            ]
        );
        // The default overlap comes from the config; too long an overlap is refused.
        let res = app
            .post(
                &format!("/v1/webhook_endpoints/{endpoint_id}/rotate_secret"),
                &key,
                json!({}),
            )
            .await
            .expect(200);
        let until = res.body["previous_secret_expires_at"]
            .as_i64()
            .unwrap_or_default();
        let now = easel_core::time::now_ms() / 1000;
        assert!(
            (now + 86_300..=now + 86_500).contains(&until),
            "24 h by default: {until} vs {now}"
        );
        app.post(
            &format!("/v1/webhook_endpoints/{endpoint_id}/rotate_secret"),
            &key,
            json!({"overlap_seconds": 2_592_001}),
        )
        .await
        .expect_error(400, "parameter_invalid");
        let rotated = "webhook_endpoint.secret_rotated";
        assert_eq!(
            listed(&app, &key, "/v1/audit_log", "action", rotated).await,
            3
        );
        let audit = app.get("/v1/audit_log", &key).await.expect(200);
        assert!(
            !audit.body.to_string().contains("whsec_"),
            "no secret in the audit log"
        );
        app.stop().await;
    }
);

both_backends!(
    a_restart_in_the_middle_of_a_retry_loses_nothing,
    |db: TestDb| async move {
        let receiver = Receiver::start(vec![Reply::Status(500)]).await;
        let tweak = |c: &mut Config| {
            quick(c);
            c.webhooks.retry_seconds = vec![2];
        };
        let app = TestApp::start_with(&db, tweak).await;
        let (account_id, key) = app.account("restart@example.com", "test").await;
        let (endpoint_id, _) =
            endpoint(&app, &key, &receiver.url, json!(["credits.granted"])).await;
        credit_event(&app, &account_id, Mode::Test).await;
        receiver.wait_for(1, 5_000).await;
        delivery_until(&app, &key, &endpoint_id, |d| d["attempt_count"] == 1).await;
        app.stop().await;

        // A new process on the same database sends the retry, with the same id.
        let app = TestApp::start_with(&db, tweak).await;
        let hits = receiver.wait_for(2, 8_000).await;
        assert_eq!(hits[1].header("webhook-id"), hits[0].header("webhook-id"));
        let d = delivery_until(&app, &key, &endpoint_id, |d| d["status"] == "succeeded").await;
        assert_eq!(d["attempt_count"], 2);
        // Sent once per attempt: a later event to the same endpoint goes through, and its
        // request is the only one on top of the two.
        credit_event(&app, &account_id, Mode::Test).await;
        assert_eq!(settled(&app, &key, &endpoint_id, 2).await.len(), 2);
        let hits = receiver.hits();
        let ids: Vec<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
        assert_eq!(ids.len(), 3, "sent once per attempt: {ids:?}");
        assert_ne!(ids[2], ids[0], "the third request is the new event");
        app.stop().await;
    }
);

both_backends!(
    endpoints_are_managed_through_the_api_with_clear_errors,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("crud@example.com", "test").await;
        let receiver = Receiver::start(vec![]).await;
        // The positive control for "gets nothing": subscribed to the same type throughout.
        let control = Receiver::start(vec![]).await;
        let (control_id, _) = endpoint(&app, &key, &control.url, json!(["credits.granted"])).await;
        let (id, _) = endpoint(
            &app,
            &key,
            &receiver.url,
            json!(["credits.granted", "credits.granted", "invoice.created"]),
        )
        .await;
        let got = app
            .get(&format!("/v1/webhook_endpoints/{id}"), &key)
            .await
            .expect(200);
        assert_eq!(
            got.body["enabled_events"],
            json!(["credits.granted", "invoice.created"])
        );
        assert_eq!(
            (got.body["livemode"].as_bool(), got.body["status"].as_str()),
            (Some(false), Some("enabled"))
        );
        for (body, param) in [
            (
                json!({"url": receiver.url, "enabled_events": ["credits.grantd"]}),
                "enabled_events",
            ),
            (
                json!({"url": receiver.url, "enabled_events": []}),
                "enabled_events",
            ),
            (
                json!({"url": receiver.url, "enabled_events": ["*", "credits.granted"]}),
                "enabled_events",
            ),
            (
                json!({"url": receiver.url, "description": "x".repeat(501)}),
                "description",
            ),
        ] {
            let res = app
                .post("/v1/webhook_endpoints", &key, body)
                .await
                .expect_error(400, "parameter_invalid");
            assert_eq!(res.param(), param);
        }
        app.post("/v1/webhook_endpoints", &key, json!({"url": 5}))
            .await
            .expect(400);
        app.post(
            "/v1/webhook_endpoints",
            &key,
            json!({"url": receiver.url, "secret": "whsec_mine"}),
        )
        .await
        .expect(400);
        // Disable, change the events, re-enable: disabled endpoints get nothing.
        let res = app
            .call(
                "PATCH",
                &format!("/v1/webhook_endpoints/{id}"),
                Some(&key),
                Some(json!({"enabled": false, "enabled_events": ["*"]})),
            )
            .await
            .expect(200);
        assert_eq!(
            (
                res.body["status"].as_str(),
                res.body["enabled_events"].clone()
            ),
            (Some("disabled"), json!(["*"]))
        );
        credit_event(&app, &account_id, Mode::Test).await;
        settled(&app, &key, &control_id, 1).await;
        assert!(receiver.hits().is_empty());
        assert!(deliveries(&app, &key, &id).await.is_empty());
        let res = app
            .call(
                "PATCH",
                &format!("/v1/webhook_endpoints/{id}"),
                Some(&key),
                Some(json!({"enabled": true, "description": "again"})),
            )
            .await
            .expect(200);
        assert_eq!(
            (
                res.body["status"].as_str(),
                res.body["description"].as_str()
            ),
            (Some("enabled"), Some("again"))
        );
        credit_event(&app, &account_id, Mode::Test).await;
        receiver.wait_for(1, 5_000).await;
        app.call(
            "PATCH",
            &format!("/v1/webhook_endpoints/{id}"),
            Some(&key),
            Some(json!({"url": "http://10.0.0.1/hook"})),
        )
        .await
        .expect_error(400, "url_invalid");
        // Lists, scopes, other accounts and modes.
        let list = app.get("/v1/webhook_endpoints", &key).await.expect(200);
        let mut ids: Vec<&str> = list.body["data"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["id"].as_str()).collect())
            .unwrap_or_else(|| panic!("a list without data: {}", list.body));
        ids.sort_unstable();
        let mut both = [id.as_str(), control_id.as_str()];
        both.sort_unstable();
        assert_eq!(ids, both);
        let live = app.owner_key(&account_id, "live").await;
        let list = app.get("/v1/webhook_endpoints", &live).await.expect(200);
        assert_eq!(
            list.body["data"].as_array().map(Vec::len),
            Some(0),
            "test-mode endpoints are not live ones"
        );
        app.get(&format!("/v1/webhook_endpoints/{id}"), &live)
            .await
            .expect_error(404, "resource_missing");
        // The keys made next are events too (`key.created`): keep them from this endpoint,
        // whose log is counted below.
        app.call(
            "PATCH",
            &format!("/v1/webhook_endpoints/{id}"),
            Some(&key),
            Some(json!({"enabled_events": ["credits.granted"]})),
        )
        .await
        .expect(200);
        let members = app
            .state
            .store
            .list_members(&account_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let owner = members
            .first()
            .map(|m| m.user_id.clone())
            .unwrap_or_default();
        let reader = app
            .key_for(&account_id, &owner, "test", Some(vec!["webhooks:read"]))
            .await;
        app.get(&format!("/v1/webhook_endpoints/{id}/deliveries"), &reader)
            .await
            .expect(200);
        app.post(
            "/v1/webhook_endpoints",
            &reader,
            json!({"url": receiver.url}),
        )
        .await
        .expect_error(403, "insufficient_scope");
        let nobody = app
            .key_for(&account_id, &owner, "test", Some(vec!["generations:read"]))
            .await;
        app.get("/v1/webhook_endpoints", &nobody)
            .await
            .expect_error(403, "insufficient_scope");
        app.get("/v1/webhook_endpoints/whk_bad", &key)
            .await
            .expect_error(404, "resource_missing");
        app.get("/v1/webhook_endpoints?starting_after=nope", &key)
            .await
            .expect_error(400, "parameter_invalid");
        // Deleted: gone from the API but its log stays, and nothing more is sent.
        let res = app
            .delete(&format!("/v1/webhook_endpoints/{id}"), &key)
            .await
            .expect(200);
        assert_eq!(
            res.body,
            json!({"id": id, "object": "webhook_endpoint", "deleted": true})
        );
        app.get(&format!("/v1/webhook_endpoints/{id}"), &key)
            .await
            .expect_error(404, "resource_missing");
        assert_eq!(deliveries(&app, &key, &id).await.len(), 1);
        credit_event(&app, &account_id, Mode::Test).await;
        assert_eq!(settled(&app, &key, &control_id, 3).await.len(), 3);
        assert_eq!(receiver.hits().len(), 1);
        assert_eq!(deliveries(&app, &key, &id).await.len(), 1);
        app.stop().await;
    }
);

/// Webhook URLs a live endpoint must never get: each refused with `url_invalid`.
const SSRF_ATTEMPTS: &[&str] = &[
    "http://example.com/hook",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "not a url",
    "/relative/path",
    "https://user:pass@example.com/hook",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://0177.0.0.1/hook",
    "https://0.0.0.0/hook",
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:7f00:1]/hook",
    "https://10.0.0.1/hook",
    "https://172.16.5.4/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fe80::1]/hook",
    "https://100.64.0.1/hook",
    "https://224.0.0.1/hook",
    "https://255.255.255.255/hook",
    "https://192.0.2.10/hook",
    "https://198.18.0.1/hook",
    "https://[fc00::1]/hook",
    "https://[fd12:3456::1]/hook",
    "https://[2002:7f00:1::]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[2001::1]/hook",
    "https://[2001:db8::1]/hook",
    "https://[ff02::1]/hook",
    "https://no-such-host.invalid/hook",
];

both_backends!(
    live_endpoints_refuse_every_internal_destination,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, live) = app.account("ssrf@example.com", "live").await;
        assert!(SSRF_ATTEMPTS.len() >= 30);
        for url in SSRF_ATTEMPTS {
            let res = app
                .post("/v1/webhook_endpoints", &live, json!({"url": url}))
                .await;
            assert_eq!(
                (res.status, res.code(), res.param()),
                (400, "url_invalid", "url"),
                "{url}: {}",
                res.body
            );
            assert!(
                !res.body["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
            );
        }
        // A test-mode endpoint may use plain http to loopback, and only loopback.
        let (_, test) = app.account("ssrf-test@example.com", "test").await;
        let receiver = Receiver::start(vec![]).await;
        app.post("/v1/webhook_endpoints", &test, json!({"url": receiver.url}))
            .await
            .expect(201);
        app.post(
            "/v1/webhook_endpoints",
            &test,
            json!({"url": "http://localhost:9/hook"}),
        )
        .await
        .expect(201);
        for url in [
            "http://10.0.0.1/hook",
            "https://169.254.169.254/",
            "http://example.com/",
        ] {
            app.post("/v1/webhook_endpoints", &test, json!({"url": url}))
                .await
                .expect_error(400, "url_invalid");
        }
        app.stop().await;
    }
);

both_backends!(
    redirects_are_not_followed_and_every_delivery_is_checked_again,
    |db: TestDb| async move {
        // The operator allow-lists 127.0.0.3 only, where the redirecting receiver is; one
        // on 127.0.0.2 stands for an internal service.
        let internal = Receiver::start_on("127.0.0.2", vec![]).await;
        let redirecting =
            Receiver::start_on("127.0.0.3", vec![Reply::Redirect(internal.url.clone()); 10]).await;
        let app = TestApp::start_with(&db, |c| {
            quick(c);
            c.webhooks.allow = vec!["127.0.0.3/32".into()];
            c.webhooks.retry_seconds = vec![];
        })
        .await;
        let (account_id, live) = app.account("redirect@example.com", "live").await;
        app.post("/v1/webhook_endpoints", &live, json!({"url": internal.url}))
            .await
            .expect_error(400, "url_invalid");
        let (redirect_id, _) =
            endpoint(&app, &live, &redirecting.url, json!(["credits.granted"])).await;
        // An endpoint whose URL passed when it was made but now resolves to a private
        // address (as DNS rebinding would make it) is refused at delivery: the resolver
        // vets every address before connecting.
        let rebound = app
            .state
            .store
            .create_webhook_endpoint(
                easel_db::NewWebhookEndpoint {
                    account_id: account_id.clone(),
                    mode: Mode::Live,
                    url: format!(
                        "https://localhost:{}/hooks",
                        redirecting
                            .url
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.split('/').next())
                            .unwrap_or("9")
                    ),
                    description: String::new(),
                    enabled_events: easel_db::EnabledEvents::All,
                    secret: easel_server::webhooks::signature::Secret::generate().expose(),
                    enabled: true,
                },
                easel_db::AuditContext::new(easel_core::audit::Actor::system(), None),
            )
            .await
            .unwrap_or_else(|e| panic!("endpoint: {e}"));
        credit_event(&app, &account_id, Mode::Live).await;
        redirecting.wait_for(1, 5_000).await;
        let d = delivery_until(&app, &live, &redirect_id, |d| d["status"] == "failed").await;
        assert_eq!(d["attempts"][0]["status_code"], 302, "{d}");
        assert_eq!(d["attempts"][0]["error"], "the endpoint answered HTTP 302");
        let r = delivery_until(&app, &live, &rebound.id, |d| d["status"] == "failed").await;
        // Refused, and the developer is not told which address the name resolved to.
        assert_eq!(
            r["attempts"][0]["error"],
            "refused: its host name resolves to an address webhooks are not delivered to",
            "{r}"
        );
        // No wait needed: an attempt is recorded only after the client returned, and a
        // followed redirect would have reached `internal` before that.
        assert!(internal.hits().is_empty(), "the redirect was followed");
        assert_eq!(
            redirecting.hits().len(),
            1,
            "only the redirecting endpoint was reached"
        );
        app.stop().await;
    }
);

both_backends!(
    two_nodes_share_the_outbox_and_send_each_delivery_once,
    |db: TestDb| async move {
        let receiver = Receiver::start(vec![]).await;
        let one = start(&db).await;
        let two = start(&db).await;
        let (account_id, key) = one.account("nodes@example.com", "test").await;
        let (endpoint_id, _) =
            endpoint(&one, &key, &receiver.url, json!(["credits.granted"])).await;
        for _ in 0..40 {
            credit_event(&one, &account_id, Mode::Test).await;
        }
        receiver.wait_for(40, 15_000).await;
        // Every delivery is through; then one more event goes through the same two nodes,
        // so a second send of any of the forty has had its time too.
        settled(&one, &key, &endpoint_id, 40).await;
        credit_event(&two, &account_id, Mode::Test).await;
        let all = settled(&one, &key, &endpoint_id, 41).await;
        let mut ids: Vec<String> = receiver
            .hits()
            .iter()
            .map(|h| h.header("webhook-id"))
            .collect();
        assert_eq!(ids.len(), 41, "{} requests for 41 events", ids.len());
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 41, "every event once");
        assert_eq!(all.len(), 41);
        assert!(all.iter().all(|d| d["attempt_count"] == 1), "{all:?}");
        two.stop().await;
        one.stop().await;
    }
);

both_backends!(
    a_terminated_account_gets_no_deliveries,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, key) = app.account("ended@example.com", "test").await;
        let receiver = Receiver::start(vec![]).await;
        let (endpoint_id, _) = endpoint(&app, &key, &receiver.url, json!(["*"])).await;
        app.state
            .store
            .change_account_state(
                &account_id,
                easel_db::StateChange::Terminate,
                easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None),
            )
            .await
            .unwrap_or_else(|e| panic!("terminate: {e}"));
        let ended = eventually(5_000, || async {
            app.state
                .store
                .list_webhook_deliveries(
                    &account_id,
                    Mode::Test,
                    &endpoint_id,
                    easel_db::Page::first(10),
                )
                .await
                .is_ok_and(|d| {
                    d.len() == 2 && d.iter().all(|d| d.state == easel_db::DeliveryState::Failed)
                })
        })
        .await;
        assert!(
            ended,
            "the account.terminated and key.revoked deliveries were not ended"
        );
        let d = app
            .state
            .store
            .list_webhook_deliveries(
                &account_id,
                Mode::Test,
                &endpoint_id,
                easel_db::Page::first(10),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut ended: Vec<(&str, Option<&str>)> = d
            .iter()
            .map(|d| (d.event_type.as_str(), d.last_error.as_deref()))
            .collect();
        ended.sort_unstable();
        assert_eq!(
            ended,
            [
                ("account.terminated", Some("the account is terminated")),
                ("key.revoked", Some("the account is terminated")),
            ]
        );
        assert!(d.iter().all(|d| d.attempt_log.is_empty()));
        assert!(
            receiver.hits().is_empty(),
            "a terminated account's endpoint was called"
        );
        app.stop().await;
    }
);

#[test]
fn the_api_reference_names_every_event_type_an_endpoint_can_subscribe_to() {
    let doc = serde_json::to_string(&easel_server::router::api().1).unwrap_or_default();
    for t in easel_core::events::TYPES {
        assert!(
            doc.contains(&format!("`{t}`")),
            "{t} is missing from the reference"
        );
    }
}
