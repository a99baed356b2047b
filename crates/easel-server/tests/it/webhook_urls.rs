//! What the webhook URL check tells developers and the operator: a host name that resolves
//! to a private address is refused without naming the address (the server log names it,
//! with the endpoint); test-mode endpoints reach loopback only on ports the operator opened;
//! and answers from loopback never reach the delivery log, while others still do.

use easel_core::mode::Mode;
use easel_server::webhooks::ports::PortRange;
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::support::{TestApp, logs};
use crate::webhooks::{Receiver, Reply, credit_event, delivery_until, endpoint, quick};

const RESOLVED: &str = "This webhook URL cannot be used: its host name resolves to an address webhooks are not delivered to.";
const LOOPBACK_OFF: &str = "This webhook URL cannot be used: test-mode endpoints on loopback are not enabled on this server (webhooks.test_mode_loopback_ports).";

/// The port of a receiver's `http://ip:port/hooks` URL.
fn port_of(url: &str) -> u16 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// One attempt, then failed: the tests read the first attempt.
fn one_attempt(c: &mut easel_server::config::Config) {
    quick(c);
    c.webhooks.retry_seconds = vec![];
}

/// Stores an endpoint the API would refuse now (as one made before the operator changed
/// the settings, or before a DNS record changed).
async fn stored_endpoint(app: &TestApp, account_id: &str, mode: Mode, url: &str) -> String {
    app.state
        .store
        .create_webhook_endpoint(
            easel_db::NewWebhookEndpoint {
                account_id: account_id.into(),
                mode,
                url: url.into(),
                description: String::new(),
                enabled_events: easel_db::EnabledEvents::All,
                secret: easel_server::webhooks::signature::Secret::generate().expose(),
                enabled: true,
            },
            easel_db::AuditContext::new(easel_core::audit::Actor::system(), None),
        )
        .await
        .unwrap_or_else(|e| panic!("endpoint: {e}"))
        .id
}

async fn refused_with(app: &TestApp, key: &str, url: &str) -> String {
    let res = app
        .post("/v1/webhook_endpoints", key, json!({"url": url}))
        .await
        .expect_error(400, "url_invalid");
    assert_eq!(res.param(), "url");
    res.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The warnings about `host` resolving to a loopback address that carry every `needle`;
/// each must name the address.
fn loopback_warnings(needles: &[&str]) -> Vec<String> {
    let lines = logs::lines_with(&[&["WARN", "host=localhost"][..], needles].concat());
    for line in &lines {
        assert!(
            line.contains("address=127.0.0.1") || line.contains("address=::1"),
            "{line}"
        );
    }
    lines
}

both_backends!(
    a_host_name_resolving_to_a_private_address_is_refused_without_naming_it,
    |db: TestDb| async move {
        logs::capture();
        let app = TestApp::start_with(&db, |c| {
            one_attempt(c);
            c.webhooks.allow = vec!["127.0.0.3/32".into()];
        })
        .await;
        let (account_id, live) = app.account("names@example.com", "live").await;
        let (endpoint_id, _) =
            endpoint(&app, &live, "http://127.0.0.3:9/hooks", json!(["*"])).await;
        for url in ["https://localhost/hook", "https://LOCALHOST.:8443/hook"] {
            assert_eq!(refused_with(&app, &live, url).await, RESOLVED, "{url}");
        }
        let patched = app
            .call(
                "PATCH",
                &format!("/v1/webhook_endpoints/{endpoint_id}"),
                Some(&live),
                Some(json!({"url": "https://localhost:6379/"})),
            )
            .await
            .expect_error(400, "url_invalid");
        assert_eq!(patched.body["error"]["message"], RESOLVED);
        // The probe's typo ("it its host name does not resolve") is gone.
        assert_eq!(
            refused_with(&app, &live, "https://no-such-host.invalid/hook").await,
            "This webhook URL cannot be used: its host name does not resolve."
        );
        // The operator's log has the address, with the account, and the endpoint when
        // there is one.
        let new = loopback_warnings(&[&account_id, "endpoint.id=(new)"]);
        assert!(new.len() >= 2, "{new:?}");
        assert_eq!(loopback_warnings(&[&account_id, &endpoint_id]).len(), 1);
        // At delivery: an endpoint whose name resolves privately by then.
        let port = port_of(&Receiver::start(vec![]).await.url);
        let rebound = stored_endpoint(
            &app,
            &account_id,
            Mode::Live,
            &format!("https://localhost:{port}/hooks"),
        )
        .await;
        credit_event(&app, &account_id, Mode::Live).await;
        let d = delivery_until(&app, &live, &rebound, |d| d["status"] == "failed").await;
        let said = "refused: its host name resolves to an address webhooks are not delivered to";
        assert_eq!(
            (&d["attempts"][0]["error"], &d["last_error"]),
            (&json!(said), &json!(said)),
            "{d}"
        );
        let logged = eventually_logged(&[&rebound, "delivery.id="]).await;
        assert_eq!(loopback_warnings(&[&rebound]).len(), logged);
        app.stop().await;
    }
);

/// How many warnings carry every needle, once there is at least one.
async fn eventually_logged(needles: &[&str]) -> usize {
    let seen =
        crate::support::eventually(5_000, || async { !logs::lines_with(needles).is_empty() }).await;
    assert!(seen, "no warning with {needles:?}");
    logs::lines_with(needles).len()
}

both_backends!(
    test_mode_loopback_is_refused_when_no_port_is_open,
    |db: TestDb| async move {
        let receiver = Receiver::start(vec![]).await;
        let port = port_of(&receiver.url);
        let app = TestApp::start_with(&db, |c| {
            one_attempt(c);
            c.webhooks.test_mode_loopback_ports = vec![];
        })
        .await;
        let (account_id, test) = app.account("closed@example.com", "test").await;
        for url in [
            receiver.url.clone(),
            format!("http://localhost:{port}/hooks"),
            format!("https://[::1]:{port}/hooks"),
            "http://2130706433:6379/".into(),
        ] {
            assert_eq!(refused_with(&app, &test, &url).await, LOOPBACK_OFF, "{url}");
        }
        // One stored while loopback was open is refused at delivery, never sent.
        let stored = stored_endpoint(&app, &account_id, Mode::Test, &receiver.url).await;
        credit_event(&app, &account_id, Mode::Test).await;
        let d = delivery_until(&app, &test, &stored, |d| d["status"] == "failed").await;
        assert_eq!(
            d["attempts"][0]["error"],
            "refused: test-mode endpoints on loopback are not enabled on this server (webhooks.test_mode_loopback_ports)"
        );
        assert!(
            receiver.hits().is_empty(),
            "a closed loopback port was called"
        );
        app.stop().await;
    }
);

both_backends!(
    test_mode_loopback_is_allowed_only_on_the_open_ports,
    |db: TestDb| async move {
        let open = Receiver::start(vec![]).await;
        let closed = Receiver::start(vec![]).await;
        let (open_port, closed_port) = (port_of(&open.url), port_of(&closed.url));
        let app = TestApp::start_with(&db, |c| {
            one_attempt(c);
            c.webhooks.test_mode_loopback_ports =
                PortRange::new(open_port, open_port).into_iter().collect();
        })
        .await;
        let (account_id, test) = app.account("open@example.com", "test").await;
        let (endpoint_id, _) = endpoint(&app, &test, &open.url, json!(["credits.granted"])).await;
        endpoint(
            &app,
            &test,
            &format!("http://localhost:{open_port}/other"),
            json!(["credits.granted"]),
        )
        .await;
        let not_open = format!(
            "This webhook URL cannot be used: port {closed_port} is not open to test-mode endpoints on loopback (open: {open_port})."
        );
        for url in [
            closed.url.clone(),
            format!("http://localhost:{closed_port}/hooks"),
        ] {
            assert_eq!(refused_with(&app, &test, &url).await, not_open, "{url}");
        }
        // The open port is for test mode only.
        let (_, live) = app.account("open-live@example.com", "live").await;
        refused_with(&app, &live, &open.url).await;
        credit_event(&app, &account_id, Mode::Test).await;
        open.wait_for(2, 10_000).await;
        let d = delivery_until(&app, &test, &endpoint_id, |d| d["status"] == "succeeded").await;
        assert_eq!(d["attempts"][0]["status_code"], 200);
        assert!(
            closed.hits().is_empty(),
            "a port that is not open was called"
        );
        app.stop().await;
    }
);

/// This machine's address on its default route, if it has one that is not loopback (no
/// packet is sent: connecting a UDP socket only picks the route).
fn outward_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("198.51.100.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// The first attempt of `endpoint_id`'s failed delivery.
async fn first_attempt(app: &TestApp, key: &str, endpoint_id: &str) -> Value {
    let d = delivery_until(app, key, endpoint_id, |d| d["status"] == "failed").await;
    assert_eq!(d["attempts"][0]["status_code"], 500, "{d}");
    assert_eq!(d["attempts"][0]["error"], "the endpoint answered HTTP 500");
    d["attempts"][0].clone()
}

both_backends!(
    answers_from_loopback_are_not_kept_but_answers_from_elsewhere_are,
    |db: TestDb| async move {
        let far_ip = outward_address();
        let far = match far_ip {
            Some(ip) => Some(Receiver::start_on(&ip.to_string(), vec![Reply::Status(500)]).await),
            None => None,
        };
        let near = Receiver::start(vec![Reply::Status(500)]).await;
        let listed = Receiver::start_on("127.0.0.3", vec![Reply::Status(500)]).await;
        let app = TestApp::start_with(&db, |c| {
            one_attempt(c);
            c.webhooks.allow = ["127.0.0.3/32".to_string()]
                .into_iter()
                .chain(far_ip.map(|ip| format!("{ip}/32")))
                .collect();
        })
        .await;
        let (test_account, test) = app.account("near@example.com", "test").await;
        let (live_account, live) = app.account("far@example.com", "live").await;
        let events = json!(["credits.granted"]);
        let (near_id, _) = endpoint(&app, &test, &near.url, events.clone()).await;
        // Allow-listed by the operator, but still this host: no excerpt either.
        let (listed_id, _) = endpoint(&app, &live, &listed.url, events.clone()).await;
        let far_id = match &far {
            Some(far) => Some(endpoint(&app, &live, &far.url, events.clone()).await.0),
            None => None,
        };
        credit_event(&app, &test_account, Mode::Test).await;
        credit_event(&app, &live_account, Mode::Live).await;
        for (key, id) in [(&test, &near_id), (&live, &listed_id)] {
            let attempt = first_attempt(&app, key, id).await;
            assert_eq!(attempt["response_body"], Value::Null, "{attempt}");
        }
        assert_eq!((near.hits().len(), listed.hits().len()), (1, 1));
        match far_id {
            Some(far_id) => {
                let attempt = first_attempt(&app, &live, &far_id).await;
                let excerpt = attempt["response_body"].as_str().unwrap_or_default();
                assert!(
                    excerpt.starts_with("scripted 500") && excerpt.len() == 1024,
                    "a capped excerpt from an allow-listed address off this host: {attempt}"
                );
            }
            None => eprintln!(
                "no address but loopback on this machine: the excerpt from an address off this host was not checked"
            ),
        }
        app.stop().await;
    }
);
