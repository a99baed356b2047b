//! `ExportStore`: account exports (see `data_rights`).

pub(crate) const EXPORT_COLUMNS: &str = "id, account_id, state, requested_by, attempts, object_path, bytes, \
     sha256, counts, failure_reason, created_at, ready_at, expires_at, downloaded_at, purged_at";

#[derive(sqlx::FromRow)]
pub(crate) struct ExportRow {
    id: String,
    account_id: String,
    state: String,
    requested_by: String,
    attempts: i64,
    object_path: Option<String>,
    bytes: Option<i64>,
    sha256: Option<String>,
    counts: Option<String>,
    failure_reason: Option<String>,
    created_at: i64,
    ready_at: Option<i64>,
    expires_at: Option<i64>,
    downloaded_at: Option<i64>,
    purged_at: Option<i64>,
}

impl TryFrom<ExportRow> for crate::DataExport {
    type Error = crate::DbError;
    fn try_from(r: ExportRow) -> Result<Self, Self::Error> {
        Ok(crate::DataExport {
            state: crate::ExportState::parse(&r.state)
                .ok_or_else(|| crate::DbError::Corrupt(format!("export state {}", r.state)))?,
            id: r.id,
            account_id: r.account_id,
            requested_by: r.requested_by,
            attempts: r.attempts,
            object_path: r.object_path,
            bytes: r.bytes,
            sha256: r.sha256,
            counts: r.counts.and_then(|c| serde_json::from_str(&c).ok()),
            failure_reason: r.failure_reason,
            created_at: r.created_at,
            ready_at: r.ready_at,
            expires_at: r.expires_at,
            downloaded_at: r.downloaded_at,
            purged_at: r.purged_at,
        })
    }
}

/// Where an export's archive is stored: beside the account's outputs, so that deleting the
/// account's objects deletes it too.
pub fn export_object_path(account_id: &str, export_id: &str) -> String {
    format!("{account_id}/exports/{export_id}.tar.gz")
}

macro_rules! impl_export_store {
    ($Store:ty, $Db:ty, $dialect:expr) => {
        impl $Store {
            async fn load_export(
                conn: &mut <$Db as sqlx::Database>::Connection,
                id: &str,
            ) -> $crate::DbResult<$crate::DataExport> {
                let sql = format!(
                    "SELECT {} FROM data_exports WHERE id = $1",
                    $crate::common::export_store::EXPORT_COLUMNS
                );
                sqlx::query_as::<_, $crate::common::export_store::ExportRow>(&sql)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::DbError::NotFound)?
                    .try_into()
            }
        }

        #[async_trait::async_trait]
        impl $crate::ExportStore for $Store {
            async fn create_export(
                &self,
                id: &str,
                account_id: &str,
                requested_by: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::DataExport> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, account_id).await?;
                Self::load_account(&mut *tx, account_id).await?;
                let (open,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM data_exports WHERE account_id = $1 \
                     AND state IN ('pending', 'building')",
                )
                .bind(account_id)
                .fetch_one(&mut *tx)
                .await?;
                if open > 0 {
                    return Err(easel_core::DomainError::invalid(
                        "export",
                        "export_in_progress",
                        "An export of this account is already being prepared; wait for it.",
                    )
                    .into());
                }
                sqlx::query(
                    "INSERT INTO data_exports (id, account_id, state, requested_by, object_path, \
                     created_at, updated_at) VALUES ($1, $2, 'pending', $3, $4, $5, $5)",
                )
                .bind(id)
                .bind(account_id)
                .bind(requested_by)
                .bind($crate::common::export_store::export_object_path(account_id, id))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::EXPORT_REQUESTED,
                    ("export", id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let export = Self::load_export(&mut *tx, id).await?;
                tx.commit().await?;
                Ok(export)
            }

            async fn get_export(
                &self,
                account_id: &str,
                id: &str,
            ) -> $crate::DbResult<$crate::DataExport> {
                let mut conn = self.read().acquire().await?;
                let export = Self::load_export(&mut *conn, id).await?;
                if export.account_id != account_id {
                    return Err($crate::DbError::NotFound);
                }
                Ok(export)
            }

            async fn find_export(&self, id: &str) -> $crate::DbResult<$crate::DataExport> {
                let mut conn = self.read().acquire().await?;
                Self::load_export(&mut *conn, id).await
            }

            async fn list_exports(
                &self,
                account_id: &str,
                limit: u32,
            ) -> $crate::DbResult<Vec<$crate::DataExport>> {
                let sql = format!(
                    "SELECT {} FROM data_exports WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
                    $crate::common::export_store::EXPORT_COLUMNS
                );
                sqlx::query_as::<_, $crate::common::export_store::ExportRow>(&sql)
                    .bind(account_id)
                    .bind(i64::from(limit))
                    .fetch_all(self.read())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn claim_export(
                &self,
                owner: &str,
                lease_until: i64,
                max_attempts: i64,
                now: i64,
            ) -> $crate::DbResult<Option<$crate::DataExport>> {
                loop {
                    let candidate: Option<(String, String, i64)> = sqlx::query_as(
                        "SELECT id, account_id, attempts FROM data_exports WHERE state = 'pending' \
                         OR (state = 'building' AND lease_until < $1) ORDER BY id LIMIT 1",
                    )
                    .bind(now)
                    .fetch_optional(self.read())
                    .await?;
                    let Some((id, account_id, attempts)) = candidate else {
                        return Ok(None);
                    };
                    let mut tx = self.begin_write().await?;
                    let open = "id = $1 AND (state = 'pending' OR (state = 'building' AND lease_until < $2))";
                    if attempts >= max_attempts {
                        let done = sqlx::query(&format!(
                            "UPDATE data_exports SET state = 'failed', lease_owner = NULL, \
                             lease_until = NULL, failure_reason = $3, updated_at = $2 WHERE {open}"
                        ))
                        .bind(&id)
                        .bind(now)
                        .bind("Every attempt to build it was interrupted.")
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if done == 1 {
                            let audit = $crate::AuditContext::new(easel_core::audit::Actor::system(), None)
                                .with("reason", "attempts_exhausted")
                                .with("attempts", attempts);
                            let entry = $crate::AuditContext { now, ..audit }.entry(
                                Some(&account_id),
                                easel_core::audit::action::EXPORT_FAILED,
                                ("export", &id),
                            );
                            Self::insert_audit(&mut tx, &entry).await?;
                        }
                        tx.commit().await?;
                        continue;
                    }
                    let claimed = sqlx::query(&format!(
                        "UPDATE data_exports SET state = 'building', lease_owner = $3, \
                         lease_until = $4, attempts = attempts + 1, updated_at = $2 WHERE {open}"
                    ))
                    .bind(&id)
                    .bind(now)
                    .bind(owner)
                    .bind(lease_until)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if claimed != 1 {
                        // Another node took it between the read and the write.
                        tx.commit().await?;
                        continue;
                    }
                    let export = Self::load_export(&mut *tx, &id).await?;
                    tx.commit().await?;
                    return Ok(Some(export));
                }
            }

            async fn renew_export_lease(
                &self,
                id: &str,
                owner: &str,
                lease_until: i64,
            ) -> $crate::DbResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE data_exports SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 \
                     AND state = 'building'",
                )
                .bind(id)
                .bind(owner)
                .bind(lease_until)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(done == 1)
            }

            async fn finish_export(
                &self,
                id: &str,
                owner: &str,
                outcome: $crate::ExportOutcome,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<bool> {
                let now = audit.now;
                let held = "id = $1 AND lease_owner = $2 AND state = 'building'";
                let mut tx = self.begin_write().await?;
                let (done, action, audit) = match &outcome {
                    $crate::ExportOutcome::Ready {
                        object_path,
                        bytes,
                        sha256,
                        counts,
                        expires_at,
                    } => {
                        let done = sqlx::query(&format!(
                            "UPDATE data_exports SET state = 'ready', lease_owner = NULL, \
                             lease_until = NULL, object_path = $3, bytes = $4, sha256 = $5, \
                             counts = $6, ready_at = $7, expires_at = $8, updated_at = $7 \
                             WHERE {held}"
                        ))
                        .bind(id)
                        .bind(owner)
                        .bind(object_path)
                        .bind(bytes)
                        .bind(sha256)
                        .bind(counts.to_string())
                        .bind(now)
                        .bind(expires_at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        let audit = audit.with("bytes", *bytes).with("expires_at", *expires_at);
                        (done, easel_core::audit::action::EXPORT_READY, audit)
                    }
                    $crate::ExportOutcome::Failed { reason } => {
                        let done = sqlx::query(&format!(
                            "UPDATE data_exports SET state = 'failed', lease_owner = NULL, \
                             lease_until = NULL, failure_reason = $3, updated_at = $4 WHERE {held}"
                        ))
                        .bind(id)
                        .bind(owner)
                        .bind(reason)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        let audit = audit.with("reason", reason.as_str());
                        (done, easel_core::audit::action::EXPORT_FAILED, audit)
                    }
                };
                if done != 1 {
                    return Ok(false);
                }
                let export = Self::load_export(&mut *tx, id).await?;
                let entry = audit.entry(Some(&export.account_id), action, ("export", id));
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn take_export_download(
                &self,
                id: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::DownloadClaim> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                let taken = sqlx::query(
                    "UPDATE data_exports SET state = 'downloaded', downloaded_at = $2, \
                     updated_at = $2 WHERE id = $1 AND state = 'ready' AND expires_at > $2",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let export = Self::load_export(&mut *tx, id).await?;
                if taken != 1 {
                    tx.commit().await?;
                    return Ok($crate::DownloadClaim::Refused(export));
                }
                let entry = audit.entry(
                    Some(&export.account_id),
                    easel_core::audit::action::EXPORT_DOWNLOADED,
                    ("export", id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok($crate::DownloadClaim::Granted(export))
            }

            async fn exports_to_purge(
                &self,
                now: i64,
                limit: i64,
            ) -> $crate::DbResult<Vec<$crate::DataExport>> {
                // A downloaded archive is deleted by its download; the sweep only catches
                // one whose download was cut short, after a grace that lets it finish.
                let sql = format!(
                    "SELECT {} FROM data_exports WHERE purged_at IS NULL AND object_path IS NOT NULL \
                     AND (state IN ('failed', 'expired') OR (state = 'ready' AND expires_at <= $1) \
                     OR (state = 'downloaded' AND downloaded_at <= $2)) ORDER BY id LIMIT $3",
                    $crate::common::export_store::EXPORT_COLUMNS
                );
                sqlx::query_as::<_, $crate::common::export_store::ExportRow>(&sql)
                    .bind(now)
                    .bind(now.saturating_sub(3_600_000))
                    .bind(limit)
                    .fetch_all(self.read())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn mark_export_purged(&self, id: &str, now: i64) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE data_exports SET purged_at = $2, updated_at = $2, state = CASE \
                     WHEN state = 'ready' THEN 'expired' ELSE state END WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn export_page(
                &self,
                kind: usize,
                account_id: &str,
                mode: Option<easel_core::mode::Mode>,
                after: Option<&str>,
                limit: i64,
            ) -> $crate::DbResult<Vec<(String, String)>> {
                let kind = $crate::data_rights::EXPORT_KINDS
                    .get(kind)
                    .ok_or($crate::DbError::NotFound)?;
                let sql = $crate::data_rights::export_sql($dialect, kind, mode, after.is_some());
                let mut query = sqlx::query_as::<_, (String, String)>(&sql).bind(account_id);
                if let Some(after) = after {
                    query = query.bind(after);
                }
                Ok(query.bind(limit).fetch_all(self.read()).await?)
            }
        }
    };
}
