//! A per-backend circuit breaker, so a backend that is down does not burn every queued
//! job's attempts.
//!
//! Closed: jobs are claimed as usual; consecutive transient failures are counted. At
//! `failures` in a row it opens: [`Breaker::paused`] turns `true`, the job runner stops
//! claiming the model's jobs (they wait in the queue, up to their `max_queue_seconds`),
//! and [`supervise`] probes the backend after `cooldown`. A good probe half-opens it
//! (claims resume); the next job's outcome closes it or opens it again with a doubled
//! cooldown (up to `max_cooldown`). Every change is logged once; [`Breaker::snapshot`]
//! feeds `/metrics`.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, EngineError};

/// When a breaker opens and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive transient failures that open it.
    pub failures: u32,
    /// First wait before probing an open breaker.
    pub cooldown: Duration,
    /// Longest wait between probes.
    pub max_cooldown: Duration,
    /// How often a closed breaker's backend is probed anyway (for `easel_engine_up`).
    pub probe_interval: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 3,
            cooldown: Duration::from_secs(15),
            max_cooldown: Duration::from_secs(300),
            probe_interval: Duration::from_secs(60),
        }
    }
}

/// The breaker's state, as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// What `/metrics` and the quote read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub state: BreakerState,
    /// Whether the last probe (or the last job) found the backend up.
    pub up: bool,
    /// Times it opened since start.
    pub opened_total: u64,
    /// Seconds until the next probe of an open breaker.
    pub retry_in: Option<Duration>,
    /// How long the last probe took.
    pub probe_latency: Option<Duration>,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive: u32,
    cooldown: Duration,
    open_until: Option<Instant>,
    up: bool,
    opened_total: u64,
    probe_latency: Option<Duration>,
}

/// One model's breaker. Share it in an `Arc`.
#[derive(Debug)]
pub struct Breaker {
    model: String,
    config: BreakerConfig,
    inner: Mutex<Inner>,
    paused: watch::Sender<bool>,
}

impl Breaker {
    /// A closed breaker for `model`.
    #[must_use]
    pub fn new(model: impl Into<String>, config: BreakerConfig) -> Breaker {
        Breaker {
            model: model.into(),
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive: 0,
                cooldown: config.cooldown,
                open_until: None,
                up: true,
                opened_total: 0,
                probe_latency: None,
            }),
            paused: watch::channel(false).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// `true` while the model's jobs must not be claimed.
    #[must_use]
    pub fn paused(&self) -> watch::Receiver<bool> {
        self.paused.subscribe()
    }

    /// The state now.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        Snapshot {
            state: inner.state,
            up: inner.up,
            opened_total: inner.opened_total,
            retry_in: inner
                .open_until
                .map(|until| until.saturating_duration_since(Instant::now())),
            probe_latency: inner.probe_latency,
        }
    }

    /// Records a run's outcome: a success closes the breaker, a transient failure counts
    /// towards opening it, anything else (a permanent failure is the request's fault, a
    /// cancel is nobody's) leaves it alone.
    pub fn record(&self, outcome: Result<(), &EngineError>) {
        match outcome {
            Ok(()) => self.success(),
            Err(EngineError::Transient { .. }) => self.failure(),
            Err(_) => {}
        }
    }

    fn success(&self) {
        let mut inner = self.lock();
        inner.up = true;
        inner.consecutive = 0;
        if inner.state != BreakerState::Closed {
            inner.state = BreakerState::Closed;
            inner.cooldown = self.config.cooldown;
            inner.open_until = None;
            drop(inner);
            tracing::info!(model = %self.model, "engine breaker closed: the backend is answering again");
            self.paused.send_replace(false);
        }
    }

    fn failure(&self) {
        let mut inner = self.lock();
        inner.consecutive = inner.consecutive.saturating_add(1);
        let trip = match inner.state {
            BreakerState::Closed => inner.consecutive >= self.config.failures,
            BreakerState::HalfOpen => true,
            BreakerState::Open => false,
        };
        if trip {
            if inner.state == BreakerState::HalfOpen {
                inner.cooldown = (inner.cooldown * 2).min(self.config.max_cooldown);
            }
            self.open(&mut inner);
        }
    }

    fn open(&self, inner: &mut Inner) {
        inner.state = BreakerState::Open;
        inner.up = false;
        inner.opened_total += 1;
        inner.open_until = Some(Instant::now() + inner.cooldown);
        tracing::warn!(
            model = %self.model,
            consecutive_failures = inner.consecutive,
            probe_in_seconds = inner.cooldown.as_secs(),
            "engine breaker opened: the backend keeps failing; its jobs wait in the queue"
        );
        self.paused.send_replace(true);
    }

    /// Records a probe's outcome.
    pub fn probed(&self, ok: bool, latency: Duration) {
        let mut inner = self.lock();
        inner.probe_latency = Some(latency);
        match (inner.state, ok) {
            (BreakerState::Open, true) => {
                inner.state = BreakerState::HalfOpen;
                inner.up = true;
                inner.open_until = None;
                drop(inner);
                tracing::info!(model = %self.model, "engine breaker half-open: the probe answered; trying jobs again");
                self.paused.send_replace(false);
            }
            (BreakerState::Open, false) => {
                inner.cooldown = (inner.cooldown * 2).min(self.config.max_cooldown);
                inner.open_until = Some(Instant::now() + inner.cooldown);
            }
            (_, up) => inner.up = up,
        }
    }

    /// When the next probe is due.
    fn next_probe(&self, last: Instant) -> Instant {
        let inner = self.lock();
        match (inner.state, inner.open_until) {
            (BreakerState::Open, Some(until)) => until,
            _ => last + self.config.probe_interval,
        }
    }
}

/// Probes `engine` for `breaker` until `stop`: when an open breaker's cooldown ends, and
/// every `probe_interval` otherwise.
pub async fn supervise(breaker: Arc<Breaker>, engine: Arc<dyn Engine>, stop: CancellationToken) {
    let mut paused = breaker.paused();
    let mut last = Instant::now();
    // The first probe right away, so `easel_engine_up` means something from the start.
    let mut due = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(due.into()) => {}
            // An opening breaker reschedules the next probe to its cooldown.
            changed = paused.changed() => {
                if changed.is_err() { return; }
                due = breaker.next_probe(last);
                continue;
            }
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(10), engine.probe()).await;
        let ok = matches!(outcome, Ok(Ok(_)));
        if let Ok(Err(e)) = &outcome {
            tracing::debug!(engine = engine.name(), error = %e.detail(), "engine probe failed");
        }
        breaker.probed(ok, started.elapsed());
        last = Instant::now();
        due = breaker.next_probe(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            failures: 3,
            cooldown: Duration::from_millis(50),
            max_cooldown: Duration::from_millis(400),
            probe_interval: Duration::from_secs(60),
        }
    }

    #[test]
    fn opens_after_consecutive_transient_failures_only() {
        let b = Breaker::new("m", config());
        let t = EngineError::transient("down");
        b.record(Err(&t));
        b.record(Err(&t));
        b.record(Ok(()));
        b.record(Err(&t));
        b.record(Err(&t));
        b.record(Err(&EngineError::permanent("bad request")));
        assert_eq!(b.snapshot().state, BreakerState::Closed);
        assert!(!*b.paused().borrow());
        b.record(Err(&t));
        assert_eq!(b.snapshot().state, BreakerState::Open);
        assert!(*b.paused().borrow());
        assert!(!b.snapshot().up);
        assert_eq!(b.snapshot().opened_total, 1);
    }

    #[test]
    fn a_good_probe_half_opens_and_a_success_closes() {
        let b = Breaker::new("m", config());
        for _ in 0..3 {
            b.record(Err(&EngineError::transient("down")));
        }
        b.probed(false, Duration::ZERO);
        assert_eq!(b.snapshot().state, BreakerState::Open);
        b.probed(true, Duration::ZERO);
        assert_eq!(b.snapshot().state, BreakerState::HalfOpen);
        assert!(!*b.paused().borrow());
        b.record(Ok(()));
        assert_eq!(b.snapshot().state, BreakerState::Closed);
    }

    #[test]
    fn a_failure_while_half_open_reopens_with_a_longer_cooldown() {
        let b = Breaker::new("m", config());
        for _ in 0..3 {
            b.record(Err(&EngineError::transient("down")));
        }
        b.probed(true, Duration::ZERO);
        b.record(Err(&EngineError::transient("still down")));
        let s = b.snapshot();
        assert_eq!(s.state, BreakerState::Open);
        assert_eq!(s.opened_total, 2);
        assert!(
            s.retry_in.is_some_and(|d| d > Duration::from_millis(50)),
            "{s:?}"
        );
    }
}
