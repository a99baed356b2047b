//! `IdempotencyStore`: one row per (account, mode, key), claimed by the first request.

macro_rules! impl_idempotency_store {
    ($Store:ty, $Db:ty) => {
        #[async_trait::async_trait]
        impl $crate::IdempotencyStore for $Store {
            async fn begin_idempotent(
                &self,
                key: &$crate::IdempotencyKey,
                request_hash: &str,
                times: $crate::IdempotencyTimes,
            ) -> $crate::DbResult<$crate::IdempotencyBegin> {
                let mut tx = self.begin_write().await?;
                sqlx::query($crate::sql::IDEMPOTENCY_FORGET_STALE)
                    .bind(&key.account_id)
                    .bind(key.mode.as_str())
                    .bind(&key.key)
                    .bind(times.forget_before)
                    .bind(times.now)
                    .execute(&mut *tx)
                    .await?;
                // The primary key decides between concurrent first requests: exactly one
                // insert takes effect, the others read the winner's row.
                let inserted = sqlx::query($crate::sql::IDEMPOTENCY_INSERT)
                    .bind(&key.account_id)
                    .bind(key.mode.as_str())
                    .bind(&key.key)
                    .bind(request_hash)
                    .bind(times.locked_until)
                    .bind(times.now)
                    .execute(&mut *tx)
                    .await?;
                if inserted.rows_affected() == 1 {
                    tx.commit().await?;
                    return Ok($crate::IdempotencyBegin::Started);
                }
                let (hash, status, response): (String, Option<i32>, Option<String>) =
                    sqlx::query_as($crate::sql::IDEMPOTENCY_SELECT)
                        .bind(&key.account_id)
                        .bind(key.mode.as_str())
                        .bind(&key.key)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(if hash != request_hash {
                    $crate::IdempotencyBegin::Mismatch
                } else {
                    match (status, response) {
                        (Some(status), Some(response)) => $crate::IdempotencyBegin::Replay {
                            status: u16::try_from(status).unwrap_or(500),
                            response,
                        },
                        _ => $crate::IdempotencyBegin::InFlight,
                    }
                })
            }

            async fn finish_idempotent(
                &self,
                key: &$crate::IdempotencyKey,
                status: u16,
                response: &str,
            ) -> $crate::DbResult<()> {
                sqlx::query($crate::sql::IDEMPOTENCY_FINISH)
                    .bind(&key.account_id)
                    .bind(key.mode.as_str())
                    .bind(&key.key)
                    .bind(i32::from(status))
                    .bind(response)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn release_idempotent(
                &self,
                key: &$crate::IdempotencyKey,
            ) -> $crate::DbResult<()> {
                sqlx::query($crate::sql::IDEMPOTENCY_RELEASE)
                    .bind(&key.account_id)
                    .bind(key.mode.as_str())
                    .bind(&key.key)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }
    };
}
