//! The API request log: one entry per authenticated API request, written in batches off
//! the request path and read back by its owner at `GET /v1/requests`.
//!
//! A request pushes its entry onto a shared buffer and goes on: no wake-up, no channel
//! hop (at tens of thousands of requests a second, waking a writer per request cost more
//! than the writes). One task per process takes the buffer every 100 ms, or as soon as it
//! holds 2,000 entries, and writes it in one transaction. A reader asks for a flush first,
//! so a developer always sees their own latest requests. If the store is down the batch
//! is retried once, then dropped with an error in the log (the request itself succeeded;
//! the log is a record, not a ledger).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use easel_db::{DeprecatedCall, RequestLogEntry, Store};
use tokio::sync::{Notify, oneshot};

/// Entries waiting beyond this are dropped (and counted) rather than held in memory.
const MAX_PENDING: usize = 100_000;
/// A buffer this full is written at once.
const BATCH: usize = 2_000;
/// How often the writer takes the buffer otherwise.
const LINGER: Duration = Duration::from_millis(100);

/// The handle requests use; the writer task starts with the first entry.
pub struct RequestLog {
    pending: Mutex<Vec<RequestLogEntry>>,
    /// Readers waiting for everything before them to be written.
    flushes: Mutex<Vec<oneshot::Sender<()>>>,
    wake: Notify,
    started: AtomicBool,
    store: Arc<dyn Store>,
    /// Calls to deprecated operations since the last batch, counted per account, mode and
    /// operation (written with the batch: a call costs no write of its own).
    deprecated: Mutex<HashMap<DeprecatedKey, (i64, i64, i64)>>,
    /// Entries dropped because too many were pending or the store failed.
    pub dropped: AtomicU64,
}

/// Account, mode, method, route template.
type DeprecatedKey = (String, easel_core::mode::Mode, String, String);

/// A poisoned lock still guards a valid `Vec`: a panic elsewhere must not stop logging.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RequestLog {
    /// A log writing to `store`.
    pub fn new(store: Arc<dyn Store>) -> RequestLog {
        RequestLog {
            pending: Mutex::new(Vec::new()),
            flushes: Mutex::new(Vec::new()),
            wake: Notify::new(),
            started: AtomicBool::new(false),
            store,
            deprecated: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues an entry; never waits.
    pub fn record(self: &Arc<Self>, entry: RequestLogEntry) {
        self.start();
        let full = {
            let mut pending = lock(&self.pending);
            if pending.len() >= MAX_PENDING {
                drop(pending);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            pending.push(entry);
            pending.len() == BATCH
        };
        if full {
            self.wake.notify_one();
        }
    }

    /// Counts a call to a deprecated operation (`method` on the route template `route`).
    pub fn record_deprecated(
        self: &Arc<Self>,
        account_id: &str,
        mode: easel_core::mode::Mode,
        method: &str,
        route: &str,
        at: i64,
    ) {
        self.start();
        let key = (
            account_id.to_string(),
            mode,
            method.to_string(),
            route.to_string(),
        );
        let mut counted = lock(&self.deprecated);
        let entry = counted.entry(key).or_insert((0, at, at));
        entry.0 += 1;
        entry.1 = entry.1.min(at);
        entry.2 = entry.2.max(at);
    }

    /// Waits until every entry queued before the call is written (or dropped).
    pub async fn flush(self: &Arc<Self>) {
        self.start();
        let (done_tx, done_rx) = oneshot::channel();
        lock(&self.flushes).push(done_tx);
        self.wake.notify_one();
        let _ = done_rx.await;
    }

    fn start(self: &Arc<Self>) {
        // A plain load first: every request passes here, and a swap would write the
        // shared flag each time.
        if !self.started.load(Ordering::Acquire) && !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(Arc::clone(self).write());
        }
    }

    async fn write(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = self.wake.notified() => {}
            }
            // Readers first, then the entries: whatever a reader was waiting for was
            // pushed before it registered, so it is in the batch taken next.
            let waiting = std::mem::take(&mut *lock(&self.flushes));
            let batch = std::mem::take(&mut *lock(&self.pending));
            if !batch.is_empty() {
                self.insert(&batch).await;
            }
            let counted = std::mem::take(&mut *lock(&self.deprecated));
            if !counted.is_empty() {
                let calls: Vec<DeprecatedCall> = counted
                    .into_iter()
                    .map(
                        |((account_id, mode, method, route), (calls, first_at, last_at))| {
                            DeprecatedCall {
                                account_id,
                                mode,
                                method,
                                route,
                                calls,
                                first_at,
                                last_at,
                            }
                        },
                    )
                    .collect();
                // A count is a courtesy to the developer, like the log: lost, not retried.
                if let Err(e) = self.store.record_deprecated_calls(&calls).await {
                    tracing::warn!(error = %e, "could not record calls to deprecated operations");
                }
            }
            for done in waiting {
                let _ = done.send(());
            }
        }
    }

    async fn insert(&self, batch: &[RequestLogEntry]) {
        for attempt in 0..2 {
            match self.store.insert_request_logs(batch).await {
                Ok(()) => return,
                Err(e) if attempt == 0 => {
                    tracing::warn!(entries = batch.len(), error = %e, "could not write request log entries; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(entries = batch.len(), error = %e, "request log entries lost");
                }
            }
        }
        self.dropped
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

/// What a handler adds to its response for the log: the request's end user and (when the
/// operator enabled it) its prompt.
#[derive(Debug, Clone, Default)]
pub struct LogDetails {
    pub end_user: Option<String>,
    pub prompt: Option<String>,
}

impl LogDetails {
    /// The details of a generation request: its end user, and its prompt if the operator
    /// keeps prompts.
    pub fn of(config: &crate::config::Config, user: Option<&str>, prompt: &str) -> LogDetails {
        LogDetails {
            end_user: user.map(str::to_string),
            prompt: config.moderation.log_prompts.then(|| prompt.to_string()),
        }
    }

    /// Adds the details to a handler's answer, error or not.
    pub fn attach(self, response: impl axum::response::IntoResponse) -> axum::response::Response {
        let mut response = response.into_response();
        response.extensions_mut().insert(self);
        response
    }
}
