//! Wake-ups: what tells this node's background loops that the database changed, so that
//! they wait instead of polling (see `easel_db::wake`).
//!
//! On PostgreSQL the database's notifications arrive here from every node and process;
//! on SQLite a watch of the WAL file (a `stat` every [`WATCH_EVERY`], no query) catches
//! any commit, this node's or another process's. Each loop also keeps a slow, jittered
//! poll as a safety net, and a lost notification connection wakes everything.

use std::time::{Duration, Instant};

use easel_db::wake::Wake;
use tokio::sync::{Notify, watch};

use crate::app::AppState;

/// How often SQLite's WAL file is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// Wake-ups of the loops that are not queues (queues have their own, in the runner and
/// in `Workers`).
#[derive(Debug, Default)]
pub struct Wakeups {
    /// Webhook deliveries may be due (new ones were written).
    pub webhooks: Notify,
    /// Accounts, members or keys changed: cached credentials may be stale.
    pub changes: Notify,
}

/// Starts turning database changes into wake-ups until `stop`.
pub async fn start(app: &AppState, mut stop: watch::Receiver<bool>) {
    let routed = app.clone();
    let node = app.store.node();
    match easel_db::wake::listen(&app.config.database_url, node, move |wake| {
        route(&routed, wake)
    })
    .await
    {
        Ok(Some(listening)) => {
            // The listening connection goes when the node stops, not when the process ends.
            tokio::spawn(async move {
                let _ = stop.wait_for(|s| *s).await;
                listening.abort();
            });
        }
        Ok(None) => {
            tokio::spawn(watch_writes(app.clone(), stop));
        }
        Err(e) => tracing::warn!(
            error = %e,
            "could not listen for the database's notifications; other nodes' changes are seen at the next poll"
        ),
    }
}

fn route(app: &AppState, wake: Wake) {
    match wake {
        Wake::Jobs(queue) => {
            if let Some(jobs) = app.jobs.get() {
                jobs.wake_all(&queue);
            }
            app.workers.wake_all(&queue);
        }
        Wake::Cancel(job) => {
            // Stops it only if it runs here; the store already holds the request.
            if let Some(jobs) = app.jobs.get() {
                jobs.cancel_local(&job);
            }
        }
        Wake::Webhooks => app.wakeups.webhooks.notify_one(),
        Wake::Changes => app.wakeups.changes.notify_one(),
        Wake::Missed => {
            if let Some(jobs) = app.jobs.get() {
                jobs.wake_every_queue();
            }
            app.workers.wake_every_queue();
            app.wakeups.webhooks.notify_one();
            app.wakeups.changes.notify_one();
        }
    }
}

/// SQLite: wakes the webhook dispatcher when anything was committed, and the credential
/// poll too, at most every `api_keys.invalidation_poll_ms`. An idle database costs no
/// query at all.
async fn watch_writes(app: AppState, mut stop: watch::Receiver<bool>) {
    let credentials_every = Duration::from_millis(app.config.api_keys.invalidation_poll_ms);
    let mut seen = app.store.write_marker();
    let mut credentials_seen = seen;
    let mut credentials_at = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = app.store.write_marker();
        if now != seen {
            seen = now;
            app.wakeups.webhooks.notify_one();
        }
        if now != credentials_seen && credentials_at.elapsed() >= credentials_every {
            credentials_seen = now;
            credentials_at = Instant::now();
            app.wakeups.changes.notify_one();
        }
    }
}
