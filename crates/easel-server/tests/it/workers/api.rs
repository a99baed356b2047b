//! The worker API driven by hand: a whole lease, and every way a lease can go wrong.

use std::time::{Duration, Instant};

use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use super::support::{
    Client, METRICS_TOKEN, config, developer_and_worker, id, image_body, register,
};
use crate::generations::{create, download, funded, until};
use crate::support::{TestApp, eventually};

async fn balance(app: &TestApp, key: &str) -> (i64, i64) {
    let b = app.get("/v1/balance", key).await.expect(200).body;
    (
        b["balance"].as_i64().unwrap_or(-1),
        b["held"].as_i64().unwrap_or(-1),
    )
}

async fn generation(app: &TestApp, key: &str, id: &str) -> Value {
    app.get(&format!("/v1/generations/{id}"), key)
        .await
        .expect(200)
        .body
}

async fn worker_row(app: &TestApp, name: &str) -> easel_db::Worker {
    app.state
        .store
        .get_worker(name)
        .await
        .unwrap_or_else(|e| panic!("worker {name}: {e}"))
}

fn workers_online(models: &Value, model: &str) -> Option<i64> {
    models["data"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["id"] == model))
        .and_then(|m| m["workers_online"].as_i64())
}

both_backends!(
    a_worker_runs_a_generation_end_to_end_with_progress_and_one_charge,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (key, w) = developer_and_worker(&app, "gpu-1").await;

        let models = app.get("/v1/models", &key).await.expect(200).body;
        assert_eq!(workers_online(&models, "gpu-image"), Some(0), "{models}");
        assert_eq!(
            workers_online(&models, "sandbox-image"),
            None,
            "only worker models say"
        );
        let quote = app
            .post("/v1/generations/quote", &key, image_body(2))
            .await
            .expect(200)
            .body;
        assert_eq!(quote["backend"], "no_workers", "{quote}");

        let created = create(&app, &key, image_body(2), None)
            .await
            .expect(202)
            .body;
        let gen_id = created["id"].as_str().unwrap_or_default().to_string();
        let lease = w.lease(&["gpu-image"]).await;
        assert_eq!(lease["generation_id"], gen_id.as_str());
        assert_eq!(lease["attempt"], 1);
        assert_eq!(lease["request"]["prompt"], "a lighthouse at dusk");
        assert_eq!(lease["request"]["n"], 2);
        assert_eq!(lease["heartbeat_interval_ms"], 300);
        assert!(
            lease["lease_expires_in_ms"]
                .as_u64()
                .is_some_and(|ms| ms > 1000 && ms <= 1500),
            "{lease}"
        );
        let targets = lease["outputs"].as_array().cloned().unwrap_or_default();
        assert_eq!(targets.len(), 2, "one upload target per image");
        assert_eq!(
            targets[1]["url"],
            format!("/worker/v1/leases/{}/outputs/1", id(&lease))
        );
        assert_eq!(targets[1]["presigned"], false);

        let beat = w
            .heartbeat(
                &lease,
                json!({"progress": 0.5, "message": "sampling 15/30"}),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(beat["cancel"], false);
        let running = generation(&app, &key, &gen_id).await;
        assert_eq!(running["status"], "running");
        assert_eq!(running["progress"], 0.5, "{running}");
        assert_eq!(running["progress_message"], "sampling 15/30");
        assert!(
            running["eta_seconds"].as_i64().is_some(),
            "a running generation with progress has an ETA: {running}"
        );
        // The claim made the worker present; the presence cache lives two seconds.
        let online = eventually(4000, || async {
            // Holding the lease meanwhile, as a worker's heartbeat task does.
            w.heartbeat(&lease, json!({"progress": 0.6}))
                .await
                .expect(200);
            let models = app.get("/v1/models", &key).await.expect(200).body;
            workers_online(&models, "gpu-image") == Some(1)
        })
        .await;
        assert!(online, "the claiming worker counts as online");
        let quote = app
            .post("/v1/generations/quote", &key, image_body(1))
            .await
            .expect(200)
            .body;
        assert_eq!(
            (quote["backend"].clone(), quote["workers_online"].clone()),
            (json!("up"), json!(1))
        );

        let done = w.produce(&lease).await;
        let accepted = w.complete(&lease, done.clone()).await.expect(200).body;
        assert_eq!(accepted["status"], "succeeded");
        assert_eq!(accepted["generation_id"], gen_id.as_str());
        // A network blip: the same completion again is answered the same, and changes nothing.
        let again = w.complete(&lease, done).await.expect(200).body;
        assert_eq!(again, accepted);
        w.complete(&lease, json!({"outputs": [{"index": 0, "seed": 1}]}))
            .await
            .expect_error(409, "lease_already_completed");
        w.heartbeat(&lease, json!({}))
            .await
            .expect_error(409, "lease_lost");

        let g = generation(&app, &key, &gen_id).await;
        assert_eq!(g["status"], "succeeded", "{g}");
        assert_eq!(
            g["progress"],
            Value::Null,
            "progress is for running generations"
        );
        let outputs = g["outputs"].as_array().cloned().unwrap_or_default();
        assert_eq!(outputs.len(), 2);
        for o in &outputs {
            assert_eq!(
                (o["width"].clone(), o["height"].clone()),
                (json!(64), json!(64))
            );
            let (status, content_type, bytes) =
                download(o["url"].as_str().unwrap_or_default()).await;
            assert_eq!((status, content_type.as_str()), (200, "image/png"));
            assert!(bytes.starts_with(b"\x89PNG"));
        }
        let charged = g["credits"]["charged"].as_i64().unwrap_or(-1);
        assert!(charged > 0);
        assert_eq!(g["credits"]["charged"], g["credits"]["estimated"]);
        assert_eq!(
            balance(&app, &key).await,
            (1_000_000 - charged, 0),
            "charged once, nothing held"
        );
        let events = app.get("/v1/events", &key).await.expect(200).body;
        let kinds: Vec<&str> = events["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["data"]["id"] == gen_id.as_str())
            .filter_map(|e| e["type"].as_str())
            .collect();
        for kind in ["generation.running", "generation.succeeded"] {
            assert_eq!(
                kinds.iter().filter(|k| **k == kind).count(),
                1,
                "{kind} once: {kinds:?}"
            );
        }
        let row = worker_row(&app, "gpu-1").await;
        assert_eq!((row.jobs_done, row.jobs_failed, row.leases_lost), (1, 0, 0));
        assert_eq!(row.version.as_deref(), Some("test-driver"));
        assert_eq!(row.serving, vec!["gpu-image".to_string()]);
        app.stop().await;
    }
);

both_backends!(
    worker_tokens_and_api_keys_are_not_interchangeable,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (_, key) = funded(&app, "dev@example.com").await;
        let (_, token) = register(&app, "gpu-1", &["gpu-image"]).await;
        let body = json!({"models": ["gpu-image"], "wait_ms": 0});
        app.call("POST", "/worker/v1/claim", None, Some(body.clone()))
            .await
            .expect_error(401, "worker_token_missing");
        let res = app
            .call("POST", "/worker/v1/claim", Some(&key), Some(body.clone()))
            .await
            .expect_error(401, "invalid_worker_token");
        assert!(
            res.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("this is an API key")
        );
        let last = if token.ends_with('x') { 'y' } else { 'x' };
        let mistyped = format!("{}{last}", &token[..token.len() - 1]);
        app.call(
            "POST",
            "/worker/v1/claim",
            Some(&mistyped),
            Some(body.clone()),
        )
        .await
        .expect_error(401, "invalid_worker_token");
        let unknown = easel_core::worker_token::generate(&app.state.config.api_keys.prefix).secret;
        app.call("GET", "/worker/v1/me", Some(&unknown), None)
            .await
            .expect_error(401, "invalid_worker_token");
        app.get("/v1/models", &token)
            .await
            .expect_error(401, "invalid_api_key");

        let me = app
            .call("GET", "/worker/v1/me", Some(&token), None)
            .await
            .expect(200)
            .body;
        assert_eq!(me["name"], "gpu-1");
        assert_eq!(me["models"][0]["id"], "gpu-image");
        assert_eq!(me["models"][0]["kind"], "image");
        assert_eq!(me["heartbeat_interval_ms"], 300);

        let claim = |models: Value, max_jobs: Value| {
            let token = token.clone();
            let app = &app;
            async move {
                app.call(
                    "POST",
                    "/worker/v1/claim",
                    Some(&token),
                    Some(json!({"models": models, "max_jobs": max_jobs, "wait_ms": 0})),
                )
                .await
            }
        };
        claim(json!(["gpu-video"]), json!(1))
            .await
            .expect_error(403, "model_not_allowed_for_worker");
        claim(json!([]), json!(1))
            .await
            .expect_error(400, "parameter_invalid");
        claim(json!(["gpu-image"]), json!(0))
            .await
            .expect_error(400, "parameter_invalid");
        claim(json!(["gpu-image"]), json!(9))
            .await
            .expect_error(400, "parameter_invalid");
        let (_, sandbox_token) = register(&app, "odd", &["sandbox-image"]).await;
        app.call(
            "POST",
            "/worker/v1/claim",
            Some(&sandbox_token),
            Some(json!({"models": ["sandbox-image"], "wait_ms": 0})),
        )
        .await
        .expect_error(400, "model_not_served_by_workers");
        app.call(
            "POST",
            "/worker/v1/claim",
            Some(&token),
            Some(json!({"models": ["gpu-image"], "surprise": 1})),
        )
        .await
        .expect_error(400, "parameter_unknown");

        // Revocation holds within a second on any node (here by the store, as `easel
        // admin` or another node would): a token's lookup is reused for at most that long.
        claim(json!(["gpu-image"]), json!(1)).await.expect(204);
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
        app.state
            .store
            .revoke_worker("gpu-1", audit, easel_core::time::now_ms())
            .await
            .unwrap_or_else(|e| panic!("revoke: {e}"));
        let revoked = std::time::Instant::now();
        loop {
            let res = claim(json!(["gpu-image"]), json!(1)).await;
            if res.status == 401 {
                assert_eq!(res.code(), "worker_token_revoked");
                break;
            }
            res.expect(204);
            assert!(
                revoked.elapsed() < Duration::from_millis(1500),
                "refused within a second of the revocation"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        app.stop().await;
    }
);

both_backends!(
    an_idle_claim_answers_204_and_a_new_job_wakes_a_waiting_claim_at_once,
    |db: TestDb| async move {
        // A poll interval far longer than the test: only the wake-up can hand the job over.
        let app = TestApp::start_with(&db, |c| {
            config(c);
            c.workers.poll_ms = 30_000;
            // No lease lapses during the test (a lapsed job would be claimable again).
            c.workers.lease_ms = 20_000;
        })
        .await;
        let (key, w) = developer_and_worker(&app, "gpu-1").await;
        let started = Instant::now();
        w.claim(&["gpu-image"], 300).await.expect(204);
        assert!(
            started.elapsed() >= Duration::from_millis(280),
            "the claim waited"
        );

        let waiting = w.claim(&["gpu-image"], 5000);
        let enqueue = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let created = create(&app, &key, image_body(1), None).await.expect(202);
            (Instant::now(), created.body["id"].clone())
        };
        let (claimed, (created_at, gen_id)) = tokio::join!(waiting, enqueue);
        let handed = created_at.elapsed();
        let claimed = claimed.expect(200);
        assert_eq!(claimed.body["leases"][0]["generation_id"], gen_id);
        assert!(
            handed < Duration::from_millis(1000),
            "the claim was woken, not polled: {handed:?}"
        );

        // Done with it (a lapsed lease would put it back in the queue for the claims below).
        w.fail(
            &claimed.body["leases"][0],
            json!({"kind": "permanent", "message": "done"}),
        )
        .await
        .expect(200);

        // Three claims waiting, two jobs: two claims are woken, one each; the third waits on.
        let started = Instant::now();
        let waiting = futures::future::join_all((0..3).map(|_| async {
            let res = w.claim(&["gpu-image"], 3000).await;
            let leases = res.body["leases"].as_array().map_or(0, Vec::len);
            (res.status, leases, started.elapsed())
        }));
        let enqueue = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for _ in 0..2 {
                create(&app, &key, image_body(1), None).await.expect(202);
            }
        };
        let (mut answers, ()) = tokio::join!(waiting, enqueue);
        answers.sort_by_key(|a| a.2);
        assert_eq!((answers[0].0, answers[0].1), (200, 1), "{answers:?}");
        assert_eq!((answers[1].0, answers[1].1), (200, 1), "{answers:?}");
        assert!(
            answers[1].2 < Duration::from_millis(1500),
            "both woken at once: {answers:?}"
        );
        assert_eq!(
            answers[2].0, 204,
            "the third claim had nothing to take: {answers:?}"
        );
        assert!(
            answers[2].2 >= Duration::from_millis(2900),
            "and waited its whole poll: {answers:?}"
        );
        app.stop().await;
    }
);

both_backends!(
    uploads_that_are_not_outputs_are_refused_and_the_lease_is_kept,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            config(c);
            c.generations.max_output_bytes = 100_000;
        })
        .await;
        let (key, w) = developer_and_worker(&app, "gpu-1").await;
        let created = create(&app, &key, image_body(1), None)
            .await
            .expect(202)
            .body;
        let lease = w.lease(&["gpu-image"]).await;

        w.upload(&lease, 0, "text/plain", b"hello".to_vec())
            .await
            .expect_error(400, "invalid_output");
        w.upload(&lease, 0, "image/png", b"not a png at all".to_vec())
            .await
            .expect_error(400, "invalid_output");
        let wrong_size = easel_test_utils::fakes::images::png(32, 32, 1);
        let res = w
            .upload(&lease, 0, "image/png", wrong_size)
            .await
            .expect_error(400, "invalid_output");
        assert!(
            res.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("64x64"),
            "{}",
            res.body
        );
        let big = w
            .upload(&lease, 0, "image/png", vec![0u8; 150_000])
            .await
            .expect_error(400, "invalid_output");
        assert_eq!(
            big.headers.get("connection").and_then(|v| v.to_str().ok()),
            Some("close"),
            "refused unread: the connection is not reused"
        );
        w.upload(&lease, 3, "image/png", vec![1])
            .await
            .expect_error(400, "parameter_invalid");
        cut_off_upload(&app, &w.token, &id(&lease)).await;
        w.complete(&lease, json!({"outputs": [{"index": 0}]}))
            .await
            .expect_error(400, "output_missing");
        w.complete(&lease, json!({"outputs": [{"index": 0}, {"index": 0}]}))
            .await
            .expect_error(400, "parameter_invalid");
        w.complete(&lease, json!({"outputs": []}))
            .await
            .expect_error(400, "parameter_invalid");

        // Text over its limit, in each call that takes some.
        let long = |n: usize| "x".repeat(n);
        let res = w
            .heartbeat(&lease, json!({"progress": 0.5, "message": long(201)}))
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "message");
        w.heartbeat(&lease, json!({"progress": 0.5, "message": long(200)}))
            .await
            .expect(200);
        let res = w
            .fail(&lease, json!({"kind": "transient", "message": long(501)}))
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "message");
        let res = app
            .call(
                "POST",
                "/worker/v1/claim",
                Some(&w.token),
                Some(json!({"models": ["gpu-image"], "wait_ms": 1, "version": long(101)})),
            )
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(res.param(), "version");

        // Nothing above cost the lease.
        w.heartbeat(&lease, json!({"progress": 0.9}))
            .await
            .expect(200);
        let done = w.produce(&lease).await;
        w.complete(&lease, done).await.expect(200);
        let g = until(
            &app,
            &key,
            created["id"].as_str().unwrap_or_default(),
            &["succeeded"],
        )
        .await;
        assert_eq!(g["outputs"].as_array().map(Vec::len), Some(1));
        app.stop().await;
    }
);

both_backends!(
    an_upload_replaced_after_its_check_is_checked_again_at_completion,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (key, w) = developer_and_worker(&app, "gpu-1").await;
        let created = create(&app, &key, image_body(1), None)
            .await
            .expect(202)
            .body;
        let lease = w.lease(&["gpu-image"]).await;
        let done = w.produce(&lease).await;
        // The object is replaced behind the upload's check (another node's write, a
        // hand edit): the completion must not trust what the check found.
        let path = easel_server::outputs::Outputs::upload_path(&id(&lease), 0);
        app.state
            .outputs
            .put(&path, easel_test_utils::fakes::images::png(32, 32, 1))
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let refused = w.complete(&lease, done).await;
        assert_eq!(refused.code(), "outputs_rejected", "{}", refused.body);
        let g = app
            .get(
                &format!(
                    "/v1/generations/{}",
                    created["id"].as_str().unwrap_or_default()
                ),
                &key,
            )
            .await
            .expect(200)
            .body;
        assert_ne!(g["status"], "succeeded", "{g}");
        assert_eq!(g["outputs"], json!([]));
        app.stop().await;
    }
);

/// Sends an upload whose body stops short of its `Content-Length`, then closes; the
/// server must answer 400 (or drop the connection) and store nothing.
async fn cut_off_upload(app: &TestApp, token: &str, lease_id: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let head = format!(
        "PUT /worker/v1/leases/{lease_id}/outputs/0 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n"
    );
    let png = easel_test_utils::fakes::images::png(64, 64, 2);
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    stream
        .write_all(&png[..png.len().min(100)])
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    stream
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
    let mut answer = String::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer)).await;
    assert!(read.is_ok(), "the server answered or closed");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "a cut-off upload is refused: {answer}"
    );
    let path = easel_server::outputs::Outputs::upload_path(lease_id, 0);
    let stored = app.state.outputs.get(&path).await;
    assert!(stored.is_err(), "nothing was stored for a cut-off upload");
}

both_backends!(
    a_lapsed_lease_is_refused_409_and_the_job_runs_once_elsewhere,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (_, key) = funded(&app, "dev@example.com").await;
        let (_, a) = register(&app, "gpu-a", &["gpu-image"]).await;
        let (_, b) = register(&app, "gpu-b", &["gpu-image"]).await;
        let (a, b) = (
            Client {
                app: &app,
                token: a,
            },
            Client {
                app: &app,
                token: b,
            },
        );
        let created = create(&app, &key, image_body(1), None)
            .await
            .expect(202)
            .body;
        let gen_id = created["id"].as_str().unwrap_or_default().to_string();
        let first = a.lease(&["gpu-image"]).await;
        let a_outputs = a.produce(&first).await;
        // A stops heartbeating (stopped, partitioned): after its lease the job is free again.
        let started = Instant::now();
        let second = b.lease(&["gpu-image"]).await;
        assert_eq!(second["generation_id"], gen_id.as_str());
        assert_eq!(second["attempt"], 2);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "re-leased within lease + reaper: {:?}",
            started.elapsed()
        );

        a.heartbeat(&first, json!({}))
            .await
            .expect_error(409, "lease_lost");
        a.complete(&first, a_outputs)
            .await
            .expect_error(409, "lease_lost");
        a.upload(
            &first,
            0,
            "image/png",
            easel_test_utils::fakes::images::png(64, 64, 3),
        )
        .await
        .expect_error(409, "lease_lost");
        a.fail(&first, json!({"kind": "transient", "message": "late"}))
            .await
            .expect_error(409, "lease_lost");
        // Nobody can end another worker's lease.
        a.complete(&second, json!({"outputs": [{"index": 0}]}))
            .await
            .expect_error(409, "lease_of_another_worker");

        let done = b.produce(&second).await;
        b.complete(&second, done).await.expect(200);
        let g = generation(&app, &key, &gen_id).await;
        assert_eq!(g["status"], "succeeded");
        let charged = g["credits"]["charged"].as_i64().unwrap_or(-1);
        assert_eq!(balance(&app, &key).await, (1_000_000 - charged, 0));
        let ledger = app.get("/v1/ledger", &key).await.expect(200).body;
        let captures = ledger["data"]
            .as_array()
            .map(|e| e.iter().filter(|e| e["type"] == "capture").count())
            .unwrap_or(0);
        assert_eq!(captures, 1, "charged exactly once: {ledger}");
        let counted = eventually(5000, || async {
            worker_row(&app, "gpu-a").await.leases_lost == 1
        })
        .await;
        assert!(counted, "A's lapsed lease is counted against it");
        let orphan = easel_server::outputs::Outputs::upload_path(&id(&first), 0);
        let cleaned = eventually(5000, || async {
            matches!(
                app.state.outputs.get(&orphan).await,
                Err(object_store::Error::NotFound { .. })
            )
        })
        .await;
        assert!(cleaned, "the lapsed lease's upload is deleted");
        assert_eq!(worker_row(&app, "gpu-b").await.jobs_done, 1);
        app.stop().await;
    }
);

both_backends!(
    a_transient_failure_goes_back_to_the_queue_and_a_permanent_one_fails_without_charge,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (key, w) = developer_and_worker(&app, "gpu-1").await;
        let created = create(&app, &key, image_body(1), None)
            .await
            .expect(202)
            .body;
        let gen_id = created["id"].as_str().unwrap_or_default().to_string();
        let first = w.lease(&["gpu-image"]).await;
        let res = w
            .fail(
                &first,
                json!({"kind": "transient", "message": "CUDA out of memory"}),
            )
            .await
            .expect(200);
        assert_eq!(res.body["status"], "queued");
        w.fail(&first, json!({"kind": "transient", "message": "again"}))
            .await
            .expect_error(409, "lease_lost");
        let second = w.lease(&["gpu-image"]).await;
        assert_eq!(
            (second["generation_id"].clone(), second["attempt"].clone()),
            (json!(gen_id), json!(2))
        );
        w.fail(&second, json!({"kind": "permanent", "message": "the checkpoint at http://10.1.2.3:7860/sdxl rejected the prompt", "surprise": true}))
            .await
            .expect_error(400, "parameter_unknown");
        w.fail(&second, json!({"kind": "sideways", "message": "x"}))
            .await
            .expect_error(400, "parameter_invalid");
        let res = w
            .fail(&second, json!({"kind": "permanent", "message": "the checkpoint at http://10.1.2.3:7860/sdxl rejected the prompt"}))
            .await
            .expect(200);
        assert_eq!(res.body["status"], "failed");
        let g = generation(&app, &key, &gen_id).await;
        assert_eq!(g["status"], "failed");
        assert_eq!(g["error"]["code"], "engine_error", "{g}");
        let message = g["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("10.1.2.3") && !message.contains("7860"),
            "no address reaches the developer: {message}"
        );
        assert_eq!(g["credits"]["charged"], 0);
        assert_eq!(
            balance(&app, &key).await,
            (1_000_000, 0),
            "nothing charged, nothing held"
        );
        let row = worker_row(&app, "gpu-1").await;
        assert_eq!((row.jobs_done, row.jobs_failed), (0, 2));
        app.stop().await;
    }
);

both_backends!(
    a_cancel_reaches_the_worker_at_its_next_heartbeat_and_releases_the_hold,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (key, w) = developer_and_worker(&app, "gpu-1").await;
        let created = create(&app, &key, image_body(1), None)
            .await
            .expect(202)
            .body;
        let gen_id = created["id"].as_str().unwrap_or_default().to_string();
        let lease = w.lease(&["gpu-image"]).await;
        assert!(balance(&app, &key).await.1 > 0, "held while running");
        let heartbeats = async {
            // The worker heartbeats on its interval while the developer cancels.
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let beat = w
                    .heartbeat(&lease, json!({"progress": 0.2}))
                    .await
                    .expect(200);
                if beat.body["cancel"] == true {
                    return Instant::now();
                }
            }
        };
        let cancel = async {
            let at = Instant::now();
            app.post(&format!("/v1/generations/{gen_id}/cancel"), &key, json!({}))
                .await
                .expect(200);
            at
        };
        let (heard, asked) = tokio::join!(heartbeats, cancel);
        assert!(
            heard.duration_since(asked) < Duration::from_millis(1500),
            "heard within about one heartbeat"
        );
        let g = until(&app, &key, &gen_id, &["canceled"]).await;
        assert_eq!(g["credits"]["charged"], 0);
        assert_eq!(
            balance(&app, &key).await,
            (1_000_000, 0),
            "the hold is released"
        );
        w.complete(&lease, json!({"outputs": [{"index": 0}]}))
            .await
            .expect_error(409, "lease_lost");
        app.stop().await;
    }
);

both_backends!(
    a_worker_that_keeps_losing_leases_is_quarantined,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            config(c);
            c.workers.quarantine_after_lost = 2;
            c.workers.quarantine_seconds = 120;
        })
        .await;
        let (key, w) = developer_and_worker(&app, "flaky").await;
        for _ in 0..2 {
            create(&app, &key, image_body(1), None).await.expect(202);
        }
        // Two leases taken and dropped.
        let res = w.claim_n(&["gpu-image"], 2, 5000).await.expect(200);
        assert_eq!(res.body["leases"].as_array().map(Vec::len), Some(2));
        let quarantined = eventually(10_000, || async {
            let res = w.claim(&["gpu-image"], 0).await;
            res.status == 403
        })
        .await;
        assert!(
            quarantined,
            "the worker is quarantined after losing two leases"
        );
        let res = w
            .claim(&["gpu-image"], 0)
            .await
            .expect_error(403, "worker_quarantined");
        let retry = res
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        assert!(
            retry.is_some_and(|s| s > 60 && s <= 120),
            "Retry-After says how long: {retry:?}"
        );
        let row = worker_row(&app, "flaky").await;
        assert_eq!(row.leases_lost, 2);
        let metrics = app
            .raw(reqwest::Method::GET, "/metrics")
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await;
        let text = match metrics {
            Ok(res) => res
                .text()
                .await
                .unwrap_or_else(|e| panic!("metrics body: {e}")),
            Err(e) => panic!("metrics: {e}"),
        };
        assert!(text.contains("easel_workers_quarantined 1"), "{text}");
        app.stop().await;
    }
);

both_backends!(
    a_lease_never_outlives_the_model_timeout,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            config(c);
            if let Some(m) = c.models.get_mut("gpu-image") {
                m.timeout_seconds = 2;
                m.max_attempts = 1;
            }
        })
        .await;
        let (key, w) = developer_and_worker(&app, "slow").await;
        let created = create(&app, &key, image_body(1), None)
            .await
            .expect(202)
            .body;
        let lease = w.lease(&["gpu-image"]).await;
        assert!(
            lease["deadline_in_ms"]
                .as_u64()
                .is_some_and(|ms| ms <= 2000),
            "{lease}"
        );
        // Heartbeats keep it only until the deadline.
        let lost_after = async {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let beat = w.heartbeat(&lease, json!({})).await;
                if beat.status == 409 {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(8),
                    "the lease outlived its deadline"
                );
            }
        }
        .await;
        assert!(
            lost_after >= Duration::from_millis(1500),
            "held until about the deadline: {lost_after:?}"
        );
        let g = until(
            &app,
            &key,
            created["id"].as_str().unwrap_or_default(),
            &["failed"],
        )
        .await;
        assert_eq!(g["error"]["code"], "worker_lost", "{g}");
        assert_eq!(balance(&app, &key).await, (1_000_000, 0));
        app.stop().await;
    }
);

both_backends!(
    a_worker_makes_a_video_through_the_api,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (_, key) = funded(&app, "dev@example.com").await;
        let (_, token) = register(&app, "gpu-v", &["gpu-video", "gpu-image"]).await;
        let w = Client { app: &app, token };
        let video = &app.state.config.models["gpu-video"];
        let (width, height) = video.sizes[0].split_once('x').unwrap_or_default();
        let body = json!({"model": "gpu-video", "prompt": "waves", "width": width.parse::<u32>().unwrap_or(0), "height": height.parse::<u32>().unwrap_or(0), "duration_seconds": video.durations[0]});
        let created = create(&app, &key, body, None).await.expect(202).body;
        let lease = w.lease(&["gpu-image", "gpu-video"]).await;
        assert_eq!(lease["request"]["kind"], "video");
        assert_eq!(lease["outputs"].as_array().map(Vec::len), Some(1));
        let done = w.produce(&lease).await;
        w.complete(&lease, done).await.expect(200);
        let g = until(
            &app,
            &key,
            created["id"].as_str().unwrap_or_default(),
            &["succeeded"],
        )
        .await;
        assert_eq!(g["outputs"][0]["content_type"], "video/mp4", "{g}");
        app.stop().await;
    }
);
