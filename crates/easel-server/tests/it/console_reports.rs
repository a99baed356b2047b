//! The console's abuse reports and strikes page, on both databases: the account sees the
//! reports against its own generations in this mode (open with their deadline, resolved
//! with the outcome), never who reported them, and its strikes with how near they bring a
//! suspension; another account's reports never show.

use easel_core::mode::Mode;
use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use crate::console_pages::owner_session;
use crate::generations::{create, funded, start};
use crate::support::console::Console;

both_backends!(
    reports_and_strikes_are_shown_to_the_reported_account,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, live) = funded(&app, "studio@reports.example").await;
        let (_, other_live) = funded(&app, "bystander@reports.example").await;
        let made = create(
            &app,
            &live,
            json!({"model": "sandbox-image", "prompt": "a harbour"}),
            Some(20),
        )
        .await
        .expect(200);
        let gen_id = made.body["id"].as_str().unwrap_or_default().to_string();
        let theirs = create(
            &app,
            &other_live,
            json!({"model": "sandbox-image", "prompt": "a field"}),
            Some(20),
        )
        .await
        .expect(200);
        let their_gen = theirs.body["id"].as_str().unwrap_or_default().to_string();
        let file = |generation: String, description: &'static str| {
            let app = &app;
            async move {
                app.call(
                "POST",
                "/v1/abuse_reports",
                None,
                Some(json!({"generation_id": generation, "category": "hate", "description": description, "email": "witness@elsewhere.example"})),
            )
            .await
            .expect(201)
            .body
            }
        };
        file(gen_id.clone(), "a hateful symbol in the corner").await;
        let upheld = file(gen_id.clone(), "the same image again").await;
        file(their_gen.clone(), "not about the studio").await;
        let policy = easel_db::StrikePolicy {
            threshold: 10,
            window_ms: 30 * 86_400_000,
            jobs: easel_db::SuspendJobs::Finish,
        };
        let decision = easel_db::ReportDecision {
            resolution: easel_db::Resolution::Warned,
            note: Some("Warned; the image stays.".into()),
            policy,
        };
        app.state
            .store
            .resolve_abuse_report(
                upheld["id"].as_str().unwrap_or_default(),
                decision,
                easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "studio@reports.example",
            "ember kayak summit 81",
        )
        .await;
        let mode = console.switch_mode(&session, "live").await;
        let cookies = [session.cookie.as_str(), mode.as_str()];
        let page = console.get("/console/reports", &cookies).await;
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(
            page.html.contains("a hateful symbol in the corner"),
            "{}",
            page.html
        );
        assert!(page.html.contains("answer due"), "{}", page.html);
        assert!(page.html.contains("warned"), "{}", page.html);
        assert!(
            page.html.contains("Warned; the image stays."),
            "{}",
            page.html
        );
        assert!(
            page.html
                .contains(&format!("/console/generations/{gen_id}")),
            "{}",
            page.html
        );
        assert!(page.html.contains("upheld report"), "{}", page.html);
        assert!(
            page.html.contains("1 of 10 strikes in the last 30 days"),
            "{}",
            page.html
        );
        // Never the reporter, never another account's report.
        assert!(
            !page.html.contains("witness@elsewhere.example"),
            "{}",
            page.html
        );
        assert!(!page.html.contains("not about the studio"), "{}", page.html);
        assert!(!page.html.contains(&their_gen), "{}", page.html);
        let strikes = app
            .state
            .store
            .list_strikes(&account_id, Mode::Live, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(strikes.len(), 1, "{strikes:?}");

        // Test mode has its own (none here).
        let test_page = console.get("/console/reports", &[&session.cookie]).await;
        assert!(
            test_page
                .html
                .contains("No reports against this account in this mode"),
            "{}",
            test_page.html
        );
        assert!(
            test_page.html.contains("No strikes in this mode"),
            "{}",
            test_page.html
        );
        app.stop().await;
    }
);
