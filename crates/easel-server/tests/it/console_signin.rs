//! Console sign-in is throttled per client address and per username: a few free wrong
//! passwords, then 429 with `Retry-After` (the right password too), a pause that doubles up
//! to a cap and then lets the operator in, an audit entry; shared by nodes through Redis.
//! The operator's own known browser is not held hostage by guesses at their username.

use std::time::Duration;

use easel_test_utils::{TestDb, both_backends};

use crate::support::TestApp;
use crate::support::console::{Console, Page};

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Memory,
    Redis,
}

async fn start(db: &TestDb, backend: Backend) -> TestApp {
    TestApp::start_with(db, |c| {
        c.console.login_free_attempts = 3;
        // Long enough for the steps taken during a pause on a busy machine.
        c.console.login_backoff_seconds = 2;
        c.console.login_backoff_max_seconds = 4;
        // One proxy in front: X-Forwarded-For names the client.
        c.console.forwarded_for_hops = 1;
        if backend == Backend::Redis {
            c.redis_url = easel_test_utils::redis_url();
        }
    })
    .await
}

fn retry_after(page: &Page) -> u64 {
    page.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{} without Retry-After: {}", page.status, page.html))
}

async fn sign_in_from(console: &Console, ip: &str, user: &str, password: &str) -> Page {
    console
        .try_sign_in(user, password, &[("x-forwarded-for", ip)])
        .await
}

async fn wrong_passwords_pause_sign_in(db: TestDb, backend: Backend) {
    let app = start(&db, backend).await;
    let console = Console::new(&app.url);
    let password = app.first.operator_password.clone();
    // With Redis, a second node on the same database, started now: the pauses are short.
    let node = match backend {
        Backend::Redis => Some(start(&db, backend).await),
        Backend::Memory => None,
    };
    let (a, b, c) = ("203.0.113.1", "203.0.113.2", "203.0.113.3");
    // The operator signed in before from c: that browser has a device cookie.
    let page = sign_in_from(&console, c, "admin", &password).await;
    assert_eq!(page.status, 303, "{}", page.html);
    let device = page
        .cookie("easel_device")
        .unwrap_or_else(|| panic!("no device cookie: {:?}", page.set_cookies()));
    for _ in 0..3 {
        assert_eq!(
            sign_in_from(&console, a, "admin", "wrong").await.status,
            401
        );
    }
    let page = sign_in_from(&console, a, "admin", "wrong").await;
    assert_eq!((page.status, retry_after(&page)), (429, 2), "{}", page.html);
    assert!(
        page.html.contains("Try again in 2 seconds."),
        "{}",
        page.html
    );
    // The right password is refused during the pause, from the same address or another.
    for ip in [a, b] {
        let page = sign_in_from(&console, ip, "admin", &password).await;
        assert_eq!(page.status, 429, "{ip}");
        assert!(page.cookie("easel_session").is_none());
    }
    // The attacker guessing "admin" does not keep the operator out: from their known
    // browser, only its address and the device's own failures count. A forged device
    // cookie is no device.
    let forged = console
        .try_sign_in_with(
            "admin",
            &password,
            &[("x-forwarded-for", c)],
            &["easel_device=00.00"],
        )
        .await;
    assert_eq!(forged.status, 429);
    let known = console
        .try_sign_in_with("admin", &password, &[("x-forwarded-for", c)], &[&device])
        .await;
    assert_eq!(known.status, 303, "{}", known.html);
    // Another username from the paused address: the same page (it says nothing of users).
    let other = sign_in_from(&console, a, "nobody", "whatever").await;
    assert_eq!(other.status, 429);
    if let Some(node) = node {
        // A second node shares the pause.
        let page = sign_in_from(&Console::new(&node.url), b, "admin", &password).await;
        assert_eq!(page.status, 429, "the other node knows: {}", page.html);
        node.stop().await;
    }
    let log = app
        .state
        .store
        .list_audit(None, easel_db::Page::first(50))
        .await
        .unwrap_or_else(|e| panic!("audit: {e}"));
    let throttled: Vec<_> = log
        .iter()
        .filter(|e| e.action == "operator.login_throttled")
        .collect();
    assert_eq!(throttled.len(), 1, "one pause began: {log:?}");
    assert_eq!(throttled[0].details["username"], "admin");
    assert_eq!(throttled[0].details["ip"], a);
    assert_eq!(throttled[0].details["by"], "address,username");
    // Each further wrong password after a pause doubles it, up to the cap (4 s here).
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let page = sign_in_from(&console, a, "admin", "wrong").await;
    assert_eq!((page.status, retry_after(&page)), (429, 4));
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    let page = sign_in_from(&console, a, "admin", "wrong").await;
    assert_eq!((page.status, retry_after(&page)), (429, 4), "capped");
    // The probe: 200 wrong passwords in a row. Never a 401 (the password is not even
    // checked), never a pause beyond the cap.
    for i in 0..200 {
        let page = sign_in_from(&console, a, "admin", &format!("guess-{i}")).await;
        assert_eq!(page.status, 429, "attempt {i}");
        assert!(retry_after(&page) <= 4, "attempt {i}: the pause is capped");
    }
    // After the pause the operator gets in, and that clears the counts.
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    let page = sign_in_from(&console, a, "admin", &password).await;
    assert_eq!(page.status, 303, "{}", page.html);
    assert_eq!(
        sign_in_from(&console, a, "admin", "wrong").await.status,
        401
    );
    app.stop().await;
}

both_backends!(
    wrong_passwords_pause_sign_in_in_memory,
    |db: TestDb| async move { wrong_passwords_pause_sign_in(db, Backend::Memory).await }
);

both_backends!(
    wrong_passwords_pause_sign_in_on_every_node_with_redis,
    |db: TestDb| async move { wrong_passwords_pause_sign_in(db, Backend::Redis).await }
);
