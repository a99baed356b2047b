//! The store half of group commit (see `group_commit`): one batch of creations, read,
//! decided and written in one transaction.
//!
//! The expanding type provides `begin_on(pool)`, `lock_creation_accounts(tx, accounts)`,
//! the consts `CREATION_BALANCES` and `CREATION_OPEN`, and `write_creations()`.

macro_rules! impl_creation_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            /// The batching task's work: writes `batch` and answers each creation in it.
            pub(crate) async fn run_creations(
                read: sqlx::Pool<$Db>,
                pool: sqlx::Pool<$Db>,
                batch: Vec<$crate::common::group_commit::PendingCreation>,
            ) {
                let results = batch_or_one_by_one!(&batch[..], "creations", |part| {
                    Self::creation_batch(&read, &pool, part).await
                });
                $crate::common::group_commit::answer(batch, results);
            }

            /// One transaction: the checks' reads, the decisions, the writes of what was
            /// admitted, the commit. `Err` means nothing was written.
            async fn creation_batch(
                read: &sqlx::Pool<$Db>,
                pool: &sqlx::Pool<$Db>,
                batch: &[$crate::common::group_commit::PendingCreation],
            ) -> $crate::DbResult<Vec<$crate::DbResult<$crate::Enqueued>>> {
                use $crate::common::group_commit as gc;
                let accounts = gc::accounts_json(batch);
                let mut standing = gc::Standing::default();
                // Positions are read before the write lock is taken (on SQLite, the only
                // writer's time is what bounds every write); a job claimed meanwhile
                // makes them one too high, as any position is a moment later.
                for (queue, due_by) in gc::queues(batch) {
                    let (due,): (i64,) = sqlx::query_as($crate::sql::JOBS_DUE)
                        .bind(&queue)
                        .bind(due_by)
                        .bind($crate::JOBS_AHEAD_CAP)
                        .fetch_one(read)
                        .await?;
                    standing.due.insert(queue, due);
                }
                let mut tx = Self::begin_on(pool).await?;
                Self::lock_creation_accounts(&mut tx, &accounts).await?;
                // Read (and on PostgreSQL locked) even when no creation is limited: the
                // batch's inserts update these rows, and must find them already held.
                let rows: Vec<(String, String, i64)> = sqlx::query_as(Self::CREATION_OPEN)
                    .bind(&accounts)
                    .fetch_all(&mut *tx)
                    .await?;
                for (account, mode, open) in rows {
                    standing.open.insert((account, mode), open);
                }
                if batch.iter().any(|p| p.item.new.credits_estimated > 0) {
                    let rows: Vec<(String, String, i64, i64)> =
                        sqlx::query_as(Self::CREATION_BALANCES)
                            .bind(&accounts)
                            .fetch_all(&mut *tx)
                            .await?;
                    for (account, mode, balance, held) in rows {
                        standing.balances.insert((account, mode), (balance, held));
                    }
                    for (key, since) in gc::capped_keys(batch) {
                        // Under the account lock (PostgreSQL) or the only writer (SQLite),
                        // no other hold of the key can land before this batch commits.
                        let (spent,): (i64,) = sqlx::query_as($crate::sql::KEY_SPENT_SINCE)
                            .bind(&key)
                            .bind(since)
                            .fetch_one(&mut *tx)
                            .await?;
                        standing.spent.insert((key, since), spent);
                    }
                }
                // The live balances before this batch's holds: a hold that takes one below
                // the `credits.low` threshold is told in this transaction, from what was
                // read anyway (no query unless one crossed).
                let threshold = batch.first().map_or(0, |p| p.item.low_balance_credits);
                let before = gc::live_available(&standing, threshold);
                let decisions = gc::admit(batch, &mut standing);
                let rows: Vec<&gc::Row> = decisions
                    .iter()
                    .filter_map(|d| d.as_ref().ok().map(|(row, _)| row))
                    .collect();
                if rows.is_empty() {
                    // Only refusals: nothing to write or commit.
                    tx.rollback().await?;
                } else {
                    let rows = serde_json::to_string(&rows)
                        .map_err(|e| $crate::DbError::Corrupt(format!("a creation row: {e}")))?;
                    sqlx::query(Self::write_creations())
                        .bind(&rows)
                        .execute(&mut *tx)
                        .await?;
                    let now = batch.iter().map(|p| p.item.now).max().unwrap_or_default();
                    for (account, available) in before {
                        let slot = (account, easel_core::mode::Mode::Live.as_str().to_string());
                        let Some(&after) = standing.balances.get(&slot) else {
                            continue;
                        };
                        Self::insert_low_balance_event(
                            &mut tx,
                            threshold,
                            (&slot.0, &slot.1),
                            available,
                            after,
                            now,
                        )
                        .await?;
                    }
                    tx.commit().await?;
                }
                Ok(decisions
                    .into_iter()
                    .map(|d| d.map(|(_, enqueued)| enqueued))
                    .collect())
            }
        }
    };
}
