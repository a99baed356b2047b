//! Real `easel worker` processes against a real server: many jobs through several workers,
//! and the faults a fleet lives with (a killed worker, a frozen one, a cancel, a server
//! restart), plus a worker in front of the fake ComfyUI making a video.

use std::path::Path;
use std::time::{Duration, Instant};

use easel_test_utils::{TestDb, both_backends};
use futures::StreamExt;
use serde_json::{Value, json};

use super::process::WorkerProcess;
use super::support::{config, image_body, register};
use crate::generations::{create, funded, until};
use crate::support::{TestApp, eventually};

const LEASE_MS: u64 = 3000;
const HEARTBEAT_MS: u64 = 500;

/// Worker models with leases of 3 s and heartbeats every 500 ms.
fn fleet(c: &mut easel_server::config::Config) {
    config(c);
    c.workers.lease_ms = LEASE_MS;
    c.workers.heartbeat_ms = HEARTBEAT_MS;
}

async fn balance(app: &TestApp, key: &str) -> (i64, i64) {
    let b = app.get("/v1/balance", key).await.expect(200).body;
    (
        b["balance"].as_i64().unwrap_or(-1),
        b["held"].as_i64().unwrap_or(-1),
    )
}

async fn jobs_done(app: &TestApp, name: &str) -> u64 {
    app.state
        .store
        .get_worker(name)
        .await
        .unwrap_or_else(|e| panic!("worker {name}: {e}"))
        .jobs_done
}

/// Creates a `gpu-image` generation; its id.
async fn submit(app: &TestApp, key: &str) -> String {
    let created = create(app, key, image_body(1), None).await.expect(202).body;
    created["id"].as_str().unwrap_or_default().to_string()
}

/// Waits (up to `secs`) until the generation has `status`.
async fn reaches(app: &TestApp, key: &str, id: &str, status: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let g = app
            .get(&format!("/v1/generations/{id}"), key)
            .await
            .expect(200)
            .body;
        if g["status"] == status {
            return g;
        }
        assert!(
            Instant::now() < deadline,
            "generation {id} never reached {status}: {g}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

both_backends!(
    three_workers_run_300_jobs_each_exactly_once_and_charged_once,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, fleet).await;
        let (_, key) = funded(&app, "fleet@example.com").await;
        let mut workers = Vec::new();
        for i in 0..3 {
            let (_, token) = register(&app, &format!("gpu-{i}"), &["gpu-image"]).await;
            workers.push(WorkerProcess::spawn(
                &app.url,
                &token,
                &["--engine", "sandbox", "--concurrency", "4"],
            ));
        }
        let ids: Vec<String> = futures::stream::iter(0..300)
            .map(|_| submit(&app, &key))
            .buffer_unordered(16)
            .collect()
            .await;
        let mut charged = 0;
        for id in &ids {
            let g = reaches(&app, &key, id, "succeeded", 120).await;
            assert_eq!(g["outputs"].as_array().map(Vec::len), Some(1));
            assert_eq!(g["credits"]["charged"], g["credits"]["estimated"]);
            charged += g["credits"]["charged"].as_i64().unwrap_or(0);
        }
        assert_eq!(
            balance(&app, &key).await,
            (1_000_000 - charged, 0),
            "each job charged once, nothing left held"
        );
        let mut done = 0;
        for i in 0..3 {
            let w = app
                .state
                .store
                .get_worker(&format!("gpu-{i}"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(w.leases_lost, 0, "no lease lapsed");
            assert!(w.jobs_done > 0, "every worker took part: gpu-{i}");
            done += w.jobs_done;
        }
        assert_eq!(done, 300, "each job was completed exactly once");
        assert!(
            workers[0].printed("total_ms", 5000).await,
            "one log line per job with its timings: {:?}",
            workers[0].output()
        );
        let lines = workers[0].output();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("engine_ms") && l.contains("total_ms")),
            "one log line per job with its timings: {lines:?}"
        );
        app.stop().await;
    }
);

both_backends!(
    a_killed_worker_s_job_is_finished_by_another_within_its_lease,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, fleet).await;
        let (_, key) = funded(&app, "kill@example.com").await;
        let (_, slow) = register(&app, "doomed", &["gpu-image"]).await;
        let (_, fast) = register(&app, "rescuer", &["gpu-image"]).await;
        let doomed = WorkerProcess::spawn(
            &app.url,
            &slow,
            &["--engine", "sandbox", "--setting", "delay_ms=60000"],
        );
        let id = submit(&app, &key).await;
        reaches(&app, &key, &id, "running", 20).await;
        let _rescuer = WorkerProcess::spawn(&app.url, &fast, &["--engine", "sandbox"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        doomed.signal("KILL");
        let killed = Instant::now();
        let g = reaches(&app, &key, &id, "succeeded", 30).await;
        let took = killed.elapsed();
        // Lease + one heartbeat, plus the reaper's one-second tick and the run itself.
        let bound = Duration::from_millis(LEASE_MS + HEARTBEAT_MS + 2500);
        assert!(
            took <= bound,
            "finished {took:?} after the kill (bound {bound:?})"
        );
        assert_eq!(jobs_done(&app, "rescuer").await, 1);
        let charged = g["credits"]["charged"].as_i64().unwrap_or(-1);
        assert_eq!(balance(&app, &key).await, (1_000_000 - charged, 0));
        app.stop().await;
    }
);

both_backends!(
    a_frozen_worker_is_refused_409_when_it_wakes_and_carries_on_with_new_work,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, fleet).await;
        let (_, key) = funded(&app, "freeze@example.com").await;
        let (_, a) = register(&app, "frozen", &["gpu-image"]).await;
        let (_, b) = register(&app, "other", &["gpu-image"]).await;
        let frozen = WorkerProcess::spawn(
            &app.url,
            &a,
            &["--engine", "sandbox", "--setting", "delay_ms=1500"],
        );
        let first = submit(&app, &key).await;
        reaches(&app, &key, &first, "running", 20).await;
        frozen.signal("STOP");
        let mut other = WorkerProcess::spawn(&app.url, &b, &["--engine", "sandbox"]);
        let g = reaches(&app, &key, &first, "succeeded", 30).await;
        assert_eq!(
            jobs_done(&app, "other").await,
            1,
            "the other worker finished it"
        );
        // The other worker leaves (SIGTERM: a clean exit), the frozen one wakes up.
        other.signal("TERM");
        assert_eq!(
            other.exited(Duration::from_secs(10)).await,
            Some(0),
            "SIGTERM exits 0"
        );
        frozen.signal("CONT");
        assert!(
            frozen.printed("lease_lost", 15_000).await || frozen.printed("lease lost", 1).await,
            "the woken worker hears its lease is gone: {:?}",
            frozen.output()
        );
        assert_eq!(
            jobs_done(&app, "frozen").await,
            0,
            "nothing it sent after waking was accepted"
        );
        let second = submit(&app, &key).await;
        reaches(&app, &key, &second, "succeeded", 30).await;
        assert_eq!(
            jobs_done(&app, "frozen").await,
            1,
            "it carries on with new work"
        );
        let charged = g["credits"]["charged"].as_i64().unwrap_or(-1);
        let (money, held) = balance(&app, &key).await;
        assert_eq!(
            (money, held),
            (1_000_000 - 2 * charged, 0),
            "two jobs, two charges"
        );
        app.stop().await;
    }
);

both_backends!(
    a_cancel_reaches_a_running_worker_within_a_heartbeat,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, fleet).await;
        let (_, key) = funded(&app, "cancel@example.com").await;
        let (_, token) = register(&app, "busy", &["gpu-image"]).await;
        let worker = WorkerProcess::spawn(
            &app.url,
            &token,
            &["--engine", "sandbox", "--setting", "delay_ms=60000"],
        );
        let id = submit(&app, &key).await;
        reaches(&app, &key, &id, "running", 20).await;
        assert!(balance(&app, &key).await.1 > 0, "held while running");
        let asked = Instant::now();
        app.post(&format!("/v1/generations/{id}/cancel"), &key, json!({}))
            .await
            .expect(200);
        reaches(&app, &key, &id, "canceled", 10).await;
        let took = asked.elapsed();
        assert!(
            took <= Duration::from_millis(HEARTBEAT_MS + 1000),
            "canceled {took:?} after the request"
        );
        assert_eq!(
            balance(&app, &key).await,
            (1_000_000, 0),
            "the hold is released"
        );
        assert!(
            worker.printed("cancel", 5000).await,
            "the worker stopped the run: {:?}",
            worker.output()
        );
        // The worker is free again.
        let next = submit(&app, &key).await;
        app.post(&format!("/v1/generations/{next}/cancel"), &key, json!({}))
            .await
            .expect(200);
        reaches(&app, &key, &next, "canceled", 10).await;
        app.stop().await;
    }
);

both_backends!(
    workers_reconnect_after_a_server_restart_and_every_job_ends,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, fleet).await;
        let addr = app.url.trim_start_matches("http://").to_string();
        let (_, key) = funded(&app, "restart@example.com").await;
        let mut fleet_procs = Vec::new();
        for i in 0..2 {
            let (_, token) = register(&app, &format!("gpu-{i}"), &["gpu-image"]).await;
            fleet_procs.push(WorkerProcess::spawn(
                &app.url,
                &token,
                &[
                    "--engine",
                    "sandbox",
                    "--concurrency",
                    "2",
                    "--setting",
                    "delay_ms=1000",
                ],
            ));
        }
        let mut ids = Vec::new();
        for _ in 0..6 {
            ids.push(submit(&app, &key).await);
        }
        let running = eventually(20_000, || async {
            let g = app
                .get(&format!("/v1/generations/{}", ids[0]), &key)
                .await
                .expect(200)
                .body;
            g["status"] == "running"
        })
        .await;
        assert!(running, "workers took jobs before the restart");
        app.stop().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let app = TestApp::start_at(&db, &addr, fleet).await;
        let mut charged = 0;
        for id in &ids {
            let g = until(&app, &key, id, &["succeeded"]).await;
            charged += g["credits"]["charged"].as_i64().unwrap_or(0);
        }
        assert_eq!(
            balance(&app, &key).await,
            (1_000_000 - charged, 0),
            "every job ended, charged once"
        );
        app.stop().await;
    }
);

both_backends!(
    a_worker_in_front_of_comfyui_makes_a_video,
    |db: TestDb| async move {
        let (_, comfy) = easel_test_utils::fakes::comfyui::start().await;
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples");
        let text = std::fs::read_to_string(examples.join("engines.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let example = table["models"]["wan-video"].clone();
        let app = TestApp::start_with(&db, |c| {
            fleet(c);
            let mut model: easel_server::config::ModelConfig = example
                .clone()
                .try_into()
                .unwrap_or_else(|e| panic!("wan-video: {e}"));
            model.engine = "worker".into();
            model.settings = toml::Table::new();
            model.sizes = vec!["128x96".into()];
            model.durations = vec![1];
            model.fps = vec![8];
            model.timeout_seconds = 60;
            c.models.insert("wan-video".into(), model);
        })
        .await;
        let (_, key) = funded(&app, "video@example.com").await;
        let (_, token) = register(&app, "comfy-box", &["wan-video"]).await;
        let mut settings =
            serde_json::to_value(&example["settings"]).unwrap_or_else(|e| panic!("{e}"));
        settings["base_url"] = json!(comfy.url());
        let settings = settings.to_string();
        let examples_dir = examples.to_string_lossy().to_string();
        let _worker = WorkerProcess::spawn(
            &app.url,
            &token,
            &[
                "--engine",
                "comfyui",
                "--settings",
                &settings,
                "--config-dir",
                &examples_dir,
            ],
        );
        let created = create(&app, &key, json!({"model": "wan-video", "prompt": "waves", "width": 128, "height": 96, "duration_seconds": 1, "fps": 8}), None)
            .await
            .expect(202)
            .body;
        let id = created["id"].as_str().unwrap_or_default().to_string();
        let g = reaches(&app, &key, &id, "succeeded", 60).await;
        let o = &g["outputs"][0];
        assert_eq!(o["content_type"], "video/mp4", "{g}");
        assert_eq!(
            (o["width"].clone(), o["height"].clone()),
            (json!(128), json!(96))
        );
        let (status, _, bytes) =
            crate::generations::download(o["url"].as_str().unwrap_or_default()).await;
        assert_eq!(status, 200);
        assert!(bytes.windows(4).any(|w| w == b"ftyp"), "an MP4 file");
        assert_eq!(
            comfy.recorded().prompts.len(),
            1,
            "ComfyUI received the workflow once"
        );
        app.stop().await;
    }
);

both_backends!(
    sigterm_past_the_grace_hands_the_job_back_and_exits_0,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, fleet).await;
        let (account, key) = funded(&app, "term@example.com").await;
        let (_, token) = register(&app, "leaving", &["gpu-image"]).await;
        let mut worker = WorkerProcess::spawn(
            &app.url,
            &token,
            &[
                "--engine",
                "sandbox",
                "--setting",
                "delay_ms=60000",
                "--grace-seconds",
                "1",
            ],
        );
        let id = submit(&app, &key).await;
        reaches(&app, &key, &id, "running", 20).await;
        let asked = Instant::now();
        worker.signal("TERM");
        assert_eq!(
            worker.exited(Duration::from_secs(20)).await,
            Some(0),
            "exits 0: {:?}",
            worker.output()
        );
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "within the grace and the report: {:?}",
            asked.elapsed()
        );
        // Reported `interrupted`: its job is back in the queue at once, not after its
        // lease lapsed (the generation itself stays `running` between attempts).
        let g = app
            .state
            .store
            .get_generation(&account, easel_core::mode::Mode::Live, &id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let job = app
            .state
            .store
            .get_job(&g.job_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(job.status, easel_core::jobs::JobStatus::Queued, "{job:?}");
        assert!(
            job.last_error
                .as_deref()
                .is_some_and(|e| e.contains("engine_unavailable")),
            "{job:?}"
        );
        assert!(
            worker.output().iter().any(|l| l.contains("interrupted")),
            "{:?}",
            worker.output()
        );
        let row = app
            .state
            .store
            .get_worker("leaving")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (row.jobs_failed, row.leases_lost),
            (0, 0),
            "shutting down is not the worker's failure"
        );
        // Another worker finishes it.
        let (_, other) = register(&app, "next", &["gpu-image"]).await;
        let _next = WorkerProcess::spawn(&app.url, &other, &["--engine", "sandbox"]);
        let g = reaches(&app, &key, &id, "succeeded", 30).await;
        let charged = g["credits"]["charged"].as_i64().unwrap_or(-1);
        assert_eq!(balance(&app, &key).await, (1_000_000 - charged, 0));
        app.stop().await;
    }
);

both_backends!(
    a_revoked_worker_stops_with_an_error_that_hides_its_token,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, fleet).await;
        let (_, token) = register(&app, "revoked", &["gpu-image"]).await;
        let mut worker = WorkerProcess::spawn(&app.url, &token, &["--engine", "sandbox"]);
        assert!(
            worker.printed("gpu-image", 20_000).await,
            "the worker started: {:?}",
            worker.output()
        );
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
        app.state
            .store
            .revoke_worker("revoked", audit, easel_core::time::now_ms())
            .await
            .unwrap_or_else(|e| panic!("revoke: {e}"));
        // Its waiting claim ends within the long poll; the next one is refused.
        let code = worker.exited(Duration::from_secs(20)).await;
        assert!(code.is_some_and(|c| c != 0), "exits non-zero: {code:?}");
        // The pipes are read by threads that may lag the exit a little.
        let said = worker.printed("worker_token_revoked", 5000).await;
        let output = worker.output().join("\n");
        assert!(said, "says why: {output}");
        assert!(!output.contains(&token), "never prints its token");
        app.stop().await;
    }
);

both_backends!(
    a_worker_fetches_the_input_image_through_the_server,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, fleet).await;
        let (_, key) = funded(&app, "img2img@example.com").await;
        let (_, token) = register(&app, "img2img", &["gpu-image"]).await;
        let worker = WorkerProcess::spawn(&app.url, &token, &["--engine", "sandbox"]);
        let (_, encoded) = crate::engines::support::input_png(64, 64);
        let body = json!({"model": "gpu-image", "prompt": "repaint", "width": 64, "height": 64, "input_image": encoded});
        let created = create(&app, &key, body, None).await.expect(202).body;
        let id = created["id"].as_str().unwrap_or_default().to_string();
        reaches(&app, &key, &id, "succeeded", 30).await;
        // The worker logs its job line once the completion is answered.
        assert!(
            worker.printed("fetch_ms", 5000).await,
            "its job line times the input download: {:?}",
            worker.output()
        );
        app.stop().await;
    }
);

both_backends!(
    a_worker_claims_its_next_job_while_the_last_one_uploads,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            fleet(c);
            if let Some(m) = c.models.get_mut("gpu-image") {
                // Big enough that checking and uploading one output takes a while.
                m.sizes.push("1024x1024".into());
            }
        })
        .await;
        let (account, key) = funded(&app, "pipeline@example.com").await;
        let (_, token) = register(&app, "gpu", &["gpu-image"]).await;
        let mut ids = Vec::new();
        for _ in 0..4 {
            let body =
                json!({"model": "gpu-image", "prompt": "a harbour", "width": 1024, "height": 1024});
            let created = create(&app, &key, body, None).await.expect(202).body;
            ids.push(created["id"].as_str().unwrap_or_default().to_string());
        }
        let worker = WorkerProcess::spawn(
            &app.url,
            &token,
            &[
                "--engine",
                "sandbox",
                "--concurrency",
                "1",
                "--setting",
                "delay_ms=100",
            ],
        );
        let mut leases = Vec::new();
        for id in &ids {
            reaches(&app, &key, id, "succeeded", 60).await;
            let g = app
                .state
                .store
                .get_generation(&account, easel_core::mode::Mode::Live, id)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let lease = app
                .state
                .store
                .latest_lease_of_job(&g.job_id)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("a lease of {id}"));
            leases.push((lease.claimed_at, lease.ended_at.unwrap_or(i64::MAX)));
        }
        leases.sort_unstable();
        // With one engine slot, the next lease is claimed as soon as the engine is done:
        // before the previous lease's upload and completion end it.
        let overlapping = leases.windows(2).filter(|w| w[1].0 < w[0].1).count();
        assert_eq!(
            overlapping,
            3,
            "each next claim came before the last completion: {leases:?} {:?}",
            worker.output()
        );
        app.stop().await;
    }
);
