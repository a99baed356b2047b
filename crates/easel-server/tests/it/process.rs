//! The real `easel serve` process: first start, later starts, config errors, environment
//! overrides, JSON logs, PostgreSQL by URL, and a graceful SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use easel_test_utils::{Backend, TestDb};

use crate::support::binary::{easel, run};

/// A server process and what it printed on stdout before it was ready.
pub struct Server {
    child: Child,
    pub url: String,
    banner: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

impl Server {
    pub fn spawn(db: &TestDb, extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = easel();
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .args(extra_args);
        cmd.env("EASEL_DATA_DIR", &db.dir)
            .env("EASEL_DATABASE_URL", &db.url)
            // Out of the way unless a test sets its own (its `env` comes later and wins).
            .env("EASEL_PLANS__FREE__REQUESTS_PER_MINUTE", "1000000")
            .env("EASEL_PLANS__FREE__REQUESTS_PER_DAY", "1000000")
            .env("EASEL_PLANS__FREE__CONCURRENT_JOBS", "100000");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        let (stderr_tx, stderr) = mpsc::channel();
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let _ = stderr_tx.send(line);
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut banner = Vec::new();
        let url = format!("http://{listen}");
        // The banner ends with the curl hint on a first start, or the database line after.
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
            let done = line.starts_with("  curl")
                || (line.starts_with("  database:") && !banner.is_empty());
            banner.push(line);
            if done && !banner.iter().any(|l: &String| l.starts_with("First start")) {
                // A later start prints no secrets; wait briefly for any unexpected lines.
                while let Ok(more) = rx.recv_timeout(Duration::from_millis(300)) {
                    banner.push(more);
                }
                break;
            }
            if line_is_curl(banner.last()) {
                break;
            }
        }
        Server {
            child,
            url,
            banner,
            stderr,
        }
    }

    fn line(&self, prefix: &str) -> String {
        self.banner
            .iter()
            .find(|l| l.trim_start().starts_with(prefix))
            .cloned()
            .unwrap_or_else(|| panic!("no `{prefix}` in {:?}", self.banner))
    }

    pub fn test_key(&self) -> String {
        self.line("test API key:")
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn terminate(&mut self) -> bool {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        false
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

fn line_is_curl(line: Option<&String>) -> bool {
    line.is_some_and(|l| l.starts_with("  curl"))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking GET (process tests run outside a runtime): status and JSON body.
pub fn get(url: &str, key: &str) -> (u16, serde_json::Value) {
    let (url, key) = (url.to_string(), key.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let res = reqwest::Client::new()
                .get(&url)
                .bearer_auth(&key)
                .send()
                .await
                .ok()?;
            let status = res.status().as_u16();
            Some((status, res.json().await.unwrap_or_else(|e| panic!("{e}"))))
        })
    })
    .join()
    .ok()
    .flatten()
    .unwrap_or((0, serde_json::Value::Null))
}

/// A blocking GET without a key: status and content type.
fn page(url: &str) -> (u16, String) {
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let res = reqwest::get(&url).await.ok()?;
            let kind = res
                .headers()
                .get("content-type")?
                .to_str()
                .ok()?
                .to_string();
            Some((res.status().as_u16(), kind))
        })
    })
    .join()
    .ok()
    .flatten()
    .unwrap_or((0, String::new()))
}

#[test]
fn first_start_prints_secrets_once_and_the_key_works() {
    let db = tokio::runtime::Runtime::new()
        .map(|rt| rt.block_on(TestDb::new(Backend::Sqlite)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut first = Server::spawn(&db, &[], &[]);
    assert!(
        first.banner[0].starts_with("Easel is running: http://127.0.0.1:"),
        "{:?}",
        first.banner
    );
    let password = first.line("operator login:");
    assert!(password.contains("admin / "), "{password}");
    // Where to read next: the landing page, the rendered reference and the guide, each
    // at the public URL and each answering there.
    for (prefix, path) in [("home:", "/"), ("API docs:", "/docs/api")] {
        let line = first.line(prefix);
        let printed = line.split_whitespace().last().unwrap_or_default();
        assert_eq!(printed, format!("{}{path}", first.url), "{line}");
        assert_eq!(
            page(printed),
            (200, "text/html; charset=utf-8".into()),
            "{printed}"
        );
    }
    let guide = format!("{}/docs", first.url);
    assert!(
        first
            .line("Try it")
            .contains(&format!("getting started: {guide})")),
        "{:?}",
        first.banner
    );
    assert_eq!(page(&guide).0, 200);
    let key = first.test_key();
    assert!(key.starts_with("vs_test_"), "{key}");
    let (status, body) = get(&format!("{}/v1/account", first.url), &key);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Demo");
    assert!(
        db.dir.join("easel.db").exists(),
        "SQLite file in the data directory"
    );
    assert!(first.terminate(), "SIGTERM exits 0");
    let mut again = Server::spawn(&db, &[], &[]);
    assert!(
        again.banner[0].starts_with("Easel is running"),
        "{:?}",
        again.banner
    );
    assert!(
        !again
            .banner
            .iter()
            .any(|l| l.contains("operator login") || l.contains("test API key")),
        "secrets printed again: {:?}",
        again.banner
    );
    let (status, _) = get(&format!("{}/v1/account", again.url), &key);
    assert_eq!(status, 200, "the first start's key survives restarts");
    let docs = again.line("API docs:");
    assert!(docs.ends_with(&format!("{}/docs/api", again.url)), "{docs}");
    assert!(again.terminate());
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let db = tokio::runtime::Runtime::new()
        .map(|rt| rt.block_on(TestDb::new(Backend::Sqlite)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut server = Server::spawn(&db, &[], &[]);
    let key = server.test_key();
    let addr = server.url.trim_start_matches("http://").to_string();
    let body = r#"{"name": "created during shutdown"}"#;
    let mut stream = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // Send the headers and half the body: the request is now in flight.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body.as_bytes()[..10]);
    std::thread::sleep(Duration::from_millis(300));
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().ok().flatten().is_none(),
        "the server must wait for the in-flight request"
    );
    let _ = stream.write_all(&body.as_bytes()[10..]);
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "in-flight request did not finish: {response}"
    );
    assert!(response.contains("created during shutdown"));
    let mut exited = None;
    for _ in 0..100 {
        if let Ok(Some(status)) = server.child.try_wait() {
            exited = Some(status.success());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(exited, Some(true), "the server exits 0 after draining");
    let logs = server.stderr_lines().join("\n");
    assert!(logs.contains("shutdown complete"), "{logs}");
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_reason() {
    let db = tokio::runtime::Runtime::new()
        .map(|rt| rt.block_on(TestDb::new(Backend::Sqlite)))
        .unwrap_or_else(|e| panic!("{e}"));
    let file = db.dir.join("easel.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n\n[http]\nmax_body_bytes = -5\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(
        &db,
        &["serve", "--config", file.to_str().unwrap_or_default()],
        None,
    );
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains(&format!("{}:4: `http.max_body_bytes`", file.display())),
        "{}",
        out.stderr
    );
    assert!(
        !db.dir.join("easel.db").exists(),
        "nothing was started or created"
    );
    let out = crate::support::binary::easel()
        .args(["admin", "account", "list", "--json"])
        .env("EASEL_DATA_DIR", &db.dir)
        .env("EASEL_HTTP__REQUEST_TIMEOUT_SECONDS", "soon")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("EASEL_HTTP__REQUEST_TIMEOUT_SECONDS")
            && stderr.contains("http.request_timeout_seconds"),
        "{stderr}"
    );
    let out = crate::support::binary::easel()
        .args(["migrate"])
        .env("EASEL_DATA_DIR", &db.dir)
        .env("EASEL_DATABSE_URL", "sqlite://typo.db")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("databse_url"),
        "a mistyped variable is refused, not ignored: {stderr}"
    );
}

#[test]
fn environment_overrides_and_json_logs() {
    let db = tokio::runtime::Runtime::new()
        .map(|rt| rt.block_on(TestDb::new(Backend::Sqlite)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut server = Server::spawn(
        &db,
        &["--log-format", "json"],
        &[("EASEL_API_KEYS__PREFIX", "acme")],
    );
    let key = server.test_key();
    assert!(key.starts_with("acme_test_"), "{key}");
    let (status, _) = get(&format!("{}/v1/account", server.url), &key);
    assert_eq!(status, 200);
    assert!(server.terminate());
    let lines = server.stderr_lines();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("\"request_id\"")),
        "request logs carry the request id"
    );
}

#[test]
fn serves_postgres_when_the_url_says_so() {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let db = rt.block_on(TestDb::new(Backend::Postgres));
    let migrated = run(&db, &["migrate"], None);
    assert!(
        migrated.ok && migrated.stdout.contains("postgres"),
        "{} {}",
        migrated.stdout,
        migrated.stderr
    );
    let mut server = Server::spawn(&db, &[], &[]);
    assert_eq!(
        server.line("database:").split_whitespace().last(),
        Some("postgres")
    );
    let key = server.test_key();
    let (status, body) = get(&format!("{}/v1/account", server.url), &key);
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&format!("{}/readyz", server.url), "");
    assert_eq!((status, body["database"].as_str()), (200, Some("postgres")));
    assert!(server.terminate());
}

/// A blocking POST of JSON: status and JSON body.
fn post(url: &str, key: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let (url, key) = (url.to_string(), key.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let res = reqwest::Client::new()
                .post(&url)
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
                .ok()?;
            let status = res.status().as_u16();
            Some((status, res.json().await.unwrap_or_else(|e| panic!("{e}"))))
        })
    })
    .join()
    .ok()
    .flatten()
    .unwrap_or((0, serde_json::Value::Null))
}

/// Polls a generation until its status is `want`; panics after 30 s.
fn wait_status(server: &Server, key: &str, id: &str, want: &str) -> serde_json::Value {
    for _ in 0..600 {
        let (status, body) = get(&format!("{}/v1/generations/{id}", server.url), key);
        if status == 200 && body["status"] == want {
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("generation {id} never became {want}");
}

/// A server killed with SIGKILL while a generation runs loses nothing: once its lease
/// runs out, a restarted server takes the job over and finishes it.
fn killed_mid_job_then_restarted(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let db = rt.block_on(TestDb::new(backend));
    let config = db.dir.join("easel.toml");
    std::fs::write(
        &config,
        "[queue]\nlease_ms = 1500\nheartbeat_ms = 300\npoll_ms = 100\n\n\
         [models.sandbox-image.settings]\ndelay_ms = 2500\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let config = config.display().to_string();
    let mut first = Server::spawn(&db, &["--config", &config], &[]);
    let key = first.test_key();
    let body = serde_json::json!({"model": "sandbox-image", "prompt": "survive", "width": 256, "height": 256});
    let (status, created) = post(&format!("{}/v1/generations", first.url), &key, body);
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_string();
    wait_status(&first, &key, &id, "running");
    first
        .child
        .kill()
        .unwrap_or_else(|e| panic!("SIGKILL: {e}"));
    let _ = first.child.wait();

    let mut second = Server::spawn(&db, &["--config", &config], &[]);
    let done = wait_status(&second, &key, &id, "succeeded");
    let attempts = rt.block_on(db.count(&format!(
        "SELECT CAST(j.attempts AS BIGINT) FROM jobs j JOIN generations g ON g.job_id = j.id WHERE g.id = '{id}'"
    )));
    assert_eq!(
        attempts, 2,
        "run once by the killed server, once by the new one"
    );
    let url = done["outputs"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let served = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async { reqwest::get(&url).await.ok().map(|r| r.status().as_u16()) })
    })
    .join()
    .ok()
    .flatten();
    assert_eq!(served, Some(200));
    assert!(second.terminate());
}

#[test]
fn a_killed_server_loses_no_job_sqlite() {
    killed_mid_job_then_restarted(Backend::Sqlite);
}

#[test]
fn a_killed_server_loses_no_job_postgres() {
    killed_mid_job_then_restarted(Backend::Postgres);
}

/// Hundreds of concurrent generation requests against two server processes sharing one
/// database, with a balance that covers only some: exactly those are accepted, and the
/// balance ends at what is left, equal to the ledger's sum.
fn two_processes_spend_exactly_the_balance(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let db = rt.block_on(TestDb::new(backend));
    let one = Server::spawn(&db, &[], &[]);
    let two = Server::spawn(&db, &[], &[]);
    let account = crate::support::binary::admin(
        &db,
        &[
            "account",
            "create",
            "--name",
            "Race",
            "--owner-email",
            "race@example.com",
            "--adult-attested",
        ],
    );
    let account_id = account["id"].as_str().unwrap_or_default().to_string();
    let key = crate::support::binary::admin(
        &db,
        &[
            "key",
            "create",
            "--account",
            &account_id,
            "--mode",
            "live",
            "--name",
            "race",
        ],
    );
    let key = key["secret"].as_str().unwrap_or_default().to_string();
    let body = serde_json::json!({"model": "sandbox-image", "prompt": "race", "width": 256, "height": 256});
    let (status, quote) = post(
        &format!("{}/v1/generations/quote", one.url),
        &key,
        body.clone(),
    );
    assert_eq!(status, 200, "{quote}");
    let cost = quote["live_credits"].as_i64().unwrap_or_default();
    let affordable = 37;
    let credits = (affordable * cost + cost - 1).to_string();
    crate::support::binary::admin(
        &db,
        &[
            "credits",
            "grant",
            "--account",
            &account_id,
            "--credits",
            &credits,
            "--reason",
            "race",
        ],
    );
    let urls = [one.url.clone(), two.url.clone()];
    let statuses: Vec<u16> = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for i in 0..300 {
            let (client, key, body) = (client.clone(), key.clone(), body.clone());
            let url = format!("{}/v1/generations", urls[i % 2]);
            tasks.push(tokio::spawn(async move {
                match client.post(&url).bearer_auth(&key).json(&body).send().await {
                    Ok(res) => res.status().as_u16(),
                    Err(_) => 0,
                }
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap_or_else(|e| panic!("{e}")));
        }
        out
    });
    let accepted = statuses.iter().filter(|s| **s == 202).count() as i64;
    let refused = statuses.iter().filter(|s| **s == 402).count() as i64;
    assert_eq!(
        (accepted, refused),
        (affordable, 300 - affordable),
        "{statuses:?}"
    );
    let done = (0..400).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        rt.block_on(db.count("SELECT COUNT(*) FROM generations WHERE status = 'succeeded'"))
            == affordable
    });
    assert!(done, "the accepted generations all succeed");
    let balance = rt.block_on(db.count("SELECT balance FROM credit_balances"));
    let held = rt.block_on(db.count("SELECT held FROM credit_balances"));
    let ledger = rt.block_on(db.count("SELECT CAST(SUM(amount) AS BIGINT) FROM ledger_entries"));
    assert_eq!((balance, held, ledger), (cost - 1, 0, cost - 1));
}

#[test]
fn two_processes_spend_exactly_the_balance_postgres() {
    two_processes_spend_exactly_the_balance(Backend::Postgres);
}

#[test]
fn two_processes_spend_exactly_the_balance_sqlite() {
    two_processes_spend_exactly_the_balance(Backend::Sqlite);
}
