//! The operator console's sign-in: the printed login works, wrong ones are refused and
//! audited, the session cookie carries only a random token with the right attributes.

use easel_test_utils::{TestDb, both_backends};

use crate::support::TestApp;
use crate::support::console::Console;

both_backends!(
    the_printed_operator_login_signs_in,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let console = Console::new(&app.url);
        // Not signed in: sent to the login page, which renders.
        let page = console.get("/console", &[]).await;
        assert_eq!((page.status, page.location()), (303, "/console/login"));
        let page = console.get("/console/login", &[]).await;
        assert_eq!(page.status, 200);
        let csp = page.header("content-security-policy").unwrap_or_default();
        // Scripts only from the console's own embedded files: no inline script, no eval.
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self';")
                && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert!(
            page.html
                .contains("<form method=\"post\" action=\"/console/login\">")
        );
        // Wrong password (and unknown user): 401, the page says so, no session.
        for (user, pw) in [("admin", "wrong-password"), ("nobody", "whatever123")] {
            let page = console.try_sign_in(user, pw, &[]).await;
            assert_eq!(page.status, 401);
            assert!(page.cookie("easel_session").is_none());
            assert!(
                page.html.contains("Wrong username or password."),
                "{}",
                page.html
            );
        }
        // The printed password works.
        let session = console.sign_in("admin", &app.first.operator_password).await;
        let html = console.get("/console", &[&session.cookie]).await.html;
        assert!(
            html.contains(&app.first.demo_account_id),
            "the dashboard lists accounts"
        );
        assert!(
            html.contains("operator.login"),
            "the login itself is in the audit log"
        );
        // A tampered session is no session.
        let (kept, last) = session.cookie.split_at(session.cookie.len() - 1);
        let tampered = format!("{kept}{}", if last == "0" { "1" } else { "0" });
        assert!(!console.opens(&tampered).await);
        // The audit log records the failures and the success.
        let log = app
            .state
            .store
            .list_audit(None, easel_db::Page::first(20))
            .await
            .unwrap_or_else(|e| panic!("audit: {e}"));
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            &actions[..3],
            [
                "operator.login",
                "operator.login_failed",
                "operator.login_failed"
            ]
        );
        assert!(log[0].actor_id.starts_with("op_") && log[0].request_id.is_some());
        assert_eq!(log[2].details["username"], "admin");
        app.stop().await;
    }
);

both_backends!(
    the_session_cookie_is_http_only_lax_and_holds_only_a_random_token,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let console = Console::new(&app.url);
        let page = console
            .try_sign_in("admin", &app.first.operator_password, &[])
            .await;
        assert_eq!(page.status, 303);
        let cookie = page.set_cookie("easel_session").unwrap_or_default();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/console", "Max-Age=43200"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain http: {cookie}");
        // The value is a 256-bit random token, and the database keeps only its hash.
        let token = cookie
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        assert_eq!(token.len(), 64, "{cookie}");
        assert!(!token.contains("admin") && !token.contains('|'));
        let hash = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(token.as_bytes()))
        };
        let now = easel_core::time::now_ms();
        let session = app
            .state
            .store
            .touch_console_session(&hash, now, 60_000)
            .await
            .unwrap_or_else(|e| panic!("touch: {e}"))
            .unwrap_or_else(|| panic!("the session is stored under the token's hash"));
        assert_eq!(session.expires_at - session.created_at, 12 * 3_600_000);
        assert_eq!(session.ip.as_deref(), Some("127.0.0.1"));
        let missing = app
            .state
            .store
            .touch_console_session(&token, now, 60_000)
            .await
            .unwrap_or_else(|e| panic!("touch: {e}"));
        assert!(missing.is_none(), "the raw token is not a key");
        let password = app.first.operator_password.clone();
        app.stop().await;
        // Over https: Secure, and the __Host- prefix (which requires Path=/).
        let app = TestApp::start_with(&db, |c| c.public_url = "https://easel.example".into()).await;
        let mut console = Console::new(&app.url);
        console.cookie_name = "__Host-easel_session".into();
        let (login_cookie, csrf) = console.login_page().await;
        let origin = [("origin", "https://easel.example")];
        let form = [
            ("username", "admin"),
            ("password", password.as_str()),
            ("csrf", csrf.as_str()),
        ];
        let page = console
            .post("/console/login", &[&login_cookie], &origin, &form)
            .await;
        assert_eq!(page.status, 303, "{}", page.html);
        let cookie = page.set_cookie("__Host-easel_session").unwrap_or_default();
        for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/;"] {
            assert!(
                format!("{cookie};").contains(attribute),
                "{attribute} missing: {cookie}"
            );
        }
        app.stop().await;
    }
);
