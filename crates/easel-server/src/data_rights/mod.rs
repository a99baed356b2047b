//! Data rights (clause 13, GDPR): exports of an account's data and its erasure.
//!
//! Both are rows in the database moved on by a background loop on every node ([`run`]):
//! a node claims an export or a due erasure under a lease (renewed while it works), so two
//! nodes never do the same one and a node that dies mid-way leaves it to another once the
//! lease lapses. Exports ([`export`]) are built into a tar.gz in the object store and
//! downloaded once from a signed URL; erasures ([`erasure`]) delete the account's objects
//! and logs and replace its personal data with placeholders. What is kept, and why, is in
//! `docs/data-rights.md`.

pub mod archive;
pub mod erasure;
pub mod export;

use std::sync::OnceLock;
use std::time::Duration;

use easel_core::roles::{Action, Scope};
use easel_core::time::now_ms;
use tokio::sync::{Notify, watch};

use crate::app::{App, AppState};
use crate::auth::{Caller, Via};
use crate::http::error::{ApiError, ApiResult, ErrorCode};

/// Wakes this node's loop when an export or erasure is asked for here, so it does not wait
/// for the next tick.
static WAKE: Notify = Notify::const_new();

/// This process's name on the leases it takes.
fn node() -> &'static str {
    static NODE: OnceLock<String> = OnceLock::new();
    NODE.get_or_init(|| format!("node_{}", hex::encode(rand::random::<[u8; 8]>())))
}

/// Tells this node's loop there is work.
pub fn wake() {
    WAKE.notify_one();
}

/// Exports and erasure requests are the owner's: the role must allow `action`, and an API
/// key must not be narrowed (it holds every scope): a key limited to, say, reading
/// generations must not be able to take every log of the account or erase it.
pub fn require_owner(caller: &Caller, action: Action) -> ApiResult<()> {
    caller.require_action(action).map_err(|_| {
        ApiError::new(
            ErrorCode::insufficient_role,
            "Only an owner of the account can export its data or ask for its erasure.",
        )
    })?;
    if caller.via == Via::Key && Scope::ALL.iter().any(|s| !caller.key_scopes.contains(s)) {
        return Err(ApiError::new(
            ErrorCode::insufficient_scope,
            "Data exports and erasure need an owner's key that holds every scope.",
        ));
    }
    Ok(())
}

/// How often the terminated accounts are looked at for erasures to schedule.
const SCHEDULE_EVERY_MS: i64 = 60_000;

/// Runs the loop until `stop`: every `queue.sweep_ms` (at most 5 s), or at once when woken.
pub async fn run(app: AppState, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_millis(app.config.queue.sweep_ms.clamp(50, 5_000));
    let mut scheduled_at = i64::MIN / 2;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(easel_queue::jittered(period)) => {}
            _ = WAKE.notified() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let now = now_ms();
        if now - scheduled_at >= SCHEDULE_EVERY_MS {
            schedule_terminated(&app, now).await;
            scheduled_at = now;
        }
        work(&app, now).await;
    }
}

/// One pass at `now` (tests pass a later time to see what a period's end does): schedules
/// the erasure of terminated accounts, builds waiting exports, runs due erasures and
/// deletes the archives of downloaded and expired exports.
pub async fn sweep(app: &App, now: i64) {
    schedule_terminated(app, now).await;
    work(app, now).await;
}

async fn schedule_terminated(app: &App, now: i64) {
    let retention = app.config.data_rights.terminated_retention_ms();
    match app.store.schedule_terminated_erasures(retention, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(accounts = n, "scheduled the erasure of terminated accounts"),
        Err(e) => tracing::warn!(error = %e, "could not schedule terminated accounts' erasure"),
    }
}

/// Most exports built, and erasures run, per pass: the loop comes back for more.
const PER_PASS: usize = 10;

async fn work(app: &App, now: i64) {
    for _ in 0..PER_PASS {
        match export::build_next(app, now).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not claim an export to build");
                break;
            }
        }
    }
    for _ in 0..PER_PASS {
        match erasure::run_next(app, now).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not claim an erasure");
                break;
            }
        }
    }
    export::purge(app, now).await;
}
