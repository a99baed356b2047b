//! The whole worker (flags, `/me`, engines, claim loop, leases, reports) against the fake
//! worker API in [`super::fake`], with the sandbox engine.

use std::time::{Duration, Instant};

use clap::Parser;
use easel_core::worker_token;
use serde_json::json;
use tokio::task::JoinHandle;

use super::fake::{self, Fake, Seen};
use super::pool::Signals;
use super::{WorkerArgs, work};
use crate::api::worker::dto::FailureKind;

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    args: WorkerArgs,
}

struct Running {
    signals: Signals,
    handle: JoinHandle<anyhow::Result<()>>,
    token: String,
}

/// Starts `easel worker` on the sandbox against `fake` with these extra flags.
fn start(fake: &Fake, extra: &[&str]) -> Running {
    let token = worker_token::generate("vs").secret;
    let mut argv = vec![
        "easel-worker",
        "--server",
        &fake.base,
        "--token",
        &token,
        "--engine",
        "sandbox",
    ];
    argv.extend_from_slice(extra);
    let cli = TestCli::try_parse_from(argv).unwrap_or_else(|e| panic!("flags: {e}"));
    let signals = Signals::default();
    let handle = tokio::spawn(work(cli.args, signals.clone()));
    Running {
        signals,
        handle,
        token,
    }
}

impl Running {
    /// Sends the "first signal" and waits for the worker to exit; returns how long it took.
    async fn stop(self) -> (anyhow::Result<()>, Duration) {
        let asked = Instant::now();
        self.signals.stop_claiming.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .unwrap_or_else(|_| panic!("the worker did not stop"))
            .unwrap_or_else(|e| panic!("the worker panicked: {e}"));
        (ended, asked.elapsed())
    }
}

fn seen_with(leases: Vec<Vec<crate::api::worker::dto::Lease>>) -> Seen {
    Seen {
        to_hand_out: leases.into(),
        claim_wait: Duration::from_millis(100),
        ..Seen::default()
    }
}

async fn fake_with_one_lease(n: u32, tune: impl FnOnce(&mut Seen)) -> Fake {
    let fake = Fake::start(seen_with(vec![])).await;
    let lease = fake::lease(&fake.base, "lease_1", n);
    {
        let mut seen = fake.seen();
        seen.to_hand_out.push_back(vec![lease]);
        tune(&mut seen);
    }
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_run_uploaded_and_completed() {
    let fake = fake_with_one_lease(2, |_| {}).await;
    let worker = start(&fake, &["--setting", "delay_ms=1200"]);
    fake.wait_for("a completion", |s| !s.completes.is_empty())
        .await;
    let token = worker.token.clone();
    let (ended, _) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{e}"));

    let seen = fake.seen();
    let claim = &seen.claims[0];
    assert_eq!(claim.models, ["sandbox-img"]);
    assert_eq!(claim.max_jobs, Some(1), "one free slot at --concurrency 1");
    assert_eq!(claim.wait_ms, Some(10_000));
    let version = claim.version.as_deref().unwrap_or_default();
    assert!(
        version.starts_with("easel-worker/") && version.ends_with(" sandbox"),
        "{version}"
    );

    let bearer = format!("Bearer {token}");
    assert!(
        seen.api_auth
            .iter()
            .all(|a| a.as_deref() == Some(bearer.as_str()))
    );
    assert_eq!(seen.uploads.len(), 2);
    for upload in &seen.uploads {
        assert_eq!(upload.content_type, "image/png");
        assert_eq!(upload.content_length, Some(upload.bytes.to_string()));
        let presigned = upload.path.starts_with("/store/");
        assert_eq!(upload.with_token, !presigned, "{upload:?}");
    }
    assert_eq!(
        seen.completes,
        [json!({"outputs": [{"index": 0, "seed": 42}, {"index": 1, "seed": 42}], "usage": null})]
    );
    assert!(seen.fails.is_empty());
    // The render took over a second: the heartbeat ran beside it, with what it was doing.
    let beat = seen
        .heartbeats
        .first()
        .unwrap_or_else(|| panic!("no heartbeat"));
    assert_eq!(beat.message.as_deref(), Some("generating"));
    assert!(beat.progress.is_some_and(|p| (0.0..=1.0).contains(&p)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_ask_for_the_free_slots_and_stop_while_all_are_busy() {
    let fake = Fake::start(seen_with(vec![])).await;
    for id in ["lease_a", "lease_b", "lease_c"] {
        let lease = fake::lease(&fake.base, id, 1);
        fake.seen().to_hand_out.push_back(vec![lease]);
    }
    let worker = start(&fake, &["--concurrency", "2", "--setting", "delay_ms=800"]);
    fake.wait_for("three completions", |s| s.completes.len() == 3)
        .await;
    let (ended, _) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{e}"));
    let seen = fake.seen();
    let asked: Vec<Option<u32>> = seen.claims.iter().map(|c| c.max_jobs).collect();
    assert_eq!(asked[..2], [Some(2), Some(1)], "{asked:?}");
    // With both slots busy, the third claim waited for a job to end.
    assert_eq!(seen.completes_at_claim[..2], [0, 0]);
    assert!(
        seen.completes_at_claim[2] >= 1,
        "{:?}",
        seen.completes_at_claim
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_is_retried_through_server_blips() {
    let fake = fake_with_one_lease(1, |s| s.complete_blips = 2).await;
    let worker = start(&fake, &[]);
    fake.wait_for("three completion tries", |s| s.completes.len() == 3)
        .await;
    let (ended, _) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{e}"));
    let seen = fake.seen();
    assert_eq!(
        seen.completes[0], seen.completes[2],
        "the retry repeats the same body"
    );
    assert!(seen.fails.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_in_a_heartbeat_stops_the_engine_and_reports_nothing() {
    let fake = fake_with_one_lease(1, |s| s.cancel = true).await;
    let started = Instant::now();
    let worker = start(&fake, &["--setting", "delay_ms=60000"]);
    fake.wait_for("a heartbeat", |s| !s.heartbeats.is_empty())
        .await;
    // The job ends at the cancel, not after the minute-long render.
    let (ended, _) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{e}"));
    assert!(started.elapsed() < Duration::from_secs(15));
    let seen = fake.seen();
    assert!(
        seen.uploads.is_empty() && seen.completes.is_empty(),
        "{seen:?}"
    );
    assert!(
        seen.fails.is_empty(),
        "a canceled lease is not reported: {:?}",
        seen.fails
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_lost_at_upload_is_dropped_without_a_report() {
    let fake = fake_with_one_lease(1, |s| s.lose_at_upload = true).await;
    let worker = start(&fake, &[]);
    fake.wait_for("an upload", |s| !s.uploads.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ended, _) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{e}"));
    let seen = fake.seen();
    assert_eq!(seen.uploads.len(), 1, "a 409 is not retried");
    assert!(
        seen.completes.is_empty() && seen.fails.is_empty(),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_failures_and_missing_slots_are_reported_with_their_kind() {
    let fake = fake_with_one_lease(1, |_| {}).await;
    let worker = start(&fake, &["--setting", "fail_always=true"]);
    fake.wait_for("a failure report", |s| !s.fails.is_empty())
        .await;
    let (ended, _) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fake.seen().fails[0].kind, FailureKind::Permanent);

    // Two images asked, one slot given: nothing is uploaded, the job goes back.
    let fake = fake_with_one_lease(2, |_| {}).await;
    fake.seen().to_hand_out[0][0].outputs.truncate(1);
    let worker = start(&fake, &[]);
    fake.wait_for("a failure report", |s| !s.fails.is_empty())
        .await;
    let (ended, _) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{e}"));
    let seen = fake.seen();
    assert_eq!(seen.fails[0].kind, FailureKind::Transient);
    assert!(
        seen.fails[0].message.contains("2 outputs"),
        "{}",
        seen.fails[0].message
    );
    assert!(seen.uploads.is_empty() && seen.completes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_input_image_is_fetched_with_the_token_from_a_server_path() {
    let fake = fake_with_one_lease(1, |s| {
        s.to_hand_out[0][0].input_image_url = Some("/worker/v1/inputs/lease_1".to_owned());
    })
    .await;
    let worker = start(&fake, &[]);
    fake.wait_for("a completion", |s| !s.completes.is_empty())
        .await;
    let (ended, _) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fake.seen().input_gets, [true]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_aborts_the_long_poll_at_once() {
    let fake = Fake::start(Seen {
        claim_wait: Duration::from_secs(10),
        ..Seen::default()
    })
    .await;
    let worker = start(&fake, &[]);
    fake.wait_for("a claim", |s| !s.claims.is_empty()).await;
    let (ended, took) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        took < Duration::from_secs(2),
        "waited {took:?} for the long poll"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_jobs_that_outlive_the_grace() {
    let fake = fake_with_one_lease(1, |_| {}).await;
    let worker = start(
        &fake,
        &["--setting", "delay_ms=60000", "--grace-seconds", "1"],
    );
    fake.wait_for("a heartbeat", |s| !s.heartbeats.is_empty())
        .await;
    let (ended, took) = worker.stop().await;
    ended.unwrap_or_else(|e| panic!("exit 0 expected: {e}"));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let seen = fake.seen();
    assert_eq!(seen.fails.len(), 1, "{:?}", seen.fails);
    assert_eq!(seen.fails[0].kind, FailureKind::Interrupted);
    assert_eq!(seen.claims.len(), 1, "no claim after the signal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_the_worker_with_an_error_that_hides_the_token() {
    let fake = Fake::start(Seen {
        refuse_claims: Some((401, "worker_token_revoked")),
        ..Seen::default()
    })
    .await;
    let worker = start(&fake, &[]);
    let token = worker.token.clone();
    let ended = tokio::time::timeout(Duration::from_secs(10), worker.handle)
        .await
        .unwrap_or_else(|_| panic!("the worker kept going"))
        .unwrap_or_else(|e| panic!("panicked: {e}"));
    let err = ended.expect_err("a revoked token must exit non-zero");
    let text = format!("{err:#} {err:?}");
    assert!(text.contains("worker_token_revoked"), "{text}");
    assert!(!text.contains(&token["vs_worker_".len()..]), "{text}");
}
