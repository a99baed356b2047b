//! The test harness: the real server on an ephemeral port, on a fresh database, and an HTTP
//! client that checks every response against the server's own OpenAPI document.

pub mod binary;
pub mod console;
pub mod fake_stripe;
pub mod logs;
pub mod openapi;

use std::sync::Arc;

use easel_server::app::AppState;
use easel_server::config::{self, Config};
use easel_server::services::bootstrap::FirstStart;
use easel_test_utils::TestDb;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server.
pub struct TestApp {
    pub url: String,
    pub state: AppState,
    pub first: FirstStart,
    client: reqwest::Client,
    openapi: Arc<openapi::Checker>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A response: status, headers and the JSON body (`Value::Null` if it was not JSON).
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Res {
    /// The error code of an error envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    /// The `param` of an error envelope.
    pub fn param(&self) -> &str {
        self.body["error"]["param"].as_str().unwrap_or("<no param>")
    }

    /// Asserts the status, printing the body if it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Res {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts an error envelope with `status` and `code`.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Res {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "body: {}",
            self.body
        );
        let request_id = self
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            self.body["error"]["request_id"], request_id,
            "the envelope repeats X-Request-Id"
        );
        self
    }
}

/// A test configuration for `db`: ephemeral port, quick background loops.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = config::load(None, &[]).unwrap_or_else(|e| panic!("default config: {e}"));
    config.database_url = db.url.clone();
    config.data_dir = db.dir.clone();
    config.listen = "127.0.0.1:0".into();
    config.api_keys.invalidation_poll_ms = 100;
    config.api_keys.last_used_flush_seconds = 1;
    config.http.shutdown_grace_seconds = 5;
    // Quick queue timing: a lost lease is taken over in 2 s, retries wait 50–200 ms.
    config.queue.lease_ms = 2000;
    config.queue.heartbeat_ms = 200;
    config.queue.poll_ms = 100;
    config.queue.retry_base_ms = 50;
    config.queue.retry_max_ms = 200;
    config.queue.sweep_ms = 200;
    // Webhook receivers in tests are on loopback at ports the OS picks: open them all to
    // test-mode endpoints (the default opens none; the tests of that setting set their own).
    config.webhooks.test_mode_loopback_ports =
        easel_server::webhooks::ports::PortRange::new(1, u16::MAX)
            .into_iter()
            .collect();
    // No status probes unless a test asks for them (tests/it/status.rs).
    config.status.probe_interval_seconds = 3600;
    config.status.cache_seconds = 0;
    // Limits high enough that only the tests about limits meet them (they set their own).
    for plan in config.plans.values_mut() {
        plan.requests_per_minute = 1_000_000;
        plan.requests_per_day = 1_000_000;
        plan.concurrent_jobs = 100_000;
    }
    config
}

impl TestApp {
    /// Starts a server on `db` with the test configuration.
    pub async fn start(db: &TestDb) -> TestApp {
        TestApp::start_with(db, |_| {}).await
    }

    /// Starts a server on `db` after `tweak` adjusts the configuration.
    pub async fn start_with(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::start_at(db, "127.0.0.1:0", tweak).await
    }

    /// Starts a server on `db` listening on `addr` (a restarted server takes its old port).
    pub async fn start_at(db: &TestDb, addr: &str, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(db);
        tweak(&mut config);
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .unwrap_or_else(|e| panic!("addr: {e}"))
        );
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(easel_server::server::run(
            config,
            listener,
            async move {
                let _ = stop_rx.await;
            },
            move |running| {
                let _ = ready_tx.send((running.app.clone(), running.first_start.clone()));
            },
        ));
        let (state, first) = match ready_rx.await {
            Ok(ready) => ready,
            Err(_) => panic!("server failed to start: {:?}", task.await),
        };
        // Every server started on a fresh database performs the first-start setup; a
        // second node on the same database gets `None` and reuses the first's values.
        let first = first.unwrap_or_else(|| FirstStart {
            operator_username: String::new(),
            operator_password: String::new(),
            demo_account_id: String::new(),
            demo_owner_email: String::new(),
            test_key: String::new(),
        });
        let doc = serde_json::to_value(easel_server::router::api().1).unwrap_or_default();
        TestApp {
            url,
            state,
            first,
            client: reqwest::Client::new(),
            openapi: Arc::new(openapi::Checker::new(doc)),
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = task.await;
            assert!(
                matches!(result, Ok(Ok(()))),
                "server did not stop cleanly: {result:?}"
            );
        }
    }

    /// Sends a request and checks the response against the OpenAPI document.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = self.send(req).await;
        self.openapi
            .check(method.as_str(), path, res.status, &res.body);
        res
    }

    /// Checks a response to a request sent with [`TestApp::send`] against the document.
    pub fn check(&self, method: &str, path: &str, res: &Res) {
        self.openapi.check(method, path, res.status, &res.body);
    }

    /// Sends a prepared request without the OpenAPI check (for raw and malformed input).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Res {
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap_or_else(|e| panic!("{e}"));
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(
            headers.contains_key("x-request-id"),
            "every response carries X-Request-Id"
        );
        if status >= 400 {
            assert!(
                body.get("error").is_some(),
                "error {status} is not an envelope: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Res {
            status,
            headers,
            body,
        }
    }

    /// A raw request builder for this server.
    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    pub async fn get(&self, path: &str, key: &str) -> Res {
        self.call("GET", path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Res {
        self.call("POST", path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Res {
        self.call("DELETE", path, Some(key), None).await
    }

    /// Creates an account (owner `email`) and a key for its owner; returns (account id, key).
    pub async fn account(&self, email: &str, mode: &str) -> (String, String) {
        use easel_server::services::accounts::{self, AccountSpec, UserSpec};
        let spec = AccountSpec {
            name: format!("Account of {email}"),
            owner: UserSpec {
                email: email.into(),
                adult_attested: true,
                terms_accepted: Some("2026-11-01".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
        let (account, owner) = accounts::create(&self.state, spec, audit)
            .await
            .unwrap_or_else(|e| panic!("create account: {e:?}"));
        let key = self.key_for(&account.id, &owner.id, mode, None).await;
        (account.id, key)
    }

    /// Another key (`mode`) of the account's first owner, with every scope.
    pub async fn owner_key(&self, account_id: &str, mode: &str) -> String {
        let owner = self.owner_id(account_id).await;
        self.key_for(account_id, &owner, mode, None).await
    }

    /// The user id of the account's first owner.
    pub async fn owner_id(&self, account_id: &str) -> String {
        let members = self
            .state
            .store
            .list_members(account_id)
            .await
            .unwrap_or_else(|e| panic!("members: {e}"));
        members
            .first()
            .map(|m| m.user_id.clone())
            .unwrap_or_else(|| panic!("account {account_id} has no members"))
    }

    /// Creates a key for a member; `scopes` defaults to all their role allows.
    pub async fn key_for(
        &self,
        account_id: &str,
        user_id: &str,
        mode: &str,
        scopes: Option<Vec<&str>>,
    ) -> String {
        use easel_server::services::keys::{self, KeySpec};
        let mode = easel_core::mode::Mode::parse(mode).unwrap_or_else(|| panic!("mode {mode}"));
        let members = self
            .state
            .store
            .list_members(account_id)
            .await
            .unwrap_or_else(|e| panic!("members: {e}"));
        let role = members
            .iter()
            .find(|m| m.user_id == user_id)
            .map(|m| m.role)
            .unwrap_or_else(|| panic!("not a member"));
        let spec = KeySpec {
            name: "test key".into(),
            scopes: scopes.map(|s| s.into_iter().map(String::from).collect()),
            ..Default::default()
        };
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
        let (_, secret) = keys::create(
            &self.state,
            account_id,
            user_id,
            mode,
            spec,
            &role.scopes(),
            audit,
        )
        .await
        .unwrap_or_else(|e| panic!("create key: {e:?}"));
        secret
    }

    /// Adds a member with `role` and returns a key for them.
    pub async fn member_key(
        &self,
        account_id: &str,
        email: &str,
        role: &str,
        mode: &str,
    ) -> (String, String) {
        use easel_server::services::accounts::{self, UserSpec};
        let role = easel_core::roles::Role::parse(role).unwrap_or_else(|| panic!("role {role}"));
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
        let user = UserSpec {
            email: email.into(),
            ..Default::default()
        };
        let member = accounts::add_member(&self.state, account_id, user, role, audit)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let key = self.key_for(account_id, &member.user_id, mode, None).await;
        (member.user_id, key)
    }

    /// Paths hit so far whose operation the OpenAPI checker matched, for coverage checks.
    pub fn covered(&self) -> Vec<(String, String)> {
        self.openapi.covered()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Waits until `check` passes or `timeout_ms` elapses; returns whether it passed.
pub async fn eventually<F, Fut>(timeout_ms: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Serves `router` on a free loopback port in the background (a fake third-party service
/// in a test); returns its address.
pub async fn serve_loopback(router: axum::Router) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// Unix milliseconds as RFC 3339, as the CLI takes times.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| panic!("bad time {ms}"))
}

/// How many mails the file mailer wrote to `to` in `dir` that contain `needle`.
pub fn mails(dir: &std::path::Path, to: &str, needle: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains(&format!("To: {to}")) && m.contains(needle))
        .count()
}
