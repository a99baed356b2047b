//! The operator console's sign-in: the printed login works, wrong ones are refused and
//! audited, sessions are signed.

use easel_test_utils::{TestDb, both_backends};

use crate::support::TestApp;

both_backends!(
    the_printed_operator_login_signs_in,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let url = |p: &str| format!("{}{p}", app.url);
        // Not signed in: sent to the login page, which renders.
        let res = client
            .get(url("/console"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/console/login");
        let res = client
            .get(url("/console/login"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-security-policy"]
                .to_str()
                .unwrap_or_default()
                .contains("frame-ancestors 'none'")
        );
        assert!(
            res.text()
                .await
                .unwrap_or_default()
                .contains("<form method=\"post\" action=\"/console/login\">")
        );
        // Wrong password (and unknown user): 401, the page says so, nothing is set.
        for (user, pw) in [("admin", "wrong-password"), ("nobody", "whatever123")] {
            let res = client
                .post(url("/console/login"))
                .form(&[("username", user), ("password", pw)])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(res.status(), 401);
            assert!(res.headers().get("set-cookie").is_none());
            let html = res.text().await.unwrap_or_default();
            assert!(html.contains("Wrong username or password."), "{html}");
        }
        // The printed password works.
        let res = client
            .post(url("/console/login"))
            .form(&[
                ("username", "admin"),
                ("password", app.first.operator_password.as_str()),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status(), 303);
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let pair = cookie.split(';').next().unwrap_or_default().to_string();
        let res = client
            .get(url("/console"))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap_or_default();
        assert!(
            html.contains(&app.first.demo_account_id),
            "the dashboard lists accounts"
        );
        assert!(
            html.contains("operator.login"),
            "the login itself is in the audit log"
        );
        // A tampered session is no session.
        let tampered = format!("{}x", &pair[..pair.len() - 1]);
        let res = client
            .get(url("/console"))
            .header("cookie", tampered)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status(), 303);
        // The audit log records the failures and the success.
        let log = app
            .state
            .store
            .list_audit(None, easel_db::Page::first(20))
            .await
            .unwrap_or_default();
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
        // Signing out clears the cookie.
        let res = client
            .post(url("/console/logout"))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status(), 303);
        assert!(
            res.headers()["set-cookie"]
                .to_str()
                .unwrap_or_default()
                .contains("easel_session=;")
        );
        app.stop().await;
    }
);
