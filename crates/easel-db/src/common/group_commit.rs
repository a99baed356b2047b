//! Group commit for creations: concurrent `create_generation` calls share one write
//! transaction and one commit.
//!
//! Creating a generation used to be its own transaction of about ten statements, each a
//! round trip (to sqlx's SQLite thread, or over the network to PostgreSQL) while the single
//! SQLite writer, or the account's rows on PostgreSQL, were held. Now every creation is
//! handed to one task per store, which takes all that are waiting and runs them together:
//! it reads, for every account in the batch, what the checks need (the balance, the open
//! generations, a capped key's spend), decides each creation in arrival order in memory
//! ([`admit`]), and writes every admitted one with a fixed number of statements whatever
//! the batch size. The checks stay exact because the reads run inside the transaction that
//! writes: on SQLite it holds the only write lock; on PostgreSQL it locks the batch's
//! accounts (in id order, so two nodes' batches cannot deadlock) and their balance rows
//! first. A refused creation writes nothing, so it never fails the others. An unexpected
//! error (a missing parent row, a dropped connection) rolls the batch back, and its
//! creations are then run one at a time so that each gets its own answer.

/// The results of writing `$batch` (a slice of pending items) with `$write`, an
/// expression over `$part` (a slice of it) giving one result per item. If the batch as a
/// whole fails (a creation whose key was deleted meanwhile, a lost connection), nothing
/// of it was written: each item is then written alone, so that only the one at fault fails.
macro_rules! batch_or_one_by_one {
    ($batch:expr, $what:literal, |$part:ident| $write:expr) => {{
        let batch = $batch;
        let whole = {
            let $part = batch;
            $write
        };
        match whole {
            Ok(results) => results,
            Err(e) if batch.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::debug!(error = %e, size = batch.len(), "a batch of {} failed; writing them one by one", $what);
                let mut results = Vec::with_capacity(batch.len());
                for p in batch {
                    let $part = std::slice::from_ref(p);
                    results.push(match $write {
                        Ok(mut one) => one.pop().unwrap_or(Err($crate::DbError::Corrupt(
                            "an empty batch answer".into(),
                        ))),
                        Err(e) => Err(e),
                    });
                }
                results
            }
        }
    }};
}

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use crate::{DbError, DbResult, Enqueued, NewGeneration};

/// Items per transaction at most. A batch is whatever arrived while the last one ran; the
/// cap bounds the wait of the first of a very large burst.
const MAX_BATCH: usize = 128;

/// An item waiting for its batch, and where its answer goes.
pub(crate) struct Pending<T, R> {
    pub(crate) item: T,
    reply: oneshot::Sender<DbResult<R>>,
}

/// The handle a store keeps: sends items to its batching task, which writes each batch
/// in one transaction. The task ends when the last clone of the store is dropped.
pub(crate) struct Batcher<T, R> {
    queue: mpsc::UnboundedSender<Pending<T, R>>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Batcher {
            queue: self.queue.clone(),
        }
    }
}

impl<T, R> std::fmt::Debug for Batcher<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts the batching task; `run` writes one batch and answers each of its items
    /// (with [`answer`]). Must be called inside a tokio runtime.
    pub(crate) fn start<F, Fut>(what: &'static str, run: F) -> Batcher<T, R>
    where
        F: Fn(Vec<Pending<T, R>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (queue, mut waiting) = mpsc::unbounded_channel::<Pending<T, R>>();
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match waiting.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                // A caller that gave up (its client hung up) is not written: nobody will
                // be told it happened, as when its own transaction was rolled back.
                batch.retain(|p| !p.reply.is_closed());
                if batch.is_empty() {
                    continue;
                }
                // Its own task, so that a panic fails this batch's callers (their replies
                // are dropped) and not every later one.
                if let Err(e) = tokio::spawn(run(batch)).await {
                    tracing::error!(error = %e, "a batch of {what} failed");
                }
            }
        });
        Batcher { queue }
    }

    /// Queues an item and waits for its batch to commit (or refuse it).
    pub(crate) async fn submit(&self, item: T) -> DbResult<R> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { item, reply })
            .map_err(|_| DbError::Unavailable("the store is shutting down".into()))?;
        answer
            .await
            .map_err(|_| DbError::Unavailable("the batch ended without an answer".into()))?
    }
}

/// Answers each item of `batch` with its result (same order).
pub(crate) fn answer<T, R>(batch: Vec<Pending<T, R>>, results: Vec<DbResult<R>>) {
    let mut results = results.into_iter();
    for p in batch {
        let result = results
            .next()
            .unwrap_or_else(|| Err(DbError::Corrupt("a batch answered too few items".into())));
        // The caller may have given up meanwhile; what was written stays written.
        let _ = p.reply.send(result);
    }
}

/// Webhook attempts are recorded with those that ended at the same moment.
pub(crate) type Attempts = Batcher<crate::AttemptOutcome, crate::AttemptRecorded>;

/// An attempt's outcome with its reply.
pub(crate) type PendingAttempt = Pending<crate::AttemptOutcome, crate::AttemptRecorded>;

/// A generation's success, as `GenerationStore::succeed_generation` takes it.
pub(crate) struct Success {
    pub(crate) job_id: String,
    pub(crate) worker: String,
    pub(crate) outputs: Vec<crate::Output>,
    pub(crate) credits_charged: i64,
    pub(crate) completion: Option<String>,
    pub(crate) now: i64,
}

/// Successes are written with those that arrived at the same moment.
pub(crate) type Successes = Batcher<Success, Option<crate::Generation>>;

/// A success with its reply.
pub(crate) type PendingSuccess = Pending<Success, Option<crate::Generation>>;

/// Remote workers' claims share a transaction with those waiting at the same moment.
pub(crate) type Claims = Batcher<crate::WorkerClaim, Vec<crate::Claimed>>;

/// A claim with its reply.
pub(crate) type PendingClaim = Pending<crate::WorkerClaim, Vec<crate::Claimed>>;

/// A creation waiting for its batch.
pub(crate) struct Creation {
    pub(crate) new: NewGeneration,
    pub(crate) now: i64,
    /// The store's `credits.low` threshold when it was submitted (see `notices`).
    pub(crate) low_balance_credits: i64,
}

/// Creations share a transaction with those waiting at the same moment.
pub(crate) type Creations = Batcher<Creation, Enqueued>;

/// A creation with its reply.
pub(crate) type PendingCreation = Pending<Creation, Enqueued>;

/// The distinct accounts of a batch, sorted (the order PostgreSQL locks them in), as a
/// JSON array: both dialects unpack it in SQL.
pub(crate) fn accounts_json(batch: &[PendingCreation]) -> String {
    let ids: BTreeSet<&str> = batch
        .iter()
        .map(|p| p.item.new.account_id.as_str())
        .collect();
    serde_json::Value::from(ids.into_iter().collect::<Vec<_>>()).to_string()
}

/// The (key, period start) pairs whose spend the batch's capped holds must read.
pub(crate) fn capped_keys(batch: &[PendingCreation]) -> BTreeSet<(String, i64)> {
    batch
        .iter()
        .filter(|p| p.item.new.credits_estimated > 0)
        .filter_map(|p| {
            let cap = p.item.new.spend_cap?;
            Some((p.item.new.api_key_id.clone(), cap.period.start(p.item.now)))
        })
        .collect()
}

/// The queues of a batch, each with the latest creation time in it (what counts as due).
pub(crate) fn queues(batch: &[PendingCreation]) -> HashMap<String, i64> {
    let mut queues = HashMap::new();
    for p in batch {
        let due = queues
            .entry(p.item.new.job.queue.clone())
            .or_insert(p.item.now);
        *due = (*due).max(p.item.now);
    }
    queues
}

/// What the checks of a batch need, read inside its transaction.
#[derive(Debug, Default)]
pub(crate) struct Standing {
    /// (account, mode) → (balance, held). No row: nothing available.
    pub(crate) balances: HashMap<(String, String), (i64, i64)>,
    /// (account, mode) → generations queued or running.
    pub(crate) open: HashMap<(String, String), i64>,
    /// (key, period start) → what the key has spent since then.
    pub(crate) spent: HashMap<(String, i64), i64>,
    /// queue → jobs due in it, read before the batch (an admitted creation is behind
    /// them and ahead of the queue's next one).
    pub(crate) due: HashMap<String, i64>,
}

/// (account → available) of the live balances read for a batch, at or above `threshold`:
/// the ones its holds could take below it (none when the threshold is off).
pub(crate) fn live_available(standing: &Standing, threshold: i64) -> Vec<(String, i64)> {
    if threshold <= 0 {
        return Vec::new();
    }
    let live = easel_core::mode::Mode::Live.as_str();
    standing
        .balances
        .iter()
        .filter(|((_, mode), (balance, held))| mode == live && balance - held >= threshold)
        .map(|((account, _), (balance, held))| (account.clone(), balance - held))
        .collect()
}

/// One admitted creation as the batch insert reads it (one element of a JSON array; the
/// SQL names each field).
#[derive(Debug, serde::Serialize)]
pub(crate) struct Row {
    id: String,
    account_id: String,
    api_key_id: String,
    mode: &'static str,
    model: String,
    kind: &'static str,
    input: String,
    end_user: Option<String>,
    metadata: Option<String>,
    licence: String,
    credits: i64,
    job_id: String,
    queue: String,
    job_kind: String,
    payload: String,
    max_attempts: i64,
    run_at: i64,
    expires_at: Option<i64>,
    created_at: i64,
    event_id: String,
    event_data: String,
    /// The hold's ledger entry (credits > 0 only): its id, actor and the balance after it.
    ledger_id: Option<String>,
    actor_type: &'static str,
    balance_after: i64,
    held_after: i64,
}

/// Decides each creation of the batch in order, as if each ran alone one after the other:
/// the concurrent-jobs limit, then the available balance, then the key's spend cap. An
/// admitted creation counts against the next ones (its open generation, its hold).
pub(crate) fn admit(
    batch: &[PendingCreation],
    standing: &mut Standing,
) -> Vec<DbResult<(Row, Enqueued)>> {
    batch
        .iter()
        .map(|p| admit_one(&p.item.new, p.item.now, standing))
        .collect()
}

fn admit_one(new: &NewGeneration, now: i64, standing: &mut Standing) -> DbResult<(Row, Enqueued)> {
    let slot = (new.account_id.clone(), new.mode.as_str().to_string());
    let open = standing.open.get(&slot).copied().unwrap_or(0);
    if let Some(limit) = new.max_open
        && open >= i64::from(limit)
    {
        return Err(DbError::ConcurrencyLimit { limit, open });
    }
    let amount = new.credits_estimated;
    let (mut balance_after, mut held_after) = (0, 0);
    let mut spend = None;
    if amount > 0 {
        let (balance, held) = standing.balances.get(&slot).copied().unwrap_or((0, 0));
        if balance - held < amount {
            return Err(DbError::InsufficientCredits {
                required: amount,
                available: balance - held,
            });
        }
        if let Some(easel_core::credits::SpendCap {
            credits: cap,
            period,
        }) = new.spend_cap
        {
            let key = (new.api_key_id.clone(), period.start(now));
            let spent = standing.spent.get(&key).copied().unwrap_or(0);
            if spent + amount > cap {
                return Err(DbError::KeySpendCapReached {
                    cap,
                    spent,
                    required: amount,
                    period: period.as_str(),
                });
            }
            spend = Some((key, spent + amount));
        }
        (balance_after, held_after) = (balance, held + amount);
        standing
            .balances
            .insert(slot.clone(), (balance_after, held_after));
    }
    if let Some((key, spent)) = spend {
        standing.spent.insert(key, spent);
    }
    standing.open.insert(slot, open + 1);
    let due = standing.due.entry(new.job.queue.clone()).or_insert(0);
    let jobs_ahead = *due;
    *due = due.saturating_add(1).min(crate::JOBS_AHEAD_CAP);
    let generation = new.queued(now);
    let actor = easel_core::audit::Actor::key(&new.api_key_id);
    let row = Row {
        id: new.id.clone(),
        account_id: new.account_id.clone(),
        api_key_id: new.api_key_id.clone(),
        mode: new.mode.as_str(),
        model: new.model.clone(),
        kind: new.kind.as_str(),
        input: new.input.to_string(),
        end_user: new.end_user.clone(),
        metadata: new.metadata.as_ref().map(|m| m.to_string()),
        licence: new.licence.clone(),
        credits: amount,
        job_id: new.job.id.clone(),
        queue: new.job.queue.clone(),
        job_kind: new.job.kind.clone(),
        payload: new.job.payload.clone(),
        max_attempts: i64::from(new.job.max_attempts),
        run_at: new.job.run_at,
        expires_at: new.job.expires_at,
        created_at: now,
        event_id: easel_core::ids::IdKind::Event.generate(),
        event_data: crate::common::rows::generation_snapshot(&generation).to_string(),
        ledger_id: (amount > 0).then(|| easel_core::ids::IdKind::LedgerEntry.generate()),
        actor_type: actor.kind.as_str(),
        balance_after,
        held_after,
    };
    Ok((
        row,
        Enqueued {
            generation,
            jobs_ahead,
        },
    ))
}

#[cfg(test)]
mod tests {
    use easel_core::credits::{CapPeriod, SpendCap};
    use easel_core::mode::Mode;
    use easel_core::models::ModelKind;

    use super::*;
    use crate::NewJob;

    fn pending(account: &str, credits: i64, max_open: Option<u32>) -> PendingCreation {
        let (reply, _) = oneshot::channel();
        let item = Creation {
            new: NewGeneration {
                id: format!("gen_{account}_{credits}"),
                account_id: account.into(),
                api_key_id: format!("key_{account}"),
                mode: Mode::Live,
                model: "m".into(),
                kind: ModelKind::Image,
                input: serde_json::json!({"prompt": "p"}),
                end_user: None,
                metadata: None,
                licence: "non_commercial".into(),
                credits_estimated: credits,
                spend_cap: None,
                max_open,
                job: NewJob {
                    id: "job".into(),
                    queue: "q".into(),
                    kind: "k".into(),
                    payload: "{}".into(),
                    max_attempts: 1,
                    run_at: 5,
                    expires_at: None,
                    now: 5,
                },
            },
            now: 5,
            low_balance_credits: 0,
        };
        Pending { item, reply }
    }

    fn slot(account: &str) -> (String, String) {
        (account.into(), "live".into())
    }

    fn refusals(results: &[DbResult<(Row, Enqueued)>]) -> Vec<String> {
        results
            .iter()
            .map(|r| match r {
                Ok((row, _)) => format!("ok {} {}", row.balance_after, row.held_after),
                Err(e) => e.to_string(),
            })
            .collect()
    }

    #[test]
    fn each_creation_counts_against_the_next_and_a_refusal_against_none() {
        let mut standing = Standing::default();
        standing.balances.insert(slot("a"), (10, 2));
        let batch = [
            pending("a", 5, None),
            pending("a", 4, None),
            pending("a", 3, None),
            pending("a", 3, None),
        ];
        let results = admit(&batch, &mut standing);
        assert_eq!(
            refusals(&results),
            [
                "ok 10 7",
                "insufficient credits: 4 required, 3 available",
                "ok 10 10",
                "insufficient credits: 3 required, 0 available",
            ]
        );
        assert_eq!(standing.balances[&slot("a")], (10, 10));
        assert_eq!(standing.open[&slot("a")], 2);
    }

    #[test]
    fn the_concurrency_limit_counts_the_batch_s_own_admissions() {
        let mut standing = Standing::default();
        standing.open.insert(slot("a"), 1);
        let batch = [
            pending("a", 0, Some(3)),
            pending("b", 0, Some(1)),
            pending("a", 0, Some(3)),
            pending("a", 0, Some(3)),
            pending("b", 0, Some(1)),
        ];
        let results = admit(&batch, &mut standing);
        assert_eq!(
            refusals(&results),
            [
                "ok 0 0",
                "ok 0 0",
                "ok 0 0",
                "concurrent jobs limit reached: 3 of 3 open",
                "concurrent jobs limit reached: 1 of 1 open",
            ]
        );
    }

    #[test]
    fn a_spend_cap_counts_admitted_holds_only() {
        let mut standing = Standing::default();
        standing.balances.insert(slot("a"), (100, 0));
        let mut batch = [
            pending("a", 4, None),
            pending("a", 4, None),
            pending("a", 50, None),
            pending("a", 2, None),
        ];
        let cap = SpendCap {
            credits: 10,
            period: CapPeriod::Day,
        };
        for p in &mut batch {
            p.item.new.spend_cap = Some(cap);
        }
        standing
            .spent
            .insert(("key_a".into(), CapPeriod::Day.start(5)), 1);
        let results = admit(&batch, &mut standing);
        assert_eq!(
            refusals(&results),
            [
                "ok 100 4",
                "ok 100 8",
                "key spend cap reached: 9 of 10 spent this day, 50 required",
                "key spend cap reached: 9 of 10 spent this day, 2 required",
            ]
        );
    }

    #[test]
    fn each_queue_s_creations_line_up_behind_its_due_jobs() {
        let mut standing = Standing::default();
        standing.due.insert("q".into(), 7);
        let mut batch = [
            pending("a", 0, None),
            pending("a", 0, Some(1)),
            pending("a", 0, None),
            pending("b", 0, None),
        ];
        batch[3].item.new.job.queue = "other".into();
        let ahead: Vec<Option<i64>> = admit(&batch, &mut standing)
            .into_iter()
            .map(|r| r.ok().map(|(_, e)| e.jobs_ahead))
            .collect();
        // The refused one (the slot was taken by the first) takes no place in line.
        assert_eq!(ahead, [Some(7), None, Some(8), Some(0)]);
        assert_eq!(queues(&batch).len(), 2);
    }

    #[test]
    fn free_creations_take_no_hold_and_need_no_balance() {
        let mut standing = Standing::default();
        let batch = [pending("a", 0, None)];
        let results = admit(&batch, &mut standing);
        let (row, enqueued) = results.into_iter().next().and_then(Result::ok).unwrap();
        assert!(row.ledger_id.is_none());
        assert_eq!(enqueued.generation.credits_estimated, 0);
        assert!(standing.balances.is_empty());
        assert_eq!(accounts_json(&batch), r#"["a"]"#);
    }
}
