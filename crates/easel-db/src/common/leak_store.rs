//! `LeakStore`: revoking or flagging a key whose secret was reported leaked, once.

macro_rules! impl_leak_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            /// Inside the report's transaction, once the key changed: the audit entry, and
            /// for a revocation the `key.revoked` event; returns the key as it is now.
            async fn record_leak(
                tx: &mut sqlx::Transaction<'_, $Db>,
                report: &$crate::LeakReport,
                audit: $crate::AuditContext,
                key: &$crate::ApiKey,
                snapshot: &$crate::KeySnapshot,
            ) -> $crate::DbResult<$crate::ApiKey> {
                let action = match report.action {
                    $crate::LeakAction::Revoke => easel_core::audit::action::KEY_REVOKED,
                    $crate::LeakAction::Flag => easel_core::audit::action::KEY_LEAK_REPORTED,
                };
                let audit = audit
                    .with("reason", $crate::REVOKED_LEAKED)
                    .with("url", report.url.as_str())
                    .with("source", report.source.clone())
                    .with("mode", key.mode.as_str());
                let entry = audit.entry(Some(&key.account_id), action, ("api_key", &key.id));
                Self::insert_audit(tx, &entry).await?;
                let now = Self::load_key(tx, &key.account_id, None, &key.id).await?;
                if report.action == $crate::LeakAction::Revoke {
                    let data = $crate::leaks::revoked_event_data(&now, snapshot);
                    let mode = now.mode.as_str();
                    Self::insert_event_row(
                        tx,
                        &now.account_id,
                        mode,
                        "key.revoked",
                        &data,
                        audit.now,
                    )
                    .await?;
                }
                Ok(now)
            }
        }

        #[async_trait::async_trait]
        impl $crate::LeakStore for $Store {
            async fn report_leaked_key(
                &self,
                report: $crate::LeakReport,
                audit: $crate::AuditContext,
                snapshot: &$crate::KeySnapshot,
            ) -> $crate::DbResult<$crate::LeakOutcome> {
                type Found = (String, String, Option<i64>);
                // Most reported strings are no key of ours: answer those from a reader,
                // without taking the (on SQLite, single) writer.
                let known: Option<Found> = sqlx::query_as($crate::sql::FIND_SECRET_KEY)
                    .bind(&report.secret_hash)
                    .fetch_optional(self.read())
                    .await?;
                let Some((_, account_id, _)) = known else {
                    return Ok($crate::LeakOutcome::Unknown);
                };
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, &account_id).await?;
                // Read again under the lock: a rotation may have just ended the secret.
                let (key_id, account_id, secret_expires_at): Found =
                    sqlx::query_as($crate::sql::FIND_SECRET_KEY)
                        .bind(&report.secret_hash)
                        .fetch_one(&mut *tx)
                        .await?;
                let key = Self::load_key(&mut tx, &account_id, None, &key_id).await?;
                // A rotated-out secret past its grace period opens nothing any more.
                let dead_secret = secret_expires_at.is_some_and(|at| at <= audit.now);
                let sql = match report.action {
                    $crate::LeakAction::Revoke => $crate::sql::REVOKE_LEAKED_KEY,
                    $crate::LeakAction::Flag => $crate::sql::FLAG_LEAKED_KEY,
                };
                // The conditional UPDATE is what makes a repeated or racing report a
                // no-op: only the first finds the key unrevoked (or unflagged).
                let changed = if dead_secret {
                    0
                } else {
                    sqlx::query(sql)
                        .bind(&key_id)
                        .bind(audit.now)
                        .bind(&report.url)
                        .bind(&report.source)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                };
                if changed == 0 {
                    tx.rollback().await?;
                    return Ok($crate::LeakOutcome::Unchanged(key));
                }
                let key = Self::record_leak(&mut tx, &report, audit, &key, snapshot).await?;
                tx.commit().await?;
                Ok($crate::LeakOutcome::Acted(key))
            }
        }
    };
}
