//! The delivery loop of one node: claims due deliveries from the outbox by lease, sends
//! them concurrently, and records each attempt.
//!
//! A node makes at most `webhooks.concurrency` attempts at once and at most
//! `per_endpoint_concurrency` to one endpoint; deliveries to an endpoint already at its
//! share are not even claimed, so a slow endpoint's backlog waits for that endpoint alone.
//! A failed attempt also holds the endpoint's other due deliveries back for a while (the
//! store's circuit breaker): a dead endpoint costs one attempt per slot per hold, not one
//! timeout per queued event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use easel_core::roles::Role;
use easel_core::time::now_ms;
use easel_db::{AttemptOutcome, AttemptRecorded, DeliveryTask, WebhookEndpoint};
use rand::Rng;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use super::deliver;
use crate::app::AppState;
use crate::mail::Mail;

/// The longest a failure holds an endpoint's other deliveries back.
const HOLD_MAX: Duration = Duration::from_secs(60);
/// Extra tries to record an attempt before leaving it to its lease.
const RECORD_TRIES: u64 = 3;
/// The shortest wait for a delivery that is due but could not be claimed.
const DUE_AGAIN: Duration = Duration::from_millis(100);
/// An attempt still waiting for its endpoint after this long gives its slot to the next
/// delivery and waits in the overflow pool instead: a slow or hanging endpoint (up to its
/// share) cannot starve the healthy ones of the node's slots.
const SLOW_ATTEMPT: Duration = Duration::from_millis(250);
/// Due deliveries read per claim, per free slot (the rest of a read may belong to
/// endpoints at their share).
const READ_PER_SLOT: usize = 4;

struct Dispatcher {
    app: AppState,
    /// This node's name on the leases it takes.
    worker: String,
    slots: Arc<Semaphore>,
    /// Slow attempts that gave their slot back ([`SLOW_ATTEMPT`]); as many as there are
    /// slots, so at most twice `webhooks.concurrency` requests are open at once.
    overflow: Arc<Semaphore>,
    /// Attempts in flight per endpoint (never held across an await).
    in_flight: Mutex<HashMap<String, usize>>,
    /// Woken when an attempt ends (a slot is free again).
    freed: Notify,
}

/// Starts the delivery loop; it ends when `stop` turns true, after the attempts in
/// flight finish (or the shutdown grace runs out: their leases then expire and another
/// node, or this one after a restart, sends them again).
pub fn start(app: &AppState, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    if app.webhooks.config.concurrency == 0 {
        tracing::info!("webhooks.concurrency = 0: this node delivers no webhooks");
        return tokio::spawn(async {});
    }
    let dispatcher = Arc::new(Dispatcher {
        worker: format!("webhooks-{}", easel_core::ids::IdKind::Request.generate()),
        slots: Arc::new(Semaphore::new(app.webhooks.config.concurrency)),
        overflow: Arc::new(Semaphore::new(app.webhooks.config.concurrency)),
        in_flight: Mutex::new(HashMap::new()),
        freed: Notify::new(),
        app: app.clone(),
    });
    tokio::spawn(dispatcher.run(stop))
}

impl Dispatcher {
    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let config = &self.app.webhooks.config;
        let poll = Duration::from_millis(config.poll_ms);
        let mut safety_net = false;
        loop {
            if *stop.borrow() {
                break;
            }
            // Woken by the safety net alone: claim only if something is due (an idle
            // node then asks one indexed question per poll, not two).
            if std::mem::take(&mut safety_net)
                && let (wait, false) = self.until_next_due(poll).await
            {
                tokio::select! {
                    _ = self.freed.notified() => {}
                    _ = self.app.wakeups.webhooks.notified() => {}
                    () = tokio::time::sleep(wait) => safety_net = wait >= poll.mul_f64(0.8),
                    _ = stop.wait_for(|s| *s) => break,
                }
                continue;
            }
            let busy = match self.claim_and_send().await {
                Ok(busy) => busy,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim webhook deliveries; will retry");
                    false
                }
            };
            if busy && self.slots.available_permits() > 0 {
                // Maybe more is due for endpoints with room: go again at once.
                continue;
            }
            // Wait for an attempt to end (its endpoint may have more due, held back by its
            // share), for new or rescheduled deliveries (a wake-up), for the earliest
            // pending one to come due (a retry), or for the safety-net poll.
            let (wait, _) = self.until_next_due(poll).await;
            tokio::select! {
                _ = self.freed.notified() => {}
                _ = self.app.wakeups.webhooks.notified() => {}
                // A retry's own time is not the safety net: claim at once then.
                () = tokio::time::sleep(wait) => safety_net = wait >= poll.mul_f64(0.8),
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        // Let attempts in flight end and be recorded.
        let grace = Duration::from_secs(self.app.config.http.shutdown_grace_seconds);
        let all = u32::try_from(config.concurrency).unwrap_or(u32::MAX);
        let drained = async {
            let slots = self.slots.acquire_many(all).await;
            let overflow = self.overflow.acquire_many(all).await;
            (slots, overflow)
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(
                "webhook attempts still in flight at shutdown; their leases will expire and they will be sent again"
            );
        }
    }

    /// How long nothing can become due without a wake-up: until the earliest pending
    /// delivery's time, at least [`DUE_AGAIN`] (one due now is locked by an attempt in
    /// flight or waiting for its endpoint's share), at most `poll` (jittered). And
    /// whether one is due now (an error says yes, so the claim reports it).
    async fn until_next_due(&self, poll: Duration) -> (Duration, bool) {
        let poll = easel_queue::jittered(poll);
        match self.app.store.next_delivery_due(now_ms()).await {
            Ok(Some(due)) => {
                let ms = u64::try_from(due - now_ms()).unwrap_or(0);
                let wait = Duration::from_millis(ms);
                (wait.clamp(DUE_AGAIN, poll.max(DUE_AGAIN)), wait.is_zero())
            }
            Ok(None) => (poll, false),
            Err(e) => {
                tracing::warn!(error = %e, "could not read when webhook deliveries are due");
                (poll, true)
            }
        }
    }

    /// Claims what this node may send now and starts sending it. Says whether a full
    /// read came back (more may be due).
    async fn claim_and_send(self: &Arc<Self>) -> Result<bool, easel_db::DbError> {
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(true);
        }
        let share = self.app.webhooks.config.per_endpoint_concurrency;
        // Only this loop adds attempts, so counts can only have dropped by the time the
        // read returns: one snapshot serves for both the skip list and the choice.
        let mut taking = self.in_flight_now();
        let saturated: Vec<String> = taking
            .iter()
            .filter(|(_, n)| **n >= share)
            .map(|(e, _)| e.clone())
            .collect();
        let now = now_ms();
        let limit = free.saturating_mul(READ_PER_SLOT).min(1_000);
        let due = self
            .app
            .store
            .due_webhook_deliveries(now, i64::try_from(limit).unwrap_or(1_000), &saturated)
            .await?;
        let full = due.len() == limit;
        let mut chosen = Vec::new();
        for (id, endpoint) in due {
            if chosen.len() == free {
                break;
            }
            let n = taking.entry(endpoint).or_default();
            if *n < share {
                *n += 1;
                chosen.push(id);
            }
        }
        if chosen.is_empty() {
            return Ok(full);
        }
        let lease_until = now + lease_ms(self.app.webhooks.config.timeout_ms);
        let tasks = self
            .app
            .store
            .claim_webhook_deliveries(&chosen, &self.worker, now, lease_until)
            .await?;
        for task in tasks {
            let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
                // Cannot happen (only this loop takes slots); the lease lets it go.
                break;
            };
            self.enter(&task.endpoint.id);
            let me = Arc::clone(self);
            tokio::spawn(async move { me.send(task, permit).await });
        }
        Ok(full || chosen.len() == free)
    }

    fn in_flight_now(&self) -> HashMap<String, usize> {
        self.in_flight.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn enter(&self, endpoint: &str) {
        if let Ok(mut m) = self.in_flight.lock() {
            *m.entry(endpoint.to_string()).or_default() += 1;
        }
    }

    fn leave(&self, endpoint: &str) {
        if let Ok(mut m) = self.in_flight.lock()
            && let Some(n) = m.get_mut(endpoint)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(endpoint);
            }
        }
    }

    async fn send(self: Arc<Self>, task: DeliveryTask, permit: OwnedSemaphorePermit) {
        let endpoint_id = task.endpoint.id.clone();
        let attempt = self.attempt(task);
        tokio::pin!(attempt);
        let mut held = (Some(permit), None);
        tokio::select! {
            () = &mut attempt => {}
            () = tokio::time::sleep(SLOW_ATTEMPT) => {
                // Still waiting on the endpoint: move to the overflow pool if it has room,
                // so the slot serves another delivery meanwhile (the endpoint keeps its
                // share: this attempt still counts against it).
                if let Ok(spare) = Arc::clone(&self.overflow).try_acquire_owned() {
                    held = (None, Some(spare));
                    self.freed.notify_one();
                }
                attempt.await;
            }
        }
        self.leave(&endpoint_id);
        drop(held);
        self.freed.notify_one();
    }

    async fn attempt(&self, task: DeliveryTask) {
        let app = &self.app;
        let now = now_ms();
        let d = &task.delivery;
        let unsendable = if task.endpoint_deleted {
            Some("the endpoint was deleted")
        } else if task.endpoint.disabled_at.is_some() {
            Some("the endpoint is disabled")
        } else if task.account_state == "terminated" {
            Some("the account is terminated")
        } else {
            None
        };
        if let Some(reason) = unsendable {
            if let Err(e) = app
                .store
                .abandon_webhook_delivery(&d.id, &self.worker, reason, now)
                .await
            {
                tracing::warn!(delivery.id = %d.id, error = %e, "could not end an unsendable webhook delivery");
            }
            return;
        }
        let sent = deliver::attempt(&app.webhooks, &task, now).await;
        let succeeded = sent.succeeded();
        app.metrics.webhooks.attempted(sent.status, succeeded);
        let wait = if d.manual || succeeded {
            None
        } else {
            app.webhooks.schedule.next(
                d.attempts.saturating_add(1),
                rand::thread_rng().r#gen::<f64>(),
            )
        };
        // A receiver asking for time (429/503 with Retry-After) gets at least that.
        let wait = wait.map(|w| w.max(sent.retry_after.unwrap_or_default()));
        let retry_at = wait.map(|w| now.saturating_add(duration_ms(w)));
        let hold = wait.unwrap_or(HOLD_MAX).min(HOLD_MAX);
        let outcome = AttemptOutcome {
            delivery_id: d.id.clone(),
            worker: self.worker.clone(),
            attempted_at: now,
            status_code: sent.status,
            latency_ms: sent.latency_ms,
            response_body: sent.body_excerpt,
            error: sent.error,
            succeeded,
            retry_at,
            hold_others_until: (!succeeded).then(|| now.saturating_add(duration_ms(hold))),
            disable_after_ms: i64::try_from(app.webhooks.config.disable_after_seconds)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000),
            gone: sent.status == Some(410),
        };
        // A failed write here (a PostgreSQL deadlock with a claim or a breaker hold, a
        // dropped connection) would leave the delivery leased and sent again when the lease
        // ends: retry it a few times first.
        let mut tries = 0u64;
        let recorded = loop {
            match app.store.record_webhook_attempt(outcome.clone()).await {
                Err(e) if tries < RECORD_TRIES => {
                    tries += 1;
                    tracing::warn!(delivery.id = %d.id, error = %e, "could not record a webhook attempt; trying again");
                    tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                }
                other => break other,
            }
        };
        match recorded {
            Ok(AttemptRecorded::Recorded) => {}
            Ok(AttemptRecorded::EndpointDisabled(endpoint)) => self.tell_owners(&endpoint).await,
            Ok(AttemptRecorded::LeaseLost) => {
                tracing::warn!(delivery.id = %d.id, "a webhook attempt outlived its lease; another node may send it again");
            }
            Err(e) => {
                tracing::error!(delivery.id = %d.id, error = %e, "could not record a webhook attempt; it will be sent again when its lease expires");
            }
        }
    }

    /// Mails the account's owners that an endpoint was disabled (the event and audit
    /// entry were written with the change).
    async fn tell_owners(&self, endpoint: &WebhookEndpoint) {
        tracing::warn!(endpoint.id = %endpoint.id, account.id = %endpoint.account_id, reason = ?endpoint.disabled_reason, "disabled a failing webhook endpoint");
        let members = match self.app.store.list_members(&endpoint.account_id).await {
            Ok(members) => members,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up whom to tell about a disabled webhook endpoint");
                return;
            }
        };
        let mode = if endpoint.mode.is_live() {
            "live"
        } else {
            "test"
        };
        for owner in members.iter().filter(|m| m.role == Role::Owner) {
            let body = format!(
                "Easel disabled your {mode}-mode webhook endpoint {id}\n({url})\nbecause {reason}.\n\n\
                 Deliveries to it have stopped and its pending ones failed. Fix the endpoint, \
                 then re-enable it (PATCH /v1/webhook_endpoints/{id} with {{\"enabled\": true}}) \
                 and replay what it missed (POST /v1/webhook_deliveries/{{id}}/replay); its \
                 delivery log is at GET /v1/webhook_endpoints/{id}/deliveries.\n",
                id = endpoint.id,
                url = endpoint.url,
                reason = endpoint
                    .disabled_reason
                    .as_deref()
                    .unwrap_or("it kept failing"),
            );
            self.app
                .mailer
                .send(Mail {
                    to: owner.email.clone(),
                    subject: format!("Webhook endpoint disabled: {}", endpoint.url),
                    body,
                })
                .await;
        }
    }
}

/// How long a claimed delivery is this node's: the attempt's time limit plus room to
/// record it.
fn lease_ms(timeout_ms: u64) -> i64 {
    i64::try_from(timeout_ms)
        .unwrap_or(60_000)
        .saturating_add(30_000)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
