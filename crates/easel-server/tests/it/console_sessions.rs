//! Console sessions end server-side: sign-out, "sign out everywhere" and a password change
//! end them on the server, so an old cookie sent back opens nothing; unknown, idle and
//! expired tokens are no session. `easel admin operator passwd` ends them too.

use easel_core::audit::Actor;
use easel_db::{AuditContext, NewConsoleSession, Principal, PrincipalKind};
use easel_test_utils::{TestDb, both_backends};

use crate::support::TestApp;
use crate::support::binary::run;
use crate::support::console::Console;

both_backends!(
    signing_out_ends_the_session_on_the_server,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let console = Console::new(&app.url);
        let password = app.first.operator_password.clone();
        let session = console.sign_in("admin", &password).await;
        let other = console.sign_in("admin", &password).await;
        let page = console
            .post(
                "/console/logout",
                &[&session.cookie],
                &[],
                &[("csrf", &session.csrf)],
            )
            .await;
        assert_eq!((page.status, page.location()), (303, "/console/login"));
        let cleared = page.set_cookie("easel_session").unwrap_or_default();
        assert!(
            cleared.starts_with("easel_session=;") && cleared.contains("Max-Age=0"),
            "{cleared}"
        );
        // The probe's replay: the old cookie, sent back, is sent to the login page.
        assert!(!console.opens(&session.cookie).await);
        let page = console
            .post(
                "/console/logout/everywhere",
                &[&session.cookie],
                &[],
                &[("csrf", &session.csrf)],
            )
            .await;
        assert_eq!(
            (page.status, page.location()),
            (303, "/console/login"),
            "nothing done with it"
        );
        assert!(
            console.opens(&other.cookie).await,
            "only that session ended"
        );
        app.stop().await;
    }
);

both_backends!(
    signing_out_everywhere_ends_every_session_of_the_operator,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let console = Console::new(&app.url);
        let password = app.first.operator_password.clone();
        let laptop = console.sign_in("admin", &password).await;
        let phone = console.sign_in("admin", &password).await;
        let page = console
            .post(
                "/console/logout/everywhere",
                &[&laptop.cookie],
                &[],
                &[("csrf", &laptop.csrf)],
            )
            .await;
        assert_eq!((page.status, page.location()), (303, "/console/login"));
        assert!(!console.opens(&laptop.cookie).await);
        assert!(
            !console.opens(&phone.cookie).await,
            "the other session ended too"
        );
        let log = app
            .state
            .store
            .list_audit(None, easel_db::Page::first(5))
            .await
            .unwrap_or_else(|e| panic!("audit: {e}"));
        assert!(!log.is_empty());
        assert_eq!(log[0].action, "operator.sessions_revoked");
        assert_eq!(log[0].details["sessions"], 2);
        assert!(log[0].actor_id.starts_with("op_"));
        // Signing in again works.
        let again = console.sign_in("admin", &password).await;
        assert!(console.opens(&again.cookie).await);
        app.stop().await;
    }
);

both_backends!(
    a_password_change_ends_every_session_of_the_operator,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let console = Console::new(&app.url);
        let password = app.first.operator_password.clone();
        let first = console.sign_in("admin", &password).await;
        let second = console.sign_in("admin", &password).await;
        let store = &app.state.store;
        let operator = store
            .get_operator("admin")
            .await
            .unwrap_or_else(|e| panic!("operator: {e}"));
        let hash = easel_core::password::hash("a-brand-new-password")
            .unwrap_or_else(|e| panic!("hash: {e}"));
        let ended = store
            .set_operator_password(&operator.id, &hash, AuditContext::new(Actor::cli(), None))
            .await
            .unwrap_or_else(|e| panic!("set password: {e}"));
        assert_eq!(ended, 2);
        assert!(!console.opens(&first.cookie).await && !console.opens(&second.cookie).await);
        assert_eq!(
            console.try_sign_in("admin", &password, &[]).await.status,
            401
        );
        let fresh = console.sign_in("admin", "a-brand-new-password").await;
        assert!(console.opens(&fresh.cookie).await);
        app.stop().await;
    }
);

both_backends!(
    unknown_idle_and_expired_session_tokens_are_refused,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let console = Console::new(&app.url);
        let store = &app.state.store;
        let operator = store
            .get_operator("admin")
            .await
            .unwrap_or_else(|e| panic!("operator: {e}"));
        let now = easel_core::time::now_ms();
        let hour = 3_600_000;
        // (token, started, idle, absolute): live; idle for two hours; past 12 h.
        let cases = [
            ("11".repeat(32), now, hour, 12 * hour, true),
            ("22".repeat(32), now - 2 * hour, hour, 12 * hour, false),
            (
                "33".repeat(32),
                now - 13 * hour,
                24 * hour,
                12 * hour,
                false,
            ),
        ];
        for (token, started, idle_ms, absolute_ms, _) in &cases {
            let id_hash = {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(token.as_bytes()))
            };
            let new = NewConsoleSession {
                id_hash,
                principal: Principal {
                    kind: PrincipalKind::Operator,
                    id: operator.id.clone(),
                },
                now: *started,
                idle_ms: *idle_ms,
                absolute_ms: *absolute_ms,
                ip: None,
                user_agent: None,
            };
            store
                .create_console_session(new)
                .await
                .unwrap_or_else(|e| panic!("create: {e}"));
        }
        for (token, _, _, _, opens) in &cases {
            let cookie = format!("easel_session={token}");
            assert_eq!(console.opens(&cookie).await, *opens, "{token}");
        }
        let unknown = format!("easel_session={}", "44".repeat(32));
        for cookie in [
            unknown.as_str(),
            "easel_session=admin|99999999999999",
            "easel_session=",
        ] {
            assert!(!console.opens(cookie).await, "{cookie}");
        }
        app.stop().await;
    }
);

both_backends!(
    easel_admin_operator_passwd_ends_every_session_of_the_operator,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let console = Console::new(&app.url);
        let password = app.first.operator_password.clone();
        let session = console.sign_in("admin", &password).await;
        let args = ["admin", "operator", "passwd", "admin", "--json"];
        let short = run(&db, &args, Some("short\n"));
        assert!(!short.ok && short.stdout.is_empty(), "{short:?}");
        assert!(
            console.opens(&session.cookie).await,
            "a refused change changes nothing"
        );
        let unknown = run(
            &db,
            &["admin", "operator", "passwd", "nobody"],
            Some("long enough pw\n"),
        );
        assert!(
            !unknown.ok && unknown.stderr.contains("no operator"),
            "{unknown:?}"
        );
        let out = run(&db, &args, Some("a-new-operator-password\n")).json();
        assert_eq!(out["sessions_ended"], 1);
        assert_eq!(out["username"], "admin");
        assert!(!console.opens(&session.cookie).await);
        assert_eq!(
            console.try_sign_in("admin", &password, &[]).await.status,
            401
        );
        console.sign_in("admin", "a-new-operator-password").await;
        app.stop().await;
    }
);
