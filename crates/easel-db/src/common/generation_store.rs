//! `GenerationStore`: generations, outputs and events, changed together with their jobs.

macro_rules! impl_generation_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            /// The success-recording task's work: ends `batch` in one transaction and
            /// answers each. On PostgreSQL a success locks its account's open-generation
            /// counter and then its balance; the batch takes them account by account in id
            /// order, as a batch of creations does. A batch that fails is written again one
            /// success per transaction, so that only the one at fault fails.
            pub(crate) async fn run_successes(
                pool: sqlx::Pool<$Db>,
                batch: Vec<$crate::common::group_commit::PendingSuccess>,
            ) {
                let results = batch_or_one_by_one!(&batch[..], "successes", |part| {
                    Self::successes_in_one(&pool, part).await
                });
                $crate::common::group_commit::answer(batch, results);
            }

            async fn successes_in_one(
                pool: &sqlx::Pool<$Db>,
                batch: &[$crate::common::group_commit::PendingSuccess],
            ) -> $crate::DbResult<Vec<$crate::DbResult<Option<$crate::Generation>>>> {
                let mut tx = Self::begin_on(pool).await?;
                let mut current = Vec::with_capacity(batch.len());
                for (i, p) in batch.iter().enumerate() {
                    let g = Self::one_generation(&mut tx, "job_id = $1", &p.item.job_id).await?;
                    current.push((i, g));
                }
                current.sort_by(|(_, a), (_, b)| {
                    (&a.account_id, a.mode.as_str(), &a.job_id).cmp(&(
                        &b.account_id,
                        b.mode.as_str(),
                        &b.job_id,
                    ))
                });
                let accounts: std::collections::BTreeSet<&str> =
                    current.iter().map(|(_, g)| g.account_id.as_str()).collect();
                let leases: std::collections::BTreeSet<&str> = batch
                    .iter()
                    .filter(|p| p.item.completion.is_some())
                    .map(|p| p.item.worker.as_str())
                    .collect();
                Self::lock_for_successes(
                    &mut tx,
                    &serde_json::Value::from(accounts.into_iter().collect::<Vec<_>>()).to_string(),
                    &serde_json::Value::from(leases.into_iter().collect::<Vec<_>>()).to_string(),
                )
                .await?;
                let mut results: Vec<$crate::DbResult<Option<$crate::Generation>>> =
                    (0..batch.len()).map(|_| Ok(None)).collect();
                for (i, g) in &current {
                    results[*i] = Ok(Self::succeed_in(&mut tx, &batch[*i].item, g).await?);
                }
                tx.commit().await?;
                Ok(results)
            }

            /// Inside a write transaction: one success (see
            /// `GenerationStore::succeed_generation`); `current` is the generation as read
            /// in this transaction. Writes nothing when the job was no longer held.
            async fn succeed_in(
                tx: &mut sqlx::Transaction<'_, $Db>,
                c: &$crate::common::group_commit::Success,
                current: &$crate::Generation,
            ) -> $crate::DbResult<Option<$crate::Generation>> {
                let (job_id, worker, now) = (c.job_id.as_str(), c.worker.as_str(), c.now);
                let (outputs, credits_charged) = (&c.outputs, c.credits_charged);
                let completion = c.completion.as_deref();
                // Deleted while it ran (the delete asked the job to stop, but it finished
                // first): the outputs are not kept or charged; it ends canceled instead.
                if current.deleted_at.is_some() {
                    let held = sqlx::query($crate::sql::FINISH_CANCELED_JOB)
                        .bind(job_id)
                        .bind(worker)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                    if held.rows_affected() == 0 {
                        return Ok(None);
                    }
                    if let Some(digest) = completion {
                        let succeeded = $crate::LeaseOutcome::Succeeded;
                        Self::end_lease_in(tx, worker, succeeded, Some(digest), now).await?;
                    }
                    let changed = Self::mark_ended(
                        tx,
                        job_id,
                        easel_core::jobs::JobStatus::Canceled,
                        None,
                        now,
                    )
                    .await?;
                    let g = Self::one_generation(tx, "job_id = $1", job_id).await?;
                    if changed {
                        Self::settle_hold(tx, &g.id, None, None, now).await?;
                        Self::insert_event(tx, &g, "generation.canceled", now).await?;
                    }
                    return Ok(Some(g));
                }
                let held = sqlx::query($crate::sql::COMPLETE_JOB)
                    .bind(job_id)
                    .bind(worker)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                if held.rows_affected() == 0 {
                    return Ok(None);
                }
                let succeeded: Option<(String,)> =
                    sqlx::query_as($crate::sql::GENERATION_SUCCEEDED)
                        .bind(job_id)
                        .bind(credits_charged)
                        .bind(now)
                        .fetch_optional(&mut **tx)
                        .await?;
                // The job was held, so its generation was open (the two end together).
                let generation_id = match succeeded {
                    Some((id,)) => id,
                    None => Self::one_generation(tx, "job_id = $1", job_id).await?.id,
                };
                for o in outputs {
                    sqlx::query($crate::sql::INSERT_OUTPUT)
                        .bind(&generation_id)
                        .bind(i32::try_from(o.idx).unwrap_or(i32::MAX))
                        .bind(&o.path)
                        .bind(&o.content_type)
                        .bind(i32::try_from(o.width).unwrap_or(i32::MAX))
                        .bind(i32::try_from(o.height).unwrap_or(i32::MAX))
                        .bind(o.duration_ms)
                        .bind(o.bytes)
                        .bind(o.expires_at)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                }
                let g = Self::one_generation(tx, "job_id = $1", job_id).await?;
                Self::insert_event(tx, &g, "generation.succeeded", now).await?;
                if let Some(digest) = completion {
                    let succeeded = $crate::LeaseOutcome::Succeeded;
                    Self::end_lease_in(tx, worker, succeeded, Some(digest), now).await?;
                }
                // Last, like the hold: the balance row is locked until the commit.
                Self::settle_hold(tx, &g.id, Some(credits_charged), None, now).await?;
                Ok(Some(g))
            }

            async fn insert_event(
                tx: &mut sqlx::Transaction<'_, $Db>,
                g: &$crate::Generation,
                event_type: &str,
                now: i64,
            ) -> $crate::DbResult<()> {
                let data = $crate::common::rows::generation_snapshot(g);
                Self::insert_event_row(tx, &g.account_id, g.mode.as_str(), event_type, &data, now)
                    .await
            }

            /// Generations matching `filter_sql` (binding `bind`), with their outputs.
            async fn load_generations(
                conn: &mut <$Db as sqlx::Database>::Connection,
                filter_sql: &str,
                bind: &str,
            ) -> $crate::DbResult<Vec<$crate::Generation>> {
                let sql = format!("{} WHERE {filter_sql}", $crate::sql::GENERATIONS_FROM);
                let rows = sqlx::query_as::<_, $crate::common::rows::GenerationRow>(&sql)
                    .bind(bind)
                    .fetch_all(&mut *conn)
                    .await?;
                Self::attach_outputs(conn, rows).await
            }

            async fn attach_outputs(
                conn: &mut <$Db as sqlx::Database>::Connection,
                rows: Vec<$crate::common::rows::GenerationRow>,
            ) -> $crate::DbResult<Vec<$crate::Generation>> {
                let ids: Vec<String> = rows
                    .iter()
                    .filter(|r| r.may_have_outputs())
                    .map(|r| r.id().to_string())
                    .collect();
                if ids.is_empty() {
                    return rows
                        .into_iter()
                        .map(|r| r.into_generation(Vec::new()))
                        .collect();
                }
                let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "{} WHERE generation_id IN ({}) ORDER BY generation_id, idx",
                    $crate::sql::OUTPUTS_FROM,
                    placeholders.join(", ")
                );
                let mut query = sqlx::query_as::<_, $crate::common::rows::OutputRow>(&sql);
                for id in &ids {
                    query = query.bind(id);
                }
                let mut outputs: std::collections::HashMap<String, Vec<$crate::Output>> =
                    std::collections::HashMap::new();
                for row in query.fetch_all(&mut *conn).await? {
                    outputs
                        .entry(row.generation_id.clone())
                        .or_default()
                        .push(row.into());
                }
                rows.into_iter()
                    .map(|r| {
                        let mine = outputs.remove(r.id()).unwrap_or_default();
                        r.into_generation(mine)
                    })
                    .collect()
            }

            async fn one_generation(
                conn: &mut <$Db as sqlx::Database>::Connection,
                filter_sql: &str,
                bind: &str,
            ) -> $crate::DbResult<$crate::Generation> {
                Self::load_generations(conn, filter_sql, bind)
                    .await?
                    .pop()
                    .ok_or($crate::DbError::NotFound)
            }

            /// Inside a write transaction: marks the queued generation of `job_id` running,
            /// with its `generation.running` event, and returns it; `None` (nothing
            /// written) if it was not queued (already running from an earlier attempt,
            /// ended, or a job without a generation).
            pub(crate) async fn start_generation(
                tx: &mut sqlx::Transaction<'_, $Db>,
                job_id: &str,
                now: i64,
            ) -> $crate::DbResult<Option<$crate::Generation>> {
                let row: Option<$crate::common::rows::GenerationRow> =
                    sqlx::query_as($crate::sql::GENERATION_RUNNING)
                        .bind(job_id)
                        .bind(now)
                        .fetch_optional(&mut **tx)
                        .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let g = row.into_generation(Vec::new())?;
                Self::insert_event(tx, &g, "generation.running", now).await?;
                Ok(Some(g))
            }

            /// Inside a write transaction: ends the open generation of `job_id` with `status`
            /// and an optional error. Returns whether it changed (it was still open).
            async fn mark_ended(
                tx: &mut sqlx::Transaction<'_, $Db>,
                job_id: &str,
                status: easel_core::jobs::JobStatus,
                error: Option<(&str, &str)>,
                now: i64,
            ) -> $crate::DbResult<bool> {
                let changed = sqlx::query($crate::sql::GENERATION_ENDED)
                    .bind(job_id)
                    .bind(status.as_str())
                    .bind(error.map(|e| e.0))
                    .bind(error.map(|e| e.1))
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                Ok(changed.rows_affected() == 1)
            }

            /// Inside a write transaction: cancels the generation's job if it is still queued
            /// (ending the generation with it, with its event), or asks the running job to
            /// stop (the generation ends when the job does). Returns whether it ended now.
            async fn cancel_job_of(
                tx: &mut sqlx::Transaction<'_, $Db>,
                g: &$crate::Generation,
                now: i64,
            ) -> $crate::DbResult<bool> {
                let canceled = sqlx::query($crate::sql::CANCEL_QUEUED_JOB)
                    .bind(&g.job_id)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                if canceled.rows_affected() == 0 {
                    sqlx::query($crate::sql::REQUEST_JOB_CANCEL)
                        .bind(&g.job_id)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                    return Ok(false);
                }
                Self::mark_ended(
                    tx,
                    &g.job_id,
                    easel_core::jobs::JobStatus::Canceled,
                    None,
                    now,
                )
                .await?;
                Self::settle_hold(tx, &g.id, None, None, now).await?;
                let ended = Self::one_generation(tx, "id = $1", &g.id).await?;
                Self::insert_event(tx, &ended, "generation.canceled", now).await?;
                Ok(true)
            }

            /// A generation scoped to its account and mode: other accounts' and modes'
            /// generations are `NotFound`, like missing ones.
            async fn scoped_generation(
                conn: &mut <$Db as sqlx::Database>::Connection,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
            ) -> $crate::DbResult<$crate::Generation> {
                let g = Self::one_generation(conn, "id = $1", id).await?;
                if g.account_id != account_id || g.mode != mode {
                    return Err($crate::DbError::NotFound);
                }
                Ok(g)
            }
        }

        #[async_trait::async_trait]
        impl $crate::GenerationStore for $Store {
            async fn enqueue_generation(
                &self,
                new: $crate::NewGeneration,
                now: i64,
            ) -> $crate::DbResult<$crate::Enqueued> {
                // Shares a transaction with the creations waiting at the same moment.
                self.creations
                    .submit($crate::common::group_commit::Creation {
                        new,
                        now,
                        low_balance_credits: self.events.low_balance_credits(),
                    })
                    .await
            }

            async fn get_generation(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
            ) -> $crate::DbResult<$crate::Generation> {
                let mut conn = self.read().acquire().await?;
                Self::scoped_generation(&mut conn, account_id, mode, id).await
            }

            async fn generation_for_job(
                &self,
                job_id: &str,
            ) -> $crate::DbResult<$crate::Generation> {
                let mut conn = self.read().acquire().await?;
                Self::one_generation(&mut conn, "job_id = $1", job_id).await
            }

            async fn unsettled_generation_jobs(
                &self,
                limit: i64,
            ) -> $crate::DbResult<Vec<$crate::Job>> {
                let sql = $crate::sql::UNSETTLED_GENERATION_JOBS
                    .replace("{columns}", $crate::sql::JOB_COLUMNS);
                sqlx::query_as::<_, $crate::common::rows::JobRow>(&sql)
                    .bind(limit)
                    .fetch_all(self.read())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn expired_outputs(
                &self,
                now: i64,
                limit: i64,
            ) -> $crate::DbResult<Vec<(String, $crate::Output)>> {
                let rows = sqlx::query_as::<_, $crate::common::rows::OutputRow>(
                    $crate::sql::EXPIRED_OUTPUTS,
                )
                .bind(now)
                .bind(limit)
                .fetch_all(self.read())
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| (r.generation_id.clone(), r.into()))
                    .collect())
            }

            async fn mark_output_deleted(
                &self,
                generation_id: &str,
                idx: u32,
                now: i64,
            ) -> $crate::DbResult<()> {
                sqlx::query($crate::sql::MARK_OUTPUT_DELETED)
                    .bind(generation_id)
                    .bind(i32::try_from(idx).unwrap_or(i32::MAX))
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn get_output(
                &self,
                generation_id: &str,
                idx: u32,
            ) -> $crate::DbResult<$crate::Output> {
                let row = sqlx::query_as::<_, $crate::common::rows::OutputRow>(
                    $crate::sql::SELECT_OUTPUT,
                )
                .bind(generation_id)
                .bind(i32::try_from(idx).unwrap_or(i32::MAX))
                .fetch_optional(self.read())
                .await?;
                row.map(Into::into).ok_or($crate::DbError::NotFound)
            }

            async fn list_generations(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                filter: $crate::GenerationFilter,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::Generation>> {
                let mut conditions = vec![
                    "account_id = $1".to_string(),
                    "mode = $2".to_string(),
                    "deleted_at IS NULL".to_string(),
                ];
                let mut next = 3;
                if filter.status.is_some() {
                    conditions.push(format!("status = ${next}"));
                    next += 1;
                }
                if filter.model.is_some() {
                    conditions.push(format!("model = ${next}"));
                    next += 1;
                }
                let (keyset, limit) = page.keyset("id", next);
                let sql = format!(
                    "{} WHERE {}{keyset} ORDER BY id DESC {limit}",
                    $crate::sql::GENERATIONS_FROM,
                    conditions.join(" AND ")
                );
                let mut query = sqlx::query_as::<_, $crate::common::rows::GenerationRow>(&sql)
                    .bind(account_id)
                    .bind(mode.as_str());
                if let Some(status) = filter.status {
                    query = query.bind(status.as_str());
                }
                if let Some(model) = &filter.model {
                    query = query.bind(model);
                }
                if let Some(cursor) = &page.starting_after {
                    query = query.bind(cursor);
                }
                let mut conn = self.read().acquire().await?;
                let rows = query.bind(page.fetch()).fetch_all(&mut *conn).await?;
                Self::attach_outputs(&mut conn, rows).await
            }

            async fn record_engine_usage(
                &self,
                generation_id: &str,
                usage: &serde_json::Value,
            ) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query($crate::sql::GENERATION_ENGINE_USAGE)
                    .bind(generation_id)
                    .bind(usage.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn mark_generation_running(
                &self,
                job_id: &str,
                now: i64,
            ) -> $crate::DbResult<$crate::Generation> {
                let mut tx = self.begin_write().await?;
                let g = match Self::start_generation(&mut tx, job_id, now).await? {
                    Some(g) => g,
                    None => Self::one_generation(&mut tx, "job_id = $1", job_id).await?,
                };
                tx.commit().await?;
                Ok(g)
            }

            async fn succeed_generation(
                &self,
                job_id: &str,
                worker: &str,
                outputs: Vec<$crate::Output>,
                credits_charged: i64,
                completion: Option<&str>,
                now: i64,
            ) -> $crate::DbResult<Option<$crate::Generation>> {
                // Shares a transaction with the successes that arrived at the same moment.
                self.successes
                    .submit($crate::common::group_commit::Success {
                        job_id: job_id.to_string(),
                        worker: worker.to_string(),
                        outputs,
                        credits_charged,
                        completion: completion.map(str::to_string),
                        now,
                    })
                    .await
            }

            async fn block_generation(
                &self,
                job_id: &str,
                worker: &str,
                policy: easel_core::credits::BlockedOutputPolicy,
                message: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<Option<$crate::Generation>> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                let error = format!("output_moderated: {message}");
                let failed: Option<(String,)> = sqlx::query_as($crate::sql::FAIL_JOB)
                    .bind(job_id)
                    .bind(worker)
                    .bind(&error)
                    .bind(Option::<i64>::None)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                if failed.is_none() {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let changed = Self::mark_ended(
                    &mut tx,
                    job_id,
                    easel_core::jobs::JobStatus::Failed,
                    Some(("output_moderated", message)),
                    now,
                )
                .await?;
                let g = Self::one_generation(&mut tx, "job_id = $1", job_id).await?;
                if changed {
                    let reason =
                        format!("output blocked by moderation (policy: {})", policy.as_str());
                    let captured = match policy {
                        easel_core::credits::BlockedOutputPolicy::Release => None,
                        easel_core::credits::BlockedOutputPolicy::Charge => {
                            Some(g.credits_estimated)
                        }
                    };
                    if let Some(charged) = captured {
                        sqlx::query($crate::sql::GENERATION_CHARGED)
                            .bind(&g.id)
                            .bind(charged)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Self::settle_hold(&mut tx, &g.id, captured, Some(&reason), now).await?;
                }
                let g = Self::one_generation(&mut tx, "job_id = $1", job_id).await?;
                if changed {
                    Self::insert_event(&mut tx, &g, "generation.failed", now).await?;
                    let audit = audit
                        .with("message", message)
                        .with("policy", policy.as_str())
                        .with("credits_charged", g.credits_charged.unwrap_or(0));
                    let entry = audit.entry(
                        Some(&g.account_id),
                        easel_core::audit::action::GENERATION_OUTPUT_BLOCKED,
                        ("generation", &g.id),
                    );
                    Self::insert_audit(&mut tx, &entry).await?;
                }
                tx.commit().await?;
                Ok(Some(g))
            }

            async fn end_generation(
                &self,
                job_id: &str,
                end: $crate::GenerationEnd,
                now: i64,
            ) -> $crate::DbResult<$crate::Generation> {
                let mut tx = self.begin_write().await?;
                let error = end
                    .error_code
                    .as_deref()
                    .map(|code| (code, end.error_message.as_deref().unwrap_or_default()));
                let changed = Self::mark_ended(&mut tx, job_id, end.status, error, now).await?;
                let g = Self::one_generation(&mut tx, "job_id = $1", job_id).await?;
                if changed {
                    Self::settle_hold(&mut tx, &g.id, None, None, now).await?;
                    Self::insert_event(
                        &mut tx,
                        &g,
                        &format!("generation.{}", end.status.as_str()),
                        now,
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(g)
            }

            async fn cancel_generation(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
                now: i64,
            ) -> $crate::DbResult<$crate::Generation> {
                let mut tx = self.begin_write().await?;
                let g = Self::scoped_generation(&mut tx, account_id, mode, id).await?;
                if g.status.is_terminal() {
                    tx.rollback().await?;
                    return Ok(g);
                }
                let ended = Self::cancel_job_of(&mut tx, &g, now).await?;
                let g = if ended {
                    Self::one_generation(&mut tx, "id = $1", id).await?
                } else {
                    g
                };
                tx.commit().await?;
                Ok(g)
            }

            async fn delete_generation(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
                now: i64,
            ) -> $crate::DbResult<$crate::Generation> {
                let mut tx = self.begin_write().await?;
                let g = Self::scoped_generation(&mut tx, account_id, mode, id).await?;
                if g.deleted_at.is_some() {
                    tx.rollback().await?;
                    return Err($crate::DbError::NotFound);
                }
                if !g.status.is_terminal() {
                    Self::cancel_job_of(&mut tx, &g, now).await?;
                }
                // The conditional update, not the read above, decides: of two concurrent
                // deletes only one changes the row and writes the event.
                let marked = sqlx::query($crate::sql::GENERATION_DELETED)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if marked.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Err($crate::DbError::NotFound);
                }
                sqlx::query($crate::sql::OUTPUTS_DELETED)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let g = Self::one_generation(&mut tx, "id = $1", id).await?;
                Self::insert_event(&mut tx, &g, "generation.deleted", now).await?;
                tx.commit().await?;
                Ok(g)
            }

            async fn list_events(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::Event>> {
                let (keyset, limit) = page.keyset("id", 3);
                let sql = format!(
                    "{} WHERE account_id = $1 AND mode = $2{keyset} ORDER BY id DESC {limit}",
                    $crate::sql::EVENTS_FROM
                );
                let mut query = sqlx::query_as::<_, $crate::common::rows::EventRow>(&sql)
                    .bind(account_id)
                    .bind(mode.as_str());
                if let Some(cursor) = &page.starting_after {
                    query = query.bind(cursor);
                }
                query
                    .bind(page.fetch())
                    .fetch_all(self.read())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn generation_counts(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                since_ms: i64,
            ) -> $crate::DbResult<Vec<(easel_core::jobs::JobStatus, i64)>> {
                // Ids sort by time: the range on `generations_list` bounds the scan.
                let floor =
                    easel_core::ids::IdKind::Generation.floor(u64::try_from(since_ms).unwrap_or(0));
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT status, COUNT(*) FROM generations \
                     WHERE account_id = $1 AND mode = $2 AND id >= $3 AND deleted_at IS NULL GROUP BY status",
                )
                .bind(account_id)
                .bind(mode.as_str())
                .bind(floor)
                .fetch_all(self.read())
                .await?;
                rows.into_iter()
                    .map(|(status, n)| {
                        easel_core::jobs::JobStatus::parse(&status)
                            .map(|s| (s, n))
                            .ok_or_else(|| {
                                $crate::DbError::Corrupt(format!("generation status {status}"))
                            })
                    })
                    .collect()
            }

            async fn generation_events(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                generation_id: &str,
            ) -> $crate::DbResult<Vec<$crate::Event>> {
                let sql = format!(
                    "{} WHERE account_id = $1 AND mode = $2 AND {} = $3 ORDER BY id LIMIT 50",
                    $crate::sql::EVENTS_FROM,
                    Self::EVENT_SUBJECT
                );
                sqlx::query_as::<_, $crate::common::rows::EventRow>(&sql)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .bind(generation_id)
                    .fetch_all(self.read())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }
        }
    };
}
