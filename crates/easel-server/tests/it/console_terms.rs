//! New API terms (clause 18), on both databases: the operator announces a version at least
//! 30 days ahead (`easel admin terms announce`), owners are mailed and consoles show the
//! notice; once it is in force every console page asks each member to accept it first (the
//! API keeps working), and acceptance is recorded with time and address, audited.

use easel_test_utils::{TestDb, both_backends};

use crate::support::rfc3339;
use serde_json::Value;

use crate::console_pages::owner_session;
use crate::support::TestApp;
use crate::support::console::Console;

/// `easel admin <args> --json` with the file mailer; the exit status and stdout or stderr.
fn admin(db: &TestDb, args: &[&str]) -> (bool, String) {
    let out = crate::support::binary::admin_mailing(db, args);
    let text = if out.ok { out.stdout } else { out.stderr };
    (out.ok, text)
}

both_backends!(
    new_terms_are_announced_then_accepted_at_the_next_visit,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (account_id, key) = app.account("signer@terms.example", "test").await;
        let console = Console::new(&app.url);
        let session = owner_session(
            &app,
            &console,
            &account_id,
            "signer@terms.example",
            "walnut glacier rocket 50",
        )
        .await;
        let day = 86_400_000;
        let now = easel_core::time::now_ms();

        // Less than 30 days' notice is refused; 31 days is announced and mailed to owners.
        let (ok, err) = admin(
            &db,
            &[
                "terms",
                "announce",
                "--version",
                "2027-02",
                "--effective",
                &rfc3339(now + 20 * day),
            ],
        );
        assert!(!ok, "{err}");
        assert!(err.contains("at least 30 days"), "{err}");
        let (ok, out) = admin(
            &db,
            &[
                "terms",
                "announce",
                "--version",
                "2027-02",
                "--effective",
                &rfc3339(now + 31 * day),
                "--summary",
                "Outputs are kept for 14 days.",
            ],
        );
        assert!(ok, "{out}");
        let announced: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(announced["version"], "2027-02");
        let mails: Vec<String> = std::fs::read_dir(db.dir.join("mail"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            mails.iter().any(|m| m.contains("To: signer@terms.example")
                && m.contains("version 2027-02 takes effect")),
            "{mails:?}"
        );
        // The same version twice, or one before it, is refused.
        let (ok, err) = admin(
            &db,
            &[
                "terms",
                "announce",
                "--version",
                "2027-02",
                "--effective",
                &rfc3339(now + 40 * day),
            ],
        );
        assert!(!ok && err.contains("exists already"), "{err}");
        let (ok, err) = admin(
            &db,
            &[
                "terms",
                "announce",
                "--version",
                "2027-01",
                "--effective",
                &rfc3339(now + 30 * day + 3_600_000),
            ],
        );
        assert!(!ok && err.contains("after every version"), "{err}");
        // Until then: a notice on every page, nothing to accept.
        let page = console.get("/console", &[&session.cookie]).await;
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(page.html.contains("id=\"terms-notice\""), "{}", page.html);
        assert!(
            page.html.contains("Outputs are kept for 14 days."),
            "{}",
            page.html
        );

        // A version whose date has come (recorded as if announced long ago).
        let past = easel_db::TermsVersion {
            version: "2026-12".into(),
            effective_at: now - day,
            announced_at: now - 40 * day,
            summary: None,
        };
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
        app.state
            .store
            .announce_terms(past, audit)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for path in ["/console", "/console/keys", "/console/partials/credits"] {
            let page = console.get(path, &[&session.cookie]).await;
            assert_eq!(
                (page.status, page.location()),
                (303, "/console/terms"),
                "{path}"
            );
        }
        // The API is not held back.
        app.get("/v1/models", &key).await.expect(200);
        let terms = console.get("/console/terms", &[&session.cookie]).await;
        assert_eq!(terms.status, 200, "{}", terms.html);
        assert!(terms.html.contains("version 2026-12"), "{}", terms.html);
        let form = |accept: bool, version: &'static str| {
            let mut fields = vec![
                ("csrf", session.csrf.clone()),
                ("version", version.to_string()),
            ];
            if accept {
                fields.push(("accept", "yes".into()));
            }
            fields
        };
        for (fields, status) in [(form(false, "2026-12"), 400), (form(true, "2027-02"), 409)] {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let refused = console
                .post("/console/terms", &[&session.cookie], &[], &pairs)
                .await;
            assert_eq!(refused.status, status, "{}", refused.html);
        }
        let fields = form(true, "2026-12");
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let accepted = console
            .post("/console/terms", &[&session.cookie], &[], &pairs)
            .await;
        assert_eq!(
            (accepted.status, accepted.location()),
            (303, "/console"),
            "{}",
            accepted.html
        );
        assert_eq!(
            console.get("/console", &[&session.cookie]).await.status,
            200
        );
        let user = app
            .state
            .store
            .get_user(&app.owner_id(&account_id).await)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user.terms_version.as_deref(), Some("2026-12"));
        assert!(user.terms_accepted_at.is_some_and(|at| at >= now));
        // The global audit log has the acceptance (a person's act, not an account's).
        let (ok, log) = admin(&db, &["audit", "--limit", "50"]);
        assert!(ok, "{log}");
        assert!(log.contains("user.terms_accepted"), "{log}");
        assert!(log.contains("terms.announced"), "{log}");
        // Sign-up now records the version in force.
        let current = easel_server::services::terms::now(&app.state)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(current.current, "2026-12");
        app.stop().await;
    }
);
