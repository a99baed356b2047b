//! `JobStore`: the durable queue. Single statements run on the dialect's `writer()` (no
//! explicit transaction: each is atomic on its own); only cancel needs two.

macro_rules! impl_job_store {
    ($Store:ty, $Db:ty, $lock:literal) => {
        impl $Store {
            /// `sql` with the job columns (and the dialect's lock clause) filled in, built once.
            fn job_sql(sql: &'static str) -> String {
                sql.replace("{columns}", $crate::sql::JOB_COLUMNS)
                    .replace("{lock}", $lock)
            }

            /// Inserts a queued job inside a write transaction.
            pub(crate) async fn insert_job(
                tx: &mut sqlx::Transaction<'_, $Db>,
                job: &$crate::NewJob,
                now: i64,
            ) -> $crate::DbResult<()> {
                sqlx::query($crate::sql::INSERT_JOB)
                    .bind(&job.id)
                    .bind(&job.queue)
                    .bind(&job.kind)
                    .bind(&job.payload)
                    .bind(i32::try_from(job.max_attempts).unwrap_or(i32::MAX))
                    .bind(job.run_at)
                    .bind(job.expires_at)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// Runs a statement that ends a job only if `worker` holds its lease; returns
            /// whether it did.
            async fn end_held_job(
                &self,
                sql: &'static str,
                job_id: &str,
                worker: &str,
                now: i64,
            ) -> $crate::DbResult<bool> {
                let done = sqlx::query(sql)
                    .bind(job_id)
                    .bind(worker)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn load_job(
                conn: &mut <$Db as sqlx::Database>::Connection,
                job_id: &str,
            ) -> $crate::DbResult<$crate::Job> {
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "SELECT {} FROM jobs WHERE id = $1",
                        $crate::sql::JOB_COLUMNS
                    )
                });
                sqlx::query_as::<_, $crate::common::rows::JobRow>(&SQL)
                    .bind(job_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::DbError::NotFound)?
                    .try_into()
            }
        }

        #[async_trait::async_trait]
        impl $crate::JobStore for $Store {
            async fn next_due(
                &self,
                queues: &[String],
            ) -> $crate::DbResult<Vec<(String, Option<i64>)>> {
                let queues = serde_json::Value::from(queues.to_vec()).to_string();
                Ok(sqlx::query_as(Self::NEXT_DUE)
                    .bind(queues)
                    .fetch_all(self.read())
                    .await?)
            }

            async fn enqueue(&self, job: $crate::NewJob) -> $crate::DbResult<$crate::Job> {
                let mut tx = self.begin_write().await?;
                Self::insert_job(&mut tx, &job, job.now).await?;
                let job = Self::load_job(&mut tx, &job.id).await?;
                tx.commit().await?;
                Ok(job)
            }

            async fn claim(
                &self,
                queue: &str,
                worker: &str,
                lease_until: i64,
                now: i64,
            ) -> $crate::DbResult<Option<$crate::Job>> {
                static SQL: std::sync::LazyLock<String> =
                    std::sync::LazyLock::new(|| <$Store>::job_sql($crate::sql::CLAIM_JOB));
                sqlx::query_as::<_, $crate::common::rows::JobRow>(&SQL)
                    .bind(queue)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .fetch_optional(self.writer())
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn heartbeat(
                &self,
                job_id: &str,
                worker: &str,
                lease_until: i64,
                now: i64,
            ) -> $crate::DbResult<$crate::Heartbeat> {
                let row: Option<(Option<i64>,)> = sqlx::query_as($crate::sql::HEARTBEAT_JOB)
                    .bind(job_id)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .fetch_optional(self.writer())
                    .await?;
                Ok(match row {
                    Some((cancel,)) => $crate::Heartbeat::Held {
                        cancel_requested: cancel.is_some(),
                    },
                    None => $crate::Heartbeat::Lost,
                })
            }

            async fn complete_job(
                &self,
                job_id: &str,
                worker: &str,
                now: i64,
            ) -> $crate::DbResult<bool> {
                self.end_held_job($crate::sql::COMPLETE_JOB, job_id, worker, now)
                    .await
            }

            async fn fail_job(
                &self,
                job_id: &str,
                worker: &str,
                error: &str,
                retry_at: Option<i64>,
                now: i64,
            ) -> $crate::DbResult<Option<easel_core::jobs::JobStatus>> {
                let error: String = error.chars().take(2_000).collect();
                let row: Option<(String,)> = sqlx::query_as($crate::sql::FAIL_JOB)
                    .bind(job_id)
                    .bind(worker)
                    .bind(error)
                    .bind(retry_at)
                    .bind(now)
                    .fetch_optional(self.writer())
                    .await?;
                row.map(|(status,)| {
                    easel_core::jobs::JobStatus::parse(&status)
                        .ok_or_else(|| $crate::DbError::Corrupt(format!("job status {status}")))
                })
                .transpose()
            }

            async fn finish_canceled(
                &self,
                job_id: &str,
                worker: &str,
                now: i64,
            ) -> $crate::DbResult<bool> {
                self.end_held_job($crate::sql::FINISH_CANCELED_JOB, job_id, worker, now)
                    .await
            }

            async fn cancel_job(&self, job_id: &str, now: i64) -> $crate::DbResult<$crate::Job> {
                let mut tx = self.begin_write().await?;
                let canceled = sqlx::query($crate::sql::CANCEL_QUEUED_JOB)
                    .bind(job_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if canceled.rows_affected() == 0 {
                    sqlx::query($crate::sql::REQUEST_JOB_CANCEL)
                        .bind(job_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                let job = Self::load_job(&mut tx, job_id).await?;
                tx.commit().await?;
                Ok(job)
            }

            async fn reap_expired_leases(&self, now: i64) -> $crate::DbResult<Vec<$crate::Job>> {
                static SQL: std::sync::LazyLock<String> =
                    std::sync::LazyLock::new(|| <$Store>::job_sql($crate::sql::REAP_LEASES));
                let rows = sqlx::query_as::<_, $crate::common::rows::JobRow>(&SQL)
                    .bind(now)
                    .fetch_all(self.writer())
                    .await?;
                $crate::common::rows::jobs(rows)
            }

            async fn expire_queued(&self, now: i64) -> $crate::DbResult<Vec<$crate::Job>> {
                static SQL: std::sync::LazyLock<String> =
                    std::sync::LazyLock::new(|| <$Store>::job_sql($crate::sql::EXPIRE_JOBS));
                let rows = sqlx::query_as::<_, $crate::common::rows::JobRow>(&SQL)
                    .bind(now)
                    .fetch_all(self.writer())
                    .await?;
                $crate::common::rows::jobs(rows)
            }

            async fn get_job(&self, job_id: &str) -> $crate::DbResult<$crate::Job> {
                let mut conn = self.read().acquire().await?;
                Self::load_job(&mut conn, job_id).await
            }

            async fn queued_count(&self, queue: &str) -> $crate::DbResult<i64> {
                let (count,): (i64,) = sqlx::query_as($crate::sql::QUEUED_COUNT)
                    .bind(queue)
                    .bind($crate::JOBS_AHEAD_CAP)
                    .fetch_one(self.read())
                    .await?;
                Ok(count)
            }

            async fn jobs_ahead(&self, job_id: &str) -> $crate::DbResult<Option<i64>> {
                let job = self.get_job(job_id).await?;
                if job.status != easel_core::jobs::JobStatus::Queued {
                    return Ok(None);
                }
                let (ahead,): (i64,) = sqlx::query_as($crate::sql::JOBS_AHEAD)
                    .bind(&job.queue)
                    .bind(job.run_at)
                    .bind(&job.id)
                    .bind($crate::JOBS_AHEAD_CAP)
                    .fetch_one(self.read())
                    .await?;
                Ok(Some(ahead))
            }
        }
    };
}
