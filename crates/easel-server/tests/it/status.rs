//! The status page (clause 10) on both databases: 90 days of probes recorded and shown as
//! uptime and daily bars (maintenance never counted as downtime), incidents and
//! maintenance through the real `easel admin` binary and out through Statuspage's JSON (its
//! field names and status words), the Atom feed and the page, and the probe lease moving
//! to a second server process when the first is killed.

use std::collections::BTreeSet;
use std::time::Duration;

use easel_core::time::now_ms;
use easel_db::{AuditContext, Maintenance, Period};
use easel_server::status::{Outcome, Probe, round, save};
use easel_test_utils::{Backend, TestDb, both_backends};
use serde_json::{Value, json};

use crate::process::Server;
use crate::support::binary::{admin, admin_fails};
use crate::support::{TestApp, rfc3339};

const H: i64 = 3_600_000;
const D: i64 = 86_400_000;

async fn public(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let res = reqwest::get(format!("{}{path}", app.url))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: body: {e}"));
    (status, headers, body)
}

async fn json_of(app: &TestApp, path: &str) -> Value {
    let (status, headers, body) = public(app, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "{path}: {headers:?}"
    );
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn probe(component: &str, outcome: Outcome) -> Probe {
    Probe {
        component: component.into(),
        outcome,
        message: "simulated".into(),
        latency_ms: None,
    }
}

/// The text of the first `<li data-uptime="{key}">…<strong>X</strong>` after
/// `id="component-{code}"`.
fn uptime_shown(html: &str, code: &str, key: &str) -> String {
    let start = html
        .find(&format!("id=\"component-{code}\""))
        .unwrap_or_else(|| panic!("no component {code}"));
    let rest = &html[start..];
    let at = rest
        .find(&format!("data-uptime=\"{key}\""))
        .unwrap_or_else(|| panic!("no uptime {key} for {code}"));
    let rest = &rest[at..];
    let from = rest.find("<strong>").unwrap_or(0) + "<strong>".len();
    let to = rest.find("</strong>").unwrap_or(from);
    rest[from..to].to_string()
}

/// The class and title of `code`'s bar for the UTC day starting at `day`.
fn bar(html: &str, code: &str, day: i64) -> (String, String) {
    let start = html
        .find(&format!("id=\"component-{code}\""))
        .unwrap_or_else(|| panic!("no component {code}"));
    let rest = &html[start..];
    let marker = format!("data-day=\"{}\"", &rfc3339(day)[..10]);
    let at = rest
        .find(&marker)
        .unwrap_or_else(|| panic!("no bar {marker} for {code}"));
    let tag_start = rest[..at].rfind("<span").unwrap_or(0);
    let tag = &rest[tag_start..at];
    let attr = |name: &str| {
        let from = tag.find(&format!("{name}=\"")).map(|i| i + name.len() + 2);
        from.and_then(|f| tag[f..].find('"').map(|t| tag[f..f + t].to_string()))
            .unwrap_or_default()
    };
    (attr("class"), attr("title"))
}

/// Uptime as the page prints it: two decimals, never rounded up.
fn percent(down: i64, counted: i64) -> String {
    let v = 1.0 - down as f64 / counted as f64;
    format!("{:.2}%", (v * 10_000.0).floor() / 100.0)
}

both_backends!(
    ninety_days_of_probes_become_uptime_and_daily_bars,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let state = &app.state;
        let now = now_ms();
        let today = Period::Day.start(now);
        // Planned work three days ago, 02:00–04:00, on the API: its downtime is not counted.
        let window = Maintenance {
            id: easel_core::ids::IdKind::Maintenance.generate(),
            starts_at: today - 3 * D + 2 * H,
            ends_at: today - 3 * D + 4 * H,
            message: "Moving to new disks".into(),
            components: vec!["api".into()],
            emergency: true,
            created_at: today - 4 * D,
            canceled_at: None,
        };
        let audit = AuditContext::new(easel_core::audit::Actor::cli(), None);
        state
            .store
            .announce_maintenance(window, json!({}), audit)
            .await
            .unwrap_or_else(|e| panic!("announce: {e}"));
        let windows = state
            .store
            .list_maintenance(today - 100 * D)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // 89 whole days and today up to now, in spans of one outcome each: the API down
        // all day ten days ago and during the window, the database degraded six hours
        // five days ago. Webhooks are never probed.
        let mut spans: Vec<(i64, i64, Vec<Probe>)> = Vec::new();
        for back in (1..=89).rev() {
            let day = today - back * D;
            let api = if back == 10 {
                Outcome::Down
            } else {
                Outcome::Ok
            };
            match back {
                3 => {
                    spans.push((day, day + 2 * H, vec![probe("api", Outcome::Ok)]));
                    spans.push((day + 2 * H, day + 4 * H, vec![probe("api", Outcome::Down)]));
                    spans.push((day + 4 * H, day + D, vec![probe("api", Outcome::Ok)]));
                    spans.push((day, day + D, vec![probe("database", Outcome::Ok)]));
                }
                5 => {
                    spans.push((day, day + D, vec![probe("api", api)]));
                    spans.push((day, day + 6 * H, vec![probe("database", Outcome::Degraded)]));
                    spans.push((day + 6 * H, day + D, vec![probe("database", Outcome::Ok)]));
                }
                _ => spans.push((
                    day,
                    day + D,
                    vec![probe("api", api), probe("database", Outcome::Ok)],
                )),
            }
        }
        spans.push((
            today,
            now,
            vec![probe("api", Outcome::Ok), probe("database", Outcome::Ok)],
        ));
        for (from, to, probes) in &spans {
            let r = round(probes, *from, *to, None, H, &windows);
            save(state, &r, now)
                .await
                .unwrap_or_else(|e| panic!("save: {e}"));
        }

        let (status, headers, html) = public(&app, "/status").await;
        assert_eq!(status, 200);
        assert!(
            headers
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("default-src 'none'")),
            "{headers:?}"
        );
        let so_far = now - today;
        assert_eq!(uptime_shown(&html, "api", "24hours"), "100.00%");
        assert_eq!(uptime_shown(&html, "api", "7days"), "100.00%");
        assert_eq!(
            uptime_shown(&html, "api", "30days"),
            percent(D, 29 * D - 2 * H + so_far)
        );
        assert_eq!(
            uptime_shown(&html, "api", "90days"),
            percent(D, 89 * D - 2 * H + so_far)
        );
        assert_ne!(uptime_shown(&html, "api", "90days"), "100.00%");
        // Degraded is not down.
        assert_eq!(uptime_shown(&html, "database", "90days"), "100.00%");
        assert_eq!(uptime_shown(&html, "webhooks", "90days"), "no data");

        let (class, title) = bar(&html, "api", today - 10 * D);
        assert_eq!(class, "day-down");
        assert!(title.ends_with(": 1440 min down"), "{title}");
        let (class, title) = bar(&html, "api", today - 3 * D);
        assert_eq!(class, "day-ok", "maintenance is not downtime: {title}");
        assert!(title.contains("120 min maintenance"), "{title}");
        let (class, title) = bar(&html, "database", today - 5 * D);
        assert_eq!(class, "day-degraded");
        assert!(title.contains("360 min degraded"), "{title}");
        assert_eq!(bar(&html, "webhooks", today - 5 * D).0, "day-none");
        assert_eq!(bar(&html, "api", today - 89 * D).0, "day-ok");
        assert_eq!(html.matches("data-day=").count(), 90 * 7, "90 bars each");

        // The same rows through the database: tallies are exact milliseconds.
        let down = db
            .count("SELECT CAST(SUM(down_ms) AS BIGINT) FROM status_tallies WHERE period = 'day' AND component = 'api'")
            .await;
        assert_eq!(down, D, "the window's two hours are maintenance, not down");
        let maintenance = db
            .count("SELECT CAST(SUM(maintenance_ms) AS BIGINT) FROM status_tallies WHERE period = 'day' AND component = 'api'")
            .await;
        assert_eq!(maintenance, 2 * H);
        // Hour rows older than two days were dropped as rounds were saved.
        let old_hours = db
            .count(&format!(
                "SELECT COUNT(*) FROM status_tallies WHERE period = 'hour' AND starts_at < {}",
                Period::Hour.start(now) - 2 * D
            ))
            .await;
        assert_eq!(old_hours, 0);
        app.stop().await;
    }
);

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_string()).collect()
}

const PAGE: [&str; 5] = ["id", "name", "url", "time_zone", "updated_at"];
const COMPONENT: [&str; 13] = [
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
];
const INCIDENT: [&str; 13] = [
    "id",
    "name",
    "status",
    "impact",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "started_at",
    "shortlink",
    "page_id",
    "incident_updates",
    "components",
];
const UPDATE: [&str; 8] = [
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
];

/// Checks every object of a Statuspage document has exactly Statuspage's fields and words.
fn check_statuspage(doc: &Value) {
    if let Some(page) = doc.get("page") {
        assert_eq!(keys(page), set(&PAGE));
        assert_eq!(page["time_zone"], "Etc/UTC");
    }
    if let Some(status) = doc.get("status") {
        assert_eq!(keys(status), set(&["indicator", "description"]));
        let words = ["none", "minor", "major", "critical", "maintenance"];
        assert!(
            words.contains(&status["indicator"].as_str().unwrap_or_default()),
            "{status}"
        );
    }
    let component_words = [
        "operational",
        "degraded_performance",
        "partial_outage",
        "major_outage",
        "under_maintenance",
    ];
    let check_component = |c: &Value| {
        assert_eq!(keys(c), set(&COMPONENT), "{c}");
        assert!(
            component_words.contains(&c["status"].as_str().unwrap_or_default()),
            "{c}"
        );
    };
    for c in doc["components"].as_array().into_iter().flatten() {
        check_component(c);
    }
    let check_incident = |i: &Value, maintenance: bool| {
        let mut want = set(&INCIDENT);
        if maintenance {
            want.extend(set(&["scheduled_for", "scheduled_until"]));
            assert_eq!(i["impact"], "maintenance");
            let words = ["scheduled", "in_progress", "verifying", "completed"];
            assert!(
                words.contains(&i["status"].as_str().unwrap_or_default()),
                "{i}"
            );
        } else {
            let words = [
                "investigating",
                "identified",
                "monitoring",
                "resolved",
                "postmortem",
            ];
            assert!(
                words.contains(&i["status"].as_str().unwrap_or_default()),
                "{i}"
            );
            let impacts = ["none", "minor", "major", "critical"];
            assert!(
                impacts.contains(&i["impact"].as_str().unwrap_or_default()),
                "{i}"
            );
        }
        assert_eq!(keys(i), want, "{i}");
        for u in i["incident_updates"].as_array().into_iter().flatten() {
            assert_eq!(keys(u), set(&UPDATE), "{u}");
            for a in u["affected_components"].as_array().into_iter().flatten() {
                assert_eq!(keys(a), set(&["code", "name", "old_status", "new_status"]));
            }
        }
        for c in i["components"].as_array().into_iter().flatten() {
            check_component(c);
        }
    };
    for i in doc["incidents"].as_array().into_iter().flatten() {
        check_incident(i, false);
    }
    for m in doc["scheduled_maintenances"]
        .as_array()
        .into_iter()
        .flatten()
    {
        check_incident(m, true);
    }
}

async fn statuspage(app: &TestApp, name: &str) -> Value {
    let doc = json_of(app, &format!("/status/api/v2/{name}")).await;
    check_statuspage(&doc);
    doc
}

fn component<'a>(doc: &'a Value, code: &str) -> &'a Value {
    doc["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == code))
        .unwrap_or_else(|| panic!("no component {code} in {doc}"))
}

/// Parses the Atom feed with Python's XML parser (not ours): its entries' titles.
fn atom_titles(xml: &str) -> Vec<String> {
    let python = std::env::var("EASEL_TEST_PYTHON")
        .unwrap_or_else(|_| panic!("EASEL_TEST_PYTHON is unset: run scripts/test"));
    let script = "import sys, xml.etree.ElementTree as ET\n\
                  ns = {'a': 'http://www.w3.org/2005/Atom'}\n\
                  root = ET.fromstring(sys.stdin.buffer.read())\n\
                  assert root.tag == '{http://www.w3.org/2005/Atom}feed', root.tag\n\
                  for tag in ('id', 'title', 'updated'):\n    assert root.find('a:' + tag, ns) is not None, tag\n\
                  for e in root.findall('a:entry', ns):\n    \
                  assert all(e.find('a:' + t, ns) is not None for t in ('id', 'title', 'updated', 'content'))\n    \
                  print(e.find('a:title', ns).text)\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(xml.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    assert!(
        out.status.success(),
        "not a valid Atom feed: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

both_backends!(
    incidents_and_maintenance_reach_the_page_the_statuspage_json_and_the_feed,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let calm = statuspage(&app, "summary.json").await;
        assert_eq!(calm["status"]["indicator"], "none");
        assert_eq!(calm["status"]["description"], "All Systems Operational");
        assert_eq!(calm["incidents"], json!([]));
        assert_eq!(
            calm["components"].as_array().map(Vec::len),
            Some(
                5 + app
                    .state
                    .config
                    .models
                    .values()
                    .filter(|m| m.enabled)
                    .count()
            )
        );

        // Refusals, each with its reason, and nothing recorded.
        let open = |extra: &[&str]| {
            let mut args = vec![
                "incident",
                "open",
                "--name",
                "Slow image generations",
                "--message",
                "We are looking into slow images & timeouts.",
            ];
            args.extend_from_slice(extra);
            args.iter().map(|s| (*s).to_string()).collect::<Vec<_>>()
        };
        let refused = |args: Vec<String>, why: &str| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let err = admin_fails(&db, &args);
            assert!(err.contains(why), "{args:?}: {err}");
        };
        refused(open(&["--status", "resolved"]), "not one of");
        refused(open(&["--impact", "huge"]), "not one of");
        refused(open(&["--component", "gpu-farm"]), "No component named");
        refused(open(&["--component", "api=on_fire"]), "not one of");
        refused(
            vec![
                "incident".into(),
                "update".into(),
                "inc_00000000000000000000000000".into(),
                "--message".into(),
                "x".into(),
            ],
            "incident",
        );
        assert_eq!(db.count("SELECT COUNT(*) FROM incidents").await, 0);

        let args = open(&[
            "--impact",
            "major",
            "--component",
            "sandbox-image=partial_outage",
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let opened = admin(&db, &args);
        let id = opened["id"].as_str().unwrap_or_default().to_string();
        assert!(id.starts_with("inc_"), "{opened}");

        let doc = statuspage(&app, "summary.json").await;
        assert_eq!(doc["status"]["indicator"], "major");
        assert_eq!(doc["status"]["description"], "Partial System Outage");
        assert_eq!(component(&doc, "sandbox-image")["status"], "partial_outage");
        assert_eq!(component(&doc, "api")["status"], "operational");
        let incident = &doc["incidents"][0];
        assert_eq!(incident["id"], id.as_str());
        assert_eq!(incident["status"], "investigating");
        assert_eq!(
            incident["incident_updates"][0]["affected_components"],
            json!([{"code": "sandbox-image", "name": "Model sandbox-image",
                    "old_status": "operational", "new_status": "partial_outage"}])
        );
        assert_eq!(
            incident["incident_updates"][0]["body"],
            "We are looking into slow images & timeouts."
        );

        let updated = admin(
            &db,
            &[
                "incident",
                "update",
                &id,
                "--status",
                "identified",
                "--message",
                "A GPU host is out; moving work to the others.",
                "--component",
                "sandbox-image=major_outage",
                "--component",
                "queue=degraded_performance",
            ],
        );
        assert_eq!(updated["status"], "identified");
        let doc = statuspage(&app, "incidents/unresolved.json").await;
        let updates = &doc["incidents"][0]["incident_updates"];
        assert_eq!(updates.as_array().map(Vec::len), Some(2), "{doc}");
        assert_eq!(updates[0]["status"], "identified", "newest first");
        assert_eq!(
            updates[0]["affected_components"],
            json!([
                {"code": "queue", "name": "Job queue", "old_status": "operational", "new_status": "degraded_performance"},
                {"code": "sandbox-image", "name": "Model sandbox-image", "old_status": "partial_outage", "new_status": "major_outage"}
            ])
        );
        let status = statuspage(&app, "status.json").await;
        assert_eq!(status["status"]["indicator"], "critical");

        admin(
            &db,
            &[
                "incident",
                "resolve",
                &id,
                "--message",
                "All hosts are back.",
            ],
        );
        let doc = statuspage(&app, "incidents/unresolved.json").await;
        assert_eq!(doc["incidents"], json!([]));
        let all = statuspage(&app, "incidents.json").await;
        assert_eq!(all["incidents"][0]["status"], "resolved");
        assert!(all["incidents"][0]["resolved_at"].is_string());
        let last = &all["incidents"][0]["incident_updates"][0];
        assert_eq!(
            last["affected_components"].as_array().map(Vec::len),
            Some(2)
        );
        let components = statuspage(&app, "components.json").await;
        assert_eq!(
            component(&components, "sandbox-image")["status"],
            "operational"
        );
        let again = admin_fails(&db, &["incident", "update", &id, "--message", "more"]);
        assert!(again.contains("resolved"), "{again}");

        // Maintenance: one in progress (an emergency) and one planned.
        let now = now_ms();
        let (start, end) = (rfc3339(now - 60_000), rfc3339(now + H));
        admin(
            &db,
            &[
                "maintenance",
                "announce",
                "--start",
                &start,
                "--end",
                &end,
                "--message",
                "Replacing a disk",
                "--component",
                "queue",
                "--emergency",
            ],
        );
        let (start, end) = (rfc3339(now + 50 * H), rfc3339(now + 52 * H));
        admin(
            &db,
            &[
                "maintenance",
                "announce",
                "--start",
                &start,
                "--end",
                &end,
                "--message",
                "Upgrading the database",
            ],
        );
        let active = statuspage(&app, "scheduled-maintenances/active.json").await;
        let list = active["scheduled_maintenances"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(list.len(), 1, "{active}");
        assert_eq!(list[0]["status"], "in_progress");
        assert_eq!(list[0]["incident_updates"][0]["body"], "Replacing a disk");
        assert_eq!(list[0]["components"].as_array().map(Vec::len), Some(1));
        let upcoming = statuspage(&app, "scheduled-maintenances/upcoming.json").await;
        let list = upcoming["scheduled_maintenances"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(list.len(), 1, "{upcoming}");
        assert_eq!(list[0]["status"], "scheduled");
        assert_eq!(list[0]["scheduled_for"], rfc3339(now + 50 * H).as_str());
        let every = statuspage(&app, "scheduled-maintenances.json").await;
        assert_eq!(
            every["scheduled_maintenances"].as_array().map(Vec::len),
            Some(2)
        );
        let summary = statuspage(&app, "summary.json").await;
        assert_eq!(component(&summary, "queue")["status"], "under_maintenance");
        assert_eq!(summary["status"]["indicator"], "maintenance");
        assert_eq!(
            summary["scheduled_maintenances"].as_array().map(Vec::len),
            Some(2)
        );

        let (status, headers, feed) = public(&app, "/status/history.atom").await;
        assert_eq!(status, 200);
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/atom+xml; charset=utf-8")
        );
        let titles = atom_titles(&feed);
        assert_eq!(titles.len(), 3, "{titles:?}");
        assert!(
            titles
                .iter()
                .any(|t| t == "Slow image generations (resolved)"),
            "{titles:?}"
        );

        let (_, _, html) = public(&app, "/status").await;
        assert!(
            html.contains("Slow image generations"),
            "past incidents are listed"
        );
        assert!(html.contains("Replacing a disk") && html.contains("Upgrading the database"));
        assert!(html.contains("data-indicator=\"maintenance\""));
        assert!(html.contains("images &amp; timeouts"), "escaped");
        app.stop().await;
    }
);

both_backends!(
    the_page_answers_when_the_database_does_not,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        admin(
            &db,
            &[
                "incident",
                "open",
                "--name",
                "Disk trouble",
                "--message",
                "One disk is slow.",
                "--component",
                "database=degraded_performance",
            ],
        );
        let before = statuspage(&app, "summary.json").await;
        assert_eq!(
            component(&before, "database")["status"],
            "degraded_performance"
        );
        // Reads of the status tables now fail as they would with the database away.
        db.execute("ALTER TABLE status_components RENAME TO status_components_away")
            .await;
        let (status, _, html) = public(&app, "/status").await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("id=\"unreachable\""), "{html}");
        assert!(
            html.contains("Disk trouble"),
            "the last read's incident is still shown"
        );
        let during = statuspage(&app, "summary.json").await;
        assert_eq!(component(&during, "database")["status"], "major_outage");
        assert_eq!(component(&during, "api")["status"], "major_outage");
        assert_eq!(component(&during, "queue")["status"], "operational");
        assert_eq!(during["status"]["indicator"], "critical");
        db.execute("ALTER TABLE status_components_away RENAME TO status_components")
            .await;
        let after = statuspage(&app, "summary.json").await;
        assert_eq!(
            component(&after, "database")["status"],
            "degraded_performance"
        );
        assert_eq!(after["status"]["indicator"], "minor");
        app.stop().await;
    }
);

/// Two server processes probe nothing twice: one holds the lease; killed with SIGKILL, the
/// other takes over within the lease's three rounds, and the hand-over is not downtime.
fn probe_lease_moves_to_the_surviving_node(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let db = rt.block_on(TestDb::new(backend));
    let env = [
        ("EASEL_STATUS__PROBE_INTERVAL_SECONDS", "1"),
        ("EASEL_STATUS__CACHE_SECONDS", "0"),
    ];
    let runs_them = "status probes: this node runs them now";
    let first = Server::spawn(&db, &[], &env);
    let waited = |server: &Server, seconds: u64| {
        let mut seen = Vec::new();
        for _ in 0..seconds * 10 {
            seen.extend(server.stderr_lines());
            if seen.iter().any(|l| l.contains(runs_them)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    };
    assert!(waited(&first, 10), "the only node takes the lease");
    let second = Server::spawn(&db, &[], &env);
    assert!(!waited(&second, 3), "a held lease is not taken");
    let holders = rt.block_on(db.count("SELECT COUNT(*) FROM status_leases"));
    assert_eq!(holders, 1);
    let checked = || {
        rt.block_on(
            db.count("SELECT MAX(checked_at) FROM status_components WHERE component = 'api'"),
        )
    };
    let before = checked();
    assert!(before > 0);

    let _ = std::process::Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status();
    // Three rounds of one second for the lease to lapse, one more to notice.
    assert!(waited(&second, 10), "the survivor takes the lease over");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while checked() <= before + 3_000 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        checked() > before + 3_000,
        "probes go on after the hand-over"
    );
    let down = rt.block_on(db.count(
        "SELECT CAST(COALESCE(SUM(down_ms), 0) AS BIGINT) FROM status_tallies WHERE component = 'api'",
    ));
    assert_eq!(down, 0, "a hand-over within the lease is not downtime");
    let (status, body) =
        crate::process::get(&format!("{}/status/api/v2/status.json", second.url), "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"]["indicator"], "none", "{body}");
    drop(first);
}

#[test]
fn probe_lease_moves_to_the_surviving_node_sqlite() {
    probe_lease_moves_to_the_surviving_node(Backend::Sqlite);
}

#[test]
fn probe_lease_moves_to_the_surviving_node_postgres() {
    probe_lease_moves_to_the_surviving_node(Backend::Postgres);
}

/// The page in headless Chromium with the network blocked: nothing is fetched from
/// elsewhere, no script error, no serious accessibility violation, nothing wider than a
/// phone, and what a reader sees matches what the probes found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_reads_well_in_headless_chromium() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start_with(&db, |c| c.status.probe_interval_seconds = 1).await;
    admin(
        &db,
        &[
            "incident",
            "open",
            "--name",
            "Slow video generations",
            "--message",
            "Videos take longer than usual; we are adding capacity.",
            "--component",
            "sandbox-video=degraded_performance",
        ],
    );
    let probed = crate::support::eventually(10_000, || async {
        db.count("SELECT COUNT(*) FROM status_components").await >= 7
    })
    .await;
    assert!(probed, "the probes ran");
    let seen = crate::console_browser::run_script(&app, "status_page.cjs", &[]).await;
    assert_eq!(seen["status"], 200, "{seen}");
    assert_eq!(
        seen["elsewhere"],
        json!([]),
        "nothing loads from elsewhere: {seen}"
    );
    assert_eq!(seen["errors"], json!([]), "{seen}");
    assert_eq!(seen["a11y"], json!({"desktop": [], "phone": []}), "{seen}");
    for (name, w) in seen["widths"].as_object().into_iter().flatten() {
        assert!(
            w["page"].as_i64() <= w["screen"].as_i64(),
            "{name} is wider than the screen: {w}"
        );
    }
    assert_eq!(seen["overall"], "Minor Service Outage", "{seen}");
    let components = seen["components"].as_array().cloned().unwrap_or_default();
    assert_eq!(components.len(), 7, "{seen}");
    for c in &components {
        assert_eq!(c["bars"], 90, "{c}");
        assert!(
            c["last"]
                .as_str()
                .is_some_and(|t| t.ends_with(": no downtime")),
            "today's bar of a probed component: {c}"
        );
        let want = if c["id"] == "component-sandbox-video" {
            "Degraded performance"
        } else {
            "Operational"
        };
        assert_eq!(c["status"], want, "{c}");
    }
    app.stop().await;
}
