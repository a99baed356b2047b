//! `ErasureStore`: account erasures (see `data_rights`).

pub(crate) const ERASURE_COLUMNS: &str = "account_id, reason, state, requested_by, requested_at, due_at, \
     suspended_by_request, attempts, last_error, canceled_at, erased_at";

/// The account's members who belong to no other account.
pub(crate) const SOLE_USERS: &str = "SELECT user_id FROM members WHERE account_id = $1 \
     AND user_id NOT IN (SELECT user_id FROM members WHERE account_id <> $1)";

#[derive(sqlx::FromRow)]
pub(crate) struct ErasureRow {
    account_id: String,
    reason: String,
    state: String,
    requested_by: String,
    requested_at: i64,
    due_at: i64,
    suspended_by_request: bool,
    attempts: i64,
    last_error: Option<String>,
    canceled_at: Option<i64>,
    erased_at: Option<i64>,
}

impl TryFrom<ErasureRow> for crate::Erasure {
    type Error = crate::DbError;
    fn try_from(r: ErasureRow) -> Result<Self, Self::Error> {
        Ok(crate::Erasure {
            reason: crate::ErasureReason::parse(&r.reason)
                .ok_or_else(|| crate::DbError::Corrupt(format!("erasure reason {}", r.reason)))?,
            state: crate::ErasureState::parse(&r.state)
                .ok_or_else(|| crate::DbError::Corrupt(format!("erasure state {}", r.state)))?,
            account_id: r.account_id,
            requested_by: r.requested_by,
            requested_at: r.requested_at,
            due_at: r.due_at,
            suspended_by_request: r.suspended_by_request,
            attempts: r.attempts,
            last_error: r.last_error,
            canceled_at: r.canceled_at,
            erased_at: r.erased_at,
        })
    }
}

macro_rules! impl_erasure_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            async fn load_erasure(
                conn: &mut <$Db as sqlx::Database>::Connection,
                account_id: &str,
            ) -> $crate::DbResult<Option<$crate::Erasure>> {
                let sql = format!(
                    "SELECT {} FROM account_erasures WHERE account_id = $1",
                    $crate::common::erasure_store::ERASURE_COLUMNS
                );
                sqlx::query_as::<_, $crate::common::erasure_store::ErasureRow>(&sql)
                    .bind(account_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            /// Inside a write transaction: the account's state changed to `action`'s; writes
            /// its audit entry and its event in both modes.
            async fn account_state_changed(
                tx: &mut sqlx::Transaction<'_, $Db>,
                account_id: &str,
                action: &'static str,
                audit: &$crate::AuditContext,
            ) -> $crate::DbResult<()> {
                Self::insert_audit(tx, &audit.entry(Some(account_id), action, ("account", account_id)))
                    .await?;
                let account = Self::load_account(&mut **tx, account_id).await?;
                let data = $crate::common::rows::account_snapshot(&account);
                for mode in ["test", "live"] {
                    Self::insert_event_row(tx, account_id, mode, action, &data, audit.now).await?;
                }
                Ok(())
            }

            /// Inside a write transaction: redacts up to `limit` audit entries; how many.
            async fn redact_audit_in(
                tx: &mut sqlx::Transaction<'_, $Db>,
                account_id: &str,
                text: &str,
                limit: i64,
                now: i64,
            ) -> $crate::DbResult<u64> {
                let rows: Vec<(String, String, Option<String>)> =
                    sqlx::query_as($crate::data_rights::AUDIT_TO_REDACT)
                        .bind(account_id)
                        .bind(limit)
                        .fetch_all(&mut **tx)
                        .await?;
                for (id, details, target) in &rows {
                    let parsed = serde_json::from_str(details).unwrap_or_default();
                    let redacted = $crate::data_rights::redact_details(&parsed, text);
                    let target = $crate::data_rights::redact_target(target.as_deref(), text);
                    sqlx::query(
                        "UPDATE audit_log SET details = $2, redacted_at = $3, target_id = $4 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(redacted.to_string())
                    .bind(now)
                    .bind(target)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(rows.len() as u64)
            }
        }

        #[async_trait::async_trait]
        impl $crate::ErasureStore for $Store {
            async fn request_erasure(
                &self,
                new: $crate::NewErasure,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Erasure> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, &new.account_id).await?;
                Self::load_account(&mut *tx, &new.account_id).await?;
                if let Some(existing) = Self::load_erasure(&mut *tx, &new.account_id).await? {
                    if existing.state != $crate::ErasureState::Canceled {
                        return Err(easel_core::DomainError::invalid(
                            "erasure",
                            "erasure_already_requested",
                            "The account's erasure is already scheduled.",
                        )
                        .into());
                    }
                }
                let mut suspended = false;
                if let Some(reason) = &new.suspend_reason {
                    suspended = sqlx::query(
                        "UPDATE accounts SET state = 'suspended', suspended_reason = $2, \
                         suspended_until = NULL, updated_at = $3 WHERE id = $1 AND state = 'active'",
                    )
                    .bind(&new.account_id)
                    .bind(reason)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if suspended {
                        let audit = audit.another().with("reason", reason.as_str());
                        Self::account_state_changed(
                            &mut tx,
                            &new.account_id,
                            easel_core::audit::action::ACCOUNT_SUSPENDED,
                            &audit,
                        )
                        .await?;
                    }
                }
                sqlx::query(
                    "INSERT INTO account_erasures (account_id, reason, state, requested_by, \
                     requested_at, due_at, suspended_by_request, attempts, updated_at) \
                     VALUES ($1, $2, 'scheduled', $3, $4, $5, $6, 0, $4) \
                     ON CONFLICT (account_id) DO UPDATE SET reason = excluded.reason, \
                     state = 'scheduled', requested_by = excluded.requested_by, \
                     requested_at = excluded.requested_at, due_at = excluded.due_at, \
                     suspended_by_request = excluded.suspended_by_request, attempts = 0, \
                     last_error = NULL, canceled_at = NULL, updated_at = excluded.updated_at",
                )
                .bind(&new.account_id)
                .bind(new.reason.as_str())
                .bind(&new.requested_by)
                .bind(now)
                .bind(new.due_at)
                .bind(suspended)
                .execute(&mut *tx)
                .await?;
                let entry = audit
                    .with("erasure_reason", new.reason.as_str())
                    .with("due_at", new.due_at)
                    .with("suspended", suspended)
                    .entry(
                        Some(&new.account_id),
                        easel_core::audit::action::ERASURE_REQUESTED,
                        ("account", &new.account_id),
                    );
                Self::insert_audit(&mut tx, &entry).await?;
                let erasure = Self::load_erasure(&mut *tx, &new.account_id)
                    .await?
                    .ok_or($crate::DbError::NotFound)?;
                tx.commit().await?;
                Ok(erasure)
            }

            async fn get_erasure(&self, account_id: &str) -> $crate::DbResult<$crate::Erasure> {
                let mut conn = self.read().acquire().await?;
                Self::load_erasure(&mut *conn, account_id)
                    .await?
                    .ok_or($crate::DbError::NotFound)
            }

            async fn cancel_erasure(
                &self,
                account_id: &str,
                suspend_reason: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Erasure> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, account_id).await?;
                let erasure = Self::load_erasure(&mut *tx, account_id)
                    .await?
                    .ok_or($crate::DbError::NotFound)?;
                if erasure.state != $crate::ErasureState::Scheduled
                    || erasure.reason != $crate::ErasureReason::OwnerRequest
                {
                    return Err(easel_core::DomainError::invalid(
                        "erasure",
                        "erasure_not_cancelable",
                        "Only an owner's erasure request that has not started can be canceled.",
                    )
                    .into());
                }
                sqlx::query(
                    "UPDATE account_erasures SET state = 'canceled', canceled_at = $2, \
                     updated_at = $2 WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let mut unsuspended = false;
                if erasure.suspended_by_request {
                    // Only the request's own suspension is lifted: one the operator made since
                    // (another reason) stays.
                    let lifted = sqlx::query(
                        "UPDATE accounts SET state = 'active', suspended_reason = NULL, \
                         suspended_until = NULL, updated_at = $2 WHERE id = $1 \
                         AND state = 'suspended' AND suspended_reason = $3",
                    )
                    .bind(account_id)
                    .bind(now)
                    .bind(suspend_reason)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if lifted == 1 {
                        unsuspended = true;
                        Self::account_state_changed(
                            &mut tx,
                            account_id,
                            easel_core::audit::action::ACCOUNT_UNSUSPENDED,
                            &audit.another(),
                        )
                        .await?;
                    }
                }
                let entry = audit.with("unsuspended", unsuspended).entry(
                    Some(account_id),
                    easel_core::audit::action::ERASURE_CANCELED,
                    ("account", account_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let erasure = Self::load_erasure(&mut *tx, account_id)
                    .await?
                    .ok_or($crate::DbError::NotFound)?;
                tx.commit().await?;
                Ok(erasure)
            }

            async fn schedule_terminated_erasures(
                &self,
                retention_ms: i64,
                now: i64,
            ) -> $crate::DbResult<u64> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "INSERT INTO account_erasures (account_id, reason, state, requested_by, \
                     requested_at, due_at, suspended_by_request, attempts, updated_at) \
                     SELECT a.id, 'terminated', 'scheduled', 'easel', $2, a.terminated_at + $1, \
                     FALSE, 0, $2 FROM accounts a WHERE a.state = 'terminated' AND NOT EXISTS \
                     (SELECT 1 FROM account_erasures e WHERE e.account_id = a.id AND e.state <> 'canceled') \
                     ON CONFLICT (account_id) DO UPDATE SET reason = excluded.reason, \
                     state = 'scheduled', requested_by = excluded.requested_by, \
                     requested_at = excluded.requested_at, due_at = excluded.due_at, \
                     suspended_by_request = FALSE, attempts = 0, last_error = NULL, \
                     canceled_at = NULL, updated_at = excluded.updated_at",
                )
                .bind(retention_ms)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(done)
            }

            async fn claim_erasure(
                &self,
                owner: &str,
                lease_until: i64,
                now: i64,
                only: Option<&str>,
            ) -> $crate::DbResult<Option<$crate::Erasure>> {
                // One account's erasure is claimed whatever its due time (the operator's
                // "now"); otherwise the one due soonest.
                let (due, filter) = match only {
                    Some(_) => ("state = 'scheduled'", "account_id = $2 AND "),
                    None => ("(state = 'scheduled' AND due_at <= $1)", ""),
                };
                loop {
                    let sql = format!(
                        "SELECT account_id FROM account_erasures WHERE {filter}({due} \
                         OR (state = 'running' AND lease_until < $1)) ORDER BY due_at, account_id LIMIT 1"
                    );
                    let mut query = sqlx::query_as::<_, (String,)>(&sql).bind(now);
                    if let Some(account_id) = only {
                        query = query.bind(account_id);
                    }
                    let Some((account_id,)) = query.fetch_optional(self.read()).await? else {
                        return Ok(None);
                    };
                    let mut tx = self.begin_write().await?;
                    let due = due.replace("$1", "$2");
                    let claimed = sqlx::query(&format!(
                        "UPDATE account_erasures SET state = 'running', lease_owner = $3, \
                         lease_until = $4, attempts = attempts + 1, updated_at = $2 \
                         WHERE account_id = $1 AND ({due} OR (state = 'running' AND lease_until < $2))"
                    ))
                    .bind(&account_id)
                    .bind(now)
                    .bind(owner)
                    .bind(lease_until)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if claimed != 1 {
                        tx.commit().await?;
                        if only.is_some() {
                            return Ok(None);
                        }
                        continue;
                    }
                    let erasure = Self::load_erasure(&mut *tx, &account_id).await?;
                    tx.commit().await?;
                    return Ok(erasure);
                }
            }

            async fn renew_erasure_lease(
                &self,
                account_id: &str,
                owner: &str,
                lease_until: i64,
            ) -> $crate::DbResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE account_erasures SET lease_until = $3 WHERE account_id = $1 \
                     AND lease_owner = $2 AND state = 'running'",
                )
                .bind(account_id)
                .bind(owner)
                .bind(lease_until)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(done == 1)
            }

            async fn erasure_failed(
                &self,
                account_id: &str,
                owner: &str,
                error: &str,
                retry_at: i64,
            ) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE account_erasures SET state = 'scheduled', lease_owner = NULL, \
                     lease_until = NULL, last_error = $3, due_at = $4, updated_at = $4 \
                     WHERE account_id = $1 AND lease_owner = $2 AND state = 'running'",
                )
                .bind(account_id)
                .bind(owner)
                .bind(error)
                .bind(retry_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn erase_records(
                &self,
                account_id: &str,
                limit: i64,
            ) -> $crate::DbResult<Vec<(String, u64)>> {
                // Children before parents: attempts → deliveries → events.
                const BATCHES: &[(&str, &str)] = &[
                    ("request_log", "DELETE FROM request_log WHERE id IN (SELECT id FROM request_log WHERE account_id = $1 LIMIT $2)"),
                    ("webhook_attempts", "DELETE FROM webhook_attempts WHERE id IN (SELECT a.id FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.account_id = $1 LIMIT $2)"),
                    ("webhook_deliveries", "DELETE FROM webhook_deliveries WHERE id IN (SELECT d.id FROM webhook_deliveries d WHERE d.account_id = $1 AND NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id) LIMIT $2)"),
                    ("events", "DELETE FROM events WHERE id IN (SELECT e.id FROM events e WHERE e.account_id = $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) LIMIT $2)"),
                    ("idempotency_keys", "DELETE FROM idempotency_keys WHERE account_id = $1 AND key IN (SELECT key FROM idempotency_keys WHERE account_id = $1 LIMIT $2)"),
                    ("deprecated_calls", "DELETE FROM deprecated_calls WHERE account_id = $1 AND $2 > 0"),
                ];
                let mut tx = self.begin_write().await?;
                let mut deleted = Vec::new();
                for (table, sql) in BATCHES {
                    let n = sqlx::query(sql)
                        .bind(account_id)
                        .bind(limit)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if n > 0 {
                        deleted.push((table.to_string(), n));
                    }
                }
                tx.commit().await?;
                Ok(deleted)
            }

            async fn redact_audit(
                &self,
                account_id: &str,
                text: &str,
                limit: i64,
                now: i64,
            ) -> $crate::DbResult<u64> {
                let mut tx = self.begin_write().await?;
                let n = Self::redact_audit_in(&mut tx, account_id, text, limit, now).await?;
                tx.commit().await?;
                Ok(n)
            }

            async fn sole_users(&self, account_id: &str) -> $crate::DbResult<Vec<String>> {
                let sql = format!("{} ORDER BY user_id", $crate::common::erasure_store::SOLE_USERS);
                let rows: Vec<(String,)> = sqlx::query_as(&sql)
                    .bind(account_id)
                    .fetch_all(self.read())
                    .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn scrub_account(
                &self,
                account_id: &str,
                owner: &str,
                users: &[String],
                p: &$crate::Placeholders,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::ScrubCounts> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, account_id).await?;
                let held: Option<(i64,)> = sqlx::query_as(
                    "SELECT attempts FROM account_erasures WHERE account_id = $1 \
                     AND lease_owner = $2 AND state = 'running'",
                )
                .bind(account_id)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?;
                if held.is_none() {
                    return Err($crate::DbError::NotFound);
                }
                let mut c = $crate::ScrubCounts::default();
                let sole = $crate::common::erasure_store::SOLE_USERS;
                // Audit entries first: which entries are the people's is read from the
                // membership, which stays.
                loop {
                    let n = Self::redact_audit_in(&mut tx, account_id, &p.text, 1000, now).await?;
                    c.audit_entries += n;
                    if n == 0 {
                        break;
                    }
                }
                c.sessions = sqlx::query(&format!(
                    "DELETE FROM console_sessions WHERE principal_kind = 'user' AND principal_id IN ({sole})"
                ))
                .bind(account_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                for (user_id, email) in users.iter().zip(&p.user_emails) {
                    c.users += sqlx::query(
                        "UPDATE users SET email = $2, name = NULL, password_hash = NULL, \
                         terms_accepted_ip = NULL, updated_at = $3 WHERE id = $1",
                    )
                    .bind(user_id)
                    .bind(email)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                sqlx::query(
                    "UPDATE accounts SET name = $2, legal_name = NULL, contact_email = $3, \
                     contact_phone = NULL, address = NULL, updated_at = $4 WHERE id = $1",
                )
                .bind(account_id)
                .bind(&p.account_name)
                .bind(&p.account_email)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                c.key_secrets = sqlx::query(
                    "DELETE FROM api_key_secrets WHERE key_id IN (SELECT id FROM api_keys WHERE account_id = $1)",
                )
                .bind(account_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                c.api_keys = sqlx::query(
                    "UPDATE api_keys SET name = $2, leak_url = NULL, updated_at = $3 WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(&p.text)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                c.generations = sqlx::query(
                    "UPDATE generations SET input = $2, end_user = NULL, metadata = NULL, \
                     error_message = CASE WHEN error_message IS NULL THEN NULL ELSE $3 END, \
                     updated_at = $4 WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(serde_json::json!({ "erased": true }).to_string())
                .bind(&p.text)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "UPDATE jobs SET last_error = CASE WHEN last_error IS NULL THEN NULL ELSE $2 END, \
                     progress_message = NULL WHERE id IN (SELECT job_id FROM generations WHERE account_id = $1)",
                )
                .bind(account_id)
                .bind(&p.text)
                .execute(&mut *tx)
                .await?;
                c.outputs = sqlx::query(
                    "UPDATE outputs SET deleted_at = $2 WHERE deleted_at IS NULL \
                     AND generation_id IN (SELECT id FROM generations WHERE account_id = $1)",
                )
                .bind(account_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                c.strikes = sqlx::query(
                    "UPDATE strikes SET end_user = NULL, detail = $2 WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(&p.text)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                c.end_users = sqlx::query("DELETE FROM end_users WHERE account_id = $1")
                    .bind(account_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                c.abuse_reports = sqlx::query(
                    "UPDATE abuse_reports SET reporter_email = NULL, description = $2 \
                     WHERE reporter_account_id = $1",
                )
                .bind(account_id)
                .bind(&p.text)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                c.webhook_endpoints = sqlx::query(
                    "UPDATE webhook_endpoints SET url = $2, description = '', secret = $3, \
                     previous_secret = NULL, previous_secret_expires_at = NULL, \
                     disabled_reason = NULL, deleted_at = COALESCE(deleted_at, $4), \
                     updated_at = $4 WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(&p.url)
                .bind(&p.text)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if let Some(buyer) = &p.invoice_buyer {
                    c.invoices = sqlx::query("UPDATE invoices SET buyer = $2 WHERE account_id = $1")
                        .bind(account_id)
                        .bind(buyer)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                // Exports in flight are abandoned (a build that finishes later cannot mark one
                // ready); their archives went with the account's objects.
                sqlx::query(
                    "UPDATE data_exports SET state = CASE WHEN state IN ('pending', 'building', 'ready') \
                     THEN 'expired' ELSE state END, lease_owner = NULL, lease_until = NULL, \
                     purged_at = COALESCE(purged_at, $2), updated_at = $2 WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                c.invitations = sqlx::query("DELETE FROM invitations WHERE account_id = $1")
                    .bind(account_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query(
                    "UPDATE account_erasures SET state = 'done', erased_at = $2, lease_owner = NULL, \
                     lease_until = NULL, last_error = NULL, updated_at = $2 WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let details = serde_json::to_value(&c).unwrap_or_default();
                let mut audit = audit;
                audit.details = details;
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::ACCOUNT_ERASED,
                    ("account", account_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(c)
            }
        }
    };
}
