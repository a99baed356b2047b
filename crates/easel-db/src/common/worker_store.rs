//! `WorkerStore`: remote workers' tokens, and their leases on jobs.
//!
//! A lease id is the job's `lease_owner`, so the job row says who holds it and the lease row
//! says how each holding ended. The two are written together where they change together
//! (a claim, a heartbeat, a completion: `succeed_generation` ends the lease it names); other
//! ends are recorded by the caller after it ended the job, and the sweep catches leases
//! whose job was taken back without one.

macro_rules! impl_worker_store {
    ($Store:ty, $Db:ty, $lock:literal) => {
        impl $Store {
            /// A worker by id or name, inside a transaction or on a read connection.
            async fn load_worker(
                conn: &mut <$Db as sqlx::Database>::Connection,
                id_or_name: &str,
            ) -> $crate::DbResult<$crate::Worker> {
                sqlx::query_as::<_, $crate::common::worker_rows::WorkerRow>(
                    $crate::worker_sql::SELECT_WORKER,
                )
                .bind(id_or_name)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or($crate::DbError::NotFound)?
                .try_into()
            }

            /// One lease by a one-parameter query.
            async fn fetch_lease(
                &self,
                sql: &'static str,
                param: &str,
            ) -> $crate::DbResult<Option<$crate::WorkerLease>> {
                sqlx::query_as::<_, $crate::common::worker_rows::LeaseRow>(sql)
                    .bind(param)
                    .fetch_optional(self.read())
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            /// Takes the oldest runnable job of `queue` under `lease_id`; the lease row is
            /// written with the rest of its batch (`claims_in_one`).
            async fn take_job(
                tx: &mut sqlx::Transaction<'_, $Db>,
                claim: &$crate::WorkerClaim,
                queue: &str,
                lease_id: &str,
                deadline: i64,
            ) -> $crate::DbResult<Option<($crate::WorkerLease, $crate::Job)>> {
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    $crate::worker_sql::CLAIM_FOR_WORKER
                        .replace("{columns}", $crate::sql::JOB_COLUMNS)
                        .replace("{lock}", $lock)
                });
                let lease_until = claim.lease_until.min(deadline);
                let row = sqlx::query_as::<_, $crate::common::rows::JobRow>(&SQL)
                    .bind(queue)
                    .bind(lease_id)
                    .bind(lease_until)
                    .bind(claim.now)
                    .fetch_optional(&mut **tx)
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let job: $crate::Job = row.try_into()?;
                let lease = $crate::WorkerLease {
                    id: lease_id.to_string(),
                    worker_id: claim.worker_id.clone(),
                    job_id: job.id.clone(),
                    attempt: job.attempts,
                    claimed_at: claim.now,
                    deadline_at: deadline,
                    lease_until,
                    ended_at: None,
                    outcome: None,
                    completion_digest: None,
                };
                Ok(Some((lease, job)))
            }

            /// The jobs one claim takes, in its queues' order, up to `max_jobs`.
            async fn take_jobs(
                tx: &mut sqlx::Transaction<'_, $Db>,
                claim: &$crate::WorkerClaim,
            ) -> $crate::DbResult<Vec<($crate::WorkerLease, $crate::Job)>> {
                let wanted = usize::try_from(claim.max_jobs)
                    .unwrap_or(usize::MAX)
                    .min(claim.lease_ids.len());
                let mut taken = Vec::with_capacity(wanted);
                for (queue, deadline) in claim.queues.iter().zip(&claim.deadlines) {
                    // An id whose claim found nothing is used again for the next queue.
                    while let Some(lease_id) = claim.lease_ids.get(taken.len()) {
                        if taken.len() == wanted {
                            break;
                        }
                        match Self::take_job(tx, claim, queue, lease_id, *deadline).await? {
                            Some(pair) => taken.push(pair),
                            None => break,
                        }
                    }
                }
                Ok(taken)
            }

            /// The claim-writing task's work: the claims that arrived together share one
            /// transaction; a batch that fails is written again one claim at a time.
            pub(crate) async fn run_claims(
                pool: sqlx::Pool<$Db>,
                batch: Vec<$crate::common::group_commit::PendingClaim>,
            ) {
                let results = batch_or_one_by_one!(&batch[..], "worker claims", |part| {
                    Self::claims_in_one(&pool, part).await
                });
                $crate::common::group_commit::answer(batch, results);
            }

            /// Each claim takes its jobs in arrival order; then the batch's leases, the
            /// start of its generations and their `generation.running` events are one
            /// statement each. A claimed job's generation starts running with the claim:
            /// one commit for both on the path from a new job to a worker's lease. One
            /// already running (an earlier lease lapsed) is read as it is; a job without a
            /// generation has none.
            async fn claims_in_one(
                pool: &sqlx::Pool<$Db>,
                batch: &[$crate::common::group_commit::PendingClaim],
            ) -> $crate::DbResult<Vec<$crate::DbResult<Vec<$crate::Claimed>>>> {
                let mut tx = Self::begin_on(pool).await?;
                let mut taken = Vec::with_capacity(batch.len());
                for p in batch {
                    taken.push(Self::take_jobs(&mut tx, &p.item).await?);
                }
                let leases: Vec<serde_json::Value> = taken
                    .iter()
                    .flatten()
                    .map(|(l, _)| {
                        serde_json::json!({
                            "id": l.id, "worker_id": l.worker_id, "job_id": l.job_id,
                            "attempt": l.attempt, "claimed_at": l.claimed_at,
                            "deadline_at": l.deadline_at, "lease_until": l.lease_until,
                        })
                    })
                    .collect();
                if leases.is_empty() {
                    tx.commit().await?;
                    return Ok(batch.iter().map(|_| Ok(Vec::new())).collect());
                }
                sqlx::query(Self::INSERT_CLAIMED_LEASES)
                    .bind(serde_json::Value::from(leases).to_string())
                    .execute(&mut *tx)
                    .await?;
                let at: std::collections::HashMap<&str, i64> = taken
                    .iter()
                    .zip(batch)
                    .flat_map(|(jobs, p)| jobs.iter().map(|(_, j)| (j.id.as_str(), p.item.now)))
                    .collect();
                let starts: Vec<serde_json::Value> = at
                    .iter()
                    .map(|(job, at)| serde_json::json!({ "job": job, "at": at }))
                    .collect();
                let rows = sqlx::query_as::<_, $crate::common::rows::GenerationRow>(
                    Self::START_CLAIMED_GENERATIONS,
                )
                .bind(serde_json::Value::from(starts).to_string())
                .fetch_all(&mut *tx)
                .await?;
                let mut started = std::collections::HashMap::with_capacity(rows.len());
                let mut events = Vec::with_capacity(rows.len());
                for row in rows {
                    let g = row.into_generation(Vec::new())?;
                    let at = at.get(g.job_id.as_str()).copied().unwrap_or_default();
                    events.push(serde_json::json!({
                        "id": easel_core::ids::IdKind::Event.generate(),
                        "account_id": g.account_id, "mode": g.mode.as_str(),
                        "type": "generation.running",
                        "data": $crate::common::rows::generation_snapshot(&g).to_string(),
                        "at": at,
                    }));
                    started.insert(g.job_id.clone(), g);
                }
                if !events.is_empty() {
                    sqlx::query(Self::INSERT_EVENTS)
                        .bind(serde_json::Value::from(events).to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                let mut results = Vec::with_capacity(batch.len());
                for jobs in taken {
                    let mut claimed = Vec::with_capacity(jobs.len());
                    for (lease, job) in jobs {
                        let generation = match started.remove(&job.id) {
                            Some(g) => Some(g),
                            None => Self::load_generations(&mut tx, "job_id = $1", &job.id)
                                .await?
                                .pop(),
                        };
                        claimed.push($crate::Claimed {
                            lease,
                            job,
                            generation,
                        });
                    }
                    results.push(Ok(claimed));
                }
                tx.commit().await?;
                Ok(results)
            }

            /// Ends an open lease and counts the outcome on its worker, inside `tx`; false
            /// if it had already ended (nothing written).
            pub(crate) async fn end_lease_in(
                tx: &mut sqlx::Transaction<'_, $Db>,
                lease_id: &str,
                outcome: $crate::LeaseOutcome,
                completion_digest: Option<&str>,
                now: i64,
            ) -> $crate::DbResult<bool> {
                let (done, failed, lost): (i64, i64, i64) = match outcome {
                    $crate::LeaseOutcome::Succeeded => (1, 0, 0),
                    $crate::LeaseOutcome::Failed => (0, 1, 0),
                    $crate::LeaseOutcome::Lost => (0, 0, 1),
                    $crate::LeaseOutcome::Canceled => (0, 0, 0),
                };
                let row: Option<(String,)> = sqlx::query_as(Self::END_LEASE_COUNTED)
                    .bind(lease_id)
                    .bind(now)
                    .bind(outcome.as_str())
                    .bind(completion_digest)
                    .bind(done)
                    .bind(failed)
                    .bind(lost)
                    .fetch_optional(&mut **tx)
                    .await?;
                Ok(row.is_some())
            }

            /// Counts `lost` new losses on a worker and quarantines it if that makes
            /// `policy.max_lost` in the window; returns whether it did. Losses before the
            /// end of its last quarantine do not count again, so a worker back from one is
            /// not sent straight back for the losses it already served time for.
            async fn count_losses(
                tx: &mut sqlx::Transaction<'_, $Db>,
                worker_id: &str,
                lost: i64,
                policy: &$crate::QuarantinePolicy,
                now: i64,
            ) -> $crate::DbResult<bool> {
                // Also locks the worker's row (PostgreSQL): a concurrent sweep counting on
                // the same worker waits here, then counts this one's losses as well.
                let (quarantined_until,): (Option<i64>,) =
                    sqlx::query_as($crate::worker_sql::COUNT_ON_WORKER)
                        .bind(worker_id)
                        .bind(0_i64)
                        .bind(0_i64)
                        .bind(lost)
                        .fetch_one(&mut **tx)
                        .await?;
                if policy.max_lost == 0 || quarantined_until.is_some_and(|until| until > now) {
                    return Ok(false);
                }
                let since = now
                    .saturating_sub(policy.window_ms)
                    .max(quarantined_until.unwrap_or(i64::MIN));
                let (recent,): (i64,) = sqlx::query_as($crate::worker_sql::COUNT_LOST_SINCE)
                    .bind(worker_id)
                    .bind(since)
                    .fetch_one(&mut **tx)
                    .await?;
                if recent < i64::from(policy.max_lost) {
                    return Ok(false);
                }
                sqlx::query($crate::worker_sql::QUARANTINE_WORKER)
                    .bind(worker_id)
                    .bind(now.saturating_add(policy.duration_ms))
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                Ok(true)
            }
        }

        #[async_trait::async_trait]
        impl $crate::WorkerStore for $Store {
            async fn create_worker(
                &self,
                new: $crate::NewWorker,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Worker> {
                let mut tx = self.begin_write().await?;
                sqlx::query($crate::worker_sql::INSERT_WORKER)
                    .bind(&new.id)
                    .bind(&new.name)
                    .bind(&new.token_hash)
                    .bind(&new.display_prefix)
                    .bind($crate::common::worker_rows::models_json(&new.models))
                    .bind(new.now)
                    .execute(&mut *tx)
                    .await?;
                let audit = audit
                    .with("name", new.name.as_str())
                    .with("models", new.models.clone());
                // Workers belong to no account: the entry is the operator's.
                let entry = audit.entry(
                    None,
                    easel_core::audit::action::WORKER_CREATED,
                    ("worker", &new.id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let worker = Self::load_worker(&mut tx, &new.id).await?;
                tx.commit().await?;
                Ok(worker)
            }

            async fn list_workers(&self) -> $crate::DbResult<Vec<$crate::Worker>> {
                sqlx::query_as::<_, $crate::common::worker_rows::WorkerRow>(
                    $crate::worker_sql::LIST_WORKERS,
                )
                .fetch_all(self.read())
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            async fn get_worker(&self, id_or_name: &str) -> $crate::DbResult<$crate::Worker> {
                let mut conn = self.read().acquire().await?;
                Self::load_worker(&mut conn, id_or_name).await
            }

            async fn revoke_worker(
                &self,
                id_or_name: &str,
                audit: $crate::AuditContext,
                now: i64,
            ) -> $crate::DbResult<$crate::Worker> {
                let mut tx = self.begin_write().await?;
                let worker = Self::load_worker(&mut tx, id_or_name).await?;
                // The UPDATE decides, not the read above: of two racing revokes (PostgreSQL)
                // only one changes the row and writes the audit entry.
                let revoked = sqlx::query($crate::worker_sql::REVOKE_WORKER)
                    .bind(&worker.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if revoked == 1 {
                    let audit = audit.with("name", worker.name.as_str());
                    let entry = audit.entry(
                        None,
                        easel_core::audit::action::WORKER_REVOKED,
                        ("worker", &worker.id),
                    );
                    Self::insert_audit(&mut tx, &entry).await?;
                }
                let worker = Self::load_worker(&mut tx, &worker.id).await?;
                tx.commit().await?;
                Ok(worker)
            }

            async fn find_worker(
                &self,
                token_hash: &str,
            ) -> $crate::DbResult<Option<$crate::Worker>> {
                sqlx::query_as::<_, $crate::common::worker_rows::WorkerRow>(
                    $crate::worker_sql::SELECT_WORKER_BY_TOKEN,
                )
                .bind(token_hash)
                .fetch_optional(self.read())
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            async fn touch_worker(
                &self,
                worker_id: &str,
                version: Option<&str>,
                serving: Option<&[String]>,
                min_gap_ms: i64,
                now: i64,
            ) -> $crate::DbResult<()> {
                sqlx::query($crate::worker_sql::TOUCH_WORKER)
                    .bind(worker_id)
                    .bind(now)
                    .bind(version)
                    .bind(serving.map($crate::common::worker_rows::models_json))
                    .bind(now.saturating_sub(min_gap_ms))
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn claim_for_worker(
                &self,
                claim: $crate::WorkerClaim,
            ) -> $crate::DbResult<Vec<$crate::Claimed>> {
                if claim.deadlines.len() != claim.queues.len() {
                    return Err($crate::DbError::Config(format!(
                        "claim_for_worker: {} queues but {} deadlines",
                        claim.queues.len(),
                        claim.deadlines.len()
                    )));
                }
                if claim.max_jobs == 0 || claim.lease_ids.is_empty() {
                    return Ok(Vec::new());
                }
                // Shares a transaction with the claims that arrived at the same moment.
                self.claims.submit(claim).await
            }

            async fn get_lease(
                &self,
                lease_id: &str,
            ) -> $crate::DbResult<Option<$crate::WorkerLease>> {
                self.fetch_lease($crate::worker_sql::SELECT_LEASE, lease_id)
                    .await
            }

            async fn open_lease_of_job(
                &self,
                job_id: &str,
            ) -> $crate::DbResult<Option<$crate::WorkerLease>> {
                self.fetch_lease($crate::worker_sql::OPEN_LEASE_OF_JOB, job_id)
                    .await
            }

            async fn latest_lease_of_job(
                &self,
                job_id: &str,
            ) -> $crate::DbResult<Option<$crate::WorkerLease>> {
                self.fetch_lease($crate::worker_sql::LATEST_LEASE_OF_JOB, job_id)
                    .await
            }

            async fn heartbeat_lease(
                &self,
                lease: &$crate::WorkerLease,
                lease_until: i64,
                progress: Option<f64>,
                message: Option<&str>,
                now: i64,
            ) -> $crate::DbResult<$crate::Heartbeat> {
                // The API validates these too; the store keeps a bad value out of the row
                // whoever calls it.
                let progress = progress.filter(|p| !p.is_nan()).map(|p| p.clamp(0.0, 1.0));
                let message: Option<String> = message.map(|m| {
                    m.chars()
                        .take($crate::common::worker_store::PROGRESS_MESSAGE_MAX_CHARS)
                        .collect()
                });
                let lease_until = lease_until.min(lease.deadline_at);
                let mut tx = self.begin_write().await?;
                let row: Option<(Option<i64>,)> =
                    sqlx::query_as($crate::worker_sql::HEARTBEAT_LEASE)
                        .bind(&lease.job_id)
                        .bind(&lease.id)
                        .bind(lease_until)
                        .bind(progress)
                        .bind(message)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((cancel_requested_at,)) = row else {
                    return Ok($crate::Heartbeat::Lost);
                };
                sqlx::query($crate::worker_sql::EXTEND_LEASE)
                    .bind(&lease.id)
                    .bind(lease_until)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::worker_sql::SEE_WORKER)
                    .bind(&lease.worker_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok($crate::Heartbeat::Held {
                    cancel_requested: cancel_requested_at.is_some(),
                })
            }

            async fn end_lease(
                &self,
                lease_id: &str,
                outcome: $crate::LeaseOutcome,
                completion_digest: Option<&str>,
                now: i64,
            ) -> $crate::DbResult<bool> {
                let mut tx = self.begin_write().await?;
                let ended =
                    Self::end_lease_in(&mut tx, lease_id, outcome, completion_digest, now).await?;
                tx.commit().await?;
                Ok(ended)
            }

            async fn sweep_lost_leases(
                &self,
                policy: $crate::QuarantinePolicy,
                now: i64,
            ) -> $crate::DbResult<$crate::LostLeases> {
                let mut tx = self.begin_write().await?;
                let mut lost: Vec<(String, String)> =
                    sqlx::query_as($crate::worker_sql::SWEEP_LOST_LEASES)
                        .bind(now)
                        .bind(now.saturating_sub(policy.grace_ms))
                        .fetch_all(&mut *tx)
                        .await?;
                lost.sort_unstable();
                // Per worker, in id order: two sweeps lock worker rows in the same order
                // and cannot deadlock (PostgreSQL).
                let mut per_worker = std::collections::BTreeMap::<String, i64>::new();
                for (_, worker_id) in &lost {
                    *per_worker.entry(worker_id.clone()).or_default() += 1;
                }
                let mut quarantined = Vec::new();
                for (worker_id, count) in per_worker {
                    if Self::count_losses(&mut tx, &worker_id, count, &policy, now).await? {
                        quarantined.push(worker_id);
                    }
                }
                tx.commit().await?;
                Ok($crate::LostLeases { lost, quarantined })
            }

            async fn job_progress(
                &self,
                job_id: &str,
            ) -> $crate::DbResult<Option<(f64, Option<String>)>> {
                let row: Option<(Option<f64>, Option<String>)> =
                    sqlx::query_as($crate::worker_sql::JOB_PROGRESS)
                        .bind(job_id)
                        .fetch_optional(self.read())
                        .await?;
                Ok(match row {
                    Some((Some(progress), message)) => Some((progress, message)),
                    // A message before any fraction ("loading the model") reads as 0.
                    Some((None, Some(message))) => Some((0.0, Some(message))),
                    Some((None, None)) | None => None,
                })
            }
        }
    };
}

/// The longest progress message kept on a job, in characters.
pub(crate) const PROGRESS_MESSAGE_MAX_CHARS: usize = 200;
