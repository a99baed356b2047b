//! Group commit: creations that share a transaction keep every guarantee a creation alone
//! has — exact balances across nodes, a refusal that touches nothing, each creation's own
//! answer when another in its batch cannot be written.

use std::sync::Arc;
use std::time::Duration;

use easel_core::credits::{CapPeriod, LedgerType, SpendCap};
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::models::ModelKind;
use easel_db::{
    DbError, DbResult, EnabledEvents, Generation, NewCredit, NewGeneration, NewJob, Store,
};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

const T0: i64 = 1_767_225_600_000;

fn new_generation(account_id: &str, key_id: &str, credits: i64) -> NewGeneration {
    NewGeneration {
        id: IdKind::Generation.generate(),
        account_id: account_id.into(),
        api_key_id: key_id.into(),
        mode: Mode::Live,
        model: "sandbox-image".into(),
        kind: ModelKind::Image,
        input: serde_json::json!({"prompt": "a red fox"}),
        end_user: None,
        metadata: None,
        licence: "non_commercial".into(),
        credits_estimated: credits,
        spend_cap: None,
        max_open: None,
        job: NewJob {
            id: IdKind::Job.generate(),
            queue: "generation:sandbox-image".into(),
            kind: "run_generation".into(),
            payload: "{}".into(),
            max_attempts: 3,
            run_at: T0,
            expires_at: Some(T0 + 600_000),
            now: T0,
        },
    }
}

/// An account with `credits` in live mode and a live key: (account, key).
async fn funded(store: &Arc<dyn Store>, email: &str, credits: i64) -> (String, String) {
    let (account, owner) = support::account(store, email).await;
    if credits > 0 {
        store
            .add_credits(NewCredit {
                account_id: account.id.clone(),
                mode: Mode::Live,
                entry_type: LedgerType::Grant,
                amount: credits,
                reference: None,
                reason: None,
                audit: support::audit(),
            })
            .await
            .unwrap_or_else(|e| panic!("add_credits: {e}"));
    }
    let key = support::key(store, &account.id, &owner.id, Mode::Live)
        .await
        .0;
    (account.id, key.id)
}

/// Every creation of `news` at once (each a task, as concurrent requests are), on the
/// stores in turn; results in the order given.
async fn create_all(
    stores: &[Arc<dyn Store>],
    news: Vec<NewGeneration>,
) -> Vec<DbResult<Generation>> {
    let tasks: Vec<_> = news
        .into_iter()
        .enumerate()
        .map(|(i, new)| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move { store.create_generation(new, T0).await })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(
            task.await
                .unwrap_or_else(|e| panic!("creation task panicked: {e}")),
        );
    }
    out
}

/// The ledger of an account's live mode is consistent with its balance: the amounts sum
/// to the balance, the held changes to what is held, and the last entry's running figures
/// are the balance row's.
async fn assert_ledger_matches(raw: &mut Raw, store: &Arc<dyn Store>, account: &str) {
    let balance = store
        .balance(account, Mode::Live)
        .await
        .unwrap_or_else(|e| panic!("balance: {e}"));
    let where_ = "FROM ledger_entries WHERE account_id = $1 AND mode = 'live'";
    let sum = |col: &str| format!("SELECT CAST(COALESCE(SUM({col}), 0) AS BIGINT) {where_}");
    assert_eq!(
        raw.scalar(&sum("amount"), &[account]).await,
        Some(balance.balance)
    );
    assert_eq!(
        raw.scalar(&sum("held_change"), &[account]).await,
        Some(balance.held)
    );
    let last = |col: &str| format!("SELECT {col} {where_} ORDER BY id DESC LIMIT 1");
    assert_eq!(
        raw.scalar(&last("balance_after"), &[account]).await,
        Some(balance.balance)
    );
    assert_eq!(
        raw.scalar(&last("held_after"), &[account]).await,
        Some(balance.held)
    );
}

both_backends!(
    creations_on_two_nodes_admit_exactly_what_the_balance_covers,
    |db: TestDb| async move {
        // Two stores on one database are two nodes, each batching its own creations.
        let stores = [support::store(&db).await, support::connect(&db).await];
        let (account, key) = funded(&stores[0], "exact@acme.test", 8 * 40).await;
        let news = (0..256)
            .map(|_| new_generation(&account, &key, 8))
            .collect();
        let results = create_all(&stores, news).await;
        let mut admitted = 0;
        for r in &results {
            match r {
                Ok(_) => admitted += 1,
                Err(DbError::InsufficientCredits {
                    required: 8,
                    available,
                }) => {
                    assert!(
                        (0..8).contains(available),
                        "refused with {available} available"
                    );
                }
                Err(e) => panic!("expected Ok or InsufficientCredits, got {e:?}"),
            }
        }
        assert_eq!(admitted, 40);
        let mut raw = Raw::connect(&db).await;
        for table in ["generations", "jobs", "holds"] {
            assert_eq!(raw.count(table, &[]).await, 40, "{table}");
        }
        assert_eq!(
            raw.count("events WHERE type = 'generation.queued'", &[])
                .await,
            40
        );
        assert_eq!(
            raw.count("ledger_entries WHERE type = 'hold'", &[]).await,
            40
        );
        // Each hold's running figure is one step of the one sequence, whichever node wrote it.
        assert_eq!(
            raw.scalar(
                "SELECT COUNT(DISTINCT held_after) FROM ledger_entries WHERE type = 'hold'",
                &[]
            )
            .await,
            Some(40)
        );
        let balance = stores[1]
            .balance(&account, Mode::Live)
            .await
            .unwrap_or_else(|e| panic!("balance: {e}"));
        assert_eq!((balance.balance, balance.held), (320, 320));
        assert_ledger_matches(&mut raw, &stores[0], &account).await;
        raw.close().await;
    }
);

/// `news` submitted while the writer is held behind one blocked creation, then released:
/// they run as one batch.
async fn create_in_one_batch(
    db: &TestDb,
    store: &Arc<dyn Store>,
    blocker: NewGeneration,
    news: Vec<NewGeneration>,
) -> Vec<DbResult<Generation>> {
    // PostgreSQL: the blocker's account row, which every creation batch locks first.
    let mut raw = Raw::hold_the_writer(
        db,
        &format!(
            "SELECT 1 FROM accounts WHERE id = '{}' FOR NO KEY UPDATE",
            blocker.account_id
        ),
    )
    .await;
    let first = {
        let store = store.clone();
        tokio::spawn(async move { store.create_generation(blocker, T0).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rest = {
        let store = store.clone();
        tokio::spawn(async move { create_all(&[store], news).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    raw.execute("COMMIT")
        .await
        .unwrap_or_else(|e| panic!("COMMIT: {e}"));
    raw.close().await;
    first
        .await
        .unwrap_or_else(|e| panic!("blocker panicked: {e}"))
        .unwrap_or_else(|e| panic!("the blocked creation: {e}"));
    rest.await.unwrap_or_else(|e| panic!("batch panicked: {e}"))
}

fn outcome(r: &DbResult<Generation>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(DbError::InsufficientCredits { .. }) => "credits".into(),
        Err(DbError::KeySpendCapReached { .. }) => "cap".into(),
        Err(DbError::ConcurrencyLimit { .. }) => "slots".into(),
        Err(DbError::NotFound) => "not found".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// How many of `results` (taken `n` at a time from the front) had each outcome.
fn tally(results: &mut std::vec::IntoIter<DbResult<Generation>>, n: usize) -> Vec<String> {
    let mut outcomes: Vec<String> = results.take(n).map(|r| outcome(&r)).collect();
    outcomes.sort();
    outcomes
}

both_backends!(
    refusals_inside_a_batch_leave_the_others_committed,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (rich, rich_key) = funded(&store, "rich@acme.test", 1_000).await;
        let (poor, poor_key) = funded(&store, "poor@acme.test", 10).await;
        let (capped, capped_key) = funded(&store, "capped@acme.test", 1_000).await;
        let (slots, slots_key) = funded(&store, "slots@acme.test", 0).await;
        // One endpoint, so the batch also writes webhook deliveries for one account.
        store
            .create_webhook_endpoint(
                easel_db::NewWebhookEndpoint {
                    account_id: rich.clone(),
                    mode: Mode::Live,
                    url: "https://hooks.example.com/easel".into(),
                    description: "orders".into(),
                    enabled_events: EnabledEvents::All,
                    secret: "whsec_first".into(),
                    enabled: true,
                },
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("create_webhook_endpoint: {e}"));

        let mut news = Vec::new();
        news.extend((0..6).map(|_| new_generation(&rich, &rich_key, 8)));
        news.extend((0..2).map(|_| new_generation(&poor, &poor_key, 8)));
        news.extend((0..3).map(|_| {
            let mut new = new_generation(&capped, &capped_key, 8);
            new.spend_cap = Some(SpendCap {
                credits: 16,
                period: CapPeriod::Day,
            });
            new
        }));
        news.extend((0..3).map(|_| {
            let mut new = new_generation(&slots, &slots_key, 0);
            new.max_open = Some(2);
            new
        }));
        let blocker = new_generation(&rich, &rich_key, 8);
        let results = create_in_one_batch(&db, &store, blocker, news).await;
        let mut results = results.into_iter();
        assert_eq!(tally(&mut results, 6), ["ok"; 6]);
        assert_eq!(tally(&mut results, 2), ["credits", "ok"]);
        assert_eq!(tally(&mut results, 3), ["cap", "ok", "ok"]);
        assert_eq!(tally(&mut results, 3), ["ok", "ok", "slots"]);

        let mut raw = Raw::connect(&db).await;
        let live = |account: &str| (account.to_string(), store.clone());
        for (account, expected) in [(&rich, 7), (&poor, 1), (&capped, 2), (&slots, 2)] {
            assert_eq!(
                raw.count("generations WHERE account_id = $1", &[account])
                    .await,
                expected,
                "generations of {account}"
            );
            if *account != slots {
                let (account, store) = live(account);
                assert_ledger_matches(&mut raw, &store, &account).await;
            }
        }
        assert_eq!(raw.count("jobs", &[]).await, 12);
        assert_eq!(raw.count("holds", &[]).await, 10);
        assert_eq!(
            raw.count("events WHERE type = 'generation.queued'", &[])
                .await,
            12
        );
        // The rich account's seven creations, and only they, have a delivery each.
        assert_eq!(
            raw.count(
                "webhook_deliveries WHERE account_id = $1 AND event_type = 'generation.queued'",
                &[&rich]
            )
            .await,
            7
        );
        assert_eq!(raw.count("webhook_deliveries", &[]).await, 7);
        let poor_balance = store
            .balance(&poor, Mode::Live)
            .await
            .unwrap_or_else(|e| panic!("balance: {e}"));
        assert_eq!((poor_balance.balance, poor_balance.held), (10, 8));

        // A creation that cannot be written at all (its key does not exist) fails alone:
        // the batch is rolled back and its creations run one by one.
        let mut news: Vec<NewGeneration> = (0..4)
            .map(|_| new_generation(&rich, &rich_key, 8))
            .collect();
        news.insert(2, new_generation(&rich, "key_does_not_exist", 8));
        let results =
            create_in_one_batch(&db, &store, new_generation(&rich, &rich_key, 8), news).await;
        let outcomes: Vec<String> = results.iter().map(outcome).collect();
        assert_eq!(outcomes, ["ok", "ok", "not found", "ok", "ok"]);
        assert_eq!(
            raw.count("generations WHERE account_id = $1", &[&rich])
                .await,
            12
        );
        assert_eq!(raw.count("jobs", &[]).await, 17);
        assert_eq!(raw.count("webhook_deliveries", &[]).await, 12);
        let (rich, store) = live(&rich);
        assert_ledger_matches(&mut raw, &store, &rich).await;
        raw.close().await;
    }
);

both_backends!(
    each_creation_learns_its_queue_position,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, key) = funded(&store, "line@acme.test", 1_000).await;
        let mut ahead = Vec::new();
        for _ in 0..3 {
            let enqueued = store
                .enqueue_generation(new_generation(&account, &key, 1), T0)
                .await
                .unwrap_or_else(|e| panic!("enqueue_generation: {e}"));
            ahead.push(enqueued.jobs_ahead);
        }
        assert_eq!(ahead, [0, 1, 2]);
        // At once, in whatever batches they fall into: each a place of its own.
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let store = store.clone();
                let new = new_generation(&account, &key, 1);
                tokio::spawn(async move { store.enqueue_generation(new, T0).await })
            })
            .collect();
        let mut ahead = Vec::new();
        for task in tasks {
            let enqueued = task
                .await
                .unwrap_or_else(|e| panic!("task panicked: {e}"))
                .unwrap_or_else(|e| panic!("enqueue_generation: {e}"));
            ahead.push(enqueued.jobs_ahead);
        }
        ahead.sort_unstable();
        assert_eq!(ahead, (3..13).collect::<Vec<i64>>());
        // Another queue has its own line; a job due later (a retry) is not ahead.
        let mut raw = Raw::connect(&db).await;
        raw.execute(&format!(
            "UPDATE jobs SET run_at = {} WHERE id IN (SELECT id FROM jobs ORDER BY id LIMIT 2)",
            T0 + 60_000
        ))
        .await
        .unwrap_or_else(|e| panic!("delay two jobs: {e}"));
        raw.close().await;
        let mut other = new_generation(&account, &key, 1);
        other.job.queue = "generation:other".into();
        let enqueued = store
            .enqueue_generation(other, T0)
            .await
            .unwrap_or_else(|e| panic!("enqueue_generation: {e}"));
        assert_eq!(enqueued.jobs_ahead, 0);
        let enqueued = store
            .enqueue_generation(new_generation(&account, &key, 1), T0)
            .await
            .unwrap_or_else(|e| panic!("enqueue_generation: {e}"));
        assert_eq!(enqueued.jobs_ahead, 11);
    }
);

/// The account's live generations still open: (by the counter, by a count).
async fn open_generations(raw: &mut Raw, account: &str) -> (i64, i64) {
    let counted = raw
        .scalar(
            "SELECT COUNT(*) FROM generations WHERE account_id = $1 AND mode = 'live' \
             AND status IN ('queued', 'running')",
            &[account],
        )
        .await
        .unwrap_or_else(|| panic!("COUNT(*) gave no row"));
    let counter = raw
        .scalar(
            "SELECT open FROM open_generations WHERE account_id = $1 AND mode = 'live'",
            &[account],
        )
        .await;
    // No row: the account never had an open generation.
    (counter.unwrap_or(0), counted)
}

both_backends!(
    the_open_count_follows_creations_and_every_way_a_generation_ends,
    |db: TestDb| async move {
        // Creations on two nodes against a concurrency limit, while a worker claims and
        // succeeds or fails jobs and a client cancels: the counter the limit reads stays
        // the number of open generations, and no lock order makes two of them deadlock
        // (PostgreSQL reports one after a second, which fails a call here).
        let stores = [support::store(&db).await, support::connect(&db).await];
        let (account, key) = funded(&stores[0], "busy@acme.test", 100_000).await;
        let (ids, mut created) = tokio::sync::mpsc::unbounded_channel::<String>();
        let creators: Vec<_> = stores
            .iter()
            .map(|store| {
                let (store, account, key, ids) =
                    (store.clone(), account.clone(), key.clone(), ids.clone());
                tokio::spawn(async move {
                    for round in 0..40 {
                        let news = (0..4)
                            .map(|_| {
                                let mut new = new_generation(&account, &key, 5);
                                new.max_open = Some(6);
                                new
                            })
                            .collect();
                        for r in create_all(std::slice::from_ref(&store), news).await {
                            match r {
                                Ok(g) => {
                                    let _ = ids.send(g.id);
                                }
                                Err(DbError::ConcurrencyLimit { limit: 6, .. }) => {}
                                Err(e) => panic!("creation in round {round}: {e:?}"),
                            }
                        }
                    }
                })
            })
            .collect();
        drop(ids);
        let canceler = {
            let (store, account) = (stores[0].clone(), account.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while let Some(id) = created.recv().await {
                    n += 1;
                    if n % 3 == 0 {
                        store
                            .cancel_generation(&account, Mode::Live, &id, T0 + 1)
                            .await
                            .unwrap_or_else(|e| panic!("cancel_generation: {e:?}"));
                    }
                }
            })
        };
        let worker = |store: Arc<dyn Store>, stop: Arc<std::sync::atomic::AtomicBool>| async move {
            let mut n = 0;
            loop {
                let job = store
                    .claim("generation:sandbox-image", "w", T0 + 60_000, T0 + 1)
                    .await
                    .unwrap_or_else(|e| panic!("claim: {e:?}"));
                let Some(job) = job else {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return n;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                };
                n += 1;
                if n % 4 == 0 {
                    let end = easel_db::GenerationEnd {
                        status: easel_core::jobs::JobStatus::Failed,
                        error_code: Some("backend_error".into()),
                        error_message: Some("out of memory".into()),
                    };
                    store
                        .end_generation(&job.id, end, T0 + 2)
                        .await
                        .unwrap_or_else(|e| panic!("end_generation: {e:?}"));
                } else {
                    store
                        .succeed_generation(&job.id, "w", Vec::new(), 3, None, T0 + 2)
                        .await
                        .unwrap_or_else(|e| panic!("succeed_generation: {e:?}"));
                }
            }
        };
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = stores
            .iter()
            .map(|store| tokio::spawn(worker(store.clone(), stop.clone())))
            .collect();
        for task in creators {
            task.await.unwrap_or_else(|e| panic!("creator: {e}"));
        }
        canceler.await.unwrap_or_else(|e| panic!("canceler: {e}"));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut ran = 0;
        for task in workers {
            ran += task.await.unwrap_or_else(|e| panic!("worker: {e}"));
        }
        assert!(ran > 20, "the workers ran only {ran} jobs");

        let mut raw = Raw::connect(&db).await;
        let ended = raw
            .count(
                "generations WHERE account_id = $1 AND status IN ('succeeded', 'failed', 'canceled')",
                &[&account],
            )
            .await;
        assert!(ended > 40, "only {ended} generations ended");
        assert_eq!(open_generations(&mut raw, &account).await, (0, 0));
        // And one left open is counted.
        let mut new = new_generation(&account, &key, 5);
        new.max_open = Some(6);
        stores[1]
            .create_generation(new, T0 + 3)
            .await
            .unwrap_or_else(|e| panic!("create_generation: {e:?}"));
        assert_eq!(open_generations(&mut raw, &account).await, (1, 1));
        assert_ledger_matches(&mut raw, &stores[0], &account).await;
        raw.close().await;
    }
);

fn output(generation: &str) -> easel_db::Output {
    easel_db::Output {
        idx: 0,
        path: format!("outputs/{generation}/0.png"),
        content_type: "image/png".into(),
        width: 256,
        height: 256,
        duration_ms: None,
        bytes: 1234,
        expires_at: T0 + 86_400_000,
        deleted_at: None,
    }
}

both_backends!(
    successes_that_arrive_together_each_end_once,
    |db: TestDb| async move {
        // Successes of three accounts' jobs on two nodes at once, each sent twice (a
        // retried completion), one by a worker that no longer holds its job, and one for a
        // job that does not exist (it fails its batch, which is then written one success at
        // a time): every job ends once, with one output and one capture.
        let stores = [support::store(&db).await, support::connect(&db).await];
        let mut accounts = Vec::new();
        for n in 0..3 {
            let (account, key) = funded(&stores[0], &format!("s{n}@acme.test"), 1_000).await;
            for _ in 0..10 {
                stores[n % 2]
                    .create_generation(new_generation(&account, &key, 5), T0)
                    .await
                    .unwrap_or_else(|e| panic!("create_generation: {e:?}"));
            }
            accounts.push(account);
        }
        let mut jobs = Vec::new();
        while let Some(job) = stores[0]
            .claim("generation:sandbox-image", "w", T0 + 60_000, T0 + 1)
            .await
            .unwrap_or_else(|e| panic!("claim: {e:?}"))
        {
            jobs.push(job.id);
        }
        assert_eq!(jobs.len(), 30);
        let stolen = jobs[7].clone();
        let mut calls = Vec::new();
        for round in 0..2 {
            for (i, job) in jobs.iter().enumerate() {
                let worker = if *job == stolen { "someone-else" } else { "w" };
                calls.push((stores[(i + round) % 2].clone(), job.clone(), worker));
            }
        }
        calls.push((stores[1].clone(), "job_missing".to_string(), "w"));
        let tasks: Vec<_> = calls
            .into_iter()
            .map(|(store, job, worker)| {
                tokio::spawn(async move {
                    let g = job.clone();
                    let r = store
                        .succeed_generation(&job, worker, vec![output(&g)], 3, None, T0 + 2)
                        .await;
                    (job, r)
                })
            })
            .collect();
        let mut ended = std::collections::HashMap::<String, usize>::new();
        for task in tasks {
            let (job, r) = task.await.unwrap_or_else(|e| panic!("task: {e}"));
            match r {
                Ok(Some(g)) => {
                    assert_eq!(g.status.as_str(), "succeeded", "{job}");
                    assert_eq!(g.credits_charged, Some(3));
                    *ended.entry(job).or_default() += 1;
                }
                Ok(None) => {}
                Err(DbError::NotFound) if job == "job_missing" => {}
                Err(e) => panic!("succeed_generation({job}): {e:?}"),
            }
        }
        assert_eq!(ended.len(), 29, "every held job ended");
        assert!(ended.values().all(|n| *n == 1), "{ended:?}");
        assert!(!ended.contains_key(&stolen));

        let mut raw = Raw::connect(&db).await;
        assert_eq!(raw.count("outputs", &[]).await, 29);
        assert_eq!(
            raw.count("events WHERE type = 'generation.succeeded'", &[])
                .await,
            29
        );
        assert_eq!(
            raw.count("ledger_entries WHERE type = 'capture'", &[])
                .await,
            29
        );
        for account in &accounts {
            assert_ledger_matches(&mut raw, &stores[0], account).await;
            let open = open_generations(&mut raw, account).await;
            assert_eq!(open.0, open.1, "{account}");
        }
        let balances: Vec<(i64, i64)> = {
            let mut out = Vec::new();
            for account in &accounts {
                let b = stores[1]
                    .balance(account, Mode::Live)
                    .await
                    .unwrap_or_else(|e| panic!("balance: {e}"));
                out.push((b.balance, b.held));
            }
            out
        };
        // The stolen job's account still holds its 5; every other success captured 3.
        let mut sorted = balances.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [(970, 0), (970, 0), (973, 5)]);
        raw.close().await;
    }
);
