//! A node killed (SIGKILL) in the middle of a burst of creations, while they are being
//! group-committed: after a restart every creation it acknowledged is there, and none is
//! half written (a generation without its job, event, hold or ledger entry, or a balance
//! that does not match its holds).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use easel_test_utils::{Backend, TestDb};
use serde_json::{Value, json};

use crate::process::Server;
use crate::support::binary::admin;

fn killed_mid_burst(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let db = rt.block_on(TestDb::new(backend));
    // Short leases, so the restarted node takes back the dead one's jobs in seconds.
    let env = [
        ("EASEL_QUEUE__LEASE_MS", "2000"),
        ("EASEL_QUEUE__HEARTBEAT_MS", "500"),
    ];
    let server = Server::spawn(&db, &[], &env);
    let account = admin(
        &db,
        &[
            "account",
            "create",
            "--name",
            "Crash",
            "--owner-email",
            "crash@example.com",
            "--adult-attested",
        ],
    );
    let account_id = account["id"].as_str().unwrap_or_default().to_string();
    let key = admin(
        &db,
        &[
            "key",
            "create",
            "--account",
            &account_id,
            "--mode",
            "live",
            "--name",
            "burst",
        ],
    );
    let key = key["secret"].as_str().unwrap_or_default().to_string();
    admin(
        &db,
        &[
            "credits",
            "grant",
            "--account",
            &account_id,
            "--credits",
            "1000000",
            "--reason",
            "burst",
        ],
    );
    let url = server.url.clone();
    let pid = server.pid();
    let acknowledged: Vec<String> = rt.block_on(async {
        let client = reqwest::Client::new();
        let answered = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for n in 0..400 {
            let (client, url, key, answered) =
                (client.clone(), url.clone(), key.clone(), Arc::clone(&answered));
            tasks.push(tokio::spawn(async move {
                let body = json!({"model": "sandbox-image", "prompt": format!("a red fox, take {}", n % 7), "width": 256, "height": 256});
                let sent = client
                    .post(format!("{url}/v1/generations"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await;
                let Ok(response) = sent else { return None };
                let status = response.status().as_u16();
                // An answer cut off by the kill was never acknowledged.
                let Ok(body) = response.json::<Value>().await else {
                    return None;
                };
                answered.fetch_add(1, Ordering::SeqCst);
                (status == 202).then(|| body["id"].as_str().unwrap_or_default().to_string())
            }));
        }
        // Killed once some creations were answered, with most still in flight.
        while answered.load(Ordering::SeqCst) < 40 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        let mut ids = Vec::new();
        for task in tasks {
            if let Ok(Some(id)) = task.await {
                ids.push(id);
            }
        }
        ids
    });
    drop(server);
    assert!(
        acknowledged.len() >= 40,
        "only {} acknowledged",
        acknowledged.len()
    );
    assert!(acknowledged.len() < 400, "the kill came after every answer");

    let restarted = Server::spawn(&db, &[], &env);
    rt.block_on(async {
        let client = reqwest::Client::new();
        for id in &acknowledged {
            let got = client
                .get(format!("{}/v1/generations/{id}", restarted.url))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {id}: {e}"));
            assert_eq!(got.status().as_u16(), 200, "acknowledged {id} is gone");
        }
        // Every generation ends (the dead node's jobs are taken back), so what follows
        // is read from a database nobody is changing.
        let mut open = -1;
        for _ in 0..300 {
            open = db
                .count("SELECT COUNT(*) FROM generations WHERE status IN ('queued', 'running')")
                .await;
            if open == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(open, 0, "generations still open 30 s after the restart");
        let generations = db.count("SELECT COUNT(*) FROM generations").await;
        assert!(generations >= acknowledged.len() as i64);
        for (what, sql) in [
            ("jobs", "SELECT COUNT(*) FROM jobs"),
            ("queued events", "SELECT COUNT(*) FROM events WHERE type = 'generation.queued'"),
            ("holds", "SELECT COUNT(*) FROM holds"),
            ("hold ledger entries", "SELECT COUNT(*) FROM ledger_entries WHERE type = 'hold'"),
        ] {
            assert_eq!(db.count(sql).await, generations, "{what} per generation");
        }
        let open_holds = db.count(&format!(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM holds WHERE status = 'open' AND account_id = '{account_id}'"
        ))
        .await;
        let (_, held) = crate::credits::assert_ledger_matches(&db, &account_id).await;
        assert_eq!(held, open_holds, "what is held is the open holds");
    });
}

#[test]
fn a_node_killed_mid_burst_keeps_every_acknowledged_creation_whole_sqlite() {
    killed_mid_burst(Backend::Sqlite);
}

#[test]
fn a_node_killed_mid_burst_keeps_every_acknowledged_creation_whole_postgres() {
    killed_mid_burst(Backend::Postgres);
}
