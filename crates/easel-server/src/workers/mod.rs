//! Remote pull workers, the server's side: what a node keeps for them (the wake-up of
//! waiting claims, who serves which model now, counters for `/metrics`) and the sweep
//! that counts lapsed leases and quarantines workers that keep losing them.
//!
//! A model with `engine = "worker"` has no engine on the node: its live queue is claimed
//! only through the worker API (`crate::api::worker`), under leases recorded in the store
//! (`easel_db::WorkerStore`). The lease id is the job's lease holder, so a completion is
//! the same compare-and-set as a local run's ([`crate::jobs::run::finish`]).

pub mod checked;
pub mod complete;
pub mod heartbeat;
pub mod lease;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use easel_core::time::now_ms;
use easel_db::{QuarantinePolicy, Store, Worker};
use easel_queue::CancellationToken;
use tokio::sync::{Notify, watch};

use crate::app::AppState;
use crate::config::Config;

/// The `engine` of a model served by remote workers.
pub const ENGINE: &str = "worker";

/// How long the answer to "who serves what" is reused.
const PRESENCE_TTL: Duration = Duration::from_secs(2);
/// How long a worker token's lookup is reused: a revocation (or quarantine) made on
/// another node, or by `easel admin`, holds within this on every node, like an API key's.
const TOKEN_TTL: Duration = Duration::from_secs(1);
/// Past this many cached tokens, the table starts again (it only saves lookups).
const MAX_TOKENS: usize = 10_000;

/// Per model: workers serving it now.
type Presence = Arc<HashMap<String, u32>>;

/// A node's state for the worker API.
#[derive(Default)]
pub struct Workers {
    /// Per worker queue: woken (one waiting claim at a time) when a job is enqueued on it
    /// on this node.
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    /// Cancelled when the node starts shutting down: waiting claims answer at once.
    draining: CancellationToken,
    presence: Mutex<Option<(Instant, Presence)>>,
    pub counters: Counters,
    /// Uploads checked on arrival, so their completion need not decode them again.
    pub checked: checked::CheckedUploads,
    /// Worker rows by token hash, as looked up at most [`TOKEN_TTL`] ago.
    tokens: Mutex<HashMap<String, (Instant, Worker)>>,
}

/// Totals since start, for `/metrics`.
#[derive(Default)]
pub struct Counters {
    pub claims: AtomicU64,
    pub leases_granted: AtomicU64,
    pub completions: AtomicU64,
    pub failures: AtomicU64,
    pub leases_lost: AtomicU64,
    pub quarantines: AtomicU64,
}

impl Workers {
    /// Wakes one claim waiting on `queue` on this node (a job was enqueued there). One,
    /// not all: every woken claim runs a claim transaction, and all but one would find
    /// nothing (a claim that takes the job meant for another passes the wake-up on).
    pub fn wake(&self, queue: &str) {
        self.waker(queue).notify_one();
    }

    /// Wakes every claim waiting on `queue` on this node (jobs arrived from elsewhere, in
    /// any number).
    pub fn wake_all(&self, queue: &str) {
        easel_queue::wake_all(&self.waker(queue));
    }

    /// Wakes every waiting claim (wake-ups may have been lost).
    pub fn wake_every_queue(&self) {
        let wakers: Vec<Arc<Notify>> = match self.wakers.lock() {
            Ok(wakers) => wakers.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        };
        for waker in wakers {
            easel_queue::wake_all(&waker);
        }
    }

    /// The wake-up of `queue`'s claims.
    pub fn waker(&self, queue: &str) -> Arc<Notify> {
        let mut wakers = match self.wakers.lock() {
            Ok(wakers) => wakers,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(wakers.entry(queue.to_string()).or_default())
    }

    /// The worker of a token hash, if it was looked up less than [`TOKEN_TTL`] ago.
    pub fn cached_worker(&self, token_hash: &str) -> Option<Worker> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(token_hash)
            .filter(|(at, _)| at.elapsed() < TOKEN_TTL)
            .map(|(_, w)| w.clone())
    }

    /// Keeps a token's lookup for [`TOKEN_TTL`].
    pub fn cache_worker(&self, token_hash: &str, worker: &Worker) {
        if let Ok(mut tokens) = self.tokens.lock() {
            if tokens.len() >= MAX_TOKENS {
                tokens.retain(|_, (at, _)| at.elapsed() < TOKEN_TTL);
                if tokens.len() >= MAX_TOKENS {
                    tokens.clear();
                }
            }
            tokens.insert(token_hash.to_string(), (Instant::now(), worker.clone()));
        }
    }

    /// Drops a worker's cached lookup (this node just changed its row).
    pub fn forget_worker(&self, worker_id: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.retain(|_, (_, w)| w.id != worker_id);
        }
    }

    /// Stops waiting claims (shutdown).
    pub fn drain(&self) {
        self.draining.cancel();
    }

    /// Completes when the node is shutting down.
    pub async fn draining(&self) {
        self.draining.cancelled().await;
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Per model: workers that serve it now (seen within `workers.presence_seconds`, not
    /// revoked, not quarantined). Cached for two seconds; a store error answers with the
    /// last known figures (none at first), never an error.
    pub async fn serving(&self, store: &dyn Store, config: &Config) -> Arc<HashMap<String, u32>> {
        if let Ok(guard) = self.presence.lock()
            && let Some((at, map)) = guard.as_ref()
            && at.elapsed() < PRESENCE_TTL
        {
            return Arc::clone(map);
        }
        let fresh = match store.list_workers().await {
            Ok(workers) => {
                let now = now_ms();
                let since = now - (config.workers.presence_seconds as i64) * 1000;
                let mut map: HashMap<String, u32> = HashMap::new();
                for w in workers.iter().filter(|w| {
                    w.revoked_at.is_none()
                        && w.last_seen_at.is_some_and(|at| at >= since)
                        && w.quarantined_until.is_none_or(|until| until <= now)
                }) {
                    for model in w.serving.iter().filter(|m| w.models.contains(m)) {
                        *map.entry(model.clone()).or_default() += 1;
                    }
                }
                Arc::new(map)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read which workers are online");
                return match self.presence.lock() {
                    Ok(guard) => guard
                        .as_ref()
                        .map(|(_, m)| Arc::clone(m))
                        .unwrap_or_default(),
                    Err(_) => Arc::default(),
                };
            }
        };
        if let Ok(mut guard) = self.presence.lock() {
            *guard = Some((Instant::now(), Arc::clone(&fresh)));
        }
        fresh
    }

    /// Workers serving `model` now (0 for a model no worker serves).
    pub async fn serving_model(&self, store: &dyn Store, config: &Config, model: &str) -> u32 {
        self.serving(store, config)
            .await
            .get(model)
            .copied()
            .unwrap_or(0)
    }
}

/// Whether `model` is served by remote workers.
pub fn is_remote(config: &Config, model: &str) -> bool {
    config.models.get(model).is_some_and(|m| m.engine == ENGINE)
}

/// The quarantine rule from the config.
pub fn policy(config: &Config) -> QuarantinePolicy {
    let w = &config.workers;
    QuarantinePolicy {
        max_lost: w.quarantine_after_lost,
        window_ms: (w.quarantine_window_seconds as i64).saturating_mul(1000),
        duration_ms: (w.quarantine_seconds as i64).saturating_mul(1000),
        // A completion in flight holds its job until it commits; a lease is only counted
        // lost once it has been over for a whole lease period.
        grace_ms: w.lease_ms as i64,
    }
}

/// Counts lapsed leases and quarantines workers that lose too many, until `stop`. Safe on
/// every node at once (the store counts each lease once). Lapsed leases' jobs are put
/// back in the queue by the job runner's reaper, like a dead node's.
pub async fn sweep(app: AppState, mut stop: watch::Receiver<bool>) {
    if !app.config.models.values().any(|m| m.engine == ENGINE) {
        // No model is served by workers: no worker lease can be taken here.
        return;
    }
    let every = Duration::from_millis((app.config.workers.lease_ms / 2).clamp(500, 10_000));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let policy = policy(&app.config);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        match app.store.sweep_lost_leases(policy, now_ms()).await {
            Ok(swept) => {
                let counters = &app.workers.counters;
                for (lease, worker) in &swept.lost {
                    Workers::count(&counters.leases_lost);
                    tracing::warn!(lease.id = %lease, worker.id = %worker, "a worker's lease lapsed; its job went back to the queue");
                    app.outputs.delete_uploads(lease).await;
                }
                for worker in &swept.quarantined {
                    app.workers.forget_worker(worker);
                    Workers::count(&counters.quarantines);
                    tracing::warn!(worker.id = %worker, quarantine_seconds = app.config.workers.quarantine_seconds, "quarantined a worker that keeps losing leases");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not sweep lapsed worker leases"),
        }
    }
}
