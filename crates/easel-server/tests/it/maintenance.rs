//! `easel admin maintenance announce|list|cancel` with the real binary, on both databases:
//! planned work is refused less than 48 hours ahead unless it is an emergency, unknown
//! components are refused, and an announced window reaches every account as a
//! `maintenance.scheduled` event, every owner as a mail and every console page (the
//! developers' and the operator's) as a notice until it ends or is canceled.

use easel_test_utils::{TestDb, both_backends};

use crate::support::rfc3339;
use serde_json::Value;

use crate::console_pages::owner_session;
use crate::support::TestApp;
use crate::support::binary::{admin, admin_mailing};
use crate::support::console::Console;

const HOUR_MS: i64 = 3_600_000;

fn announce(db: &TestDb, start: i64, end: i64, extra: &[&str]) -> crate::support::binary::Output {
    let (start, end) = (rfc3339(start), rfc3339(end));
    let mut args = vec![
        "maintenance",
        "announce",
        "--start",
        &start,
        "--end",
        &end,
        "--message",
        "Moving the database to new disks; generations queue and resume after.",
    ];
    args.extend_from_slice(extra);
    admin_mailing(db, &args)
}

both_backends!(
    maintenance_is_announced_to_every_account_and_shown_until_it_ends,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let email = "owner@maint.example";
        let (account_id, live) = app.account(email, "live").await;
        let now = easel_core::time::now_ms();

        let soon = announce(&db, now + HOUR_MS, now + 2 * HOUR_MS, &[]);
        assert!(
            !soon.ok && soon.stderr.contains("48 hours"),
            "{}",
            soon.stderr
        );
        let unknown = announce(
            &db,
            now + 49 * HOUR_MS,
            now + 50 * HOUR_MS,
            &["--component", "gpu-farm"],
        );
        assert!(
            !unknown.ok && unknown.stderr.contains("No component named"),
            "{}",
            unknown.stderr
        );
        let backwards = announce(&db, now + 50 * HOUR_MS, now + 49 * HOUR_MS, &[]);
        assert!(
            !backwards.ok && backwards.stderr.contains("end after it starts"),
            "{}",
            backwards.stderr
        );

        // An emergency under way now, and planned work three days out.
        let urgent = announce(
            &db,
            now - 60_000,
            now + HOUR_MS,
            &["--emergency", "--component", "api", "--component", "queue"],
        )
        .json();
        assert_eq!(urgent["emergency"], true);
        assert_eq!(urgent["components"], serde_json::json!(["api", "queue"]));
        let planned = announce(&db, now + 72 * HOUR_MS, now + 74 * HOUR_MS, &[]).json();
        let (urgent_id, planned_id) = (
            urgent["id"].as_str().unwrap_or_default().to_string(),
            planned["id"].as_str().unwrap_or_default().to_string(),
        );
        assert!(planned_id.starts_with("mnt_"), "{planned}");

        // The owner was mailed about each.
        let mails = crate::support::mails(&db.dir.join("mail"), email, "Maintenance on");
        assert_eq!(mails, 2);

        // Every account has the event, in the mode of its keys too.
        let events = app.get("/v1/events", &live).await.expect(200);
        let told: Vec<&Value> = events.body["data"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter(|e| e["type"] == "maintenance.scheduled")
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(told.len(), 2, "{}", events.body);
        assert!(
            told.iter().any(|e| e["data"]["id"] == planned_id.as_str()
                && e["data"]["object"] == "maintenance"
                && e["data"]["starts_at"].as_i64() == Some((now + 72 * HOUR_MS) / 1000)),
            "{told:?}"
        );

        // Every console page shows both, the emergency as under way.
        let console = Console::new(&app.url);
        let owner = owner_session(
            &app,
            &console,
            &account_id,
            email,
            "quartz meadow beacon 44",
        )
        .await;
        let cookies = [owner.cookie.as_str()];
        for path in ["/console", "/console/keys", "/console/plans"] {
            let page = console.get(path, &cookies).await;
            assert_eq!(page.status, 200, "{path}: {}", page.html);
            assert!(
                page.html
                    .contains(&format!("id=\"maintenance-{urgent_id}\"")),
                "{path}: {}",
                page.html
            );
            assert!(
                page.html
                    .contains(&format!("id=\"maintenance-{planned_id}\"")),
                "{path}"
            );
        }
        let page = console.get("/console", &cookies).await;
        assert!(
            page.html.contains("Maintenance in progress until"),
            "{}",
            page.html
        );
        assert!(
            page.html.contains("Planned maintenance from"),
            "{}",
            page.html
        );

        // The operator's console shows them too.
        let operator = console.sign_in("admin", &app.first.operator_password).await;
        let dashboard = console.get("/console", &[operator.cookie.as_str()]).await;
        assert!(
            dashboard
                .html
                .contains(&format!("id=\"maintenance-{planned_id}\"")),
            "{}",
            dashboard.html
        );
        assert!(
            dashboard.html.contains("Emergency maintenance"),
            "{}",
            dashboard.html
        );

        let listed = admin(&db, &["maintenance", "list"]);
        assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
        let canceled = admin(&db, &["maintenance", "cancel", &planned_id]);
        assert_eq!(canceled["id"], planned_id.as_str());
        let again = admin_mailing(&db, &["maintenance", "cancel", &planned_id]);
        assert!(
            !again.ok && again.stderr.contains("resource_missing"),
            "{}",
            again.stderr
        );
        let page = console.get("/console", &cookies).await;
        assert!(!page.html.contains(&planned_id), "{}", page.html);
        assert!(page.html.contains(&urgent_id));
        app.stop().await;
    }
);
