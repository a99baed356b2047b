//! The figures a scrape reads from the database, shared by the scrapes of a few seconds.
//!
//! Whatever the number of scrapers, a node runs the statements at most once per
//! `metrics.cache_ms`: a scrape within it reuses the last figures, and scrapes that arrive
//! while the statements run wait for that one run instead of starting their own. The run
//! is a task of its own, so a scraper that hangs up does not abandon it halfway, and no
//! lock is held while it runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use easel_core::time::now_ms;
use easel_db::Store;
use easel_db::metrics::Gauges;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

/// Longest wait for the statements; a scrape then goes without the figures.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// One reading.
#[derive(Debug)]
pub struct Figures {
    /// When it was taken (ms).
    pub read_at_ms: i64,
    /// `None` when the database failed or did not answer in time.
    pub gauges: Option<Gauges>,
}

type Pending = Shared<BoxFuture<'static, Arc<Figures>>>;

#[derive(Default)]
struct State {
    last: Option<(Instant, Arc<Figures>)>,
    pending: Option<Pending>,
}

pub struct DatabaseFigures {
    ttl: Duration,
    state: Mutex<State>,
    /// Times the statements ran (`easel_metrics_database_reads_total`).
    reads: Arc<AtomicU64>,
}

impl DatabaseFigures {
    pub fn new(ttl: Duration) -> DatabaseFigures {
        DatabaseFigures {
            ttl,
            state: Mutex::default(),
            reads: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// How many times the statements ran.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The figures, at most `ttl` old.
    pub async fn get(&self, store: &Arc<dyn Store>) -> Arc<Figures> {
        let pending = {
            let mut state = self.state();
            if let Some((at, figures)) = &state.last
                && at.elapsed() < self.ttl
            {
                return Arc::clone(figures);
            }
            match &state.pending {
                Some(pending) => pending.clone(),
                None => {
                    self.reads.fetch_add(1, Ordering::Relaxed);
                    let task = tokio::spawn(read(Arc::clone(store)));
                    let pending = async move {
                        task.await.unwrap_or_else(|_| {
                            Arc::new(Figures {
                                read_at_ms: now_ms(),
                                gauges: None,
                            })
                        })
                    }
                    .boxed()
                    .shared();
                    state.pending = Some(pending.clone());
                    pending
                }
            }
        };
        let figures = pending.clone().await;
        let mut state = self.state();
        if state
            .pending
            .as_ref()
            .is_some_and(|p| Shared::ptr_eq(p, &pending))
        {
            state.pending = None;
            // Failures are kept too: a database in trouble is not asked again by every
            // scrape.
            state.last = Some((Instant::now(), Arc::clone(&figures)));
        }
        figures
    }
}

async fn read(store: Arc<dyn Store>) -> Arc<Figures> {
    let now = now_ms();
    let gauges = match tokio::time::timeout(READ_TIMEOUT, store.gauges(now)).await {
        Ok(Ok(gauges)) => Some(gauges),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not read the metrics' figures from the database");
            None
        }
        Err(_) => {
            tracing::warn!("the metrics' figures took too long to read from the database");
            None
        }
    };
    Arc::new(Figures {
        read_at_ms: now,
        gauges,
    })
}
