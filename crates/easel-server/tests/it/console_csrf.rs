//! Console forms are CSRF-protected: every POST needs the token of its own session (or, to
//! sign in, of its pre-session cookie) and, from a browser, the console's own origin.

use easel_test_utils::{TestDb, both_backends};

use crate::support::TestApp;
use crate::support::console::{Console, Page};

/// Extra headers, form fields, and what the attempt is.
type Attempt<'a> = (&'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)], &'a str);

#[track_caller]
fn assert_refused(page: &Page, why: &str) {
    assert_eq!(page.status, 403, "{why}: {}", page.html);
    assert!(
        page.html.contains("id=\"refused\""),
        "{why}: a page says what happened"
    );
}

both_backends!(
    console_posts_without_their_sessions_token_or_from_another_origin_are_refused,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let console = Console::new(&app.url);
        let password = app.first.operator_password.clone();
        let mine = console.sign_in("admin", &password).await;
        let theirs = console.sign_in("admin", &password).await;
        let cookie = [mine.cookie.as_str()];
        let wrong = "0".repeat(64);
        let evil = [("origin", "https://evil.example")];
        let evil_referer = [("referer", "https://evil.example/page")];
        let null_origin = [("origin", "null")];
        for path in ["/console/logout", "/console/logout/everywhere"] {
            let attempts: [Attempt; 6] = [
                (&[], &[], "no token"),
                (&[], &[("csrf", wrong.as_str())], "a wrong token"),
                (&[], &[("csrf", "not hex")], "a malformed token"),
                (
                    &[],
                    &[("csrf", theirs.csrf.as_str())],
                    "another session's token",
                ),
                (
                    &evil,
                    &[("csrf", mine.csrf.as_str())],
                    "a cross-origin post",
                ),
                (
                    &evil_referer,
                    &[("csrf", mine.csrf.as_str())],
                    "a cross-origin referer",
                ),
            ];
            for (headers, form, why) in attempts {
                assert_refused(&console.post(path, &cookie, headers, form).await, why);
            }
            let page = console
                .post(path, &cookie, &null_origin, &[("csrf", mine.csrf.as_str())])
                .await;
            assert_refused(&page, "an opaque origin");
            assert!(
                console.opens(&mine.cookie).await,
                "nothing was done: still signed in"
            );
        }
        // The same-origin form post works.
        let origin = [("origin", app.url.as_str())];
        let page = console
            .post(
                "/console/logout",
                &cookie,
                &origin,
                &[("csrf", mine.csrf.as_str())],
            )
            .await;
        assert_eq!((page.status, page.location()), (303, "/console/login"));
        assert!(!console.opens(&mine.cookie).await);
        assert!(console.opens(&theirs.cookie).await);
        app.stop().await;
    }
);

both_backends!(
    the_sign_in_form_needs_its_pre_session_token_and_origin,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let console = Console::new(&app.url);
        let password = app.first.operator_password.clone();
        let (cookie, csrf) = console.login_page().await;
        let (other_cookie, _) = console.login_page().await;
        let form = |csrf: &str| {
            vec![
                ("username", "admin".to_string()),
                ("password", password.clone()),
                ("csrf", csrf.to_string()),
            ]
        };
        let post = |cookies: Vec<String>,
                    headers: Vec<(&'static str, String)>,
                    form: Vec<(&'static str, String)>| {
            let console = &console;
            async move {
                let cookies: Vec<&str> = cookies.iter().map(String::as_str).collect();
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                console
                    .post("/console/login", &cookies, &headers, &form)
                    .await
            }
        };
        assert_refused(
            &post(vec![], vec![], form(&csrf)).await,
            "no pre-session cookie",
        );
        assert_refused(
            &post(vec![other_cookie], vec![], form(&csrf)).await,
            "another browser's cookie",
        );
        assert_refused(
            &post(vec![cookie.clone()], vec![], form("")).await,
            "no token",
        );
        let evil = vec![("origin", "https://evil.example".to_string())];
        assert_refused(
            &post(vec![cookie.clone()], evil, form(&csrf)).await,
            "cross-origin",
        );
        let same = vec![("origin", app.url.clone())];
        let page = post(vec![cookie], same, form(&csrf)).await;
        assert_eq!(page.status, 303, "{}", page.html);
        assert!(page.cookie("easel_session").is_some());
        let cleared = page.set_cookie("easel_login").unwrap_or_default();
        assert!(
            cleared.contains("Max-Age=0"),
            "the pre-session cookie is spent: {cleared}"
        );
        app.stop().await;
    }
);
