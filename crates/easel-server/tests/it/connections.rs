//! The connection limits, over raw sockets: a request head must arrive within the
//! header-read timeout however it is trickled, an idle connection is closed after the idle
//! timeout (and not at the header-read timeout), a request being handled outlives both, and
//! one peer cannot hold more connections than its cap while its others keep working.
//! Transport behaviour touches no storage, so these run on SQLite only.

use std::time::{Duration, Instant};

use easel_server::config::Config;
use easel_test_utils::{Backend, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

/// Header-read timeout 1 s, idle timeout 3 s.
fn quick(c: &mut Config) {
    c.http.header_read_timeout_seconds = 1;
    c.http.idle_timeout_seconds = 3;
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// Reads until the server closes the connection; returns how long that took from `since`
/// and what was read, or panics if it is still open after `limit`.
async fn closed(stream: &mut TcpStream, since: Instant, limit: Duration) -> (Duration, Vec<u8>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((since + limit).into(), stream.read(&mut buf)).await {
            Err(_) => panic!(
                "still open after {limit:?}; read {:?}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(Ok(0) | Err(_)) => return (since.elapsed(), seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `GET path` on a kept-alive connection and reads one whole response; returns its
/// status.
async fn get(stream: &mut TcpStream, path: &str) -> u16 {
    let head = format!("GET {path} HTTP/1.1\r\nHost: easel.test\r\n\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no response to {path}"))
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_string())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no content-length: {head}"));
        if body.len() >= length {
            return head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_request_head_is_cut_at_the_header_read_timeout() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start_with(&db, quick).await;
    let stream = connect(&app).await;
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    // A header line every 200 ms: the connection is never idle, the head never ends.
    let trickle = tokio::spawn(async move {
        let _ = writer
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: easel.test\r\n")
            .await;
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer
                .write_all(format!("X-Trickle-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return i;
            }
        }
        100
    });
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(8), reader.read(&mut buf)).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "closed without an answer: {read:?}"
    );
    println!("trickled head closed after {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2_900),
        "closed after {elapsed:?}, expected about 1 s (the idle timeout is 3 s)"
    );
    trickle.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_request_line_is_cut_at_the_header_read_timeout() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start_with(&db, quick).await;
    let mut stream = connect(&app).await;
    let started = Instant::now();
    stream
        .write_all(b"GET /heal")
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let (elapsed, seen) = closed(&mut stream, started, Duration::from_secs(8)).await;
    println!("half request line closed after {elapsed:?}");
    assert!(seen.is_empty(), "{:?}", String::from_utf8_lossy(&seen));
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2_900),
        "closed after {elapsed:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_after_the_idle_timeout_not_the_header_timeout() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start_with(&db, quick).await;
    // Kept alive after a response.
    let mut stream = connect(&app).await;
    assert_eq!(get(&mut stream, "/healthz").await, 200);
    let answered = Instant::now();
    let (elapsed, _) = closed(&mut stream, answered, Duration::from_secs(8)).await;
    println!("idle keep-alive connection closed after {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(2_800) && elapsed < Duration::from_millis(5_000),
        "closed after {elapsed:?}, expected about 3 s"
    );
    // Never a byte sent.
    let mut silent = connect(&app).await;
    let opened = Instant::now();
    let (elapsed, _) = closed(&mut silent, opened, Duration::from_secs(8)).await;
    println!("silent connection closed after {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(2_800) && elapsed < Duration::from_millis(5_000),
        "closed after {elapsed:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_being_handled_outlives_both_timeouts() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start_with(&db, |c| {
        c.http.header_read_timeout_seconds = 1;
        c.http.idle_timeout_seconds = 1;
        let slow = crate::generations::sandbox_model(
            c,
            &[("delay_ms", toml::Value::Integer(2_500))],
            |_| {},
        );
        c.models.insert("slowish-image".into(), slow);
    })
    .await;
    let key = app.first.test_key.clone();
    let started = Instant::now();
    // The response is held until the job ends, 2.5 s with nothing on the wire.
    let res = app
        .send(
            app.raw(reqwest::Method::POST, "/v1/generations")
                .bearer_auth(&key)
                .header("prefer", "wait=10")
                .json(&serde_json::json!({"model": "slowish-image", "prompt": "a", "width": 256, "height": 256})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["status"], "succeeded", "{}", res.body);
    assert!(
        started.elapsed() >= Duration::from_millis(2_000),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_cannot_hold_more_connections_than_its_cap() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start_with(&db, |c| {
        c.http.max_connections_per_ip = 3;
        // Loopback is exempt by default (a local reverse proxy); this test is the peer.
        c.http.connection_cap_exempt.clear();
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&app).await;
        assert_eq!(get(&mut stream, "/healthz").await, 200);
        held.push(stream);
    }
    // The fourth is accepted by the kernel and closed by the server at once.
    let mut extra = connect(&app).await;
    let opened = Instant::now();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: easel.test\r\n\r\n")
        .await;
    let (elapsed, seen) = closed(&mut extra, opened, Duration::from_secs(2)).await;
    println!("connection over the cap closed after {elapsed:?}");
    assert!(
        seen.is_empty(),
        "no answer over the cap: {:?}",
        String::from_utf8_lossy(&seen)
    );
    // The three keep working.
    for stream in &mut held {
        assert_eq!(get(stream, "/healthz").await, 200);
    }
    // A closed connection frees its slot.
    drop(held.pop());
    let freed = crate::support::eventually(3_000, || async {
        let mut again = connect(&app).await;
        let _ = again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: easel.test\r\nConnection: close\r\n\r\n")
            .await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), again.read_to_end(&mut answer)).await;
        answer.starts_with(b"HTTP/1.1 200")
    })
    .await;
    assert!(freed, "a slot is freed when a connection closes");
    app.stop().await;
}
