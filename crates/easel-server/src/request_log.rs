//! The API request log: one entry per authenticated API request, written in batches off
//! the request path and read back by its owner at `GET /v1/requests`.
//!
//! Requests hand their entry to a bounded channel and go on; one task per process writes
//! whatever has gathered in one multi-row insert. A reader asks for a flush first, so a
//! developer always sees their own latest requests. If the store is down the batch is
//! retried once, then dropped with an error in the log (the request itself succeeded; the
//! log is a record, not a ledger).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use easel_db::{RequestLogEntry, Store};
use tokio::sync::{mpsc, oneshot};

/// Entries waiting beyond this are dropped (and counted) rather than slowing requests.
const QUEUE: usize = 65_536;
/// Largest batch written at once.
const BATCH: usize = 2_000;

enum Message {
    Entry(Box<RequestLogEntry>),
    Flush(oneshot::Sender<()>),
}

/// The handle requests use; the writer task starts with the first entry.
pub struct RequestLog {
    tx: mpsc::Sender<Message>,
    rx: Mutex<Option<mpsc::Receiver<Message>>>,
    store: Arc<dyn Store>,
    /// Entries dropped because the queue was full or the store failed.
    pub dropped: AtomicU64,
}

impl RequestLog {
    /// A log writing to `store`.
    pub fn new(store: Arc<dyn Store>) -> RequestLog {
        let (tx, rx) = mpsc::channel(QUEUE);
        RequestLog {
            tx,
            rx: Mutex::new(Some(rx)),
            store,
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues an entry; never waits.
    pub fn record(self: &Arc<Self>, entry: RequestLogEntry) {
        self.start();
        if self.tx.try_send(Message::Entry(Box::new(entry))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every entry queued before the call is written (or dropped).
    pub async fn flush(self: &Arc<Self>) {
        self.start();
        let (done_tx, done_rx) = oneshot::channel();
        if self.tx.send(Message::Flush(done_tx)).await.is_ok() {
            let _ = done_rx.await;
        }
    }

    fn start(self: &Arc<Self>) {
        let rx = match self.rx.lock() {
            Ok(mut rx) => rx.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(rx) = rx {
            tokio::spawn(Arc::clone(self).write(rx));
        }
    }

    async fn write(self: Arc<Self>, mut rx: mpsc::Receiver<Message>) {
        let mut batch: Vec<RequestLogEntry> = Vec::new();
        let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Entry(entry) => batch.push(*entry),
                    Message::Flush(done) => waiting.push(done),
                }
                if batch.len() >= BATCH {
                    break;
                }
                next = rx.try_recv().ok();
            }
            if !batch.is_empty() {
                self.insert(&batch).await;
                batch.clear();
            }
            for done in waiting.drain(..) {
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
